"""The shared throttling budgets, kept in the deployment's state table (the I/O side of :mod:`graphops.pacing.budget`).

A budget is a partition (``~budget|<tenant>|<service>[|<scope>]``) with a row per worker (a process's budget store,
its row key the worker's name): the worker's leases, the requests a window it would use, its wait note while it
waits for room, and a pause after a 429. A worker writes only its own row, unconditionally (an upsert): no write
ever loses to another's. To lease (or extend a lease, or grow it) it reads the partition, decides from what the
rows say (its fair share, the room the others' leases leave, the queue of waiters ahead of it), writes its row
with the claim, then reads the partition again: the claim stands when every window it overlaps holds within the
budget counting every lease read (:func:`~graphops.pacing.budget.stands`); otherwise it is withdrawn at once (its
row rewritten without it) and the worker waits. It then spends the lease with no table operation, sending while its
own log of sends allows (:func:`~graphops.pacing.budget.send_wait`), and hands back what it did not use when it
stops (:meth:`Budgets.close`, a 429).

Cost: a read, a write and a read per lease (the first one: a write of the row announcing the worker, then a read, a
write and a read); none for the polls a lease covers; a read, and a write of the wait note when it moves, per wait
for room; a write per 429; a write per budget on close. A read is one query of the partition, whatever its rows.
Rows of gone workers are deleted by readers (on the row's ETag: a lost delete is harmless). Rows of the partition
``~budget`` written before budgets were kept per worker are read by nobody (``graphops budgets reset`` deletes
them).
"""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.pacing.budget import (
    LEASE_LIFE,
    MARGIN,
    NOTE_GRACE,
    SMALL_BUDGET,
    Lease,
    Limit,
    Row,
    arrival,
    counting,
    decide,
    far_life,
    first_lease,
    garbage,
    handed_back,
    lease_life,
    pause_after,
    paused_until,
    send_wait,
    shrunk,
    stands,
    stored_json,
    stored_row,
    wanted,
)
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.budgets")
#: The budgets' partitions: ``PARTITION|<budget key>``, a partition per budget.
PARTITION = "~budget"
#: How long a poll waits after its claim was refused (another worker claimed the same room at the same moment):
#: the queue's shortest delay; the worker's wait note, written with the withdrawal, keeps its place meanwhile.
REFUSED_WAIT = 1.0


@dataclass
class Stats:
    """What a worker's budgets did, for the benchmarks and the tests: claims written, standing (leases) and refused,
    row writes and partition reads, rows of gone workers deleted, polls let through uncounted (storage out of
    reach), waits."""

    claims: int = 0
    leases: int = 0
    refused: int = 0
    writes: int = 0
    reads: int = 0
    deletes: int = 0
    uncounted: int = 0
    waits: int = 0


@dataclass
class Mine:
    """This worker's side of one budget: its row as it last wrote it, the lease it sends under, its sends."""

    limit: Limit
    budget: int
    leases: tuple[Lease, ...] = ()
    current: Lease | None = None
    last_sent: float | None = None  # its last send under ``current``
    far: bool = False
    written: bool = False
    want: int = 0
    waiting_since: float = 0.0
    note_until: float = 0.0
    paused_until: float = 0.0
    asked_at: float = 0.0  # when it last read the budget to lease
    sent: collections.deque[float] = field(default_factory=collections.deque)
    asked: collections.deque[float] = field(default_factory=collections.deque)

    def sending_until(self) -> float:
        """When it stops sending under its lease (the lease counts the arrival allowance longer)."""
        return self.current.end - arrival(self.limit) if self.current is not None else 0.0


class NoTable(Exception):
    """The table is missing and could not be made."""


class _Refused(Exception):
    """A claim did not stand (another worker claimed the same room at the same moment) and was withdrawn."""


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
        self.holder = holder or uuid.uuid4().hex[:12]  # this worker's row key in every budget
        self.operations = 0
        self.stats = Stats()
        self._mine: dict[str, Mine] = {}  # per budget partition
        # The host may run steps on several threads: one claim at a time, and each poll counted once.
        self._lock = threading.Lock()

    def limit(self, service: str | None) -> Limit | None:
        return self._limits.get(service) if service else None

    def wait_before_polling(self, tenant: str, service: str | None, scope: str = "") -> float:
        """0 when a step may poll now (its request is counted), else the seconds until the budget has room.
        ``scope`` keeps a budget per resource within the tenant (a chat). Storage out of reach: poll (a budget is
        a courtesy to Graph, never a reason to stop tracking)."""
        limit = self.limit(service)
        if limit is None or service is None:
            return 0.0
        with self._lock:
            partition = budget_partition(tenant, service, scope)
            mine = self._mine.setdefault(partition, Mine(limit, limit.budget(self._margin)))
            now = self._clock()
            window = limit.window + arrival(limit)
            mine.asked.append(now)
            while mine.asked and mine.asked[0] <= now - window:
                mine.asked.popleft()
            while mine.sent and mine.sent[0] <= now - window:
                mine.sent.popleft()
            mine.want = wanted(mine.budget, len(mine.asked), len(mine.sent))
            if now < mine.paused_until:
                self.stats.waits += 1
                return mine.paused_until - now + spread(limit)
            if mine.current is not None and mine.current.start <= now < mine.sending_until():
                if mine.far:
                    self._fit(partition, mine, now)
                wait = send_wait(mine.sent, mine.current.count, limit.window, arrival(limit), now)
                if wait == 0.0:
                    return self._send(mine, now)
                # Far from the limit it grows at once; of a small budget it takes a request more at a time; near the
                # limit, wanting more than its lease, it asks once a window (a lease's life at most) whether its share
                # has grown. Otherwise its own log says when it may send again, or its lease ends: no table operation.
                growing = mine.want > mine.current.count and now >= mine.asked_at + min(limit.window, LEASE_LIFE)
                if not mine.far and mine.budget > SMALL_BUDGET and not growing:
                    self.stats.waits += 1
                    return min(wait, mine.sending_until() - now)  # at its lease's end, a new one: what it asks now
            own = send_wait(mine.sent, mine.want, limit.window, arrival(limit), now)
            if own > 0:  # its own sends fill what it would lease: no lease lets it send before then
                self.stats.waits += 1
                return own
            try:
                wait = self._claim(partition, mine, now)
            except _Refused:
                self.stats.waits += 1
                return REFUSED_WAIT  # its place in the queue kept: back as soon as the queue delivers it
            except NoTable:
                return self._uncounted(mine, now)  # no table and none can be made: polling without a budget
            except AzureError as exc:
                log.info("budget %s not read (%s): polling uncounted", partition, type(exc).__name__)
                return self._uncounted(mine, now)
            if wait == 0.0:
                return 0.0
            self.stats.waits += 1
            log.info("budget %s has no room: the poll waits %.1f s", partition, wait)
            return wait + spread(limit)

    def _fit(self, partition: str, mine: Mine, now: float) -> None:
        """A far lease that has run a window and its arrival allowance knows the worker's pace: when it is more than
        twice what the worker asks for, it shrinks to that (a write alone, as any shrink), so that a worker that
        took a large first lease far from the limit holds no room it does not use for the rest of its long life."""
        current, allowance = mine.current, arrival(mine.limit)
        if current is None or now < current.start + mine.limit.window + allowance:
            return
        fits = shrunk(current.count, len(mine.asked))
        if fits < current.count:
            self._stop_sending(mine)
            mine.current, mine.last_sent = Lease(now, current.end, fits, self.holder), None
            try:
                self._write(partition, mine)
            except (AzureError, NoTable) as exc:  # its row keeps the larger lease: others count more, never less
                log.info("budget %s: far lease not shrunk in its row (%s)", partition, type(exc).__name__)
                return
            log.info("budget %s: far lease shrunk to %d a window, the worker's pace", partition, fits)

    def _uncounted(self, mine: Mine, now: float) -> float:
        """A poll let through without a lease (storage out of reach): no lease counts it, but the worker's own log
        does, so that the leases it takes once storage answers bound what it sends in every window with it."""
        self.stats.uncounted += 1
        mine.sent.append(now)
        return 0.0

    def _send(self, mine: Mine, now: float) -> float:
        mine.sent.append(now)
        mine.last_sent = now
        return 0.0

    def _claim(self, partition: str, mine: Mine, now: float) -> float:
        """Leases from the budget (0: leased, and one request spent) or says how long to wait."""
        limit, allowance = mine.limit, arrival(mine.limit)
        live = mine.current if mine.current is not None and mine.current.start <= now < mine.sending_until() else None
        running = mine.current.count if mine.current is not None and mine.current.end > now else 0
        mine.asked_at = now
        if not mine.written:  # a worker's first word in a budget says it wants some, before it claims any
            mine.waiting_since = mine.waiting_since or now
            mine.note_until = now + NOTE_GRACE
            self._write(partition, mine)
        rows = self._read(partition, limit.window)
        now = self._clock()
        mine.paused_until = max(mine.paused_until, paused_until(rows, now))
        if now < mine.paused_until:
            return mine.paused_until - now
        since = mine.waiting_since if mine.waiting_since else (now if not running else float("inf"))
        # The room a lease leaves is the same for any life: every lease read began by now, and a window's count only
        # falls once it has passed them. So one decision serves a lease of either life.
        span = lease_life(limit) + allowance
        decision = decide(rows, self.holder, mine.want, since, running, mine.budget, limit.window, now, span,
                          first_lease(mine.budget))  # fmt: skip
        if live is not None and decision.count <= live.count:  # asked to grow, and its share has not
            return min(send_wait(mine.sent, live.count, limit.window, allowance, now), mine.sending_until() - now)
        self._stop_sending(mine)
        if decision.count == 0:
            return self._wait(partition, mine, now, since, decision.wait)
        own = send_wait(mine.sent, decision.count, limit.window, allowance, now)
        if own > 0:  # no more than its own recent sends already hold: a lease would not let it send before then
            return own
        # Far from its limit a lease lives long; near it, a little less than its life at random, so workers that
        # began together do not all come back to the budget at the same moment each time.
        life = far_life(limit) if decision.far else lease_life(limit) * random.uniform(0.8, 1.0)
        claim = Lease(now, now + life + allowance, decision.count, self.holder)
        mine.leases = (*mine.leases, claim)
        before = (mine.waiting_since, mine.note_until)
        mine.waiting_since = mine.note_until = 0.0
        self.stats.claims += 1
        self._write(partition, mine)
        if not stands(self._read(partition, limit.window), claim, mine.budget, limit.window):
            self.stats.refused += 1
            mine.leases = tuple(lease for lease in mine.leases if lease != claim)
            mine.waiting_since = before[0] or (since if since != float("inf") else now)
            mine.note_until = now + REFUSED_WAIT + NOTE_GRACE
            try:
                self._write(partition, mine)
            except (AzureError, NoTable) as exc:  # the claim stays in its row until the next write: it counts more
                log.info("budget %s: a refused claim not withdrawn (%s); the poll waits all the same", partition,
                         type(exc).__name__)  # fmt: skip
                raise _Refused() from exc
            log.info("budget %s: a claim of %d a window refused (another claimed the room too); withdrawn",
                     partition, claim.count)  # fmt: skip
            raise _Refused()
        self.stats.leases += 1
        mine.current, mine.last_sent, mine.far = claim, None, decision.far
        log.info("budget %s: leased %d a window for %.1f s%s", partition, claim.count, claim.end - claim.start,
                 ", far from its limit" if decision.far else "")  # fmt: skip
        now = self._clock()
        wait = send_wait(mine.sent, claim.count, limit.window, allowance, now)  # its sends before count too
        return self._send(mine, now) if wait == 0.0 else wait

    def _stop_sending(self, mine: Mine) -> None:
        """Ends the lease it sent under (in its row at the next write): it counts until its last request arrived."""
        if mine.current is not None:
            last = min(mine.last_sent, mine.sending_until()) if mine.last_sent is not None else None
            mine.leases = handed_back(mine.leases, mine.current, last, arrival(mine.limit))
            mine.current, mine.last_sent = None, None

    def _wait(self, partition: str, mine: Mine, now: float, since: float, wait: float) -> float:
        """Waits for room, in the queue: its note says since when, and until when it holds its place (written when
        it would lapse before the worker is back)."""
        if since == float("inf"):
            since = now  # it held a lease and now waits like any other
        if not mine.waiting_since or mine.note_until < now + wait + spread(mine.limit):
            noted = mine.note_until
            mine.waiting_since = mine.waiting_since or since
            mine.note_until = now + wait + 2 * NOTE_GRACE
            try:
                self._write(partition, mine)
            except (AzureError, NoTable) as exc:  # the budget was read and has no room: the poll waits all the same
                mine.note_until = noted  # written again at its next wait
                log.info("budget %s: wait note not written (%s)", partition, type(exc).__name__)
        return wait

    def pause(self, tenant: str, service: str | None, retry_after: float | None, scope: str = "") -> float | None:
        """After a 429 from ``service``: no worker polls it before Retry-After (or the service's usual wait), this
        one at once, the others once they read the budget next, at their next lease (within a lease's life near the
        limit; a worker holding a far lease reads nothing until it ends, 30 s at most). This worker's lease of it
        ends (what it did not use handed back in the same write)."""
        limit = self.limit(service)
        if limit is None or service is None:
            return None
        with self._lock:
            partition = budget_partition(tenant, service, scope)
            mine = self._mine.setdefault(partition, Mine(limit, limit.budget(self._margin)))
            until = self._clock() + pause_after(limit, retry_after)
            mine.paused_until = max(mine.paused_until, until)
            self._stop_sending(mine)
            try:
                self._write(partition, mine)
            except (AzureError, NoTable) as exc:
                log.info("budget %s not paused (%s)", partition, type(exc).__name__)
                return None
            return until

    def close(self) -> None:
        """Hands back what this worker's leases did not use, and leaves the queues (best effort: a lease not handed
        back just ends, a note lapses)."""
        with self._lock:
            for partition, mine in self._mine.items():
                if not mine.written:
                    continue
                self._stop_sending(mine)
                mine.want, mine.waiting_since, mine.note_until = 0, 0.0, 0.0
                try:
                    self._write(partition, mine)
                except (AzureError, NoTable) as exc:
                    log.info("budget %s: not handed back (%s); it ends on its own", partition, type(exc).__name__)

    def _create_table(self) -> bool:
        self.operations += 1
        return create_table(self._table, log, "budgets")

    def _read(self, partition: str, window: float) -> list[Row]:
        """Every worker's row of the budget, in one query; a row of a gone worker is deleted on the way (one at
        most a read, on its ETag: a worker that wrote it meanwhile keeps it)."""
        self.operations += 1
        self.stats.reads += 1
        try:
            entities = list(self._table.query_entities("PartitionKey eq @p", parameters={"p": partition}))
        except ResourceNotFoundError:
            return []
        rows = [stored_row(str(entity["RowKey"]), entity, window) for entity in entities]
        now = self._clock()
        gone = [entity for entity, row in zip(entities, rows, strict=True)
                if row.holder != self.holder and garbage(row, window, now)]  # fmt: skip
        if gone:
            self._delete(random.choice(gone))
        return [row for row in rows if not garbage(row, window, now)]

    def _delete(self, entity: Any) -> None:
        self.operations += 1
        self.stats.deletes += 1
        try:
            self._table.delete_entity(entity, etag=entity.metadata.get("etag"),
                                      match_condition=MatchConditions.IfNotModified)  # fmt: skip
        except (ResourceModifiedError, ResourceNotFoundError):
            pass  # written again by its worker, or deleted by another reader
        except AzureError as exc:
            log.info("a gone worker's budget row not deleted (%s)", type(exc).__name__)

    def _write(self, partition: str, mine: Mine) -> None:
        """Writes this worker's row of the budget as it stands (an upsert: nobody else writes it)."""
        now = self._clock()
        mine.leases = counting(mine.leases, now, mine.limit.window)
        if mine.current is not None and mine.current not in mine.leases:
            mine.leases = (*mine.leases, mine.current)
        entity: dict[str, Any] = {"PartitionKey": partition, "RowKey": self.holder, "leases": stored_json(mine.leases),
                                  "want": mine.want, "waitingSince": mine.waiting_since,
                                  "noteUntil": mine.note_until, "pausedUntil": mine.paused_until}  # fmt: skip
        for _ in range(2):
            self.operations += 1
            self.stats.writes += 1
            try:
                self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
                mine.written = True
                return
            except ResourceNotFoundError:
                if not self._create_table():
                    raise NoTable() from None
        raise NoTable()


def budget_key(tenant: str, service: str, scope: str = "") -> str:
    """A budget's key: the tenant and service, and the resource it is kept per when it has a scope. A scope is an id
    from an operation URL, so the characters Table storage refuses in a key are replaced."""
    if not scope:
        return f"{tenant}|{service}"
    return f"{tenant}|{service}|" + "".join("_" if c in KEY_UNSAFE or ord(c) < 32 else c for c in scope)[:512]


def budget_partition(tenant: str, service: str, scope: str = "") -> str:
    """The partition a budget's rows are kept in: one per budget."""
    return f"{PARTITION}|{budget_key(tenant, service, scope)}"


#: Characters a Table storage key may not hold, and the ``|`` that separates a key's parts.
KEY_UNSAFE = frozenset("/\\#?|")


def spread(limit: Limit) -> float:
    """A little more wait, so the steps that found a long window spent do not all come back at its first second;
    none for windows of a few seconds, which a queue's whole-second delays already spread."""
    return random.uniform(0, min(5.0, limit.window / 10)) if limit.window >= 10 else 0.0
