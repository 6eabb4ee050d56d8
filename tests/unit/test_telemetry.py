"""Telemetry's pure parts and its one contact with the Azure Monitor distro. Traces and metrics of real
trackings: tests/integration/test_telemetry.py."""

from __future__ import annotations

import contextvars
import json
import sys
import types
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace

from graphops.common import telemetry
from graphops.common.errors import Rejected
from graphops.delivery.event_grid_sink import cloud_event
from graphops.envelope.tracking import Outcome, Tracking
from graphops.envelope.wire import from_wire
from graphops.graph.kinds import KINDS
from graphops.intake.request import from_request
from graphops.step.tracker import wire_trace

from ..conftest import SPAN_LEAKS

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_without_a_connection_string_nothing_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[dict[str, Any]] = []
    fake = types.ModuleType("azure.monitor.opentelemetry")
    fake.configure_azure_monitor = lambda **options: called.append(options)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", fake)
    assert telemetry.configure(None, object(), 1.0) is False
    assert called == []


def test_with_one_the_distro_exports_with_entra_id_and_records_nothing_twice(monkeypatch: pytest.MonkeyPatch) -> None:
    called: list[dict[str, Any]] = []
    fake = types.ModuleType("azure.monitor.opentelemetry")
    fake.configure_azure_monitor = lambda **options: called.append(options)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "azure.monitor.opentelemetry", fake)
    credential = object()
    assert telemetry.configure("InstrumentationKey=k;IngestionEndpoint=https://x/", credential, 0.25) is True
    [options] = called
    assert options["credential"] is credential and options["sampling_ratio"] == 0.25
    assert options["disable_logging"] is True  # logs still reach Application Insights through the host, once
    assert all(not o["enabled"] for o in options["instrumentation_options"].values())
    assert set(options["instrumentation_options"]) >= {"requests", "urllib3", "azure_sdk"}


def test_outside_a_span_there_is_no_traceparent_and_inside_one_there_is() -> None:
    assert telemetry.current_traceparent() is None
    with trace.get_tracer("test").start_as_current_span("s") as span:
        context = span.get_span_context()
        assert telemetry.current_traceparent() == f"00-{context.trace_id:032x}-{context.span_id:016x}-03"


def test_a_producers_traceparent_is_checked_and_carried_on() -> None:
    from graphops.egress.policy import CallbackPolicy
    from graphops.intake.limits import Limits

    limits = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    doc = {"operationUrl": "/v1.0/users/u/authentication/operations/o", "callbackUrl": "https://a.logic.azure.com/x",
           "traceparent": PARENT}  # fmt: skip
    tracking = from_request(doc, "t1", NOW, limits)
    assert tracking.traceparent == PARENT
    again = from_wire(json.loads(tracking.to_wire()), limits)
    assert again.traceparent == PARENT
    damaged = {**json.loads(tracking.to_wire()), "traceparent": "junk", "dueAt": "soon"}
    assert (from_wire(damaged, limits).traceparent, from_wire(damaged, limits).due_at) == (None, None)
    zero_trace = "00-" + "0" * 32 + "-00f067aa0ba902b7-01"
    for bad in ("", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", zero_trace, PARENT.upper(), 42):
        with pytest.raises(Rejected) as raised:
            from_request({**doc, "traceparent": bad}, "t1", NOW, limits)
        assert raised.value.field == "traceparent"


def test_a_damaged_envelope_trace_costs_the_trace_not_the_step() -> None:
    assert wire_trace({"traceparent": "junk", "stepSpan": PARENT, "dueAt": "yesterday"}) == (None, PARENT, None)
    assert wire_trace({"traceparent": 7, "dueAt": 12}) == (None, None, None)
    assert wire_trace(None) == (None, None, None)  # a message that is not a JSON object
    assert wire_trace({"dueAt": "2026-11-29T12:00:00.000Z"})[2] == NOW
    assert wire_trace({"dueAt": "2026-11-29T12:00:00"})[2] == NOW  # no zone: UTC, never a naive time to trip on


def test_an_event_carries_the_distributed_tracing_extension() -> None:
    tracking = Tracking("t1", "https://graph.microsoft.com/v1.0/x", KINDS["authenticationMethodOperation"], None,
                        NOW, NOW, outcome=Outcome.SUCCEEDED, finished_at=NOW)  # fmt: skip
    assert cloud_event(tracking, {}, "/graphops/x", PARENT)["traceparent"] == PARENT
    assert "traceparent" not in cloud_event(tracking, {}, "/graphops/x")


@pytest.mark.parametrize(
    "url", ["https://prod.logic.azure.com/x?sig=abc", "https://contoso.sharepoint.com/_api/v2.0/monitor/m?tempAuth=abc"]
)
def test_the_suite_wide_watch_catches_a_secret_on_a_span_in_any_case(url: str) -> None:
    with trace.get_tracer("test").start_as_current_span("leak") as span:
        span.set_attribute("url.full", url)
    try:
        assert SPAN_LEAKS and url in SPAN_LEAKS[-1]
    finally:
        SPAN_LEAKS.clear()  # this one was planted


@pytest.mark.parametrize("query", ["tempauth=t", "tempAuth=t"])  # a drive copy's monitor, a label assignment's
def test_urls_on_spans_lose_their_query(query: str) -> None:
    attributes = telemetry.http_attributes("GET", f"https://contoso.sharepoint.com/_api/v2.1/x?{query}")
    assert attributes == {"http.request.method": "GET", "server.address": "contoso.sharepoint.com",
                          "url.full": "https://contoso.sharepoint.com/_api/v2.1/x?…"}  # fmt: skip


def test_the_alert_rules_query_the_metrics_graphops_records() -> None:
    from pathlib import Path

    names = {instrument.name for instrument in vars(telemetry.instruments()).values()}
    assert names == set(telemetry.METRIC_NAMES)
    alerts = (Path(__file__).resolve().parents[2] / "infra" / "app" / "alerts.bicep").read_text()
    for name in telemetry.METRIC_NAMES:
        if name != "graphops.detection.lag":  # on the workbook, not an alert
            assert name in alerts, name


def test_the_workers_invocation_context_is_the_parent_of_a_first_step_and_a_link_of_the_others() -> None:
    # What azure-functions-runtime does per invocation with PYTHON_ENABLE_OPENTELEMETRY (Microsoft's own code).
    from types import SimpleNamespace

    from azure_functions_runtime import otel

    host = "00-11111111111111111111111111111111-2222222222222222-01"
    invocation = SimpleNamespace(trace_context=SimpleNamespace(trace_parent=host, trace_state=""))

    def step(root: str | None) -> Any:
        otel.update_opentelemetry_status()
        otel.configure_opentelemetry(invocation)  # attaches the host's context, as before each function call
        with telemetry.step_span("graphops step", root, None, {}) as span:
            return span

    first = contextvars.copy_context().run(step, None)  # a copy: the attached context stays in it
    assert first.parent is not None and first.parent.span_id == 0x2222222222222222 and first.links == ()
    later = contextvars.copy_context().run(step, PARENT)
    assert later.parent is not None and later.parent.span_id == 0x00F067AA0BA902B7
    [link] = later.links
    assert link.context.span_id == 0x2222222222222222 and dict(link.attributes or {}) == {"graphops.link": "invocation"}
