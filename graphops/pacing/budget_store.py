"""The shared throttling budgets, kept in the deployment's state table (the I/O side of :mod:`graphops.pacing.budget`).

One row per tenant and service in the partition ``~budget``: the window's start, the requests it used and a
pause. Every worker process of the deployment takes its slots from that row with an ETag-conditional write,
so together they stay within the budget. Cost: a read and a conditional write per poll of a budgeted kind (a
read only, when it must wait), two more per 429.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableClient, UpdateMode

from graphops.pacing.budget import MARGIN, Limit, Window, pause_after, paused, take
from graphops.pacing.table import create_table

log = logging.getLogger("graphops.budgets")
PARTITION = "~budget"
ATTEMPTS = 8


class Budgets:
    """Asks the shared budget of a tenant's service before a poll, and pauses it after a 429."""

    def __init__(
        self,
        table: TableClient,
        limits: Mapping[str, Limit],
        *,
        margin: float = MARGIN,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._table = table
        self._limits = limits
        self._margin = margin
        self._clock = clock
        self.operations = 0

    def limit(self, service: str | None) -> Limit | None:
        return self._limits.get(service) if service else None

    def wait_before_polling(self, tenant: str, service: str | None, scope: str = "") -> float:
        """0 when a step may poll now (its request is counted), else the seconds until the budget has a slot.
        ``scope`` keeps a budget per resource within the tenant (a chat). Storage out of reach: poll (a budget is
        a courtesy to Graph, never a reason to stop tracking)."""
        limit = self.limit(service)
        if limit is None:
            return 0.0
        key = budget_key(tenant, service or "", scope)
        for attempt in range(ATTEMPTS):
            if attempt:  # two workers that met once would meet again at once: spread them apart
                time.sleep(random.uniform(0, 0.01 * 2**attempt))
            try:
                row, etag = self._read(key)
                slot = take(row, limit, self._clock(), self._margin)
                if not slot.go:
                    return slot.wait + spread(limit)
                assert slot.window is not None
                self._write(key, slot.window, etag)
                return 0.0
            except (ResourceExistsError, ResourceModifiedError):
                continue  # another worker took a slot meanwhile: read again
            except ResourceNotFoundError:
                if not self._create_table():  # a fresh account: the budget is the table's first row
                    return 0.0
            except AzureError as exc:
                log.info("budget %s not read (%s): polling without it", key, type(exc).__name__)
                return 0.0
        log.info("budget %s kept changing under %d attempts: polling", key, ATTEMPTS)
        return 0.0

    def pause(self, tenant: str, service: str | None, retry_after: float | None, scope: str = "") -> float | None:
        """After a 429 from ``service``: no worker polls it before Retry-After (or the service's usual wait)."""
        limit = self.limit(service)
        if limit is None:
            return None
        key = budget_key(tenant, service or "", scope)
        until = self._clock() + pause_after(limit, retry_after)
        for _ in range(ATTEMPTS):
            try:
                row, etag = self._read(key)
                self._write(key, paused(row, until), etag)
                return until
            except (ResourceExistsError, ResourceModifiedError):
                continue
            except ResourceNotFoundError:
                if not self._create_table():
                    return None
            except AzureError as exc:
                log.info("budget %s not paused (%s)", key, type(exc).__name__)
                return None
        return None

    def _create_table(self) -> bool:
        self.operations += 1
        return create_table(self._table, log, "budgets")

    def _read(self, key: str) -> tuple[Window, str | None]:
        self.operations += 1
        try:
            row = self._table.get_entity(PARTITION, key)
        except ResourceNotFoundError:
            return Window(), None
        window = Window(_number(row.get("windowStart")), max(0, int(_number(row.get("used")))),
                        _number(row.get("pausedUntil")))  # fmt: skip
        return window, row.metadata.get("etag")

    def _write(self, key: str, window: Window, etag: str | None) -> None:
        self.operations += 1
        entity: dict[str, Any] = {"PartitionKey": PARTITION, "RowKey": key, "windowStart": window.start,
                                  "used": window.used, "pausedUntil": window.paused_until}  # fmt: skip
        if etag is None:
            self._table.create_entity(entity)
        else:
            self._table.update_entity(entity, mode=UpdateMode.REPLACE, etag=etag,
                                      match_condition=MatchConditions.IfNotModified)  # fmt: skip


def budget_key(tenant: str, service: str, scope: str = "") -> str:
    """A budget's row key: the tenant and service, and the resource it is kept per when it has a scope. A scope is
    an id from an operation URL, so the characters Table storage refuses in a key are replaced."""
    if not scope:
        return f"{tenant}|{service}"
    return f"{tenant}|{service}|" + "".join("_" if c in KEY_UNSAFE or ord(c) < 32 else c for c in scope)[:512]


#: Characters a Table storage key may not hold.
KEY_UNSAFE = frozenset("/\\#?")


def spread(limit: Limit) -> float:
    """A little more wait, so the steps that found a long window spent do not all come back at its first second;
    none for windows of a few seconds, which a queue's whole-second delays already spread."""
    return random.uniform(0, min(5.0, limit.window / 10)) if limit.window >= 10 else 0.0


def _number(raw: object) -> float:
    """A row's number; anything else (text, NaN, infinity, a count beyond a float) reads as 0."""
    value = getattr(raw, "value", raw)  # the SDK's EntityProperty for an Int64
    if not isinstance(value, int | float) or isinstance(value, bool):
        return 0.0
    try:
        number = float(value)
    except OverflowError:
        return 0.0
    return number if math.isfinite(number) else 0.0
