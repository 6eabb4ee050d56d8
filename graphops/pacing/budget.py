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


#: Graph's documented limits (concepts/throttling-limits.md), per app per tenant.
LIMITS: Mapping[str, Limit] = {
    # Teams: "other GET API calls" 30 per second per app per tenant; its operations are such calls.
    "teams": Limit(30, 1.0, 30.0, "Microsoft Teams service limits: other GET API calls, per app per tenant"),
    # eDiscovery (Purview): 5 requests per minute per app per tenant ... a few a minute for case operations.
    "ediscovery": Limit(5, 60.0, 60.0, "eDiscovery service limits: per app per tenant"),
    # Personal data exports: 10,000 requests an hour per tenant, and a 429 without Retry-After.
    "dataExport": Limit(10_000, 3600.0, 60.0, "Information protection / data policy operation limits: per tenant"),
    # SharePoint and OneDrive: resource units per minute per app per tenant; the smallest tenant tier's 1,200,
    # a GET of an operation costing one unit.
    "sharepoint": Limit(1_200, 60.0, 60.0, "SharePoint throttling: resource units per app per tenant per minute"),
    # Identity and access: resource units per 10 s per app per tenant, the smallest tenant's 3,500; a GET of an
    # operation costing one unit.
    "identity": Limit(3_500, 10.0, 10.0, "Identity and access service limits: per app per tenant"),
}


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
