"""Graph's throttling limits as shared budgets, over Azurite: the Graph stand-in enforces a service's limit per
tenant as Graph does, two worker processes share one budget without exceeding it, and a 429 pauses every
tracking of its tenant and service."""

from __future__ import annotations

import bisect
import json
import time
from pathlib import Path
from typing import Any

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.local.workers import worker_processes
from graphops.pacing.budget import parse_budgets

from ..patience import patience
from .conftest import Harness, own_state_table

TOO_MANY = seed.graph_error("TooManyRequests", "Too many requests")


def case_path(n: int) -> str:
    return f"/v1.0/security/cases/ediscoveryCases/{seed.CASE_ID}/operations/op-{n}"


def polls_of(stack: LocalStack, paths: list[str]) -> list[float]:
    return sorted(call.at for path in paths for call in stack.graph.gets(path))


def one_429_among_four(h: Harness) -> tuple[float, list[float]]:
    """Four eDiscovery trackings, the first throttled once (Retry-After 4 s): when that 429 came, and when the
    other three were polled."""
    running, done = seed.case_operation("running", 10), seed.case_operation("succeeded", 100)
    h.graph.script(case_path(0), [Reply(200, running), Reply(429, TOO_MANY, {"Retry-After": "4"}), Reply(200, done)])
    for n in (1, 2, 3):
        h.graph.script(case_path(n), [Reply(200, running)] * 4 + [Reply(200, done)])
    for n in range(4):
        h.track(case_path(n))
    h.run(timeout=90)
    [throttled] = [c.at for c in h.graph.gets(case_path(0)) if c.status == 429]
    return throttled, polls_of(h.stack, [case_path(n) for n in (1, 2, 3)])


def test_a_429_pauses_every_tracking_of_its_tenants_service(make_harness: Any) -> None:
    # A budget far above what the test asks: only the pause is measured.
    h: Harness = make_harness(GRAPHOPS_THROTTLE_BUDGETS="ediscovery=1000/60")
    throttled, others = one_429_among_four(h)
    assert {c.body["outcome"] for c in h.receiver.delivered()} == {"succeeded"} and len(h.receiver.delivered()) == 4
    # Polls already on their way when the 429 came may land just after it; none for the rest of Retry-After.
    paused = [at - throttled for at in others if 0.3 < at - throttled < 3.7]
    assert paused == [], f"polled {paused} s into a 4 s pause"
    assert any(at - throttled >= 3.7 for at in others)  # and they did go on after it


def test_without_budgets_each_tracking_meets_its_own_429(make_harness: Any) -> None:
    """Today's behaviour with GRAPHOPS_THROTTLE_BUDGETS=off: the other trackings keep polling into the 429."""
    h: Harness = make_harness(GRAPHOPS_THROTTLE_BUDGETS="off")
    throttled, others = one_429_among_four(h)
    assert [at for at in others if 0.3 < at - throttled < 3.7]  # the pause is the budget's doing


def test_a_spent_budget_waits_for_its_next_window_without_calling_graph(make_harness: Any) -> None:
    limits = parse_budgets("ediscovery=5/2")  # Graph's limit, compressed: 5 requests per 2 s per tenant
    h: Harness = make_harness(GRAPHOPS_THROTTLE_BUDGETS="ediscovery=5/2", GRAPHOPS_STATE_TABLE=own_state_table())
    h.graph.enforce({"ediscovery": limits["ediscovery"]})
    running, done = seed.case_operation("running", 10), seed.case_operation("succeeded", 100)
    for n in range(10):
        h.graph.script(case_path(n), [Reply(200, running), Reply(200, done)])
        h.track(case_path(n))
    h.run(timeout=120)

    assert len(h.receiver.delivered()) == 10 and {c.body["outcome"] for c in h.receiver.delivered()} == {"succeeded"}
    assert h.graph.throttled == []  # 4 a window (80% of 5): Graph never had to say no
    assert sum(len(h.graph.gets(case_path(n))) for n in range(10)) == 20  # waits called nobody


def most_in_any_window(times: list[float], window: float) -> int:
    """The most of ``times`` in one window of ``window`` seconds, wherever it starts (the most is in one that
    starts at one of them)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, at + window) - n for n, at in enumerate(ordered)), default=0)


def test_two_worker_processes_share_one_budget_and_neither_exceeds_it_in_any_sliding_window(
    stack: LocalStack, tmp_path: Path
) -> None:
    """Two `graphops run` processes on one queue, one Azurite, one Graph stand-in enforcing eDiscovery's limit
    (compressed to 5 requests per 2 s) in sliding windows: Graph never answers 429, and no 2 s window, wherever it
    starts, holds more than the budget (4: the limit less its margin) of the requests the workers sent.

    Measured as Graph counts, at arrival: a worker sends its poll at once when its lease of one request is granted,
    and the lease counts that request over its whole life (a second here), which covers the time it takes to
    arrive."""
    limits = parse_budgets("ediscovery=5/2")
    stack.graph.enforce({"ediscovery": limits["ediscovery"]})
    settings = {**stack.environment(), "GRAPHOPS_THROTTLE_BUDGETS": "ediscovery=5/2",
                "GRAPHOPS_STATE_TABLE": own_state_table()}  # fmt: skip
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
    running, done = seed.case_operation("running", 10), seed.case_operation("succeeded", 100)
    from graphops.client import GraphOpsClient

    client = GraphOpsClient.from_env(settings)
    for n in range(16):
        stack.graph.script(case_path(n), [Reply(200, running), Reply(200, running), Reply(200, done)])
        client.track(stack.graph.url + case_path(n), stack.callback_url())
    logs = [tmp_path / f"worker-{i}.log" for i in range(2)]
    with worker_processes(path, logs):
        deadline = time.monotonic() + patience(90)
        while len(stack.receiver.delivered()) < 16 and time.monotonic() < deadline:
            time.sleep(0.2)
    errors = [log.read_text() for log in logs]
    assert len(stack.receiver.delivered()) == 16, errors
    assert all('"event": "poll"' in err for err in errors), errors  # both processes polled
    assert stack.graph.throttled == []
    calls = [call for n in range(16) for call in stack.graph.gets(case_path(n))]
    assert len(calls) == 48
    arrivals = [call.wall for call in calls]
    assert most_in_any_window(arrivals, limits["ediscovery"].window) <= limits["ediscovery"].budget(), sorted(arrivals)


def test_each_worker_writes_only_its_own_row_and_a_claim_met_by_anothers_is_withdrawn(stack: LocalStack) -> None:
    """Budget stores on one budget in Azurite's table: while nobody waits, each leases half of the room the others
    leave, each in its own row; a fourth whose claim another worker's lands on between its write and its read
    withdraws it and waits in the queue with a note in its own row (the budget held: neither lease counted beyond
    it)."""
    from azure.data.tables import TableClient

    from graphops.pacing.budget_store import Budgets, budget_partition

    name = own_state_table()
    table = TableClient.from_connection_string(stack.azurite.connection_string, name)
    table.create_table()
    teams = parse_budgets("teams=30/60")  # 24 a minute
    first, second, third = (
        Budgets(TableClient.from_connection_string(stack.azurite.connection_string, name), teams, holder=holder)
        for holder in ("w1", "w2", "w3")
    )
    assert [worker.wait_before_polling("tenant-a", "teams") for worker in (first, second, third)] == [0.0] * 3
    partition = budget_partition("tenant-a", "teams")
    rows = {str(e["RowKey"]): e for e in table.query_entities("PartitionKey eq @p", parameters={"p": partition})}
    assert set(rows) == {"w1", "w2", "w3"}
    assert [json.loads(rows[w]["leases"])[0][2] for w in ("w1", "w2", "w3")] == [12, 6, 3]
    assert first.stats.refused == second.stats.refused == third.stats.refused == 0

    class Met:
        """The fourth worker's table: another worker's claim of the whole budget lands before its claim's read."""

        def __init__(self) -> None:
            self.reads = 0

        def __getattr__(self, name: str) -> Any:
            return getattr(table, name)

        def query_entities(self, *args: Any, **kwargs: Any) -> Any:
            self.reads += 1
            if self.reads == 2:
                now = time.time()
                table.upsert_entity({"PartitionKey": budget_partition("tenant-b", "teams"), "RowKey": "rival",
                                     "leases": json.dumps([[now, now + 6, 24]])})  # fmt: skip
            return table.query_entities(*args, **kwargs)

    fourth = Budgets(Met(), teams, holder="w4")  # type: ignore[arg-type]
    assert fourth.wait_before_polling("tenant-b", "teams") == 1.0  # the queue's shortest delay
    assert (fourth.stats.claims, fourth.stats.refused, fourth.stats.leases) == (1, 1, 0)
    mine = table.get_entity(budget_partition("tenant-b", "teams"), "w4")
    assert mine["leases"] == "[]" and mine["waitingSince"] > 0  # withdrawn, its place in the queue kept


def test_the_budgets_view_and_the_workers_read_a_garbled_budget_row_alike(stack: LocalStack) -> None:
    """A worker's row in Azurite holding a lease graphops could have written beside one it could not (longer than a
    far lease) and one whose count is not whole: the operator's view counts the first alone, and a worker leases
    beside it, as though the others were not there."""
    from azure.data.tables import TableClient

    from graphops.pacing.budget_store import Budgets, budget_partition
    from graphops.pacing.budget_view import read_views

    table = TableClient.from_connection_string(stack.azurite.connection_string, own_state_table())
    table.create_table()
    teams = parse_budgets("teams=30/60")  # 24 a minute
    now = time.time()
    leases = [[now - 1, now + 5, 10], [now - 1, now + 180, 500], [now - 1, now + 5, 2.5]]
    table.create_entity({"PartitionKey": budget_partition("tenant-a", "teams"), "RowKey": "w1",
                         "leases": json.dumps(leases), "pausedUntil": 0.0})  # fmt: skip
    [view] = read_views(table, teams, time.time())
    assert (view.service, view.used, view.limit, view.rows) == ("teams", 10, 24, 1)
    worker = Budgets(table, teams, holder="w2")
    assert worker.wait_before_polling("tenant-a", "teams") == 0.0 and worker.stats.leases == 1


def test_rows_from_before_budgets_were_kept_per_worker_are_read_by_nobody_and_a_reset_deletes_them(
    stack: LocalStack,
) -> None:
    """Rows of the partition ``~budget`` itself (a row per budget and shard, as graphops kept them before): the view
    shows none of them, a worker leases as though they were not there, and a reset of a budget deletes its old rows
    with its workers' rows, leaving another tenant's and another service's."""
    from azure.data.tables import TableClient

    from graphops.pacing.budget_store import Budgets, budget_partition
    from graphops.pacing.budget_view import PARTITION, read_views, reset

    table = TableClient.from_connection_string(stack.azurite.connection_string, own_state_table())
    table.create_table()
    teams = parse_budgets("teams=30/60")  # 24 a minute
    old = ["tenant-a|teams", "tenant-a|teams||0", "tenant-a|teams||1", "tenant-b|teams||0", "tenant-a|identity||0"]
    for key in old:
        table.create_entity({"PartitionKey": PARTITION, "RowKey": key, "count": 24, "windowStart": time.time()})
    worker = Budgets(table, teams, holder="w1")
    assert worker.wait_before_polling("tenant-a", "teams") == 0.0 and worker.stats.leases == 1
    [view] = read_views(table, teams, time.time())
    assert (view.tenant, view.service, view.rows) == ("tenant-a", "teams", 1)
    assert reset(table, "teams", "tenant-a") == ["tenant-a|teams", "tenant-a|teams/w1", "tenant-a|teams||0",
                                                 "tenant-a|teams||1"]  # fmt: skip

    def keys(partition: str) -> list[str]:
        return sorted(str(e["RowKey"]) for e in table.query_entities("PartitionKey eq @p", parameters={"p": partition}))

    assert keys(PARTITION) == ["tenant-a|identity||0", "tenant-b|teams||0"]
    assert keys(budget_partition("tenant-a", "teams")) == []
