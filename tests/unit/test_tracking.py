from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphops.common.errors import Rejected
from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import (
    MAX_OPERATION_BYTES,
    Delivery,
    DeliveryState,
    ErrorInfo,
    Outcome,
    Phase,
    Tracking,
    callback_document,
    checked_tracking_id,
    moment_or_none,
    next_step,
)
from graphops.envelope.wire import from_wire, parse_body
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local import seed

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LIMITS = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
CALLBACK = "https://prod-00.westeurope.logic.azure.com/workflows/x/invoke?sig=abc"
REQUEST = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK}
NOT_STEP_IDS = "damaged envelope (ValueError: recordedStepIds: a list of step ids)"
NO_URL = "missing; only a tracking that finished when it started has none"


def test_a_request_becomes_a_tracking_with_the_documented_defaults() -> None:
    t = from_request(dict(REQUEST), "msg-1", NOW, LIMITS)
    assert t.tracking_id == "msg-1" and t.polls == 0 and t.phase == "polling"
    assert (t.deadline - t.tracked_since).total_seconds() == 86400
    assert t.operation_url == "https://graph.microsoft.com" + seed.ALERT_OPERATION_PATH


def test_the_envelope_round_trips_through_the_wire_format() -> None:
    t = from_request({**REQUEST, "correlationId": "c", "context": {"a": [1, 2]}, "select": ["id"]}, "m", NOW, LIMITS)
    t = t.seen("running", seed.alert_refresh("running"), None).finish(Outcome.TIMED_OUT, None, NOW)
    again = from_wire(json.loads(t.to_wire()), LIMITS)
    assert again == t
    assert json.loads(t.to_wire())["v"] == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"operationUrl": None}, "operationUrl"),
        ({"callbackUrl": "https://example.com/cb"}, "callbackUrl"),
        ({"correlationId": 7}, "correlationId"),
        ({"correlationId": "x" * 300}, "correlationId"),
        ({"context": [1]}, "context"),
        ({"context": {"blob": "x" * 20000}}, "context"),
        ({"timeoutSeconds": 0}, "timeoutSeconds"),
        ({"timeoutSeconds": True}, "timeoutSeconds"),
        ({"timeoutSeconds": "60"}, "timeoutSeconds"),
        ({"timeoutSeconds": 10**9}, "timeoutSeconds"),
        ({"select": "status"}, "select"),
        ({"callbackURL": CALLBACK}, "callbackURL"),
        ({"trackingId": "../../x"}, "trackingId"),
        ({"context": {"big": "y" * 15000}, "correlationId": "z" * 200, "select": ["a"] * 30, "pad": 1}, "pad"),
    ],
)
def test_each_bad_field_is_named(change: dict, field: str) -> None:
    with pytest.raises(Rejected) as raised:
        from_request({**REQUEST, **change}, "m", NOW, LIMITS)
    assert raised.value.field == field


@pytest.mark.parametrize("body", [b"", b"\xff\xfe", b"[1,2]", b"not json", b'"text"', b"{" * 5000, b"x" * 70000])
def test_unreadable_messages_are_rejected_as_message(body: bytes) -> None:
    with pytest.raises(Rejected) as raised:
        parse_body(body)
    assert raised.value.field == "message"


@given(st.binary(max_size=2048))
def test_any_bytes_give_a_tracking_or_a_rejection(body: bytes) -> None:
    try:
        doc = parse_body(body)
        if "v" in doc:
            from_wire(doc, LIMITS)
        else:
            from_request(doc, "m", NOW, LIMITS)
    except Rejected as exc:
        assert exc.field and exc.problem


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.dictionaries(
        st.sampled_from(
            sorted(
                {
                    *REQUEST,
                    "v",
                    "kind",
                    "phase",
                    "polls",
                    "deadline",
                    "trackedSince",
                    "trackingId",
                    "outcome",
                    "finishedAt",
                }
            )
        ),
        st.none() | st.integers() | st.text(max_size=40) | st.lists(st.integers(), max_size=3),
    )
)
def test_any_envelope_gives_a_tracking_or_a_rejection(doc: dict) -> None:  # fmt: skip
    try:
        result = from_wire({"v": 1, **doc}, LIMITS)
        assert isinstance(result, Tracking)
    except Rejected as exc:
        assert exc.field


def test_a_huge_operation_body_is_cut_down_so_the_envelope_still_fits() -> None:
    body = {**seed.alert_refresh("running"), "blob": "x" * 50000}
    t = from_request(dict(REQUEST), "m", NOW, LIMITS).seen("running", body, None)
    assert t.operation["@graphops.truncated"] is True and t.operation["status"] == "running"
    assert len(t.to_wire()) < 48 * 1024


TRACE = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
SPAN = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"


def everything_set() -> Tracking:
    """A tracking with every field the wire carries set to something other than its default."""
    t = from_request({**REQUEST, "correlationId": "c-1", "context": {"a": [1]}, "select": ["id"]}, "m-1", NOW, LIMITS)
    return replace(
        t,
        wait_for_resource=True,
        resource_ready=False,
        phase=Phase.DELIVERING,
        polls=3,
        last_status="running",
        operation={"id": "op", "status": "running"},
        last_error=ErrorInfo("http503", "later"),
        outcome=Outcome.FAILED,
        error=ErrorInfo("failed", "it broke"),
        finished_at=NOW + timedelta(seconds=90),
        notify=("callback", "events"),
        deliveries={"callback": Delivery(2, DeliveryState.DELIVERED, None), "events": Delivery(1, error="503")},
        not_found_streak=2,
        not_before=NOW + timedelta(days=8),
        stateful=True,
        step=4,
        step_id="5e1f",
        recorded_step_ids=("s1", "s2"),
        traceparent=TRACE,
        step_span=SPAN,
        due_at=NOW + timedelta(seconds=95),
        tenant_id=TENANT,
        waits_past=frozenset({"succeeded"}),
    )


TENANT = "0f4e2c1a-3b5d-4e6f-8a9b-1c2d3e4f5a6b"  # a customer tenant's id


def test_an_envelope_whose_tenant_is_not_a_lower_case_tenant_id_is_refused() -> None:
    doc = json.loads(everything_set().to_wire())
    for tenant in (TENANT.upper(), "contoso", 7):
        with pytest.raises(Rejected) as raised:
            from_wire({**doc, "tenantId": tenant}, LIMITS)
        assert "tenantId" in raised.value.problem


def test_the_wire_format_field_by_field() -> None:
    t = everything_set()
    doc = json.loads(t.to_wire())
    assert doc == {
        "v": 1,
        "trackingId": "m-1",
        "kind": "roleManagementAlertRefresh",
        "operationUrl": "https://graph.microsoft.com" + seed.ALERT_OPERATION_PATH,
        "callbackUrl": CALLBACK,
        "correlationId": "c-1",
        "context": {"a": [1]},
        "select": ["id"],
        "waitForResource": True,
        "resourceReady": False,
        "trackedSince": "2026-11-28T12:00:00.000Z",
        "deadline": "2026-11-29T12:00:00.000Z",
        "phase": "delivering",
        "polls": 3,
        "lastStatus": "running",
        "operation": {"id": "op", "status": "running"},
        "lastError": {"code": "http503", "message": "later"},
        "outcome": "failed",
        "error": {"code": "failed", "message": "it broke"},
        "finishedAt": "2026-11-28T12:01:30.000Z",
        "notify": ["callback", "events"],
        "deliveries": {
            "callback": {"state": "delivered", "attempts": 2, "error": None},
            "events": {"state": "pending", "attempts": 1, "error": "503"},
        },
        "notFoundStreak": 2,
        "notBefore": "2026-12-06T12:00:00.000Z",
        "stateful": True,
        "step": 4,
        "stepId": "5e1f",
        "recordedStepIds": ["s1", "s2"],
        "traceparent": TRACE,
        "stepSpan": SPAN,
        "dueAt": "2026-11-28T12:01:35.000Z",
        "tenantId": TENANT,
        "waitsPast": ["succeeded"],
    }
    assert t.to_wire() == json.dumps(doc, separators=(",", ":"))
    assert from_wire(doc, LIMITS) == t


def test_an_envelope_of_an_earlier_version_reads_with_the_defaults() -> None:
    full = json.loads(everything_set().to_wire())
    keep = ("v", "trackingId", "kind", "operationUrl", "callbackUrl", "trackedSince", "deadline", "phase", "polls")
    old = {name: full[name] for name in keep}
    t = from_wire({**old, "deliveryAttempts": 3, "lastDeliveryError": "boom", "previousStepId": "p1"}, LIMITS)
    assert (t.wait_for_resource, t.resource_ready, t.notify, t.stateful, t.step) == (
        False,
        None,
        ("callback",),
        False,
        0,
    )
    assert (t.not_found_streak, t.not_before, t.finished_at, t.outcome, t.error, t.last_error) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )
    assert (t.traceparent, t.step_span, t.due_at, t.select, t.correlation_id) == (None, None, None, (), None)
    assert t.waits_past == frozenset()
    assert t.deliveries == {"callback": Delivery(3, error="boom")}
    assert t.recorded_step_ids == ("p1",) and re.fullmatch(r"[0-9a-f]{16}", t.step_id)
    bare = from_wire(old, LIMITS)
    assert bare.deliveries == {"callback": Delivery(0)} and bare.recorded_step_ids == ()
    assert from_wire({**old, "resourceReady": "yes", "traceparent": "00-bad"}, LIMITS).resource_ready is None
    assert from_wire({**old, "lastError": {"code": "c"}, "error": "text"}, LIMITS).last_error == ErrorInfo("c", "")
    assert from_wire({**old, "lastError": {"message": "m"}}, LIMITS).last_error == ErrorInfo("", "m")


def test_a_tracking_that_finished_when_it_started_has_no_operation_url() -> None:
    doc = {**json.loads(everything_set().to_wire()), "operationUrl": None}
    assert from_wire(doc, LIMITS).operation_url is None
    assert from_wire({**doc, "phase": "done"}, LIMITS).operation_url is None


@pytest.mark.parametrize(
    ("change", "field", "problem"),
    [
        ({"v": 2}, "v", "unsupported envelope version 2; this graphops reads 1"),
        ({"operationUrl": None, "phase": "polling"}, "operationUrl", NO_URL),
        ({"operationUrl": None, "outcome": None}, "operationUrl", NO_URL),
        ({"operationUrl": None, "kind": "nothing"}, "operationUrl", NO_URL),
        ({"kind": "teamsAsyncOperation"}, "kind", "'teamsAsyncOperation' does not match the operation URL"),
        ({"trackedSince": "2026-11-28T12:00:00"}, "message",
         "damaged envelope (ValueError: time without zone: '2026-11-28T12:00:00')"),
        ({"recordedStepIds": ["s"] * 33}, "message", NOT_STEP_IDS),
        ({"recordedStepIds": "s1"}, "message", NOT_STEP_IDS),
        ({"recordedStepIds": [1]}, "message", NOT_STEP_IDS),
        ({"notify": ["callback", "fax"]}, "message", "damaged envelope (ValueError: notify: ('callback', 'fax'))"),
        ({"callbackUrl": None}, "message",
         "damaged envelope (ValueError: notify names callback, but there is no callbackUrl)"),
        ({"deliveries": {"callback": 3}}, "message", "damaged envelope (ValueError: not a delivery: 3)"),
    ],
)  # fmt: skip
def test_a_damaged_envelope_says_what_is_wrong(change: dict[str, object], field: str, problem: str) -> None:
    with pytest.raises(Rejected) as raised:
        from_wire({**json.loads(everything_set().to_wire()), **change}, LIMITS)
    assert (raised.value.field, raised.value.problem) == (field, problem)


def test_recorded_step_ids_up_to_the_limit_are_read() -> None:
    doc = {**json.loads(everything_set().to_wire()), "recordedStepIds": ["s"] * 32}
    assert from_wire(doc, LIMITS).recorded_step_ids == ("s",) * 32


def test_a_message_body_word_for_word() -> None:
    filler = b'{"a":"' + b"x" * (64 * 1024 - 8) + b'"}'
    assert len(filler) == 64 * 1024 and parse_body(filler) == {"a": "x" * (64 * 1024 - 8)}
    assert parse_body('{"é":1}'.encode()) == {"é": 1} and parse_body('{"a":1}') == {"a": 1}
    for body, problem in [
        (filler + b" ", "larger than a queue message can be (64 KiB)"),
        (b"\xff", "not UTF-8 text"),
        (b"{", "not valid JSON"),
        ("[", "not valid JSON"),
        (b"[]", "must be a JSON object"),
    ]:
        with pytest.raises(Rejected) as raised:
            parse_body(body)
        assert (raised.value.field, raised.value.problem) == ("message", problem)


def test_the_callback_body_field_by_field() -> None:
    t = replace(everything_set(), operation={"id": "op", "status": "failed", "resourceLocation": "https://r/1"})
    assert t.callback_body() == {
        "trackingId": "m-1",
        "outcome": "failed",
        "kind": "roleManagementAlertRefresh",
        "operationUrl": "https://graph.microsoft.com" + seed.ALERT_OPERATION_PATH,
        "resource": "https://r/1",
        "progress": None,
        "details": None,
        "resourceReady": False,
        "operation": {"id": "op", "status": "failed", "resourceLocation": "https://r/1"},
        "error": {"code": "failed", "message": "it broke"},
        "correlationId": "c-1",
        "context": {"a": [1]},
        "tenantId": TENANT,
        "polls": 3,
        "trackedSince": "2026-11-28T12:00:00.000Z",
        "finishedAt": "2026-11-28T12:01:30.000Z",
    }
    assert replace(t, error=None).callback_body()["error"] is None
    with pytest.raises(AssertionError):
        callback_document(trackingId="m-1", somethingElse=1)


def test_a_poll_finishing_and_the_next_step() -> None:
    t = from_request(dict(REQUEST), "m-1", NOW, LIMITS)
    once = t.seen("running", {"status": "running"}, None, not_found=True)
    assert once.not_found_streak == 1 and once.seen("running", {"status": "running"}, None).not_found_streak == 0
    blind = once.seen(None, {"error": "x"}, ErrorInfo("http500", "x"))
    assert (blind.operation, blind.last_status, blind.polls) == ({"status": "running"}, "running", 2)
    done = once.finish(Outcome.FAILED, ErrorInfo("failed", "no"), NOW)
    assert (done.phase, done.outcome, done.error, done.finished_at) == (
        Phase.DELIVERING,
        Outcome.FAILED,
        ErrorInfo("failed", "no"),
        NOW,
    )
    assert next_step(replace(t, step=4)).step == 5
    assert Delivery.from_json({}) == Delivery(0, DeliveryState.PENDING, None)
    with pytest.raises(Rejected) as rejected:
        checked_tracking_id("a b")
    assert rejected.value.problem == "must be 1-64 ASCII letters, digits, '-' or '_'"


def test_an_operation_body_is_kept_whole_up_to_its_limit_then_cut_to_what_matters() -> None:
    t = from_request(dict(REQUEST), "m-1", NOW, LIMITS)
    filler = "x" * (MAX_OPERATION_BYTES - len(json.dumps({"status": "running", "pad": ""})))
    whole = {"status": "running", "pad": filler}
    assert len(json.dumps(whole).encode()) == MAX_OPERATION_BYTES
    assert t.seen("running", whole, None).operation == whole
    big = {"id": "1", "status": "running", "resourceLocation": "r", "statusDetail": "d", "pad": filler + "x"}
    assert t.seen("running", big, None).operation == {
        "id": "1",
        "status": "running",
        "resourceLocation": "r",
        "statusDetail": "d",
        "@graphops.truncated": True,
    }


def test_times_on_the_wire_and_in_documents() -> None:
    assert moment_or_none("2026-11-28T12:00:00") == NOW
    assert moment_or_none("2026-11-28T14:00:00+02:00") == NOW
    kept = moment_or_none("2026-11-28T14:00:00+02:00")
    assert kept is not None and kept.utcoffset() == timedelta(hours=2)
    t = replace(from_request(dict(REQUEST), "m-1", NOW, LIMITS), context={"name": "café"})
    assert '"café"' in t.to_wire()
