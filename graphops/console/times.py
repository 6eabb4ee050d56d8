"""Times as an operator reads them: "2 min ago", "in 14 min", "3 h 05 min", with the exact UTC time beside.

Pure: the page passes its clock in, so a test says exactly what a row shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from graphops.envelope.tracking import moment_or_none


def span(seconds: float) -> str:
    """A length of time in the unit that reads best: 45 s, 14 min, 3 h 05 min, 2 d 4 h."""
    whole = int(abs(seconds))
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min"
    if whole < 86400:
        return f"{whole // 3600} h {whole % 3600 // 60:02d} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


@dataclass(frozen=True)
class Moment:
    """A time as a page shows it: relative text, and the exact UTC time for its tooltip."""

    relative: str
    exact: str  # YYYY-MM-DD HH:MM:SS UTC
    iso: str  # for <time datetime>
    past: bool

    def __str__(self) -> str:
        return self.relative


def moment(raw: object, now: datetime) -> Moment | None:
    """``raw`` (an ISO 8601 time from the state) relative to ``now``; None when it is not a time."""
    when = moment_or_none(raw)
    if when is None:
        return None
    seconds = (when - now).total_seconds()
    relative = f"{span(seconds)} ago" if seconds < 0 else f"in {span(seconds)}"
    if abs(seconds) < 1:
        relative = "now"
    return Moment(relative, exact(when), str(raw), seconds < 0)


def exact(when: datetime) -> str:
    """A time to the second, in UTC, said so."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: object, end: object) -> str | None:
    """How long from ``start`` to ``end`` (both ISO 8601), or None when either is not a time."""
    first, last = moment_or_none(start), moment_or_none(end)
    if first is None or last is None:
        return None
    return span((last - first).total_seconds())
