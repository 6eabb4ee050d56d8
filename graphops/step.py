"""One step of a tracking: read the message, ask Graph or the callback, and queue what comes next."""

from __future__ import annotations

import contextlib
import json
import logging
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from azure.core.exceptions import AzureError, ResourceExistsError
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from .actions import StartRequest
from .callbacks import Deliverer, DeliveryResult
from .decide import Finish, GraphAnswer, Policy, ResourceSeen, decide, decide_resource, observe, timeout_error
from .errors import QueueUnavailable, Rejected
from .graph import GraphClient
from .kinds import KINDS, resource_url, twin_url
from .lengths import Learning
from .logs import event, redact_url
from .queues import TrackingQueue
from .schedule import delay_until, delivery_delay, past_deadline, split_wait
from .seal import SEAL, Seal, is_internal
from .sinks import Sink
from .sinks.callback import CallbackSink
from .starting import (
    Accepted,
    DoneAtOnce,
    InFlight,
    MayHaveStarted,
    NotNow,
    Refused,
    Started,
    Starter,
    Unknown,
    Untrackable,
)
from .state import StateStore
from .telemetry import answered, client_span, current_traceparent, instruments, seconds_between, step_span
from .tracking import (
    SINK_SETTINGS,
    Delivery,
    DeliveryState,
    ErrorInfo,
    Limits,
    Outcome,
    Phase,
    Tracking,
    callback_document,
    from_request,
    from_start_request,
    from_wire,
    is_tracking_id,
    iso,
    moment_or_none,
    next_step,
    parse_body,
    start_attempts,
    traceparent_or_none,
)

MAX_DEAD_LETTER_CHARS = 45_000  # base64 of this still fits in a 64 KiB queue message
DEAD_LETTER_REASONS = {"callback": "callback not delivered", "events": "event not published",
                       "queue": "result not queued"}  # fmt: skip


class OperationReader(Protocol):
    def get_operation(self, url: str, select: Sequence[str] = ()) -> GraphAnswer: ...


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class StepResult:
    """What a step did, for the runner's view and the tests. The queue holds the real state."""

    tracking_id: str
    action: str  # "pollAgain", "wait", "delivered", "retryDelivery", "deadLettered", ...
    tracking: Tracking | None = None
    delay: int | None = None
    detail: str | None = None


class Tracker:
    """Glues the pure decisions to Graph, the queue and the callback. One per process."""

    def __init__(
        self,
        *,
        limits: Limits,
        policy: Policy,
        graph: GraphClient,
        queue: TrackingQueue,
        seal: Seal,
        deliverer: Deliverer,
        max_delivery_attempts: int,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        state: StateStore | None = None,
        monitor: OperationReader | None = None,
        starter: Starter | None = None,
        sinks: Mapping[str, Sink] | None = None,
        record_all: bool = True,
    ) -> None:
        self._limits = limits
        self._policy = policy
        self._graph = graph
        self._queue = queue
        self._seal = seal  # every message graphops queues is sealed, and only sealed ones are taken as its own
        self._deliverer = deliverer
        self._max_delivery_attempts = max_delivery_attempts
        self._clock = clock
        self._rng = rng or random.Random()
        self._state = state
        self._monitor = monitor  # drive-copy monitors: no token, a caller's URL under the callbacks' rules
        self._starter = starter  # sends start actions' requests (messages with "start")
        self._sinks: Mapping[str, Sink] = sinks or {"callback": CallbackSink(deliverer)}
        self._record_all = record_all  # GRAPHOPS_RECORD_QUEUE_TRACKINGS: queue trackings get a state too
        # Graph's throttling limits per tenant and service, shared with every other worker through the table.
        self._budgets = state.budgets(policy.budgets) if state is not None else None
        # Each kind's learned schedule, from the lengths its finished trackings left in the state table.
        self._learning = (
            Learning(
                state.lengths,
                lambda kind: policy.kind_schedule(KINDS[kind]).min_delay,
                lambda kind: kind in KINDS and kind not in policy.fixed,
            )
            if state is not None and policy.learn
            else None
        )
        #: Called with the name of each point a host could die at ("beforeGraph", "afterGraph",
        #: "afterEnqueue", "afterDeliver", "beforeFirstStep"): a seam for fault tests, a no-op otherwise.
        self.checkpoint: Callable[[str], None] = lambda point: None

    def handle(self, body: bytes | str, message_id: str, inserted_at: datetime | None = None) -> StepResult:
        """Run one step for a queue message. Raises only when the host must retry the message.

        ``inserted_at`` (the queue's insertion time) measures how long a due message waited for a worker."""
        try:
            doc, unreadable = parse_body(body), None
        except Rejected as exc:
            doc, unreadable = None, exc  # still a step, with its span: the message is dead-lettered under it
        root, previous, due = wire_trace(doc)
        with step_span("graphops step", root, previous, {"messaging.message.id": message_id}) as span:
            late = seconds_between(due or inserted_at, self._clock())
            if late is not None:
                instruments().queue_lag.record(max(late, 0.0), {"messaging.destination.name": self._queue.name})
            result = self._handle(body, message_id, doc, unreadable)
            describe_step(span, result)
            return result

    def _handle(
        self, body: bytes | str, message_id: str, doc: dict[str, Any] | None, unreadable: Rejected | None
    ) -> StepResult:
        now = self._clock()
        start: StartRequest | None = None
        try:
            if unreadable is not None:
                raise unreadable
            assert doc is not None
            internal = is_internal(doc)
            if internal:
                doc = self._seal.open(doc)  # a message that claims to be graphops' own must prove it
            if "v" in doc:
                tracking = from_wire(doc, self._limits)
            else:
                if "start" in doc and not internal:
                    # Before Graph is asked, the start becomes graphops' own message, carrying its tracking id:
                    # a copy the host poisons and an operator puts back is then the same start, never a second.
                    return self._own_start(doc, message_id, now)
                if "start" in doc:
                    tracking, start = from_start_request(doc, message_id, now, self._limits)
                else:
                    # Recorded like a subscribed one (unless the deployment turned that off): its stale
                    # duplicates are dropped, and the status view knows it.
                    tracking = replace(from_request(doc, message_id, now, self._limits), stateful=self._record_all)
                # A name that resolves to a private address is refused now, not after hours of polling.
                if tracking.callback_url is not None:
                    self._limits.callbacks.target(tracking.callback_url)
        except Rejected as exc:
            return self._reject(body, doc, message_id, exc, now)
        except OSError:
            pass  # DNS did not answer: not a reason to refuse; delivery resolves again and retries
        if tracking.traceparent is None:
            # Nobody upstream gave a trace: this step's span is the tracking's root, and the next steps its children.
            tracking = replace(tracking, traceparent=current_traceparent())
        if start is not None:
            assert doc is not None
            return self._start(replace(tracking, stateful=True), start, doc)
        if tracking.stateful and self._state is not None:
            gate = self._state.gate(tracking)
            if not gate.go:
                event("dropped", trackingId=tracking.tracking_id, reason=gate.reason, step=tracking.step)
                return StepResult(tracking.tracking_id, "dropped", tracking, detail=gate.reason)
            tracking = replace(tracking, state_etag=gate.etag, history=gate.history, state_names=gate.names,
                               state_standing=gate.standing)  # fmt: skip
        if tracking.not_before is not None and now < tracking.not_before:
            # Woken early by the queue's 7-day limit: a Retry-After (Graph's, or a receiver's) has not passed yet.
            delay = delay_until(tracking.not_before, now)
            following = self._next(tracking, delay, now)
            return StepResult(tracking.tracking_id, "wait", following, delay, "waiting for Retry-After")
        if tracking.phase is Phase.DELIVERING:
            return self._deliver(tracking)
        if tracking.phase is Phase.AWAITING_RESOURCE:
            return self._await_resource(tracking)
        if now >= tracking.deadline:
            # The last wait ended past the deadline (schedule.whole_delay): it is over, without another poll.
            return self._deliver(tracking.finish(Outcome.TIMED_OUT, timeout_error(tracking), now))
        return self._poll(tracking)

    # -- start messages: graphops sends the Graph request, then tracks what it started ------------

    def _own_start(self, doc: dict[str, Any], message_id: str, now: datetime) -> StepResult:
        """A producer's start, checked, queued again as graphops' own sealed message under this message's id."""
        tracking, _ = from_start_request(doc, message_id, now, self._limits)
        if tracking.callback_url is not None:
            with contextlib.suppress(OSError):  # DNS did not answer: delivery resolves again
                self._limits.callbacks.target(tracking.callback_url)
        self._send_own({**doc, "trackingId": message_id}, 0)
        return StepResult(message_id, "startQueued", tracking, 0, "queued as graphops' own start")

    def _send_own(self, doc: dict[str, Any], delay: int) -> None:
        self._queue.send(self._seal.seal(json.dumps(doc, separators=(",", ":"), ensure_ascii=False)), delay)

    def _start(self, pending: Tracking, request: StartRequest, doc: dict[str, Any]) -> StepResult:
        if self._starter is None or self._state is None:
            raise RuntimeError("start messages need the state table and a starter")
        not_before, now = moment_or_none(doc.get("notBefore")), self._clock()
        if not_before is not None and now < not_before:
            # Woken early by the queue's 7-day limit: Graph's Retry-After for this start has not passed yet.
            self._send_own(doc, delay_until(not_before, now))
            return StepResult(pending.tracking_id, "retryStart", pending, detail="waiting for Retry-After")
        if self._state.read(pending.tracking_id) is not None:
            # A redelivered start whose tracking is under way (or over): its own steps carry on.
            event("dropped", trackingId=pending.tracking_id, reason="started already")
            return StepResult(pending.tracking_id, "dropped", pending, detail="started already")
        pending = replace(pending, history=())  # no state yet: its history starts here
        started = self._starter.start(pending.tracking_id, request, pending.deadline)
        noted = pending.noted(at=iso(self._clock()), start=request.action.name, http=started.status,
                              decision=type(started.decision).__name__)  # fmt: skip
        return self._after_start(noted, request, started, doc)

    def _after_start(
        self, pending: Tracking, request: StartRequest, started: Started, doc: dict[str, Any]
    ) -> StepResult:
        decision, now = started.decision, self._clock()
        if isinstance(decision, Accepted):
            tracking = replace(pending, operation_url=decision.operation.url, kind=decision.operation.kind,
                               not_before=decision.not_before)  # fmt: skip
            delay = delay_until(decision.not_before, now)  # the 202's Retry-After
            assert self._state is not None  # checked in _start
            self.checkpoint("beforeFirstStep")
            queue_first_step(self._queue, self._seal, self._state, tracking, delay)
            return StepResult(tracking.tracking_id, "started", tracking, delay, request.action.name)
        if isinstance(decision, DoneAtOnce):
            return self._deliver(replace(pending, operation=decision.body).finish(Outcome.SUCCEEDED, None, now))
        if isinstance(decision, Refused):
            return self._deliver(pending.finish(decision.outcome, decision.error, now))
        if isinstance(decision, MayHaveStarted | Untrackable):
            return self._deliver(pending.finish(Outcome.ERROR, decision.error, now))
        if isinstance(decision, Unknown) and not request.action.repeatable:
            answered = f"Graph answered {decision.status}" if decision.status else "Graph did not answer"
            message = (f"{request.action.name} may have started; not repeated: {answered} "
                       f"(client-request-id {started.client_request_id}): {decision.error.message}")  # fmt: skip
            return self._deliver(pending.finish(Outcome.ERROR, ErrorInfo("mayHaveStarted", message), now))
        # Throttled, unavailable, under way elsewhere, or unanswered and harmless to repeat: ask again later.
        return self._start_again(pending, request, decision, doc, now)

    def _start_again(
        self, pending: Tracking, request: StartRequest, decision: NotNow | Unknown | InFlight, doc: dict[str, Any],
        now: datetime,
    ) -> StepResult:  # fmt: skip
        attempts = start_attempts(doc) + 1
        problem = decision.error.message if not isinstance(decision, InFlight) else "another start was under way"
        if attempts >= self._max_delivery_attempts:
            error = ErrorInfo(
                "notStarted", f"Graph did not start {request.action.name} in {attempts} attempts: {problem}"
            )
            return self._deliver(pending.finish(Outcome.ERROR, error, now))
        wait = decision.wait if isinstance(decision, NotNow) else None
        delay, not_before = split_wait(delivery_delay(attempts, self._policy.schedule.min_delay, wait, self._rng), now)
        again = {**doc, "trackingId": pending.tracking_id, "startAttempts": attempts,
                 "notBefore": iso(not_before) if not_before else None}  # fmt: skip
        self._send_own(again, delay)
        return StepResult(pending.tracking_id, "retryStart", pending, delay, problem)

    # -- polling ----------------------------------------------------------------------------------

    def _poll(self, tracking: Tracking) -> StepResult:
        assert tracking.operation_url is not None, "a tracking without an operation URL has finished"
        service = tracking.kind.service if self._budgets is not None and tracking.kind.needs_token else None
        tenant = self._graph.tenant() if service else ""
        if self._budgets is not None and service:
            wait = self._budgets.wait_before_polling(tenant, service)
            if wait > 0:
                return self._wait_for_budget(tracking, service, wait)
        self.checkpoint("beforeGraph")
        answer: GraphAnswer = self._reader(tracking).get_operation(tracking.operation_url, tracking.polled_select)
        self.checkpoint("afterGraph")
        now = self._clock()
        if answer.status_code == 429 and self._budgets is not None and service:
            # Graph throttled this service for the whole tenant: every worker's trackings of it pause, not each
            # one after its own 429.
            self._budgets.pause(tenant, service, answer.retry_after)
        if answer.status_code in {401, 403}:
            tracking, answer = ask_twin(self._reader(tracking), tracking, answer, now)
        tracking = observe(tracking, answer)
        policy = replace(self._policy, learned=self._learning.schedules()) if self._learning else self._policy
        decision = decide(tracking, answer, now, policy, self._rng)
        event(
            "poll",
            trackingId=tracking.tracking_id,
            kind=tracking.kind.name,
            httpStatus=answer.status_code,
            status=tracking.last_status if answer.status_code == 200 else None,
            polls=tracking.polls,
            problem=tracking.last_error.message if tracking.last_error else None,
            graphRequestId=answer.request_id,
            clientRequestId=answer.client_request_id,
            decision=type(decision).__name__,
            nextPollSeconds=getattr(decision, "delay", None),
        )
        tracking = tracking.noted(
            at=iso(now), http=answer.status_code, status=tracking.last_status if answer.status_code == 200 else None,
            retryAfter=answer.retry_after, next=getattr(decision, "delay", None),
            outcome=str(decision.outcome) if isinstance(decision, Finish) else None,
            schedule=getattr(decision, "schedule", None),
        )  # fmt: skip
        polled(tracking, answer.status_code, decision, now)
        if isinstance(decision, Finish):
            finished = tracking.finish(decision.outcome, decision.error, now)
            self._learn_length(finished)
            if decision.outcome is Outcome.SUCCEEDED and tracking.wait_for_resource:
                return self._start_waiting_for_resource(finished, now)
            return self._deliver(finished)
        if decision.wait is not None:
            tracking = replace(tracking, not_before=now + timedelta(seconds=decision.wait))
        following = self._next(tracking, decision.delay, now)
        return StepResult(tracking.tracking_id, "pollAgain", following, decision.delay, decision.reason)

    def _wait_for_budget(self, tracking: Tracking, service: str, wait: float) -> StepResult:
        """The service's budget for this tenant is spent (or paused by a 429): wait for its next slot without
        asking Graph. Not a poll: it counts nowhere but in the history."""
        now = self._clock()
        remaining = (tracking.deadline - now).total_seconds()
        delay = math.ceil(wait) if math.ceil(wait) < remaining else past_deadline(remaining)
        event("budgetWait", trackingId=tracking.tracking_id, kind=tracking.kind.name, service=service,
              nextPollSeconds=delay)  # fmt: skip
        noted = tracking.noted(at=iso(now), budget=service, next=delay)
        following = self._next(noted, delay, now)
        return StepResult(tracking.tracking_id, "wait", following, delay, f"the {service} budget is spent")

    def _learn_length(self, finished: Tracking) -> None:
        """An operation that Graph saw end adds its length to its kind's history: from graphops' first poll to
        the middle of the last wait (it ended somewhere in it). One seen ending at the first poll says nothing."""
        length = length_seen(finished)
        if self._learning is not None and length is not None:
            self._learning.record(finished.kind.name, length)

    def _reader(self, tracking: Tracking) -> OperationReader:
        """The Graph client, with its token, for Graph URLs; the monitor client, with none, for the others."""
        if tracking.kind.needs_token:
            return self._graph
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
        following = self._next(replace(tracking, phase=Phase.AWAITING_RESOURCE), delay, now)
        return StepResult(tracking.tracking_id, "awaitResource", following, delay, "succeeded; waiting for resource")

    def _resource_url(self, tracking: Tracking) -> str | None:
        location = tracking.kind.resource_of(tracking.operation)
        return resource_url(tracking.kind, location, self._limits.graph_endpoint)

    def _await_resource(self, tracking: Tracking) -> StepResult:
        url = self._resource_url(tracking)
        if url is None:
            return self._deliver(replace(tracking, phase=Phase.DELIVERING))
        if self._clock() >= tracking.deadline:  # the last wait ended past it: not ready, without asking again
            return self._deliver(replace(tracking, phase=Phase.DELIVERING, resource_ready=False))
        answer = self._graph.get_operation(url)
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
        tracking = tracking.noted(at=iso(now), resource=answer.status_code, next=getattr(decision, "delay", None))
        if isinstance(decision, ResourceSeen):
            return self._deliver(replace(tracking, phase=Phase.DELIVERING, resource_ready=decision.ready))
        following = self._next(tracking, decision.delay, now)
        return StepResult(tracking.tracking_id, "awaitResource", following, decision.delay, decision.reason)

    def _next(self, tracking: Tracking, delay: int, now: datetime) -> Tracking:
        """Queue the next step, then record it: the queue is the truth, the state follows it."""
        following = replace(next_step(tracking), step_span=current_traceparent(), due_at=now + timedelta(seconds=delay))
        self._queue.send(self._seal.seal(following.to_wire()), delay)
        self.checkpoint("afterEnqueue")
        self._record(following, now + timedelta(seconds=delay), now)
        return following

    def _record(self, tracking: Tracking, next_poll_at: datetime | None, now: datetime, *, final: bool = False) -> None:
        if tracking.stateful and self._state is not None:
            self._state.record(tracking, next_poll_at, now, final=final, standing=tracking.state_standing)

    def _deliver(self, tracking: Tracking) -> StepResult:
        """Deliver to every sink still pending; each sink's result is its own, and one that fails is retried
        (with the callbacks' back-off and attempt limit) without repeating the others."""
        now = self._clock()
        body = tracking.callback_body()
        deliveries = dict(tracking.deliveries)
        waits: list[float] = []
        for name in tracking.pending_sinks():
            sink = self._sinks.get(name)
            missing = DeliveryResult(False, False, f"not configured in this deployment ({SINK_SETTINGS[name]})")
            attempt = {"graphops.sink": name, "graphops.attempt": tracking.delivery(name).attempts + 1}
            with client_span(f"deliver {name}", attempt, SpanKind.PRODUCER) as span:
                result = sink.deliver(tracking, body, now) if sink is not None else missing
                delivered(span, name, result)
            self.checkpoint("afterDeliver")
            deliveries[name] = self._delivery(tracking.delivery(name), result)
            tracking = tracking.noted(at=iso(now), sink=name, attempt=deliveries[name].attempts,
                                      delivered=result.delivered, result=result.detail)  # fmt: skip
            if result.retry_after is not None:
                waits.append(result.retry_after)
            # The callback's host and path under "callback", as the log has always had it; other sinks' "target".
            where = {"callback" if name == "callback" else "target": sink.describe(tracking) if sink else None}
            event(
                "deliver",
                trackingId=tracking.tracking_id,
                sink=name,
                outcome=str(tracking.outcome),
                **where,
                attempt=deliveries[name].attempts,
                result=result.detail,
                level=logging.INFO if result.delivered else logging.WARNING,
            )
        tracking = replace(tracking, deliveries=deliveries)
        pending = tracking.pending_sinks()
        if pending:
            attempts = max(tracking.delivery(s).attempts for s in pending)
            wanted = delivery_delay(attempts, self._policy.schedule.min_delay, max(waits, default=None), self._rng)
            delay, not_before = split_wait(wanted, now)
            following = self._next(replace(tracking, not_before=not_before), delay, now)
            detail = "; ".join(f"{s}: {tracking.delivery(s).error}" for s in pending)
            return StepResult(tracking.tracking_id, "retryDelivery", following, delay, detail)
        dead = [s for s in tracking.notify if tracking.delivery(s).state is DeliveryState.DEAD_LETTERED]
        if not dead:
            # One step further, so a duplicate of this message is stale and delivers no second time.
            tracking = replace(next_step(tracking), phase=Phase.DONE)
            # If this write fails the step fails, and the host runs it again: delivered once more with the same
            # id, rather than a status that says "delivering" for ever.
            self._record(tracking, None, now, final=True)
            return StepResult(tracking.tracking_id, "delivered", tracking, detail="delivered")
        # Dead letters wait for the end of the delivery, so the one copy in the poison queue is this step: put
        # back, it is not stale, and it delivers only to the sinks that gave up (the others are done).
        retry = {s: Delivery() for s in dead}  # put back, a sink that gave up starts its attempts afresh
        copy = replace(tracking, deliveries={**tracking.deliveries, **retry})
        reason = "; ".join(f"{DEAD_LETTER_REASONS[s]}: {tracking.delivery(s).error}" for s in dead)
        fields = ",".join(SINK_SETTINGS[s] for s in dead)
        self._dead_letter(tracking.tracking_id, reason, fields, self._seal.seal(copy.to_wire()))  # requeue-able
        # Done: nothing more happens unless someone requeues the dead letter (whose copy is still delivering).
        tracking = replace(tracking, phase=Phase.DONE)
        self._record(tracking, None, now, final=True)
        return StepResult(tracking.tracking_id, "deadLettered", tracking, detail=reason)

    def _delivery(self, before: Delivery, result: DeliveryResult) -> Delivery:
        """A sink's delivery after one more attempt."""
        attempts = before.attempts + 1
        if result.delivered:
            return Delivery(attempts, DeliveryState.DELIVERED)
        if result.retryable and attempts < self._max_delivery_attempts:
            return Delivery(attempts, DeliveryState.PENDING, result.detail)
        reason = result.detail if not result.retryable else f"gave up after {attempts} attempts: {result.detail}"
        return Delivery(attempts, DeliveryState.DEAD_LETTERED, reason)

    def _reject(
        self, body: bytes | str, doc: dict[str, Any] | None, message_id: str, exc: Rejected, now: datetime
    ) -> StepResult:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        forged = exc.field == SEAL  # claims to be graphops' own and is not: nothing in it is believed
        tracking_id = message_id if forged else _tracking_id_of(doc, message_id)
        self._dead_letter(tracking_id, f"rejected: {exc}", exc.field, text)
        callback = doc.get("callbackUrl") if doc else None
        if exc.field != "callbackUrl" and not forged and isinstance(callback, str):
            # Tell the caller, when we safely can; the dead letter already holds the request either way.
            correlation = doc.get("correlationId") if doc else None
            body_json = callback_document(
                trackingId=tracking_id,
                outcome=str(Outcome.REJECTED),
                error={"code": "rejected", "message": str(exc)},
                correlationId=correlation if isinstance(correlation, str) else None,
                polls=0,
                finishedAt=iso(now),
            )
            result = self._deliverer.deliver(callback, tracking_id, body_json, now)
            event("rejectNotice", trackingId=tracking_id, callback=redact_url(callback), result=result.detail)
        return StepResult(tracking_id, "deadLettered", detail=str(exc))

    def _dead_letter(self, tracking_id: str, reason: str, field: str, original: str) -> None:
        event("deadLetter", level=logging.WARNING, trackingId=tracking_id, reason=reason, queue=self._queue.name)
        # By kind of reason and the field or setting at fault: few values, so a metric can count them.
        category = "rejected" if reason.startswith("rejected") else "undeliverable"
        instruments().dead_letters.add(1, {"graphops.reason": category, "graphops.field": field})
        if len(original) > MAX_DEAD_LETTER_CHARS:
            # Too large to carry with its reason: failing lets the host move the message itself, intact.
            raise QueueUnavailable(
                f"{reason}; message too large to dead-letter with its reason, the host will poison it"
            )
        self._queue.dead_letter(
            {
                "deadLetter": 1,
                "reason": reason,
                "field": field,
                "trackingId": tracking_id,
                "queue": self._queue.name,
                "at": iso(self._clock()),
                "original": original,
            }
        )


# The outcomes whose moment is the operation's own end (not graphops' deadline, a refusal or a cancel).
ENDED_IN_GRAPH = frozenset({Outcome.SUCCEEDED, Outcome.PARTIALLY_SUCCEEDED, Outcome.FAILED})


def length_seen(finished: Tracking) -> float | None:
    """How long the operation ran as graphops saw it, or None when that says nothing of its kind."""
    if finished.outcome not in ENDED_IN_GRAPH or finished.finished_at is None or finished.polls < 2:
        return None
    polls = [moment_or_none(entry.get("at")) for entry in finished.history or () if "http" in entry]
    seen = [moment for moment in polls if moment is not None]
    last_wait = (seen[-1] - seen[-2]).total_seconds() if len(seen) >= 2 else 0.0
    length = (finished.finished_at - finished.tracked_since).total_seconds() - last_wait / 2
    return length if length > 0 else None


def ask_twin(
    reader: OperationReader, tracking: Tracking, refusal: GraphAnswer, now: datetime
) -> tuple[Tracking, GraphAnswer]:
    """A version that refused the token may have a twin that takes it (v1.0 authentication operations document
    delegated permissions only, beta an application permission): ask it once. From then on the tracking reads
    the twin, and its URL (and history) says which version answered."""
    twin = twin_url(tracking.kind, tracking.operation_url) if tracking.operation_url else None
    if twin is None:
        return tracking, refusal
    answer = reader.get_operation(twin, tracking.polled_select)
    event("twinAsked", trackingId=tracking.tracking_id, kind=tracking.kind.name, refused=refusal.status_code,
          httpStatus=answer.status_code, graphRequestId=answer.request_id)  # fmt: skip
    noted = tracking.noted(at=iso(now), http=refusal.status_code, twin=urlsplit(twin).path.split("/")[1])
    return replace(noted, operation_url=twin), answer


def queue_first_step(queue: TrackingQueue, seal: Seal, state: StateStore, tracking: Tracking, delay: int) -> None:
    """Queue a stateful tracking's first step, then write its state.

    In this order, a state row means the first step is queued: a retry that finds no state row queues it again
    under the same tracking id, and the step gate drops whichever first message the state does not name.
    Raises QueueUnavailable when the queue did not take it (nothing is written then).
    """
    queue.send(seal.seal(tracking.to_wire()), delay)
    try:
        state.create(tracking)
    except ResourceExistsError:
        pass  # a retry of this call, or the first step, wrote it first
    except AzureError as exc:
        logging.getLogger("graphops.state").warning("state not created for %s: %s", tracking.tracking_id,
                                                    type(exc).__name__)  # fmt: skip


def wire_trace(doc: dict[str, Any] | None) -> tuple[str | None, str | None, datetime | None]:
    """The trace context and due time a message carries, read leniently before the step checks it: a damaged
    trace costs the trace, never the step."""
    if doc is None:
        return None, None, None
    return (
        traceparent_or_none(doc.get("traceparent")),
        traceparent_or_none(doc.get("stepSpan")),
        moment_or_none(doc.get("dueAt")),
    )


def describe_step(span: Span, result: StepResult) -> None:
    """What a query groups steps by: the tracking, its kind, the step, what was decided and how it ended."""
    tracking = result.tracking
    span.set_attribute("graphops.tracking_id", result.tracking_id)
    span.set_attribute("graphops.decision", result.action)
    if tracking is not None:
        span.set_attribute("graphops.kind", tracking.kind.name)
        span.set_attribute("graphops.step", tracking.step)
        span.set_attribute("graphops.phase", str(tracking.phase))
        if tracking.outcome is not None:
            span.set_attribute("graphops.outcome", str(tracking.outcome))
    if result.delay is not None:
        span.set_attribute("graphops.next_delay_seconds", result.delay)


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


def delivered(span: Span, sink: str, result: DeliveryResult) -> None:
    outcome = "delivered" if result.delivered else "retry" if result.retryable else "failed"
    span.set_attribute("graphops.result", outcome)
    if result.status_code is not None:
        answered(span, result.status_code)
    if not result.delivered:
        span.set_status(Status(StatusCode.ERROR, result.detail))
    instruments().deliveries.add(1, {"graphops.sink": sink, "graphops.result": outcome})


def _graph_ended_at(operation: Any) -> datetime | None:
    """Graph's ``lastActionDateTime`` where the kind reports one (and in a form that parses)."""
    return moment_or_none(operation.get("lastActionDateTime")) if isinstance(operation, dict) else None


def _tracking_id_of(doc: dict[str, Any] | None, message_id: str) -> str:
    given = doc.get("trackingId") if doc else None
    return given if isinstance(given, str) and is_tracking_id(given) else message_id
