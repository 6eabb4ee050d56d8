"""OData key syntax in Graph paths: `teams('dbd8…')` is the two segments `teams` and `dbd8…`, and
`getOperation(id='0f5d…')` the two segments `getOperation(id=)` and `0f5d…`."""

from __future__ import annotations

import re

from graphops.common.errors import Rejected
from graphops.graph.kinds.base import ID

# Quoted keys only, as Teams writes its Locations (its reference pages' `/teams({id})` is a placeholder).
_ODATA_KEY = re.compile(r"([A-Za-z]+)\('([^']*)'\)")
# A function called with one named id, as Places writes `getOperation(id='…')`: its name keeps the `(id=)`, so
# only a path shape that names the function so (and no plain segment) matches it.
_FUNCTION_ID = re.compile(r"([A-Za-z]+)\(id='([^']*)'\)")


def split_keys(segments: list[str], field: str = "operationUrl") -> list[str]:
    """`teams('a')` -> `teams`, `a`. A key must be a plain id: no quotes, separators or encoded tricks."""
    out: list[str] = []
    for seg in segments:
        key = _ODATA_KEY.fullmatch(seg)
        function = _FUNCTION_ID.fullmatch(seg) if key is None else None
        found = key or function
        if found is None:
            out.append(seg)
            continue
        if ID.fullmatch(found.group(2)) is None or "'" in found.group(2):
            raise Rejected(field, f"{seg!r} is not a valid OData key")
        out.extend((found.group(1) + "(id=)" if function else found.group(1), found.group(2)))
    return out
