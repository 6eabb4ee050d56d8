"""Cost per tracked operation: storage transactions, Graph calls and executions, for graphops and for a
Durable Functions monitor loop on the Azure Storage backend, from the schedule simulation's poll counts.

    python bench/cost.py [--price-per-10k 0.004] [--execution-price-per-million 0.40]

Prices are parameters: the defaults are illustrative list prices; use your region's.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location("bench_schedule", Path(__file__).with_name("schedule.py"))
assert spec and spec.loader
schedule = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = schedule
spec.loader.exec_module(schedule)

# graphops, per poll: the step's message is received, deleted and (unless it is the last) re-enqueued;
# plus the producer's one send. Keeping the tracking's state (the default, for every tracking since
# GRAPHOPS_RECORD_QUEUE_TRACKINGS) adds two table operations per step: one read, one merge.
GRAPHOPS_QUEUE_PER_POLL = 3
GRAPHOPS_TABLE_PER_POLL = 2
# The console's time index, with the state: a read and a transaction when the tracking is first recorded and
# again when it finishes (never on a poll); a delivery that fails and is requeued adds two more each. The
# index's day registration (one write per process and day) does not grow with the number of operations.
GRAPHOPS_INDEX_PER_TRACKING = 4
# Durable Functions monitor, per loop iteration on the Azure Storage backend (assumptions):
#   activity (the Graph GET): work-item queue send + receive + delete = 3, its result to the control
#   queue send + receive + delete = 3; the durable timer: a delayed control-queue message, send +
#   receive + delete = 3; history table: one batch append per episode, two episodes = 2; instances
#   table update per episode = 2. Partition lease renewals and idle queue polling are left out of
#   both sides (they do not grow with the number of operations).
DURABLE_PER_ITERATION = 3 + 3 + 3 + 2 + 2
DURABLE_EXECUTIONS_PER_ITERATION = 3  # the orchestrator replays twice (after activity, after timer) + the activity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--price-per-10k", type=float, default=0.004, help="storage transactions, per 10,000")
    parser.add_argument("--execution-price-per-million", type=float, default=0.40)
    parser.add_argument("--samples", type=int, default=1000)
    args = parser.parse_args()
    table = schedule.simulate(args.samples)
    print("| length | graphops Graph calls | graphops queue tx | + state tx | graphops executions | "
          "Durable (30 s timer) Graph calls | Durable storage tx | Durable executions | "
          "graphops $ per 1,000 ops | without state | Durable $ per 1,000 ops |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for bucket in schedule.BUCKETS:
        polls = table[bucket][schedule.GRAPHOPS].calls
        durable_polls = table[bucket]["fixed 30 s (azure-core LRO)"].calls
        ours_tx = GRAPHOPS_QUEUE_PER_POLL * polls
        state_tx = GRAPHOPS_TABLE_PER_POLL * polls + GRAPHOPS_INDEX_PER_TRACKING
        durable_tx = DURABLE_PER_ITERATION * durable_polls + 3  # + start: instance row and first message
        ours_exec, durable_exec = polls, DURABLE_EXECUTIONS_PER_ITERATION * durable_polls + 1
        price = args.price_per_10k / 10_000
        exec_price = args.execution_price_per_million / 1_000_000
        stateless = 1000 * (ours_tx * price + ours_exec * exec_price)
        ours_cost = stateless + 1000 * state_tx * price
        durable_cost = 1000 * (durable_tx * price + durable_exec * exec_price)
        print(f"| {bucket} | {polls:.1f} | {ours_tx:.0f} | {state_tx:.0f} | {ours_exec:.0f} | {durable_polls:.1f} | "
              f"{durable_tx:.0f} | {durable_exec:.0f} | {ours_cost:.4f} | {stateless:.4f} "
              f"| {durable_cost:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
