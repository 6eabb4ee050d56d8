"""The throttling budgets as an operator sees them (read-only beside :mod:`graphops.pacing.budget_store`): how much of
each budget is used in the window ending now, whether a 429 paused it, until when and by which tracking's 429.

Pure functions turn the budget rows into views; a small reader and a reset do the I/O. A budget is a partition
(``~budget|<budget key>``) with a row per worker (its row key the worker's name): the view counts every worker's
leases as the workers count them (each worker's most in the window, the workers summed) and shows how many workers
have a row. Which tracking's 429 paused a budget is kept in a row of its own (partition ``~budgetPause``, the
budget's key), written by the step right after the pause. Rows in the partition ``~budget`` itself are from before
budgets were kept per worker: read by nobody, deleted by a reset.
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
PARTITION = "~budget"  # a budget's partition is PARTITION|<budget key> (graphops.pacing.budget_store)
PAUSE_PARTITION = "~budgetPause"  # which tracking's 429 paused a budget, and until when
#: What followed a budget key in the rows of the partition ``~budget`` before budgets were kept per worker (its
#: shards), so that a reset finds them.
SHARD = "||"


@dataclass(frozen=True)
class BudgetRow:
    """One worker's row of a budget: the budget's key, the worker's leases and the pause it wrote."""

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
    used: int  # requests its leases may have made in the window ending now: each worker's most, summed
    limit: int | None  # the budget (the documented limit less the margin); None for a service no longer budgeted
    window: float | None  # seconds
    rows: int  # workers with a row
    paused_until: float | None  # None: not paused
    cause: str | None  # the tracking whose 429 paused it, when known

    @property
    def key(self) -> str:
        return budget_key(self.tenant, self.service, self.scope)


def budget_key(tenant: str, service: str, scope: str = "") -> str:
    """A budget's key (the scope as budget_store writes it: already free of key-unsafe characters
    when it comes from a row)."""
    return f"{tenant}|{service}|{scope}" if scope else f"{tenant}|{service}"


def split_key(key: str) -> tuple[str, str, str] | None:
    """A budget key's tenant, service and scope (an old row's shard ``||n`` dropped); None for a key graphops never
    writes."""
    base = key.split(SHARD, 1)[0]
    parts = base.split("|", 2)
    if len(parts) < 2 or not parts[0] or not parts[1]:
        return None
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def belongs(key: str, service: str, tenant: str | None = None, scope: str | None = None) -> bool:
    """Whether budget key ``key`` is of the budget of ``service`` (in ``tenant``, or any; of ``scope``, or the
    tenant's budget and all its scoped ones): what a reset deletes."""
    parts = split_key(key)
    if parts is None:
        return False
    return parts[1] == service and tenant in (None, parts[0]) and scope in (None, parts[2])


def views(
    rows: Iterable[BudgetRow], causes: Mapping[str, Cause], limits: Mapping[str, Limit], now: float,
    margin: float = MARGIN,
) -> list[BudgetView]:  # fmt: skip
    """Each budget's view, from all its rows: the leases' counts in the window ending ``now`` (each worker's most,
    the workers summed), against its budget; paused until the latest pause its rows hold that graphops could have
    set (one further off than :data:`MAX_PAUSE` is not believed, as the workers do not believe it); the cause when
    its note is of that pause. Sorted by service, tenant and scope."""
    grouped: dict[tuple[str, str, str], list[BudgetRow]] = {}
    for row in rows:
        parts = split_key(row.key)
        if parts is not None:
            grouped.setdefault(parts, []).append(row)
    out = []
    for (tenant, service, scope), kept in sorted(grouped.items(), key=lambda item: (item[0][1], *item[0][::2])):
        limit = limits.get(service)
        used = load([lease for row in kept for lease in row.leases], now, limit.window) if limit is not None else 0
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
    """Every budget in the table: one query of the budgets' partitions (a row per budget and worker) and one of the
    pause notes."""
    rows = [BudgetRow(key, _leases(key, e, limits), stored_number(e.get("pausedUntil")))
            for e in _query(table, ["PartitionKey", "RowKey", "leases", "pausedUntil"], _partitions(None))
            if (key := str(e["PartitionKey"])[len(PARTITION) + 1 :])]  # fmt: skip
    notes = _query(table, ["RowKey", "trackingId", "until"], ("PartitionKey eq @p", {"p": PAUSE_PARTITION}))
    causes = {
        str(e["RowKey"]): Cause(str(e["trackingId"]), stored_number(e.get("until")))
        for e in notes
        if e.get("trackingId")
    }
    return views(rows, causes, limits, now, margin)


def _leases(key: str, row: Mapping[str, object], limits: Mapping[str, Limit]) -> tuple[Lease, ...]:
    """A row's leases, read as the workers read them (none for a service no longer budgeted: nothing to count)."""
    parts = split_key(key)
    limit = limits.get(parts[1]) if parts is not None else None
    return stored_leases(row.get("leases"), limit.window, str(row["RowKey"])) if limit is not None else ()


def reset(table: TableClient, service: str, tenant: str | None = None, scope: str | None = None) -> list[str]:
    """Deletes the rows of the budget of ``service`` (in ``tenant``, or every tenant's; of ``scope``, or the tenant's
    and every scoped one), every worker's, its pause and the note of its cause included (and its rows from before
    budgets were kept per worker): the workers then find it unused. The rows deleted (``<budget key>/<worker>``)."""
    deleted: list[str] = []
    prefix = None if tenant is None else budget_key(tenant, service, scope or "")
    for entity in _query(table, ["PartitionKey", "RowKey"], _partitions(prefix)):
        key = str(entity["PartitionKey"])[len(PARTITION) + 1 :]
        if belongs(key, service, tenant, scope):
            _delete(table, str(entity["PartitionKey"]), str(entity["RowKey"]))
            deleted.append(f"{key}/{entity['RowKey']}")
    for partition in (PARTITION, PAUSE_PARTITION):  # the old rows and the pause notes, keyed by the budget
        for entity in _query(table, ["RowKey"], _keys(partition, prefix)):
            key = str(entity["RowKey"])
            if belongs(key, service, tenant, scope):
                _delete(table, partition, key)
                if partition == PARTITION:
                    deleted.append(key)
    return sorted(deleted)


def _delete(table: TableClient, partition: str, key: str) -> None:
    with contextlib.suppress(ResourceNotFoundError):  # gone meanwhile
        table.delete_entity(partition, key)


def _partitions(prefix: str | None) -> tuple[str, dict[str, str]]:
    """The budgets' partitions (``~budget|...``; "}" follows "|"), or those of the budget key ``prefix`` and every
    key below it (its scopes). Spaces around the brackets: the SDK finds each @name between spaces."""
    if prefix is None:
        return "PartitionKey ge @low and PartitionKey lt @high", {"low": f"{PARTITION}|", "high": f"{PARTITION}}}"}
    base = f"{PARTITION}|{prefix}"
    return ("( PartitionKey eq @key or ( PartitionKey ge @low and PartitionKey lt @high ) )",
            {"key": base, "low": base + "|", "high": base + "}"})  # fmt: skip


def _keys(partition: str, prefix: str | None) -> tuple[str, dict[str, str]]:
    """A partition's rows, or those keyed by the budget key ``prefix`` and every key below it (shards, scopes)."""
    clause, parameters = "PartitionKey eq @p", {"p": partition}
    if prefix is not None:
        clause += " and ( RowKey eq @key or ( RowKey ge @low and RowKey lt @high ) )"
        parameters.update(key=prefix, low=prefix + "|", high=prefix + "}")
    return clause, parameters


def _query(table: TableClient, select: list[str], where: tuple[str, dict[str, str]]) -> list[dict[str, object]]:
    try:
        return [dict(e) for e in table.query_entities(where[0], parameters=where[1], select=select)]
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
