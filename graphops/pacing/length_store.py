"""Each kind's lengths, kept in the state table, and the learned schedules they make (the I/O side of
:mod:`graphops.pacing.learned`).

Buffered, then written insert-only, so that no two steps ever meet on a row and no step waits on a length: a
finished tracking's length joins its process's buffer (:meth:`LengthStore.buffer`, no table operation), and a
background flush writes each kind's buffered lengths every :data:`FLUSH_SECONDS` as one new row of the partition
``~lengths`` (``<kind>.<batch>``, a ``lengths`` property holding several: :func:`packed`). Nothing is read first
and nothing is retried against another writer: a process finishing trackings of a kind costs one table operation
a minute for it, however many. The flush also runs when the process's parts are closed (the local runner, the
tests) and at the process's exit, where the Functions host lets it; a process that dies without either loses the
lengths of its last minute at most, which a statistic of a few hundred lengths does not miss.

One operation is one length, its first tracking's (a later tracking began later than the operation did, and
would understate it): a process buffers an operation once (:meth:`Learning.record`), and the read keeps, of an
operation found in several rows (tracked again on another process), the earliest length (:func:`stored_of`).
Rows of former layouts — one length a row, ``<kind>.<operation key>`` or ``<kind>.<slot>`` — read as lengths
like any other and age out the same way.

What bounds a kind's rows is time: its history is its :data:`KEPT` newest lengths by when their trackings
finished (:func:`graphops.pacing.learned.bounded`), so a new operation displaces only the oldest length, never
one at random; lengths older than :data:`graphops.pacing.learned.MAX_AGE` are not read. When a kind has
:data:`PRUNE_AFTER` more lengths than it keeps, the process that reads them deletes the rows that supply none of
the kept ones (:func:`spent_rows`), so the partition stays a page or two per kind.

Each process reads the partition again every ``refresh`` seconds (one query, the columns it needs) and
recomputes a kind's schedule only when its lengths changed.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import math
import secrets
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError
from azure.data.tables import TableClient

from graphops.pacing.learned import SOURCE_HOURLY, CheckingSchedule, Seen, bounded, history, learned_schedule
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.lengths")
PARTITION = "~lengths"
#: Rows a kind's history is read from, its newest: enough for a history of a few hundred lengths (HALF_COUNT
#: weighs the newest ~60 most), few enough that the ten-minute read stays a page or two per kind.
KEPT = 256
#: Lengths past :data:`KEPT` a kind may gather before a reading process deletes the rows that hold only older
#: ones: deletes come in batches (one table operation a row, a minute's lengths of a process), not on every read.
PRUNE_AFTER = 64
REFRESH_SECONDS = 600.0
#: Operations this process remembers recording, so that it can say in its log why another tracking of one was
#: not counted again (recorded on another process too, the read counts it once).
REMEMBERED = 4096
#: How long a step waits for its process's first read of the lengths when another step is making it: about what
#: that read and its schedules take on a loaded host. Past it the step goes on by its kind's default.
FIRST_READ_WAIT = 10.0
#: How often a process writes the lengths it buffered: one row per kind that had any.
FLUSH_SECONDS = 60.0
#: The most characters a row's ``lengths`` holds (Azure takes 32K characters in a string property): a minute
#: with more lengths of a kind writes more rows.
ROW_CHARS = 30_000
#: What a length's source keeps of a callback's host (hosts are at most 253 characters).
SOURCE_CHARS = 256
#: What the read asks of a row: a flush's ``lengths``, or a former layout's one length.
COLUMNS = ["RowKey", "lengths", "seconds", "at", "source", "operation"]


def operation_key(operation_url: str) -> str:
    """What names an operation in the table: a hash of its URL (which may carry a monitor's credentials)."""
    return hashlib.sha256(operation_url.encode("utf-8")).hexdigest()[:32]


def row_key(kind: str, operation: str) -> str:
    """The row an operation's length goes to: its kind, then the operation's own key (128 bits of a hash: two
    operations meet on a row by chance about never)."""
    return f"{kind}.{operation}"


def batch_key(kind: str, at: float) -> str:
    """A new row for a flush of a kind's lengths: its kind, then when and a random part (no two flushes, of one
    process or of many, ever take one row)."""
    return f"{kind}.m{int(at * 1000):013d}{secrets.token_hex(6)}"


def packed(lengths: Iterable[tuple[str, Seen]], limit: int = ROW_CHARS) -> list[str]:
    """Lengths (operation key, length) as the ``lengths`` of as few rows as hold them: JSON lists of
    ``[operation, seconds, at, source]``, each at most ``limit`` characters."""
    texts: list[str] = []
    items: list[str] = []
    size = 2
    for operation, seen in lengths:
        if not (math.isfinite(seen.seconds) and math.isfinite(seen.at)):
            continue  # no length to learn from (and not one JSON can hold)
        item = json.dumps([operation, float(seen.seconds), float(seen.at), seen.source[:SOURCE_CHARS]],
                          ensure_ascii=False, allow_nan=False)  # fmt: skip
        if items and size + len(item) + 1 > limit:
            texts.append("[" + ",".join(items) + "]")
            items, size = [], 2
        items.append(item)
        size += len(item) + 1
    if items:
        texts.append("[" + ",".join(items) + "]")
    return texts


def unpacked(text: object) -> list[tuple[str, Seen]]:
    """A row's ``lengths`` read back; what does not read as a length is left out."""
    try:
        items = json.loads(text) if isinstance(text, str) else []
    except ValueError:
        return []
    out = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, list) and len(item) == 4 and isinstance(item[0], str):
            seconds, at = _number(item[1]), _number(item[2])
            if seconds is not None and at is not None:
                out.append((item[0], Seen(seconds, at, str(item[3] or ""))))
    return out


@dataclass(frozen=True)
class Stored:
    """A kind's lengths as its rows hold them: each operation's (its first: the earliest), and the row each comes
    from."""

    lengths: Mapping[str, Seen]  # operation key -> length
    rows: Mapping[str, str]  # operation key -> the row its length is read from
    keys: frozenset[str]  # every row of the kind


def stored_of(rows: Iterable[tuple[str, Sequence[tuple[str, Seen]]]]) -> Stored:
    """A kind's rows (row key, its lengths by operation) as one history: an operation in several rows (tracked
    again, on another process) counts once, by its earliest length; of two as early, the one in the first row by
    key, so every process reading the same rows reads the same lengths."""
    lengths: dict[str, Seen] = {}
    source: dict[str, str] = {}
    keys: set[str] = set()
    for key, found in sorted(rows, key=lambda row: row[0]):
        keys.add(key)
        for operation, seen in found:
            if operation not in lengths or seen.at < lengths[operation].at:
                lengths[operation], source[operation] = seen, key
    return Stored(lengths, source, frozenset(keys))


def spent_rows(stored: Stored, kept: Iterable[str]) -> list[str]:
    """The rows that supply none of the ``kept`` lengths: deleting them loses nothing the history reads."""
    needed = {stored.rows[operation] for operation in kept}
    return sorted(stored.keys - needed)


def _number(raw: object) -> float | None:
    return float(raw) if isinstance(raw, int | float) and not isinstance(raw, bool) else None


def _lengths_of(row: Mapping[str, Any]) -> list[tuple[str, Seen]]:
    """A row's lengths: a flush's several, or a former layout's one (its operation named by its key)."""
    if "lengths" in row and row["lengths"] is not None:
        return unpacked(row["lengths"])
    seconds, at = _number(row.get("seconds")), _number(row.get("at"))
    if seconds is None or at is None:
        return []
    operation = str(row.get("operation") or str(row["RowKey"]).rpartition(".")[2])
    return [(operation, Seen(seconds, at, str(row.get("source") or "")))]


# The stores whose buffers the process's exit writes (weakly: a store no one holds is gone, with nothing buffered).
_OPEN_STORES: weakref.WeakSet[LengthStore] = weakref.WeakSet()


@atexit.register
def _flush_at_exit() -> None:
    for store in list(_OPEN_STORES):
        store.flush()


class LengthStore:
    """Writes and reads the kinds' lengths. ``operations`` counts table operations.

    ``buffer`` keeps a length for the next flush, which a thread of the store's own makes every ``flush_every``
    seconds while there is something to write (it ends when there is not): a step never waits on it."""

    def __init__(self, table: TableClient, *, flush_every: float = FLUSH_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self._table = table
        self._flush_every = flush_every
        self._clock = clock
        self._buffered: dict[str, dict[str, Seen]] = {}  # kind -> operation -> its length
        self._buffer_lock = threading.Lock()
        self._flusher: threading.Thread | None = None
        self._flushing = threading.Lock()  # one flush at a time: the timer's, a close's, the exit's
        self.operations = 0
        _OPEN_STORES.add(self)

    def buffer(self, kind: str, operation: str, seen: Seen) -> None:
        """``operation``'s length (``operation``: :func:`operation_key`), written with the next flush: no table
        operation now. A second length of an operation still buffered is not kept (its first stands)."""
        with self._buffer_lock:
            self._buffered.setdefault(kind, {}).setdefault(operation, seen)
            if self._flusher is None:
                self._flusher = threading.Thread(target=self._flush_every_while_buffered, name="graphops lengths",
                                                 daemon=True)  # fmt: skip
                self._flusher.start()

    def buffered(self) -> int:
        """How many lengths wait for the next flush."""
        with self._buffer_lock:
            return sum(len(lengths) for lengths in self._buffered.values())

    def _flush_every_while_buffered(self) -> None:
        while True:
            time.sleep(self._flush_every)
            try:
                self.flush()
            except Exception:  # a flush that failed in a way storage's errors do not cover: the next one tries again
                log.exception("lengths not written")
            with self._buffer_lock:
                if not self._buffered:
                    self._flusher = None
                    return

    def flush(self) -> int:
        """Write what is buffered: each kind's lengths in one row (more when they do not fit one). Returns how many
        rows were written; what storage refused is given up (a length is not worth a retry loop)."""
        with self._flushing:
            with self._buffer_lock:
                taken, self._buffered = self._buffered, {}
            written = 0
            for kind, lengths in taken.items():
                for text in packed(lengths.items()):
                    if self._insert({"PartitionKey": PARTITION, "RowKey": batch_key(kind, self._clock()),
                                     "lengths": text}, kind):  # fmt: skip
                        written += 1
            return written

    def add(self, kind: str, operation: str, seen: Seen) -> bool:
        """``operation``'s length in a row of its own, now (seeding a history: a practice stack, a test), unless it
        has one already; False when storage refused it."""
        entity = {"PartitionKey": PARTITION, "RowKey": row_key(kind, operation), "seconds": float(seen.seconds),
                  "at": float(seen.at), "source": seen.source[:SOURCE_CHARS], "operation": operation}  # fmt: skip
        return self._insert(entity, kind)

    def _insert(self, entity: dict[str, Any], kind: str) -> bool:
        for attempt in range(2):
            try:
                self.operations += 1
                self._table.create_entity(entity)
                return True
            except ResourceExistsError:  # an operation's own row, taken: its first length stands
                return True
            except ResourceNotFoundError:
                if attempt == 0:
                    self._create_table()  # a fresh account: lengths can come before any state row
            except AzureError as exc:
                log.info("lengths of %s not kept (%s)", kind, type(exc).__name__)
                return False
        return False

    def _create_table(self) -> None:
        self.operations += 1
        create_table(self._table, log, "lengths")  # refused: the write fails once more, never the step

    def all(self) -> dict[str, Stored]:
        """Every kind's lengths."""
        self.operations += 1
        found: dict[str, list[tuple[str, list[tuple[str, Seen]]]]] = {}
        try:
            rows = self._table.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}, select=COLUMNS)
            for row in rows:
                key = str(row["RowKey"])
                kind, dot, _ = key.rpartition(".")
                if dot:
                    found.setdefault(kind, []).append((key, _lengths_of(row)))
        except ResourceNotFoundError:
            return {}
        return {kind: stored_of(rows) for kind, rows in found.items()}

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
    _rows: dict[str, Stored] = field(default_factory=dict)
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

    def _refresh(self, known: Mapping[str, Stored]) -> None:
        try:
            fresh = self.store.all()
        except AzureError as exc:  # keep what was learned; the next refresh tries again
            log.info("learned schedules not read (%s)", type(exc).__name__)
            return
        computed: dict[str, CheckingSchedule | None] = {}
        for kind, stored in fresh.items():
            kept, older = bounded(stored.lengths, KEPT)
            if len(older) >= PRUNE_AFTER:
                self.store.remove(spent_rows(stored, kept))
            if self.wanted(kind) and (known.get(kind) != stored or kind not in self._schedules):
                computed[kind] = self._learn(kind, [stored.lengths[key] for key in kept])
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
        """A finished tracking's length, buffered for the next flush (no table operation on the step's path). One
        operation is one length: a tracking of an operation this process recorded already is not buffered again
        (and the read keeps an operation's earliest length when other processes recorded it too)."""
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
        self.store.buffer(kind, operation, seen)
