"""Purview audit log query starts kept within Graph's tenant limits: pure arithmetic.

Graph accepts at least 200 query submissions a day per tenant, counted over a rolling 24 hours, and at least 50
queries queued or running at once (the throttling limits page, "Security audit log query service limits"). A
start of the ``auditLogQuery`` action asks :func:`admit` first: the tenant's ledger keeps when each recent
submission was sent and which of graphops' trackings are still running, with the moment each stops counting
(its deadline). The ledger lives in the state table (:mod:`graphops.pacing.audit_query_store`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphops.pacing.budget import LIMITS, MARGIN, THROTTLING_PAGE, Limit

#: Queued or running audit log queries Graph accepts at once per tenant, at least.
AT_ONCE = 50
AT_ONCE_SOURCE = f"{THROTTLING_PAGE}#security-audit-log-query-service-limits: at least 50 queued or running queries"
#: How long a start refused for the queries running at once waits: one ends when Graph says so, not on a clock.
AT_ONCE_WAIT = 60.0


@dataclass(frozen=True)
class Ledger:
    """A tenant's recent submissions (seconds since the epoch) and running trackings (id -> when it stops
    counting, its deadline: a tracking that ended without saying so frees its place then)."""

    submitted: tuple[float, ...] = ()
    running: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Admission:
    """Go (with the ledger to write), or not now: which limit, and how long until it may have room."""

    go: bool
    limit: str = ""
    wait: float = 0.0
    ledger: Ledger | None = None


def admit(
    ledger: Ledger,
    tracking_id: str,
    until: float,
    now: float,
    daily: Limit = LIMITS["auditLogQuery"],
    at_once: int = AT_ONCE,
    margin: float = MARGIN,
) -> Admission:
    """May ``tracking_id`` submit its query now? Counts it when it may. A tracking already counted (a start
    retried after its answer was lost) is not counted twice."""
    recent = tuple(sorted(t for t in ledger.submitted if now - daily.window < t <= now))
    running = {key: end for key, end in ledger.running.items() if end > now}
    if tracking_id in running:
        return Admission(True, ledger=Ledger(recent, running))
    if len(recent) >= daily.budget(margin):
        wait = recent[len(recent) - daily.budget(margin)] + daily.window - now  # when enough have aged out
        named = f"{daily.requests} audit log query submissions a day per tenant (rolling 24 hours)"
        return Admission(False, named, max(1.0, wait))
    if len(running) >= max(1, math.floor(at_once * margin)):
        return Admission(False, f"{at_once} audit log queries queued or running at once per tenant", AT_ONCE_WAIT)
    return Admission(True, ledger=Ledger((*recent, now), {**running, tracking_id: until}))


def released(ledger: Ledger, tracking_id: str) -> Ledger:
    """The ledger once ``tracking_id``'s query ended: it no longer counts as running (its submission still does)."""
    return Ledger(ledger.submitted, {key: end for key, end in ledger.running.items() if key != tracking_id})
