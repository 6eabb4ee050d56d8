"""The budgets page and `graphops budgets`: each budget with the running trackings that wait for it.

Which trackings wait for a budget comes from the list of running trackings (the time index: the newest
:data:`graphops.console.listing.SHOWN` polling ones, from the start, with their state's ``waitingFor``) and, for
those that wait for a budget, one point read of their history: its last entry names the budget. Cost: the list's
(a query of the days, one of each day's count rows and of its newest rows, a point read per running tracking shown)
and a point read per waiting tracking. Trackings hold no tenant (a deployment's token has one), so a tracking waiting
for a service's budget is listed under that service's budgets.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.data.tables import TableClient

from graphops.console.listing import Filters, list_trackings
from graphops.pacing.budget import Limit
from graphops.pacing.budget_view import BudgetView, read_views
from graphops.storage.state import ROW


@dataclass(frozen=True)
class Waiting:
    tracking_id: str
    correlation_id: str | None


@dataclass(frozen=True)
class Budget:
    view: BudgetView
    waiting: tuple[Waiting, ...] = field(default_factory=tuple)


def waited_for(history: object) -> str | None:
    """The budget a tracking's last step waited for (its history's last entry says ``"budget": "<service>"``)."""
    try:
        entries = json.loads(history) if isinstance(history, str) else []
    except ValueError:
        return None
    last = entries[-1] if isinstance(entries, list) and entries else None
    service = last.get("budget") if isinstance(last, dict) else None
    return service if isinstance(service, str) and service else None


def joined(views: Sequence[BudgetView], waiting: Mapping[str, Sequence[Waiting]]) -> list[Budget]:
    """Each budget with the trackings waiting for its service."""
    return [Budget(view, tuple(waiting.get(view.service, ()))) for view in views]


def waiting_trackings(table: TableClient, now: datetime) -> dict[str, list[Waiting]]:
    """Service -> the running trackings whose last step waited for its budget."""
    listing = list_trackings(table, Filters(state="polling"), now)
    out: dict[str, list[Waiting]] = {}
    for row in listing.rows:
        if row.waiting_for != "budget":
            continue
        try:
            history = table.get_entity(row.tracking_id, ROW, select=["history"]).get("history")
        except ResourceNotFoundError:
            continue  # removed since the list was read
        service = waited_for(history)
        if service is not None:
            out.setdefault(service, []).append(Waiting(row.tracking_id, row.correlation_id))
    return out


def budgets(table: TableClient, limits: Mapping[str, Limit], now: datetime) -> list[Budget]:
    return joined(read_views(table, limits, now.timestamp()), waiting_trackings(table, now))


def as_json(budget: Budget) -> dict[str, Any]:
    """A budget as `graphops budgets --json` prints it (camelCase; times in seconds since the epoch)."""
    view = budget.view
    return {"service": view.service, "tenant": view.tenant, "scope": view.scope or None, "used": view.used,
            "limit": view.limit, "windowSeconds": view.window, "rows": view.rows, "pausedUntil": view.paused_until,
            "pausedBy": view.cause, "waiting": [{"trackingId": w.tracking_id, "correlationId": w.correlation_id}
                                                for w in budget.waiting]}  # fmt: skip
