"""Throughput of one worker: N trackings, each needing two polls, through the local runner with Azurite and
the Graph stand-in, against a baseline app that does only the unavoidable I/O per step with the same clients
(receive, read and merge the tracking's state row, GET with a token, re-enqueue or POST the callback,
delete), run by the same runner.

Then graphops once more with OpenTelemetry's SDK exporting every span and measurement into memory: the cost
of telemetry (the Azure Monitor exporter's network sends excluded).

    python bench/throughput.py [--trackings 2000] [--profile]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

import azure.functions as func

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

    from graphops.queues import queue_client
    from graphops.settings import Settings
    from graphops.state import table_client
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
    started, cpu = time.perf_counter(), time.process_time()
    assert host.run_until_idle(timeout=1800), f"{name}: not idle in time"
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    host.close()
    assert len(stack.receiver.received) - received_before == trackings, f"{name}: callbacks missing"
    quantiles = statistics.quantiles(steps, n=20)
    return {
        "name": name, "trackings": trackings, "seconds": elapsed, "per_second": trackings / elapsed,
        "steps": len(steps), "p50_ms": statistics.median(steps) * 1000, "p95_ms": quantiles[-1] * 1000,
        "failures": host.failures, "cpu_seconds": cpu,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trackings", type=int, default=2000)
    parser.add_argument("--profile", action="store_true", help="profile graphops' run with pyinstrument")
    args = parser.parse_args()
    import logging

    logging.getLogger("graphops").setLevel(logging.WARNING)
    with LocalStack() as stack:
        n = args.trackings
        for i in range(n):
            path = seed.reset_path(f"bench{i}", f"op{i}")
            replies = [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))]
            stack.graph.script(path, replies)
            stack.graph.script(path + "b", replies)

        def graphops_message(env: dict[str, str], i: int) -> None:
            from graphops.client import GraphOpsClient

            client = graphops_message.__dict__.setdefault("client", GraphOpsClient.from_env(env))
            client.track(stack.graph.url + seed.reset_path(f"bench{i}", f"op{i}"), stack.callback_url())

        def baseline_message(env: dict[str, str], i: int) -> None:
            from graphops.queues import queue_client
            from graphops.settings import Settings

            queue = baseline_message.__dict__.setdefault(
                "queue", queue_client(Settings.from_env(env).storage, env["GRAPHOPS_QUEUE_NAME"], None)
            )
            url = stack.graph.url + seed.reset_path(f"bench{i}", f"op{i}") + "b"
            queue.send_message(json.dumps({"url": url, "cb": stack.callback_url(), "n": 0, "id": f"b{i}"}))

        base = run(stack, "baseline", baseline_app, baseline_message, n)
        profiler = None
        if args.profile:
            from pyinstrument import Profiler

            profiler = Profiler(interval=0.001, async_mode="disabled")
            profiler.start()
        ours = run(stack, "graphops", lambda: load_app(ROOT), graphops_message, n)
        if profiler is not None:
            profiler.stop()
            print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])
        spans = with_telemetry()  # from here on every span and measurement is made and exported (in memory)
        graphops_message.__dict__.pop("client", None)
        for i in range(n):  # the same operations again, for the run with telemetry
            path = seed.reset_path(f"bench{i}", f"op{i}")
            stack.graph.script(path, [Reply(200, seed.password_reset("running")),
                                      Reply(200, seed.password_reset("succeeded"))])  # fmt: skip
        traced = run(stack, "traced", lambda: load_app(ROOT), graphops_message, n)
        traced["spans"] = len(spans.get_finished_spans())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    for r in (base, ours, traced):
        print(
            f"{r['name']:9} {r['trackings']} trackings, {r['steps']} steps in {r['seconds']:.1f}s: "
            f"{r['per_second']:.1f} trackings/s, step p50 {r['p50_ms']:.1f} ms p95 {r['p95_ms']:.1f} ms, "
            f"failures {r['failures']}"
        )
    ratio = ours["per_second"] / base["per_second"]
    print(f"peak memory (whole process, stand-ins and Azurite client included): {peak_mb:.0f} MiB")
    print(f"{'PASS' if ratio >= 0.9 else 'FAIL'}  graphops reaches {ratio:.2f} of the baseline (goal 0.9)")
    cost = traced["per_second"] / ours["per_second"]
    print(
        f"telemetry on: {traced['spans']} spans exported; {traced['cpu_seconds']:.1f} s CPU against "
        f"{ours['cpu_seconds']:.1f} s without"
    )
    print(
        f"{'PASS' if cost >= 0.9 else 'FAIL'}  with telemetry graphops runs at {cost:.2f} of its speed without "
        "(goal: within 10%)"
    )


def with_telemetry() -> Any:
    """OpenTelemetry's SDK as the Azure Monitor distro sets it up (batched spans, periodic metrics), exporting
    into memory. Returns the span exporter."""
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    return exporter


if __name__ == "__main__":
    main()
