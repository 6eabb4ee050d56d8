"""The state of trackings subscribed over HTTP, in Azure Table storage.

The queue stays the source of truth for what runs next; the table is what the HTTP API reads and
where a cancel is marked. Each step of a subscribed tracking costs two table operations: one read
(is it cancelled? is this step stale?) and one merge; the step that delivers owns the state's version first
(one conditional merge more), so that a duplicate of it cannot call back too. A table outage slows nothing
down: the step goes on and the state catches up at the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.common.signed import withhold_signed_in
from graphops.common.telemetry import client_span
from graphops.envelope.tracking import Phase, Tracking, iso, moment_or_none
from graphops.pacing.audit_query_store import AuditQueries
from graphops.pacing.budget import Limit
from graphops.pacing.budget_store import Budgets
from graphops.pacing.budget_view import note_pause
from graphops.pacing.length_store import LengthStore
from graphops.storage.connection import StorageConnection
from graphops.storage.state_view import MAX_PROPERTY_CHARS, entity_of, history_json, history_of
from graphops.storage.time_index import INDEXED, NOT_INDEXED, Entry, TrackingIndex, entry_of_state, error_code

log = logging.getLogger("graphops.state")
ROW = "state"
START_ROW = "start"  # beside a tracking's state: what graphops sent to start it, and what Graph answered
DEDUPE_PARTITION = "dedupe"
T = TypeVar("T")


def table_client(
    storage: StorageConnection,
    table: str,
    credential: TokenCredential | None,
    transport: Any = None,
    *,
    options: Mapping[str, Any] | None = None,
) -> TableClient:
    chosen = {**(options or {}), **({"transport": transport} if transport is not None else {})}
    if storage.connection_string:
        return TableClient.from_connection_string(storage.connection_string, table, **chosen)
    if not storage.table_service_uri:
        raise ValueError("AzureWebJobsStorage__tableServiceUri is needed for the state table")
    assert credential is not None
    return TableClient(storage.table_service_uri, table, credential=credential, **chosen)


@dataclass(frozen=True)
class StepGate:
    """What the state says about a step before it runs, and what the step needs of it to record itself."""

    go: bool
    reason: str = ""
    etag: str | None = None  # the version read: the step's merge is conditional on it
    history: tuple[dict[str, Any], ...] | None = None  # None: not read (the state was unavailable)
    names: tuple[str, ...] | None = None  # the step id the state names, () for none; None: not read
    standing: str | None = None  # where the index has the tracking standing; None: not read; NOT_INDEXED: no state


@dataclass(frozen=True)
class Claim:
    """The answer to "may this request start a tracking?" for a dedupe key."""

    tracking_id: str  # the tracking the key stands for: this request's, or the earlier one's
    first: bool  # this call claimed the key
    conflict: bool = False  # the key stands for another, still running request (Idempotency-Key reused)
    unfinished: bool = False  # claimed earlier, but no state yet: the earlier call may have died before queuing


@dataclass(frozen=True)
class StartRecord:
    """What a start sent to Graph. ``answer`` is None while the request is out (or its sender died)."""

    action: str
    client_request_id: str
    sent_at: str
    answer: dict[str, Any] | None = None


class StateUnavailable(AzureError):
    """A state write a step cannot go without failed; the host retries the step."""


class StateStore:
    """Reads and merges tracking state; counts its table operations so tests can hold it to budget."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.index = TrackingIndex(table)
        self.lengths = LengthStore(table)  # each kind's lengths, which its learned schedule comes from
        self.throttling: Budgets | None = None  # the shared throttling budgets, once a step asked for them
        self.audit_queries = AuditQueries(table)  # each tenant's audit log query submissions and running queries
        self._ensured = False
        self._lock = threading.Lock()
        self._operations = 0

    def budgets(self, limits: Mapping[str, Limit]) -> Budgets | None:
        """The shared throttling budgets, kept in this table; None when the deployment has none."""
        self.throttling = Budgets(self._table, limits) if limits else None
        return self.throttling

    def note_pause(self, budget: str, tracking_id: str, until: float) -> None:
        """Which tracking's 429 paused the budget row ``budget``, for the budgets page (graphops.pacing.budget_view)."""
        note_pause(self._table, budget, tracking_id, until)

    @property
    def operations(self) -> int:
        """Table operations so far: the index's, the lengths' and the budgets' included."""
        budgets = self.throttling.operations if self.throttling is not None else 0
        return self._operations + self.index.operations + self.lengths.operations + budgets

    def _count(self) -> None:
        with self._lock:
            self._operations += 1

    def ensure_table(self) -> None:
        if self._ensured:
            return
        with contextlib.suppress(ResourceExistsError):
            self._table.create_table()
        self._ensured = True

    def _creating_table(self, write: Callable[[], T]) -> T:
        """Run ``write``; on a fresh account (Azurite, a first start) create the table once and try again."""
        try:
            return write()
        except ResourceNotFoundError as exc:
            if error_code(exc) != "TableNotFound":
                raise
        self._ensured = False
        self.ensure_table()
        return write()

    # -- API side ------------------------------------------------------------------------------

    def create(self, tracking: Tracking, extra: dict[str, Any] | None = None) -> None:
        self._count()
        entity = {"PartitionKey": tracking.tracking_id, "RowKey": ROW, **entity_of(tracking), **(extra or {})}
        self._creating_table(lambda: self._table.create_entity(entity))
        self._index(tracking.tracking_id, entity, was=NOT_INDEXED)

    def read(self, tracking_id: str) -> dict[str, Any] | None:
        """The tracking's entity (a TableEntity: its ``metadata`` has the ETag), or None."""
        self._count()
        try:
            entity: dict[str, Any] = self._table.get_entity(tracking_id, ROW)
        except ResourceNotFoundError:
            return None
        return entity

    def cancel(self, tracking_id: str, now: datetime) -> dict[str, Any] | None:
        """Mark a tracking cancelled (idempotent). Returns its state, or None when it is unknown.

        Conditional on the version read: a delivery that ends the tracking meanwhile stands, and the
        cancel reads again and finds it done.
        """
        for _ in range(5):
            entity = self.read(tracking_id)
            if entity is None:
                return None
            if entity.get("phase") == Phase.DONE:
                return entity  # finished (or already cancelled): nothing to stop
            change = {"PartitionKey": tracking_id, "RowKey": ROW, "cancelled": True, "phase": str(Phase.DONE),
                      "outcome": "cancelled", "finishedAt": iso(now), "nextPollAt": ""}  # fmt: skip
            self._count()
            try:
                self._table.update_entity(
                    change, mode=UpdateMode.MERGE, etag=_etag(entity), match_condition=_if_not_modified()
                )
            except ResourceModifiedError:
                continue  # a step wrote in between: read what it wrote
            self._index(tracking_id, {**entity, **change})
            return {**entity, **change}
        raise AzureError(f"the state of {tracking_id} kept changing; cancel again")

    def note(self, tracking_id: str, **properties: str) -> None:
        """Merge a few properties into a tracking's state (an operator's link between two trackings)."""
        self._count()
        self._table.update_entity({"PartitionKey": tracking_id, "RowKey": ROW, **properties}, mode=UpdateMode.MERGE)

    def claim(
        self, key: str, tracking_id: str, deadline: datetime, now: datetime, fingerprint: str | None = None
    ) -> Claim:
        """Claim a dedupe key for ``tracking_id``, atomically across concurrent callers.

        The key stays with the earlier tracking while that one runs. ``fingerprint`` (a digest of the whole
        request) binds an Idempotency-Key to its request: the same key with another request is a conflict.
        """
        row = hashlib.sha256(key.encode()).hexdigest()
        claim = {"PartitionKey": DEDUPE_PARTITION, "RowKey": row, "trackingId": tracking_id, "deadline": iso(deadline),
                 "fingerprint": fingerprint or ""}  # fmt: skip
        for _ in range(3):
            try:
                self._count()
                self._creating_table(lambda: self._table.create_entity(claim))
                return Claim(tracking_id, first=True)
            except ResourceExistsError:
                pass
            self._count()
            try:
                existing = self._table.get_entity(DEDUPE_PARTITION, row)
            except ResourceNotFoundError:
                continue
            earlier = str(existing["trackingId"])
            if existing.get("deadline", "") > iso(now):
                state = self.read(earlier)
                if state is None:
                    # Claimed, but its state row is not written yet: the earlier call is still at work, or died
                    # before queuing. Either way it is the same tracking; the caller completes it.
                    return Claim(earlier, first=False, conflict=_differs(existing, fingerprint), unfinished=True)
                if state.get("phase") != Phase.DONE:
                    return Claim(earlier, first=False, conflict=_differs(existing, fingerprint))
            try:
                self._count()
                self._table.update_entity(claim, mode=UpdateMode.REPLACE, etag=_etag(existing),
                                          match_condition=_if_not_modified())  # fmt: skip
                return Claim(tracking_id, first=True)
            except (ResourceExistsError, AzureError):
                continue
        raise AzureError("could not claim the subscribe key")

    def claimed(self, key: str) -> str | None:
        """The tracking id a dedupe key points to, if any."""
        self._count()
        try:
            entity = self._table.get_entity(DEDUPE_PARTITION, hashlib.sha256(key.encode()).hexdigest())
        except ResourceNotFoundError:
            return None
        return str(entity["trackingId"])

    def release(self, key: str, tracking_id: str) -> None:
        """Give up a claim whose request started nothing (Graph refused it): the key may be used again."""
        row = hashlib.sha256(key.encode()).hexdigest()
        try:
            self._count()
            entity = self._table.get_entity(DEDUPE_PARTITION, row)
            if entity.get("trackingId") == tracking_id:
                self._count()
                self._table.delete_entity(DEDUPE_PARTITION, row, etag=_etag(entity), match_condition=_if_not_modified())
        except AzureError as exc:
            log.info("claim not released for %s: %s; it expires with its deadline", tracking_id, type(exc).__name__)

    def point(self, key: str, tracking_id: str, deadline: datetime) -> None:
        """Let ``key`` name ``tracking_id`` (the callback URL an unsubscribe names), whoever had it before."""
        row = {"PartitionKey": DEDUPE_PARTITION, "RowKey": hashlib.sha256(key.encode()).hexdigest(),
               "trackingId": tracking_id, "deadline": iso(deadline), "fingerprint": ""}  # fmt: skip
        self._count()
        self._creating_table(lambda: self._table.upsert_entity(row, mode=UpdateMode.REPLACE))

    # -- starts: recorded before Graph is asked, and after it answered ----------------------------

    def start_record(self, tracking_id: str) -> StartRecord | None:
        self._count()
        try:
            entity = self._table.get_entity(tracking_id, START_ROW)
        except ResourceNotFoundError:
            return None
        answer = entity.get("answer")
        return StartRecord(
            action=str(entity.get("action", "")),
            client_request_id=str(entity.get("clientRequestId", "")),
            sent_at=str(entity.get("sentAt", "")),
            answer=json.loads(answer) if isinstance(answer, str) and answer else None,
        )

    def begin_start(
        self, tracking_id: str, action: str, client_request_id: str, now: datetime, deadline: datetime, *, again: bool
    ) -> None:
        """Record that the request is about to go out. Raises ResourceExistsError when another call recorded
        one first (unless ``again``: a repeatable action sent once more)."""
        row = {"PartitionKey": tracking_id, "RowKey": START_ROW, "action": action, "clientRequestId": client_request_id,
               "sentAt": iso(now), "deadline": iso(deadline), "answer": ""}  # fmt: skip
        self._count()
        if again:
            self._creating_table(lambda: self._table.upsert_entity(row, mode=UpdateMode.REPLACE))
        else:
            self._creating_table(lambda: self._table.create_entity(row))

    def answered_start(self, tracking_id: str, answer: dict[str, Any]) -> bool:
        """Record Graph's answer; False when the write failed (the start goes on, and says so in the log).

        Signed links in it are withheld (graphops.common.signed): a replayed answer delivers the note in their place.
        """
        text = json.dumps(withhold_signed_in(answer), ensure_ascii=False)
        change = {"PartitionKey": tracking_id, "RowKey": START_ROW, "answer": text[:MAX_PROPERTY_CHARS]}
        try:
            self._count()
            self._table.update_entity(change, mode=UpdateMode.MERGE)
        except AzureError as exc:
            log.warning("start answer not recorded for %s: %s", tracking_id, type(exc).__name__)
            return False
        return True

    def forget_start(self, tracking_id: str) -> None:
        """Graph did nothing (refused, throttled): nothing to remember, a retry may send the request again."""
        try:
            self._count()
            self._table.delete_entity(tracking_id, START_ROW)
        except AzureError as exc:
            log.warning("start record of %s not removed: %s", tracking_id, type(exc).__name__)

    # -- tracker side --------------------------------------------------------------------------

    def gate(self, tracking: Tracking) -> StepGate:
        """Read once: may this step run? Not if cancelled, nor if the state names another live message.

        The state names the one live message by its step id. A message runs too when the state names one of its
        recorded step ids: its predecessors queued it and then failed to record it, once or many times in a row
        (see ``next_step``). Any other message is stale: a duplicate of a step that already went on.
        """
        try:
            with table_span("read", self._table):
                entity = self.read(tracking.tracking_id)
        except AzureError as exc:
            log.warning("state unavailable for %s: %s; going on without it", tracking.tracking_id, type(exc).__name__)
            return StepGate(True, "state unavailable")
        if entity is None:
            return StepGate(True, "no state", history=(), names=(), standing=NOT_INDEXED)
        etag, history = _etag(entity), history_of(entity)
        if entity.get("cancelled"):
            return StepGate(False, "cancelled", etag, history)
        live = entity.get("stepId")
        names = (str(live),) if live else ()
        indexed = entry_of_state(tracking.tracking_id, entity)
        standing = indexed.standing if indexed else None
        if live in (None, tracking.step_id):
            return StepGate(True, "", etag, history, names, standing)
        if live in tracking.recorded_step_ids:
            return StepGate(True, "predecessors not recorded", etag, history, names, standing)
        return StepGate(False, "stale", etag, history, names, standing)

    def own(self, tracking: Tracking) -> str | bool:
        """Before an effect that must happen once (a delivery): make this step the one the state names, on the
        version its gate read, so that of two steps that both passed the gate (a duplicate whose predecessor died
        after queueing it, and that predecessor run again) only one goes on.

        Returns the state's new version (its ETag) when this step owns it; False when the state moved since the
        gate read it (another step of the tracking, or a cancel, came first: this step is stale); True when
        storage could not say (the step goes on: at least once beats never).
        """
        if not tracking.state_etag:
            return True
        change = {"PartitionKey": tracking.tracking_id, "RowKey": ROW, "stepId": tracking.step_id}
        try:
            self._count()
            with table_span("claim", self._table):
                written = self._table.update_entity(
                    change, mode=UpdateMode.MERGE, etag=tracking.state_etag, match_condition=_if_not_modified()
                )
        except ResourceModifiedError:
            return False
        except AzureError as exc:
            log.warning("state of %s not claimed (%s): delivering without it", tracking.tracking_id, type(exc).__name__)
            return True
        etag = (written or {}).get("etag")
        return str(etag) if etag else True

    def record(
        self, tracking: Tracking, next_poll_at: datetime | None, now: datetime, *, final: bool = False,
        standing: str | None = None, extra: Mapping[str, Any] | None = None,
    ) -> None:  # fmt: skip
        """Merge once, after the step's effect; the index too when the tracking's standing changed from
        ``standing`` (what the gate read; None when it read nothing).

        A step that queued its successor goes on when this fails (the successor's gate lets it run); a final
        write (delivered, dead-lettered) raises :class:`StateUnavailable` instead, so the host runs the step
        again rather than leave the state saying "polling" forever.
        """
        with table_span("merge", self._table):
            written = self._merge(tracking, next_poll_at, now, final=final, extra=extra)
        if written is not None:
            self._index(tracking.tracking_id, written, was=standing)

    def stranded(self, tracking_id: str, etag: str | None, reason: str, history: tuple[dict[str, Any], ...]) -> None:
        """Say why a tracking's live step cannot run and waits in the poison queue (its message could not be
        opened): only that, and nothing the message said, is written. The step it names stays the live one, so
        the message runs once it is put back and can be opened. Raises :class:`StateUnavailable`."""
        change = {"PartitionKey": tracking_id, "RowKey": ROW, "waitingFor": reason, "nextPollAt": "",
                  "history": history_json(history)}  # fmt: skip
        try:
            self._count()
            with table_span("merge", self._table):
                self._table.update_entity(change, mode=UpdateMode.MERGE, etag=etag,
                                          match_condition=_if_not_modified())  # fmt: skip
        except ResourceModifiedError:
            log.info("state of %s changed during the step; left as it is", tracking_id)
        except AzureError as exc:
            raise StateUnavailable(f"the state of {tracking_id} was not recorded") from exc

    def _index(self, tracking_id: str, entity: Mapping[str, Any], *, was: str | None = None) -> None:
        """Move the index to what ``entity`` says, unless the tracking still stands where it ``was`` (None: not
        known)."""
        entry = entry_of_state(tracking_id, entity)
        if entry is not None and entry.standing != was:
            self._note(entry, was)

    def _note(self, entry: Entry, was: str | None) -> None:
        """The index follows the state; a failed write is made good by the tracking's next transition."""
        try:
            with table_span("index", self._table):
                self.index.note(entry, was)
        except AzureError as exc:
            log.warning("index not written for %s: %s", entry.tracking_id, type(exc).__name__)

    def _merge(
        self, tracking: Tracking, next_poll_at: datetime | None, now: datetime, *, final: bool,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:  # fmt: skip
        """The properties written (``extra`` with them), or None when nothing was."""
        change = {"PartitionKey": tracking.tracking_id, "RowKey": ROW, **entity_of(tracking), **(extra or {}),
                  "nextPollAt": iso(next_poll_at) if next_poll_at else None, "lastPollAt": iso(now)}  # fmt: skip
        # The table drops None on a merge, which would leave the old value standing: clear with "" instead.
        change = {name: "" if value is None else value for name, value in change.items()}
        try:
            self._count()
            if tracking.state_etag:
                self._table.update_entity(
                    change, mode=UpdateMode.MERGE, etag=tracking.state_etag, match_condition=_if_not_modified()
                )
            else:
                self._creating_table(lambda: self._table.upsert_entity(change, mode=UpdateMode.MERGE))
        except ResourceModifiedError:
            if final and tracking.outcome is not None and tracking.delivered_somewhere:
                # The result went out: that is what happened, even if a cancel landed during the delivery.
                self._count()
                self._table.update_entity(change, mode=UpdateMode.MERGE)
                log.info("state of %s changed during its delivery; the delivered outcome stands", tracking.tracking_id)
                return change
            # Changed since this step read it: a cancel (or a duplicate step) came first and stands.
            log.info("state of %s changed during the step; left as it is", tracking.tracking_id)
            return None
        except AzureError as exc:
            log.warning("state not recorded for %s: %s", tracking.tracking_id, type(exc).__name__)
            if final:
                raise StateUnavailable(f"the final state of {tracking.tracking_id} was not recorded") from exc
            return None
        return change

    def rebuild_index(self) -> int:
        """Write the time index anew from every state row (after an upgrade from a version without it, or should it
        ever drift). Returns how many trackings it holds. Run while no step writes: a transition meanwhile may be
        counted twice until it is rebuilt again."""
        try:
            rows = self._table.query_entities("RowKey eq @row", parameters={"row": ROW}, select=list(INDEXED))
            entries = [entry_of_state(str(r["PartitionKey"]), r) for r in rows]
        except ResourceNotFoundError:
            return 0  # nothing recorded yet
        return self.index.rebuild(entry for entry in entries if entry is not None)

    def remove_finished(self, before: datetime) -> int:
        """Delete finished trackings (and spent dedupe keys and start records) older than ``before``. Returns how many
        trackings."""
        cutoff = iso(before)
        removed = 0
        try:
            finished = list(
                self._table.query_entities(
                    "RowKey eq @row and phase eq @done and finishedAt lt @cutoff",
                    parameters={"row": ROW, "done": "done", "cutoff": cutoff},
                )
            )
        except ResourceNotFoundError:
            self.ensure_table()  # a fresh account: nothing to remove, and the table is there for next time
            return 0
        # The SDK finds @parameters by splitting on spaces: no parenthesis may touch one.
        spent = self._table.query_entities(
            "( PartitionKey eq @p or RowKey eq @start ) and deadline lt @cutoff",
            parameters={"p": DEDUPE_PARTITION, "start": START_ROW, "cutoff": cutoff},
        )
        for entity in finished:
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            removed += 1
            since = moment_or_none(entity.get("trackedSince"))
            if since is not None:
                self.index.forget(str(entity["PartitionKey"]), since)
        for entity in spent:
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
        return removed


def table_span(operation: str, table: TableClient) -> AbstractContextManager[Any]:
    attributes = {"db.system.name": "azure.tables", "db.operation.name": operation,
                  "db.collection.name": table.table_name}  # fmt: skip
    return client_span(f"{operation} {table.table_name}", attributes)


def _differs(claim: dict[str, Any], fingerprint: str | None) -> bool:
    return bool(fingerprint) and claim.get("fingerprint") not in ("", None, fingerprint)


def _etag(entity: dict[str, Any]) -> str | None:
    metadata = getattr(entity, "metadata", None) or {}
    etag = metadata.get("etag")
    return str(etag) if etag else None


def _if_not_modified() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified
