"""The CPU one step's telemetry costs, in isolation: the spans and measurements of a polling step (the step,
the table read, the Graph call, the queue send, the merge; the lag, the poll count), made N times with only
the OpenTelemetry API (as without a connection string) and with the SDK as the Azure Monitor distro sets it up.

    python bench/telemetry.py            # both, each in a process of its own
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT_SPAN = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
STEPS = 5000


def one_mode(mode: str) -> float:
    """Microseconds of CPU per step."""
    if mode == "sdk":
        from opentelemetry import metrics, trace
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        sys.path.insert(0, str(Path(__file__).parent))
        from throughput import CountingExporter

        provider = TracerProvider()
        provider.add_span_processor(BatchSpanProcessor(CountingExporter()))  # type: ignore[arg-type]
        trace.set_tracer_provider(provider)
        metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    from graphops.common import telemetry

    graph = telemetry.http_attributes("GET", "https://graph.microsoft.com/v1.0/x")
    started = time.process_time()
    for _ in range(STEPS):
        with telemetry.step_span("graphops step", ROOT_SPAN, ROOT_SPAN, {"messaging.message.id": "m"}) as span:
            telemetry.instruments().queue_lag.record(1.0, {"messaging.destination.name": "graph-operations"})
            for name in ("read graphopsstate", "GET Graph", "send graph-operations", "merge graphopsstate"):
                with telemetry.client_span(name, graph) as s:
                    telemetry.answered(s, 200)
            telemetry.instruments().polls.add(1, {"graphops.kind": "k", "http.response.status_code": 200})
            telemetry.current_traceparent()
            span.set_attribute("graphops.kind", "k")
    return (time.process_time() - started) / STEPS * 1e6


def main() -> None:
    if len(sys.argv) > 1:
        print(one_mode(sys.argv[1]))
        return
    for mode, what in (("api", "API only (no connection string)"), ("sdk", "SDK, exporting")):
        done = subprocess.run([sys.executable, __file__, mode], capture_output=True, text=True, check=True)
        print(f"{what:32} {float(done.stdout):7.0f} µs of CPU per step")


if __name__ == "__main__":
    main()
