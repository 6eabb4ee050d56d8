"""JSON that parses, at any depth and any number size, through the runner's HTTP host and the queue: a 400
naming the field, or graphops' own dead letter naming it, and a console that still shows the entry."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from graphops.local import seed

from ..patience import patience
from .conftest import ConsoleSignIn, Harness
from .test_console import get

HOSTILE = {
    "deep, but parsed": "[" * 900 + "]" * 900,
    "deeper than the parser goes": "[" * 5000 + "]" * 5000,
    "a 5000-digit whole number": "9" * 5000,
    "1e400": "1e400",
    "NaN": "NaN",
    "-Infinity": "-Infinity",
}


def with_field(doc: dict[str, Any], name: str, value: str) -> str:
    """``doc`` as JSON text with ``name`` set to the raw JSON text ``value``."""
    return json.dumps(doc)[:-1] + f', "{name}": {value}}}'


def post(url: str, text: str, **headers: str) -> requests.Response:
    return requests.post(url, data=text.encode(), timeout=patience(10),
                         headers={"Content-Type": "application/json", **headers})  # fmt: skip


def refused(answer: requests.Response, field: str) -> None:
    assert answer.status_code == 400, (answer.status_code, answer.text[:300])
    assert [e["field"] for e in answer.json()["errors"]] == [field], answer.text[:300]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_api_refuses_it_in_any_field_naming_the_field(make_harness: Any, value: str) -> None:
    h: Harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    subscribe = {"operationUrl": h.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": h.stack.callback_url()}
    for field in ("context", "timeoutSeconds", "correlationId", "select"):
        refused(post(h.api("operations"), with_field(subscribe, field, value)), field)
    refused(post(h.api("operations"), with_field(subscribe, "context", '{"a": {"b": [' + value + "]}}")), "context")
    start = {"request": {"method": "POST", "url": f"/v1.0/teams/{seed.TEAM_ID}/clone", "body": {}},
             "callbackUrl": h.stack.callback_url()}  # fmt: skip
    refused(post(h.api("start"), json.dumps(start).replace("{}", value, 1), **{"Idempotency-Key": "k"}), "request")
    unsubscribe = requests.delete(h.api("operations"), data='{"callbackUrl": ' + value + "}", timeout=patience(10))
    refused(unsubscribe, "callbackUrl")
    assert h.graph.requests("POST", f"/v1.0/teams/{seed.TEAM_ID}/clone") == []


def test_a_body_nested_16000_deep_is_refused_as_a_whole(harness: Harness) -> None:
    answer = post(harness.api("operations"), "[" * 16_000 + "]" * 16_000)  # inside the 32 KiB a body may have
    refused(answer, "body")
    assert "nested deeper" in answer.json()["detail"]


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_producers_message_holding_it_is_dead_lettered_naming_the_field(harness: Harness, value: str) -> None:
    request = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": harness.stack.callback_url()}
    start = {"start": {"method": "POST", "url": f"/v1.0/teams/{seed.TEAM_ID}/clone", "body": {}},
             "callbackUrl": harness.stack.callback_url()}  # fmt: skip
    sent = {
        harness.send_raw(with_field(request, "context", '{"a": [' + value + "]}")): "context",
        harness.send_raw(with_field(request, "timeoutSeconds", value)): "timeoutSeconds",
        harness.send_raw(json.dumps(start).replace("{}", value, 1)): "start",
    }
    harness.run()
    dead = {d.get("trackingId"): d for d in harness.poison()}
    assert {i: d.get("field") for i, d in dead.items()} == sent  # graphops' own records, none a host copy
    for message_id, field in sent.items():
        assert dead[message_id]["reason"].startswith(f"rejected: {field}: ")
    assert (
        harness.receiver.delivered() == [] and harness.graph.requests("POST", f"/v1.0/teams/{seed.TEAM_ID}/clone") == []
    )


def test_a_message_nested_20000_deep_is_dead_lettered_and_the_console_shows_it(
    make_harness: Any, sign_in: ConsoleSignIn
) -> None:
    h: Harness = make_harness(**sign_in.settings())
    message_id = h.send_raw("[" * 20_000 + "]" * 20_000)
    deep_context = h.send_raw(
        with_field({"operationUrl": seed.ALERT_OPERATION_PATH}, "context", HOSTILE["deep, but parsed"])
    )
    h.run()
    dead = {d.get("trackingId"): d for d in h.poison()}
    assert dead[message_id]["field"] == "message" and "nested deeper than" in dead[message_id]["reason"]
    assert dead[deep_context]["field"] == "context"
    page = get(h, "poison", sign_in.headers())
    assert page.status_code == 200 and message_id in page.text and deep_context in page.text
