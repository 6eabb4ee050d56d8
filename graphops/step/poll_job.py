"""The poll job of a step: ask the service's shared budget, read the operation (and, when a v1.0 reset refuses
graphops' token, its beta twin), decide what Graph's answer means, and queue the next poll or hand the
finished tracking to delivery; after success, wait for the created resource when asked to."""

from __future__ import annotations

import logging
import math
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from opentelemetry import trace

from graphops.common.logs import event
from graphops.common.telemetry import instruments
from graphops.envelope.problems import Problem, entry_of, in_a_row, problem_of, say
from graphops.envelope.tracking import Outcome, Phase, Tracking, iso, moment_or_none
from graphops.graph.actions import ACTIONS
from graphops.graph.answer import GraphAnswer
from graphops.graph.kinds import KINDS, resource_url, twin_url
from graphops.graph.reader import GraphClient, TenantAccess
from graphops.pacing.budget_store import Budgets, budget_key
from graphops.pacing.learned import Seen
from graphops.pacing.length_store import Learning
from graphops.pacing.schedule import MAX_QUEUE_DELAY, past_deadline
from graphops.step.chain import Chain, StepResult
from graphops.step.decide import (
    Decision,
    Finish,
    Policy,
    ResourceSeen,
    Twin,
    decide,
    decide_resource,
    observe,
    twin_verdict,
)
from graphops.step.starter import COUNTED_ACTIONS

#: The kinds whose starts are counted in a tenant's ledger while they run (audit log queries).
COUNTED_KINDS = frozenset(ACTIONS[name].kind for name in COUNTED_ACTIONS)


class OperationReader(Protocol):
    def get_operation(self, url: str, select: Sequence[str] = ()) -> GraphAnswer: ...


class ProblemLog:
    """This process's memory of the poll problem it last warned of, per reader (Graph, or the monitors): a problem
    every poll meets (no token, Graph unreachable) is said once at WARNING, not once per poll of every tracking."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._remembered: dict[str, str | None] = {}

    def tell(self, reader: str, problem: Problem | None, **fields: Any) -> None:
        with self._lock:
            said = say(self._remembered.get(reader), problem)
            self._remembered[reader] = said.remembered
        if said.warn and problem is not None:
            event("pollProblem", level=logging.WARNING, reader=reader, code=problem.code, problem=problem.what,
                  **fields)  # fmt: skip
        elif said.cleared:
            event("pollProblemCleared", reader=reader, **fields)


class Polling:
    """Reads operations from Graph (or, without a token, from a drive copy's monitor) for the step."""

    def __init__(
        self,
        *,
        chain: Chain,
        deliver: Callable[[Tracking], StepResult],
        policy: Policy,
        graph: GraphClient,
        monitor: OperationReader | None,
        graph_endpoint: str,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self._chain = chain
        self._deliver = deliver
        self._policy = policy
        self._graph = graph
        self._monitor = monitor  # drive-copy monitors: no token, a caller's URL under the callbacks' rules
        self._graph_endpoint = graph_endpoint
        self._clock = clock
        self._rng = rng
        self._problems = ProblemLog()
        state = chain.state
        # Graph's throttling limits per tenant and service, shared with every other worker through the table.
        self._budgets: Budgets | None = state.budgets(policy.budgets) if state is not None else None
        # Each kind's learned schedule, from the lengths its finished trackings left in the state table.
        self._learning = (
            Learning(state.lengths, lambda kind: policy.kind_schedule(KINDS[kind]).min_delay,
                     lambda kind: kind in KINDS and kind not in policy.fixed)
            if state is not None and policy.learn
            else None
        )  # fmt: skip

    def poll(self, tracking: Tracking) -> StepResult:
        assert tracking.operation_url is not None, "a tracking without an operation URL has finished"
        service = tracking.kind.service if self._budgets is not None and tracking.kind.needs_token else None
        graph = self._graph_for(tracking)
        tenant = graph.tenant() if service else ""
        scoped = tracking.kind.resource_budget if service else None
        scope = tracking.kind.budget_scope(tracking.operation_url)
        if self._budgets is not None and scoped is not None and scope:
            # The resource's own budget first (a chat's one request a second), then the tenant's: a poll waiting for
            # its chat spends no slot of the tenant's.
            wait = self._budgets.wait_before_polling(tenant, scoped[0], scope)
            if wait > 0:
                return self._wait_for_budget(tracking, scoped[0], wait)
        if self._budgets is not None and service:
            wait = self._budgets.wait_before_polling(tenant, service)
            if wait > 0:
                return self._wait_for_budget(tracking, service, wait)
        self._chain.checkpoint("beforeGraph")
        answer: GraphAnswer = self._reader(tracking).get_operation(tracking.operation_url, tracking.polled_select)
        self._chain.checkpoint("afterGraph")
        now = self._clock()
        if answer.status_code == 429 and self._budgets is not None and service:
            # Graph throttled this service for the whole tenant: every worker's trackings of it pause, not each
            # one after its own 429.
            self._paused(tracking, tenant, service, self._budgets.pause(tenant, service, answer.retry_after))
            if scoped is not None and scope:
                until = self._budgets.pause(tenant, scoped[0], answer.retry_after, scope)
                self._paused(tracking, tenant, scoped[0], until, scope)
        if answer.status_code in {401, 403}:
            twin_wait = self._budget_wait(tenant, service, twin_url(tracking.kind, tracking.operation_url))
            if twin_wait > 0:
                # The twin's request counts against the same budget: spent, it is asked once the budget has room.
                refused = tracking.noted(at=iso(now), http=answer.status_code)
                return self._wait_for_budget(refused, service or "", twin_wait)
            tracking, answer = ask_twin(self._reader(tracking), tracking, answer, now)
            if answer.status_code == 429 and self._budgets is not None and service:
                # The twin's 429 throttles the service too.
                self._paused(tracking, tenant, service, self._budgets.pause(tenant, service, answer.retry_after))
        tracking = observe(tracking, answer)
        policy = replace(self._policy, learned=self._learning.schedules()) if self._learning else self._policy
        decision = decide(tracking, answer, now, policy, self._rng)
        if tracking.tenant_id is not None:
            decision = in_tenant(decision, graph.access)
        event(
            "poll",
            trackingId=tracking.tracking_id,
            kind=tracking.kind.name,
            tenantId=tracking.tenant_id,
            httpStatus=answer.status_code,
            status=tracking.last_status if answer.status_code == 200 else None,
            polls=tracking.polls,
            problem=tracking.last_error.message if tracking.last_error else None,
            graphRequestId=answer.request_id,
            clientRequestId=answer.client_request_id,
            decision=type(decision).__name__,
            nextPollSeconds=getattr(decision, "delay", None),
        )
        problem = problem_of(answer)
        self._problems.tell("graph" if tracking.kind.needs_token else "monitor", problem,
                            trackingId=tracking.tracking_id, kind=tracking.kind.name)  # fmt: skip
        tracking = tracking.noted(
            at=iso(now), http=answer.status_code, status=tracking.last_status if answer.status_code == 200 else None,
            retryAfter=answer.retry_after, next=getattr(decision, "delay", None),
            outcome=str(decision.outcome) if isinstance(decision, Finish) else None,
            schedule=getattr(decision, "schedule", None),
            problem=entry_of(problem, in_a_row(tracking.history, problem)),
        )  # fmt: skip
        polled(tracking, answer.status_code, decision, now)
        if isinstance(decision, Finish):
            finished = tracking.finish(decision.outcome, decision.error, now)
            self._learn_length(finished)
            if tracking.kind in COUNTED_KINDS and self._chain.state is not None:
                # Its query no longer counts among the tenant's running ones (graphops.pacing.audit_queries).
                self._chain.state.audit_queries.release(graph.tenant(), tracking.tracking_id)
            if decision.outcome is Outcome.SUCCEEDED and tracking.wait_for_resource:
                return self._start_waiting_for_resource(finished, now)
            return self._deliver(finished)
        if decision.wait is not None:
            tracking = replace(tracking, not_before=now + timedelta(seconds=decision.wait))
        following = self._chain.next(tracking, decision.delay, now)
        return StepResult(tracking.tracking_id, "pollAgain", following, decision.delay, decision.reason)

    def _paused(self, tracking: Tracking, tenant: str, service: str, until: float | None, scope: str = "") -> None:
        """Notes whose 429 paused the budget, so the budgets page names it (the budget rows keep no holder's name)."""
        if until is not None and self._chain.state is not None:
            self._chain.state.note_pause(budget_key(tenant, service, scope), tracking.tracking_id, until)

    def _budget_wait(self, tenant: str, service: str | None, twin: str | None) -> float:
        """The wait before the twin may be asked: 0 when there is no twin, no budget, or a slot (now counted)."""
        if twin is None or self._budgets is None or not service:
            return 0.0
        return self._budgets.wait_before_polling(tenant, service)

    def _wait_for_budget(self, tracking: Tracking, service: str, wait: float) -> StepResult:
        """The service's budget for this tenant is spent (or paused by a 429): wait for its next slot without
        asking Graph. Not a poll: it counts nowhere but in the history."""
        now = self._clock()
        remaining = (tracking.deadline - now).total_seconds()
        wanted = min(max(1, math.ceil(wait)), MAX_QUEUE_DELAY)  # a budget waits minutes at most; the queue, 7 days
        delay = wanted if wanted < remaining else max(1, past_deadline(remaining))
        event("budgetWait", trackingId=tracking.tracking_id, kind=tracking.kind.name, service=service,
              nextPollSeconds=delay)  # fmt: skip
        noted = tracking.noted(at=iso(now), budget=service, next=delay)
        following = self._chain.next(noted, delay, now)
        return StepResult(tracking.tracking_id, "wait", following, delay, f"the {service} budget is spent")

    def _learn_length(self, finished: Tracking) -> None:
        """An operation that Graph saw end adds its length to its kind's history: from when graphops began tracking
        it to the middle of the last wait (it ended somewhere in it). One seen ending at the first poll, or kept
        without a history, says nothing."""
        length = length_seen(finished)
        if self._learning is not None and length is not None and finished.operation_url and finished.finished_at:
            seen = Seen(length, finished.finished_at.timestamp(), length_source(finished))
            self._learning.record(finished.kind.name, finished.operation_url, seen)

    def _graph_for(self, tracking: Tracking) -> GraphClient:
        """The Graph client of the tracking's tenant: the home tenant's, or a customer tenant's own (its own token)."""
        return self._graph if tracking.tenant_id is None else self._graph.for_tenant(tracking.tenant_id)

    def _reader(self, tracking: Tracking) -> OperationReader:
        """The Graph client, with its token, for Graph URLs; the monitor client, with none, for the others."""
        if tracking.kind.needs_token:
            return self._graph_for(tracking)
        if self._monitor is None:
            raise RuntimeError("no monitor client configured for token-less operation kinds")
        return self._monitor

    def _start_waiting_for_resource(self, tracking: Tracking, now: datetime) -> StepResult:
        """Succeeded, and the caller asked to hear only once the created resource answers: wait for it."""
        if self._resource_url(tracking) is None:
            return self._deliver(tracking)  # the kind names no resource graphops can read: say so (null)
        remaining = (tracking.deadline - now).total_seconds()
        if remaining <= 0:
            return self._deliver(replace(tracking, resource_ready=False))
        delay = min(self._policy.schedule_for(tracking.kind).min_delay, int(remaining))
        following = self._chain.next(replace(tracking, phase=Phase.AWAITING_RESOURCE), delay, now)
        return StepResult(tracking.tracking_id, "awaitResource", following, delay, "succeeded; waiting for resource")

    def _resource_url(self, tracking: Tracking) -> str | None:
        location = tracking.kind.resource_of(tracking.operation)
        return resource_url(tracking.kind, location, self._graph_endpoint)

    def await_resource(self, tracking: Tracking) -> StepResult:
        url = self._resource_url(tracking)
        if url is None:
            return self._deliver(replace(tracking, phase=Phase.DELIVERING))
        if self._clock() >= tracking.deadline:  # the last wait ended past it: not ready, without asking again
            return self._deliver(replace(tracking, phase=Phase.DELIVERING, resource_ready=False))
        answer = self._graph_for(tracking).get_operation(url)
        now = self._clock()
        decision = decide_resource(tracking, answer, now, self._policy, self._rng)
        event(
            "resource",
            trackingId=tracking.tracking_id,
            kind=tracking.kind.name,
            httpStatus=answer.status_code,
            graphRequestId=answer.request_id,
            clientRequestId=answer.client_request_id,
            ready=decision.ready if isinstance(decision, ResourceSeen) else None,
            nextPollSeconds=getattr(decision, "delay", None),
        )
        problem = problem_of(answer)
        self._problems.tell("graph", problem, trackingId=tracking.tracking_id, kind=tracking.kind.name)
        tracking = tracking.noted(at=iso(now), resource=answer.status_code, next=getattr(decision, "delay", None),
                                  problem=entry_of(problem, in_a_row(tracking.history, problem)))  # fmt: skip
        if isinstance(decision, ResourceSeen):
            return self._deliver(replace(tracking, phase=Phase.DELIVERING, resource_ready=decision.ready))
        following = self._chain.next(tracking, decision.delay, now)
        return StepResult(tracking.tracking_id, "awaitResource", following, decision.delay, decision.reason)


# The outcomes whose moment is the operation's own end (not graphops' deadline, a refusal or a cancel).
ENDED_IN_GRAPH = frozenset({Outcome.SUCCEEDED, Outcome.PARTIALLY_SUCCEEDED, Outcome.FAILED})


def in_tenant(decision: Decision, access: TenantAccess | None) -> Decision:
    """A tracking in a customer tenant that ends ``forbidden`` says which tenant and which app lack the permission."""
    if access is None or not isinstance(decision, Finish) or decision.outcome is not Outcome.FORBIDDEN:
        return decision
    if decision.error is None or access.tenant_id in decision.error.message:
        return decision
    return replace(decision, error=replace(decision.error, message=f"{decision.error.message}, {access.where}"))


def length_seen(finished: Tracking) -> float | None:
    """How long the operation ran as graphops saw it, or None when that says nothing of its kind."""
    if finished.outcome not in ENDED_IN_GRAPH or finished.finished_at is None or finished.polls < 2:
        return None
    if finished.history is None:
        return None  # kept without a state (GRAPHOPS_RECORD_QUEUE_TRACKINGS=false): its last wait is not known
    polls = [moment_or_none(entry.get("at")) for entry in finished.history or () if "http" in entry]
    seen = [moment for moment in polls if moment is not None]
    last_wait = (seen[-1] - seen[-2]).total_seconds() if len(seen) >= 2 else 0.0
    length = (finished.finished_at - finished.tracked_since).total_seconds() - last_wait / 2
    return length if length > 0 else None


def length_source(tracking: Tracking) -> str:
    """Who a length comes from, so that one source's burst counts as one share of its kind's history: the host
    its outcome is called back to. That host is what a caller cannot vary without owning receivers (the
    callback policy vets it), while its path and query differ per run (Logic Apps' are per workflow run) and
    the correlation id and context are whatever the caller writes. Trackings without a callback (events or the
    results queue only) come from the deployment's own producers: one source together."""
    host = urlsplit(tracking.callback_url).hostname if tracking.callback_url else None
    return host.lower() if host else "(no callback)"


def ask_twin(
    reader: OperationReader, tracking: Tracking, refusal: GraphAnswer, now: datetime
) -> tuple[Tracking, GraphAnswer]:
    """A version that refused the token may have a twin that takes it (v1.0 authentication operations document
    delegated permissions only, beta an application permission): ask it. When it shows the operation, the
    tracking reads the twin from then on, and its URL (and history) says which version answered. When it refuses
    too (401, 403, 404), the first refusal stands. When it says nothing yet (429, 5xx, no answer), its answer is
    the poll's, so the tracking polls again after its Retry-After and asks again (:func:`twin_verdict`)."""
    twin = twin_url(tracking.kind, tracking.operation_url) if tracking.operation_url else None
    if twin is None:
        return tracking, refusal
    answer = reader.get_operation(twin, tracking.polled_select)
    verdict = twin_verdict(answer)
    event("twinAsked", trackingId=tracking.tracking_id, kind=tracking.kind.name, refused=refusal.status_code,
          httpStatus=answer.status_code, graphRequestId=answer.request_id, verdict=str(verdict))  # fmt: skip
    version = urlsplit(twin).path.split("/")[1]
    if verdict is Twin.SHOWS:
        noted = tracking.noted(at=iso(now), http=refusal.status_code, twin=version)
        return replace(noted, operation_url=twin), answer
    noted = tracking.noted(at=iso(now), http=answer.status_code, twin=version)
    return noted, refusal if verdict is Twin.REFUSES else answer


def polled(tracking: Tracking, http_status: int | None, decision: object, now: datetime) -> None:
    """A poll's span attributes and metrics: the count by kind and status, and for a finished tracking its
    duration and how long after Graph's own end of the work graphops saw it."""
    kind = tracking.kind.name
    span = trace.get_current_span()
    span.set_attribute("graphops.http_status", http_status or 0)
    if tracking.last_status:
        span.set_attribute("graphops.graph_status", tracking.last_status)
    meters = instruments()
    meters.polls.add(1, {"graphops.kind": kind, "http.response.status_code": http_status or 0})
    if not isinstance(decision, Finish):
        return
    meters.duration.record((now - tracking.tracked_since).total_seconds(),
                           {"graphops.kind": kind, "graphops.outcome": str(decision.outcome)})  # fmt: skip
    ended = _graph_ended_at(tracking.operation)
    if ended is not None and ended <= now:
        meters.detection_lag.record((now - ended).total_seconds(), {"graphops.kind": kind})


def _graph_ended_at(operation: Any) -> datetime | None:
    """Graph's ``lastActionDateTime`` where the kind reports one (and in a form that parses)."""
    return moment_or_none(operation.get("lastActionDateTime")) if isinstance(operation, dict) else None
