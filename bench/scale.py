"""Budgets by lease at scale: 100 workers in one tenant, each with a budget store of its own (its own table client
and leases, as separate instances have), all on one Azurite, with the identity and eDiscovery services asked for
more than their limits allow; then one busy worker far from the identity limit.

Each worker stands for an instance: its steps ask the budget before each poll and, told to wait, come back after
that wait rounded up to the queue's whole seconds. The workers run as threads spread over a few processes
(``--processes``): a hundred threads in one interpreter take turns at one lock, so the time from a worker's read
of a row to its write would stretch far beyond what separate instances see. Polls are not sent anywhere: what is
measured is the budget — its table operations per row and per second, the claims refused (two workers claiming the
same room at once: what a lost conditional write was before budgets were kept per worker), the polls let through
uncounted, and the most polls in any sliding window of each limit's length.

    python bench/scale.py [--workers 100] [--processes 10] [--seconds 150] [--docs docs/performance.md]
"""

from __future__ import annotations

import argparse
import bisect
import heapq
import math
import multiprocessing
import random
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from azure.data.tables import TableClient
from report import fenced, verdict, write_section

from graphops.local.azurite import Azurite
from graphops.pacing.budget import LIMITS, far_life, lease_life
from graphops.pacing.budget_store import Budgets

TENANT = "8f3c2b1a-5d4e-4c6b-9a7f-1e2d3c4b5a69"
SERVICES = ("identity", "ediscovery")
IDENTITY_RATE = 4.0  # polls a second per worker: 400 a second from 100, against a budget of 280
EDISCOVERY_EVERY = 30.0  # seconds between a worker's eDiscovery polls: 3.3 a second from 100, against 4 a minute
BUSY_RATE = 20.0  # one worker's identity polls a second, far from the limit: 200 in any 10 s against 2,800


@dataclass
class Ledger:
    """Every table operation of every worker, by row and second, and every poll each made."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    operations: Counter[tuple[str, int]] = field(default_factory=Counter)
    writes: Counter[tuple[str, int]] = field(default_factory=Counter)
    polls: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def note(self, key: str, write: bool) -> None:
        second = int(time.time())
        with self.lock:
            self.operations[(key, second)] += 1
            if write:
                self.writes[(key, second)] += 1


class Counted:
    """A table client that notes each operation on a budget's rows (the bench's own count, not the store's): a
    write or a delete on its row, a read on the budget's partition."""

    def __init__(self, table: TableClient, ledger: Ledger) -> None:
        self._table, self._ledger = table, ledger

    def query_entities(self, query: str, **kwargs: Any) -> Any:
        self._ledger.note(kwargs["parameters"]["p"], write=False)
        return self._table.query_entities(query, **kwargs)

    def upsert_entity(self, entity: dict[str, Any], **kwargs: Any) -> Any:
        self._ledger.note(f"{entity['PartitionKey']} {entity['RowKey']}", write=True)
        return self._table.upsert_entity(entity, **kwargs)

    def delete_entity(self, entity: Any, **kwargs: Any) -> Any:
        self._ledger.note(f"{entity['PartitionKey']} {entity['RowKey']}", write=True)
        return self._table.delete_entity(entity, **kwargs)

    def create_table(self) -> Any:
        return self._table.create_table()


def worker(budgets: Budgets, ledger: Ledger, start: float, until: float, rates: dict[str, float], seed: int) -> None:
    """One instance's steps: each service's polls come due at its rate; a step told to wait comes back after the
    wait rounded up to whole seconds, as a queue's visibility delay does."""
    rng = random.Random(seed)
    due = [(start + rng.uniform(0, 1 / rate), service) for service, rate in rates.items()]
    heapq.heapify(due)
    while due:
        at, service = heapq.heappop(due)
        if at >= until:
            break
        time.sleep(max(0.0, at - time.time()))
        wait = budgets.wait_before_polling(TENANT, service)
        if wait > 0:
            heapq.heappush(due, (time.time() + max(1, math.ceil(wait)), service))
            continue
        with ledger.lock:
            ledger.polls[service].append(time.time())
        heapq.heappush(due, (time.time() + rng.expovariate(rates[service]), service))
    budgets.close()


def most_in_any_window(times: list[float], window: float) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, at + window) - n for n, at in enumerate(ordered)), default=0)


@dataclass(frozen=True)
class Share:
    """What one process runs: its workers (by number) against the table, from ``start`` to ``until``."""

    connection: str
    table_name: str
    numbers: range
    start: float
    until: float
    rates: dict[str, float]


def run_share(share: Share) -> dict[str, Any]:
    """One process's workers, each a thread with a budget store of its own; what they did."""
    ledger = Ledger()
    stores = [Budgets(Counted(TableClient.from_connection_string(share.connection, share.table_name), ledger),  # type: ignore[arg-type]
                      LIMITS, holder=f"worker{n:03d}") for n in share.numbers]  # fmt: skip
    threads = [threading.Thread(target=worker, args=(store, ledger, share.start, share.until, share.rates, n))
               for n, store in zip(share.numbers, stores, strict=True)]  # fmt: skip
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    names = ("claims", "leases", "refused", "writes", "reads", "deletes", "uncounted", "waits")
    stats = {name: sum(getattr(s.stats, name) for s in stores) for name in names}
    return {"operations": ledger.operations, "writes": ledger.writes, "polls": dict(ledger.polls), "stats": stats,
            "table_operations": sum(s.operations for s in stores)}  # fmt: skip


def run(
    connection: str, table_name: str, workers: int, seconds: float, rates: dict[str, float], processes: int = 1
) -> dict[str, Any]:
    client = TableClient.from_connection_string(connection, table_name)
    client.create_table()
    processes = max(1, min(processes, workers))
    start = time.time() + 2.0  # every process started and its threads waiting before the first poll
    shares = [Share(connection, table_name, range(workers)[n::processes], start, start + seconds, rates)
              for n in range(processes)]  # fmt: skip
    with multiprocessing.get_context("fork").Pool(processes) as pool:
        parts = pool.map(run_share, shares)
    operations: Counter[tuple[str, int]] = sum((p["operations"] for p in parts), Counter())
    writes: Counter[tuple[str, int]] = sum((p["writes"] for p in parts), Counter())
    polls = {s: [t for p in parts for t in p["polls"].get(s, [])] for s in rates}
    stats = {name: sum(p["stats"][name] for p in parts) for name in parts[0]["stats"]}
    total_operations = sum(p["table_operations"] for p in parts)
    rows = sorted({key for key, _ in operations})
    return {
        "workers": workers,
        "processes": processes,
        "seconds": seconds,
        "polls": {s: len(polls[s]) for s in rates},
        "worst": {s: most_in_any_window(polls[s], LIMITS[s].window) for s in rates},
        "rows": {key: (sum(n for (k, _), n in operations.items() if k == key) / seconds,
                       max((n for (k, _), n in writes.items() if k == key), default=0)) for key in rows},
        **stats,
        "operations": total_operations,
        "per_100_polls": 100 * total_operations / max(1, sum(len(p) for p in polls.values())),
    }  # fmt: skip


def partitions(crowd: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per budget: its reads (queries of its partition) and writes (each to one worker's row) a second, how many rows
    were written, and the most writes one row had in one second."""
    out: dict[str, dict[str, float]] = {}
    for key, (ops, most) in crowd["rows"].items():
        partition, _, row = key.partition(" ")
        part = out.setdefault(partition, {"reads": 0.0, "writes": 0.0, "rows": 0, "most": 0})
        if row:
            part["writes"] += ops
            part["rows"] += 1
            part["most"] = max(part["most"], most)
        else:
            part["reads"] += ops
    return out


def markdown(crowd: dict[str, Any], busy: dict[str, Any]) -> str:
    lines = ["| budget | reads a second | writes a second | rows written | most writes to one row in one second |",
             "|---|---:|---:|---:|---:|"]  # fmt: skip
    lines += [
        f"| `{partition.replace(TENANT, '<tenant>')}` | {p['reads']:.1f} | {p['writes']:.1f} | {p['rows']:.0f} | "
        f"{p['most']:.0f} |"
        for partition, p in partitions(crowd).items()
    ]
    lines += ["", "| service | budget (every window of) | polls | most in any sliding window |", "|---|---:|---:|---:|"]
    for service in SERVICES:
        limit = LIMITS[service]
        lines.append(f"| {service} | {limit.budget()} ({limit.window:g} s; leases of {lease_life(limit):g} s near the "
                     f"limit, {far_life(limit):g} s far from it) | {crowd['polls'][service]} | "
                     f"{crowd['worst'][service]} |")  # fmt: skip
    lines += ["", f"{crowd['workers']} workers in {crowd['processes']} processes, {crowd['seconds']:g} s: "
              f"{crowd['claims']} claims ({crowd['leases']} stood, {crowd['refused']} refused and withdrawn), "
              f"{crowd['writes']} row writes, {crowd['reads']} partition reads, {crowd['deletes']} gone rows "
              f"deleted, {crowd['waits']} waits, {crowd['uncounted']} polls uncounted, "
              f"{crowd['per_100_polls']:.1f} table operations per 100 polls.",
              f"One busy worker far from the limit ({busy['polls']['identity']} identity polls in "
              f"{busy['seconds']:g} s): {busy['operations']} table operations ({busy['claims']} claims, "
              f"{busy['writes']} writes, {busy['reads']} reads), {busy['per_100_polls']:.2f} per 100 "
              "polls."]  # fmt: skip
    return "\n".join(lines)


def goals(crowd: dict[str, Any], busy: dict[str, Any]) -> list[tuple[str, bool]]:
    refused = crowd["refused"] / max(1, crowd["claims"])
    hottest = max((p["most"] for p in partitions(crowd).values()), default=0)
    held = {s: crowd["worst"][s] <= LIMITS[s].budget() for s in SERVICES}
    return [
        (f"fewer than 5% of claims refused (the lost write's analogue): {refused:.1%} of {crowd['claims']}",
         refused < 0.05),
        (f"no poll goes uncounted: {crowd['uncounted']}", crowd["uncounted"] == 0),
        (f"no row written more than 100 times a second: at most {hottest:.0f}", hottest <= 100),
        *((f"the {s} budget holds in every sliding window: at most {crowd['worst'][s]}", held[s]) for s in SERVICES),
        (f"far from its limit, at most one table operation per 100 polls: {busy['per_100_polls']:.2f}",
         busy["per_100_polls"] <= 1.0),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--processes", type=int, default=10, help="processes the workers are spread over")
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--docs", type=Path, default=None, help="write the figures into this page's scale section")
    args = parser.parse_args()
    with Azurite() as azurite:
        crowd = run(azurite.connection_string, "scalecrowd", args.workers, args.seconds,
                    {"identity": IDENTITY_RATE, "ediscovery": 1 / EDISCOVERY_EVERY}, args.processes)  # fmt: skip
        busy = run(azurite.connection_string, "scalebusy", 1, 30.0, {"identity": BUSY_RATE})
    body = markdown(crowd, busy)
    lines = [verdict(met, goal) for goal, met in goals(crowd, busy)]
    print(body)
    print("\n".join(lines))
    write_section(args.docs, "scale", f"{body}\n\n{fenced(lines)}")


if __name__ == "__main__":
    main()
