"""Graph's throttling limits as one budget per tenant and service, shared by every worker: pure arithmetic.

Graph throttles per app and tenant, per service, and some services are tight (eDiscovery: five requests a
minute). Each budget is a fixed window (:class:`Limit`): a step may poll while the window has requests left,
else it waits for the next window without calling Graph. A 429 from a service pauses the whole budget until
Graph's Retry-After (or the service's usual wait, when it sends none), so the other trackings of that tenant
and service stop too, rather than each meeting its own 429. The window's state lives in the deployment's
state table (:mod:`graphops.pacing.budget_store`); the decisions here are tested without it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

from graphops.common.errors import SettingsError

#: The share of a documented limit graphops uses: the rest is left for the app's other callers (and clock skew).
MARGIN = 0.8
#: The longest a 429 pauses a whole budget: the throttled tracking itself waits out all of Graph's Retry-After,
#: but one answer (or one odd header) never stops a tenant's other trackings of the service for longer.
MAX_PAUSE = 600.0


@dataclass(frozen=True)
class Limit:
    """A service's documented limit for one app in one tenant: ``requests`` per ``window`` seconds."""

    requests: int
    window: float
    #: How long to pause after a 429 that carries no Retry-After (data exports send none).
    pause_without_retry_after: float
    source: str  # where Graph documents it

    def budget(self, margin: float = MARGIN) -> int:
        return max(1, math.floor(self.requests * margin))


#: Where Graph documents its limits: https://learn.microsoft.com/graph/throttling-limits (microsoft-graph-docs-contrib,
#: concepts/throttling-limits.md and its includes/throttling-*.md); each entry names its section there.
THROTTLING_PAGE = "learn.microsoft.com/graph/throttling-limits"

#: Graph's documented limits, per app per tenant unless the source says otherwise. A service with a ``scope`` (a
#: chat) is budgeted per tenant and per that resource, beside its tenant-wide budget.
LIMITS: Mapping[str, Limit] = {
    # Teams: "other GET" calls 30 per second per app per tenant; its operations are such calls. A sustained limit
    # of about 83% of each listed value is also evaluated over a longer window: the 80% margin keeps under it.
    "teams": Limit(30, 1.0, 30.0, f"{THROTTLING_PAGE}#microsoft-teams-service-limits: default GET, 30 rps per app "
                                  "per tenant (sustained: about 83% over a longer window)"),
    # Teams per resource: 1 request a second per app per tenant on one chat or channel (a chat's operations).
    "teamsChat": Limit(1, 1.0, 30.0, f"{THROTTLING_PAGE}#microsoft-teams-service-limits: default GET, 1 rps per "
                                     "chat or channel"),
    # eDiscovery (Purview): 5 requests per minute per app per tenant ... a few a minute for case operations.
    "ediscovery": Limit(5, 60.0, 60.0, f"{THROTTLING_PAGE}#security-ediscovery-service-limits: per app per tenant"),
    # Personal data exports: 10,000 requests an hour per tenant, and a 429 without Retry-After.
    "dataExport": Limit(10_000, 3600.0, 60.0, f"{THROTTLING_PAGE}#identity-and-access-data-policy-operation-service-"
                                              "limits: any other request, per tenant"),
    # SharePoint and OneDrive: resource units per minute per app per tenant; the smallest tenant tier's 1,200,
    # a GET of an operation costing one unit.
    "sharepoint": Limit(1_200, 60.0, 60.0, "learn.microsoft.com/sharepoint/dev/general-development/how-to-avoid-"
                                           "getting-throttled-or-blocked-in-sharepoint-online: resource units per "
                                           "app per tenant per minute"),
    # Identity and access: resource units per 10 s per app per tenant, the smallest tenant's 3,500; a GET of an
    # operation costing one unit. (Its write quota, 35,000 per 5 minutes per app, counts starts, not polls.)
    "identity": Limit(3_500, 10.0, 10.0, f"{THROTTLING_PAGE}#identity-and-access-service-limits: resource unit "
                                         "quota per app per tenant, small tenant"),
    # Places: get operation, list operations and upsert places, three calls a second.
    "places": Limit(3, 1.0, 1.0, f"{THROTTLING_PAGE}#places-service-limits: three calls per second"),
    # Purview audit log queries: at least 200 submissions a day per tenant, counted over a rolling 24 hours. Counts
    # starts (graphops.pacing.audit_queries), not polls: no kind's polls are budgeted by it.
    "auditLogQuery": Limit(200, 86_400.0, 3600.0, f"{THROTTLING_PAGE}#security-audit-log-query-service-limits: "
                                                  "at least 200 submissions per day per tenant, rolling 24 hours"),
}  # fmt: skip


@dataclass(frozen=True)
class Window:
    """A budget's state: the window it counts in, what it used, and a pause a 429 set."""

    start: float = 0.0  # seconds since the epoch
    used: int = 0
    paused_until: float = 0.0


@dataclass(frozen=True)
class Slot:
    """The answer to "may I poll now?": go (and the window with this request counted), or wait this long."""

    go: bool
    wait: float = 0.0
    window: Window | None = None  # the state to write when going


def take(window: Window, limit: Limit, now: float, margin: float = MARGIN) -> Slot:
    """May a step poll now? Counts the request in the window when it may. A pause further off than graphops ever
    sets one is not graphops' (a garbled row, a clock far off): it is not believed."""
    if now < window.paused_until <= now + MAX_PAUSE:
        return Slot(False, window.paused_until - now)
    start = math.floor(now / limit.window) * limit.window
    if start < window.start <= start + limit.window:
        start = window.start  # a worker whose clock is a little ahead opened the next window: count in it
    used = max(0, window.used) if window.start == start else 0
    if used >= limit.budget(margin):
        return Slot(False, start + limit.window - now)
    return Slot(True, 0.0, replace(window, start=start, used=used + 1))


def paused(window: Window, until: float) -> Window:
    """The budget after a 429: nobody polls the service before ``until`` (a later pause is kept)."""
    return replace(window, paused_until=max(window.paused_until, until))


def pause_after(limit: Limit, retry_after: float | None) -> float:
    """How long a 429 pauses the budget: Graph's Retry-After, or the service's usual wait when it sent none; at
    most :data:`MAX_PAUSE`."""
    wait = retry_after if retry_after is not None and retry_after > 0 else limit.pause_without_retry_after
    return min(wait, MAX_PAUSE)


def parse_budgets(raw: str, setting: str = "GRAPHOPS_THROTTLE_BUDGETS") -> dict[str, Limit]:
    """``service=requests/seconds,...`` overriding documented limits (before the margin), e.g. a tenant whose
    SharePoint tier allows more: ``sharepoint=6000/60``."""
    limits = dict(LIMITS)
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        name, _, value = item.partition("=")
        requests, _, seconds = value.partition("/")
        if name not in LIMITS:
            raise SettingsError(setting, f"{name!r} is not a service with a budget; use some of {', '.join(LIMITS)}")
        if not (requests.isdigit() and seconds.isdigit() and int(requests) > 0 and int(seconds) > 0):
            raise SettingsError(setting, f"{item!r}: expected {name}=<requests>/<seconds>, both whole and positive")
        limits[name] = replace(LIMITS[name], requests=int(requests), window=float(seconds))
    return limits
