"""The state of trackings subscribed over HTTP, in Azure Table storage.

The queue stays the source of truth for what runs next; the table is what the HTTP API reads and
where a cancel is marked. Each step of a subscribed tracking costs two table operations: one read
(is it cancelled? is this step stale?) and one merge. A table outage slows nothing down: the step
goes on and the state catches up at the next one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from .settings import StorageConnection
from .tracking import Phase, Tracking, iso

log = logging.getLogger("graphops.state")
ROW = "state"
DEDUPE_PARTITION = "dedupe"
MAX_PROPERTY_CHARS = 30_000  # a table string property holds 64 KiB of UTF-16


def table_client(
    storage: StorageConnection, table: str, credential: TokenCredential | None, transport: Any = None
) -> TableClient:
    options: dict[str, Any] = {"transport": transport} if transport is not None else {}
    if storage.connection_string:
        return TableClient.from_connection_string(storage.connection_string, table, **options)
    if not storage.table_service_uri:
        raise ValueError("AzureWebJobsStorage__tableServiceUri is needed for the state table")
    assert credential is not None
    return TableClient(storage.table_service_uri, table, credential=credential, **options)


@dataclass(frozen=True)
class StepGate:
    """What the state says about a step before it runs."""

    go: bool
    reason: str = ""


class StateStore:
    """Reads and merges tracking state; counts its table operations so tests can hold it to budget."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self._ensured = False
        self._lock = threading.Lock()
        self.operations = 0

    def _count(self) -> None:
        with self._lock:
            self.operations += 1

    def ensure_table(self) -> None:
        if self._ensured:
            return
        with contextlib.suppress(ResourceExistsError):
            self._table.create_table()
        self._ensured = True

    # -- API side ------------------------------------------------------------------------------

    def create(self, tracking: Tracking, extra: dict[str, Any] | None = None) -> None:
        self.ensure_table()
        self._count()
        entity = {"PartitionKey": tracking.tracking_id, "RowKey": ROW, **entity_of(tracking), **(extra or {})}
        self._table.create_entity(entity)

    def read(self, tracking_id: str) -> dict[str, Any] | None:
        """The tracking's entity (a TableEntity: its ``metadata`` has the ETag), or None."""
        self._count()
        try:
            entity: dict[str, Any] = self._table.get_entity(tracking_id, ROW)
        except ResourceNotFoundError:
            return None
        return entity

    def cancel(self, tracking_id: str, now: datetime) -> dict[str, Any] | None:
        """Mark a tracking cancelled (idempotent). Returns its state, or None when it is unknown."""
        entity = self.read(tracking_id)
        if entity is None:
            return None
        if entity.get("phase") == Phase.DONE:
            return entity  # finished (or already cancelled): nothing to stop
        change = {"PartitionKey": tracking_id, "RowKey": ROW, "cancelled": True, "phase": str(Phase.DONE),
                  "outcome": "cancelled", "finishedAt": iso(now)}  # fmt: skip
        self._count()
        self._table.update_entity(change, mode=UpdateMode.MERGE)
        return {**entity, **change}

    def claim_dedupe(self, key: str, tracking_id: str, deadline: datetime, now: datetime) -> str:
        """The tracking id for a subscribe key: ``tracking_id`` if this call is the first (or the earlier one
        has run out), else the id an earlier subscribe claimed. Atomic across concurrent callers."""
        self.ensure_table()
        row = hashlib.sha256(key.encode()).hexdigest()
        claim = {"PartitionKey": DEDUPE_PARTITION, "RowKey": row, "trackingId": tracking_id, "deadline": iso(deadline)}
        for _ in range(3):
            try:
                self._count()
                self._table.create_entity(claim)
                return tracking_id
            except ResourceExistsError:
                pass
            self._count()
            try:
                existing = self._table.get_entity(DEDUPE_PARTITION, row)
            except ResourceNotFoundError:
                continue
            alive = existing.get("deadline", "") > iso(now)
            state = self.read(existing["trackingId"]) if alive else None
            if alive and state is not None and state.get("phase") != Phase.DONE:
                return str(existing["trackingId"])
            try:
                self._count()
                self._table.update_entity(claim, mode=UpdateMode.REPLACE, etag=existing.metadata["etag"],
                                          match_condition=_if_not_modified())  # fmt: skip
                return tracking_id
            except (ResourceExistsError, AzureError):
                continue
        raise AzureError("could not claim the subscribe key")

    def claimed(self, key: str) -> str | None:
        """The tracking id a subscribe key points to, if any."""
        self._count()
        try:
            entity = self._table.get_entity(DEDUPE_PARTITION, hashlib.sha256(key.encode()).hexdigest())
        except ResourceNotFoundError:
            return None
        return str(entity["trackingId"])

    # -- tracker side --------------------------------------------------------------------------

    def gate(self, tracking: Tracking) -> tuple[StepGate, str | None]:
        """Read once: may this step run? Not if cancelled, nor if the state names another live message."""
        try:
            entity = self.read(tracking.tracking_id)
        except AzureError as exc:
            log.warning("state unavailable for %s: %s; going on without it", tracking.tracking_id, type(exc).__name__)
            return StepGate(True, "state unavailable"), None
        if entity is None:
            return StepGate(True, "no state"), None
        etag = getattr(entity, "metadata", {}).get("etag")
        if entity.get("cancelled"):
            return StepGate(False, "cancelled"), etag
        if entity.get("stepId") not in (None, tracking.step_id):
            return StepGate(False, "stale"), etag
        return StepGate(True), etag

    def record(self, tracking: Tracking, next_poll_at: datetime | None, now: datetime) -> None:
        """Merge once, after the step's effect: never fails the step."""
        change = {"PartitionKey": tracking.tracking_id, "RowKey": ROW, **entity_of(tracking),
                  "nextPollAt": iso(next_poll_at) if next_poll_at else None, "lastPollAt": iso(now)}  # fmt: skip
        try:
            self._count()
            if tracking.state_etag:
                self._table.update_entity(
                    change, mode=UpdateMode.MERGE, etag=tracking.state_etag, match_condition=_if_not_modified()
                )
            else:
                self._table.upsert_entity(change, mode=UpdateMode.MERGE)
        except ResourceModifiedError:
            # Changed since this step read it: a cancel (or a duplicate step) came first and stands.
            log.info("state of %s changed during the step; left as it is", tracking.tracking_id)
        except AzureError as exc:
            log.warning(
                "state not recorded for %s: %s; it catches up at the next step",
                tracking.tracking_id,
                type(exc).__name__,
            )

    def remove_finished(self, before: datetime) -> int:
        """Delete finished trackings (and spent subscribe keys) older than ``before``. Returns how many."""
        cutoff = iso(before)
        removed = 0
        finished = self._table.query_entities(
            "phase eq @done and finishedAt lt @cutoff", parameters={"done": "done", "cutoff": cutoff}
        )
        spent = self._table.query_entities(
            "PartitionKey eq @p and deadline lt @cutoff", parameters={"p": DEDUPE_PARTITION, "cutoff": cutoff}
        )
        for entity in [*finished, *spent]:
            self._table.delete_entity(entity["PartitionKey"], entity["RowKey"])
            removed += 1
        return removed


def entity_of(tracking: Tracking) -> dict[str, Any]:
    """The table's view of a tracking (what GET /api/operations/{id} shows)."""
    operation = json.dumps(tracking.operation, ensure_ascii=False) if tracking.operation is not None else None
    return {
        "phase": str(tracking.phase),
        "step": tracking.step,
        "stepId": tracking.step_id,
        "operationUrl": tracking.operation_url,
        "kind": tracking.kind.name,
        "correlationId": tracking.correlation_id,
        "lastStatus": tracking.last_status,
        "operation": operation[:MAX_PROPERTY_CHARS] if operation else None,
        "polls": tracking.polls,
        "outcome": str(tracking.outcome) if tracking.outcome else None,
        "error": json.dumps(tracking.error.to_json()) if tracking.error else None,
        "deliveryAttempts": tracking.delivery_attempts,
        "lastDeliveryError": tracking.last_delivery_error,
        "trackedSince": iso(tracking.tracked_since),
        "deadline": iso(tracking.deadline),
        "finishedAt": iso(tracking.finished_at) if tracking.finished_at else None,
    }


def public_view(tracking_id: str, entity: dict[str, Any]) -> dict[str, Any]:
    """The JSON the status endpoint answers with."""

    def parsed(name: str) -> Any:
        raw = entity.get(name)
        return json.loads(raw) if isinstance(raw, str) and raw else None

    return {
        "trackingId": tracking_id,
        "phase": entity.get("phase"),
        "outcome": entity.get("outcome"),
        "kind": entity.get("kind"),
        "operationUrl": entity.get("operationUrl"),
        "correlationId": entity.get("correlationId"),
        "lastStatus": entity.get("lastStatus"),
        "operation": parsed("operation"),
        "error": parsed("error"),
        "polls": entity.get("polls", 0),
        "lastPollAt": entity.get("lastPollAt"),
        "nextPollAt": entity.get("nextPollAt"),
        "deliveryAttempts": entity.get("deliveryAttempts", 0),
        "lastDeliveryError": entity.get("lastDeliveryError"),
        "trackedSince": entity.get("trackedSince"),
        "deadline": entity.get("deadline"),
        "finishedAt": entity.get("finishedAt"),
    }


def _if_not_modified() -> Any:
    from azure.core import MatchConditions

    return MatchConditions.IfNotModified
