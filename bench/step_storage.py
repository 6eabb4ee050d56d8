"""What a tracking's state and time index cost, alone: N two-poll trackings go through the state store as their
steps use it (first step: the gate's read, the record that creates the row and indexes it as polling; second
step: the gate's read, the delivering step's owning write, the final record that indexes it as succeeded),
from ``--threads`` threads against one Azurite, with no Graph, queue or callback around them.

It reports table operations per tracking (counted as HTTP requests to the table service, so a transaction is
one, as Azure bills it; deterministic) and the client's CPU per tracking (the process's, Azurite excluded: it
runs in a process of its own), each for the state alone and with the index, medians of ``--rounds``.

    python bench/step_storage.py [--trackings 500] [--threads 16] [--rounds 3] [--docs docs/performance.md]
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from azure.data.tables import TableClient
from report import fenced, write_section
from table_requests import TableRequests

from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import Delivery, DeliveryState, Outcome, Phase, iso, next_step
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local.azurite import Azurite
from graphops.storage.state import StateStore
from graphops.wiring import storage_transport

TRANSPORT = storage_transport()
LIMITS = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
CALLBACK = "https://prod-00.westeurope.logic.azure.com/workflows/w/triggers/manual/paths/invoke?sig=s"
RUNNING = {"id": "op", "status": "running", "createdDateTime": "2026-12-04T09:00:00Z"}
SUCCEEDED = {**RUNNING, "status": "succeeded", "lastActionDateTime": "2026-12-04T09:00:10Z"}


def two_polls(state: StateStore, tracking_id: str, now: datetime) -> None:
    """A tracking's two steps, as far as they touch the state and the index."""
    doc = {"operationUrl": "https://graph.microsoft.com/v1.0/users/u/authentication/operations/op",
           "callbackUrl": CALLBACK, "correlationId": "bench"}  # fmt: skip
    first = replace(from_request(doc, tracking_id, now, LIMITS), stateful=True)
    gate = state.gate(first)
    first = replace(first, state_etag=gate.etag, history=gate.history, state_names=gate.names,
                    state_standing=gate.standing)  # fmt: skip
    polled = first.seen("running", RUNNING, None).noted(at=iso(now), http=200, status="running", delay=5)
    state.record(next_step(polled), now + timedelta(seconds=5), now, standing=polled.state_standing)

    later = now + timedelta(seconds=5)
    second = next_step(polled)
    gate = state.gate(second)
    second = replace(second, state_etag=gate.etag, history=gate.history, state_names=gate.names,
                     state_standing=gate.standing)  # fmt: skip
    finished = second.seen("succeeded", SUCCEEDED, None).noted(at=iso(later), http=200, status="succeeded")
    finished = finished.finish(Outcome.SUCCEEDED, None, later)
    owned = state.own(finished)
    assert isinstance(owned, str), f"{tracking_id}: the delivering step did not own the state"
    delivered = replace(finished, state_etag=owned,
                        deliveries={"callback": Delivery(1, DeliveryState.DELIVERED)}).noted(
        at=iso(later), sink="callback", attempt=1, delivered=True, result="200")  # fmt: skip
    state.record(replace(next_step(delivered), phase=Phase.DONE), None, later, final=True,
                 standing=delivered.state_standing)  # fmt: skip


def one_run(connection: str, trackings: int, threads: int, with_index: bool) -> dict[str, float]:
    # The storage transport the app's clients share (graphops.wiring), as a deployed step uses it.
    table = TableClient.from_connection_string(connection, f"bench{uuid.uuid4().hex[:12]}", transport=TRANSPORT)
    table.create_table()
    state = StateStore(table)
    if not with_index:
        state._index = lambda *args, **kwargs: None  # type: ignore[method-assign]
    now = datetime.now(UTC)
    requests = TableRequests(table.url)
    with requests.counting(), ThreadPoolExecutor(threads) as pool:
        started, cpu = time.perf_counter(), time.process_time()
        list(pool.map(lambda i: two_polls(state, f"t{i:06d}-{uuid.uuid4().hex[:8]}", now), range(trackings)))
        cpu, elapsed = time.process_time() - cpu, time.perf_counter() - started
    table.delete_table()
    return {"operations": requests.count / trackings, "cpu_ms": cpu * 1000 / trackings,
            "wall_ms": elapsed * 1000 / trackings}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trackings", type=int, default=500)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="each configuration this many times, interleaved")
    parser.add_argument("--docs", type=Path, help="write the figures into this page's step-storage section")
    args = parser.parse_args()
    runs: dict[str, list[dict[str, float]]] = {"state alone": [], "state and index": []}
    with Azurite() as azurite:
        one_run(azurite.connection_string, 50, args.threads, True)  # warm: imports, connections, Azurite's JIT
        for _ in range(args.rounds):
            for name, measured in runs.items():
                measured.append(one_run(azurite.connection_string, args.trackings, args.threads,
                                        name == "state and index"))  # fmt: skip
    medians = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
    alone, both = medians["state alone"], medians["state and index"]
    lines = [
        f"{args.trackings} two-poll trackings through the state store, {args.threads} threads, medians of "
        f"{args.rounds}",
        *(
            f"{name:16} {m['operations']:5.2f} table operations, {m['cpu_ms']:5.2f} ms CPU, {m['wall_ms']:5.2f} ms "
            "wall per tracking"
            for name, m in medians.items()
        ),
        f"{'the index':16} {both['operations'] - alone['operations']:5.2f} table operations, "
        f"{both['cpu_ms'] - alone['cpu_ms']:5.2f} ms CPU per tracking",
    ]
    print("\n".join(lines))
    write_section(args.docs, "step-storage", fenced(lines))


if __name__ == "__main__":
    main()
