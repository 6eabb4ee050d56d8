"""The HTTP API over real HTTP on loopback, through the local runner, with Azurite for queues and tables."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import requests

from graphops import functions
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.runner import Faults

from ..patience import patience
from .conftest import Harness

RUNNING, SUCCEEDED = seed.alert_refresh("running"), seed.alert_refresh("succeeded")
OP = b"/v1.0/users/u/authentication/operations/o"


def subscribe(
    h: Harness, path: str = seed.ALERT_OPERATION_PATH, headers: dict[str, str] | None = None, **extra: Any
) -> requests.Response:
    body = {"operationUrl": h.graph_url(path), "callbackUrl": h.stack.callback_url(), **extra}
    return requests.post(h.api("operations"), json=body, headers=headers, timeout=patience(10))


def test_subscribe_then_callback_and_the_state_shows_the_end(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    answer = subscribe(harness, correlationId="wf-1")
    assert answer.status_code == 202, answer.text
    tracking_id = answer.json()["trackingId"]
    assert answer.headers["Location"] == answer.json()["statusUrl"] == harness.api(f"operations/{tracking_id}")
    harness.run()

    [callback] = harness.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.body["outcome"] == "succeeded" and callback.verified
    state = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (state["phase"], state["outcome"], state["polls"], state["lastStatus"]) == (
        "done",
        "succeeded",
        2,
        "succeeded",
    )
    assert state["operation"] == SUCCEEDED and state["correlationId"] == "wf-1" and state["deliveryAttempts"] == 1


def test_subscribing_twice_gives_one_tracking(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    first, again = subscribe(harness), subscribe(harness)  # Logic Apps retries subscribe calls
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["trackingId"] == again.json()["trackingId"]
    keyed = [subscribe(harness, seed.reset_path("u", "k"), headers={"Idempotency-Key": "run-9"}) for _ in range(2)]
    assert keyed[0].json()["trackingId"] == keyed[1].json()["trackingId"] != first.json()["trackingId"]
    harness.graph.script(seed.reset_path("u", "k"), [Reply(200, seed.password_reset("succeeded"))])
    harness.run()
    assert len(harness.receiver.delivered()) == 2
    assert len(harness.graph.gets(seed.ALERT_OPERATION_PATH)) == 2


def test_cancel_stops_the_tracking_without_a_callback(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    tracking_id = subscribe(harness).json()["trackingId"]
    stop = threading.Event()
    runner = threading.Thread(target=harness.host.serve, args=(stop,))
    runner.start()
    try:
        url = harness.api(f"operations/{tracking_id}")
        deadline = time.monotonic() + patience(20)
        while requests.get(url, timeout=patience(10)).json()["polls"] < 1 and time.monotonic() < deadline:
            time.sleep(0.1)
        polling = requests.get(url, timeout=patience(10)).json()  # status while polling
        assert (polling["phase"], polling["lastStatus"], polling["outcome"]) == ("polling", "running", None)
        assert polling["nextPollAt"] and polling["lastPollAt"] and polling["deadline"]
        cancelled = requests.delete(url, timeout=patience(10))
        assert cancelled.status_code == 200 and cancelled.json()["outcome"] == "cancelled"
        assert requests.delete(url, timeout=patience(10)).status_code == 200  # idempotent
    finally:
        stop.set()
        runner.join()
    harness.run()  # the queued next step finds the cancel mark and ends
    state = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (state["phase"], state["outcome"]) == ("done", "cancelled")
    assert harness.receiver.received == []
    assert requests.delete(harness.api("operations/unknown-id"), timeout=patience(10)).status_code == 404
    assert requests.delete(harness.api("operations?idempotencyKey=never-used"), timeout=patience(10)).status_code == 404


def test_unsubscribe_by_the_idempotency_key_the_subscribe_sent(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    tracking_id = subscribe(harness, headers={"Idempotency-Key": "run-08585"}).json()["trackingId"]
    answer = requests.delete(harness.api("operations?idempotencyKey=run-08585"), timeout=patience(10))
    assert answer.status_code == 200 and answer.json()["trackingId"] == tracking_id
    assert answer.json()["outcome"] == "cancelled"
    harness.run()
    assert harness.receiver.received == [] and len(harness.graph.gets(seed.ALERT_OPERATION_PATH)) == 0
    assert requests.get(harness.api("operations/unknown-id"), timeout=patience(10)).status_code == 404


@pytest.fixture
def refreshing(make_harness: Any) -> Harness:
    """An app that may start alert refreshes (GRAPHOPS_START_ACTIONS names the action)."""
    return make_harness(GRAPHOPS_START_ACTIONS="roleManagementAlertRefresh")  # type: ignore[no-any-return]


def test_start_and_track_an_alert_refresh(refreshing: Harness) -> None:
    harness = refreshing
    started: list[dict[str, Any]] = []

    def refresh(body: dict[str, Any]) -> Reply:
        started.append(body)
        return Reply(202, None, {"Location": harness.graph_url(seed.ALERT_OPERATION_PATH)})

    harness.graph.on_post("/beta/identityGovernance/roleManagementAlerts/alerts/refresh", refresh)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    answer = requests.post(
        harness.api("role-management-alerts/refresh"),
        json={
            "scopeId": "/",
            "scopeType": "DirectoryRole",
            "callbackUrl": harness.stack.callback_url(),
            "correlationId": "x",
        },
        timeout=patience(10),
    )
    assert answer.status_code == 202, answer.text
    assert started == [{"scopeId": "/", "scopeType": "DirectoryRole"}]
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "succeeded" and callback.body["operation"]["resourceLocation"]
    assert callback.webhook_id == answer.json()["trackingId"]
    assert harness.graph.violations == []


@pytest.mark.parametrize(
    ("graph_reply", "status", "text"),
    [
        (
            Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges")),
            403,
            "RoleManagementAlert.ReadWrite.Directory",
        ),
        (Reply(400, seed.graph_error("BadRequest", "scopeType is invalid")), 400, "scopeType is invalid"),
        (Reply(429, seed.graph_error("TooManyRequests", "slow"), {"Retry-After": "7"}), 429, "throttling"),
        (Reply(503, seed.graph_error("ServiceUnavailable", "busy")), 503, "nothing was started"),
        (Reply(500, seed.graph_error("InternalServerError", "oops")), 502, "sends it again"),
        (Reply(202, None, {"Location": "https://evil.example/x"}), 502, "cannot track"),
    ],
)
def test_graphs_refusals_come_back_clearly(refreshing: Harness, graph_reply: Reply, status: int, text: str) -> None:
    harness = refreshing
    harness.graph.on_post("/beta/identityGovernance/roleManagementAlerts/alerts/a1/refresh", lambda body: graph_reply)
    answer = requests.post(
        harness.api("role-management-alerts/refresh"),
        json={
            "scopeId": "/",
            "scopeType": "DirectoryRole",
            "alertId": "a1",
            "callbackUrl": harness.stack.callback_url(),
        },
        timeout=patience(10),
    )
    assert answer.status_code == status and answer.headers["Content-Type"] == "application/problem+json"
    assert text in answer.text
    if status == 429:
        assert answer.headers["Retry-After"] == "7"


def test_the_refresh_route_is_off_unless_its_action_is_enabled(harness: Harness) -> None:
    harness.graph.on_post("/beta/identityGovernance/roleManagementAlerts/alerts/refresh", lambda body: Reply(202))
    answer = requests.post(
        harness.api("role-management-alerts/refresh"),
        json={"scopeId": "/", "scopeType": "DirectoryRole", "callbackUrl": harness.stack.callback_url()},
        timeout=patience(10),
    )
    assert answer.status_code == 403 and "GRAPHOPS_START_ACTIONS" in answer.text
    assert harness.graph.total_calls() == 0


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        (b"not json", {"body"}),
        (b"[1, 2]", {"body"}),
        (b"{}", {"operationUrl", "callbackUrl"}),
        (b'{"operationUrl": "https://graph.microsoft.us' + OP + b'", "callbackUrl": "https://example.com/"}',
         {"operationUrl", "callbackUrl"}),
        (b'{"operationUrl": "' + OP + b'", "callbackUrl": "CB", "timeoutSeconds": "1 day", "extra": 1}',
         {"timeoutSeconds", "extra"}),
        (b'{"operationUrl": "' + OP + b'", "callbackUrl": "CB", "trackingId": "mine"}', {"trackingId"}),
        (b'{"operationUrl": "' + OP + b'", "callbackUrl": "CB", "context": [1], "select": "x"}',
         {"context", "select"}),
    ],
)  # fmt: skip
def test_every_bad_field_is_named_in_a_problem_document(harness: Harness, body: bytes, fields: set[str]) -> None:
    body = body.replace(b'"CB"', f'"{harness.stack.callback_url()}"'.encode())
    answer = requests.post(
        harness.api("operations"), data=body, headers={"Content-Type": "application/json"}, timeout=patience(10)
    )
    assert answer.status_code == 400 and answer.headers["Content-Type"] == "application/problem+json"
    assert {e["field"] for e in answer.json()["errors"]} == fields
    assert harness.host.pending() == 0  # nothing was enqueued


def test_oversized_bodies_and_keys_are_refused(harness: Harness) -> None:
    huge = requests.post(harness.api("operations"), data=b"{" + b" " * 40000 + b"}", timeout=patience(10))
    assert huge.status_code == 413
    long_key = subscribe(harness, headers={"Idempotency-Key": "k" * 201})
    assert long_key.status_code == 400 and long_key.json()["errors"][0]["field"] == "Idempotency-Key"
    private = requests.post(
        harness.api("operations"),
        json={"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": "https://10.1.2.3/cb"},
        timeout=patience(10),
    )
    assert private.status_code == 400 and private.json()["errors"][0]["field"] == "callbackUrl"


class Spending:
    """Table operations spent: ``spent(since)`` is (the state's own, the index's) since an earlier reading;
    ``besides(since)`` the kinds' lengths and the throttling budgets (they are not the state's)."""

    def __init__(self, state: Any) -> None:
        self._state = state

    def _extra(self) -> tuple[int, int]:
        budgets = self._state.throttling.operations if self._state.throttling is not None else 0
        return self._state.lengths.operations, budgets

    def __call__(self, since: tuple[int, int]) -> tuple[int, int]:
        index = self._state.index.operations
        own = self._state.operations - index - sum(self._extra())
        return own - since[0], index - since[1]

    def leases(self) -> int:
        """The throttling budgets' leases taken so far."""
        return self._state.throttling.stats.leases if self._state.throttling is not None else 0

    def besides(self, since: tuple[int, int] = (0, 0)) -> tuple[int, int]:
        lengths, budgets = self._extra()
        return lengths - since[0], budgets - since[1]


def test_each_step_costs_two_table_operations_a_subscribe_three_and_queue_producers_none(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_RECORD_QUEUE_TRACKINGS="false")  # the cheapest path, for the last part
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)] * 3 + [Reply(200, SUCCEEDED)])
    spent = Spending(functions.services().state)
    start = spent((0, 0))
    subscribe(harness)
    # The dedupe claim, the state row, the unsubscribe pointer; the index: the tracking's row, written without a
    # read, and the day registered (once per process and day).
    assert spent(start) == (3, 2)
    repeat = spent((0, 0))
    subscribe(harness)  # Logic Apps' retry
    assert spent(repeat) == (3, 0)  # the claim refused, the claim read, the state read: no write
    before, besides, steps_before = spent((0, 0)), spent.besides(), harness.host.invocations
    leases = spent.leases()
    harness.run()
    steps = harness.host.invocations - steps_before
    # One read, one merge a step (docs/how-it-works.md), and the delivering step's write that owns the state's version;
    # the index only when the tracking finished: its row and its tally in one transaction.
    assert steps == 4 and spent(before) == (2 * steps + 1, 1)
    # This new process's first query of the lengths (once per 10 minutes; the refresh's own length is buffered,
    # written with the process's next flush, no table operation on the step's path), and its identity budget: the
    # first poll writes the worker's row and reads the budget, then claims a lease (a write, a read) that the later
    # polls spend with no table operation; a lease taken after that one ended is a read, a write and a read:
    # docs/performance.md section 4.
    taken = spent.leases() - leases
    assert 1 <= taken < steps and spent.besides(besides) == (1, 4 + 3 * (taken - 1))
    assert functions.services().state.lengths.buffered() == 1

    path = seed.reset_path("u", "queue-only")
    harness.graph.script(
        path, [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))]
    )
    harness.track(path)
    before = spent((0, 0))
    harness.run()
    assert spent(before) == (0, 0)  # with the state off, a tracking put on the queue skips the table and index


def test_a_queue_tracking_costs_two_table_operations_a_step_with_the_state_kept(harness: Harness) -> None:
    path = seed.reset_path("u", "queue-recorded")
    harness.graph.script(
        path, [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))]
    )
    state = functions.services().state
    state.ensure_table()  # a table another test made, or this one: the counts are a step's, not a fresh account's
    spent = Spending(state)
    harness.track(path)
    before, steps_before, leases = spent((0, 0)), harness.host.invocations, spent.leases()
    harness.run()
    steps = harness.host.invocations - steps_before
    # One read and one merge per step, and the delivering step's owning write; the first step creates the table's
    # row with its merge. The index: its row when the tracking is first recorded, its row and tally in one
    # transaction when it finished, and the day registered once.
    assert steps == 2 and spent(before) == (2 * steps + 1, 1 + 1 + 1)
    # The lengths' query (its length is buffered, for the process's next flush); the budget's lease for its polls
    # (the worker's row announcing it and a read of the budget, then the claim and a read).
    assert spent.leases() - leases == 1 and spent.besides() == (1, 4)
    assert state.lengths.buffered() == 1


def test_a_step_run_twice_does_not_fork_the_tracking(make_harness: Any) -> None:
    h: Harness = make_harness(faults=Faults(die_before_delete=0.5, seed=3), lease_seconds=2)
    paths = [seed.reset_path("fork", f"f{i}") for i in range(8)]
    for path in paths:
        h.graph.script(
            path, [Reply(200, seed.password_reset("running"))] * 2 + [Reply(200, seed.password_reset("succeeded"))]
        )
        assert subscribe(h, path).status_code == 202
    h.run(timeout=90)
    assert [len(h.graph.gets(p)) for p in paths] == [3] * 8  # each status read once: no second chain
    assert len(h.receiver.delivered()) == 8  # and one callback each: duplicates were stale


def test_the_daily_clean_up_removes_finished_trackings_past_retention_only(make_harness: Any) -> None:
    import uuid
    from datetime import UTC, datetime, timedelta

    harness = make_harness(GRAPHOPS_STATE_TABLE=f"cleanup{uuid.uuid4().hex[:12]}")  # a table of its own: exact counts

    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    harness.graph.script(seed.reset_path("u", "running"), [Reply(200, seed.password_reset("running"))])
    finished = subscribe(harness).json()["trackingId"]
    running = subscribe(harness, seed.reset_path("u", "running"), timeoutSeconds=600).json()["trackingId"]
    harness.host.poll_once()
    harness.host.drain()
    state = functions.services().state
    assert state.read(finished)["phase"] == "done" and state.read(running)["phase"] == "polling"

    now = datetime.now(UTC)
    state.begin_start("started-long-ago", "teamClone", "c1", now, now + timedelta(hours=1), again=False)
    functions.remove_finished(None)  # type: ignore[arg-type]  # the timer's argument is not used
    assert state.read(finished) is not None  # finished today: kept for GRAPHOPS_STATE_RETENTION_DAYS
    assert state.start_record("started-long-ago") is not None

    removed = state.remove_finished(datetime.now(UTC) + timedelta(days=1))  # as if a day had passed
    assert removed == 1 and state.read(finished) is None
    assert state.start_record("started-long-ago") is None  # a start's record goes once its deadline is past
    assert state.read(running) is not None  # a tracking still polling is never removed
    assert requests.get(harness.api(f"operations/{finished}"), timeout=patience(10)).status_code == 404


def test_a_cancel_that_arrives_during_a_step_is_not_overwritten_by_it(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    tracking_id = subscribe(harness).json()["trackingId"]
    url = harness.api(f"operations/{tracking_id}")
    cancels: list[int] = []

    def cancel_mid_step(point: str) -> None:
        if point == "afterGraph" and not cancels:  # Graph has answered "running"; the step goes on
            cancels.append(requests.delete(url, timeout=patience(10)).status_code)

    functions.tracker().checkpoint = cancel_mid_step
    harness.run()
    assert cancels == [200]
    state = requests.get(url, timeout=patience(10)).json()
    assert (state["phase"], state["outcome"]) == ("done", "cancelled")  # the step's merge did not undo it
    assert harness.receiver.received == [] and len(harness.graph.gets(seed.ALERT_OPERATION_PATH)) == 1


def test_a_tracking_put_on_the_queue_has_a_status_with_its_history(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(429, None, {"Retry-After": "1"}),
                                                     Reply(200, SUCCEEDED)])  # fmt: skip
    tracking_id = harness.track(seed.ALERT_OPERATION_PATH)  # straight on the queue, not subscribed
    harness.run()
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (view["phase"], view["outcome"], view["polls"]) == ("done", "succeeded", 3)
    history = view["history"]
    assert [(h.get("http"), h.get("status")) for h in history[:3]] == [
        (200, "running"),
        (429, None),
        (200, "succeeded"),
    ]
    assert history[0]["next"] >= 1 and history[1]["retryAfter"] == 1 and history[2]["outcome"] == "succeeded"
    assert [(h["sink"], h["attempt"], h["result"]) for h in history[3:]] == [("callback", 1, "delivered (200)")]
    assert all(h["at"] for h in history)


def test_recording_queue_trackings_can_be_turned_off(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_RECORD_QUEUE_TRACKINGS="false")
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    tracking_id = harness.track(seed.ALERT_OPERATION_PATH)
    harness.run()
    assert len(harness.receiver.delivered()) == 1
    assert requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).status_code == 404
