"""OData key syntax in Graph paths: `teams('dbd8…')` is the two segments `teams` and `dbd8…`."""

from __future__ import annotations

import re

from ..errors import Rejected
from .base import ID

# Quoted keys only, as Teams writes its Locations (its reference pages' `/teams({id})` is a placeholder); a
# function's one named parameter, as Places writes `getOperation(id='…')`, reads the same way.
_ODATA_KEY = re.compile(r"([A-Za-z]+)\((?:id=)?'([^']*)'\)")


def split_keys(segments: list[str], field: str = "operationUrl") -> list[str]:
    """`teams('a')` -> `teams`, `a`. A key must be a plain id: no quotes, separators or encoded tricks."""
    out: list[str] = []
    for seg in segments:
        key = _ODATA_KEY.fullmatch(seg)
        if key is None:
            out.append(seg)
            continue
        if ID.fullmatch(key.group(2)) is None or "'" in key.group(2):
            raise Rejected(field, f"{seg!r} is not a valid OData key")
        out.extend(key.groups())
    return out
