"""Graph's throttling limits as one budget per tenant and service, shared by every worker: pure arithmetic.

Graph throttles per app and tenant, per service, and some services are tight (eDiscovery: five requests a
minute). A budget holds in every window of the limit's length, wherever it starts (a sliding window, not a clock
minute), counted when requests arrive. A worker leases a rate — at most ``count`` requests in any window, sent
within [start, end] — and spends it locally, sending while its own log of sends stays under the rate; a lease lives
a few seconds near the limit and up to three windows far from it, and is extended by a new lease, shrunk, or
handed back. Each worker writes only its own row of a budget; a lease is claimed by writing it, then reading every
row, and stands when every window it overlaps holds with every lease read (:func:`stands` says why that is safe
whatever the interleaving). Workers share a budget at its limit by fair shares computed alike from the rows, room
freed going first to the workers that have waited longest (:func:`decide`), so that two rarely claim the same room.
A 429 from a service pauses the whole budget until Graph's Retry-After (or the service's usual wait, when it sends
none), so the other trackings of that tenant and service stop too, rather than each meeting its own 429. The rows
live in the deployment's state table (:mod:`graphops.pacing.budget_store`); the decisions here are tested
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
#: While nobody waits a worker leases at least this many requests a window, or :data:`FIRST_SHARE` of the budget
#: when that is more, half of it at most (identity: 350 a 10 s window, a worker polling 30 times a second): a busy
#: worker then takes one lease for a far lease's life rather than a lease that grows by steps, each step a write and
#: two reads; a worker that polls less shrinks it once a window has shown its pace.
LARGE_LEASE = 100
FIRST_SHARE = 1 / 8
#: How long a lease lasts near its limit, in seconds: short, so that a pause another worker writes after a 429 is
#: seen within it, a worker above its fair share gives room back within it, and a worker that dies holding one
#: holds it only that long (and a window more).
LEASE_LIFE = 5.0
#: Far from its limit (half the budget still free with the lease, nobody waiting) a lease lasts three windows, and
#: at most this long: a busy worker writes a lease per 30 s of its polls (at 20 polls a second, a lease per 600),
#: and what a worker that dies then holds back was not needed by anyone.
FAR_LEASE_LIFE = 30.0
FAR_WINDOWS = 3
#: How long after it is sent a request may still reach Graph (a slow connect, a retried send): Graph counts a
#: request when it arrives, so a lease counts its requests in every window up to this long after its last one may
#: be sent. A second at most (beyond it the 20% margin covers a straggler); half the window for a short one (teams'
#: one-second window: half a second). A worker's rate holds over the window and this allowance, so a short window's
#: allowance is a trade: half a second costs a worker a third of its rate there, a quarter second a fifth. With a
#: quarter second a loaded host's throttling run put 26 requests in one of teams' seconds against its 24; with half
#: a second, 25 (docs/performance.md, section 6): late arrivals are not all of it, and the margin covers the rest.
ARRIVAL = 1.0
#: How long past the moment a waiting worker said it would come back its wait note still holds its place in the
#: queue: a queue's delivery is late by a few seconds at times; a worker that never comes back (it died, or its
#: trackings ended) stops holding room for itself that long after.
NOTE_GRACE = 10.0
#: The least a worker that may not lease waits: a queue's shortest delay (room that is free but owed to a waiter
#: ahead is not this worker's before that waiter has had its chance).
QUEUE_WAIT = 1.0
#: How long a row whose leases, note and pause have all stopped counting stays before a reader deletes it: long
#: enough that a worker between two bursts keeps its row (its next write would make it again anyway).
GARBAGE_AFTER = 60.0


@dataclass(frozen=True)
class Lease:
    """A rate: at most ``count`` requests in any window of the limit's length, sent by one worker (``holder``)
    within [start, end - arrival] and so reaching Graph within [start, end] (seconds since the epoch)."""

    start: float
    end: float
    count: int
    holder: str = ""


@dataclass(frozen=True)
class Row:
    """One worker's row of a budget: its leases that may still count, how many requests a window it would use, its
    place in the queue while it waits (since when, and until when it said it would come back), a 429's pause."""

    holder: str
    leases: tuple[Lease, ...] = ()
    want: int = 0
    waiting_since: float = 0.0  # 0: not waiting
    note_until: float = 0.0
    paused_until: float = 0.0

    def waiting(self, now: float) -> bool:
        return self.waiting_since > 0 and self.note_until > now

    def running(self, now: float) -> bool:
        return any(lease.end > now for lease in self.leases)


@dataclass(frozen=True)
class Demand:
    """A worker that wants requests: how many a window, and since when it waits (infinity: it holds a lease)."""

    holder: str
    want: int
    since: float = math.inf


@dataclass(frozen=True)
class Decision:
    """The answer to "may I lease requests now?": how many a window (0: wait ``wait`` seconds), and whether the
    budget is far from its limit with them (the lease may then live long)."""

    count: int
    wait: float = 0.0
    far: bool = False


def lease_life(limit: Limit) -> float:
    """How long a lease lasts near the limit: :data:`LEASE_LIFE`."""
    return LEASE_LIFE


def far_life(limit: Limit) -> float:
    """How long a lease lasts far from the limit: three windows, at most :data:`FAR_LEASE_LIFE` (never shorter than
    a lease near the limit)."""
    return max(LEASE_LIFE, min(FAR_LEASE_LIFE, FAR_WINDOWS * limit.window))


def arrival(limit: Limit) -> float:
    """How long after its last request may be sent a lease still counts: :data:`ARRIVAL`, or half the
    window when that is shorter."""
    return min(ARRIVAL, limit.window / 2)


def wanted(budget: int, asked: int, sent: int) -> int:
    """How many requests a window a worker asks a lease for, having asked for ``asked`` polls and sent ``sent`` in the
    last window (and the arrival allowance): twice what it asked for, at most the budget. Of a small budget, a
    request at a time: one more than it sent (a lease counts a worker's most in a window, so each lease adds one
    request to what it holds)."""
    if budget <= SMALL_BUDGET:
        return min(budget, sent + 1)
    return min(budget, max(1, 2 * asked))


def first_lease(budget: int) -> int:
    """The least a worker leases of a large budget while nobody waits: :data:`LARGE_LEASE` or :data:`FIRST_SHARE` of
    it, half the budget at most (room for another), so that a busy worker need not grow its lease by steps."""
    return min(max(LARGE_LEASE, math.floor(budget * FIRST_SHARE)), budget // 2)


def shrunk(count: int, asked: int) -> int:
    """What a far lease of ``count`` a window shrinks to once the worker's pace is known (``asked`` polls in the
    last window and arrival allowance): twice that when it is less than half the lease, else the lease as it is."""
    fits = max(1, 2 * asked)
    return fits if 2 * fits <= count else count


def load(leases: Iterable[Lease], at: float, window: float) -> int:
    """The most requests ``leases`` may put in the window of ``window`` seconds that ends just after ``at``: of
    each worker, the most of its leases that overlap the window (a lease overlaps it when it began by ``at`` and
    had not ended a whole window before); a lease that names no worker counts on its own.

    Why one worker's leases count their most, not their sum: a worker sends under its lease only while it has sent
    fewer than the lease's count in the trailing window and arrival allowance (:func:`send_wait`). Take any window
    [a, a + window) of arrivals, and its requests' last send t < a + window: they were all sent at or after
    a - arrival, so within (t - window - arrival, t], which the lease in force at t bounded by its count. That
    lease overlaps the window, so the window holds no more than the most of the worker's leases overlapping it."""
    most: dict[str, int] = {}
    total = 0
    for lease in leases:
        if lease.start <= at and lease.end + window > at:
            if lease.holder:
                most[lease.holder] = max(most.get(lease.holder, 0), lease.count)
            else:
                total += lease.count
    return total + sum(most.values())


def peak(leases: Sequence[Lease], start: float, end: float, window: float) -> int:
    """The most requests ``leases`` may put in any one window that overlaps [start, end]. Sliding the window's end
    from just after ``start`` to ``end + window``, its count grows only where a lease begins (and shrinks where
    one leaves it), so the most is at the first window or at a window ending just after some lease's start."""
    ends = [start, *(lease.start for lease in leases if start < lease.start < end + window)]
    return max(load(leases, at, window) for at in ends)


def fair_shares(budget: int, demands: Sequence[Demand]) -> dict[str, int]:
    """Each worker's share of the budget: max-min fair (no worker gets more than it wants, and what one does not
    want is shared evenly by the rest), in whole requests; what is left of the division goes a request each to the
    workers that have waited longest, then to the lease holders by name. Every worker that reads the same rows
    computes the same shares, and together they never exceed the budget."""
    ordered = sorted(demands, key=lambda demand: demand.want)
    level, left = max((demand.want for demand in ordered), default=0), budget
    for n, demand in enumerate(ordered):
        even = left // (len(ordered) - n)
        if demand.want > even:  # this one and every one after it wants more than an even share of what is left
            level = even
            break
        left -= demand.want
    shares = {demand.holder: min(demand.want, level) for demand in demands}
    left = budget - sum(shares.values())
    for demand in sorted(demands, key=lambda demand: (demand.since, demand.holder)):
        if left <= 0:
            break
        if shares[demand.holder] < demand.want:
            shares[demand.holder] += 1
            left -= 1
    return shares


def paused_until(rows: Iterable[Row], now: float) -> float:
    """The latest pause of the rows that graphops could have set (one further off than :data:`MAX_PAUSE` is not
    believed: a garbled row, a clock far off); 0 when none is in force."""
    pauses = [row.paused_until for row in rows if now < row.paused_until <= now + MAX_PAUSE]
    return max(pauses, default=0.0)


def decide(
    rows: Sequence[Row], holder: str, want: int, since: float, held: int, budget: int, window: float, now: float,
    span: float, least: int = 0,
) -> Decision:  # fmt: skip
    """How many requests a window worker ``holder`` may lease now, for ``span`` seconds (its life and the arrival
    allowance), from the budget's rows as it read them: its fair share among the workers that want some (lease
    holders and waiters), no more than the room the others' leases leave in every window it would overlap, and
    after the waiters ahead of it in the queue (those waiting since earlier) have had theirs. A worker that holds a
    lease (``held`` a window; ``since`` infinity) keeps up to it while the room allows, and grows only into room
    no waiter is owed; while nobody waits it may lease ahead of its pace, up to ``least`` (and half the room). None:
    wait until the room the queue ahead needs and one request more is free."""
    pause = paused_until(rows, now)
    if pause > now:
        return Decision(0, pause - now)
    theirs = [lease for row in rows if row.holder != holder for lease in row.leases if lease.end + window > now]
    free = budget - peak(theirs, now, now + span, window)
    demands = [
        Demand(row.holder, row.want, row.waiting_since if row.waiting(now) else math.inf)
        for row in rows
        if row.holder != holder and row.want > 0 and (row.waiting(now) or row.running(now))
    ]
    shares = fair_shares(budget, [*demands, Demand(holder, want, since)])
    waiters = [demand for demand in demands if demand.since < math.inf]
    ahead = [demand for demand in waiters if (demand.since, demand.holder) < (since, holder)]
    owed = sum(shares[demand.holder] for demand in ahead)
    count = min(shares[holder], max(min(held, free), free - owed))
    if not waiters and budget > SMALL_BUDGET:  # nobody waits: ahead of its pace, up to ``least`` and half the room
        count = max(count, min(least, free // 2))
    if count >= 1:
        far = budget > SMALL_BUDGET and not waiters and 2 * (free - count) >= budget
        return Decision(count, 0.0, far)
    # The queue ahead takes a budget a window at most: its shares, and a request each for those whose share is none
    # (a small budget among many waiters).
    queued = sum(max(1, shares[demand.holder]) for demand in ahead)
    turn = window * (queued // budget)
    room = room_at(theirs, budget, window, now, span, min(budget, owed + 1))
    return Decision(0, max(QUEUE_WAIT, turn, room - now))


def room_at(leases: Sequence[Lease], budget: int, window: float, now: float, span: float, needed: int) -> float:
    """When ``needed`` requests a window next fit beside ``leases`` for ``span`` seconds: at the first moment some
    lease stops counting in the windows such a lease would overlap (a window after its end) that leaves room. Once
    the last has left every window, there is room (``needed`` is never more than the budget)."""
    leaving = sorted({lease.end + window for lease in leases if lease.end + window > now})
    last = leaving[-1] if leaving else now
    return next((at for at in leaving if budget - peak(leases, at, at + span, window) >= needed), last)


def stands(rows: Iterable[Row], claim: Lease, budget: int, window: float) -> bool:
    """Whether a claim stands: every window it overlaps stays within the budget, counting every lease in the rows
    read after the claim was written (the claim itself, the worker's other leases and every other worker's,
    standing or not).

    Why that holds every window with any interleaving, whatever the clocks: a claim is written before its rows are
    read. Of the claims that stand and overlap a given window, take the one whose read came last: every other was
    written before its own read, so before that last read, which saw them all (or, shrunk since, leases that still
    bound what their workers send) and found the window within the budget. Leases are only made by claims; a
    shrink, a hand-back or a withdrawal only lowers what a row counts, and needs no check."""
    leases = [lease for row in rows for lease in row.leases if lease.holder != claim.holder]
    mine = [lease for row in rows if row.holder == claim.holder for lease in row.leases]
    return peak([*leases, *mine, claim], claim.start, claim.end, window) <= budget


def send_wait(sent: Sequence[float], count: int, window: float, arrival: float, now: float) -> float:
    """0 when a worker may send a request now under a lease of ``count`` a window, having sent at ``sent`` (in
    order): fewer than ``count`` sent within the trailing window and arrival allowance (so that, with this one, no
    window of arrivals holds more than ``count`` of its requests: see :func:`load`); else the seconds until the
    oldest of the last ``count`` leaves it."""
    if count <= 0:
        return math.inf
    recent = [at for at in sent if at > now - window - arrival]
    if len(recent) < count:
        return 0.0
    return recent[-count] + window + arrival - now


def handed_back(leases: Iterable[Lease], lease: Lease, last: float | None, arrival: float) -> tuple[Lease, ...]:
    """A worker's leases once it stops sending under ``lease``: it ends when its last request (sent at ``last``)
    may have arrived, and is gone when none was sent under it (a shrink: never more than before)."""
    kept = [other for other in leases if other != lease]
    if last is not None:
        kept.append(replace(lease, end=min(lease.end, max(lease.start, last) + arrival)))
    return tuple(sorted(kept, key=lambda other: other.start))


def counting(leases: Iterable[Lease], now: float, window: float) -> tuple[Lease, ...]:
    """The leases that can still count in a window that ends after ``now``: those ended less than a window ago."""
    return tuple(lease for lease in leases if lease.end + window > now)


def garbage(row: Row, window: float, now: float) -> bool:
    """Whether a row is a gone worker's: nothing in it (lease, wait note, pause) has counted for
    :data:`GARBAGE_AFTER` seconds. Deleting it then changes no decision."""
    quiet = max([lease.end + window for lease in row.leases] + [row.note_until, row.paused_until])
    return quiet + GARBAGE_AFTER <= now


def believable(lease: Lease, window: float) -> bool:
    """A lease graphops could have written: at least one request, over a span of at most a far lease's life and
    the arrival allowance (a longer one, from a garbled row, would hold the budget back for as long as it
    claims)."""
    return lease.count >= 1 and lease.start <= lease.end <= lease.start + FAR_LEASE_LIFE + ARRIVAL + 0.002


def stored_leases(raw: object, window: float, holder: str = "") -> tuple[Lease, ...]:
    """A row's leases as stored (JSON ``[[start, end, count], ...]``, ``holder`` being the row's worker), for a
    budget of ``window`` seconds. What is not a lease graphops could have written (not three items, a number that
    is none — text, NaN, infinity, a count not whole — a span :func:`believable` refuses) is left out rather than
    failing a step or holding the budget back: the workers and the operator's view read a row alike."""
    try:
        items = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        return ()
    leases = []
    for item in items if isinstance(items, list) else []:
        if not (isinstance(item, list) and len(item) == 3):
            continue
        start, end, count = (_finite(value) for value in item)
        if start is None or end is None or count is None or count != int(count):
            continue
        lease = Lease(start, end, int(count), holder)
        if believable(lease, window):
            leases.append(lease)
    return tuple(leases)


def stored_row(holder: str, entity: Mapping[str, object], window: float) -> Row:
    """A worker's row as stored, read tolerantly (see :func:`stored_leases`; a want that is not a whole number
    reads as none)."""
    want = _finite(getattr(entity.get("want"), "value", entity.get("want")))
    return Row(holder, stored_leases(entity.get("leases"), window, holder),
               int(want) if want is not None and want == int(want) and want > 0 else 0,
               stored_number(entity.get("waitingSince")), stored_number(entity.get("noteUntil")),
               stored_number(entity.get("pausedUntil")))  # fmt: skip


def stored_json(leases: Iterable[Lease]) -> str:
    """Leases as a row keeps them: to the millisecond, a start rounded down and an end up, so a lease read back
    covers at least what it did."""
    return json.dumps([[math.floor(lease.start * 1000) / 1000, math.ceil(lease.end * 1000) / 1000, lease.count]
                       for lease in leases], separators=(",", ":"))  # fmt: skip


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
