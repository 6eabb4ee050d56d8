"""The tracker end to end: queue message in, Graph polled with a managed-identity token, signed callback out."""

from __future__ import annotations

import json
import logging
from collections import Counter

import pytest

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.runner import Faults

from .conftest import Harness

RUNNING = seed.alert_refresh("running")
SUCCEEDED = seed.alert_refresh("succeeded")


def only_callback(h: Harness) -> dict:
    delivered = h.receiver.delivered()
    assert len(delivered) == 1, [r.body for r in delivered]
    assert delivered[0].verified, "the callback's signature must verify with the shared secret"
    assert delivered[0].authorization is None
    return delivered[0].body


def test_alert_refresh_succeeds_and_the_signed_callback_carries_the_contract(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    tracking_id = harness.track(seed.ALERT_OPERATION_PATH, correlation_id="run-42", context={"ticket": "INC-7"})
    harness.run()

    body = only_callback(harness)
    assert harness.receiver.delivered()[0].webhook_id == tracking_id == body["trackingId"]
    assert body["outcome"] == "succeeded"
    assert body["operation"] == SUCCEEDED  # Graph's body, as Graph sent it
    assert body["operationUrl"] == harness.graph_url(seed.ALERT_OPERATION_PATH)
    assert (body["correlationId"], body["context"], body["polls"], body["error"]) == (
        "run-42",
        {"ticket": "INC-7"},
        3,
        None,
    )
    assert body["trackedSince"] <= body["finishedAt"]
    assert harness.graph.violations == []  # every token was the identity's, for Graph's audience
    assert len(harness.graph.gets(seed.ALERT_OPERATION_PATH)) == 3
    # Logs name the tracking but never the callback's signature, a token, or the signing secret.
    text = caplog.text
    assert tracking_id in text and "sig=local-secret-signature" not in text
    assert harness.stack.secret not in text and "standin-" not in text


def test_password_reset_keeps_the_location_query_and_passes_odd_timestamps_through(harness: Harness) -> None:
    path = seed.reset_path("48d31887-5fad-4d73-a9f5-3c356e68a038")
    query = "?aadgdc=DUB02P&aadgsu=ssprprod-a"
    harness.graph.script(
        path, [Reply(200, seed.password_reset("notStarted")), Reply(200, seed.password_reset("succeeded"))]
    )
    harness.client.track(path + query, harness.stack.callback_url())  # relative, as a path from /v1.0/
    harness.run()

    body = only_callback(harness)
    assert body["outcome"] == "succeeded"
    assert body["operation"]["createdDateTime"] == "2020-03-19T12-01-03.45Z"
    assert body["operationUrl"].endswith(path + query)
    assert [c.query for c in harness.graph.gets(path)] == ["aadgdc=DUB02P&aadgsu=ssprprod-a"] * 2


def test_failed_operation_reports_failed_with_graphs_detail(harness: Harness) -> None:
    failed = {**seed.alert_refresh("failed"), "statusDetail": "Alert scope not found"}
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, failed)])
    harness.track(seed.ALERT_OPERATION_PATH)
    harness.run()
    body = only_callback(harness)
    assert body["outcome"] == "failed"
    assert body["error"] == {"code": "failed", "message": "Alert scope not found"}
    assert body["operation"] == failed


def test_forbidden_names_the_permission_the_kind_needs(harness: Harness) -> None:
    path = seed.reset_path("someone@contoso.com")
    denied = seed.graph_error("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    twin = seed.reset_path("someone@contoso.com", version="beta")
    harness.graph.script(path, [Reply(403, denied)])
    harness.graph.script(twin, [Reply(403, denied)])
    harness.track(path)
    harness.run()
    body = only_callback(harness)
    assert body["outcome"] == "forbidden"
    assert "UserAuthenticationMethod.Read.All" in body["error"]["message"]
    assert body["error"]["code"] == "Authorization_RequestDenied"
    assert len(harness.graph.gets(path)) == 1 and len(harness.graph.gets(twin)) == 1


def test_not_found_is_retried_through_the_grace_period_then_reported(harness: Harness) -> None:
    gone = "/beta/identityGovernance/roleManagementAlerts/operations/refresh:gone"
    harness.track(gone)  # the stand-in has no such operation: 404 every time
    harness.run()
    body = only_callback(harness)
    assert body["outcome"] == "notFound"
    gets = harness.graph.gets(gone)
    # The first 404s were taken for Graph lagging (the grace period itself is timed in tests/unit/test_decide.py).
    assert len(gets) >= 2 and body["polls"] == len(gets) and body["error"]["code"] == "Request_ResourceNotFound"
    assert harness.graph.violations == []


def test_a_404_right_after_the_start_is_graph_lagging_not_an_end(harness: Harness) -> None:
    lagging = seed.reset_path("u1", "lagging-op")
    harness.graph.script(
        lagging, [Reply(404, seed.graph_error("NotFound", "lag")), Reply(200, seed.password_reset("succeeded"))]
    )
    harness.track(lagging)
    harness.run()
    assert only_callback(harness)["outcome"] == "succeeded"


def test_timeout_reports_the_last_operation_seen(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    harness.track(seed.ALERT_OPERATION_PATH, timeout_seconds=3)
    harness.run()
    body = only_callback(harness)
    assert body["outcome"] == "timedOut"
    assert body["operation"] == RUNNING
    assert "last status: running" in body["error"]["message"]


def test_throttling_is_honoured_no_poll_before_retry_after(harness: Harness) -> None:
    throttled = Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "3"})
    unavailable = Reply(503, seed.graph_error("ServiceUnavailable", "busy"), {"Retry-After": "2"})
    harness.graph.script(
        seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), throttled, unavailable, Reply(200, SUCCEEDED)]
    )
    harness.track(seed.ALERT_OPERATION_PATH)
    harness.run()
    assert only_callback(harness)["outcome"] == "succeeded"
    gets = harness.graph.gets(seed.ALERT_OPERATION_PATH)
    assert [c.status for c in gets] == [200, 429, 503, 200]
    assert harness.graph.violations == []  # the stand-in records any call that came before its Retry-After


def test_server_errors_and_evolving_statuses_keep_polling(harness: Harness) -> None:
    future = {**RUNNING, "status": "unknownFutureValue"}
    brand_new = {**RUNNING, "status": "queuedForRetry"}
    harness.graph.script(
        seed.ALERT_OPERATION_PATH,
        [Reply(500), Reply(200, future), Reply(502, "<html>bad gateway</html>"), Reply(200, brand_new),
         Reply(200, {"id": "no status here"}), Reply(200, SUCCEEDED)],
    )  # fmt: skip
    harness.track(seed.ALERT_OPERATION_PATH)
    harness.run()
    body = only_callback(harness)
    assert body["outcome"] == "succeeded"
    assert body["polls"] == 6


def test_other_client_errors_end_with_outcome_error(harness: Harness) -> None:
    harness.graph.script(
        seed.ALERT_OPERATION_PATH, [Reply(400, seed.graph_error("BadRequest", "Invalid operation id"))]
    )
    harness.track(seed.ALERT_OPERATION_PATH)
    harness.run()
    body = only_callback(harness)
    assert body["outcome"] == "error"
    assert body["error"] == {"code": "BadRequest", "message": "Invalid operation id"}


def test_select_is_sent_with_status_always_included(harness: Harness) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    harness.track(seed.ALERT_OPERATION_PATH, select=["resourceLocation"])
    harness.run()
    assert [c.query for c in harness.graph.gets(seed.ALERT_OPERATION_PATH)] == ["$select=status,resourceLocation"]


def test_two_hundred_operations_at_once_each_status_read_exactly_once(harness: Harness) -> None:
    paths = [seed.reset_path(f"user{i}", f"op-{i}") for i in range(200)]
    for i, path in enumerate(paths):
        harness.graph.script(path, [Reply(200, seed.password_reset("running", f"op-{i}")),
                                    Reply(200, seed.password_reset("succeeded", f"op-{i}"))])  # fmt: skip
        harness.track(path, correlation_id=str(i))
    harness.run(timeout=120)

    assert [len(harness.graph.gets(p)) for p in paths] == [2] * 200
    delivered = harness.receiver.delivered()
    assert len(delivered) == 200 and all(r.verified for r in delivered)
    assert sorted(int(r.body["correlationId"]) for r in delivered) == list(range(200))
    assert harness.host.failures == 0


@pytest.mark.parametrize("recorded", [True, False], ids=["state kept (default)", "state off"])
def test_host_dying_after_return_duplicates_share_one_webhook_id(make_harness, recorded: bool) -> None:  # type: ignore[no-untyped-def]
    # Half the time the "host" dies between the function's return and the delete: the message comes back.
    h: Harness = make_harness(faults=Faults(die_before_delete=0.5, seed=7), lease_seconds=2,
                              GRAPHOPS_RECORD_QUEUE_TRACKINGS=str(recorded).lower())  # fmt: skip
    paths = [seed.reset_path("dup", f"dup-{i}") for i in range(10)]
    for path in paths:
        h.graph.script(path, [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))])
    ids = {h.track(path) for path in paths}
    h.run(timeout=90)

    by_id = h.receiver.by_id()
    assert set(by_id) == ids  # every tracking ended, under the id it started with
    assert all({r.body["outcome"] for r in got} == {"succeeded"} for got in by_id.values())
    duplicates = sum(len(got) - 1 for got in by_id.values())
    if recorded:
        assert duplicates == 0  # a step that comes back after it ran is stale: the state names its successor
    else:
        assert duplicates > 0, "the fault should have produced at least one duplicate callback"
    assert Counter(r.body["trackingId"] for r in h.receiver.delivered()) == Counter(
        r.webhook_id for r in h.receiver.delivered()
    )


def test_a_request_that_can_never_succeed_is_dead_lettered_once_and_the_caller_is_told(harness: Harness) -> None:
    bad = {"operationUrl": "https://graph.microsoft.us/v1.0/users/u/authentication/operations/o",
           "callbackUrl": harness.stack.callback_url(), "correlationId": "bad-1"}  # fmt: skip
    message_id = harness.send_raw(json.dumps(bad))
    harness.run()
    assert harness.host.failures == 0  # returned normally: not thrown five times
    [dead] = harness.poison()
    assert dead["trackingId"] == message_id and dead["field"] == "operationUrl"
    assert "configured Graph host" in dead["reason"] and json.loads(dead["original"]) == bad
    body = only_callback(harness)
    assert (body["outcome"], body["trackingId"], body["correlationId"]) == ("rejected", message_id, "bad-1")
    assert harness.graph.total_calls() == 0  # validated before any Graph call


def test_a_message_the_host_cannot_decode_ends_in_the_poison_queue_as_it_was(make_harness) -> None:  # type: ignore[no-untyped-def]
    # The classic mismatch: a producer that does not base64-encode. The host fails to decode it on every
    # attempt and moves it to the poison queue after maxDequeueCount; `graphops poison` shows why.
    from dataclasses import replace

    from graphops.runner import QueueOptions

    from .conftest import ROOT

    h: Harness = make_harness(options=replace(QueueOptions.from_host_json(ROOT / "host.json"), visibility_timeout=0))
    h.send_raw('{"operationUrl": "not base64"}', encode=False)
    h.run()
    assert h.host.failures == 5 and h.host.poisoned == 1
    [entry] = h.poison()
    assert entry["raw"] == '{"operationUrl": "not base64"}' and "not base64" in entry["reason"]
