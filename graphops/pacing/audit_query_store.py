"""The audit log query ledgers, one row per tenant in the state table (the I/O side of
:mod:`graphops.pacing.audit_queries`).

Partition ``~auditQueries``, a row per tenant: its recent submissions and running trackings, as JSON, written with
an ETag-conditional update so every worker counts in one ledger. Failure mode: storage out of reach admits the
start (Graph's own 429 then refuses what would be over its limit); a tracking that ends without releasing its place
(the host dies between the end and the write) holds it until the tracking's deadline; queries started outside
graphops are not counted.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.pacing.audit_queries import Admission, Ledger, admit, released
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.auditqueries")
PARTITION = "~auditQueries"
ATTEMPTS = 8


class AuditQueries:
    def __init__(self, table: TableClient) -> None:
        self._table = table

    def admit(self, tenant: str, tracking_id: str, until: float, now: float) -> Admission:
        for _ in range(ATTEMPTS):
            try:
                ledger, etag = self._read(tenant)
                admission = admit(ledger, tracking_id, until, now)
                if admission.ledger is not None:
                    self._write(tenant, admission.ledger, etag)
                return admission
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another worker counted a start meanwhile: count again
            except ResourceNotFoundError:
                if not create_table(self._table, log, "audit query ledgers"):
                    return Admission(True)
            except AzureError as exc:
                log.info("audit query ledger of %s not read (%s): starting without it", tenant, type(exc).__name__)
                return Admission(True)
        return Admission(True)

    def release(self, tenant: str, tracking_id: str) -> None:
        """The tracking's query ended: its place among those running is free (its deadline frees it otherwise)."""
        for _ in range(ATTEMPTS):
            try:
                ledger, etag = self._read(tenant)
                if tracking_id not in ledger.running:
                    return
                self._write(tenant, released(ledger, tracking_id), etag)
                return
            except (ResourceExistsError, ResourceModifiedError):
                continue
            except AzureError as exc:
                log.info("audit query ledger of %s not released (%s)", tenant, type(exc).__name__)
                return

    def _read(self, tenant: str) -> tuple[Ledger, str | None]:
        try:
            row = self._table.get_entity(PARTITION, tenant or "-")
        except ResourceNotFoundError:
            return Ledger(), None  # a missing table shows when the first write fails
        return ledger_of(row), row.metadata.get("etag")

    def _write(self, tenant: str, ledger: Ledger, etag: str | None) -> None:
        entity: dict[str, Any] = {"PartitionKey": PARTITION, "RowKey": tenant or "-",
                                  "submitted": json.dumps(list(ledger.submitted)),
                                  "running": json.dumps(dict(ledger.running))}  # fmt: skip
        if etag is None:
            self._table.create_entity(entity)
        else:
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                      match_condition=MatchConditions.IfNotModified)  # fmt: skip


def ledger_of(row: Any) -> Ledger:
    """A row's ledger; anything that is not one (garbled JSON, odd values) reads as an empty ledger's part."""
    try:
        submitted = [t for t in json.loads(row.get("submitted") or "[]") if isinstance(t, int | float)]
        running = {k: v for k, v in json.loads(row.get("running") or "{}").items() if isinstance(v, int | float)}
    except (ValueError, AttributeError, TypeError):
        return Ledger()
    return Ledger(tuple(float(t) for t in submitted), {str(k): float(v) for k, v in running.items()})
