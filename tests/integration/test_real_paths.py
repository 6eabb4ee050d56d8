"""What the users' real tools do to graphops: Logic Apps' parallel for-each and retried subscribe calls, a
storage write that fails once, a Key Vault reference not resolved yet, a fresh Azurite, the worker's INFO
logging. Each test here once failed (see docs/reliability.md, "found and fixed")."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from azure.core.exceptions import ServiceResponseError
from azure.data.tables import TableClient

from graphops import functions
from graphops.local import seed
from graphops.local.graph import Reply

from ..patience import patience, wait_until
from .conftest import Harness

RUNNING, SUCCEEDED = seed.alert_refresh("running"), seed.alert_refresh("succeeded")
KEY_VAULT_REFERENCE = "@Microsoft.KeyVault(SecretUri=https://x.vault.azure.net/secrets/y/)"


def subscribe(h: Harness, path: str, callback: str, headers: dict[str, str] | None = None, **extra: Any) -> Any:
    body = {"operationUrl": h.graph_url(path), "callbackUrl": callback, **extra}
    return requests.post(h.api("operations"), json=body, headers=headers, timeout=patience(10))


def status(h: Harness, tracking_id: str) -> dict[str, Any]:
    answer = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10))
    assert answer.status_code == 200, answer.text
    doc: dict[str, Any] = answer.json()
    return doc


class FlakyTable:
    """The state table, with chosen writes failing once as a storage timeout would."""

    def __init__(self, table: TableClient, fail_when: Any) -> None:
        self._table = table
        self._fail_when = fail_when
        self.failed: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)

    def update_entity(self, entity: dict[str, Any], **kwargs: Any) -> Any:
        if not self.failed and self._fail_when(entity, kwargs):
            self.failed.append(dict(entity))
            raise ServiceResponseError("the merge timed out")
        return self._table.update_entity(entity, **kwargs)


# -- 7: one failed state write after the next step was queued ---------------------------------------


def test_a_state_write_that_fails_once_after_enqueue_strands_nothing(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)] * 2 + [Reply(200, SUCCEEDED)])
    tracking_id = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url()).json()["trackingId"]
    state = functions.services().state
    flaky = FlakyTable(state._table, lambda entity, kw: entity.get("phase") == "polling" and entity.get("polls") == 1)
    state._table = flaky  # type: ignore[assignment]
    harness.run()
    assert len(flaky.failed) == 1, "the fault was injected where the issue saw it: the merge after the first poll"
    [callback] = harness.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.body["outcome"] == "succeeded" and callback.verified
    view = status(harness, tracking_id)
    assert (view["phase"], view["outcome"], view["polls"], view["nextPollAt"]) == ("done", "succeeded", 3, None)
    assert len(harness.graph.gets(seed.ALERT_OPERATION_PATH)) == 3


def test_a_final_state_write_that_fails_runs_the_step_again_rather_than_stick(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    tracking_id = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url()).json()["trackingId"]
    state = functions.services().state
    flaky = FlakyTable(state._table, lambda entity, kw: entity.get("phase") == "done")
    state._table = flaky  # type: ignore[assignment]
    harness.run()
    assert len(flaky.failed) == 1 and harness.host.failures == 1
    callbacks = harness.receiver.delivered()
    assert {c.webhook_id for c in callbacks} == {tracking_id}  # at least once: a repeat has the same webhook-id
    assert (status(harness, tracking_id)["phase"], status(harness, tracking_id)["outcome"]) == ("done", "succeeded")


# -- 8: Logic Apps' for-each, each subscribe retried once --------------------------------------------


def test_the_recipe_shape_ten_subscribes_from_one_run_each_retried_give_ten_trackings(harness: Harness) -> None:
    # The Logic Apps recipe: no Idempotency-Key; each iteration's listCallbackUrl() differs, and a retry repeats it.
    paths = [seed.reset_path("user", f"reset-{i}") for i in range(10)]
    callbacks = [harness.stack.callback_url(f"/workflows/wf/runs/run-1/actions/Wait/iteration/{i}") for i in range(10)]
    for path in paths:
        harness.graph.script(
            path, [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))]
        )

    def subscribe_twice(i: int) -> tuple[Any, Any]:
        return subscribe(harness, paths[i], callbacks[i]), subscribe(harness, paths[i], callbacks[i])

    with ThreadPoolExecutor(10) as pool:  # Logic Apps runs for-each iterations in parallel
        answers = list(pool.map(subscribe_twice, range(10)))
    firsts = [first.json()["trackingId"] for first, _ in answers]
    assert [(first.status_code, again.status_code) for first, again in answers] == [(202, 200)] * 10
    assert [again.json()["trackingId"] for _, again in answers] == firsts and len(set(firsts)) == 10

    # The unsubscribe of one iteration (its own callback URL) cancels that iteration's tracking only.
    cancelled = requests.delete(harness.api("operations"), json={"callbackUrl": callbacks[3]}, timeout=patience(10))
    assert cancelled.status_code == 200 and cancelled.json()["trackingId"] == firsts[3]
    harness.run()
    delivered = {c.webhook_id: c.path for c in harness.receiver.delivered()}
    assert set(delivered) == set(firsts) - {firsts[3]}
    assert all(delivered[firsts[i]].endswith(f"/iteration/{i}") for i in range(10) if i != 3)


def test_an_idempotency_key_sent_with_another_request_is_refused(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    key = {"Idempotency-Key": "08585-run"}
    first = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url("/a"), key)
    same = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url("/a"), key)
    other = subscribe(harness, seed.reset_path("u", "o"), harness.stack.callback_url("/b"), key)
    assert (first.status_code, same.status_code, same.json()["trackingId"]) == (202, 200, first.json()["trackingId"])
    assert other.status_code == 422 and other.headers["Content-Type"] == "application/problem+json"
    assert [e["field"] for e in other.json()["errors"]] == ["Idempotency-Key"]


# -- 9: a retry between the claim and the state row ---------------------------------------------------


def test_a_retry_that_finds_the_key_claimed_but_no_state_completes_the_same_tracking(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    callback = harness.stack.callback_url()
    body = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": callback}
    from graphops.api import request_fingerprint

    state, now = functions.services().state, datetime.now(UTC)
    # The first call claimed the key, then died before it queued anything.
    state.claim("idem:k-9", "first-call-tracking", now + timedelta(hours=1), now, request_fingerprint(body))
    retry = requests.post(
        harness.api("operations"), json=body, headers={"Idempotency-Key": "k-9"}, timeout=patience(10)
    )
    assert retry.status_code == 202 and retry.json()["trackingId"] == "first-call-tracking"
    harness.run()
    assert [c.webhook_id for c in harness.receiver.delivered()] == ["first-call-tracking"]


def test_concurrent_subscribes_with_one_key_make_one_tracking(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    body = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": harness.stack.callback_url()}
    start = threading.Barrier(8)

    def call(_: int) -> str:
        start.wait()
        answer = requests.post(
            harness.api("operations"), json=body, headers={"Idempotency-Key": "same"}, timeout=patience(10)
        )
        assert answer.status_code in {200, 202}, answer.text
        return str(answer.json()["trackingId"])

    with ThreadPoolExecutor(8) as pool:
        ids = set(pool.map(call, range(8)))
    harness.run()
    assert len(ids) == 1 and {c.webhook_id for c in harness.receiver.delivered()} == ids


# -- 10: a cancel racing a delivery; cleared fields ----------------------------------------------------


def test_a_cancel_racing_a_delivery_does_not_overwrite_the_delivered_outcome(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    tracking_id = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url()).json()["trackingId"]
    state = functions.services().state
    real_update = state._table.update_entity
    raced: list[str] = []

    def update_after_the_step(entity: dict[str, Any], **kwargs: Any) -> Any:
        if entity.get("cancelled") and not raced:
            raced.append("step ran between the cancel's read and its write")
            harness.run()  # the delivery lands and is recorded in between
        return real_update(entity, **kwargs)

    state._table.update_entity = update_after_the_step  # type: ignore[method-assign]
    answer = requests.delete(harness.api(f"operations/{tracking_id}"), timeout=patience(10))
    assert raced and answer.status_code == 200
    assert (answer.json()["phase"], answer.json()["outcome"]) == ("done", "succeeded")
    assert status(harness, tracking_id)["outcome"] == "succeeded"
    assert len(harness.receiver.delivered()) == 1


def test_a_dead_lettered_delivery_requeued_and_delivered_shows_no_old_error(harness: Harness) -> None:

    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    harness.receiver.answer("/gone", 410)
    tracking_id = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url("/gone")).json()[
        "trackingId"
    ]
    harness.run()
    assert status(harness, tracking_id)["lastDeliveryError"].startswith("dead-lettered: callback answered 410")
    assert len(harness.requeue().moved) == 1
    harness.run()  # the receiver is back (answers 200 now)
    view = status(harness, tracking_id)
    assert (view["phase"], view["lastDeliveryError"], view["nextPollAt"]) == ("done", None, None)
    assert len(harness.graph.gets(seed.ALERT_OPERATION_PATH)) == 1  # delivered again, Graph not asked again


# -- 11: a retried start does not start twice -----------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, {"Idempotency-Key": "start-1"}], ids=["no key", "with key"])
def test_a_retried_alert_refresh_start_asks_graph_once(make_harness: Any, headers: dict[str, str]) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="roleManagementAlertRefresh")
    started: list[dict[str, Any]] = []

    def refresh(body: dict[str, Any]) -> Reply:
        started.append(body)
        return Reply(202, None, {"Location": harness.graph_url(seed.ALERT_OPERATION_PATH)})

    harness.graph.on_post("/beta/identityGovernance/roleManagementAlerts/alerts/refresh", refresh)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    body = {"scopeId": "/", "scopeType": "DirectoryRole", "callbackUrl": harness.stack.callback_url()}
    first = requests.post(
        harness.api("role-management-alerts/refresh"), json=body, headers=headers, timeout=patience(10)
    )
    again = requests.post(
        harness.api("role-management-alerts/refresh"), json=body, headers=headers, timeout=patience(10)
    )
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["trackingId"] == again.json()["trackingId"] and len(started) == 1


# -- 6: a Key Vault reference not resolved yet ----------------------------------------------------------


def serve(h: Harness, done: Callable[[], bool], what: str) -> None:
    """Run the app's queue trigger until ``done()``; the steps wait on the queue, so it never goes idle."""

    def served() -> bool:
        h.host.poll_once()
        h.host.drain()
        return done()

    wait_until(served, 60, what)


def logged(caplog: pytest.LogCaptureFixture, name: str) -> list[dict[str, Any]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "graphops"]
    return [line for line in lines if line["event"] == name]


def held(caplog: pytest.LogCaptureFixture, tracking_id: str) -> int:
    return sum(line["trackingId"] == tracking_id for line in logged(caplog, "held"))


def test_an_unresolved_envelope_key_holds_every_step_on_the_queue_until_a_process_can_read_it(
    make_harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    key = secrets.token_urlsafe(32)  # the secret in Key Vault, as the platform puts it in place of the reference
    before = make_harness(GRAPHOPS_ENVELOPE_KEY=key)  # a process with the key: polls once, queues a sealed step
    before.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    sealed = before.track(seed.ALERT_OPERATION_PATH)
    serve(before, lambda: len(before.graph.gets(seed.ALERT_OPERATION_PATH)) == 1, "the first poll")
    before.host.close()

    with caplog.at_level(logging.INFO, logger="graphops"):
        unresolved = make_harness(GRAPHOPS_ENVELOPE_KEY=KEY_VAULT_REFERENCE)  # restarted without it
        reset_path = seed.reset_path("adele@contoso.com")
        unresolved.graph.script(reset_path, [Reply(200, seed.password_reset("succeeded"))])
        produced = unresolved.track(reset_path)  # a producer's request, tracked under this message's id
        answer = subscribe(unresolved, seed.ALERT_OPERATION_PATH, unresolved.stack.callback_url())
        # Each message comes back and is held again: the wait goes on without a failure the host would count.
        serve(unresolved, lambda: held(caplog, sealed) >= 3 and held(caplog, produced) >= 3, "three holds each")
    assert (answer.status_code, answer.headers["Retry-After"]) == (503, "2")  # GRAPHOPS_MAX_DELAY_SECONDS
    assert [e["field"] for e in answer.json()["errors"]] == ["GRAPHOPS_ENVELOPE_KEY"]
    [announced] = logged(caplog, "settingUnresolved")  # one line for the process, however many steps wait
    assert announced["setting"] == "GRAPHOPS_ENVELOPE_KEY"
    assert "configreferences/appsettings/refresh" in announced["fix"]
    assert KEY_VAULT_REFERENCE not in caplog.text
    assert (unresolved.host.failures, unresolved.host.poisoned, unresolved.poison()) == (0, 0, [])
    assert len(unresolved.graph.gets(seed.ALERT_OPERATION_PATH)) == 1 and unresolved.graph.gets(reset_path) == []
    assert unresolved.receiver.received == []
    unresolved.host.close()

    resolved = make_harness(GRAPHOPS_ENVELOPE_KEY=key)  # the reference resolved; the app restarted with the key
    resolved.run(timeout=90)
    assert resolved.outcomes() == {sealed: "succeeded", produced: "succeeded"}  # each under its own tracking id
    assert all(callback.verified for callback in resolved.receiver.delivered())
    assert status(resolved, produced)["phase"] == "done" and resolved.poison() == []


def test_an_unresolved_callback_secret_holds_deliveries_uncounted_until_a_process_can_read_it(
    make_harness: Any, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="graphops"):
        # One delivery attempt allowed: a hold that counted as one would dead-letter the callback at once.
        first = make_harness(GRAPHOPS_CALLBACK_SECRET=KEY_VAULT_REFERENCE, GRAPHOPS_MAX_DELIVERY_ATTEMPTS="1")
        first.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
        answer = subscribe(first, seed.ALERT_OPERATION_PATH, first.stack.callback_url())
        assert answer.status_code == 202  # the HTTP API loaded, and needs no callback secret
        tracking_id = answer.json()["trackingId"]

        def delivered_three_times() -> bool:
            return sum(line["trackingId"] == tracking_id for line in logged(caplog, "deliver")) >= 3

        serve(first, delivered_three_times, "three deliveries held")
    view = status(first, tracking_id)
    assert (view["phase"], view["deliveryAttempts"]) == ("delivering", 0)
    assert "waiting for GRAPHOPS_CALLBACK_SECRET" in view["lastDeliveryError"]
    [announced] = logged(caplog, "settingUnresolved")
    assert announced["setting"] == "GRAPHOPS_CALLBACK_SECRET" and "az rest --method post" in announced["fix"]
    assert (first.receiver.received, first.poison(), first.host.failures) == ([], [], 0)  # never unsigned, none lost
    assert len(first.graph.gets(seed.ALERT_OPERATION_PATH)) == 1  # Graph is not asked again while it waits
    first.host.close()

    resolved = make_harness(GRAPHOPS_MAX_DELIVERY_ATTEMPTS="1")  # the platform resolved the reference; restarted
    resolved.run(timeout=90)
    [callback] = resolved.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.verified
    assert status(resolved, tracking_id)["phase"] == "done"


# -- 19: the worker logs at INFO ----------------------------------------------------------------------


def test_at_info_the_sdk_logs_no_line_per_storage_request(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.INFO)  # as the Functions Python worker sets it
    try:
        with caplog.at_level(logging.INFO):
            subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url())
            harness.run()
    finally:
        root.setLevel(level)
    sdk = [r for r in caplog.records if r.name.startswith("azure") and r.levelno < logging.WARNING]
    assert sdk == [], f"{len(sdk)} SDK lines, e.g. {sdk[0].name}: {sdk[0].getMessage()[:80]}" if sdk else ""
    events = [json.loads(r.getMessage())["event"] for r in caplog.records if r.name == "graphops"]
    assert events.count("poll") == 2 and "deliver" in events  # graphops' own step events stay


# -- 20: a fresh storage account ---------------------------------------------------------------------------


def test_a_fresh_account_gets_its_queue_and_table_on_first_use(harness: Harness) -> None:
    harness.queue(harness.stack.queue_name).delete_queue()
    harness.queue(f"{harness.stack.queue_name}-poison").delete_queue()
    table = TableClient.from_connection_string(harness.env["AzureWebJobsStorage"], "graphopsstate")
    table.delete_table()
    functions.reset()  # a new process: nothing created yet
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])

    functions.remove_finished(None)  # type: ignore[arg-type]  # the daily timer on a fresh account
    answer = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url())
    assert answer.status_code == 202, answer.text
    harness.run()
    assert [c.body["outcome"] for c in harness.receiver.delivered()] == ["succeeded"]
    assert status(harness, answer.json()["trackingId"])["phase"] == "done"


# -- 18: dead letters expire with the retention period -----------------------------------------------------


def test_dead_letters_expire_with_the_retention_period(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_RETENTION_DAYS="3")
    h.send_raw(json.dumps({"operationUrl": "/v1.0/groups/g", "callbackUrl": h.stack.callback_url()}))
    h.run()
    [message] = h.queue(f"{h.stack.queue_name}-poison").peek_messages()
    assert message.expires_on is not None and message.inserted_on is not None
    assert message.expires_on - message.inserted_on == timedelta(days=3)


def test_a_cancel_during_the_callbacks_post_does_not_hide_that_it_was_delivered(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    tracking_id = subscribe(harness, seed.ALERT_OPERATION_PATH, harness.stack.callback_url()).json()["trackingId"]
    cancels: list[int] = []

    def cancel_after_the_post(point: str) -> None:
        if point == "afterDeliver" and not cancels:  # the receiver has the callback; the state is not written yet
            cancels.append(requests.delete(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).status_code)

    functions.tracker().checkpoint = cancel_after_the_post
    harness.run()
    assert cancels == [200] and len(harness.receiver.delivered()) == 1
    view = status(harness, tracking_id)
    assert (view["phase"], view["outcome"], view["deliveryAttempts"]) == ("done", "succeeded", 1)
