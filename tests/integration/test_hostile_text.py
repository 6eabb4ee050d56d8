"""Text Python cannot encode (lone UTF-16 surrogates, legal in JSON) from each side: a caller's gets a clear
refusal naming the field, a producer's message a dead letter with its reason, and Graph's answer is made safe
while the tracking ends normally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from graphops.local import seed
from graphops.local.graph import Reply

from ..patience import patience
from .conftest import Harness

TEXTS: list[str] = json.loads((Path(__file__).parents[1] / "data" / "hostile_text.json").read_text())["texts"]


@pytest.mark.parametrize("text", TEXTS)
def test_a_callers_text_is_refused_with_the_field_named(harness: Harness, text: str) -> None:
    base = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": harness.stack.callback_url()}
    for field, doc in (("correlationId", {**base, "correlationId": text}),
                       ("context", {**base, "context": {"note": text}}),
                       ("context", {**base, "context": {text: 1}})):  # fmt: skip
        answer = requests.post(harness.api("operations"), data=json.dumps(doc), timeout=patience(10),
                               headers={"Content-Type": "application/json"})  # fmt: skip
        assert answer.status_code == 400, (field, answer.status_code, answer.text[:200])
        assert field in answer.text and "lone UTF-16 surrogate" in answer.text


def test_a_start_body_with_such_text_is_refused_with_the_field_named(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    doc = {"request": {"method": "POST", "url": f"/v1.0/teams/{seed.TEAM_ID}/clone", "body": {"displayName": TEXTS[0]}},
           "callbackUrl": h.stack.callback_url()}  # fmt: skip
    answer = requests.post(h.api("start"), data=json.dumps(doc), timeout=patience(10),
                           headers={"Content-Type": "application/json", "Idempotency-Key": "k-1"})  # fmt: skip
    assert answer.status_code == 400 and "request" in answer.text and "surrogate" in answer.text
    assert h.graph.requests("POST", f"/v1.0/teams/{seed.TEAM_ID}/clone") == []


@pytest.mark.parametrize("text", TEXTS[:3])
def test_a_producers_message_with_such_text_is_dead_lettered_with_its_reason(harness: Harness, text: str) -> None:
    request = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": harness.stack.callback_url(),
               "correlationId": text}  # fmt: skip
    message_id = harness.send_raw(json.dumps(request))
    harness.run()
    [dead] = harness.poison()
    assert (dead["trackingId"], dead["field"]) == (message_id, "correlationId")
    assert "lone UTF-16 surrogate" in dead["reason"] and json.loads(dead["original"])["correlationId"] == text


@pytest.mark.parametrize("text", TEXTS[:3])
def test_graphs_text_is_made_safe_and_the_tracking_ends(harness: Harness, text: str) -> None:
    failed = {**seed.alert_refresh("failed"), "statusDetail": f"could not {text} finish"}
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, {**seed.alert_refresh("running"), "status": text}),
                                                     Reply(200, failed)])  # fmt: skip
    tracking_id = harness.track(seed.ALERT_OPERATION_PATH)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.body["outcome"] == "failed" and callback.verified
    assert "\ufffd" in callback.body["error"]["message"] and harness.poison() == []


# Within the 16 KiB a context may hold, but three times that once written as JSON's \ud83d\ude00 escapes.
WIDE_CONTEXT = {"note": "😀" * 3900, "名前": "漢字" * 100}


def test_a_dead_letter_with_a_non_ascii_context_is_measured_and_written_as_the_queue_takes_it(
    harness: Harness,
) -> None:
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("succeeded"))])
    harness.receiver.answer("/gone", 410)
    body = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH),
            "callbackUrl": harness.stack.callback_url("/gone"), "context": WIDE_CONTEXT}  # fmt: skip
    answer = requests.post(harness.api("operations"), data=json.dumps(body, ensure_ascii=False).encode(),
                           headers={"Content-Type": "application/json"}, timeout=patience(10))  # fmt: skip
    assert answer.status_code == 202, answer.text
    tracking_id = answer.json()["trackingId"]
    harness.run()
    [dead] = harness.poison_all()  # the dead letter, with its reason: not the host's copy of a failing step
    assert dead["trackingId"] == tracking_id
    assert dead["reason"].startswith("callback not delivered: callback answered 410")
    assert json.loads(dead["original"])["context"] == WIDE_CONTEXT
    assert [r.status for r in harness.receiver.received] == [410]  # the callback was not repeated
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (view["phase"], view["outcome"]) == ("done", "succeeded")
    assert view["lastDeliveryError"].startswith("dead-lettered: callback answered 410")
