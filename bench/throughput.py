"""Throughput of one worker: N trackings, each needing two polls, through the local runner with Azurite and
the Graph stand-in, against a baseline app that does only the unavoidable I/O per step with the same clients
(receive, read and merge the tracking's state row, GET with a token, re-enqueue or POST the callback,
delete), run by the same runner.

Then graphops once more with OpenTelemetry's SDK making and exporting every span and measurement (into memory):
the cost of telemetry, the Azure Monitor exporter's network sends excluded. Each run has a process and an
Azurite of its own; the three are interleaved, ``--rounds`` times, and compared by their medians.

    python bench/throughput.py [--trackings 2000] [--rounds 2] [--only MODE] [--profile] [--docs docs/performance.md]

Beside trackings per second and CPU, each run counts its table operations per tracking (HTTP requests to the
table service: deterministic where the timings are not). Goals, on medians: graphops reaches 0.9 of the
baseline's trackings per second, and spends at most 1.3 times its CPU per tracking. Before a change to the step
path, ``--trackings 500 --rounds 1`` (a few minutes) shows whether it moved either; ``--only graphops`` (or
``baseline``) runs one mode alone, for a profile of it or a quick look at one figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import azure.functions as func
from report import fenced, verdict, write_section
from table_requests import TableRequests

from graphops import functions
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.runner import LocalHost, QueueOptions, load_app

ROOT = Path(__file__).resolve().parents[1]


def baseline_app() -> func.FunctionApp:
    """The least a step can do: the same clients graphops builds, none of its decisions."""
    from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
    from azure.data.tables import UpdateMode

    from graphops.settings import Settings
    from graphops.storage.queues import queue_client
    from graphops.storage.state import table_client
    from graphops.wiring import graph_credential, graph_session, storage_transport

    settings = Settings.from_env(os.environ)
    session, credential = graph_session(), graph_credential(settings)
    transport = storage_transport()
    queue = queue_client(settings.storage, settings.queue_name, None, transport)
    table = table_client(settings.storage, settings.state_table, None, transport)
    with contextlib.suppress(ResourceExistsError):
        table.create_table()
    import urllib3

    callbacks = urllib3.PoolManager(maxsize=16)
    app = func.FunctionApp()

    @app.queue_trigger(arg_name="msg", queue_name="%GRAPHOPS_QUEUE_NAME%", connection="AzureWebJobsStorage")
    def step(msg: func.QueueMessage) -> None:
        doc = json.loads(msg.get_body())
        # Every tracking keeps a state: one read before the step, one merge after it.
        with contextlib.suppress(ResourceNotFoundError):
            table.get_entity(doc["id"], "state")
        table.upsert_entity({"PartitionKey": doc["id"], "RowKey": "state", "n": doc["n"]}, mode=UpdateMode.MERGE)
        token = credential.get_token(settings.cloud.token_scope).token
        session.get(doc["url"], headers={"Authorization": f"Bearer {token}"}, timeout=(5, 30)).json()
        if doc["n"] == 0:
            queue.send_message(json.dumps({**doc, "n": 1}), visibility_timeout=1)
        else:
            callbacks.request("POST", doc["cb"], body=b"{}", headers={"Content-Type": "application/json"})

    return app


def run(stack: LocalStack, name: str, app_factory: Any, enqueue: Any, trackings: int) -> dict[str, Any]:
    env = stack.environment(
        GRAPHOPS_MIN_DELAY_SECONDS="1", GRAPHOPS_MAX_DELAY_SECONDS="1", GRAPHOPS_QUEUE_NAME=f"bench-{name}"
    )
    os.environ.update(env)
    functions.reset()
    steps: list[float] = []
    lock = threading.Lock()

    def on_step(function: str, message_id: str, error: Exception | None, seconds: float) -> None:
        with lock:
            steps.append(seconds)

    host = LocalHost.for_connection_string(
        app_factory(), env, QueueOptions.from_host_json(ROOT / "host.json"), on_step=on_step
    )
    host.ensure_queues()
    for i in range(trackings):
        enqueue(env, i)
    received_before = len(stack.receiver.received)
    tables = TableRequests(table_endpoint(env["AzureWebJobsStorage"]))
    with tables.counting():
        started, cpu = time.perf_counter(), time.process_time()
        assert host.run_until_idle(timeout=1800), f"{name}: not idle in time"
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    parts = {} if name == "baseline" else {"parts": operations_by_part(trackings)}  # before closing forgets them
    host.close()
    assert len(stack.receiver.received) - received_before == trackings, f"{name}: callbacks missing"
    quantiles = statistics.quantiles(steps, n=20)
    return {
        "name": name, "trackings": trackings, "seconds": elapsed, "per_second": trackings / elapsed,
        "steps": len(steps), "p50_ms": statistics.median(steps) * 1000, "p95_ms": quantiles[-1] * 1000,
        "failures": host.failures, "cpu_seconds": cpu, "table_operations": tables.count / trackings, **parts,
    }  # fmt: skip


def operations_by_part(trackings: int) -> dict[str, float]:
    """graphops' table operations per tracking by the store that made them (its stores count their own)."""
    state = functions.services().state
    index, lengths = state.index.operations, state.lengths.operations
    budgets = state.throttling.operations if state.throttling is not None else 0
    own = state.operations - index - lengths - budgets
    return {name: count / trackings for name, count in
            (("state", own), ("index", index), ("lengths", lengths), ("budgets", budgets))}  # fmt: skip


def table_endpoint(connection_string: str) -> str:
    return dict(part.split("=", 1) for part in connection_string.split(";") if "=" in part)["TableEndpoint"]


MODES = ("baseline", "graphops", "traced")


def measure(mode: str, n: int, profile: bool) -> dict[str, Any]:
    """One run of ``mode`` in this process, with its own Azurite and stand-ins."""
    import logging

    logging.getLogger("graphops").setLevel(logging.WARNING)
    exported = with_telemetry() if mode == "traced" else None
    with LocalStack() as stack:
        for i in range(n):
            path = seed.reset_path(f"bench{i}", f"op{i}")
            stack.graph.script(path, [Reply(200, seed.password_reset("running")),
                                      Reply(200, seed.password_reset("succeeded"))])  # fmt: skip

        def graphops_message(env: dict[str, str], i: int) -> None:
            from graphops.client import GraphOpsClient

            client = graphops_message.__dict__.setdefault("client", GraphOpsClient.from_env(env))
            client.track(stack.graph.url + seed.reset_path(f"bench{i}", f"op{i}"), stack.callback_url())

        def baseline_message(env: dict[str, str], i: int) -> None:
            from graphops.settings import Settings
            from graphops.storage.queues import queue_client

            queue = baseline_message.__dict__.setdefault(
                "queue", queue_client(Settings.from_env(env).storage, env["GRAPHOPS_QUEUE_NAME"], None)
            )
            url = stack.graph.url + seed.reset_path(f"bench{i}", f"op{i}")
            queue.send_message(json.dumps({"url": url, "cb": stack.callback_url(), "n": 0, "id": f"b{i}"}))

        if mode == "baseline":
            return run(stack, mode, baseline_app, baseline_message, n)
        profiler = None
        if profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        result = run(stack, mode, lambda: load_app(ROOT), graphops_message, n)
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
        if exported is not None:
            result["spans"] = exported.count
        result["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trackings", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2, help="each mode this many times, interleaved")
    parser.add_argument("--profile", action="store_true", help="profile graphops' run with pyinstrument")
    parser.add_argument("--docs", type=Path, help="write the figures into this page's throughput section")
    parser.add_argument("--only", choices=MODES, help="run this mode alone and print its figures (no comparison)")
    parser.add_argument("--mode", choices=MODES, help=argparse.SUPPRESS)  # one run, in a process of its own
    args = parser.parse_args()
    if args.mode:
        print(json.dumps(measure(args.mode, args.trackings, args.profile)))
        return
    # Each run in a fresh process with a fresh Azurite, the modes interleaved: OpenTelemetry's providers are the
    # process's (telemetry cannot be switched off again), and on one machine Azurite's speed drifts run to run.
    modes = (args.only,) if args.only else MODES
    if args.only and args.docs:
        parser.error("--docs needs every mode: the section compares them")
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    for _ in range(args.rounds):
        for mode in modes:
            done = subprocess.run([sys.executable, __file__, "--mode", mode, "--trackings", str(args.trackings)]
                                  + (["--profile"] if args.profile and mode == "graphops" else []),
                                  capture_output=True, text=True, check=True)  # fmt: skip
            print(done.stdout.rsplit("\n", 2)[0] if args.profile else "", end="")
            results[mode].append(json.loads(done.stdout.strip().splitlines()[-1]))
    if args.only:
        print("\n".join(alone(results[args.only])))
        return
    lines = [line(r) for mode in MODES for r in results[mode]]
    speed = {mode: statistics.median(r["per_second"] for r in results[mode]) for mode in MODES}
    cpu = {mode: statistics.median(r["cpu_seconds"] / r["trackings"] for r in results[mode]) for mode in MODES}
    operations = {mode: statistics.median(r["table_operations"] for r in results[mode]) for mode in MODES}
    peak = max(r["peak_mb"] for r in results["graphops"])
    spans = statistics.median(r["spans"] for r in results["traced"])
    ratio, cost = speed["graphops"] / speed["baseline"], speed["traced"] / speed["graphops"]
    cpu_ratio = cpu["graphops"] / cpu["baseline"]
    lines += [
        f"table operations per tracking: graphops {operations['graphops']:.2f} ({by_part(results['graphops'])}), "
        f"baseline {operations['baseline']:.2f}",
        f"CPU per tracking: graphops {cpu['graphops'] * 1000:.1f} ms, baseline {cpu['baseline'] * 1000:.1f} ms",
        f"peak memory of a graphops run (whole process, stand-ins and Azurite client included): {peak:.0f} MiB",
        verdict(
            ratio >= SPEED_GOAL,
            f"graphops reaches {ratio:.2f} of the baseline's trackings/s (medians; goal {SPEED_GOAL})",
        ),
        verdict(
            cpu_ratio <= CPU_GOAL,
            f"graphops spends {cpu_ratio:.2f} times the baseline's CPU per tracking (medians; goal at most {CPU_GOAL})",
        ),
        f"telemetry on: {spans:.0f} spans per run, with every measurement, exported (into memory)",
        verdict(
            cost >= 0.9, f"with telemetry graphops runs at {cost:.2f} of its speed without (medians; goal: within 10%)"
        ),
    ]
    print("\n".join(lines))
    write_section(args.docs, "throughput", fenced(lines))


SPEED_GOAL = 0.9  # of the baseline's trackings per second
CPU_GOAL = 1.3  # times the baseline's CPU per tracking


def alone(runs: list[dict[str, Any]]) -> list[str]:
    """One mode's runs, and their medians per tracking: the figures to compare before and after a change."""
    cpu = statistics.median(r["cpu_seconds"] / r["trackings"] for r in runs)
    operations = statistics.median(r["table_operations"] for r in runs)
    parts = f" ({by_part(runs)})" if "parts" in runs[0] else ""
    return [line(r) for r in runs] + [f"CPU per tracking: {cpu * 1000:.1f} ms; table operations per tracking: "
                                      f"{operations:.2f}{parts}"]  # fmt: skip


def by_part(runs: list[dict[str, Any]]) -> str:
    """The medians of graphops' table operations per tracking, store by store."""
    return ", ".join(f"{part} {statistics.median(r['parts'][part] for r in runs):.2f}" for part in runs[0]["parts"])


def line(r: dict[str, Any]) -> str:
    return (
        f"{r['name']:9} {r['trackings']} trackings, {r['steps']} steps in {r['seconds']:.1f}s: "
        f"{r['per_second']:.1f} trackings/s, step p50 {r['p50_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms, "
        f"{r['cpu_seconds']:.1f} s CPU, {r['table_operations']:.2f} table operations a tracking, "
        f"failures {r['failures']}"
    )


class CountingExporter:
    """A span exporter that keeps a count, and drops the spans as a network exporter does once sent."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: Any) -> Any:
        from opentelemetry.sdk.trace.export import SpanExportResult

        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def with_telemetry() -> CountingExporter:
    """OpenTelemetry's SDK as the Azure Monitor distro sets it up (batched spans, periodic metrics), exporting
    into memory."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = CountingExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))  # type: ignore[arg-type]
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return exporter


if __name__ == "__main__":
    main()
