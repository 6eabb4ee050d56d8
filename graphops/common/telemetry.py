"""Traces and metrics through OpenTelemetry, exported to Azure Monitor where the app has a connection string.

The code speaks only to the OpenTelemetry API. :func:`configure` installs the Azure Monitor distro once per
process, and only when ``APPLICATIONINSIGHTS_CONNECTION_STRING`` is set: without it (locally, in tests) the
API's no-op providers make every span and measurement nearly free, and tests install the SDK's in-memory
ones instead.

One tracking is one trace. Its root is the span of whoever asked (the API's subscribe or start, or a
producer's own span, carried in the message's ``traceparent``); each step is a child of that root, linked to
the step before it (``previousSpan``) and to the Functions host's span for the queue message. Under a step:
the Graph call, the table read and merge, the queue send, each delivery; a callback and an event carry the
delivery span's ``traceparent``, so the receiver's own trace continues from there.

Nothing secret goes on a span: URLs lose their query (Logic Apps' ``sig``, a monitor's ``tempauth``), and no
header, token or body is recorded.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opentelemetry import metrics, trace
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from graphops.common.logs import redact_url

log = logging.getLogger("graphops.telemetry")
NAME = "graphops"
_PROPAGATOR = TraceContextTextMapPropagator()
# The distro's automatic instrumentations would record every HTTP and SDK call a second time (graphops makes
# its own spans for those) and a request span per incoming HTTP call the host records already.
INSTRUMENTATIONS = ("azure_sdk", "django", "fastapi", "flask", "psycopg2", "requests", "urllib", "urllib3")


def configure(connection_string: str | None, credential: Any, sampling_ratio: float) -> bool:
    """Export to Azure Monitor, once per process. Returns whether it did.

    ``credential`` signs the export with Entra ID (the deployment's Application Insights takes no keys).
    Logs keep going through the Functions host as before; the distro sends traces and metrics.
    """
    if not connection_string:
        return False
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(
        connection_string=connection_string,
        credential=credential,
        sampling_ratio=sampling_ratio,
        disable_logging=True,
        enable_live_metrics=False,
        instrumentation_options={name: {"enabled": False} for name in INSTRUMENTATIONS},
    )
    log.info("telemetry: exporting traces and metrics to Azure Monitor (sampling ratio %s)", sampling_ratio)
    return True


def tracer() -> trace.Tracer:
    return trace.get_tracer(NAME)


@dataclass(frozen=True)
class Instruments:
    """The metrics, named as the alert rules and the workbook in ``infra/`` query them."""

    polls: metrics.Counter
    detection_lag: metrics.Histogram
    duration: metrics.Histogram
    deliveries: metrics.Counter
    dead_letters: metrics.Counter
    queue_lag: metrics.Histogram


METRIC_NAMES = ("graphops.polls", "graphops.detection.lag", "graphops.tracking.duration", "graphops.deliveries",
                "graphops.dead_letters", "graphops.queue.lag")  # fmt: skip


@functools.cache
def instruments() -> Instruments:
    meter = metrics.get_meter(NAME)
    return Instruments(
        polls=meter.create_counter("graphops.polls", "{poll}", "Polls of Graph, by kind and HTTP status"),
        detection_lag=meter.create_histogram(
            "graphops.detection.lag", "s", "From Graph's end of the work (lastActionDateTime) to graphops seeing it"
        ),
        duration=meter.create_histogram("graphops.tracking.duration", "s", "Tracked until finished, by outcome"),
        deliveries=meter.create_counter("graphops.deliveries", "{attempt}", "Delivery attempts, by sink and result"),
        dead_letters=meter.create_counter("graphops.dead_letters", "{message}", "Messages dead-lettered, by reason"),
        queue_lag=meter.create_histogram(
            "graphops.queue.lag", "s", "How long a due message waited for a worker (age beyond its visibility delay)"
        ),
    )


# -- trace context on the wire ---------------------------------------------------------------------------


def current_traceparent() -> str | None:
    """The current span's W3C ``traceparent``, for a message, a callback or an event; None outside a span."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def inject(headers: MutableMapping[str, str]) -> None:
    """Add ``traceparent`` (and ``tracestate``) of the current span to outgoing headers."""
    _PROPAGATOR.inject(headers)


def span_context_of(traceparent: str | None) -> trace.SpanContext | None:
    if not traceparent:
        return None
    extracted = trace.get_current_span(_PROPAGATOR.extract({"traceparent": traceparent})).get_span_context()
    return extracted if extracted.is_valid else None


@contextmanager
def step_span(name: str, root: str | None, previous: str | None, attributes: Mapping[str, Any]) -> Iterator[Span]:
    """One step of a tracking: a child of the tracking's root (``root``, a traceparent) when there is one, and
    linked to the span the host runs the function under; without a root, a child of that span (the host's
    invocation, when the worker passes it on). Linked to the step before it either way."""
    links = []
    host = trace.get_current_span().get_span_context()
    if root and host.is_valid:
        links.append(Link(host, {"graphops.link": "invocation"}))
    before = span_context_of(previous)
    if before is not None:
        links.append(Link(before, {"graphops.link": "previousStep"}))
    parent = _PROPAGATOR.extract({"traceparent": root}) if root else None
    with tracer().start_as_current_span(name, context=parent, kind=SpanKind.CONSUMER, links=links,
                                        attributes=dict(attributes)) as span:  # fmt: skip
        yield span


@contextmanager
def client_span(name: str, attributes: Mapping[str, Any], kind: SpanKind = SpanKind.CLIENT) -> Iterator[Span]:
    """A call graphops makes (Graph, storage, a callback, Event Grid) under the current step."""
    with tracer().start_as_current_span(name, kind=kind, attributes=dict(attributes)) as span:
        yield span


def http_attributes(method: str, url: str) -> dict[str, Any]:
    """HTTP client attributes for ``url`` with its query cut (it may carry a signature or a credential)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return {"http.request.method": method, "server.address": parts.hostname or "", "url.full": redact_url(url)}


def answered(span: Span, status_code: int | None) -> None:
    """Record an HTTP answer on a client span (4xx and 5xx are errors there, as the conventions say)."""
    if status_code is None:
        span.set_status(Status(StatusCode.ERROR, "no answer"))
        return
    span.set_attribute("http.response.status_code", status_code)
    if status_code >= 400:
        span.set_status(Status(StatusCode.ERROR))


def seconds_between(start: datetime | None, end: datetime) -> float | None:
    return (end - start).total_seconds() if start is not None else None
