"""Delivering a finished tracking: to every sink still pending, each sink's result its own; one that fails is
retried (with the callbacks' back-off and attempt limit) without repeating the others, and one that gives up
is dead-lettered once the others are done."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

from opentelemetry.trace import Span, SpanKind, Status, StatusCode

from graphops.common.logs import event
from graphops.common.telemetry import answered, client_span, instruments
from graphops.delivery.deliverer import DeliveryResult
from graphops.delivery.sink import Sink
from graphops.envelope.tracking import SINK_SETTINGS, Delivery, DeliveryState, Phase, Tracking, iso, next_step
from graphops.pacing.schedule import delivery_delay, split_wait
from graphops.step.chain import Chain, StepResult

DEAD_LETTER_REASONS = {"callback": "callback not delivered", "events": "event not published",
                       "queue": "result not queued"}  # fmt: skip


class Delivering:
    """The deliver job of a step."""

    def __init__(
        self,
        chain: Chain,
        sinks: Mapping[str, Sink],
        max_attempts: int,
        min_delay: int,
        clock: Callable[[], datetime],
        rng: random.Random,
        retention: timedelta,
        hold_delay: int,
    ) -> None:
        self._chain = chain
        self._sinks = sinks
        self._max_attempts = max_attempts
        self._retention = retention  # GRAPHOPS_STATE_RETENTION_DAYS: no wait for a receiver outlasts it
        self._min_delay = min_delay  # the first retry's delay (the deployment's shortest poll delay)
        self._hold_delay = hold_delay  # how long a sink waits for a setting it cannot read yet
        self._clock = clock
        self._rng = rng

    def deliver(self, tracking: Tracking) -> StepResult:
        owned = self._chain.own(tracking)
        if owned is None:  # a duplicate of this step, or a cancel, moved the state on first: theirs stands
            event("dropped", trackingId=tracking.tracking_id, reason="stale", step=tracking.step)
            return StepResult(tracking.tracking_id, "dropped", tracking, detail="stale")
        tracking = owned
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
            self._chain.checkpoint("afterDeliver")
            keep_until = tracking.deadline + self._retention
            deliveries[name] = after_attempt(tracking.delivery(name), result, self._max_attempts, now, keep_until)
            tracking = tracking.noted(at=iso(now), sink=name, attempt=deliveries[name].attempts,
                                      delivered=result.delivered, result=result.detail)  # fmt: skip
            if result.retry_after is not None and deliveries[name].state is DeliveryState.PENDING:
                waits.append(result.retry_after)  # a sink that gave up holds back none of the others
            if result.held:
                waits.append(self._hold_delay)
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
            wanted = delivery_delay(attempts, self._min_delay, max(waits, default=None), self._rng)
            delay, not_before = split_wait(wanted, now)
            following = self._chain.next(replace(tracking, not_before=not_before), delay, now)
            detail = "; ".join(f"{s}: {tracking.delivery(s).error}" for s in pending)
            return StepResult(tracking.tracking_id, "retryDelivery", following, delay, detail)
        dead = [s for s in tracking.notify if tracking.delivery(s).state is DeliveryState.DEAD_LETTERED]
        if not dead:
            # One step further, so a duplicate of this message is stale and delivers no second time.
            tracking = replace(next_step(tracking), phase=Phase.DONE)
            # If this write fails the step fails, and the host runs it again: delivered once more with the same
            # id, rather than a status that says "delivering" for ever.
            self._chain.record(tracking, None, now, final=True)
            return StepResult(tracking.tracking_id, "delivered", tracking, detail="delivered")
        # Dead letters wait for the end of the delivery, so the one copy in the poison queue is this step: put
        # back, it is not stale, and it delivers only to the sinks that gave up (the others are done).
        retry = {s: Delivery() for s in dead}  # put back, a sink that gave up starts its attempts afresh
        copy = replace(tracking, deliveries={**tracking.deliveries, **retry})
        reason = "; ".join(f"{DEAD_LETTER_REASONS[s]}: {tracking.delivery(s).error}" for s in dead)
        fields = ",".join(SINK_SETTINGS[s] for s in dead)
        self._chain.dead_letter(tracking.tracking_id, reason, fields, self._chain.seal.seal(copy.to_wire()),
                                host_keeps_oversized=False)  # fmt: skip
        # Done: nothing more happens unless someone requeues the dead letter (whose copy is still delivering).
        tracking = replace(tracking, phase=Phase.DONE)
        self._chain.record(tracking, None, now, final=True)
        return StepResult(tracking.tracking_id, "deadLettered", tracking, detail=reason)


def after_attempt(
    before: Delivery, result: DeliveryResult, max_attempts: int, now: datetime, keep_until: datetime
) -> Delivery:
    """A sink's delivery after one more attempt: delivered, to be tried again, or dead-lettered with the reason;
    a held one (a secret it needs cannot be read yet) was no attempt, since nothing was sent.

    A receiver's Retry-After is waited out in full, but not past ``keep_until`` (the tracking's deadline plus
    the state's retention): a wait beyond it would outlive everything kept about the tracking (a receiver's
    ``Retry-After: 9999999999`` once parked one until the year 2343), so the sink is dead-lettered at once."""
    if result.held:
        return Delivery(before.attempts, DeliveryState.PENDING, result.detail)
    attempts = before.attempts + 1
    if result.delivered:
        return Delivery(attempts, DeliveryState.DELIVERED)
    # Compared as seconds: now + a Retry-After of centuries can be past the last date a datetime holds.
    if result.retryable and result.retry_after is not None and result.retry_after > (keep_until - now).total_seconds():
        reason = (f"{result.detail}; its Retry-After ({result.retry_after:.0f} s) ends after the tracking's "
                  f"deadline plus GRAPHOPS_STATE_RETENTION_DAYS ({iso(keep_until)}): not waited for")  # fmt: skip
        return Delivery(attempts, DeliveryState.DEAD_LETTERED, reason)
    if result.retryable and attempts < max_attempts:
        return Delivery(attempts, DeliveryState.PENDING, result.detail)
    reason = result.detail if not result.retryable else f"gave up after {attempts} attempts: {result.detail}"
    return Delivery(attempts, DeliveryState.DEAD_LETTERED, reason)


def delivered(span: Span, sink: str, result: DeliveryResult) -> None:
    outcome = "delivered" if result.delivered else "retry" if result.retryable else "failed"
    span.set_attribute("graphops.result", outcome)
    if result.status_code is not None:
        answered(span, result.status_code)
    if not result.delivered:
        span.set_status(Status(StatusCode.ERROR, result.detail))
    instruments().deliveries.add(1, {"graphops.sink": sink, "graphops.result": outcome})
