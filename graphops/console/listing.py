"""The list of trackings: filters read from a query string, the first page of the index, counts per standing.

A page reads at most ``READ`` index rows, newest first, and orders them (needs attention first, or by a column:
:mod:`graphops.console.triage`); the correlation id filter (any part of it, any case) is applied to those rows too,
as the table cannot match part of a value. So ordering and the correlation filter cover the newest ``READ`` of the
range; a narrower range reaches older ones.

The list and its counts come from the state table's index by time (:mod:`graphops.storage.time_index`): the
newest rows of the newest days, and each hour's count rows, so a page costs the same with a hundred trackings or
a hundred thousand. The counts ignore the ``state`` filter, so an operator who picked "failed" still sees how the rest
went. A finished tracking's row holds what the list shows of it; a running one's changing facts (polls, last
and next poll) are read from its state row.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from graphops.common.errors import Rejected
from graphops.console.triage import DEFAULT_SORT, SORTS, Row, correlation_matches, order
from graphops.envelope.tracking import Outcome, Phase, iso
from graphops.intake.request import MAX_CORRELATION_ID_LENGTH
from graphops.storage.state import ROW
from graphops.storage.time_index import (
    DELIVERING,
    DELIVERY_FAILED,
    DETAILS,
    Entry,
    TrackingIndex,
    Window,
    phase_of_standing,
    reason_of,
)

SHOWN = 100  # rows drawn: the first in the page's order; a narrower filter shows the rest
# Index rows a page reads at most (one table query's page): what it orders and filters by correlation id within.
# Only the running trackings among the rows drawn cost a read of their state, at most SHOWN. 300, not more: reading
# 1,000 took the first page past its second (bench/console.py: 1,007 ms against 387 ms over 20,000 trackings); a
# state filter is applied by the query itself, so a narrower list still reaches older rows.
READ = 300
DEFAULT_WINDOW = timedelta(hours=24)
EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2200, 1, 1, tzinfo=UTC)
# What a running tracking's row shows from its state (a finished one's comes from its index row, kept without
# lastProblem: the list says what troubles a tracking that still polls).
STATE_DETAILS = [*(d for d in DETAILS if d != "reason"), "nextPollAt", "waitingFor", "lastProblem", "outcome",
                 "error", "deliveries"]  # fmt: skip
PHASES = tuple(str(p) for p in Phase)
OUTCOMES = tuple(str(o) for o in Outcome)
# Where a tracking stands, in the order the counts show them: the running ones, then how they ended.
STANDINGS = ("polling", "awaitingResource", DELIVERING, DELIVERY_FAILED, *OUTCOMES)


@dataclass(frozen=True)
class Filters:
    phase: str | None = None
    state: str | None = None  # a standing (see graphops.storage.time_index.standing_of)
    kind: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    sort: str = DEFAULT_SORT  # one of triage.SORTS
    tenant_id: str | None = None  # a customer tenant of GRAPHOPS_TENANTS

    @classmethod
    def from_query(
        cls, query: Mapping[str, str], now: datetime, kinds: Iterable[str], tenants: Iterable[str] = ()
    ) -> Filters:
        """``from`` missing altogether means the last 24 hours; present but empty, no lower bound."""

        def one_of(name: str, allowed: Iterable[str]) -> str | None:
            value = query.get(name, "").strip()
            if value and value not in set(allowed):
                raise Rejected(name, f"{value!r} is not one of {', '.join(sorted(allowed))}")
            return value or None

        since = _moment(query, "from") if "from" in query else now - DEFAULT_WINDOW
        until = _moment(query, "to")
        if since and until and until <= since:
            raise Rejected("to", "must be after from")
        correlation = query.get("correlationId", "").strip()
        if len(correlation) > MAX_CORRELATION_ID_LENGTH:  # what a request may carry
            raise Rejected("correlationId", f"longer than {MAX_CORRELATION_ID_LENGTH} characters")
        return cls(one_of("phase", PHASES), one_of("state", STANDINGS), one_of("kind", kinds), correlation or None,
                   since, until, one_of("sort", SORTS) or DEFAULT_SORT, one_of("tenantId", tenants))  # fmt: skip

    def window(self) -> Window:
        """The index's window for the rows: every filter applied but the correlation id's (matched in the rows read)."""
        chosen = {s for s in STANDINGS if self.phase in (None, phase_of_standing(s)) and self.state in (None, s)}
        everything = self.phase is None and self.state is None
        return Window(self.since, self.until, self.kind, None, None if everything else frozenset(chosen),
                      tenant_id=self.tenant_id)  # fmt: skip

    def counted(self, standing: str) -> bool:
        """Whether a standing's count shows: the phase filter applies to the counts, the state filter does not."""
        return self.phase in (None, phase_of_standing(standing))

    def query_string(self, **changes: str | None) -> str:
        """This filter as a query string, with ``changes`` (the chips link to their own)."""
        fields = {**self.form(), **changes}
        # "from" is always written: missing means "the last 24 hours", empty means "from the start".
        return urlencode({k: v or "" for k, v in fields.items() if v or k == "from"})

    def form(self) -> dict[str, str]:
        """The fields as the filter form names them."""
        return {
            "phase": self.phase or "",
            "state": self.state or "",
            "kind": self.kind or "",
            "correlationId": self.correlation_id or "",
            "tenantId": self.tenant_id or "",
            "from": _local(self.since),
            "to": _local(self.until),
            "sort": "" if self.sort == DEFAULT_SORT else self.sort,
        }


@dataclass(frozen=True)
class Listing:
    rows: tuple[Row, ...]  # in the filter's order, at most SHOWN
    matching: int  # rows that matched, shown or not
    counts: Mapping[str, int]  # per standing, in STANDINGS' order; the state filter ignored
    read: int = 0  # index rows read: the order and the correlation filter cover these
    partial: bool = False  # the range holds more than READ rows: older ones were not read


def list_trackings(table: TableClient, filters: Filters, now: datetime, *, workers: int = 16) -> Listing:
    index = TrackingIndex(table, workers=workers)
    window = filters.window()
    buckets = index.buckets(window, now)
    if filters.correlation_id is None:
        counted = index.counts(window, now, buckets)
        entries = index.page(window, now, READ, buckets)
        read = len(entries)
        partial = read >= READ
    else:  # part of a correlation id: matched in the newest rows read, and counted there
        everything = index.page(replace(window, standings=None), now, READ, buckets)
        found = [e for e in everything if correlation_matches(e.correlation_id, filters.correlation_id)]
        counted = Counter(e.standing for e in found)
        entries = [e for e in found if window.standings is None or e.standing in window.standings]
        read, partial = len(everything), len(everything) >= READ
    counts = {s: counted[s] for s in STANDINGS if counted[s] and filters.counted(s)}
    shown = window.standings if window.standings is not None else frozenset(STANDINGS)
    matching = sum(counted[s] for s in shown)
    # A finished tracking's row has its details; a running one's are in its state, read for the newest SHOWN of
    # them (whatever the order, no page reads more states than it draws rows). A running one past those is
    # ordered by what its index row says.
    running = [e.tracking_id for e in entries if e.details is None][:SHOWN]
    with ThreadPoolExecutor(workers) as pool:
        states = dict(zip(running, pool.map(lambda tracking_id: _details(table, tracking_id), running), strict=True))
    rows = [row_of(e, e.details or states.get(e.tracking_id, {})) for e in entries]
    return Listing(tuple(order(rows, filters.sort, now, STANDINGS)[:SHOWN]), matching, counts, read, partial)


def _details(table: TableClient, tracking_id: str) -> Mapping[str, Any]:
    try:
        return dict(table.get_entity(tracking_id, ROW, select=STATE_DETAILS))
    except ResourceNotFoundError:
        return {}  # removed since the index was read: shown with what the index knows


def row_of(entry: Entry, state: Mapping[str, Any]) -> Row:
    def text(name: str) -> str | None:
        value = state.get(name)
        return None if value in (None, "") else str(value)

    return Row(
        tracking_id=entry.tracking_id,
        standing=entry.standing,
        phase=entry.phase,
        outcome=entry.outcome,
        kind=entry.kind,
        correlation_id=entry.correlation_id,
        tenant_id=entry.tenant_id,
        tracked_since=iso(entry.tracked_since),
        finished_at=entry.finished_at,
        operation_url=entry.operation_url,
        polls=int(state.get("polls") or 0),
        last_status=text("lastStatus"),
        progress=state.get("progress") if state.get("progress") not in (None, "") else None,
        last_poll_at=text("lastPollAt"),
        next_poll_at=text("nextPollAt"),
        waiting_for=text("waitingFor"),
        delivery_attempts=int(state.get("deliveryAttempts") or 0),
        last_delivery_error=text("lastDeliveryError"),
        last_problem=problem_of_state(state),
        reason=text("reason") or reason_of(state),
    )


def problem_of_state(state: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A state row's lastProblem, read leniently: a damaged one costs the column, never the list."""
    raw = state.get("lastProblem")
    try:
        problem = json.loads(raw) if isinstance(raw, str) and raw else None
    except ValueError:
        return None
    return problem if isinstance(problem, dict) and isinstance(problem.get("what"), str) else None


def _moment(query: Mapping[str, str], name: str) -> datetime | None:
    """A time from a ``datetime-local`` field (read as UTC, as the page labels it) or an ISO 8601 time."""
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        value = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    except (ValueError, OverflowError):
        raise Rejected(name, f"{raw!r} is not a time (use YYYY-MM-DDTHH:MM, UTC)") from None
    if not EARLIEST <= value <= LATEST:  # what the index's keys can order
        raise Rejected(name, f"must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d}")
    return value


def _local(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if moment else ""
