"""How soon an operation's end is noticed, and at what cost in Graph calls: graphops' schedule against
the fixed intervals people use instead. A pure simulation of the schedules (no I/O, no queue latency).

    python bench/schedule.py [--samples 2000] [--out bench/out]
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from dataclasses import dataclass
from pathlib import Path

from graphops.schedule import PollSchedule

BUCKETS = {"10 s": 10, "1 min": 60, "5 min": 300, "30 min": 1800, "2 h": 7200, "12 h": 43200}
FIXED = {"fixed 5 s (PnP Core, teams)": 5.0, "fixed 20 s (Logic Apps async)": 20.0, "fixed 30 s (azure-core LRO)": 30.0}
GRAPHOPS = "graphops (5-60 s, defaults)"


@dataclass(frozen=True)
class Result:
    calls: float
    mean_delay: float
    p95_delay: float


def graphops_polls(length: float, rng: random.Random, schedule: PollSchedule) -> tuple[int, float]:
    """(Graph calls, seconds from the real end to the poll that saw it). The first poll is at t=0."""
    t, calls = 0.0, 1
    while t < length:
        t += schedule.next_delay(t, rng)
        calls += 1
    return calls, t - length


def fixed_polls(length: float, interval: float) -> tuple[int, float]:
    polls = math.ceil(length / interval)
    return polls + 1, polls * interval - length


def simulate(samples: int, seed: int = 20261128) -> dict[str, dict[str, Result]]:
    rng = random.Random(seed)
    schedule = PollSchedule(5, 60)
    table: dict[str, dict[str, Result]] = {}
    for bucket, nominal in BUCKETS.items():
        lengths = [nominal * rng.uniform(0.8, 1.2) for _ in range(samples)]  # no schedule gets lucky
        rows: dict[str, list[tuple[int, float]]] = {GRAPHOPS: [graphops_polls(n, rng, schedule) for n in lengths]}
        for name, interval in FIXED.items():
            rows[name] = [fixed_polls(n, interval) for n in lengths]
        table[bucket] = {
            name: Result(
                calls=statistics.fmean(c for c, _ in runs),
                mean_delay=statistics.fmean(d for _, d in runs),
                p95_delay=statistics.quantiles([d for _, d in runs], n=20)[-1],
            )
            for name, runs in rows.items()
        }
    return table


def goals(table: dict[str, dict[str, Result]]) -> list[tuple[str, bool, str]]:
    ours = {b: table[b][GRAPHOPS] for b in BUCKETS}
    fixed30 = {b: table[b]["fixed 30 s (azure-core LRO)"] for b in BUCKETS}
    out = []
    for b in ("10 s", "1 min"):
        ratio = ours[b].mean_delay / fixed30[b].mean_delay
        out.append((f"{b}: mean delay at most half of fixed 30 s", ratio <= 0.5, f"{ratio:.2f}x"))
    ratio = ours["30 min"].calls / fixed30["30 min"].calls
    out.append(("30 min: at most 75% of fixed 30 s's Graph calls", ratio <= 0.75, f"{ratio:.0%}"))
    for b in ("2 h", "12 h"):
        ratio = ours[b].calls / fixed30[b].calls
        out.append((f"{b}: at most 60% of fixed 30 s's Graph calls", ratio <= 0.60, f"{ratio:.0%}"))
    worst = max(ours[b].mean_delay for b in BUCKETS)
    out.append(("mean delay 30 s or less at every length", worst <= 30, f"worst {worst:.1f} s"))
    return out


def markdown(table: dict[str, dict[str, Result]]) -> str:
    names = [GRAPHOPS, *FIXED]
    lines = ["| length | schedule | Graph calls | mean delay (s) | p95 delay (s) |", "|---|---|---:|---:|---:|"]
    for bucket, rows in table.items():
        for name in names:
            r = rows[name]
            lines.append(f"| {bucket} | {name} | {r.calls:.1f} | {r.mean_delay:.1f} | {r.p95_delay:.1f} |")
    return "\n".join(lines)


def per_kind(samples: int, seed: int = 20261128) -> str:
    """Each kind's schedule as a default deployment runs it (graphops.wiring.policy_for): Graph calls and the
    mean delay after the end, for operations of 1 min, 30 min and 2 h."""
    from graphops.kinds import KINDS
    from graphops.settings import Settings
    from graphops.wiring import policy_for

    policy = policy_for(Settings.from_env({"AzureWebJobsStorage": "UseDevelopmentStorage=true",
                                           "GRAPHOPS_QUEUE_NAME": "graph-operations"}))  # fmt: skip
    rng = random.Random(seed)
    lines = ["| kind | schedule (s) | calls / delay at 1 min | at 30 min | at 2 h |", "|---|---|---|---|---|"]
    for name, kind in KINDS.items():
        schedule = policy.schedule_for(kind)
        cells = []
        for nominal in (60, 1800, 7200):
            runs = [graphops_polls(nominal * rng.uniform(0.8, 1.2), rng, schedule) for _ in range(samples)]
            calls, delay = statistics.fmean(c for c, _ in runs), statistics.fmean(d for _, d in runs)
            cells.append(f"{calls:.1f} / {delay:.0f} s")
        lines.append(f"| `{name}` | {schedule.min_delay}–{schedule.max_delay} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(table: dict[str, dict[str, Result]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (calls_ax, delay_ax) = plt.subplots(1, 2, figsize=(12, 4.5))
    x = list(range(len(BUCKETS)))
    for name in [GRAPHOPS, *FIXED]:
        calls_ax.plot(x, [table[b][name].calls for b in BUCKETS], marker="o", label=name)
        delay_ax.plot(x, [table[b][name].mean_delay for b in BUCKETS], marker="o", label=name)
    for ax, title in ((calls_ax, "Graph calls per operation (log)"), (delay_ax, "mean delay after the end (s)")):
        ax.set_xticks(x, list(BUCKETS))
        ax.set_xlabel("operation length (±20%)")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    calls_ax.set_yscale("log")
    delay_ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    args = parser.parse_args()
    table = simulate(args.samples)
    print(markdown(table))
    print()
    for goal, met, figure in goals(table):
        print(f"{'PASS' if met else 'FAIL'}  {goal}: {figure}")
    ours, fixed30 = table["5 min"][GRAPHOPS], table["5 min"]["fixed 30 s (azure-core LRO)"]
    print(f"\nat 5 min graphops makes {ours.calls:.1f} calls (fixed 30 s: {fixed30.calls:.1f}) "
          f"with a mean delay of {ours.mean_delay:.1f} s (fixed 30 s: {fixed30.mean_delay:.1f} s)")  # fmt: skip
    kinds = per_kind(max(200, args.samples // 10))
    print("\nper kind, as a default deployment polls it:\n" + kinds)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(table, args.out / "schedule.png")
    (args.out / "schedule.md").write_text(markdown(table) + "\n\n" + kinds + "\n")
    print(f"plot: {args.out / 'schedule.png'}")


if __name__ == "__main__":
    main()
