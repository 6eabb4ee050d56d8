"""Text that Python can hold but not encode: a lone UTF-16 surrogate (legal in JSON as ``"\\ud800"``).

It cannot be written to a queue, a table or an HTTP body as UTF-8. A caller's text with one is refused, naming
the field; Graph's text with one is made safe (U+FFFD in its place), since Graph's answer is not ours to refuse.
"""

from __future__ import annotations

import re
from typing import Any

_LONE = re.compile(r"[\ud800-\udfff]")  # a surrogate that decoding left unpaired
REPLACEMENT = "\ufffd"


def has_lone_surrogate(value: Any) -> bool:
    """Whether any string in ``value`` (a JSON document, keys included) holds a lone surrogate."""
    if isinstance(value, str):
        return _LONE.search(value) is not None
    if isinstance(value, dict):
        return any(has_lone_surrogate(k) or has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_lone_surrogate(item) for item in value)
    return False


def scrubbed(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings (keys included) replaced by U+FFFD."""
    if isinstance(value, str):
        return _LONE.sub(REPLACEMENT, value)
    if isinstance(value, dict):
        return {scrubbed(k): scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(item) for item in value]
    return value
