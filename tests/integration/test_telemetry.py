"""Traces and metrics, read from OpenTelemetry's in-memory exporters (installed in tests/conftest.py as the
Azure Monitor distro would be in Azure): one trace per tracking rooted at the API call, a step's children, the
links between steps, the traceparent a callback and an event carry, and the measurements with their attributes.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanKind

from graphops.client import GraphOpsClient
from graphops.local import seed
from graphops.local.graph import Reply

from ..conftest import METRICS, SECRETS, SPANS
from ..patience import patience
from .conftest import Harness, sink_settings

RUNNING, SUCCEEDED = seed.alert_refresh("running"), seed.alert_refresh("succeeded")


def spans() -> list[ReadableSpan]:
    return list(SPANS.get_finished_spans())


def steps_of(tracking_id: str) -> list[ReadableSpan]:
    found = [s for s in spans() if s.name == "graphops step" and (s.attributes or {}).get("graphops.tracking_id")
             == tracking_id]  # fmt: skip
    return sorted(found, key=lambda s: s.start_time or 0)


def children_of(parent: ReadableSpan) -> list[ReadableSpan]:
    return [s for s in spans() if s.parent is not None and s.parent.span_id == parent.context.span_id]


def traceparent_of(span: ReadableSpan) -> str:
    return f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-{int(span.context.trace_flags):02x}"


def measurements() -> dict[str, list[tuple[dict[str, Any], Any]]]:
    """name -> (attributes, point) of every data point since the test began (read once: the reader gives deltas)."""
    data = METRICS.get_metrics_data()
    found: dict[str, list[tuple[dict[str, Any], Any]]] = {}
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                found.setdefault(metric.name, []).extend(
                    (dict(point.attributes or {}), point) for point in metric.data.data_points
                )
    return found


def test_a_subscribed_tracking_is_one_trace_rooted_at_the_subscribe_call(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    body = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": harness.stack.callback_url()}
    tracking_id = requests.post(harness.api("operations"), json=body, timeout=patience(10)).json()["trackingId"]
    harness.run()

    [root] = [s for s in spans() if s.name == "graphops subscribe"]
    steps = steps_of(tracking_id)
    assert len(steps) == 3  # running, running, succeeded (and delivered in the last step)
    assert all(s.context.trace_id == root.context.trace_id for s in steps)
    assert all(s.parent is not None and s.parent.span_id == root.context.span_id for s in steps)
    assert [s.kind for s in steps] == [SpanKind.CONSUMER] * 3
    # Each step after the first links to the one that queued it.
    for before, step in itertools.pairwise(steps):
        [link] = [link for link in step.links if (link.attributes or {}).get("graphops.link") == "previousStep"]
        assert link.context.span_id == before.context.span_id
    assert [dict(s.attributes or {}).get("graphops.decision") for s in steps] == ["pollAgain", "pollAgain", "delivered"]
    last = dict(steps[-1].attributes or {})
    described = ("graphops.kind", "graphops.outcome", "graphops.graph_status", "graphops.http_status")
    assert [last[name] for name in described] == ["roleManagementAlertRefresh", "succeeded", "succeeded", 200]

    first_children = sorted(s.name for s in children_of(steps[0]))
    table, queue = harness.env.get("GRAPHOPS_STATE_TABLE", "graphopsstate"), harness.stack.queue_name
    assert first_children == sorted(["GET Graph", f"read {table}", f"send {queue}", f"merge {table}"])
    [graph] = [s for s in children_of(steps[0]) if s.name == "GET Graph"]
    graph_attributes = dict(graph.attributes or {})
    assert graph.kind is SpanKind.CLIENT and graph_attributes["http.response.status_code"] == 200
    assert graph_attributes["graphops.client_request_id"] and graph_attributes["server.address"] == "127.0.0.1"

    [deliver] = [s for s in children_of(steps[-1]) if s.name == "deliver callback"]
    assert dict(deliver.attributes or {})["graphops.result"] == "delivered"
    [callback] = harness.receiver.delivered()
    assert callback.headers["traceparent"] == traceparent_of(deliver)  # the receiver's trace continues it


def test_a_queue_tracking_continues_its_producers_trace_or_starts_its_own(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    harness.graph.script(seed.reset_path("u", "r"), [Reply(200, seed.password_reset("succeeded", "r"))])
    client = GraphOpsClient.from_env(harness.env)
    with trace.get_tracer("producer").start_as_current_span("producer run") as producer:
        continued = client.track(harness.graph_url(seed.ALERT_OPERATION_PATH), harness.stack.callback_url())
    alone = client.track(harness.graph_url(seed.reset_path("u", "r")), harness.stack.callback_url())
    harness.run()

    steps = steps_of(continued)
    assert len(steps) == 2
    assert {s.context.trace_id for s in steps} == {producer.get_span_context().trace_id}
    assert all(s.parent is not None and s.parent.span_id == producer.get_span_context().span_id for s in steps)
    [only] = steps_of(alone)  # no trace given: its first step is the root
    assert only.parent is None and only.context.trace_id != producer.get_span_context().trace_id


def test_events_and_queued_results_carry_the_delivery_spans_traceparent(make_harness: Any, stack: Any) -> None:
    h: Harness = make_harness(**sink_settings(stack))
    h.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    tracking_id = h.track(seed.ALERT_OPERATION_PATH)
    h.run()
    [step] = steps_of(tracking_id)
    delivered = {s.name: s for s in children_of(step) if s.name.startswith("deliver ")}
    assert set(delivered) == {"deliver callback", "deliver events", "deliver queue"}
    [event] = [e for e in h.stack.eventgrid.events if e["id"] == tracking_id]
    assert event["traceparent"] == traceparent_of(delivered["deliver events"])
    [queued] = [e for e in h.results() if e["id"] == tracking_id]
    assert queued["traceparent"] == traceparent_of(delivered["deliver queue"])


def test_polls_durations_deliveries_dead_letters_and_queue_lag_are_measured(harness: Harness) -> None:
    ended = (datetime.now(UTC) - timedelta(seconds=30)).isoformat().replace("+00:00", "Z")
    done = {**seed.password_reset("succeeded", "r"), "lastActionDateTime": ended}
    harness.graph.script(seed.reset_path("u", "r"), [Reply(429, None, {"Retry-After": "1"}), Reply(200, done)])
    harness.receiver.answer("/flaky", 503)
    harness.track(seed.reset_path("u", "r"), callback_url=harness.stack.callback_url("/flaky"))
    harness.send_raw("not JSON")
    harness.run()

    measured = measurements()
    polls = {(a["graphops.kind"], a["http.response.status_code"]): p.value for a, p in measured["graphops.polls"]}
    assert polls == {("authenticationMethodOperation", 429): 1, ("authenticationMethodOperation", 200): 1}
    [(duration, point)] = measured["graphops.tracking.duration"]
    assert duration == {"graphops.kind": "authenticationMethodOperation", "graphops.outcome": "succeeded"}
    assert point.count == 1 and point.sum >= 1  # it waited out Graph's Retry-After
    [(lag, lag_point)] = measured["graphops.detection.lag"]
    assert lag == {"graphops.kind": "authenticationMethodOperation"} and lag_point.sum >= 30
    deliveries = {(a["graphops.sink"], a["graphops.result"]): p.value for a, p in measured["graphops.deliveries"]}
    assert deliveries == {("callback", "retry"): 1, ("callback", "delivered"): 1}
    dead = {(a["graphops.reason"], a["graphops.field"]): p.value for a, p in measured["graphops.dead_letters"]}
    assert dead == {("rejected", "message"): 1}
    [(queue, queue_point)] = measured["graphops.queue.lag"]
    assert queue == {"messaging.destination.name": harness.stack.queue_name}
    # One per message taken: the request (429), its next poll (done; the callback 503), the callback's retry, and
    # "not JSON".
    assert queue_point.count == 4


def test_no_span_names_a_monitors_credential_or_a_callbacks_key(harness: Harness) -> None:
    path = "/_api/v2.1/drives/b!x9/operations/1e5b"
    harness.stack.sharepoint.script(path, [Reply(200, {"status": "completed", "resourceId": "01ABC"})])
    SECRETS.add("secret-monitor-token")
    tracking_id = harness.client.track(harness.stack.sharepoint.url + path + "?tempauth=v1.secret-monitor-token",
                                       harness.stack.callback_url())  # fmt: skip
    harness.run()
    [step] = steps_of(tracking_id)
    [monitor] = [s for s in children_of(step) if s.name == "GET monitor"]
    assert dict(monitor.attributes or {})["url.full"] == f"{harness.stack.sharepoint.url}{path}?…"
    texts = [repr(dict(s.attributes or {})) for s in spans()]
    assert not [t for t in texts if "secret-monitor-token" in t or "local-secret-signature" in t]
