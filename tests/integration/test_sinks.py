"""Results as events: CloudEvents published to an Event Grid topic (the HTTPS stand-in, with the real
azure-eventgrid client and a token from the identity stand-in) and put on a results queue (Azurite), beside
or instead of the callback; each sink delivered on its own, at least once."""

from __future__ import annotations

import base64
import json
import logging
import re
from typing import Any

import pytest
import requests

from graphops.local import seed
from graphops.local.graph import Reply

from ..patience import patience
from .conftest import ROOT, Harness, results_queue, sink_settings

RUNNING, SUCCEEDED = seed.alert_refresh("running"), seed.alert_refresh("succeeded")
OPERATION = seed.ALERT_OPERATION_PATH


@pytest.fixture
def sinks(make_harness: Any, stack: Any) -> Harness:
    """An app with both sinks configured: the Event Grid stand-in and a results queue of its own."""
    harness: Harness = make_harness(**sink_settings(stack))
    harness.graph.script(OPERATION, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    return harness


def results(harness: Harness) -> list[dict[str, Any]]:
    return harness.results()


def test_events_only_no_callback_url(sinks: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness = sinks
    tracking_id = harness.client.track(harness.graph_url(OPERATION), notify=["events"], correlation_id="c-1")
    with caplog.at_level(logging.INFO):
        harness.run()
    # Publishing adds no SDK chatter to the traces (the worker passes INFO on): no Event Grid line at all.
    grid = f"127.0.0.1:{harness.stack.eventgrid.port}"
    chatter = [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO and r.name.startswith("azure.")
               and (r.name.startswith("azure.eventgrid") or grid in r.getMessage())]  # fmt: skip
    assert chatter == []
    [event] = harness.stack.eventgrid.events
    assert event["specversion"] == "1.0" and event["id"] == tracking_id
    assert (event["type"], event["source"], event["subject"]) == (
        "graphops.operation.succeeded", "/graphops/local", OPERATION,
    )  # fmt: skip
    assert event["datacontenttype"] == "application/json" and event["time"] == event["data"]["finishedAt"]
    data = event["data"]
    assert (data["trackingId"], data["outcome"], data["correlationId"]) == (tracking_id, "succeeded", "c-1")
    assert data["operation"] == SUCCEEDED and data["kind"] == "roleManagementAlertRefresh"
    assert harness.receiver.received == [] and results(harness) == []
    assert harness.stack.eventgrid.violations == []  # a token for Event Grid, a valid CloudEvents batch


def test_callback_events_and_queue_together_each_once(sinks: Harness) -> None:
    harness = sinks
    tracking_id = harness.track(OPERATION)  # a callback URL, and every configured sink by default
    harness.run()
    [callback] = harness.receiver.delivered()
    [event] = harness.stack.eventgrid.events
    [queued] = results(harness)
    assert callback.webhook_id == event["id"] == queued["id"] == tracking_id
    assert event["data"] == queued["data"] == callback.body  # one document, three ways
    assert queued["type"] == "graphops.operation.succeeded" and queued["subject"] == OPERATION


def test_the_status_view_shows_each_sinks_delivery(sinks: Harness) -> None:
    harness = sinks
    doc = {"operationUrl": OPERATION, "callbackUrl": harness.stack.callback_url(), "notify": ["callback", "events"]}
    answer = requests.post(harness.api("operations"), json=doc, timeout=patience(10))
    assert answer.status_code == 202, answer.text
    harness.stack.eventgrid.script([Reply(503)])
    harness.run()
    view = requests.get(answer.json()["statusUrl"], timeout=patience(10)).json()
    assert view["deliveries"] == {
        "callback": {"state": "delivered", "attempts": 1, "error": None},
        "events": {"state": "delivered", "attempts": 2, "error": None},
    }
    assert results(harness) == []  # not named in notify


def test_event_grid_failing_then_recovering_publishes_one_event_and_calls_back_once(sinks: Harness) -> None:
    harness = sinks
    grid = harness.stack.eventgrid
    grid.script([Reply(503, {"error": {"code": "ServiceUnavailable"}}), Reply(429, None, {"Retry-After": "1"})])
    tracking_id = harness.track(OPERATION, notify=["callback", "events"])
    harness.run()
    assert [p.status for p in grid.publishes] == [503, 429, 200]
    assert [p.events[0]["id"] for p in grid.publishes] == [tracking_id] * 3  # the same event every time
    assert grid.publishes[2].at - grid.publishes[1].at >= 1  # Event Grid's Retry-After was honoured
    assert len(harness.receiver.received) == 1  # the callback went out once, and was not repeated
    assert len(harness.graph.gets(OPERATION)) == 2 and harness.poison() == []


def test_event_grid_refusing_is_dead_lettered_with_its_reason_and_the_callback_still_goes(sinks: Harness) -> None:
    harness = sinks
    grid = harness.stack.eventgrid
    grid.script([Reply(403, {"error": {"code": "Unauthorized", "message": "no EventGrid Data Sender role"}})])
    tracking_id = harness.track(OPERATION)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "succeeded" and results(harness)[0]["id"] == tracking_id
    [dead] = harness.poison()
    assert dead["field"] == "GRAPHOPS_EVENT_GRID_ENDPOINT" and dead["trackingId"] == tracking_id
    assert dead["reason"].startswith("event not published: Event Grid answered 403")
    # Put back once the role is granted: the event goes out, and nothing else is delivered again.
    harness.requeue()
    harness.run()
    assert [e["id"] for e in grid.events] == [tracking_id]
    assert len(harness.receiver.received) == 1 and len(results(harness)) == 1


@pytest.mark.parametrize(
    ("settings", "doc", "field"),
    [
        ({}, {"operationUrl": OPERATION}, "callbackUrl"),  # no sink at all
        ({}, {"operationUrl": OPERATION, "notify": ["events"]}, "notify"),  # not configured here
        ({"events": True}, {"operationUrl": OPERATION, "notify": ["callback"]}, "callbackUrl"),
        ({"events": True}, {"operationUrl": OPERATION, "notify": ["mail"]}, "notify"),
        ({"events": True}, {"operationUrl": OPERATION, "notify": []}, "notify"),
    ],
)
def test_a_request_without_a_usable_sink_is_refused_naming_the_field(
    make_harness: Any, stack: Any, settings: dict[str, bool], doc: dict[str, Any], field: str
) -> None:
    env = {"GRAPHOPS_EVENT_GRID_ENDPOINT": stack.eventgrid.endpoint} if settings.get("events") else {}
    harness = make_harness(**env)
    answer = requests.post(harness.api("operations"), json=doc, timeout=patience(10))
    assert answer.status_code == 400 and field in [e["field"] for e in answer.json()["errors"]]


def test_a_retry_after_past_the_deadline_plus_retention_dead_letters_that_sink(sinks: Harness) -> None:
    """Retry-After: 9999999999 (the year 2343) from the callback, and from Event Grid: each sink is dead-lettered
    at once with the reason; the results queue is delivered, and nothing waits."""
    harness = sinks
    harness.receiver.answer("/parked", (503, {"Retry-After": "9999999999"}))
    harness.stack.eventgrid.script([Reply(503, None, {"Retry-After": "9999999999"})])
    tracking_id = harness.track(OPERATION, callback_url=harness.stack.callback_url("/parked"))
    harness.run()
    [dead] = harness.poison()
    assert dead["trackingId"] == tracking_id
    assert dead["field"] == "callbackUrl,GRAPHOPS_EVENT_GRID_ENDPOINT"
    for reason in dead["reason"].split("; event not published: "):
        assert (
            "Retry-After (9999999999 s) ends after the tracking's deadline plus GRAPHOPS_STATE_RETENTION_DAYS" in reason
        )
    assert dead["reason"].startswith("callback not delivered: callback answered 503")
    assert [r["id"] for r in results(harness)] == [tracking_id]
    assert len(harness.receiver.received) == 1 and len(harness.stack.eventgrid.publishes) == 1


def readme_consumer() -> Any:
    """The documented results-queue consumer (docs/events.md), exactly as a reader copies it."""
    readme = (ROOT / "docs" / "events.md").read_text()
    [code] = [block for block in re.findall(r"```python\n(.*?)```", readme, re.S) if "def verified_event" in block]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/events.md", "exec"), scope)  # noqa: S102 - the documentation's own code, run as documented
    return scope["verified_event"]


def test_a_results_queue_message_verifies_with_the_readmes_consumer_and_a_forged_one_does_not(sinks: Harness) -> None:
    harness = sinks
    verified_event = readme_consumer()
    tracking_id = harness.track(OPERATION)
    harness.run()
    queue = harness.queue(results_queue(harness.stack))
    [message] = [base64.b64decode(m.content).decode() for m in queue.peek_messages(max_messages=32)]
    secret = harness.env["GRAPHOPS_CALLBACK_SECRET"]
    event = verified_event(message, secret)
    assert event["id"] == tracking_id and event["data"] == harness.receiver.delivered()[0].body
    # What anyone else could write there: an unsigned event, a result changed on the way, another secret's.
    signed = json.loads(message)
    changed = {**signed, "body": signed["body"].replace('"succeeded"', '"failed"')}
    unsigned = {"headers": {k: v for k, v in signed["headers"].items() if k != "webhook-signature"},
                "body": signed["body"]}  # fmt: skip
    for forged in (changed, unsigned):
        with pytest.raises(ValueError, match="not signed with this deployment's callback secret"):
            verified_event(json.dumps(forged), secret)
    other = "whsec_" + base64.b64encode(b"another deployment's secret, 32 b").decode()
    with pytest.raises(ValueError, match="not signed"):
        verified_event(message, other)
