from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graphops.common.errors import Rejected
from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import Outcome, Tracking
from graphops.envelope.wire import from_wire, parse_body
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local import seed

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
LIMITS = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
CALLBACK = "https://prod-00.westeurope.logic.azure.com/workflows/x/invoke?sig=abc"
REQUEST = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK}


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
