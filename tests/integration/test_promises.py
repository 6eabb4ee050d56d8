"""The README's promises about one tracking, read off the wire and the logs: the callback's headers, what
Graph is sent, and the JSON line each step writes."""

from __future__ import annotations

import json
import logging
import re
import uuid
from typing import Any

import pytest

from graphops.local import seed
from graphops.local.graph import Reply

from .conftest import Harness

RUNNING, SUCCEEDED = seed.alert_refresh("running"), seed.alert_refresh("succeeded")


def events(caplog: pytest.LogCaptureFixture, tracking_id: str) -> list[dict[str, Any]]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "graphops"]
    return [e for e in lines if e.get("trackingId") == tracking_id]


def test_one_trackings_wire_and_log_lines_keep_the_documented_shape(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    with caplog.at_level(logging.INFO, logger="graphops"):
        tracking_id = harness.track(seed.ALERT_OPERATION_PATH, correlation_id="c-1")
        harness.run()

    # The callback: the documented headers, signed, JSON.
    [callback] = harness.receiver.delivered()
    headers = callback.headers
    assert headers["content-type"] == "application/json"
    assert headers["webhook-id"] == tracking_id and headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v1,") and callback.verified
    assert callback.authorization is None

    # Graph: every poll carried a client-request-id of our own (a GUID), each one different.
    calls = harness.graph.gets(seed.ALERT_OPERATION_PATH)
    sent = [c.client_request_id for c in calls]
    assert len(sent) == 2 and all(s and uuid.UUID(s) for s in sent) and len(set(sent)) == 2
    assert {c.priority for c in calls} == {"low"}  # polls give way to interactive traffic under throttling

    # The log: one JSON line per step with the documented fields.
    polls = [e for e in events(caplog, tracking_id) if e["event"] == "poll"]
    assert [(p["httpStatus"], p["status"], p["polls"]) for p in polls] == [(200, "running", 1), (200, "succeeded", 2)]
    assert [p["clientRequestId"] for p in polls] == sent  # the id Graph received is the one logged
    assert all(p["kind"] == "roleManagementAlertRefresh" and p["graphRequestId"] for p in polls)
    assert polls[0]["nextPollSeconds"] == 1 and "nextPollSeconds" not in polls[1]
    [deliver] = [e for e in events(caplog, tracking_id) if e["event"] == "deliver"]
    assert deliver["outcome"] == "succeeded" and deliver["attempt"] == 1 and deliver["result"] == "delivered (200)"
    assert deliver["callback"] == f"http://127.0.0.1:{harness.receiver.port}/callback?…"  # host and path only


def test_a_dead_letter_logs_its_reason(harness: Harness, caplog: pytest.LogCaptureFixture) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, SUCCEEDED)])
    harness.receiver.answer("/gone", 410)
    with caplog.at_level(logging.INFO, logger="graphops"):
        tracking_id = harness.track(seed.ALERT_OPERATION_PATH, callback_url=harness.stack.callback_url("/gone"))
        harness.run()
    [dead] = [e for e in events(caplog, tracking_id) if e["event"] == "deadLetter"]
    assert dead["reason"] == "callback not delivered: callback answered 410"
    assert re.fullmatch(r"ops-[0-9a-f]{12}", dead["queue"])
