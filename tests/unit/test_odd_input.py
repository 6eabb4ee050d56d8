"""Odd but legal input must not strand a tracking (each case once stranded one)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from graphops.common.errors import Rejected
from graphops.delivery.deliverer import Deliverer
from graphops.egress.policy import CallbackPolicy, is_public_address
from graphops.egress.retry_after import parse_retry_after
from graphops.graph.answer import GraphAnswer
from graphops.graph.kinds import resolve_operation_url
from graphops.graph.reader import GraphClient
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.local.receiver import CallbackReceiver
from graphops.pacing.schedule import MAX_QUEUE_DELAY
from graphops.step.decide import NOT_FOUND_STREAK_AFTER_SEEN, Finish, PollAgain
from graphops.storage.poison import entry_from, redact_callbacks

from .test_decide import LIMITS, T0, step, tracking
from .test_step import CALLBACK, NOW, StubDeliverer, StubGraph, StubQueue, request, tracker

# -- 12: a host spelled in capitals ----------------------------------------------------------------


class RecordingSession:
    def __init__(self) -> None:
        self.urls: list[str] = []

    def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.urls.append(url)
        response = requests.Response()
        response.status_code, response._content = 200, json.dumps(seed.alert_refresh("running")).encode()
        return response


class StaticToken:
    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken("t", 0)


def test_a_graph_host_in_capitals_is_accepted_once_and_then_polled() -> None:
    ref = resolve_operation_url(
        "HTTPS://Graph.Microsoft.COM" + seed.ALERT_OPERATION_PATH, "https://graph.microsoft.com"
    )
    assert ref.url == "https://graph.microsoft.com" + seed.ALERT_OPERATION_PATH
    session = RecordingSession()
    client = GraphClient(session, StaticToken(), "https://graph.microsoft.com/.default", "https://graph.microsoft.com")  # type: ignore[arg-type]
    assert client.get_operation(ref.url).status_code == 200  # the client's exact host check no longer refuses it
    assert session.urls == [ref.url]


def test_the_query_string_survives_normalisation() -> None:
    raw = "https://GRAPH.microsoft.com/v1.0/users/u/authentication/operations/o?aadgdc=DUB02P&aadgsu=ssprprod-a"
    assert resolve_operation_url(raw, "https://graph.microsoft.com").url == raw.replace("GRAPH", "graph")


# -- 13: tracking ids are ASCII, and delivery never raises ----------------------------------------


@pytest.mark.parametrize("tracking_id", ["tracking-ā", "ünïcode", "١٢٣"])
def test_a_non_ascii_tracking_id_is_refused(tracking_id: str) -> None:
    assert tracking_id[0].isalnum()  # str.isalnum() let these through
    doc = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK, "trackingId": tracking_id}
    with pytest.raises(Rejected, match="trackingId"):
        from_request(doc, "m", NOW, LIMITS)


def test_an_unexpected_failure_while_delivering_is_a_failed_delivery_with_its_reason() -> None:
    with CallbackReceiver(secret=None) as receiver:
        policy = CallbackPolicy((f"127.0.0.1:{receiver.port}",), allow_http=True)
        result = Deliverer(policy, None).deliver(
            f"http://127.0.0.1:{receiver.port}/cb?sig=secret-sig", "idā\u0101", {"outcome": "succeeded"}, NOW
        )
    assert not result.delivered and not result.retryable
    assert result.detail.startswith("unexpected error while delivering: UnicodeEncodeError")
    assert "secret-sig" not in result.detail


def test_a_step_whose_delivery_fails_unexpectedly_dead_letters_instead_of_failing() -> None:
    class Exploding(StubDeliverer):
        def deliver(self, *args: Any) -> Any:
            return Deliverer(CallbackPolicy(("*.logic.azure.com",), resolver=lambda h, p: [1]), None).deliver(*args)  # type: ignore[list-item]

    graph, queue = StubGraph(GraphAnswer(200, seed.alert_refresh("succeeded"))), StubQueue()
    result = tracker(graph, queue, Exploding()).handle(request(), "m")
    assert result.action == "deadLettered" and "unexpected error while delivering" in queue.dead[0]["reason"]


# -- 14: Retry-After with digits that are not ASCII -------------------------------------------------


@pytest.mark.parametrize(
    "raw", ["²", "٣", "１０", "1²", "Sun, 99 Nov 2026 00:00:00 GMT", "Mon, 30 Nov 2026 00:00:00 -0000"]
)
def test_retry_after_never_raises(raw: str) -> None:
    value = parse_retry_after(raw, NOW)
    assert value is None or value >= 0


def test_retry_after_forms_that_are_valid_still_count() -> None:
    assert parse_retry_after("120", NOW) == 120.0
    assert parse_retry_after("Sat, 28 Nov 2026 00:01:00 GMT", NOW) == 60.0
    assert parse_retry_after("Sat, 28 Nov 2026 00:01:00 -0000", NOW) == 60.0  # a naive date is GMT


# -- 15: a Retry-After longer than a queue message may wait ---------------------------------------


def test_a_retry_after_of_days_waits_in_steps_the_queue_accepts_and_asks_graph_only_after_it() -> None:
    eight_days = 8 * 24 * 3600
    throttled = GraphAnswer(429, None, retry_after=eight_days)
    _, decision = step(throttled, t=tracking(timeout=30 * 24 * 3600))
    assert isinstance(decision, PollAgain) and decision.delay <= MAX_QUEUE_DELAY and decision.wait == eight_days

    clock = [NOW]
    graph = StubGraph(throttled, GraphAnswer(200, seed.alert_refresh("succeeded")))
    queue = StubQueue()
    t = tracker(graph, queue, StubDeliverer(), clock=lambda: clock[0])
    t.handle(request(timeoutSeconds=30 * 24 * 3600), "m")
    assert queue.sent[-1][1] <= MAX_QUEUE_DELAY and len(graph.calls) == 1
    clock[0] = NOW + timedelta(seconds=queue.sent[-1][1])  # the queue wakes the step after at most ~7 days
    assert t.handle(queue.sent[-1][0], "m2").detail == "waiting for Retry-After"
    assert len(graph.calls) == 1  # Graph was not asked before its Retry-After
    remaining = queue.sent[-1][1]
    assert 0 < remaining <= eight_days - MAX_QUEUE_DELAY
    clock[0] += timedelta(seconds=remaining)
    assert t.handle(queue.sent[-1][0], "m3").action == "delivered" and len(graph.calls) == 2


# -- 16: a lone 404 once Graph has shown the operation -------------------------------------------


def test_a_lone_404_after_the_operation_was_seen_is_a_glitch() -> None:
    seen, _ = step(GraphAnswer(200, seed.alert_refresh("running")), t=tracking(timeout=86400))
    not_found = GraphAnswer(404, {"error": {"code": "NotFound", "message": "gone?"}})
    hour = 3600.0
    t = seen
    for streak in range(1, NOT_FOUND_STREAK_AFTER_SEEN):
        t, decision = step(not_found, after=hour, t=t)
        assert isinstance(decision, PollAgain), f"404 number {streak} ended it"
    t, decision = step(not_found, after=hour, t=t)
    assert isinstance(decision, Finish) and decision.outcome == "notFound"
    # an answer in between starts the count again
    t, _ = step(not_found, after=hour, t=seen)
    t, _ = step(GraphAnswer(200, seed.alert_refresh("running")), after=hour, t=t)
    assert t.not_found_streak == 0


def test_before_the_operation_is_seen_the_grace_period_still_decides() -> None:
    _, decision = step(GraphAnswer(404, None), after=121)
    assert isinstance(decision, Finish) and decision.outcome == "notFound"


# -- 17: IPv4 wrapped in IPv6, and names re-pointed at the platform --------------------------------


@pytest.mark.parametrize(
    "address",
    ["64:ff9b::a9fe:a9fe", "64:ff9b::7f00:1", "::169.254.169.254", "::a00:1", "::ffff:0:a9fe:a9fe", "::ffff:0:7f00:1",
     "64:ff9b:1::a9fe:a9fe"],
)  # fmt: skip
def test_wrapped_ipv4_addresses_are_unwrapped(address: str) -> None:
    assert not is_public_address(address)


def test_nat64_of_a_public_address_is_public() -> None:
    assert is_public_address("64:ff9b::808:808")


@pytest.mark.parametrize("address", ["169.254.169.254", "168.63.129.16", "127.0.0.1", "10.0.0.7", "64:ff9b::a9fe:a9fe"])
def test_a_listed_dns_name_re_pointed_inward_is_refused(address: str) -> None:
    policy = CallbackPolicy(("partner.example.com",), resolver=lambda host, port: [address])
    with pytest.raises(Rejected, match="non-public address"):
        policy.target("https://partner.example.com/hook")


def test_listed_ip_literals_may_be_private_but_never_link_local_or_the_platform() -> None:
    assert CallbackPolicy(("10.0.0.7",)).target("https://10.0.0.7/hook").address == "10.0.0.7"
    for literal in ("169.254.169.254", "168.63.129.16", "[::ffff:169.254.169.254]"):
        with pytest.raises(Rejected, match="link-local or platform"):
            CallbackPolicy((literal,)).target(f"https://{literal}/hook")


def test_localhost_listed_literally_must_resolve_to_loopback() -> None:
    ok = CallbackPolicy(("localhost",), resolver=lambda host, port: ["127.0.0.1", "::1"])
    assert ok.target("https://localhost/hook").address == "127.0.0.1"
    moved = CallbackPolicy(("localhost",), resolver=lambda host, port: ["10.0.0.7"])
    with pytest.raises(Rejected, match="loopback"):
        moved.target("https://localhost/hook")


# -- 18: dead letters shown without callback keys ---------------------------------------------------


def test_a_dead_letter_is_shown_without_the_callbacks_query() -> None:
    import base64

    from graphops.storage.seal import Seal

    original = json.dumps({"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK + "&sp=x"})
    record = {"deadLetter": 1, "reason": "r", "field": "callbackUrl", "trackingId": "t", "original": original}
    seal = Seal(b"a key the tests seal their dead letters with, 32+")
    entry = entry_from("m", T0, base64.b64encode(json.dumps(seal.sealed(record)).encode()).decode(), seal=seal)
    assert "sig=" not in entry.shown and "sig=" not in json.dumps(entry.to_json())
    assert json.loads(entry.shown)["callbackUrl"] == "https://prod-00.westeurope.logic.azure.com/cb?…"
    assert json.loads(entry.shown)["operationUrl"] == seed.ALERT_OPERATION_PATH  # a relative URL shown as written
    assert entry.original == original  # requeue still sends the real thing
    assert (
        redact_callbacks("not json https://x.logic.azure.com/a?sig=s tail")
        == "not json https://x.logic.azure.com/a?… tail"
    )


def test_dates_in_the_past_are_still_fine() -> None:
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:00 GMT", datetime(2026, 11, 28, tzinfo=UTC)) == 0.0
