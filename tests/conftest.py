"""Suite-wide promises, checked over every test that runs: secrets stay out of logs and off spans, the Graph
token goes to the Graph host only, and an Event Grid token to the Event Grid topic only."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import Counter, Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import AggregationTemporality, InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

SECRETS: set[str] = set()  # signing secrets and callback signatures the fixtures handed out
# host:port of the Graph stand-ins running now. Checked when each request is sent, because a port freed
# by one test's stand-in may serve another kind of server in a later test.
GRAPH_HOSTS: set[str] = set()
EVENT_GRID_HOSTS: set[str] = set()  # likewise, the Event Grid stand-ins
# Every identity stand-in that issued tokens (they remember each token's audience).
IDENTITIES: list[Any] = []
# (host:port, Authorization header, the kind of stand-in there when it was sent: "graph", "eventgrid" or "").
SENT: list[tuple[str, str, str]] = []
AUDIENCE_HOSTS = {"https://graph.microsoft.com": "graph", "https://eventgrid.azure.net": "eventgrid"}


# OpenTelemetry's SDK in memory, as the Azure Monitor distro would be in Azure: every span and measurement the
# code makes is kept for the tests to read (test_telemetry.py), and every span is checked for secrets.
SPANS = InMemorySpanExporter()
METRICS = InMemoryMetricReader(
    preferred_temporality={Counter: AggregationTemporality.DELTA, Histogram: AggregationTemporality.DELTA}
)
SPAN_LEAKS: list[str] = []
# A callback key, a monitor credential, tokens: looked for in any case (SharePoint writes `tempAuth=`, Graph `SIG=`).
NEVER_ON_SPANS = ("sig=", "tempauth", "standin-", "bearer ")


class _SecretWatch(SpanProcessor):
    """Looks at every span as it ends: its name, attributes, events and links must hold no secret."""

    def on_end(self, span: ReadableSpan) -> None:
        attributes = [span.attributes, *(e.attributes for e in span.events), *(link.attributes for link in span.links)]
        parts = [span.name, str(span.status.description or ""), *(repr(dict(a or {})) for a in attributes)]
        text = " ".join(parts)
        lowered = text.lower()
        if any(secret in text for secret in SECRETS) or any(marker in lowered for marker in NEVER_ON_SPANS):
            SPAN_LEAKS.append(text[:300])


_provider = TracerProvider()
_provider.add_span_processor(_SecretWatch())
_provider.add_span_processor(SimpleSpanProcessor(SPANS))
trace.set_tracer_provider(_provider)
metrics.set_meter_provider(MeterProvider(metric_readers=[METRICS]))


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
        except Exception:  # a malformed third-party record is not ours to judge
            return
        with self.guard:
            self.lines.append(line)


@pytest.fixture(scope="session", autouse=True)
def no_secret_leaves_and_tokens_stay_home() -> Iterator[None]:
    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    level = root.level
    root.setLevel(logging.DEBUG)
    original = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def recording_urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or (args[1] if len(args) > 1 else None) or {}
        auth = next((v for k, v in dict(headers).items() if k.lower() == "authorization"), "")
        destination = f"{self.host}:{self.port}"
        there = "graph" if destination in GRAPH_HOSTS else "eventgrid" if destination in EVENT_GRID_HOSTS else ""
        SENT.append((destination, str(auth), there))
        return original(self, method, url, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = recording_urlopen  # type: ignore[method-assign]
    try:
        yield
    finally:
        urllib3.connectionpool.HTTPConnectionPool.urlopen = original  # type: ignore[method-assign]
        root.removeHandler(capture)
        root.setLevel(level)
    leaked = [line for line in capture.lines if any(secret in line for secret in SECRETS) or "standin-" in line]
    assert not leaked, f"secrets or tokens in the logs: {leaked[:3]}"
    assert not SPAN_LEAKS, f"secrets or tokens on spans: {SPAN_LEAKS[:3]}"
    strays = sorted({(host, _audience(auth)) for host, auth, there in SENT
                     if auth.startswith("Bearer ") and AUDIENCE_HOSTS.get(_audience(auth) or "") != there})  # fmt: skip
    assert not strays, f"a token went where its audience is not: {strays}"
    assert all(auth.startswith("Bearer ") for _, auth, there in SENT if there), "a service was called without a token"


def _audience(authorization: str) -> str | None:
    token = authorization.removeprefix("Bearer ")
    found = (identity.audience_of(token) for identity in IDENTITIES)
    return next((audience.rstrip("/") for audience in found if audience), None)


@pytest.fixture(autouse=True)
def fresh_telemetry() -> Iterator[None]:
    """Each test reads the spans and measurements it made, no earlier ones (spans are not kept after it)."""
    SPANS.clear()
    METRICS.collect()  # delta temporality: what was counted before this test is taken now and dropped
    yield
    SPANS.clear()
