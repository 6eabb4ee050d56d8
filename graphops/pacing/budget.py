"""Graph's throttling limits as one budget per tenant and service, shared by every worker: pure arithmetic.

Graph throttles per app and tenant, per service, and some services are tight (eDiscovery: five requests a
minute). A budget holds in every window of the limit's length, wherever it starts (a sliding window, not a clock
minute): a worker leases a share of it — up to ``count`` requests, each made somewhere within [start, end] — and
spends that share locally, without asking the table again; a lease is granted only when every window it overlaps
stays within the budget with it. The worker hands back what it did not use (the lease then counts what it used).
A 429 from a service pauses the whole budget until Graph's Retry-After (or the service's usual wait, when it sends
none), so the other trackings of that tenant and service stop too, rather than each meeting its own 429. The
leases live in the deployment's state table (:mod:`graphops.pacing.budget_store`); the decisions here are tested
without it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping, Sequence
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


#: A budget this small is leased one request at a time: no worker holds back part of a budget of a few.
SMALL_BUDGET = 10
#: While a row is far from its limit a worker leases at least this many requests, so a busy worker spends one
#: table operation (the lease's conditional write) per 100 polls or fewer.
LARGE_LEASE = 100
#: The most of a budget one row holds: a larger budget is split over several rows (shards), each holding its
#: share in every window, so the workers of a deployment meet on several rows rather than all on one.
SHARD_BUDGET = 350
#: The longest a lease lasts, in seconds (half the window at most): short, so a pause another worker writes into
#: the row after a 429 is seen within it, and a worker that dies holding one holds it only that long.
LEASE_LIFE = 5.0
#: How long after it is sent a request may still reach Graph (a slow connect, a retried send): Graph counts a
#: request when it arrives, so a lease counts its requests in every window up to this long after its last one may
#: be sent. A second at most (beyond it the 20% margin covers a straggler); a quarter of the window for a short one
#: (teams' one-second window: a quarter second), so the allowance never takes most of a short window's room.
ARRIVAL = 1.0
#: Far from its limit, a lease lasts up to the window (at most this long): a busy worker then writes a lease per
#: window's worth of its polls, not per half a window.
FAR_LEASE_LIFE = 10.0
#: Near its limit, the least a lease of a large budget is worth a conditional write for, as a share of the row:
#: a worker waits for that much room rather than write a lease of the one or two requests just freed, so the
#: workers of a row at its limit write a few larger leases a second, not one per freed request (each write of a
#: crowded row is one more chance for another worker's to lose).
LEAST_SHARE = 0.05
#: The most leases a row keeps; past it, the two that began first are merged into one covering both (it counts in
#: every window at least what they did, so the budget still holds).
MAX_LEASES = 48


@dataclass(frozen=True)
class Lease:
    """Up to ``count`` requests one worker may make, each somewhere within [start, end] (seconds since the
    epoch); ``holder`` names the lease, so its worker can find it again to hand back what it did not use."""

    start: float
    end: float
    count: int
    holder: str = ""


@dataclass(frozen=True)
class Ledger:
    """A budget row: the leases that may still count in a window, and a pause a 429 set."""

    leases: tuple[Lease, ...] = ()
    paused_until: float = 0.0


@dataclass(frozen=True)
class Grant:
    """The answer to "may I lease requests now?": a lease (and the row to write with it), or a wait."""

    lease: Lease | None
    wait: float = 0.0
    ledger: Ledger | None = None  # the row with the new lease, to write when a lease is granted
    free: int = 0  # what every window the lease overlaps had left before it


def shards(limit: Limit, margin: float = MARGIN) -> int:
    """How many rows a budget is split over: one per :data:`SHARD_BUDGET` of it, and at least one."""
    return max(1, limit.budget(margin) // SHARD_BUDGET)


def shard_budget(limit: Limit, margin: float = MARGIN) -> int:
    """Each row's share: the budget split evenly (a remainder is left unused, so together they stay within it)."""
    return limit.budget(margin) // shards(limit, margin)


def lease_life(limit: Limit) -> float:
    """How long a lease of this service lasts: :data:`LEASE_LIFE`, or half the window when that is shorter."""
    return min(LEASE_LIFE, limit.window / 2)


def arrival(limit: Limit) -> float:
    """How long after its last request may be sent a lease still counts: :data:`ARRIVAL`, or a quarter of the
    window when that is shorter."""
    return min(ARRIVAL, limit.window / 4)


def far_life(limit: Limit) -> float:
    """How long a lease lasts while its row is far from its limit: the window, at most :data:`FAR_LEASE_LIFE`
    (never shorter than a lease near the limit)."""
    return max(lease_life(limit), min(FAR_LEASE_LIFE, limit.window))


def least_lease(budget: int, want: int) -> int:
    """The smallest lease worth a write near the limit: :data:`LEAST_SHARE` of the row, or what the worker asks
    for when that is less; one for a small budget."""
    if budget <= SMALL_BUDGET:
        return 1
    return max(1, min(want, math.floor(budget * LEAST_SHARE)))


def far_from_limit(ledger: Ledger, budget: int, window: float, now: float, span: float) -> bool:
    """Is a row far from its limit for a lease over the next ``span`` seconds: a large budget with at least half
    of it free in every window such a lease would overlap? Then the lease may last up to the window."""
    leases = pruned(ledger.leases, now, window)
    return budget > SMALL_BUDGET and 2 * (budget - peak(leases, now, now + span, window)) >= budget


def load(leases: Iterable[Lease], at: float, window: float) -> int:
    """The most requests ``leases`` may have put in a window of ``window`` seconds that ends just after ``at``:
    all of every lease begun by ``at`` that had not ended a whole window before it."""
    return sum(lease.count for lease in leases if lease.start <= at and lease.end + window > at)


def peak(leases: Sequence[Lease], start: float, end: float, window: float) -> int:
    """The most requests ``leases`` may put in any one window that overlaps [start, end]. Sliding the window's end
    from just after ``start`` to ``end + window``, its count grows only where a lease begins (and shrinks where
    one leaves it), so the most is at the first window or at a window ending just after some lease's start."""
    ends = [start, *(lease.start for lease in leases if start < lease.start < end + window)]
    return max(load(leases, at, window) for at in ends)


def lease_size(budget: int, free: int, want: int, least: int = 1) -> int:
    """How many requests to lease with ``free`` left in every window the lease overlaps: none without room; one of
    a small budget; otherwise what the worker expects to use (at least :data:`LARGE_LEASE` for a worker that asks
    for many while the row is far from its limit), never more than half of what is free, so the next worker finds
    some too — but never fewer than ``least``: with less than that free, none (the worker waits for room)."""
    if free <= 0:
        return 0
    if budget <= SMALL_BUDGET:
        return 1
    floor = LARGE_LEASE if free >= 2 * LARGE_LEASE and want >= LARGE_LEASE // 2 else 1
    count = max(1, min(max(want, floor), free // 2))
    if count >= least:
        return count
    return least if free >= least else 0


def pruned(leases: Iterable[Lease], now: float, window: float) -> tuple[Lease, ...]:
    """The leases that can still count in a window that ends after ``now``: those ended less than a window ago."""
    return tuple(lease for lease in leases if lease.end + window > now)


def compacted(leases: Sequence[Lease]) -> tuple[Lease, ...]:
    """At most :data:`MAX_LEASES` leases: the two that began first merged, again and again, into one that spans
    both and counts both (in every window it counts at least what they did: the budget still holds)."""
    kept = sorted(leases, key=lambda lease: lease.start)
    while len(kept) > MAX_LEASES:
        first, second = kept[0], kept[1]
        merged = Lease(first.start, max(first.end, second.end), first.count + second.count)
        kept = sorted([merged, *kept[2:]], key=lambda lease: lease.start)
    return tuple(kept)


def grant(
    ledger: Ledger,
    budget: int,
    window: float,
    now: float,
    life: float,
    want: int,
    holder: str,
    *,
    arrival: float = 0.0,
    least: int = 1,
) -> Grant:
    """May a worker lease requests now, to send for ``life`` seconds? It may when every window of ``window``
    seconds that the lease would overlap stays within ``budget`` with it; else it waits until ``least`` requests
    would fit. The lease counts until ``arrival`` after ``life``: Graph counts a request when it arrives, and one
    sent at the lease's last moment arrives a little later. A pause further off than graphops ever sets one is not
    graphops' (a garbled row, a clock far off): not believed."""
    if now < ledger.paused_until <= now + MAX_PAUSE:
        return Grant(None, ledger.paused_until - now)
    leases = pruned(ledger.leases, now, window)
    span = life + arrival
    free = budget - peak(leases, now, now + span, window)
    count = lease_size(budget, free, want, least)
    if count == 0:
        return Grant(None, room_at(leases, budget, window, now, span, least) - now, free=free)
    lease = Lease(now, now + span, count, holder)
    return Grant(lease, 0.0, Ledger(compacted((*leases, lease)), ledger.paused_until), free)


def room_at(leases: Sequence[Lease], budget: int, window: float, now: float, life: float, count: int = 1) -> float:
    """When a lease of ``count`` requests next fits: at the first moment some lease stops counting in the windows
    that such a lease would overlap (a window after its end) and that leaves room. Once the last lease has left
    every window, there is room (``count`` is never more than the budget)."""
    leaving = sorted({lease.end + window for lease in leases if lease.end + window > now})
    last = leaving[-1] if leaving else now  # (the same sum as load's, so no rounding keeps a lease in)
    return next((at for at in leaving if peak(leases, at, at + life, window) <= budget - count), last)


def settled(ledger: Ledger, holder: str, used: int, last: float, arrival: float = 0.0) -> Ledger:
    """The row once a worker hands back what it did not use of its lease ``holder``: the lease counts the
    ``used`` requests it made, all sent by ``last`` and arrived by ``arrival`` after it, so it ends there (and is
    gone when none were made)."""
    leases: list[Lease] = []
    for lease in ledger.leases:
        if lease.holder != holder:
            leases.append(lease)
        elif used > 0:
            end = min(lease.end, max(lease.start, last) + arrival)
            leases.append(replace(lease, end=end, count=min(used, lease.count)))
    return replace(ledger, leases=tuple(leases))


def alone(ledger: Ledger, worker: str, now: float) -> bool:
    """Whether no other worker holds a lease of the row that is still running at ``now`` (a worker names its leases
    ``<worker>.<n>``; a merged lease names none, so it is another's): a row others lease from changes under a
    worker between its writes."""
    return all(lease.holder.rpartition(".")[0] == worker for lease in ledger.leases if lease.end > now)


def believable(lease: Lease, window: float) -> bool:
    """A lease graphops could have written: at least one request, over a span of at most two windows (a lease's
    life is half a window at most, and merged leases are among those still counting; a longer one, from a garbled
    row, would hold the budget back for as long as it claims)."""
    return lease.count >= 1 and lease.start <= lease.end <= lease.start + 2 * window


def stored_leases(raw: object, window: float) -> tuple[Lease, ...]:
    """A budget row's leases as stored (JSON ``[[start, end, count, holder], ...]``), for a budget of ``window``
    seconds. What is not a lease graphops could have written (not four items, a number that is none — text, NaN,
    infinity, a count not whole — a holder that is not text, a span :func:`believable` refuses) is left out rather
    than failing a step or holding the budget back: the workers and the operator's view read a row alike."""
    try:
        items = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return ()
    leases = []
    for item in items if isinstance(items, list) else []:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[3], str)):
            continue
        start, end, count = (_finite(value) for value in item[:3])
        if start is None or end is None or count is None or count != int(count):
            continue
        lease = Lease(start, end, int(count), item[3])
        if believable(lease, window):
            leases.append(lease)
    return tuple(leases)


def stored_number(raw: object) -> float:
    """A budget row's number (a pause, a note's until); anything else (text, NaN, infinity, a number beyond a
    float) reads as 0."""
    number = _finite(getattr(raw, "value", raw))  # the SDK's EntityProperty for an Int64
    return 0.0 if number is None else number


def _finite(value: object) -> float | None:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def paused(ledger: Ledger, until: float) -> Ledger:
    """The budget after a 429: nobody polls the service before ``until`` (a later pause is kept)."""
    return replace(ledger, paused_until=max(ledger.paused_until, until))


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
