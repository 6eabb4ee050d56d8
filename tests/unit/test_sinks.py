"""Sinks without servers: the CloudEvent a finished tracking becomes, which sinks a request may name, and one
sink failing while another delivers (stub sinks; the real ones are in tests/integration/test_sinks.py)."""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from graphops.common.errors import Rejected
from graphops.delivery.deliverer import DeliveryResult
from graphops.delivery.event_grid_sink import cloud_event
from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import Outcome, Tracking
from graphops.envelope.wire import from_wire
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.local.eventgrid import _VALIDATOR
from graphops.pacing.schedule import PollSchedule
from graphops.step.decide import Policy
from graphops.step.tracker import Tracker
from graphops.storage.seal import Seal

from .test_step import CALLBACK, NOW, StubDeliverer, StubGraph, StubQueue

SEAL = Seal(b"a key the tests seal their envelopes with.")
LIMITS = Limits(
    "https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",), resolver=lambda h, p: ["20.38.102.5"]),
    86400, 30 * 86400, sinks=frozenset({"callback", "events", "queue"}),
)  # fmt: skip


def finished(**changes: Any) -> Tracking:
    doc = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK, **changes}
    tracking = from_request(doc, "t-1", NOW, LIMITS)
    return tracking.finish(Outcome.SUCCEEDED, None, NOW + timedelta(seconds=3))


def test_a_finished_tracking_is_a_valid_cloudevent_with_the_callbacks_json_as_data() -> None:
    tracking = finished()
    event = cloud_event(tracking, tracking.callback_body(), "/graphops/func-graphops-x")
    assert list(_VALIDATOR.iter_errors(event)) == []
    assert event == {
        "specversion": "1.0", "id": "t-1", "source": "/graphops/func-graphops-x",
        "type": "graphops.operation.succeeded", "subject": seed.ALERT_OPERATION_PATH,
        "time": "2026-11-28T00:00:03.000Z", "datacontenttype": "application/json",
        "data": tracking.callback_body(),
    }  # fmt: skip
    assert len(json.dumps(event)) < 1024 * 1024  # Event Grid's limit, by far


def test_the_subject_never_carries_a_monitors_credential_and_is_absent_without_an_operation() -> None:
    monitor = replace(finished(), operation_url="https://contoso.sharepoint.com/_api/v2.0/monitor/4A?tempauth=secret")
    from graphops.graph.kinds import DriveItemCopy

    event = cloud_event(replace(monitor, kind=DriveItemCopy), {}, "/s")
    assert event["subject"] == "/_api/v2.0/monitor/4A" and "secret" not in json.dumps(event)
    assert "subject" not in cloud_event(replace(finished(), operation_url=None), {}, "/s")


@pytest.mark.parametrize(
    ("doc", "configured", "notify"),
    [
        ({"callbackUrl": CALLBACK}, {"callback"}, ("callback",)),
        ({"callbackUrl": CALLBACK}, {"callback", "events", "queue"}, ("callback", "events", "queue")),
        ({}, {"callback", "events"}, ("events",)),
        ({"notify": ["queue"]}, {"callback", "events", "queue"}, ("queue",)),
        ({"callbackUrl": CALLBACK, "notify": ["events", "callback", "events"]}, {"callback", "events"},
         ("events", "callback")),
    ],
)  # fmt: skip
def test_the_sinks_a_request_names(doc: dict[str, Any], configured: set[str], notify: tuple[str, ...]) -> None:
    limits = replace(LIMITS, sinks=frozenset(configured))
    tracking = from_request({"operationUrl": seed.ALERT_OPERATION_PATH, **doc}, "t", NOW, limits)
    assert tracking.notify == notify and tracking.callback_url == doc.get("callbackUrl")


@pytest.mark.parametrize(
    ("doc", "configured", "field"),
    [
        ({}, {"callback"}, "callbackUrl"),
        ({"notify": ["events"]}, {"callback"}, "notify"),
        ({"notify": ["callback"]}, {"callback", "events"}, "callbackUrl"),
        ({"callbackUrl": CALLBACK, "notify": ["events"]}, {"callback", "events"}, "callbackUrl"),
        ({"notify": "events"}, {"callback", "events"}, "notify"),
        ({"notify": ["sms"]}, {"callback", "events"}, "notify"),
    ],
)
def test_a_request_without_a_usable_sink_is_refused(doc: dict[str, Any], configured: set[str], field: str) -> None:
    with pytest.raises(Rejected) as refused:
        limits = replace(LIMITS, sinks=frozenset(configured))
        from_request({"operationUrl": seed.ALERT_OPERATION_PATH, **doc}, "t", NOW, limits)
    assert refused.value.field == field


class StubSink:
    def __init__(self, name: str, *results: DeliveryResult) -> None:
        self.name, self.setting = name, f"SETTING_OF_{name}"
        self.results = list(results)
        self.calls = 0

    def deliver(self, tracking: Tracking, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        self.calls += 1
        return self.results.pop(0) if self.results else DeliveryResult(True, False, "ok")

    def describe(self, tracking: Tracking) -> str:
        return self.name


def step_with(events: StubSink, queue: StubQueue, callback: StubDeliverer) -> Tracker:
    from graphops.delivery.callback_sink import CallbackSink

    return Tracker(
        limits=LIMITS, policy=Policy(PollSchedule(5, 60), 120), graph=StubGraph(),  # type: ignore[arg-type]
        queue=queue, seal=SEAL, deliverer=callback, max_delivery_attempts=3, clock=lambda: NOW,  # type: ignore[arg-type]
        rng=random.Random(0), sinks={"callback": CallbackSink(callback), "events": events},  # type: ignore[arg-type]
        retention=timedelta(days=7),
    )  # fmt: skip


def test_one_sink_failing_is_retried_alone_and_the_other_is_not_repeated() -> None:
    busy = DeliveryResult(False, True, "Event Grid answered 503", 503, retry_after=30)
    events, queue, callback = StubSink("events", busy), StubQueue(), StubDeliverer()
    tracker = step_with(events, queue, callback)
    tracking = finished(notify=["callback", "events"])
    first = tracker.handle(SEAL.seal(tracking.to_wire()), "m")
    assert (first.action, len(callback.posts), events.calls) == ("retryDelivery", 1, 1)
    [(text, delay)] = queue.sent
    assert delay >= 30  # Event Grid's Retry-After
    second = tracker.handle(text, "m")
    assert (second.action, len(callback.posts), events.calls) == ("delivered", 1, 2)  # the callback not again
    assert second.tracking is not None and second.tracking.delivery("events").attempts == 2


def test_a_sink_that_refuses_is_dead_lettered_and_its_copy_delivers_only_to_it() -> None:
    refused = DeliveryResult(False, False, "Event Grid answered 403: no role", 403)
    events, queue, callback = StubSink("events", refused), StubQueue(), StubDeliverer()
    tracker = step_with(events, queue, callback)
    result = tracker.handle(SEAL.seal(finished(notify=["callback", "events"]).to_wire()), "m")
    assert result.action == "deadLettered" and len(callback.posts) == 1
    [dead] = queue.dead
    assert dead["field"] == "GRAPHOPS_EVENT_GRID_ENDPOINT"
    assert dead["reason"] == "event not published: Event Grid answered 403: no role"
    copy = from_wire(json.loads(dead["original"]), LIMITS)
    assert copy.pending_sinks() == ("events",)  # put back, it publishes and does not call back again
    again = tracker.handle(dead["original"], "m2")
    assert (again.action, len(callback.posts), events.calls) == ("delivered", 1, 2)


def test_an_envelope_from_before_sinks_still_reads_as_a_callback_delivery() -> None:
    wire = json.loads(finished().to_wire())
    for name in ("notify", "deliveries"):
        del wire[name]
    old = from_wire({**wire, "deliveryAttempts": 2, "lastDeliveryError": "callback answered 503"}, LIMITS)
    assert old.notify == ("callback",) and old.delivery("callback").attempts == 2
    assert old.last_delivery_error == "callback answered 503"


@pytest.mark.parametrize("failing", ["callback", "events", "queue"])
def test_a_failing_sink_holds_back_none_of_the_others(failing: str) -> None:
    """Every sink is tried in the same step, whichever fails and wherever it stands in the order."""
    from graphops.delivery.callback_sink import CallbackSink

    busy = DeliveryResult(False, True, f"{failing} answered 503", 503)
    callback = StubDeliverer(*([busy] if failing == "callback" else []))
    events = StubSink("events", *([busy] if failing == "events" else []))
    results = StubSink("queue", *([busy] if failing == "queue" else []))
    queue = StubQueue()
    tracker = Tracker(
        limits=LIMITS, policy=Policy(PollSchedule(5, 60), 120), graph=StubGraph(),  # type: ignore[arg-type]
        queue=queue, seal=SEAL, deliverer=callback, max_delivery_attempts=3, clock=lambda: NOW,  # type: ignore[arg-type]
        rng=random.Random(0),
        sinks={"callback": CallbackSink(callback), "events": events, "queue": results},  # type: ignore[dict-item]
        retention=timedelta(days=7),
    )  # fmt: skip
    result = tracker.handle(SEAL.seal(finished(notify=["callback", "events", "queue"]).to_wire()), "m")
    assert result.action == "retryDelivery" and result.tracking is not None
    assert (len(callback.posts), events.calls, results.calls) == (1, 1, 1)  # all three tried at once
    states = {sink: str(result.tracking.delivery(sink).state) for sink in ("callback", "events", "queue")}
    assert states == {sink: "pending" if sink == failing else "delivered" for sink in states}
