"""The list of trackings: filters read from a query string, the table query they make, counts per outcome.

Table storage cannot sort or count, so the list reads the states in the chosen time range (at most
``MAX_SCANNED`` of them, newest shown first) and counts them itself: the counts ignore the outcome
filter, so an operator who picked "failed" still sees how the rest went.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from azure.data.tables import TableClient

from ..errors import Rejected
from ..state import ROW
from ..tracking import Outcome, Phase, iso

MAX_SCANNED = 5000  # states read for one page; the page says so when there were more
SHOWN = 200  # rows drawn
DEFAULT_WINDOW = timedelta(hours=24)
COLUMNS = ["PartitionKey", "phase", "outcome", "kind", "correlationId", "lastStatus", "polls", "trackedSince",
           "finishedAt", "nextPollAt", "deliveryAttempts", "lastDeliveryError", "operationUrl"]  # fmt: skip
PHASES = tuple(str(p) for p in Phase)
OUTCOMES = tuple(str(o) for o in Outcome)


@dataclass(frozen=True)
class Filters:
    phase: str | None = None
    outcome: str | None = None
    kind: str | None = None
    correlation_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_query(cls, query: Mapping[str, str], now: datetime, kinds: Iterable[str]) -> Filters:
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
        if len(correlation) > 200:
            raise Rejected("correlationId", "longer than 200 characters")
        return cls(one_of("phase", PHASES), one_of("outcome", OUTCOMES), one_of("kind", kinds), correlation or None,
                   since, until)  # fmt: skip

    def table_query(self) -> tuple[str, dict[str, Any]]:
        """The OData filter (and its parameters) for everything but the outcome, which the counts ignore."""
        clauses, parameters = ["RowKey eq @row"], {"row": ROW}
        for column, name, value in (("phase", "phase", self.phase), ("kind", "kind", self.kind),
                                    ("correlationId", "cid", self.correlation_id),
                                    ("trackedSince", "since", iso(self.since) if self.since else None)):  # fmt: skip
            if value is not None:
                clauses.append(f"{column} {'ge' if name == 'since' else 'eq'} @{name}")
                parameters[name] = value
        if self.until is not None:
            clauses.append("trackedSince lt @until")
            parameters["until"] = iso(self.until)
        return " and ".join(clauses), parameters

    def query_string(self, **changes: str | None) -> str:
        """This filter as a query string, with ``changes`` (the outcome chips link to their own)."""
        fields = {**self.form(), **changes}
        # "from" is always written: missing means "the last 24 hours", empty means "from the start".
        return urlencode({k: v or "" for k, v in fields.items() if v or k == "from"})

    def form(self) -> dict[str, str]:
        """The fields as the filter form names them."""
        return {
            "phase": self.phase or "",
            "outcome": self.outcome or "",
            "kind": self.kind or "",
            "correlationId": self.correlation_id or "",
            "from": _local(self.since),
            "to": _local(self.until),
        }

    def without_outcome(self) -> Filters:
        return replace(self, outcome=None)


@dataclass(frozen=True)
class Row:
    tracking_id: str
    phase: str
    outcome: str | None
    kind: str
    correlation_id: str | None
    last_status: str | None
    polls: int
    tracked_since: str
    finished_at: str | None
    next_poll_at: str | None
    delivery_attempts: int
    last_delivery_error: str | None
    operation_url: str | None

    @property
    def shown_as(self) -> str:
        """What the row's badge says: the outcome, or the phase while there is none."""
        return self.outcome or self.phase


@dataclass(frozen=True)
class Listing:
    rows: tuple[Row, ...]  # newest first, at most SHOWN
    matching: int  # rows that matched, shown or not
    counts: Mapping[str, int]  # per outcome (per phase while unfinished), outcome filter ignored
    capped: bool  # MAX_SCANNED states were read and there may be more


def summarise(entities: Iterable[Mapping[str, Any]], filters: Filters, capped: bool = False) -> Listing:
    rows = [row_of(e) for e in entities]
    counts = Counter(row.shown_as for row in rows)
    matching = [row for row in rows if filters.outcome in (None, row.outcome)]
    matching.sort(key=lambda row: row.tracked_since, reverse=True)
    return Listing(tuple(matching[:SHOWN]), len(matching), dict(counts.most_common()), capped)


def list_trackings(table: TableClient, filters: Filters) -> Listing:
    query, parameters = filters.table_query()
    entities: list[Mapping[str, Any]] = []
    for entity in table.query_entities(query, parameters=parameters, select=COLUMNS, results_per_page=1000):
        entities.append(entity)
        if len(entities) >= MAX_SCANNED:
            return summarise(entities, filters, capped=True)
    return summarise(entities, filters)


def row_of(entity: Mapping[str, Any]) -> Row:
    def text(name: str) -> str | None:
        value = entity.get(name)
        return None if value in (None, "") else str(value)

    return Row(
        tracking_id=str(entity.get("PartitionKey")),
        phase=text("phase") or "",
        outcome=text("outcome"),
        kind=text("kind") or "",
        correlation_id=text("correlationId"),
        last_status=text("lastStatus"),
        polls=int(entity.get("polls") or 0),
        tracked_since=text("trackedSince") or "",
        finished_at=text("finishedAt"),
        next_poll_at=text("nextPollAt"),
        delivery_attempts=int(entity.get("deliveryAttempts") or 0),
        last_delivery_error=text("lastDeliveryError"),
        operation_url=text("operationUrl"),
    )


def _moment(query: Mapping[str, str], name: str) -> datetime | None:
    """A time from a ``datetime-local`` field (read as UTC, as the page labels it) or an ISO 8601 time."""
    raw = query.get(name, "").strip()
    if not raw:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Rejected(name, f"{raw!r} is not a time (use YYYY-MM-DDTHH:MM, UTC)") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _local(moment: datetime | None) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M") if moment else ""
