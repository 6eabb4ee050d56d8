"""The shared throttling budgets, kept in the deployment's state table (the I/O side of :mod:`graphops.pacing.budget`).

Rows per tenant and service in the partition ``~budget``: the leases that may still count in a window (JSON) and
a pause. A budget larger than :data:`~graphops.pacing.budget.SHARD_BUDGET` is split over several rows
(``tenant|service``, ``tenant|service||1``, ...), each holding its share in every window; a worker takes its
leases from one of them (its own, or one other when that has no room), so workers meet on several rows, not one.

A worker takes a lease in one ETag-conditional write (a read first, unless the row was far from its limit and held
no other worker's running lease when this worker last wrote it, and so is likely unchanged), spends it with no table
operation, and hands back what it did not use in the write of its next lease on that row (or on
:meth:`Budgets.close`). Cost: a read and a write per lease; none for the polls a lease covers; a read when it must
wait; a read and a write per row on a 429.
"""

from __future__ import annotations

import collections
import json
import logging
import math
import random
import threading
import time
import uuid
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.pacing.budget import (
    MARGIN,
    Lease,
    Ledger,
    Limit,
    alone,
    arrival,
    far_from_limit,
    far_life,
    grant,
    lease_life,
    least_lease,
    pause_after,
    paused,
    settled,
    shard_budget,
    shards,
    stored_leases,
    stored_number,
)
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.budgets")
PARTITION = "~budget"
ATTEMPTS = 8
#: How long a poll waits when every attempt at its row's write met another worker's: the queue's shortest delay
#: (the attempts' own random pauses have already spread the workers that met).
CONTENDED_WAIT = 1.0
#: How many polls of a budget a worker asks for before its leases follow their pace rather than their count.
PACE_AFTER = 5


@dataclass
class Stats:
    """What a worker's budgets did, for the benchmarks and the tests: leases taken, conditional writes made and
    lost to another worker's, polls let through uncounted (storage out of reach), waits and why."""

    leases: int = 0
    writes: int = 0
    lost: int = 0
    uncounted: int = 0
    waits: int = 0
    contended: int = 0  # waits because the row kept changing under every attempt


@dataclass
class Held:
    """A lease this worker holds: what it has used of it, and when it last did."""

    lease: Lease
    used: int
    last: float
    window: float  # its budget's, to read the row by
    until: float  # when the worker stops sending under it (the lease counts a little longer, for arrival)

    @property
    def allowance(self) -> float:
        """How long after its last request the lease counts: what its requests may take to reach Graph."""
        return max(0.0, self.lease.end - self.until)


@dataclass(frozen=True)
class Cached:
    """A row as this worker last wrote it, far from its limit (so probably unchanged since)."""

    ledger: Ledger
    etag: str


class NoTable(Exception):
    """The table is missing and could not be made."""


class Budgets:
    """Asks the shared budget of a tenant's service before a poll, and pauses it after a 429."""

    def __init__(
        self,
        table: TableClient,
        limits: Mapping[str, Limit],
        *,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.time,
        holder: str | None = None,
    ) -> None:
        self._table = table
        self._limits = limits
        self._margin = margin
        self._clock = clock
        self.holder = holder or uuid.uuid4().hex[:12]  # names this worker's leases in the rows
        self.operations = 0
        self.stats = Stats()
        self._held: dict[str, Held] = {}
        self._cache: dict[str, Cached] = {}
        self._asked: dict[str, collections.deque[float]] = {}
        self._leases = 0
        self._prefer: dict[str, str] = {}  # per budget, the row to lease from next
        self._lost_at: dict[str, float] = {}  # per row, when this worker's last write to it lost
        self._shards: dict[str, list[str]] = {}  # per budget, its rows
        # The host may run steps on several threads: one lease taken at a time, and each poll counted once.
        self._lock = threading.Lock()

    def limit(self, service: str | None) -> Limit | None:
        return self._limits.get(service) if service else None

    def rows(self, tenant: str, service: str, scope: str = "") -> list[str]:
        """The row keys a budget is kept in: its key first, then its other shards (``||1``, ``||2``: no scope holds
        a ``|``, so a shard's key is never a scoped budget's)."""
        limit = self._limits[service]
        key = budget_key(tenant, service, scope)
        rows = [key + (f"||{n}" if n else "") for n in range(shards(limit, self._margin))]
        self._shards[key] = rows
        return rows

    def wait_before_polling(self, tenant: str, service: str | None, scope: str = "") -> float:
        """0 when a step may poll now (its request is counted), else the seconds until the budget has room.
        ``scope`` keeps a budget per resource within the tenant (a chat). Storage out of reach: poll (a budget is
        a courtesy to Graph, never a reason to stop tracking)."""
        limit = self.limit(service)
        if limit is None or service is None:
            return 0.0
        with self._lock:
            rows = self.rows(tenant, service, scope)
            now = self._clock()
            want = self._asking(rows[0], now, far_life(limit))
            if any(self._spend(key, now) for key in rows):
                return 0.0
            try:
                wait = self._lease(rows, limit, want)
            except (NoTable, _Contended) as why:
                return self._unleased(rows[0], why)
            except AzureError as exc:
                self.stats.uncounted += 1
                log.info("budget %s not read (%s): polling uncounted", rows[0], type(exc).__name__)
                return 0.0
            if wait is None:
                return 0.0
            self.stats.waits += 1
            log.info("budget %s has no room: the poll waits %.1f s", rows[0], wait)
            return wait + spread(limit)

    def _lease(self, rows: list[str], limit: Limit, want: int) -> float | None:
        """Leases from one of a budget's rows (None: leased, and one spent) or says how long to wait. The row it
        last had room on first (at first its own, by its name's hash); when that has no room, one other; after a
        write lost to another worker's, the row that has gone longest without a loss (read afresh): the workers
        that met on a row part rather than meet there again at once."""
        home = rows[zlib.crc32(self.holder.encode()) % len(rows)]
        key = self._prefer.get(rows[0], home)
        waits: list[float] = []
        tried: set[str] = set()
        for attempt in range(ATTEMPTS):
            if attempt and not waits:  # two workers that met once would meet again at once: spread them apart
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
            tried.add(key)
            outcome = self._take(key, limit, want)
            if outcome is None:
                return None
            if isinstance(outcome, _Lost):
                self._lost_at[key] = self._clock()
                key = min(rows, key=lambda row: (row == key, self._lost_at.get(row, 0.0), random.random()))
                continue
            waits.append(outcome)
            untried = [row for row in rows if row not in tried]
            if len(waits) >= 2 or not untried:
                return min(waits)
            key = random.choice(untried)  # one other row (a lone busy worker reaches them all)
        if waits:
            return min(waits)
        raise _Contended()

    def _unleased(self, key: str, why: Exception) -> float:
        if isinstance(why, NoTable):
            self.stats.uncounted += 1
            return 0.0  # no table and none can be made: polling without a budget
        # Prefer waiting a moment to polling uncounted: the row is busy, not gone.
        self.stats.contended += 1
        self.stats.waits += 1
        log.info("budget %s kept changing under %d attempts: the poll waits a moment", key, ATTEMPTS)
        return CONTENDED_WAIT

    def _asking(self, name: str, now: float, horizon: float) -> int:
        """What the worker's next lease should cover: twice the polls of this budget it asked for over the last
        ``horizon`` seconds (a far lease's life); once it has asked a few, at least their pace over the whole
        horizon (their span taken as a tenth of it at least), so a worker that has just begun polling fast leases
        for its pace at once rather than doubling its way up to it."""
        asked = self._asked.setdefault(name, collections.deque())
        asked.append(now)
        while asked and asked[0] <= now - horizon:
            asked.popleft()
        if len(asked) < PACE_AFTER:
            return 2 * len(asked)
        return max(2 * len(asked), math.ceil(len(asked) * horizon / max(now - asked[0], horizon / 10)))

    def _spend(self, key: str, now: float) -> bool:
        held = self._held.get(key)
        if held is None or held.used >= held.lease.count or not held.lease.start <= now < held.until:
            return False
        held.used += 1
        held.last = now
        return True

    def _take(self, key: str, limit: Limit, want: int) -> float | _Lost | None:
        """One attempt at a lease from the row ``key``: None when leased (and one spent), :data:`_LOST` when the
        write met another worker's, else how long to wait."""
        budget, allowance = shard_budget(limit, self._margin), arrival(limit)
        for _ in range(2):
            cached = self._cache.pop(key, None)
            ledger, etag = (cached.ledger, cached.etag) if cached is not None else self._read(key, limit.window)
            # Far from its limit when last written (and so read unchanged), a lease lasts up to the window; near it,
            # half as long. A little less than the full life, at random, so workers that began together do not
            # all come back to the row at the same moment each time their leases end.
            # (A small budget's leases of one keep the short life: one request held longer only holds others back.)
            now = self._clock()
            far = far_from_limit(ledger, budget, limit.window, now, far_life(limit) + allowance)
            life = (far_life(limit) if far else lease_life(limit)) * random.uniform(0.8, 1.0)
            held = self._held.get(key)
            if held is not None:  # hand back what the last lease on this row did not use, in the same write
                ledger = settled(ledger, held.lease.holder, held.used, held.last, held.allowance)
            self._leases += 1
            offer = grant(ledger, budget, limit.window, now, life, want, f"{self.holder}.{self._leases}",
                          arrival=allowance, least=least_lease(budget, want))  # fmt: skip
            if offer.lease is None or offer.ledger is None:
                if cached is not None:
                    continue  # the row as this worker last wrote it has no room: read what it says now
                return offer.wait
            try:
                written = self._write(key, offer.ledger, etag)
            except (ResourceExistsError, ResourceModifiedError):
                self.stats.lost += 1
                return _LOST  # another worker wrote the row meanwhile
            except ResourceNotFoundError:
                if not self._create_table():
                    raise NoTable() from None
                continue  # a fresh account: the budget is the table's first row
            self.stats.leases += 1
            self._held[key] = Held(offer.lease, 1, now, limit.window, now + life)
            far = offer.free - offer.lease.count >= offer.lease.count  # room for as much again
            name = key.split("||", maxsplit=1)[0]
            if written is not None and far and alone(offer.ledger, self.holder, now):
                # Far from its limit, and no other worker's lease running on it: nobody else is likely to write the
                # row before this worker's next lease, which is then written on this version unread. (A row others
                # lease from is read first: a write on the version this worker left would only lose.)
                self._cache[key] = Cached(offer.ledger, written)
            self._prefer[name] = key
            if 2 * offer.lease.count < want:
                # The row could not give half of what the worker asks for: its next lease from the budget's next
                # row, so a busy worker spreads over the rows rather than wait on its own one's windows.
                rows = self._shards.get(name) or [key]
                self._prefer[name] = rows[(rows.index(key) + 1) % len(rows)] if key in rows else key
            log.info("budget %s: leased %d for %.1f s (%d free in its windows%s)", key, offer.lease.count, life,
                     offer.free, ", far from its limit" if far else "")  # fmt: skip
            return None
        return _LOST

    def pause(self, tenant: str, service: str | None, retry_after: float | None, scope: str = "") -> float | None:
        """After a 429 from ``service``: no worker polls it before Retry-After (or the service's usual wait). This
        worker's own leases of it end at once (what they did not use handed back in the same write)."""
        limit = self.limit(service)
        if limit is None or service is None:
            return None
        with self._lock:
            until = self._clock() + pause_after(limit, retry_after)
            kept = [self._pause_row(key, until, limit.window) for key in self.rows(tenant, service, scope)]
            return until if all(kept) else None

    def _pause_row(self, key: str, until: float, window: float) -> bool:
        self._cache.pop(key, None)
        mine = self._held.pop(key, None)
        for _ in range(ATTEMPTS):
            try:
                ledger, etag = self._read(key, window)
                if mine is not None:
                    ledger = settled(ledger, mine.lease.holder, mine.used, mine.last, mine.allowance)
                self._write(key, paused(ledger, until), etag)
                return True
            except (ResourceExistsError, ResourceModifiedError):
                self.stats.lost += 1
                continue
            except ResourceNotFoundError:
                if not self._create_table():
                    return False
            except AzureError as exc:
                log.info("budget %s not paused (%s)", key, type(exc).__name__)
                return False
        return False

    def close(self) -> None:
        """Hands back what this worker's leases did not use (best effort: a lease not handed back just ends)."""
        with self._lock:
            for key, held in list(self._held.items()):
                if held.used >= held.lease.count:
                    continue
                # On the row as this worker last wrote it, when it was far from its limit (likely unchanged): a
                # write alone; read first only when that write loses, or with no such version.
                cached = self._cache.pop(key, None)
                for _ in range(2):
                    try:
                        ledger, etag = (cached.ledger, cached.etag) if cached else self._read(key, held.window)
                        handed = settled(ledger, held.lease.holder, held.used, held.last, held.allowance)
                        self._write(key, handed, etag)
                        break
                    except (ResourceExistsError, ResourceModifiedError):
                        self.stats.lost += 1
                        if cached is None:
                            break
                        cached = None
                    except AzureError as exc:
                        log.info("budget %s: lease not handed back (%s); it ends on its own", key, type(exc).__name__)
                        break
            self._held.clear()
            self._cache.clear()

    def _create_table(self) -> bool:
        self.operations += 1
        return create_table(self._table, log, "budgets")

    def _read(self, key: str, window: float) -> tuple[Ledger, str | None]:
        self.operations += 1
        try:
            row = self._table.get_entity(PARTITION, key)
        except ResourceNotFoundError:
            return Ledger(), None
        ledger = Ledger(stored_leases(row.get("leases"), window), stored_number(row.get("pausedUntil")))
        return ledger, row.metadata.get("etag")

    def _write(self, key: str, ledger: Ledger, etag: str | None) -> str | None:
        """Writes the row on the condition that nobody wrote it since ``etag`` (None: that nobody made it); its
        new ETag."""
        self.operations += 1
        self.stats.writes += 1
        entity: dict[str, Any] = {"PartitionKey": PARTITION, "RowKey": key, "leases": _json(ledger.leases),
                                  "pausedUntil": ledger.paused_until}  # fmt: skip
        if etag is None:
            written = self._table.create_entity(entity)
        else:
            written = self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                                match_condition=MatchConditions.IfNotModified)  # fmt: skip
        found = written.get("etag") if isinstance(written, Mapping) else None
        return found if isinstance(found, str) else None


class _Contended(Exception):
    """Every attempt at the row's conditional write met another worker's."""


class _Lost:
    """What an attempt at a lease returns when its write met another worker's."""


_LOST = _Lost()


def budget_key(tenant: str, service: str, scope: str = "") -> str:
    """A budget's row key: the tenant and service, and the resource it is kept per when it has a scope. A scope is
    an id from an operation URL, so the characters Table storage refuses in a key are replaced."""
    if not scope:
        return f"{tenant}|{service}"
    return f"{tenant}|{service}|" + "".join("_" if c in KEY_UNSAFE or ord(c) < 32 else c for c in scope)[:512]


#: Characters a Table storage key may not hold, and the ``|`` that separates a key's parts (so a scope never
#: reads as a shard).
KEY_UNSAFE = frozenset("/\\#?|")


def spread(limit: Limit) -> float:
    """A little more wait, so the steps that found a long window spent do not all come back at its first second;
    none for windows of a few seconds, which a queue's whole-second delays already spread."""
    return random.uniform(0, min(5.0, limit.window / 10)) if limit.window >= 10 else 0.0


def _json(leases: tuple[Lease, ...]) -> str:
    """The leases as the row keeps them: to the millisecond, a start rounded down and an end up, so a lease read
    back covers at least what it did."""
    return json.dumps([[math.floor(lease.start * 1000) / 1000, math.ceil(lease.end * 1000) / 1000, lease.count,
                        lease.holder] for lease in leases], separators=(",", ":"))  # fmt: skip
