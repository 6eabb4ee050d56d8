"""Each kind's lengths, kept in the state table, and the learned schedules they make (the I/O side of
:mod:`graphops.pacing.learned`).

Append-only, so that no two steps ever meet on a row: a finished tracking writes its length with one insert
into the partition ``~lengths``, at its operation's own row (``<kind>.<operation key>``, the key a hash of the
operation's URL). Nothing is read first and nothing is retried against another writer, so a thousand instances
finishing trackings of one kind cost one table operation each. The same operation tracked again finds its row
taken and leaves it: one operation is one length, its first tracking's (a later tracking began later than the
operation did, and would understate it). No other operation's length is ever replaced.

What bounds a kind's rows is time: its history is its :data:`KEPT` newest rows by when their trackings finished
(:func:`graphops.pacing.learned.bounded`), so a new operation displaces only the oldest length, never one at
random; lengths older than :data:`graphops.pacing.learned.MAX_AGE` are not read. When a kind has
:data:`PRUNE_AFTER` more rows than it keeps, the process that reads them deletes the older ones, so the
partition stays a page or two per kind. Rows of former layouts (``<kind>.<slot>``) read as lengths like any
other and age out the same way.

Each process reads the partition again every ``refresh`` seconds (one query, the four columns it needs) and
recomputes a kind's schedule only when its rows changed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient

from graphops.pacing.learned import SOURCE_HOURLY, CheckingSchedule, Seen, bounded, history, learned_schedule
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.lengths")
PARTITION = "~lengths"
#: Rows a kind's history is read from, its newest: enough for a history of a few hundred lengths (HALF_COUNT
#: weighs the newest ~60 most), few enough that the ten-minute read stays a page or two per kind.
KEPT = 256
#: Rows past :data:`KEPT` a kind may gather before a reading process deletes its oldest: deletes come in batches
#: (one table operation a row, about one per new length in all), not one on every read.
PRUNE_AFTER = 64
REFRESH_SECONDS = 600.0
#: Operations this process remembers recording, so that it can say in its log why another tracking of one was
#: not counted again (on another process it simply lands on the same row).
REMEMBERED = 4096
#: How long a step waits for its process's first read of the lengths when another step is making it: about what
#: that read and its schedules take on a loaded host. Past it the step goes on by its kind's default.
FIRST_READ_WAIT = 10.0


def operation_key(operation_url: str) -> str:
    """What names an operation in the table: a hash of its URL (which may carry a monitor's credentials)."""
    return hashlib.sha256(operation_url.encode("utf-8")).hexdigest()[:32]


def row_key(kind: str, operation: str) -> str:
    """The row an operation's length goes to: its kind, then the operation's own key (128 bits of a hash: two
    operations meet on a row by chance about never)."""
    return f"{kind}.{operation}"


def _number(raw: object) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


class LengthStore:
    """Writes and reads the kinds' lengths. ``operations`` counts table operations."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.operations = 0

    def add(self, kind: str, operation: str, seen: Seen) -> bool:
        """``operation``'s length (``operation``: :func:`operation_key`), unless it has one already; False when
        storage refused it (a length is not worth a step)."""
        entity = {"PartitionKey": PARTITION, "RowKey": row_key(kind, operation), "seconds": float(seen.seconds),
                  "at": float(seen.at), "source": seen.source[:256], "operation": operation}  # fmt: skip
        for attempt in range(2):
            try:
                self.operations += 1
                self._table.create_entity(entity)
                return True
            except ResourceExistsError:  # tracked before: its first length stands
                return True
            except ResourceNotFoundError:
                if attempt == 0:
                    self._create_table()  # a fresh account: lengths can come before any state row
            except AzureError as exc:
                log.info("a length of %s not kept (%s)", kind, type(exc).__name__)
                return False
        return False

    def _create_table(self) -> None:
        self.operations += 1
        create_table(self._table, log, "lengths")  # refused: the write fails once more, never the step

    def all(self) -> dict[str, dict[str, Seen]]:
        """Every kind's lengths, by row."""
        self.operations += 1
        out: dict[str, dict[str, Seen]] = {}
        try:
            rows = self._table.query_entities("PartitionKey eq @p", parameters={"p": PARTITION},
                                              select=["RowKey", "seconds", "at", "source"])  # fmt: skip
            for row in rows:
                key, seconds, at = str(row["RowKey"]), _number(row.get("seconds")), _number(row.get("at"))
                kind, dot, _ = key.rpartition(".")
                if dot and seconds is not None and at is not None:
                    out.setdefault(kind, {})[key] = Seen(seconds, at, str(row.get("source") or ""))
        except ResourceNotFoundError:
            return {}
        return out

    def remove(self, keys: Iterable[str]) -> int:
        """Deletes these rows (a kind's oldest, past what it keeps); how many were deleted. A row another process
        deleted first is gone all the same; a refusal leaves the rest for the next read."""
        removed = 0
        for key in keys:
            self.operations += 1
            try:
                self._table.delete_entity(PARTITION, key)
                removed += 1
            except ResourceNotFoundError:
                continue
            except AzureError as exc:
                log.info("older lengths not deleted (%s)", type(exc).__name__)
                break
        return removed


@dataclass
class Learning:
    """This process's view of the learned schedules: read again every ``refresh`` seconds, never on a step's
    critical path for longer than one query."""

    store: LengthStore
    min_delays: Callable[[str], int]  # the kind's shortest delay, as the deployment's policy says
    wanted: Callable[[str], bool] = lambda kind: True  # kinds the deployment lets learn (not fixed by settings)
    refresh: float = REFRESH_SECONDS
    clock: Callable[[], float] = time.monotonic
    wall: Callable[[], float] = time.time  # what lengths' ages are counted from
    _read_at: float | None = None
    _rows: dict[str, dict[str, Seen]] = field(default_factory=dict)
    _schedules: dict[str, CheckingSchedule | None] = field(default_factory=dict)
    _recorded: OrderedDict[tuple[str, str], None] = field(default_factory=OrderedDict)
    first_read_wait: float = FIRST_READ_WAIT
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _first_read: threading.Event = field(default_factory=threading.Event)

    def schedules(self) -> Mapping[str, CheckingSchedule]:
        """The schedules learned so far. One step in ``refresh`` seconds reads the lengths and computes what
        changed, outside the lock: the other steps go on with the schedules they have meanwhile. Until this
        process's first read ends, though, there are none yet, and a step that would poll by its kind's default
        instead waits for that read (up to ``first_read_wait``): a cold instance's first steps pace as its
        warm ones do."""
        with self._lock:
            now = self.clock()
            due = self._read_at is None or now - self._read_at >= self.refresh
            if due:
                self._read_at = now
            known = dict(self._rows)
        if due:
            try:
                self._refresh(known)
            finally:
                self._first_read.set()
        elif not self._first_read.wait(self.first_read_wait):
            log.info("learned schedules not read yet: this step paces by its kind's default")
        with self._lock:
            return {kind: schedule for kind, schedule in self._schedules.items() if schedule is not None}

    def _refresh(self, known: Mapping[str, Mapping[str, Seen]]) -> None:
        try:
            fresh = self.store.all()
        except AzureError as exc:  # keep what was learned; the next refresh tries again
            log.info("learned schedules not read (%s)", type(exc).__name__)
            return
        computed: dict[str, CheckingSchedule | None] = {}
        for kind, rows in fresh.items():
            kept, older = bounded(rows, KEPT)
            if len(older) >= PRUNE_AFTER:
                self.store.remove(older)
            if self.wanted(kind) and (known.get(kind) != rows or kind not in self._schedules):
                computed[kind] = self._learn(kind, [rows[key] for key in kept])
        with self._lock:
            self._schedules.update(computed)
            self._rows = fresh

    def _learn(self, kind: str, rows: Iterable[Seen]) -> CheckingSchedule | None:
        weighed = history(rows, self.wall())
        for source, extra in sorted(weighed.over_share.items()):
            log.info("lengths of %s: %d from %r past its share of %d an hour: its hours count %d each", kind,
                     extra, source, SOURCE_HOURLY, SOURCE_HOURLY)  # fmt: skip
        if weighed.too_old:
            log.debug("lengths of %s: %d too old to count", kind, weighed.too_old)
        try:
            return learned_schedule(weighed.lengths, self.min_delays(kind))
        except (ArithmeticError, ValueError) as exc:  # lengths no one should have written
            log.warning("no learned schedule for %s: %s", kind, type(exc).__name__)
            return None

    def record(self, kind: str, operation_url: str, seen: Seen) -> None:
        """A finished tracking's length. One operation is one length: its row is keyed by the operation, and a
        tracking of an operation this process recorded already is not written again."""
        operation = operation_key(operation_url)
        with self._lock:
            if (kind, operation) in self._recorded:
                self._recorded.move_to_end((kind, operation))
                again = True
            else:
                self._recorded[(kind, operation)] = None
                while len(self._recorded) > REMEMBERED:
                    self._recorded.popitem(last=False)
                again = False
        if again:
            log.info("a length of %s not counted: its operation has given one already", kind)
            return
        self.store.add(kind, operation, seen)
