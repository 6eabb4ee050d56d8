"""What the list puts first and how it orders its rows: pure decisions over rows already read (no I/O).

"Needs attention" first: a running tracking whose polls meet a problem, then one whose next poll is overdue, a
delivery that gave up, a tracking waiting on Graph's throttling or on its service's budget, then how operations
ended badly (failed, forbidden, timed out, not found); everything else after, newest first within each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from graphops.envelope.tracking import moment_or_none

# A next poll this far past its time is overdue: the queue's trigger looks every 2 s (host.json) and a step may sit
# in a batch for a few more, so a poll half a minute late is not the queue's ordinary pace.
OVERDUE_AFTER = timedelta(seconds=30)
POLLING = frozenset({"polling", "awaitingResource"})  # the standings whose next step is a poll
ENDED_BADLY = frozenset({"failed", "forbidden", "timedOut", "notFound"})
# Why a row needs attention, most pressing first (a row's first match); None: it does not.
ATTENTION = ("problem", "overdue", "deliveryFailed", "waiting", "endedBadly")
DEFAULT_SORT = "attention"
# The orders a page can ask for (``sort=``): the attention view, newest first, and a column either way ("-" before
# the name: descending).
COLUMNS = ("started", "kind", "state", "next")
SORTS = (DEFAULT_SORT, "newest", *COLUMNS, *(f"-{c}" for c in COLUMNS))


@dataclass(frozen=True)
class Row:
    tracking_id: str
    standing: str
    phase: str
    outcome: str | None
    kind: str
    correlation_id: str | None
    tracked_since: str
    finished_at: str | None
    operation_url: str | None
    polls: int = 0
    last_status: str | None = None
    progress: Any = None
    last_poll_at: str | None = None
    next_poll_at: str | None = None
    waiting_for: str | None = None
    delivery_attempts: int = 0
    last_delivery_error: str | None = None
    last_problem: Mapping[str, Any] | None = None  # the status view's lastProblem: what, since when, how many
    reason: str | None = None  # why it ended so (a delivery's error, the run's error), one bounded line
    tenant_id: str | None = None  # a customer tenant's; None for the home tenant


def overdue(row: Row, now: datetime) -> bool:
    """Whether a tracking that polls should have polled by now (more than ``OVERDUE_AFTER`` ago)."""
    due = moment_or_none(row.next_poll_at) if row.standing in POLLING else None
    return due is not None and now - due > OVERDUE_AFTER


def attention(row: Row, now: datetime) -> str | None:
    """Why a row needs an operator's eye (one of ``ATTENTION``), or None."""
    polling = row.standing in POLLING
    # A 429 is a problem of the polls' too, but Graph setting the pace: nothing to do but wait, so it ranks so.
    throttled = bool(row.last_problem) and (row.last_problem or {}).get("code") == "throttled"
    if polling and row.last_problem and not throttled:
        return "problem"
    if overdue(row, now):
        return "overdue"
    if row.standing == "deliveryFailed":
        return "deliveryFailed"
    if polling and (row.waiting_for or throttled):
        return "waiting"  # Graph's Retry-After, or the service's shared budget
    if row.standing in ENDED_BADLY:
        return "endedBadly"
    return None


def correlation_matches(correlation_id: str | None, wanted: str | None) -> bool:
    """The correlation id filter: ``wanted`` anywhere in it, whatever the case (no filter: every row)."""
    if not wanted:
        return True
    return wanted.casefold() in (correlation_id or "").casefold()


def toggled(current: str, column: str) -> str:
    """The order a column's header asks for: that column ascending, or descending when it is already ascending."""
    return f"-{column}" if current == column else column


def order(rows: Iterable[Row], sort: str, now: datetime, standings: tuple[str, ...]) -> list[Row]:
    """``rows`` in the order ``sort`` names (one of ``SORTS``); ties newest first. ``standings`` is the order the
    counts show them in, which the state column follows."""
    newest = sorted(rows, key=lambda r: (r.tracked_since, r.tracking_id), reverse=True)
    if sort in (DEFAULT_SORT, ""):
        rank = {why: i for i, why in enumerate(ATTENTION)}
        return sorted(newest, key=lambda r: rank.get(attention(r, now) or "", len(ATTENTION)))
    if sort in ("newest", "-started"):
        return newest
    descending = sort.startswith("-")
    keys: Mapping[str, Callable[[Row], Any]] = {
        "started": lambda r: r.tracked_since,
        "kind": lambda r: r.kind,
        "state": lambda r: standings.index(r.standing) if r.standing in standings else len(standings),
        "next": lambda r: moment_or_none(r.next_poll_at) if r.standing in POLLING else None,
    }
    key = keys[sort.removeprefix("-")]
    known = [r for r in newest if key(r) is not None]  # a row with nothing to sort by goes last, either way
    return [*sorted(known, key=key, reverse=descending), *(r for r in newest if key(r) is None)]
