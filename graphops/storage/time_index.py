"""The state table's index by time: which trackings began when, where each one stands, how many stand where.

State rows are keyed by tracking id, so "the newest trackings" or "how many failed today" would mean reading
every one. Beside them, in the same table, each day of ``trackedSince`` has a partition (``~index-YYYYMMDD``)
holding a row per tracking begun in it (newest first: the row key counts down) and, for each hour, ``SHARDS``
count rows (``cHH-NN``, before the tracking rows) in which each finished tracking has a property of its own, its
tally (its standing and kind). A running tracking is counted from its row (few are running); a finished one by its
tally, so a whole hour's counts are a handful of count rows however many trackings it had.

Nothing is read to write the index, and nothing written depends on what was there: each write says where the
tracking stands now. A transition between running standings (begun, awaiting its resource, delivering) writes the
row alone, one single-entity write; one that finishes it, or may undo a finish (a requeued dead letter), writes the
row and the tally in one transaction, so the counts are always what the rows say. A tally is a property set by a
merge, not a number moved by a read and a conditional write: transitions of many trackings never wait for one
another, the same transition made twice leaves the same index, and of two transitions of one tracking racing the
one stored last stands in both. Rows change only when a tracking's standing changes, never on a poll: one table
operation each. A finished tracking's row also keeps what the list shows of it (polls, Graph's last status,
deliveries), so a page reads the state only of unfinished ones.

Azure allows an entity 252 properties of its own: a count row full of tallies refuses one more, and that tally
goes to the shard's next count row (``cHH-NN-1``, ...). Tallies are emptied, never removed, so a tracking's tally is
always in the first of its shard's count rows that takes it, which is where its later transitions look.

"The last 24 hours" is then two partitions: per day one query for the whole hours' count rows, one for their
running trackings' rows, the rows of an hour the range cuts, and the newest rows in key order — a handful of
queries, each within one partition.

The index is derived: the state row stays the truth, and the tracking's page reads it. A transition whose
write failed is made good by the tracking's next one, and ``graphops index rebuild`` writes the index anew from
the state rows (after an upgrade from a version whose count rows held numbers, which it replaces).
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.envelope.tracking import iso, moment_or_none
from graphops.graph.kinds import KINDS

log = logging.getLogger("graphops.index")

PREFIX = "~index-"  # "~" is in no tracking id, so no index partition is ever a tracking's
BUCKETS_PARTITION = "~index"  # a row per day that has (or had) an index partition
SHARDS = 16  # count rows per hour (each tracking's tally in one, by its id): a whole day's counts are a page
# Tallies a count row holds: Azure allows an entity 255 properties, 3 of them its own (keys, timestamp). A write
# that would put one more there is refused (FULL), and the tally goes to the shard's next count row, its next level.
CAPACITY = 252
FULL = "TooManyProperties"
MAX_LEVEL = 1000  # 16 shards of 252, a thousand levels: four million trackings begun in one hour
GONE = ("ResourceNotFound", "EntityNotFound")  # a row to delete is not there
ROW_PREFIX, COUNT_PREFIX, TALLY_PREFIX = "t", "c", "s_"
NOT_INDEXED = ""  # where a tracking stands in the index before its first transition
_LAST_MS = 10**13 - 1  # row keys count down from here: the newest tracking first
DELIVERY_FAILED = "deliveryFailed"
DELIVERING = "delivering"
RUNNING = frozenset({"polling", "awaitingResource", DELIVERING})  # the standings of a tracking not finished
ATTEMPTS = 6  # a transition that storage keeps refusing gives up (and the next transition repairs it)
# What the list shows without reading the state row.
ROW_COLUMNS = ("trackingId", "trackedSince", "kind", "correlationId", "standing", "phase", "outcome", "operationUrl",
               "finishedAt", "tenantId")  # fmt: skip


# What the list shows of a tracking beyond the row's own columns: kept in the row once it is done (nothing changes
# then), read from the state row while it runs.
DETAILS = ("polls", "lastStatus", "progress", "lastPollAt", "deliveryAttempts", "lastDeliveryError", "reason")
# The state row's properties an index entry is made of (``entry_of_state``): ``reason`` is made of ``error``.
INDEXED = ("PartitionKey", "trackedSince", "kind", "phase", "outcome", "deliveries", "correlationId", "operationUrl",
           "finishedAt", "error", "tenantId", *DETAILS)  # fmt: skip
# A finished tracking's reason as its index row keeps it: a line of the list, never the whole error (the tracking's
# page has that), so a row stays small however long Graph's message is.
REASON_CHARS = 200
# Outcomes whose error says why the operation did not succeed (a partial success or a not-found says it too).
EXPLAINED = frozenset({"failed", "forbidden", "timedOut", "notFound", "partiallySucceeded"})


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
    if standing in RUNNING:
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
    """The (standing, kind) a count name stands for (a tally's value), or None for anything else."""
    parts = name.split("_")
    return (parts[1], parts[2]) if len(parts) == 3 and parts[0] == "n" else None


def tally_name(tracking_id: str) -> str:
    """The count row's property holding a tracking's tally: one name per tracking id (ids are letters, digits,
    ``-`` and ``_``; a property name takes letters, digits and ``_``, so ``_`` escapes both)."""
    return TALLY_PREFIX + tracking_id.replace("_", "_1").replace("-", "_0")


def level_key(shard: str, level: int) -> str:
    """The row key of a shard's count row at a level: the first has the shard's own key, the later ones follow it."""
    return shard if level == 0 else f"{shard}-{level}"


def tallied(row: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """The (standing, kind) of each tracking a count row tallies (a forgotten one's tally is empty)."""
    for name, value in row.items():
        if name.startswith(TALLY_PREFIX) and isinstance(value, str) and (pair := counted(value)) is not None:
            yield pair


# A transition's writes (one operation), given the count row its tally goes to and whether its row is known gone.
Writes = Callable[[str, bool], list[Any]]


def running(standing: str) -> bool:
    return standing in RUNNING


def writes(entry: Entry, was: str | None = None) -> Writes:
    """The index saying ``entry`` where it said ``was`` (None: not known; ``NOT_INDEXED``: nothing yet).

    A running tracking is counted from its row (the counts query them), a finished one by its tally in a count row:
    so a transition between running standings writes the row alone, and one that finishes (or may undo a finish)
    writes the row and the tally in one transaction. Each write is an assignment, not an increment, and reads
    nothing first: the same transition made twice, or a missed one made by the next, leaves the same index; of two
    racing, the one stored last stands in both."""
    row = ("upsert", entry.row, {"mode": UpdateMode.REPLACE})
    if running(entry.standing) and was is not None and (was == NOT_INDEXED or running(was)):
        return lambda count_row, row_gone: [row]
    value = "" if running(entry.standing) else count_name(entry.standing, entry.kind)
    tally = {"PartitionKey": entry.partition, tally_name(entry.tracking_id): value}
    return lambda count_row, row_gone: [row, ("upsert", {**tally, "RowKey": count_row}, {"mode": UpdateMode.MERGE})]


def forgetting(partition: str, tracking_id: str, tracked_since: datetime) -> Writes:
    """The tracking's row deleted and its tally emptied (its property stays: a full count row stays full, so a
    later tally never lands before one already written in a later level)."""
    row = {"PartitionKey": partition, "RowKey": row_key(tracked_since, tracking_id)}

    def make(count_row: str, row_gone: bool) -> list[Any]:
        cleared = ("upsert", {"PartitionKey": partition, "RowKey": count_row, tally_name(tracking_id): ""},
                   {"mode": UpdateMode.MERGE})  # fmt: skip
        return [cleared] if row_gone else [("delete", row), cleared]

    return make


def error_code(exc: AzureError) -> str | None:
    """The storage error code of a failure (the SDK gives an enum member for codes it knows, a string otherwise)."""
    code = getattr(exc, "error_code", None)
    response = getattr(exc, "response", None)
    if not code and response is not None:
        code = response.headers.get("x-ms-error-code")
    return str(getattr(code, "value", code)) if code else None


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
    tenant_id: str | None = None  # a customer tenant's; None for the home tenant

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
                "finishedAt": self.finished_at or "", "tenantId": self.tenant_id or "", **kept}  # fmt: skip


@dataclass(frozen=True)
class Window:
    """Which trackings a list or count covers: begun in [since, until), with these fields."""

    since: datetime | None = None
    until: datetime | None = None
    kind: str | None = None
    correlation_id: str | None = None
    standings: frozenset[str] | None = None  # None: any
    tenant_id: str | None = None  # a customer tenant's trackings only

    def clauses(self) -> tuple[list[str], dict[str, Any]]:
        """Table filter clauses for the fields a partition's rows are filtered by (the standing is the caller's)."""
        clauses, parameters = [], {}
        if self.kind is not None:
            clauses.append("kind eq @kind")
            parameters["kind"] = self.kind
        if self.correlation_id is not None:
            clauses.append("correlationId eq @cid")
            parameters["cid"] = self.correlation_id
        if self.tenant_id is not None:
            clauses.append("tenantId eq @tid")
            parameters["tid"] = self.tenant_id
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

    def note(self, entry: Entry, was: str | None = None) -> bool:
        """Make the index say ``entry``, where it said ``was`` (None: not known). Its row, and its tally when it has
        finished or may have been tallied before, in one write that reads nothing first. False when storage kept
        failing (the next transition of this tracking repairs it)."""
        return self._transition(entry.partition, entry.tracking_id, entry.count_row, writes(entry, was))

    def forget(self, tracking_id: str, tracked_since: datetime) -> bool:
        """Remove a tracking's row and take it out of the counts (its state was removed)."""
        partition = partition_of(bucket_of(tracked_since))
        shard = shard_of(tracking_id, tracked_since)
        return self._transition(partition, tracking_id, shard, forgetting(partition, tracking_id, tracked_since))

    def _transition(self, partition: str, tracking_id: str, shard: str, make: Writes) -> bool:
        """Write what ``make`` says, its tally in the first of the shard's count rows that takes it."""
        self._register(partition)
        level, row_gone, failures = 0, False, 0
        while failures < ATTEMPTS:
            try:
                self.operations += 1
                self._submit(make(level_key(shard, level), row_gone))
                return True
            except AzureError as exc:
                code = error_code(exc)
                if code == FULL and level < MAX_LEVEL:
                    level += 1  # that count row holds all the tallies Azure allows: this one is in a later one
                    continue
                failures += 1
                if code == "TableNotFound" or (isinstance(exc, ResourceNotFoundError) and code not in GONE):
                    self._create_table()  # a fresh account: the table comes with the first write
                elif code in GONE and not row_gone:
                    row_gone = True  # forgetting a row that is not there: its tally alone
                else:  # storage out of reach past the SDK's own retries: a finished tracking has no later
                    # transition to repair it, so try again here, after a moment, before giving up
                    log.info("index of %s not written (%s %s): trying again", tracking_id, type(exc).__name__, code)
                    time.sleep(random.uniform(0, 0.02 * 2**failures))
        log.warning("index of %s not written after %d attempts; its next transition repairs it", tracking_id,
                    ATTEMPTS)  # fmt: skip
        return False

    def _submit(self, operations: list[Any]) -> None:
        """One table operation: a single entity's write on its own (a transaction costs the SDK several times the
        CPU to prepare and to read back), several entities' as a transaction."""
        if len(operations) > 1:
            self._table.submit_transaction(operations)
            return
        [(verb, entity, *options)] = operations
        if verb == "delete":
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        else:
            self._table.upsert_entity(entity, **(options[0] if options else {}))

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
        everywhere = Window(window.since, window.until, window.kind, window.correlation_id, tenant_id=window.tenant_id)
        with ThreadPoolExecutor(self._workers) as pool:
            parts = pool.map(lambda bucket: self._bucket_counts(bucket, everywhere), chosen)
            return sum(parts, Counter())

    def _bucket_counts(self, bucket: str, window: Window) -> Counter[str]:
        hours, cut = split_day(bucket, window.since, window.until)
        if window.correlation_id is not None or window.tenant_id is not None:
            # One correlation id, or one tenant (the tallies are kept per kind, not per tenant): its rows, counted.
            start = day_start(bucket)
            hours, cut = None, [(window.since or start, window.until or start + timedelta(days=1))]
        total: Counter[str] = Counter()
        if hours is not None:  # the finished trackings by their tallies, the running ones by their rows
            clause = f"RowKey ge '{count_key(hours[0])}' and RowKey lt '{count_key(hours[1])}'"
            for shard in self._query(partition_of(bucket), clause, {}):
                total.update(standing for standing, kind in tallied(shard)
                             if window.kind is None or kind == _word(window.kind))  # fmt: skip
            start = day_start(bucket)
            whole = replace(window.within(start + timedelta(hours=hours[0]), start + timedelta(hours=hours[1])),
                            standings=RUNNING)  # fmt: skip
            total.update(str(r["standing"]) for r in self._rows(bucket, whole, ["standing"], None))
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
        counts = count_rows(partition, entries)
        keep = {e.row["RowKey"] for e in entries} | {row["RowKey"] for row in counts}
        operations: list[Any] = [("upsert", e.row, {"mode": UpdateMode.REPLACE}) for e in entries]
        operations += [("upsert", row, {"mode": UpdateMode.REPLACE}) for row in counts]
        operations += [("delete", r) for r in old if r["RowKey"] not in keep]
        for start in range(0, len(operations), 100):  # a transaction holds at most 100 operations
            self.operations += 1
            self._table.submit_transaction(operations[start : start + 100])


def count_rows(partition: str, entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """A partition's count rows for these trackings: each finished one tallied in its hour's shard, filling the
    shard's levels in order, as its transitions find them (a later level only once the ones before it are full)."""
    shards: dict[str, list[Entry]] = {}
    for e in entries:
        if not running(e.standing):  # a running one is counted from its row
            shards.setdefault(e.count_row, []).append(e)
    rows = []
    for shard, tallies in shards.items():
        for level, start in enumerate(range(0, len(tallies), CAPACITY)):
            rows.append({"PartitionKey": partition, "RowKey": level_key(shard, level),
                         **{tally_name(e.tracking_id): count_name(e.standing, e.kind)
                            for e in tallies[start : start + CAPACITY]}})  # fmt: skip
    return rows


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
        tenant_id=text("tenantId"),
    )


def _details_when_done(values: Mapping[str, Any]) -> dict[str, Any] | None:
    if values.get("phase") != "done" or values.get("polls") in (None, ""):
        return None  # still changing (or written without them): the list reads the state row
    return {name: values.get(name) for name in DETAILS}


def reason_of(state: Mapping[str, Any]) -> str | None:
    """Why a tracking ended as it did, in one bounded line, from its state row (or None: nothing to say).

    A delivery that gave up says the sink's error; a failed, refused or timed-out operation its error's code and
    message (a refusal's message names the permission to grant). Graph's and the sinks' words, kept as data."""
    said: str | None = None
    if dead_lettered(state.get("deliveries")):
        said = str(state.get("lastDeliveryError") or "") or _dead_letter_error(state.get("deliveries"))
    elif state.get("outcome") == "forbidden" and (kind := KINDS.get(str(state.get("kind") or ""))) is not None:
        said = kind.refuses_apps or f"needs the application permission {kind.permission}"  # what to grant, first
    elif state.get("outcome") in EXPLAINED:
        error = _json_object(state.get("error"))
        code, message = error.get("code"), error.get("message")
        said = ": ".join(str(part) for part in (code, message) if part not in (None, "")) or None
    if not said:
        return None
    said = " ".join(said.split())  # one line, whatever Graph's message spans
    return said if len(said) <= REASON_CHARS else said[: REASON_CHARS - 1] + "…"


def _dead_letter_error(deliveries: Any) -> str | None:
    parsed = _json_object(deliveries)
    for delivery in parsed.values():
        if isinstance(delivery, dict) and delivery.get("state") == "deadLettered" and delivery.get("error"):
            return str(delivery["error"])
    return None


def _json_object(raw: Any) -> dict[str, Any]:
    try:
        parsed = json.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


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
        details=_with_reason(_details_when_done(state), state),
        tenant_id=str(state.get("tenantId") or "") or None,
    )


def _with_reason(details: dict[str, Any] | None, state: Mapping[str, Any]) -> dict[str, Any] | None:
    """A finished tracking's details with its reason, made from its state when it finishes."""
    return None if details is None else {**details, "reason": reason_of(state)}


def dead_lettered(deliveries: Any) -> bool:
    """Whether a state's ``deliveries`` (JSON text, as stored) has a sink that gave up."""
    try:
        parsed = json.loads(deliveries) if isinstance(deliveries, str) and deliveries else {}
    except ValueError:
        return False
    return isinstance(parsed, dict) and any(
        isinstance(d, dict) and d.get("state") == "deadLettered" for d in parsed.values()
    )
