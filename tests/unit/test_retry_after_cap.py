"""A receiver's Retry-After is waited out, but never past the tracking's deadline plus the state's retention: past
that, the sink is dead-lettered at once with the reason (``Retry-After: 9999999999`` once parked a tracking until
the year 2343)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from graphops.delivery.deliverer import DeliveryResult
from graphops.envelope.tracking import Delivery, DeliveryState
from graphops.step.delivery_job import after_attempt

from .test_sinks import SEAL, StubSink, finished, step_with
from .test_step import NOW, StubDeliverer, StubQueue

KEEP_UNTIL = NOW + timedelta(days=8)
LEFT = (KEEP_UNTIL - NOW).total_seconds()


def busy(retry_after: float | None) -> DeliveryResult:
    return DeliveryResult(False, True, "callback answered 503", 503, retry_after)


@pytest.mark.parametrize("retry_after", [None, 30.0, LEFT])
def test_a_wait_that_ends_by_the_deadline_plus_retention_is_waited_for(retry_after: float | None) -> None:
    assert after_attempt(Delivery(), busy(retry_after), 12, NOW, KEEP_UNTIL) == Delivery(
        1, DeliveryState.PENDING, "callback answered 503"
    )


# One second too long, the year 2343, and an HTTP date near the end of the calendar (past what a datetime holds).
@pytest.mark.parametrize(
    "retry_after", [LEFT + 1, 9_999_999_999.0, (timedelta.max - timedelta(days=1)).total_seconds()]
)
def test_a_longer_wait_dead_letters_the_sink_with_the_reason(retry_after: float) -> None:
    delivery = after_attempt(Delivery(2), busy(retry_after), 12, NOW, KEEP_UNTIL)
    assert (delivery.attempts, delivery.state) == (3, DeliveryState.DEAD_LETTERED)
    assert delivery.error is not None and delivery.error.startswith("callback answered 503; its Retry-After")
    assert "GRAPHOPS_STATE_RETENTION_DAYS" in delivery.error and KEEP_UNTIL.isoformat()[:10] in delivery.error


def test_a_refusal_is_dead_lettered_as_before_whatever_its_retry_after() -> None:
    refused = DeliveryResult(False, False, "callback answered 410", 410, 9_999_999_999.0)
    assert after_attempt(Delivery(), refused, 12, NOW, KEEP_UNTIL).error == "callback answered 410"


@pytest.mark.parametrize("sink", ["callback", "events"])
def test_through_the_step_that_sink_is_dead_lettered_and_the_other_is_not_held_back(sink: str) -> None:
    """The tracking's deadline is a day after NOW (the default timeout) and the retention 7 days."""
    forever = busy(9_999_999_999.0)
    soon = busy(30.0)
    events = StubSink("events", forever if sink == "events" else soon)
    callback = StubDeliverer(forever if sink == "callback" else soon)
    queue = StubQueue()
    result = step_with(events, queue, callback).handle(
        SEAL.seal(finished(notify=["callback", "events"]).to_wire()), "m"
    )
    assert result.action == "retryDelivery" and result.tracking is not None
    assert str(result.tracking.delivery(sink).state) == "deadLettered"
    [(_, delay)] = queue.sent
    assert 30 <= delay < 3600 and result.tracking.not_before is None  # the other sink's own wait, not 317 years

    again = step_with(StubSink("events"), queue, StubDeliverer()).handle(queue.sent[0][0], "m2")
    assert again.action == "deadLettered" and "Retry-After (9999999999 s)" in (again.detail or "")
    [dead] = queue.dead
    assert dead["field"] == {"callback": "callbackUrl", "events": "GRAPHOPS_EVENT_GRID_ENDPOINT"}[sink]
    copy = json.loads(dead["original"])
    assert copy["deliveries"][sink]["state"] == "pending"  # put back, it tries that sink afresh
