"""One step of a tracking: read the message, ask Graph or the callback, and queue what comes next."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError
from opentelemetry.trace import Span

from graphops.common.errors import Rejected
from graphops.common.logs import event, redact_url
from graphops.common.telemetry import current_traceparent, instruments, seconds_between, step_span
from graphops.delivery.callback_sink import CallbackSink
from graphops.delivery.deliverer import Deliverer
from graphops.delivery.sink import Sink
from graphops.envelope.tracking import (
    Outcome,
    Phase,
    Tracking,
    callback_document,
    is_tracking_id,
    iso,
    moment_or_none,
)
from graphops.envelope.wire import from_wire, parse_body, traceparent_or_none
from graphops.graph.actions import StartRequest
from graphops.graph.reader import GraphClient
from graphops.intake.limits import Limits
from graphops.intake.request import from_request, from_start_request
from graphops.pacing.schedule import delay_until
from graphops.step.chain import Chain, StepResult
from graphops.step.decide import Policy, timeout_error
from graphops.step.delivery_job import Delivering
from graphops.step.poll_job import OperationReader, Polling
from graphops.step.start_job import Starting
from graphops.step.starter import Starter
from graphops.storage.queues import Sent, TrackingQueue
from graphops.storage.seal import SEAL, NoKey, Seal, is_internal
from graphops.storage.state import StateStore

__all__ = ["StepResult", "Tracker", "describe_step", "utcnow", "wire_trace"]

RETIRED_KEY = "sealed with a key this deployment no longer holds"

# The mark on a producer's message graphops held and queued again (Tracker._hold): look up which id it stands for.
HELD = "held"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Tracker:
    """One step of a tracking: reads the message, then hands it to its job — starting (graphops.step.start_job),
    polling (graphops.step.poll_job) or delivering (graphops.step.delivery_job), which share the chain to the next step
    (graphops.step.chain). One per process."""

    def __init__(
        self,
        *,
        limits: Limits,
        policy: Policy,
        graph: GraphClient,
        queue: TrackingQueue,
        seal: Seal | NoKey,
        deliverer: Deliverer,
        max_delivery_attempts: int,
        clock: Callable[[], datetime] = utcnow,
        rng: random.Random | None = None,
        state: StateStore | None = None,
        monitor: OperationReader | None = None,
        starter: Starter | None = None,
        sinks: Mapping[str, Sink] | None = None,
        record_all: bool = True,
        retention: timedelta,
        hold_delay: int | None = None,
    ) -> None:
        self._limits = limits
        self._seal = seal  # only sealed messages are taken as graphops' own
        # How long a step waits for a setting it cannot read yet: the longest wait between polls.
        self._hold_delay = hold_delay or policy.schedule.max_delay
        self._deliverer = deliverer  # tells a caller its message was refused, when it safely can
        self._clock = clock
        self._record_all = record_all  # GRAPHOPS_RECORD_QUEUE_TRACKINGS: queue trackings get a state too
        self._state = state
        rng = rng or random.Random()
        self._chain = Chain(queue, seal, state, clock)
        sinks = sinks or {"callback": CallbackSink(deliverer)}
        self._delivering = Delivering(self._chain, sinks, max_delivery_attempts, policy.schedule.min_delay, clock, rng,
                                      retention, self._hold_delay)  # fmt: skip
        deliver = self._delivering.deliver
        self._polling = Polling(chain=self._chain, deliver=deliver, policy=policy, graph=graph, monitor=monitor,
                                graph_endpoint=limits.graph_endpoint, clock=clock, rng=rng)  # fmt: skip
        self._starting = Starting(chain=self._chain, deliver=deliver, starter=starter, limits=limits,
                                  max_attempts=max_delivery_attempts, min_delay=policy.schedule.min_delay,
                                  clock=clock, rng=rng)  # fmt: skip

    @property
    def checkpoint(self) -> Callable[[str], None]:
        """Called with the name of each point a host could die at: a seam for fault tests (graphops.step.chain)."""
        return self._chain.checkpoint

    @checkpoint.setter
    def checkpoint(self, seam: Callable[[str], None]) -> None:
        self._chain.checkpoint = seam

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
                instruments().queue_lag.record(max(late, 0.0), {"messaging.destination.name": self._chain.queue.name})
            result = self._handle(body, message_id, doc, unreadable)
            describe_step(span, result)
            return result

    def _handle(
        self, body: bytes | str, message_id: str, doc: dict[str, Any] | None, unreadable: Rejected | None
    ) -> StepResult:
        now = self._clock()
        start: StartRequest | None = None
        if doc is not None and not is_internal(doc) and HELD in doc:
            doc, message_id = self._held_copy(doc, message_id)
        if doc is not None and isinstance(self._seal, NoKey):
            return self._hold(self._seal, doc, message_id, now)
        try:
            if unreadable is not None:
                raise unreadable
            assert doc is not None
            internal = is_internal(doc)
            if internal:
                try:
                    doc = self._seal.open(doc)  # a message that claims to be graphops' own must prove it
                except Rejected:
                    stranded = self._sealed_with_a_retired_key(doc)
                    if stranded is None:
                        raise
                    return self._retired(body, stranded, now)
            if "v" in doc:
                tracking = from_wire(doc, self._limits)
            else:
                if "start" in doc and not internal:
                    # Before Graph is asked, the start becomes graphops' own message, carrying its tracking id:
                    # a copy the host poisons and an operator puts back is then the same start, never a second.
                    return self._starting.own_start(doc, message_id, now)
                if "start" in doc:
                    tracking, start = from_start_request(doc, message_id, now, self._limits, sealed=True)
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
            return self._starting.start(replace(tracking, stateful=True), start, doc)
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
            following = self._chain.next(tracking, delay, now)
            return StepResult(tracking.tracking_id, "wait", following, delay, "waiting for Retry-After")
        if tracking.phase is Phase.DELIVERING:
            return self._delivering.deliver(tracking)
        if tracking.phase is Phase.AWAITING_RESOURCE:
            return self._polling.await_resource(tracking)
        if now >= tracking.deadline:
            # The last wait ended past the deadline (schedule.whole_delay): it is over, without another poll.
            return self._delivering.deliver(tracking.finish(Outcome.TIMED_OUT, timeout_error(tracking), now))
        return self._polling.poll(tracking)

    def _sealed_with_a_retired_key(self, doc: dict[str, Any]) -> Tracking | None:
        """The tracking a message is the live step of, when its seal is one this deployment no longer holds (the
        envelope key was rotated past it); None for anything else, which is then a forgery.

        Nothing in the message is believed but this: the state names its step id, 64 random bits only the message
        graphops queued and the state table hold, as the tracking's live step. Producers can read neither.
        """
        if self._state is None or not isinstance(doc.get(SEAL), str) or "v" not in doc:
            return None
        try:
            tracking = from_wire({k: v for k, v in doc.items() if k != SEAL}, self._limits)
        except Rejected:
            return None
        gate = self._state.gate(tracking)
        if not gate.go or gate.names != (tracking.step_id,) or gate.history is None:
            return None  # no state, another live step, or the state unread: nothing vouches for it
        return replace(tracking, state_etag=gate.etag, history=gate.history)

    def _retired(self, body: bytes | str, tracking: Tracking, now: datetime) -> StepResult:
        """Dead-letter a tracking's live step sealed with a retired key, under its tracking id, and say so in its
        state: put back once the key is GRAPHOPS_ENVELOPE_KEY_PREVIOUS again, it runs as that step."""
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        reason = f"{RETIRED_KEY}: set the key it was sealed with as GRAPHOPS_ENVELOPE_KEY_PREVIOUS, then requeue it"
        self._chain.dead_letter(tracking.tracking_id, reason, "GRAPHOPS_ENVELOPE_KEY_PREVIOUS", text)
        assert self._state is not None and tracking.history is not None
        noted = tracking.noted(at=iso(now), deadLettered=RETIRED_KEY)
        assert noted.history is not None
        self._state.stranded(tracking.tracking_id, tracking.state_etag, f"an operator: {reason}", noted.history)
        return StepResult(tracking.tracking_id, "deadLettered", tracking, detail=RETIRED_KEY)

    def _hold(self, no_key: NoKey, doc: dict[str, Any], message_id: str, now: datetime) -> StepResult:
        """The envelope key cannot be read: no step can open its message or seal the next one. So the message
        goes back on the queue as it came, due again after the hold delay: as a new message rather than the
        host's retry, so the wait costs it none of its dequeue budget and ends in no dead letter, however long
        it lasts. (A message that is not JSON at all is refused as before: no key makes it readable.)"""
        if is_internal(doc):
            tracking_id = str(doc.get("trackingId", message_id))  # for the log only: the seal is not opened
            self._chain.queue.send(_text(doc), self._hold_delay)
        else:
            tracking_id = message_id  # a producer's message is tracked under its first message's id
            sent = self._chain.queue.send(_text({**doc, HELD: 1}), self._hold_delay)
            self._point(sent, tracking_id, now)
        event("held", trackingId=tracking_id, setting=no_key.unresolved.setting, delay=self._hold_delay)
        return StepResult(tracking_id, "held", delay=self._hold_delay, detail=no_key.unresolved.waiting)

    def _point(self, sent: Sent, tracking_id: str, now: datetime) -> None:
        """Let a held copy of a producer's message stand for the first one. Its mark is a producer's to write too,
        so what it stands for is kept where only graphops writes: the state table, under the copy's own id."""
        if self._state is None:
            return  # no state store: the copy is tracked under its own id
        deadline = now + timedelta(seconds=self._limits.max_timeout_seconds)  # spent by then; removed with the old
        try:
            self._state.point(f"{HELD}:{sent.id}", tracking_id, deadline)
        except AzureError:
            # Without its pointer the copy would be a second tracking: take it back, and the host retries this one.
            self._chain.queue.take_back(sent)
            raise

    def _held_copy(self, doc: dict[str, Any], message_id: str) -> tuple[dict[str, Any], str]:
        """A producer's message this graphops held: the request without the mark, and the id it is tracked under
        (the first message's, when the state table says so; the mark alone proves nothing)."""
        request = {name: value for name, value in doc.items() if name != HELD}
        if self._state is None:
            return request, message_id
        return request, self._state.claimed(f"{HELD}:{message_id}") or message_id

    def _reject(
        self, body: bytes | str, doc: dict[str, Any] | None, message_id: str, exc: Rejected, now: datetime
    ) -> StepResult:
        text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
        forged = exc.field == SEAL  # claims to be graphops' own and is not: nothing in it is believed
        tracking_id = message_id if forged else _tracking_id_of(doc, message_id)
        self._chain.dead_letter(tracking_id, f"rejected: {exc}", exc.field, text)
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
        if tracking.tenant_id is not None:
            span.set_attribute("graphops.tenant_id", tracking.tenant_id)
        span.set_attribute("graphops.step", tracking.step)
        span.set_attribute("graphops.phase", str(tracking.phase))
        if tracking.outcome is not None:
            span.set_attribute("graphops.outcome", str(tracking.outcome))
    if result.delay is not None:
        span.set_attribute("graphops.next_delay_seconds", result.delay)


def _text(doc: dict[str, Any]) -> str:
    # The seal covers the message's canonical form (graphops.storage.seal), so the same JSON still opens.
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def _tracking_id_of(doc: dict[str, Any] | None, message_id: str) -> str:
    given = doc.get("trackingId") if doc else None
    return given if isinstance(given, str) and is_tracking_id(given) else message_id
