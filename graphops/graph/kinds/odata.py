"""OData key syntax in Graph paths: `teams('dbd8…')` is the two segments `teams` and `dbd8…`,
`getOperation(id='0f5d…')` the two segments `getOperation(id=)` and `0f5d…`, and
`getOperationStatus(operationId='JXMn…')` the two segments `getOperationStatus(operationId=)` and `JXMn…`."""

from __future__ import annotations

import re

from graphops.common.errors import Rejected
from graphops.graph.kinds.base import ID

# Quoted keys only, as Teams writes its Locations (its reference pages' `/teams({id})` is a placeholder).
_ODATA_KEY = re.compile(r"([A-Za-z]+)\('([^']*)'\)")
# A function called with one named id, as Places writes `getOperation(id='…')` and SharePoint
# `getOperationStatus(operationId='…')`: its name keeps the parameter's, `(id=)`, so only a path shape that names
# the function and its parameter so (and no plain segment) matches it.
_FUNCTION_ID = re.compile(r"([A-Za-z]+)\((id|operationId)='([^']*)'\)")


def split_keys(segments: list[str], field: str = "operationUrl") -> list[str]:
    """`teams('a')` -> `teams`, `a`. A key must be a plain id: no quotes, separators or encoded tricks."""
    out: list[str] = []
    for seg in segments:
        key = _ODATA_KEY.fullmatch(seg)
        function = _FUNCTION_ID.fullmatch(seg) if key is None else None
        if key is not None:
            name, value = key.group(1), key.group(2)
        elif function is not None:
            name, value = f"{function.group(1)}({function.group(2)}=)", function.group(3)
        else:
            out.append(seg)
            continue
        if ID.fullmatch(value) is None or "'" in value:
            raise Rejected(field, f"{seg!r} is not a valid OData key")
        out.extend((name, value))
    return out
