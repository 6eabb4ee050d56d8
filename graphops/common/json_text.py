"""JSON from outside (an API body, a queue message) read into values every later step can handle.

``json.loads`` takes some text that breaks graphops later or at once: nesting about a thousand deep raises
RecursionError in the parser, and nesting a little shallower parses but breaks whatever walks the document
afterwards (measuring it, fingerprinting it, sealing it, writing or showing it); a whole number of more than
4300 digits raises ValueError (Python's limit on converting long integers), and ``1e400``, ``NaN`` and
``Infinity`` parse to floats that ``json.dumps`` writes as ``Infinity`` and ``NaN``, which no receiver reads
as JSON. The text is scanned first, without recursion, so each such problem is refused naming the top-level
field it sits in, before the parser sees it.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from graphops.common.errors import Rejected
from graphops.common.text import scrubbed

# Far deeper than any request needs (a Logic App's context is a few levels), and shallow enough that every
# recursive walk of the document downstream stays far from Python's recursion limit of 1000 frames.
MAX_DEPTH = 64
# Python's own limit on the digits of an int read from or written as text (sys.int_info.default_max_str_digits).
MAX_INTEGER_DIGITS = 4300
NOT_JSON = "not valid JSON"

# What matters to the scan: strings (skipped whole, so brackets in them do not count; an unterminated one runs
# to the end, keeping the scan linear), brackets, the colon after a key, numbers and the non-JSON constants.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}:]|-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?|NaN|-?Infinity')


def read_json(text: str | bytes, whole: str) -> Any:
    """``text`` parsed, or :class:`Rejected` naming the top-level field at fault (``whole`` when the problem is
    not inside one: the body or message as a whole)."""
    decoded = text if isinstance(text, str) else text.decode("utf-8", errors="replace")
    # Text that plainly holds none of what the scan looks for (every queue message graphops writes) is parsed
    # without it: the scan, a regex token by token in Python, costs twenty times the parse.
    if not plainly_carried(decoded):
        problems = json_problems(decoded, whole)
        if problems:
            raise problems[0]
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # the scan let through nothing the parser would choke on but bad JSON
        problems = json_problems(decoded, whole)  # what the scan finds in text that is not JSON is named still
        raise (problems[0] if problems else Rejected(whole, NOT_JSON)) from None


# Where JSON puts a number: after a colon, a bracket or a comma (or first, for a number alone). Strings hold these
# too, and a "number" found in one is only looked at for nothing.
_NUMBER = re.compile(r"[:\[,]\s*-?([0-9][0-9.eE+-]*)")


def plainly_carried(text: str) -> bool:
    """Whether ``text``, when it is JSON, plainly holds nothing :func:`json_problems` refuses, told at C speed: no
    more opening brackets than :data:`MAX_DEPTH` (so no nesting deeper), no non-JSON constant's name, and no number
    that may be too large (see :func:`_may_be_too_large`). False says only that the scan must look."""
    if text.count("[") + text.count("{") > MAX_DEPTH or "NaN" in text or "Infinity" in text:
        return False
    if text.lstrip()[:1] in {"-", *"0123456789"}:
        return False  # a number alone
    return not any(_may_be_too_large(number) for number in _NUMBER.findall(text))


def _may_be_too_large(number: str) -> bool:
    """A number the scan may refuse: 200 characters or more (a double overflows at 309 digits before an exponent of
    at most 99 lifts it by 99 places more; an int is refused past 4300 digits), or a positive exponent of three
    digits or more (1e400; a negative one only underflows, to zero)."""
    exponent = number.lower().partition("e")[2]
    return len(number) >= 200 or (not exponent.startswith("-") and len(exponent.lstrip("+")) >= 3)


def json_or_none(text: str) -> Any:
    """``text`` parsed, or None when it is not JSON graphops can carry (for showing what others wrote)."""
    try:
        return read_json(text, "text")
    except Rejected:
        return None


def json_problems(text: str, whole: str) -> list[Rejected]:
    """What in ``text`` JSON allows but graphops cannot carry: one :class:`Rejected` per top-level field (in the
    order met), naming the field; ``whole`` for the text as a whole. Pure; linear in the text."""
    problems: dict[str, str] = {}
    depth, in_object, key, last_string = 0, False, None, ""
    for match in _TOKEN.finditer(text):
        token = match.group()
        first = token[0]
        if first == '"':
            last_string = token
            continue
        field = key if in_object and depth >= 1 else None  # the top-level field this token is in, if any
        if first in "[{":
            if depth == 0:
                in_object = first == "{"
            depth += 1
            if depth > MAX_DEPTH:
                problems.setdefault(field or whole, f"nested deeper than {MAX_DEPTH} levels")
        elif first in "]}":
            depth -= 1
        elif first == ":":
            if depth == 1 and in_object:
                key = _key(last_string)
        else:
            problem = _number_problem(token)
            if problem is not None:
                problems.setdefault(field or whole, problem)
    return [Rejected(field, problem) for field, problem in problems.items()]


def _number_problem(token: str) -> str | None:
    if token in {"NaN", "Infinity", "-Infinity"}:
        return f"{token} is not a JSON number"
    if any(c in token for c in ".eE"):
        if math.isinf(float(token)):
            return f"a number too large for a double ({token[:20]}{'…' if len(token) > 20 else ''})"
        return None
    digits = len(token.lstrip("-"))
    if digits > MAX_INTEGER_DIGITS:
        return f"a whole number of {digits} digits; at most {MAX_INTEGER_DIGITS} are read"
    return None


def _key(token: str) -> str:
    """A key as it is named in an answer: decoded, and made encodable."""
    try:
        name = json.loads(token)
    except ValueError:
        name = token.strip('"')
    return str(scrubbed(name))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")
