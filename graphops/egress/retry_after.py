"""``Retry-After`` as a number of seconds: delta-seconds or an HTTP date, from Graph, a monitor or a receiver."""

from __future__ import annotations

import re
from datetime import UTC, datetime

_DELTA_SECONDS = re.compile(r"[0-9]{1,10}")  # ASCII digits only: str.isdigit() also takes '²' and '٣'


def parse_retry_after(raw: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date; None for anything else."""
    if not raw:
        return None
    raw = raw.strip()
    if _DELTA_SECONDS.fullmatch(raw):
        return float(raw)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:  # "-0000" reads as naive; HTTP dates are always GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
