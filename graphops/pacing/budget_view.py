"""The throttling budgets as an operator sees them (read-only beside :mod:`graphops.pacing.budget_store`): how much of
each budget is used in the window ending now, whether a 429 paused it, until when and by which tracking's 429.

Pure functions turn the ``~budget`` rows into views; a small reader and a reset do the I/O. The budget rows are read
as they lie, whatever their shard count: a budget's rows are its key and every key below it (``key||1``, ...,
and, for a service budgeted per resource, ``key|<scope>``). Which tracking's 429 paused a budget is kept in a row
of its own (partition ``~budgetPause``, the budget's key), written by the step right after the pause, so the
budget rows the workers lease from keep their format.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.pacing.budget import MARGIN, MAX_PAUSE, Lease, Limit, load, stored_leases, stored_number

log = logging.getLogger("graphops.budgets")
PARTITION = "~budget"  # the budget rows (graphops.pacing.budget_store)
PAUSE_PARTITION = "~budgetPause"  # which tracking's 429 paused a budget, and until when
SHARD = "||"


@dataclass(frozen=True)
class BudgetRow:
    """One stored row of a budget (a shard of it, or its only row)."""

    key: str
    leases: tuple[Lease, ...]
    paused_until: float


@dataclass(frozen=True)
class Cause:
    """The tracking whose 429 paused a budget, and the pause it asked for."""

    tracking_id: str
    until: float


@dataclass(frozen=True)
class BudgetView:
    tenant: str
    service: str
    scope: str  # the resource a per-resource budget is kept for (a chat); "" for the tenant's
    used: int  # requests its leases may have made in the window ending now, summed over its rows
    limit: int | None  # the budget (the documented limit less the margin); None for a service no longer budgeted
    window: float | None  # seconds
    rows: int
    paused_until: float | None  # None: not paused
    cause: str | None  # the tracking whose 429 paused it, when known

    @property
    def key(self) -> str:
        return budget_key(self.tenant, self.service, self.scope)


def budget_key(tenant: str, service: str, scope: str = "") -> str:
    """The key of a budget's first row (the scope as budget_store writes it: already free of key-unsafe characters
    when it comes from a row)."""
    return f"{tenant}|{service}|{scope}" if scope else f"{tenant}|{service}"


def split_key(key: str) -> tuple[str, str, str] | None:
    """A row key's tenant, service and scope (a shard's ``||n`` dropped); None for a key graphops never writes."""
    base = key.split(SHARD, 1)[0]
    parts = base.split("|", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def belongs(key: str, service: str, tenant: str | None = None, scope: str | None = None) -> bool:
    """Whether row ``key`` is one of the budget of ``service`` (in ``tenant``, or any; of ``scope``, or the
    tenant's budget and all its scoped ones): what a reset deletes."""
    parts = split_key(key)
    if parts is None:
        return False
    return parts[1] == service and tenant in (None, parts[0]) and scope in (None, parts[2])


def views(
    rows: Iterable[BudgetRow], causes: Mapping[str, Cause], limits: Mapping[str, Limit], now: float,
    margin: float = MARGIN,
) -> list[BudgetView]:  # fmt: skip
    """Each budget's view, from all its rows: the leases' counts in the window ending ``now`` summed over its shard
    rows, against its budget; paused until the latest pause its rows hold that graphops could have set (one further
    off than :data:`MAX_PAUSE` is not believed, as the workers do not believe it); the cause when its note is of that
    pause. Sorted by service, tenant and scope."""
    grouped: dict[tuple[str, str, str], list[BudgetRow]] = {}
    for row in rows:
        parts = split_key(row.key)
        if parts is not None:
            grouped.setdefault(parts, []).append(row)
    out = []
    for (tenant, service, scope), kept in sorted(grouped.items(), key=lambda item: (item[0][1], *item[0][::2])):
        limit = limits.get(service)
        used = 0
        if limit is not None:
            for row in kept:
                used += load(row.leases, now, limit.window)
        pauses = [row.paused_until for row in kept if now < row.paused_until <= now + MAX_PAUSE]
        until = max(pauses) if pauses else None
        note = causes.get(budget_key(tenant, service, scope))
        # The note names the 429 whose pause is the one in force (a later, longer pause by another writes its own).
        cause = note.tracking_id if note is not None and until is not None and note.until >= until - 1.0 else None
        out.append(BudgetView(tenant, service, scope, used, limit.budget(margin) if limit else None,
                              limit.window if limit else None, len(kept), until, cause))  # fmt: skip
    return out


# -- I/O ------------------------------------------------------------------------------------------------------


def read_views(table: TableClient, limits: Mapping[str, Limit], now: float, margin: float = MARGIN) -> list[BudgetView]:
    """Every budget in the table: one query of the budget rows (a row per budget and shard) and one of the pause
    notes."""
    rows = [BudgetRow(str(e["RowKey"]), _leases(e, limits), stored_number(e.get("pausedUntil")))
            for e in _query(table, PARTITION, ["RowKey", "leases", "pausedUntil"])]  # fmt: skip
    notes = _query(table, PAUSE_PARTITION, ["RowKey", "trackingId", "until"])
    causes = {
        str(e["RowKey"]): Cause(str(e["trackingId"]), stored_number(e.get("until")))
        for e in notes
        if e.get("trackingId")
    }
    return views(rows, causes, limits, now, margin)


def _leases(row: Mapping[str, object], limits: Mapping[str, Limit]) -> tuple[Lease, ...]:
    """A row's leases, read as the workers read them (none for a service no longer budgeted: nothing to count)."""
    parts = split_key(str(row["RowKey"]))
    limit = limits.get(parts[1]) if parts is not None else None
    return stored_leases(row.get("leases"), limit.window) if limit is not None else ()


def reset(table: TableClient, service: str, tenant: str | None = None, scope: str | None = None) -> list[str]:
    """Deletes the rows of the budget of ``service`` (in ``tenant``, or every tenant's; of ``scope``, or the tenant's
    and every scoped one), its pause and the note of its cause included: the workers then find it unused. Read by
    partition and row key prefix, so every shard goes, however many there are. The keys of the budget rows deleted."""
    deleted = []
    for partition in (PARTITION, PAUSE_PARTITION):
        for entity in _query(table, partition, ["RowKey"], _prefix(service, tenant, scope)):
            key = str(entity["RowKey"])
            if not belongs(key, service, tenant, scope):
                continue
            with contextlib.suppress(ResourceNotFoundError):  # gone meanwhile
                table.delete_entity(partition, key)
            if partition == PARTITION:
                deleted.append(key)
    return sorted(deleted)


def _prefix(service: str, tenant: str | None, scope: str | None) -> str | None:
    """The row key prefix a budget's rows share (the first row's key itself, and every key below it); None when no
    tenant is named (the partition is read whole: a row per budget and shard)."""
    return None if tenant is None else budget_key(tenant, service, scope or "")


def _query(table: TableClient, partition: str, select: list[str], prefix: str | None = None) -> list[dict[str, object]]:
    clause, parameters = "PartitionKey eq @p", {"p": partition}
    if prefix is not None:
        # The key itself, and the keys that continue it with "|" (shards and scopes): "}" follows "|". Spaces around
        # the brackets: the SDK finds each @name between spaces.
        clause += " and ( RowKey eq @key or ( RowKey ge @low and RowKey lt @high ) )"
        parameters.update(key=prefix, low=prefix + "|", high=prefix + "}")
    try:
        return [dict(e) for e in table.query_entities(clause, parameters=parameters, select=select)]
    except ResourceNotFoundError:
        return []  # no table yet: no budget


def note_pause(table: TableClient, key: str, tracking_id: str, until: float) -> None:
    """Records that ``tracking_id``'s 429 paused the budget ``key`` until ``until``, unless a pause further off is
    noted and still to come (its 429 is the one in force). Best effort: a note is for the operator, never worth
    failing a step."""
    try:
        try:
            held = table.get_entity(PAUSE_PARTITION, key)
            if stored_number(held.get("until")) > until:
                return
        except ResourceNotFoundError:
            pass
        table.upsert_entity({"PartitionKey": PAUSE_PARTITION, "RowKey": key, "trackingId": tracking_id,
                             "until": until}, mode=UpdateMode.REPLACE)  # fmt: skip
    except AzureError as exc:
        log.info("the cause of budget %s's pause not noted (%s)", key, type(exc).__name__)
