"""Pacing promises held through the parts a step runs, as the deployment's settings build them: the shared
budget's row and its pauses, storage failing around it, and the learned schedules' bounds and refresh."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.core.exceptions import (
    AzureError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.data.tables import TableEntity

from graphops.egress.policy import CallbackPolicy
from graphops.graph.answer import GraphAnswer
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.pacing import budget_store, length_store
from graphops.pacing.budget import LIMITS
from graphops.pacing.learned import MIN_SAMPLES, Seen
from graphops.settings import Settings
from graphops.step.chain import StepResult
from graphops.step.tracker import Tracker
from graphops.storage.state import StateStore
from graphops.wiring import policy_for

from .test_budget import Table
from .test_step import CALLBACK, SEAL, StubDeliverer, StubQueue

ENV = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}
NOW = datetime(2026, 11, 28, tzinfo=UTC)
TENANT = "8f3c2b1a-5d4e-4c6b-9a7f-1e2d3c4b5a69"
OTHER_TENANT = "0b6e3d2c-4a5f-4e7d-8c9b-2f3e4d5c6b7a"
GRAPH = "https://graph.microsoft.com"
CASE = GRAPH + seed.CASE_OPERATION_PATH  # ediscovery
EXPORT = GRAPH + seed.EXPORT_PATH  # dataExport
TEAMS = f"{GRAPH}/v1.0/teams/{seed.TEAM_ID}/operations/{seed.TEAM_OPERATION_ID}"  # teams
SITE = GRAPH + seed.SITE_OPERATION_PATH  # sharepoint
RUNNING = {CASE: seed.case_operation("running", 10), EXPORT: seed.data_export("running"),
           TEAMS: seed.teams_operation("inProgress"), SITE: seed.rich_operation("running", 10)}  # fmt: skip
OTHER = "other-worker"  # the row key of another worker's row of a budget


def own(partition: object) -> bool:
    """A partition the step reads as Table storage behaves: a budget's, the lengths'."""
    return isinstance(partition, str) and (partition.startswith(f"{budget_store.PARTITION}|")
                                           or partition == length_store.PARTITION)  # fmt: skip


class Rows(Table):
    """The state table as the step meets it: the budgets' and lengths' partitions behave as Table storage does
    (ETags, not-found), with failures put in by method name; a tracking's own row reads as not there yet (so its
    step keeps a history) and is never written (which slows nothing, as tests/unit/test_step.py holds)."""

    def __init__(self) -> None:
        super().__init__()
        self.broken: dict[str, Exception] = {}
        self.table_missing = False
        self.create_table_error: Exception | None = None
        self.queries = 0
        self.on_upsert: Callable[[dict[str, Any]], None] | None = None  # another worker writing just after

    def _reach(self, method: str, partition: object) -> None:
        if not own(partition):
            raise ServiceRequestError("tracking rows out of reach")
        if method in self.broken:
            raise self.broken[method]

    def get_entity(self, partition: str, key: str) -> Any:
        if not own(partition):
            raise ResourceNotFoundError("a tracking without a state yet")
        self._reach("get_entity", partition)
        return super().get_entity(partition, key)

    def create_entity(self, entity: dict[str, Any]) -> None:
        self._reach("create_entity", entity["PartitionKey"])
        if self.table_missing:
            raise ResourceNotFoundError("TableNotFound")
        super().create_entity(entity)

    def update_entity(self, entity: dict[str, Any], *, etag: str = "", **_: Any) -> None:
        self._reach("update_entity", entity["PartitionKey"])
        super().update_entity(entity, etag=etag)

    def upsert_entity(self, entity: dict[str, Any], **_: Any) -> None:
        self._reach("upsert_entity", entity["PartitionKey"])
        if self.table_missing:
            raise ResourceNotFoundError("TableNotFound")
        key = (entity["PartitionKey"], entity["RowKey"])
        old = self.rows.get(key)
        self.rows[key] = (dict(entity), old[1] + 1 if old else 1)
        if self.on_upsert is not None:
            self.on_upsert(entity)

    def query_entities(self, query: str, *, parameters: Mapping[str, Any] | None = None, **_: Any) -> Any:
        self._reach("query_entities", (parameters or {}).get("p"))
        partition = (parameters or {}).get("p")
        self.queries += partition == length_store.PARTITION  # the lengths' (a budget's are its leases' reads)
        found = []
        for (p, _key), (row, version) in self.rows.items():
            if p == partition:
                entity = TableEntity(row)
                entity._metadata = {"etag": str(version)}  # type: ignore[attr-defined]
                found.append(entity)
        return found

    def create_table(self) -> None:
        if self.create_table_error is not None:
            raise self.create_table_error
        self.table_missing = False

    def __getattr__(self, name: str) -> Any:
        def out_of_reach(*args: Any, **kwargs: Any) -> Any:
            raise ServiceRequestError("tracking rows out of reach")

        return out_of_reach

    def budget_row(self, tenant: str, service: str) -> dict[str, Any] | None:
        """The budget's rows as one: every worker's leases, and the latest pause; None when it has none."""
        rows = [
            row for (p, _key), (row, _v) in self.rows.items() if p == f"{budget_store.PARTITION}|{tenant}|{service}"
        ]
        if not rows:
            return None
        leases = [lease for row in rows for lease in json.loads(row["leases"])]
        return {"leases": json.dumps(leases), "pausedUntil": max(row.get("pausedUntil", 0.0) for row in rows)}

    def put_budget(self, tenant: str, service: str, **values: float | str) -> None:
        """Another worker's row of a budget."""
        partition = f"{budget_store.PARTITION}|{tenant}|{service}"
        row = {"PartitionKey": partition, "RowKey": OTHER, "leases": "[]", "pausedUntil": 0.0, **values}
        self.rows[(partition, OTHER)] = (row, 7)

    def put_lengths(self, kind: str, seconds: list[float]) -> None:
        """Other workers' finished trackings of a kind: a row each, the kind's rows before them replaced; from
        callers of their own, an hour apart, so each counts one."""
        for key in [k for k in self.rows if k[0] == length_store.PARTITION and k[1].startswith(f"{kind}.")]:
            del self.rows[key]
        at = datetime.now(UTC).timestamp()
        for i, length in enumerate(seconds):
            row = {"PartitionKey": length_store.PARTITION, "RowKey": f"{kind}.{i:03d}", "seconds": length,
                   "at": at - 3600 * i, "source": f"caller{i}"}  # fmt: skip
            self.rows[(length_store.PARTITION, row["RowKey"])] = (row, 1)


def leased(row: Mapping[str, Any]) -> int:
    """The requests a window one worker's leases hold: the most of them (its own log keeps it to its lease)."""
    return max((int(lease[2]) for lease in json.loads(row["leases"])), default=0)


class Graph:
    """Graph as the step reads it: the identity's tenant (its token's ``tid``) and an answer per URL."""

    def __init__(self, answers: Mapping[str, GraphAnswer] | None = None, tenant: str = TENANT) -> None:
        self._tenant = tenant
        self.answers = dict(answers or {})
        self.calls: list[str] = []

    def tenant(self) -> str:
        return self._tenant

    def get_operation(self, url: str, select: Any = ()) -> GraphAnswer:
        self.calls.append(url)
        return self.answers.get(url) or GraphAnswer(200, RUNNING[url])


LIMITS_ = Limits(GRAPH, CallbackPolicy(("*.logic.azure.com",), resolver=lambda h, p: ["20.38.102.5"]), 86400,
                 30 * 86400)  # fmt: skip


def deployed(table: Rows, graph: Graph, queue: StubQueue, now: list[datetime], **settings: str) -> Tracker:
    """A step as the app builds it: the policy from the settings (wiring.policy_for), a state over ``table``."""
    configured = Settings.from_env({**ENV, **settings})
    policy = policy_for(configured)
    return Tracker(limits=LIMITS_, policy=policy, graph=graph, queue=queue, seal=SEAL,  # type: ignore[arg-type]
                   deliverer=StubDeliverer(), max_delivery_attempts=3, clock=lambda: now[0],  # type: ignore[arg-type]
                   rng=random.Random(0), state=StateStore(table),  # type: ignore[arg-type]
                   retention=timedelta(days=configured.state_retention_days))  # fmt: skip


def track(url: str) -> str:
    return json.dumps({"operationUrl": url, "callbackUrl": CALLBACK, "timeoutSeconds": 30 * 86400})


def schedule_of(result: StepResult) -> str | None:
    assert result.tracking is not None and result.tracking.history
    return result.tracking.history[-1].get("schedule")


def lengths_of(seconds: list[float]) -> list[float]:
    return seconds


# -- The shared budget's row: the token's tenant and the kind's service ----------------------------------------


def test_a_poll_takes_its_slot_from_its_tenants_row_of_its_service_and_no_other() -> None:
    table, graph, queue = Rows(), Graph(), StubQueue()
    paused = datetime.now(UTC).timestamp() + 300  # pauses any of these rows would make a poll wait for
    table.put_budget(OTHER_TENANT, "ediscovery", pausedUntil=paused)  # another tenant's row of the service
    table.put_budget(TENANT, "teams", pausedUntil=paused)  # this tenant's row of another service
    table.put_budget("", "ediscovery", pausedUntil=paused)  # no tenant's
    seeded = dict(table.rows)
    step = deployed(table, graph, queue, [NOW])
    for n in range(3):
        assert step.handle(track(CASE), f"m{n}").action == "pollAgain"
    assert graph.calls == [CASE] * 3
    row = table.budget_row(TENANT, "ediscovery")
    assert row is not None and leased(row) == 3  # a request more a lease, from this tenant's eDiscovery budget
    assert {key: table.rows[key] for key in seeded} == seeded  # nobody else's row spent
    assert {p for p, _ in table.rows} == {p for p, _ in seeded} | {f"{budget_store.PARTITION}|{TENANT}|ediscovery"}


def test_a_poll_waits_when_its_own_tenants_row_of_its_service_is_paused() -> None:
    """The rows above, the other way round: what that poll passed by stops it when it is its own."""
    for tenant, service, url in ((TENANT, "ediscovery", CASE), (OTHER_TENANT, "teams", TEAMS)):
        table, graph, queue = Rows(), Graph(tenant=tenant), StubQueue()
        table.put_budget(tenant, service, pausedUntil=datetime.now(UTC).timestamp() + 300)
        result = deployed(table, graph, queue, [NOW]).handle(track(url), "m")
        assert (result.action, graph.calls) == ("wait", []), (tenant, service)
        assert result.delay is not None and 200 <= result.delay <= 306  # the pause (and a little spread)
        assert result.tracking is not None and result.tracking.history
        assert result.tracking.history[-1].get("budget") == service


# -- A 429 pauses the tenant's row of the service -------------------------------------------------------------


@pytest.mark.parametrize(("url", "service", "usual"), [(CASE, "ediscovery", 60), (EXPORT, "dataExport", 60),
                                                       (TEAMS, "teams", 30)])  # fmt: skip
def test_a_429_without_retry_after_pauses_the_services_budget_for_its_usual_wait(
    url: str, service: str, usual: int
) -> None:
    assert LIMITS[service].pause_without_retry_after == usual  # the service's usual wait, as the code defines it
    table, queue = Rows(), StubQueue()
    graph = Graph({url: GraphAnswer(429, seed.graph_error("TooManyRequests", "slow down"), retry_after=None)})
    step = deployed(table, graph, queue, [NOW])
    before = datetime.now(UTC).timestamp()
    assert step.handle(track(url), "m").action == "pollAgain"
    after = datetime.now(UTC).timestamp()
    row = table.budget_row(TENANT, service)
    assert row is not None and before + usual <= row["pausedUntil"] <= after + usual
    assert graph.calls == [url]


@pytest.mark.parametrize("retry_after", [601.0, 3600.0, 8 * 24 * 3600.0])
def test_a_429_pauses_the_shared_budget_for_600_seconds_at_most(retry_after: float) -> None:
    table, queue = Rows(), StubQueue()
    graph = Graph({CASE: GraphAnswer(429, seed.graph_error("TooManyRequests", "slow"), retry_after=retry_after)})
    step = deployed(table, graph, queue, [NOW])
    before = datetime.now(UTC).timestamp()
    result = step.handle(track(CASE), "m")
    after = datetime.now(UTC).timestamp()
    row = table.budget_row(TENANT, "ediscovery")
    assert row is not None and before + 600 <= row["pausedUntil"] <= after + 600
    # The throttled tracking itself still waits all of Graph's Retry-After.
    assert result.tracking is not None and result.delay is not None
    waited = result.tracking.not_before - NOW if result.tracking.not_before else timedelta(seconds=result.delay)
    assert waited >= timedelta(seconds=retry_after)


# -- A chat's operations: a budget per chat (1 request a second), beside the tenant's teams budget ---------------

CHAT = "19:c253a29b5f694b55a6baad8e83510af7@thread.v2"
OTHER_CHAT = "19:0c5d1f8e3b2a4c6d9e7f1a2b3c4d5e6f@thread.v2"


def chat_operation(chat: str) -> str:
    return f"{GRAPH}/beta/chats/{chat}/operations/2432b57b-0abd"


def test_a_chats_poll_spends_its_chats_row_and_the_tenants_teams_row() -> None:
    table, queue = Rows(), StubQueue()
    url = chat_operation(CHAT)
    graph = Graph({url: GraphAnswer(200, seed.teams_operation("inProgress"))})
    assert deployed(table, graph, queue, [NOW]).handle(track(url), "m").action == "pollAgain"
    chat, tenant = table.budget_row(TENANT, f"teamsChat|{CHAT}"), table.budget_row(TENANT, "teams")
    # A lease from each: of one from the chat's budget of one a second, and a first lease of half the tenant's 24.
    assert chat is not None and leased(chat) == 1 and tenant is not None and leased(tenant) == 12


def test_a_chat_whose_budget_is_paused_waits_and_another_chat_polls() -> None:
    table, queue = Rows(), StubQueue()
    table.put_budget(TENANT, f"teamsChat|{CHAT}", pausedUntil=datetime.now(UTC).timestamp() + 300)
    waiting, other = chat_operation(CHAT), chat_operation(OTHER_CHAT)
    graph = Graph({u: GraphAnswer(200, seed.teams_operation("inProgress")) for u in (waiting, other)})
    step = deployed(table, graph, queue, [NOW])
    result = step.handle(track(waiting), "m1")
    assert result.action == "wait" and result.tracking is not None and result.tracking.history
    assert result.tracking.history[-1].get("budget") == "teamsChat"
    assert table.budget_row(TENANT, "teams") is None  # waiting for its chat, it spent none of the tenant's
    assert step.handle(track(other), "m2").action == "pollAgain" and graph.calls == [other]


def test_a_429_on_a_chats_operation_pauses_that_chats_budget_too() -> None:
    table, queue = Rows(), StubQueue()
    url = chat_operation(CHAT)
    graph = Graph({url: GraphAnswer(429, seed.graph_error("TooManyRequests", "slow down"), retry_after=20.0)})
    before = datetime.now(UTC).timestamp()
    deployed(table, graph, queue, [NOW]).handle(track(url), "m")
    row = table.budget_row(TENANT, f"teamsChat|{CHAT}")
    assert row is not None and row["pausedUntil"] >= before + 20


# -- The beta twin of a refused reset: its request counts against the identity budget, and its 429 pauses it ---

RESET_V1 = GRAPH + seed.reset_path("adele@contoso.com")
RESET_BETA = GRAPH + seed.reset_path("adele@contoso.com", version="beta")
DENIED = GraphAnswer(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))


#: An identity budget small enough (8 with the margin) to be leased one request at a time: each request is a lease.
SMALL_IDENTITY = {"GRAPHOPS_THROTTLE_BUDGETS": "identity=10/10"}


def test_a_twins_request_takes_its_own_slot_of_the_identity_budget() -> None:
    table, queue = Rows(), StubQueue()
    graph = Graph({RESET_V1: DENIED, RESET_BETA: GraphAnswer(200, seed.password_reset("running"))})
    assert deployed(table, graph, queue, [NOW], **SMALL_IDENTITY).handle(track(RESET_V1), "m").action == "pollAgain"
    row = table.budget_row(TENANT, "identity")
    assert graph.calls == [RESET_V1, RESET_BETA] and row is not None and leased(row) == 2


def test_a_twins_429_pauses_the_identity_budget_and_the_tracking_polls_again() -> None:
    table, queue = Rows(), StubQueue()
    throttled = GraphAnswer(429, seed.graph_error("TooManyRequests", "slow down"), retry_after=45.0)
    graph = Graph({RESET_V1: DENIED, RESET_BETA: throttled})
    before = datetime.now(UTC).timestamp()
    result = deployed(table, graph, queue, [NOW]).handle(track(RESET_V1), "m")
    after = datetime.now(UTC).timestamp()
    row = table.budget_row(TENANT, "identity")
    assert row is not None and before + 45 <= row["pausedUntil"] <= after + 45
    assert result.action == "pollAgain" and result.delay is not None and result.delay >= 45
    assert result.tracking is not None and result.tracking.outcome is None


def test_a_twin_is_not_asked_while_the_identity_budget_is_spent() -> None:
    table, queue = Rows(), StubQueue()
    # Another worker's lease holds all but one of the budget's 8 in the windows of the next seconds: the v1.0 poll
    # takes the last, and the twin finds none.
    now = datetime.now(UTC).timestamp()
    table.put_budget(TENANT, "identity", leases=json.dumps([[now - 1, now + 4, 7]]))
    graph = Graph({RESET_V1: DENIED, RESET_BETA: GraphAnswer(200, seed.password_reset("running"))})
    result = deployed(table, graph, queue, [NOW], **SMALL_IDENTITY).handle(track(RESET_V1), "m")
    assert (result.action, graph.calls) == ("wait", [RESET_V1])
    assert result.tracking is not None and result.tracking.history
    assert result.tracking.history[-2].get("http") == 403 and result.tracking.history[-1].get("budget") == "identity"


def test_the_budgets_own_pause_is_600_seconds_at_most() -> None:
    table, now = Rows(), [5000.0]
    budgets = budget_store.Budgets(table, LIMITS, clock=lambda: now[0])  # type: ignore[arg-type]
    assert budgets.pause(TENANT, "ediscovery", 3600.0) == 5600.0
    assert budgets.pause(TENANT, "teams", None) == 5030.0
    row = table.budget_row(TENANT, "ediscovery")
    assert row is not None and row["pausedUntil"] == 5600.0
    assert 600 <= budgets.wait_before_polling(TENANT, "ediscovery") <= 605  # and a little spread


# -- Storage failing around the budget never stops a poll -------------------------------------------------------


FAILURES: list[tuple[str, dict[str, Exception]]] = [
    ("read out of reach", {"query_entities": ServiceRequestError("connection refused")}),
    ("read answered 503", {"query_entities": HttpResponseError("server busy")}),
    ("write answered 500", {"upsert_entity": HttpResponseError("internal error")}),
    ("write answered 403", {"upsert_entity": HttpResponseError("AuthorizationPermissionMismatch")}),
]


@pytest.mark.parametrize(("name", "broken"), FAILURES, ids=[name for name, _ in FAILURES])
def test_a_budget_store_failing_never_stops_a_poll(name: str, broken: dict[str, Exception]) -> None:
    table, graph, queue = Rows(), Graph(), StubQueue()
    table.put_budget(TENANT, "ediscovery")  # another worker's row
    table.broken = broken
    step = deployed(table, graph, queue, [NOW])
    result = step.handle(track(CASE), "m")
    assert graph.calls == [CASE], name  # Graph was asked ...
    assert result.action == "pollAgain" and len(queue.sent) == 1  # ... and the tracking goes on
    budgets = step._polling._budgets
    assert budgets is not None and budgets.stats.uncounted == 1  # ... and the poll is known to have gone uncounted


def test_a_claim_another_worker_met_makes_the_poll_wait_a_moment_rather_than_go_uncounted() -> None:
    table, graph, queue = Rows(), Graph(), StubQueue()
    now = datetime.now(UTC).timestamp()

    def rival(entity: dict[str, Any]) -> None:  # claims the whole minute just after this worker's claim
        if entity["RowKey"] != OTHER and json.loads(entity["leases"]):
            table.put_budget(TENANT, "ediscovery", leases=json.dumps([[now, now + 6, 4]]))

    table.on_upsert = rival
    step = deployed(table, graph, queue, [NOW])
    result = step.handle(track(CASE), "m")
    assert (result.action, graph.calls, result.delay) == ("wait", [], 1)  # the queue's shortest delay
    budgets = step._polling._budgets
    assert budgets is not None and (budgets.stats.refused, budgets.stats.uncounted) == (1, 0)
    row = table.budget_row(TENANT, "ediscovery")
    assert row is not None and leased(row) == 4  # its claim withdrawn: the rival's lease alone


@pytest.mark.parametrize("answer", [GraphAnswer(200, RUNNING[CASE]), GraphAnswer(429, None, retry_after=7.0)])
def test_a_budget_table_that_is_missing_and_cannot_be_created_never_stops_a_poll(answer: GraphAnswer) -> None:
    """Neither the slot before the poll nor the pause after a 429 (each finds no table and may not make one)."""
    table, graph, queue = Rows(), Graph({CASE: answer}), StubQueue()
    table.table_missing = True
    table.create_table_error = HttpResponseError("AuthorizationPermissionMismatch")
    result = deployed(table, graph, queue, [NOW]).handle(track(CASE), "m")
    assert graph.calls == [CASE] and result.action == "pollAgain" and len(queue.sent) == 1


@pytest.mark.parametrize("error", [ServiceRequestError("connection refused"), HttpResponseError("server busy")])
def test_a_429_whose_pause_cannot_be_kept_still_moves_the_tracking_on(error: AzureError) -> None:
    table, queue = Rows(), StubQueue()
    graph = Graph({CASE: GraphAnswer(429, seed.graph_error("TooManyRequests", "slow"), retry_after=7.0)})
    step = deployed(table, graph, queue, [NOW])
    table.broken = {"update_entity": error, "create_entity": error}  # slots and pauses are never written
    result = step.handle(track(CASE), "m")
    assert graph.calls == [CASE] and result.action == "pollAgain" and len(queue.sent) == 1
    assert queue.sent[0][1] >= 7  # and it waits out Graph's Retry-After


# -- Learned schedules, as the running policy builds them ---------------------------------------------------------


def follow(step: Tracker, queue: StubQueue, start: str, now: list[datetime], steps: int) -> list[tuple[int, str]]:
    """Poll a tracking (of an operation URL, or a message) ``steps`` times, each step when its message shows again:
    (delay, schedule) of each."""
    result = step.handle(track(start) if start.startswith("https://") else start, "m0")
    seen = []
    for n in range(steps):
        assert result.action == "pollAgain" and result.delay is not None, result
        seen.append((result.delay, schedule_of(result) or ""))
        if n + 1 < steps:
            now[0] += timedelta(seconds=result.delay)
            result = step.handle(queue.sent[-1][0], f"m{n + 1}")
    return seen


def test_a_learned_schedule_keeps_the_kinds_own_shortest_delay() -> None:
    """Teams operations that end within seconds: a learned schedule would check every few seconds, but teams'
    31 s stays (the kind's own delay, which only GRAPHOPS_KIND_POLL_DELAYS replaces)."""
    table, graph, queue, now = Rows(), Graph(), StubQueue(), [NOW]
    rng = random.Random(1)
    table.put_lengths("teamsAsyncOperation", lengths_of([rng.uniform(2.0, 6.0) for _ in range(MIN_SAMPLES * 2)]))
    table.put_lengths("siteOperation", lengths_of([rng.uniform(2.0, 6.0) for _ in range(MIN_SAMPLES * 2)]))
    step = deployed(table, graph, queue, now)
    teams = follow(step, queue, TEAMS, now, 6)
    assert {name for _, name in teams} == {f"learned ({MIN_SAMPLES * 2} lengths)"}
    assert min(delay for delay, _ in teams) == 31, teams
    # A kind with no delay of its own learns down to the deployment's (5 s): the 31 s above is teams' own.
    site = follow(step, queue, SITE, now, 3)
    assert {name for _, name in site} == {f"learned ({MIN_SAMPLES * 2} lengths)"}
    assert min(delay for delay, _ in site) < 31


def test_learned_gaps_reach_an_hour() -> None:
    """A kind whose operations all take most of a day waits about an hour between checks through the stretch
    where it never ends. Past every length it learned from, it does not trust "nothing is left": its gaps are
    the default's at least (60 s) and an hour at most, growing with the time already waited."""
    table, graph, queue, now = Rows(), Graph(), StubQueue(), [NOW]
    rng = random.Random(2)
    table.put_lengths("siteOperation", lengths_of([rng.uniform(60_000, 80_000) for _ in range(MIN_SAMPLES)]))
    step = deployed(table, graph, queue, now)
    gaps = follow(step, queue, SITE, now, 10)
    assert {name for _, name in gaps} == {f"learned ({MIN_SAMPLES} lengths)"}
    assert all(3000 < delay <= 3600 for delay, _ in gaps), gaps  # the first ten hours: about an hour apart
    # A tracking still running two days on, past every length the kind learned from: every hour.
    begun = from_request({"operationUrl": SITE, "callbackUrl": CALLBACK, "timeoutSeconds": 30 * 86400}, "old",
                         NOW - timedelta(days=2), LIMITS_)  # fmt: skip
    late = follow(step, queue, SEAL.seal(replace(begun, stateful=True).to_wire()), now, 3)
    assert {name for _, name in late} == {f"learned ({MIN_SAMPLES} lengths)"}
    # The first delay only reaches the next check due (the tracking joins the schedule mid-way): the gaps follow.
    assert all(60 <= delay <= 3600 for delay, _ in late[1:]), late


def test_the_histograms_are_read_again_every_ten_minutes_and_not_before() -> None:
    table, graph, queue, now = Rows(), Graph(), StubQueue(), [NOW]
    rng = random.Random(3)
    table.put_lengths("siteOperation", lengths_of([rng.uniform(60_000, 80_000) for _ in range(MIN_SAMPLES)]))
    step = deployed(table, graph, queue, now)
    learning = step._polling._learning
    assert learning is not None
    seconds = [1000.0]
    learning.clock = lambda: seconds[0]  # the process's monotonic clock, moved by the test

    def first_delay() -> tuple[int | None, str | None]:
        result = step.handle(track(SITE), "m")
        return result.delay, schedule_of(result)

    long_first = first_delay()
    assert long_first[1] == f"learned ({MIN_SAMPLES} lengths)" and (long_first[0] or 0) > 3000
    assert table.queries == 1
    # Another worker's trackings teach the kind that it ends within seconds now.
    table.put_lengths("siteOperation", lengths_of([rng.uniform(2.0, 4.0) for _ in range(MIN_SAMPLES * 3)]))
    for later in (1.0, 300.0, 599.0, 599.9):
        seconds[0] = 1000.0 + later
        assert first_delay() == long_first, later  # not seen yet
    assert table.queries == 1
    seconds[0] = 1000.0 + 600.0
    delay, schedule = first_delay()
    assert schedule == f"learned ({MIN_SAMPLES * 3} lengths)" and delay is not None and delay < 60
    assert table.queries == 2


def test_a_kind_the_settings_fix_keeps_their_delays_though_it_has_learned() -> None:
    table, graph, queue, now = Rows(), Graph(), StubQueue(), [NOW]
    rng = random.Random(4)
    table.put_lengths("siteOperation", lengths_of([rng.uniform(60_000, 80_000) for _ in range(MIN_SAMPLES)]))
    learning = StubQueue()
    [(delay, name)] = follow(deployed(table, graph, learning, [NOW]), learning, SITE, [NOW], 1)
    assert name == f"learned ({MIN_SAMPLES} lengths)" and delay > 3000  # what the kind learned
    for setting in ("siteOperation=7:9", "*=7:9", "teamsAsyncOperation=40:50,siteOperation=7:9"):
        fixed = follow(deployed(table, graph, queue, now, GRAPHOPS_KIND_POLL_DELAYS=setting), queue, SITE, now, 4)
        assert {name for _, name in fixed} == {"default (7–9 s)"}, setting
        assert all(7 <= delay <= 9 for delay, _ in fixed), (setting, fixed)


def test_a_length_whose_table_is_missing_and_cannot_be_created_is_dropped_without_failing_the_step() -> None:
    table = Rows()
    table.table_missing = True
    table.create_table_error = HttpResponseError("AuthorizationPermissionMismatch")
    store = length_store.LengthStore(table)  # type: ignore[arg-type]
    seen = Seen(42.0, NOW.timestamp(), "host")
    assert store.add("teamsAsyncOperation", "op", seen) is False  # every attempt refused: said, not raised
    table.create_table_error = None
    assert store.add("teamsAsyncOperation", "op", seen) is True  # made once storage lets it
    assert [row["seconds"] for (p, _), (row, _v) in table.rows.items() if p == length_store.PARTITION] == [42.0]
