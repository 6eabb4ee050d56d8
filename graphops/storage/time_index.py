"""The state table's index by time: which trackings began when, where each one stands, how many stand where.

State rows are keyed by tracking id, so "the newest trackings" or "how many failed today" would mean reading
every one. Beside them, in the same table, each day of ``trackedSince`` has a partition (``~index-YYYYMMDD``)
holding a row per tracking begun in it (newest first: the row key counts down) and, for each hour, up to
``SHARDS`` count rows (``cHH-NN``, before the tracking rows). A tracking's row and its count row change in one
transaction (the same partition), so the counts are always the sum of the rows. Rows change only when a
tracking's standing changes (begun, finished, delivery failed, cancelled, removed), never on a poll: two table
operations each (a query reading both rows, a transaction). A finished tracking's row also keeps what the list
shows of it (polls, Graph's last status, deliveries), so a page reads the state only of unfinished ones.

"The last 24 hours" is then two partitions: per day one query for the whole hours' count rows, the rows of an
hour the range cuts, and the newest rows in key order — a handful of queries, each within one partition.

The index is derived: the state row stays the truth, and the tracking's page reads it. A transition whose
write failed is made good by the tracking's next one (it reads the row's standing, not the one it expected),
and ``graphops index rebuild`` writes the index anew from the state rows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from graphops.envelope.tracking import iso, moment_or_none

log = logging.getLogger("graphops.index")

PREFIX = "~index-"  # "~" is in no tracking id, so no index partition is ever a tracking's
BUCKETS_PARTITION = "~index"  # a row per day that has (or had) an index partition
SHARDS = 16  # count rows per hour: concurrent transitions in one hour rarely wait for each other
ROW_PREFIX, COUNT_PREFIX = "t", "c"
_LAST_MS = 10**13 - 1  # row keys count down from here: the newest tracking first
DELIVERY_FAILED = "deliveryFailed"
DELIVERING = "delivering"
ATTEMPTS = 6  # a transition that keeps meeting a concurrent one gives up (and the next transition repairs it)
# What the list shows without reading the state row.
ROW_COLUMNS = ("trackingId", "trackedSince", "kind", "correlationId", "standing", "phase", "outcome", "operationUrl",
               "finishedAt")  # fmt: skip


# What the list shows of a tracking beyond the row's own columns: kept in the row once it is done (nothing changes
# then), read from the state row while it runs.
DETAILS = ("polls", "lastStatus", "progress", "lastPollAt", "deliveryAttempts", "lastDeliveryError")
# The state row's properties an index entry is made of (``entry_of_state``).
INDEXED = ("PartitionKey", "trackedSince", "kind", "phase", "outcome", "deliveries", "correlationId", "operationUrl",
           "finishedAt", *DETAILS)  # fmt: skip


def standing_of(phase: str, outcome: str | None, delivery_failed: bool) -> str:
    """Where a tracking stands, as the list counts it: each tracking in exactly one of these.

    Its phase while it has no outcome; ``delivering`` while its outcome is on its way; ``deliveryFailed`` when a
    sink's delivery was dead-lettered; its outcome once delivered (or cancelled).
    """
    if not outcome:
        return phase
    if delivery_failed:
        return DELIVERY_FAILED
    return outcome if phase == "done" else DELIVERING


def phase_of_standing(standing: str) -> str:
    if standing in ("polling", "awaitingResource", DELIVERING):
        return standing
    return "done"


def bucket_of(moment: datetime) -> str:
    """The day a moment is in: the index partition of the trackings begun then."""
    return moment.astimezone(UTC).strftime("%Y%m%d")


def day_start(bucket: str) -> datetime:
    return datetime.strptime(bucket, "%Y%m%d").replace(tzinfo=UTC)


def partition_of(bucket: str) -> str:
    return PREFIX + bucket


def row_key(tracked_since: datetime, tracking_id: str) -> str:
    millis = int(tracked_since.timestamp() * 1000)
    return f"{ROW_PREFIX}{_LAST_MS - millis:013d}-{tracking_id}"


def row_key_bound(moment: datetime) -> str:
    """The row key at which trackings begun before ``moment`` start (keys count down)."""
    return f"{ROW_PREFIX}{_LAST_MS - int(moment.timestamp() * 1000) + 1:013d}"


def count_key(hour: int) -> str:
    """Where the count rows of an hour of the day (0-23; 24: past the last) begin."""
    return f"{COUNT_PREFIX}{hour:02d}"


def shard_of(tracking_id: str, tracked_since: datetime) -> str:
    """The count row a tracking is counted in: its hour's, one of ``SHARDS``."""
    return f"{count_key(tracked_since.astimezone(UTC).hour)}-{zlib.crc32(tracking_id.encode()) % SHARDS:02d}"


def split_day(
    bucket: str, since: datetime | None, until: datetime | None
) -> tuple[tuple[int, int] | None, list[tuple[datetime, datetime]]]:
    """What of a day a time range covers: the whole hours ``(first, past the last)``, whose count rows answer, or
    None; and the stretches it cuts from an hour, whose rows are counted one by one."""
    start = day_start(bucket)
    end = start + timedelta(days=1)
    low, high = max(since or start, start), min(until or end, end)
    if low >= high:
        return None, []
    first = low if low == _floor_hour(low) else _floor_hour(low) + timedelta(hours=1)
    last = _floor_hour(high)
    if first >= last:
        return None, [(low, high)]
    hours = (int((first - start).total_seconds()) // 3600, int((last - start).total_seconds()) // 3600)
    return hours, [(a, b) for a, b in ((low, first), (last, high)) if a < b]


def _floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def count_name(standing: str, kind: str) -> str:
    """The count row's property for a standing and kind (names as C# identifiers: letters and digits)."""
    return f"n_{_word(standing)}_{_word(kind)}"


def counted(name: str) -> tuple[str, str] | None:
    """The (standing, kind) a count property stands for, or None for the row's other properties."""
    parts = name.split("_")
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "n" else None


def _word(text: str) -> str:
    return "".join(c for c in text if c.isascii() and c.isalnum()) or "other"


@dataclass(frozen=True)
class Entry:
    """A tracking as the index holds it."""

    tracking_id: str
    tracked_since: datetime
    kind: str
    standing: str
    phase: str
    outcome: str | None = None
    correlation_id: str | None = None
    operation_url: str | None = None
    finished_at: str | None = None
    details: Mapping[str, Any] | None = None  # DETAILS, for a tracking that is done; None: read the state

    @property
    def partition(self) -> str:
        return partition_of(bucket_of(self.tracked_since))

    @property
    def count_row(self) -> str:
        return shard_of(self.tracking_id, self.tracked_since)

    @property
    def row(self) -> dict[str, Any]:
        kept = {name: "" if value is None else value for name, value in (self.details or {}).items()}
        return {"PartitionKey": self.partition, "RowKey": row_key(self.tracked_since, self.tracking_id),
                "trackingId": self.tracking_id, "trackedSince": iso(self.tracked_since), "kind": self.kind,
                "standing": self.standing, "phase": self.phase, "outcome": self.outcome or "",
                "correlationId": self.correlation_id or "", "operationUrl": self.operation_url or "",
                "finishedAt": self.finished_at or "", **kept}  # fmt: skip


@dataclass(frozen=True)
class Window:
    """Which trackings a list or count covers: begun in [since, until), with these fields."""

    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    correlation_id: str | None = None
    standings: frozenset[str] | None = None  # None: any

    def clauses(self) -> tuple[list[str], dict[str, Any]]:
        """Table filter clauses for the fields a partition's rows are filtered by (the standing is the caller's)."""
        clauses, parameters = [], {}
        if self.kind is not None:
            clauses.append("kind eq @kind")
            parameters["kind"] = self.kind
        if self.correlation_id is not None:
            clauses.append("correlationId eq @cid")
            parameters["cid"] = self.correlation_id
        return clauses, parameters

    def within(self, since: datetime, until: datetime) -> Window:
        """This window, narrowed to begun in [since, until)."""
        return replace(self, since=since, until=until)


class TrackingIndex:
    """Reads and writes the index. ``operations`` counts table operations, as the state store's does."""

    def __init__(self, table: TableClient, *, workers: int = 16) -> None:
        self._table = table
        self._workers = workers
        self._known_buckets: set[str] = set()
        self.operations = 0

    # -- writing -----------------------------------------------------------------------------------

    def note(self, entry: Entry) -> bool:
        """Make the index say ``entry``: its row, and the counts moved from the row's old standing to its new.
        False when concurrent transitions kept winning (the next transition of this tracking repairs it)."""
        return self._transition(entry.partition, entry.row, entry.count_row, entry.standing, entry.kind)

    def forget(self, tracking_id: str, tracked_since: datetime) -> bool:
        """Remove a tracking's row and take it out of the counts (its state was removed)."""
        partition = partition_of(bucket_of(tracked_since))
        key = row_key(tracked_since, tracking_id)
        shard = shard_of(tracking_id, tracked_since)
        return self._transition(partition, {"PartitionKey": partition, "RowKey": key}, shard, None, "")

    def _transition(self, partition: str, row: dict[str, Any], shard: str, standing: str | None, kind: str) -> bool:
        self._register(partition)
        for attempt in range(ATTEMPTS):
            if attempt:  # two writers that met once would meet again at once: spread them apart
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
            try:
                try:
                    current, counts = self._read_pair(partition, row["RowKey"], shard)
                except ResourceNotFoundError:
                    current, counts = None, None  # a fresh account: the table comes with the first write
                operations = self._operations(row, current, counts, shard, standing, kind)
                if not operations:
                    return True
                self.operations += 1
                self._table.submit_transaction(operations)
                return True
            except (TableTransactionError, ResourceExistsError) as exc:
                log.info("index of %s changed meanwhile (%s): reading again", row["RowKey"], type(exc).__name__)
            except ResourceNotFoundError:
                self._create_table()
            except AzureError as exc:  # storage out of reach past the SDK's own retries: a finished tracking
                # has no later transition to repair it, so try again here before giving up
                log.info("index of %s not written (%s): trying again", row["RowKey"], type(exc).__name__)
        log.warning("index row %s not written after %d attempts; its next transition repairs it", row["RowKey"],
                    ATTEMPTS)  # fmt: skip
        return False

    def _read_pair(self, partition: str, key: str, shard: str) -> tuple[Any, Any]:
        self.operations += 1
        query = "PartitionKey eq @p and ( RowKey eq @r or RowKey eq @c )"
        rows = self._table.query_entities(query, parameters={"p": partition, "r": key, "c": shard})
        found = {e["RowKey"]: e for e in rows}
        return found.get(key), found.get(shard)

    @staticmethod
    def _operations(row: dict[str, Any], current: Any, counts: Any, shard: str, standing: str | None,
                    kind: str) -> list[Any]:  # fmt: skip
        """The transaction that takes the index from what was read to ``row`` (None standing: removed)."""
        if_unchanged = {"match_condition": MatchConditions.IfNotModified}
        before = (str(current.get("standing")), str(current.get("kind"))) if current is not None else None
        after = (standing, kind) if standing is not None else None
        operations: list[Any] = []
        if after is None:
            if current is None:
                return []
            operations.append(("delete", current, {"etag": current.metadata["etag"], **if_unchanged}))
        elif current is None:
            operations.append(("create", row))
        elif any(current.get(k) != v for k, v in row.items()):
            operations.append(("update", row, {"mode": UpdateMode.REPLACE, "etag": current.metadata["etag"],
                                               **if_unchanged}))  # fmt: skip
        if before != after:
            change = Counter({count_name(*after): 1} if after else {})
            change.subtract({count_name(*before): 1} if before else {})
            if counts is None:
                fresh = {k: max(v, 0) for k, v in change.items()}
                operations.append(("create", {"PartitionKey": row["PartitionKey"], "RowKey": shard, **fresh}))
            else:
                moved = {k: max(int(counts.get(k) or 0) + v, 0) for k, v in change.items()}
                merged = {"PartitionKey": row["PartitionKey"], "RowKey": shard, **moved}
                operations.append(("update", merged, {"mode": UpdateMode.MERGE, "etag": counts.metadata["etag"],
                                                      **if_unchanged}))  # fmt: skip
        return operations

    def _register(self, partition: str) -> None:
        """Note the day in the list of days (once per process and day), so a list finds its partitions."""
        bucket = partition.removeprefix(PREFIX)
        if bucket in self._known_buckets:
            return
        try:
            self.operations += 1
            self._table.upsert_entity({"PartitionKey": BUCKETS_PARTITION, "RowKey": bucket}, mode=UpdateMode.MERGE)
        except ResourceNotFoundError:
            self._create_table()
            self._table.upsert_entity({"PartitionKey": BUCKETS_PARTITION, "RowKey": bucket}, mode=UpdateMode.MERGE)
        self._known_buckets.add(bucket)

    def _create_table(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            self._table.create_table()

    # -- reading -----------------------------------------------------------------------------------

    def buckets(self, window: Window, now: datetime) -> list[str]:
        """The days with trackings in the window, newest first."""
        low = bucket_of(window.since) if window.since else ""
        high = bucket_of(window.until or now)
        self.operations += 1
        try:
            rows = self._table.query_entities(
                "PartitionKey eq @p and RowKey ge @low and RowKey le @high",
                parameters={"p": BUCKETS_PARTITION, "low": low, "high": high}, select=["RowKey"])  # fmt: skip
            return sorted((str(r["RowKey"]) for r in rows), reverse=True)
        except ResourceNotFoundError:
            return []

    def counts(self, window: Window, now: datetime, buckets: Sequence[str] | None = None) -> Counter[str]:
        """How many trackings in the window stand where (its ``standings`` ignored: the chips show them all)."""
        chosen = list(self.buckets(window, now) if buckets is None else buckets)
        everywhere = Window(window.since, window.until, window.kind, window.correlation_id)
        with ThreadPoolExecutor(self._workers) as pool:
            parts = pool.map(lambda bucket: self._bucket_counts(bucket, everywhere), chosen)
            return sum(parts, Counter())

    def _bucket_counts(self, bucket: str, window: Window) -> Counter[str]:
        hours, cut = split_day(bucket, window.since, window.until)
        if window.correlation_id is not None:  # one correlation id: its rows, counted (they are few)
            start = day_start(bucket)
            hours, cut = None, [(window.since or start, window.until or start + timedelta(days=1))]
        total: Counter[str] = Counter()
        if hours is not None:
            clause = f"RowKey ge '{count_key(hours[0])}' and RowKey lt '{count_key(hours[1])}'"
            for shard in self._query(partition_of(bucket), clause, {}):
                for name, value in shard.items():
                    pair = counted(name)
                    if pair and (window.kind is None or pair[1] == _word(window.kind)) and int(value) > 0:
                        total[pair[0]] += int(value)
        for since, until in cut:  # the part of an hour the range cuts: its rows, counted
            total.update(
                str(r["standing"]) for r in self._rows(bucket, window.within(since, until), ["standing"], None)
            )
        return total

    def page(self, window: Window, now: datetime, limit: int, buckets: Sequence[str] | None = None) -> list[Entry]:
        """The newest ``limit`` trackings in the window (its ``standings`` applied)."""
        found: list[Entry] = []
        for bucket in self.buckets(window, now) if buckets is None else buckets:
            rows = self._rows(bucket, window, [*ROW_COLUMNS, *DETAILS], limit - len(found))
            found.extend(entry_of_row(r) for r in rows)
            if len(found) >= limit:
                break
        return found[:limit]

    def _rows(self, bucket: str, window: Window, select: list[str], limit: int | None) -> Iterator[Mapping[str, Any]]:
        clauses, parameters = window.clauses()
        low = row_key_bound(window.until) if window.until else ROW_PREFIX
        high = row_key_bound(window.since) if window.since else "u"
        clauses = [f"RowKey ge '{low}'", f"RowKey lt '{high}'", *clauses]
        if window.standings is not None:
            if not window.standings:
                return
            names = sorted(window.standings)
            clauses.append("( " + " or ".join(f"standing eq @s{i}" for i in range(len(names))) + " )")
            parameters.update({f"s{i}": name for i, name in enumerate(names)})
        for taken, row in enumerate(
            self._query(partition_of(bucket), " and ".join(clauses), parameters, select, limit)
        ):
            if limit is not None and taken >= limit:
                return
            yield row

    def _query(self, partition: str, clause: str, parameters: dict[str, Any], select: list[str] | None = None,
               per_page: int | None = None) -> Iterable[Mapping[str, Any]]:  # fmt: skip
        self.operations += 1
        try:
            yield from self._table.query_entities(
                f"PartitionKey eq @partition and {clause}", parameters={**parameters, "partition": partition},
                select=select, results_per_page=min(per_page or 1000, 1000))  # fmt: skip
        except ResourceNotFoundError:
            return

    # -- rebuilding --------------------------------------------------------------------------------

    def rebuild(self, entries: Iterable[Entry]) -> int:
        """Write the index anew for these trackings (every state row): rows, then each hour's counts from its rows;
        an hour the index knows with none of them left is emptied. For an index that was never written (an upgrade)
        or that drifted; run while nothing else writes."""
        by_partition: dict[str, list[Entry]] = {}
        for entry in entries:
            by_partition.setdefault(entry.partition, []).append(entry)
        for bucket in self.buckets(Window(), datetime.max.replace(tzinfo=UTC)):
            by_partition.setdefault(partition_of(bucket), [])
        for partition, chosen in by_partition.items():
            self._register(partition)
            self._replace_partition(partition, chosen)
        return sum(len(chosen) for chosen in by_partition.values())

    def _replace_partition(self, partition: str, entries: list[Entry]) -> None:
        try:
            old = list(self._table.query_entities("PartitionKey eq @p", parameters={"p": partition},
                                                  select=["PartitionKey", "RowKey"]))  # fmt: skip
        except ResourceNotFoundError:
            self._create_table()
            old = []
        # Each tracking counted in its own hour's shard, where its later transitions move it from.
        shards: dict[str, Counter[str]] = {}
        for e in entries:
            shards.setdefault(e.count_row, Counter())[count_name(e.standing, e.kind)] += 1
        keep = {e.row["RowKey"] for e in entries} | set(shards)
        operations: list[Any] = [("upsert", e.row, {"mode": UpdateMode.REPLACE}) for e in entries]
        operations += [("upsert", {"PartitionKey": partition, "RowKey": shard, **counts}, {"mode": UpdateMode.REPLACE})
                       for shard, counts in shards.items()]  # fmt: skip
        operations += [("delete", r) for r in old if r["RowKey"] not in keep]
        for start in range(0, len(operations), 100):  # a transaction holds at most 100 operations
            self.operations += 1
            self._table.submit_transaction(operations[start : start + 100])


def entry_of_row(row: Mapping[str, Any]) -> Entry:
    def text(name: str) -> str | None:
        value = row.get(name)
        return None if value in (None, "") else str(value)

    return Entry(
        tracking_id=str(row.get("trackingId")),
        tracked_since=moment_or_none(row.get("trackedSince")) or datetime.fromtimestamp(0, UTC),
        kind=str(row.get("kind") or ""),
        standing=str(row.get("standing") or ""),
        phase=str(row.get("phase") or ""),
        outcome=text("outcome"),
        correlation_id=text("correlationId"),
        operation_url=text("operationUrl"),
        finished_at=text("finishedAt"),
        details=_details_when_done(row),
    )


def _details_when_done(values: Mapping[str, Any]) -> dict[str, Any] | None:
    if values.get("phase") != "done" or values.get("polls") in (None, ""):
        return None  # still changing (or written without them): the list reads the state row
    return {name: values.get(name) for name in DETAILS}


def entry_of_state(tracking_id: str, state: Mapping[str, Any]) -> Entry | None:
    """The index's view of a state row, or None for a row that has no beginning (damaged)."""
    tracked_since = moment_or_none(state.get("trackedSince"))
    if tracked_since is None:
        return None
    phase = str(state.get("phase") or "polling")
    outcome = state.get("outcome") or None
    return Entry(
        tracking_id=tracking_id,
        tracked_since=tracked_since,
        kind=str(state.get("kind") or ""),
        standing=standing_of(phase, outcome, dead_lettered(state.get("deliveries"))),
        phase=phase,
        outcome=str(outcome) if outcome else None,
        correlation_id=str(state.get("correlationId") or "") or None,
        operation_url=str(state.get("operationUrl") or "") or None,
        finished_at=str(state.get("finishedAt") or "") or None,
        details=_details_when_done(state),
    )


def dead_lettered(deliveries: Any) -> bool:
    """Whether a state's ``deliveries`` (JSON text, as stored) has a sink that gave up."""
    try:
        parsed = json.loads(deliveries) if isinstance(deliveries, str) and deliveries else {}
    except ValueError:
        return False
    return isinstance(parsed, dict) and any(
        isinstance(d, dict) and d.get("state") == "deadLettered" for d in parsed.values()
    )
