"""The start job of a step: a producer's start message becomes graphops' own (sealed, under its tracking id)
before Graph is asked; graphops' own start sends the action's request once (graphops.step.starter) and tracks what
Graph started, delivers what it did at once or refused, or asks again later."""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from graphops.common.logs import event
from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking, iso, moment_or_none
from graphops.graph.actions import StartRequest
from graphops.intake.limits import Limits
from graphops.intake.request import from_start_request, start_attempts
from graphops.pacing.schedule import delay_until, delivery_delay, split_wait
from graphops.step.chain import Chain, StepResult, queue_first_step
from graphops.step.starter import (
    Accepted,
    DoneAtOnce,
    InFlight,
    MayHaveStarted,
    NotNow,
    OverLimit,
    Refused,
    Started,
    Starter,
    Unknown,
    Untrackable,
    tracking_of,
)


class Starting:
    """Runs start messages for the step."""

    def __init__(
        self,
        *,
        chain: Chain,
        deliver: Callable[[Tracking], StepResult],
        starter: Starter | None,
        limits: Limits,
        max_attempts: int,
        min_delay: int,
        clock: Callable[[], datetime],
        rng: random.Random,
    ) -> None:
        self._chain = chain
        self._deliver = deliver
        self._starter = starter  # sends start actions' requests (messages with "start")
        self._state = chain.state
        self._limits = limits
        self._max_attempts = max_attempts
        self._min_delay = min_delay
        self._clock = clock
        self._rng = rng

    def own_start(self, doc: dict[str, Any], message_id: str, now: datetime) -> StepResult:
        """A producer's start, checked, queued again as graphops' own sealed message under this message's id."""
        tracking, _ = from_start_request(doc, message_id, now, self._limits)
        if tracking.callback_url is not None:
            with contextlib.suppress(OSError):  # DNS did not answer: delivery resolves again
                self._limits.callbacks.target(tracking.callback_url)
        self._chain.send_own({**doc, "trackingId": message_id}, 0)
        return StepResult(message_id, "startQueued", tracking, 0, "queued as graphops' own start")

    def start(self, pending: Tracking, request: StartRequest, doc: dict[str, Any]) -> StepResult:
        if self._starter is None or self._state is None:
            raise RuntimeError("start messages need the state table and a starter")
        not_before, now = moment_or_none(doc.get("notBefore")), self._clock()
        if not_before is not None and now < not_before:
            # Woken early by the queue's 7-day limit: Graph's Retry-After for this start has not passed yet.
            self._chain.send_own(doc, delay_until(not_before, now))
            return StepResult(pending.tracking_id, "retryStart", pending, detail="waiting for Retry-After")
        if self._state.read(pending.tracking_id) is not None:
            # A redelivered start whose tracking is under way (or over): its own steps carry on.
            event("dropped", trackingId=pending.tracking_id, reason="started already")
            return StepResult(pending.tracking_id, "dropped", pending, detail="started already")
        pending = replace(pending, history=())  # no state yet: its history starts here
        started = self._starter.start(pending.tracking_id, request, pending.deadline, pending.tenant_id)
        noted = pending.noted(at=iso(self._clock()), start=request.action.name, http=started.status,
                              decision=type(started.decision).__name__)  # fmt: skip
        return self._after_start(noted, request, started, doc)

    def _after_start(
        self, pending: Tracking, request: StartRequest, started: Started, doc: dict[str, Any]
    ) -> StepResult:
        decision, now = started.decision, self._clock()
        if isinstance(decision, Accepted):
            tracking = tracking_of(pending, decision, request.action)
            delay = delay_until(decision.not_before, now)  # the 202's Retry-After
            assert self._state is not None  # checked in _start
            self._chain.checkpoint("beforeFirstStep")
            queue_first_step(self._chain.queue, self._chain.seal, self._state, tracking, delay)
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
        self, pending: Tracking, request: StartRequest, decision: NotNow | OverLimit | Unknown | InFlight,
        doc: dict[str, Any],
        now: datetime,
    ) -> StepResult:  # fmt: skip
        attempts = start_attempts(doc) + 1
        problem = (decision.error.message if isinstance(decision, NotNow | Unknown) else
                   f"Graph's limit of {decision.limit}" if isinstance(decision, OverLimit)
                   else "another start was under way")  # fmt: skip
        if attempts >= self._max_attempts:
            error = ErrorInfo(
                "notStarted", f"Graph did not start {request.action.name} in {attempts} attempts: {problem}"
            )
            return self._deliver(pending.finish(Outcome.ERROR, error, now))
        wait = decision.wait if isinstance(decision, NotNow | OverLimit) else None
        delay, not_before = split_wait(delivery_delay(attempts, self._min_delay, wait, self._rng), now)
        again = {**doc, "trackingId": pending.tracking_id, "startAttempts": attempts,
                 "notBefore": iso(not_before) if not_before else None}  # fmt: skip
        self._chain.send_own(again, delay)
        return StepResult(pending.tracking_id, "retryStart", pending, delay, problem)
