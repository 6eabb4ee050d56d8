"""Each kind's lengths, kept in the state table, and the learned schedules they make (the I/O side of
:mod:`graphops.pacing.learned`).

One row per kind in the partition ``~lengths``: the histogram as JSON, written with its ETag when a tracking of
the kind ends (two table operations per finished tracking). A deployment's identity reads one tenant, so a
kind's lengths are that tenant's. Each process reads the partition again every ``refresh`` seconds (one query)
and recomputes a kind's schedule only when its histogram changed.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.pacing.learned import CheckingSchedule, Lengths, learned_schedule
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.lengths")
PARTITION = "~lengths"
ATTEMPTS = 6
REFRESH_SECONDS = 600.0


class LengthStore:
    """Reads and adds to the kinds' histograms. ``operations`` counts table operations."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.operations = 0

    def add(self, kind: str, seconds: float) -> bool:
        """One more length for ``kind``; False when storage kept refusing (a length is not worth a step)."""
        for attempt in range(ATTEMPTS):
            if attempt:  # writers that met once would meet again at once: spread them apart
                time.sleep(random.uniform(0, 0.02 * 2**attempt))
            try:
                self.operations += 1
                row = self._table.get_entity(PARTITION, kind)
            except ResourceNotFoundError:
                row = None
            except AzureError as exc:
                log.info("lengths of %s not read (%s): trying again", kind, type(exc).__name__)
                continue
            lengths = Lengths.from_json(row.get("counts") if row else None).add(seconds)
            entity = {"PartitionKey": PARTITION, "RowKey": kind, "counts": lengths.to_json()}
            try:
                self.operations += 1
                if row is None:
                    self._table.create_entity(entity)
                else:
                    etag = row.metadata.get("etag")
                    self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                              match_condition=MatchConditions.IfNotModified)  # fmt: skip
                return True
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another step added its length meanwhile: read again
            except ResourceNotFoundError:
                self._create_table()  # a fresh account: lengths can come before any state row
            except AzureError as exc:
                log.info("lengths of %s not written (%s): trying again", kind, type(exc).__name__)
        log.warning("a length of %s was not kept after %d attempts", kind, ATTEMPTS)
        return False

    def _create_table(self) -> None:
        self.operations += 1
        create_table(self._table, log, "lengths")  # refused: one more failed attempt, never the step's failure

    def all(self) -> dict[str, Lengths]:
        self.operations += 1
        try:
            rows = self._table.query_entities("PartitionKey eq @p", parameters={"p": PARTITION})
            return {str(row["RowKey"]): Lengths.from_json(row.get("counts")) for row in rows}
        except ResourceNotFoundError:
            return {}


@dataclass
class Learning:
    """This process's view of the learned schedules: read again every ``refresh`` seconds, never on a step's
    critical path for longer than one query."""

    store: LengthStore
    min_delays: Callable[[str], int]  # the kind's shortest delay, as the deployment's policy says
    wanted: Callable[[str], bool] = lambda kind: True  # kinds the deployment lets learn (not fixed by settings)
    refresh: float = REFRESH_SECONDS
    clock: Callable[[], float] = time.monotonic
    _read_at: float | None = None
    _lengths: dict[str, Lengths] = field(default_factory=dict)
    _schedules: dict[str, CheckingSchedule | None] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def schedules(self) -> Mapping[str, CheckingSchedule]:
        """The schedules learned so far. One step in ``refresh`` seconds reads the histograms and computes what
        changed, outside the lock: the other steps go on with the schedules they have meanwhile."""
        with self._lock:
            now = self.clock()
            due = self._read_at is None or now - self._read_at >= self.refresh
            if due:
                self._read_at = now
            known = dict(self._lengths)
        if due:
            self._refresh(known)
        with self._lock:
            return {kind: schedule for kind, schedule in self._schedules.items() if schedule is not None}

    def _refresh(self, known: Mapping[str, Lengths]) -> None:
        try:
            fresh = self.store.all()
        except AzureError as exc:  # keep what was learned; the next refresh tries again
            log.info("learned schedules not read (%s)", type(exc).__name__)
            return
        computed: dict[str, CheckingSchedule | None] = {}
        for kind, lengths in fresh.items():
            if self.wanted(kind) and (known.get(kind) != lengths or kind not in self._schedules):
                try:
                    computed[kind] = learned_schedule(lengths, self.min_delays(kind))
                except (ArithmeticError, ValueError) as exc:  # a histogram no one should have written
                    log.warning("no learned schedule for %s: %s", kind, type(exc).__name__)
                    computed[kind] = None
        with self._lock:
            self._schedules.update(computed)
            self._lengths = dict(fresh)

    def record(self, kind: str, seconds: float) -> None:
        self.store.add(kind, seconds)
