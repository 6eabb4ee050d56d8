"""Throttling under load: four worker processes on one Azurite, the Graph stand-in enforcing each service's
documented limit per tenant, with the shared budgets and without them (GRAPHOPS_THROTTLE_BUDGETS=off).

The load is the issue's, compressed: teams operations, eDiscovery case operations and personal data exports,
each ending at a random moment 1 to 30 minutes after it began. Time runs ``--speed`` times faster (lengths and
the kinds' poll delays divided by it) and there are ``--speed`` times fewer operations of each kind, so every
service sees the request rate against its limit that the full load would, over a shorter run: 2,000 teams, 60
eDiscovery and 500 export operations at --speed 1. Graph's limits are its documented ones, not compressed.

Reported per mode: 429s as a share of Graph calls (and per service), the delay from each operation's end to
its callback (mean, p95), and per service the most requests Graph counted (at arrival) in any sliding window of
its limit's length, against the budget.

    python bench/throttling.py [--speed 4] [--workers 4] [--docs docs/performance.md]
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import random
import statistics
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from report import fenced, verdict, write_section

from graphops.client import GraphOpsClient
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.local.workers import worker_processes
from graphops.pacing.budget import LIMITS

LOAD = {"teams": 2000, "ediscovery": 60, "dataExport": 500}  # operations at --speed 1
SHORTEST, LONGEST = 60.0, 1800.0  # each operation's length, before compression
KIND_DELAYS = {"teams": ("teamsAsyncOperation", 31, 120), "ediscovery": ("ediscoveryCaseOperation", 30, 300),
               "dataExport": ("dataPolicyOperation", 60, 600)}  # fmt: skip


@dataclass(frozen=True)
class Operation:
    service: str
    path: str
    ends_at: float  # time.monotonic()


def path_of(service: str, n: int) -> str:
    if service == "teams":
        return f"/v1.0/teams/{seed.TEAM_ID}/operations/op-{n}"
    if service == "ediscovery":
        return f"/v1.0/security/cases/ediscoveryCases/{seed.CASE_ID}/operations/op-{n}"
    return f"/v1.0/dataPolicyOperations/export-{n}"


def bodies(service: str, done: bool) -> dict[str, Any]:
    if service == "teams":
        return seed.teams_operation("succeeded" if done else "inProgress")
    if service == "ediscovery":
        return seed.case_operation("succeeded" if done else "running", 100 if done else 40)
    return seed.data_export("complete" if done else "running")


def run(mode: str, speed: float, workers: int, seed_value: int) -> dict[str, Any]:
    rng = random.Random(seed_value)
    with LocalStack() as stack, tempfile.TemporaryDirectory() as folder:
        stack.graph.enforce(LIMITS)
        delays = ",".join(f"{kind}={max(1, round(low / speed))}:{max(2, round(high / speed))}"
                          for kind, low, high in KIND_DELAYS.values())  # fmt: skip
        settings = stack.environment(
            GRAPHOPS_KIND_POLL_DELAYS=delays, GRAPHOPS_LEARNED_SCHEDULE="false",
            GRAPHOPS_THROTTLE_BUDGETS="" if mode == "budgets" else "off",
            GRAPHOPS_DEFAULT_TIMEOUT_SECONDS=str(int(4 * LONGEST / speed)),
        )  # fmt: skip
        settings_file = Path(folder) / "local.settings.json"
        settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
        client = GraphOpsClient.from_env(settings)
        now = time.monotonic()
        operations: dict[str, Operation] = {}
        for service, count in LOAD.items():
            for n in range(max(1, round(count / speed))):
                length = rng.uniform(SHORTEST, LONGEST) / speed
                operations[path_of(service, n)] = Operation(service, path_of(service, n), now + length)
        for operation in operations.values():
            stack.graph.on("GET", operation.path, _answer(operation, stack))
        started = time.monotonic()
        for operation in operations.values():
            client.track(stack.graph.url + operation.path, stack.callback_url(), correlation_id=operation.path)
        with worker_processes(settings_file, [None] * workers):
            deadline = started + 3 * LONGEST / speed + 120
            while len(stack.receiver.delivered()) < len(operations) and time.monotonic() < deadline:
                time.sleep(1)
        return _report(mode, operations, stack, time.monotonic() - started)


def _answer(operation: Operation, stack: LocalStack) -> Any:
    def reply(_: dict[str, Any]) -> Reply:
        return Reply(200, bodies(operation.service, time.monotonic() >= operation.ends_at))

    return reply


def _report(mode: str, operations: dict[str, Operation], stack: LocalStack, took: float) -> dict[str, Any]:
    calls = [call for path in operations for call in stack.graph.gets(path)]
    throttled = Counter(operations[call.path].service for call in calls if call.status == 429)
    per_service = Counter(operations[call.path].service for call in calls)
    delays = [r.at - operations[r.body["correlationId"]].ends_at for r in stack.receiver.delivered()
              if r.body and r.body.get("correlationId") in operations]  # fmt: skip
    return {
        "mode": mode, "operations": len(operations), "delivered": len(delays), "took": took,
        "calls": len(calls), "throttled": sum(throttled.values()),
        "share": sum(throttled.values()) / max(1, len(calls)),
        "per_service": {s: (per_service[s], throttled[s]) for s in LOAD},
        # One tenant (the identity stand-in's): the most each service's requests put in any window of its limit.
        "worst": {s: most_in_any_window([c.wall for c in calls if operations[c.path].service == s], LIMITS[s].window)
                  for s in LOAD},
        "mean_delay": statistics.fmean(delays) if delays else math.nan,
        "p95_delay": statistics.quantiles(delays, n=20)[-1] if len(delays) > 1 else math.nan,
    }  # fmt: skip


def most_in_any_window(times: list[float], window: float) -> int:
    """The most of ``times`` in one window of ``window`` seconds, wherever it starts."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, at + window) - n for n, at in enumerate(ordered)), default=0)


def windows(results: list[dict[str, Any]]) -> str:
    lines = ["| mode | service | limit | budget | most in any sliding window |", "|---|---|---:|---:|---:|"]
    for r in results:
        for s in LOAD:
            limit = LIMITS[s]
            lines.append(f"| {r['mode']} | {s} | {limit.requests} / {limit.window:g} s | {limit.budget()} | "
                         f"{r['worst'][s]} |")  # fmt: skip
    return "\n".join(lines)


def markdown(results: list[dict[str, Any]], speed: float) -> str:
    lines = ["| mode | operations | Graph calls | 429s | share | teams 429s / calls | eDiscovery | data exports | "
             "delay mean (s) | delay p95 (s) |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in results:
        cells = [f"{t} / {c}" for c, t in (r["per_service"][s] for s in LOAD)]
        # Delays are in compressed seconds; times the speed, they are what the full load would see.
        lines.append(f"| {r['mode']} | {r['operations']} ({r['delivered']} called back) | {r['calls']} | "
                     f"{r['throttled']} | {r['share']:.1%} | {' | '.join(cells)} | "
                     f"{r['mean_delay'] * speed:.0f} | {r['p95_delay'] * speed:.0f} |")  # fmt: skip
    return "\n".join(lines)


def goals(results: list[dict[str, Any]]) -> list[tuple[str, bool, str]]:
    by_mode = {r["mode"]: r for r in results}
    ours, before = by_mode["budgets"], by_mode["none"]
    return [
        ("429s under 0.5% of Graph calls with the budgets", ours["share"] < 0.005, f"{ours['share']:.2%}"),
        ("with the budgets, no sliding window over a service's budget",
         all(ours["worst"][s] <= LIMITS[s].budget() for s in LOAD),
         ", ".join(f"{s} {ours['worst'][s]}/{LIMITS[s].budget()}" for s in LOAD)),
        ("every operation called back in both modes", all(r["delivered"] == r["operations"] for r in results),
         ", ".join(f"{r['mode']}: {r['delivered']}/{r['operations']}" for r in results)),
        ("mean delay no worse than without the budgets", ours["mean_delay"] <= before["mean_delay"],
         f"{ours['mean_delay']:.1f} s against {before['mean_delay']:.1f} s (compressed)"),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--speed", type=float, default=4.0)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=20261204)
    parser.add_argument("--docs", type=Path, default=None, help="write the figures into this page's throttling section")
    args = parser.parse_args()
    results = []
    for mode in ("budgets", "none"):
        result = run(mode, args.speed, args.workers, args.seed)
        print(json.dumps(result), flush=True)
        results.append(result)
    lines = [verdict(met, f"{goal}: {figure}") for goal, met, figure in goals(results)]
    body = f"{markdown(results, args.speed)}\n\n{windows(results)}"
    print(body)
    print("\n".join(lines))
    write_section(args.docs, "throttling", f"{body}\n\n{fenced(lines)}")


if __name__ == "__main__":
    main()
