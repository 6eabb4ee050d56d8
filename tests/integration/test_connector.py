"""The custom connector driven as Power Automate and Logic Apps drive it, against the local runner: the trigger
"When a Graph operation ends" subscribes with the flow's notification URL, the callback arrives signed, and the
platform's DELETE goes to the Location the subscribe answered; each card's call is built from connector/ and sent
where its route policy says."""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any

import jsonschema
import requests

from graphops.connector.definition import API_DEFINITION, API_PROPERTIES, TRIGGER
from graphops.local import seed
from graphops.local.graph import Reply

from ..patience import patience
from .conftest import ROOT, Harness
from .test_starts import ALL_ACTIONS, CASES, check_callbacks, script

RUNNING, SUCCEEDED = seed.alert_refresh("running"), seed.alert_refresh("succeeded")
FUNCTION_KEY = "the-connections-function-key"


def described(value: Any, schema: dict[str, Any]) -> Any:
    """What the designer can send for ``value``: a card has an input for each field its schema describes, and no
    other (an object described without fields is free-form JSON)."""
    if not isinstance(value, dict) or "properties" not in schema:
        return value
    fields = schema["properties"]
    return {name: described(item, fields[name]) for name, item in value.items() if name in fields}


class Platform:
    """What the platform does with the connector: a card's inputs checked against its schema, sent to its path (or
    the one its route policy names) under the definition's basePath, with the connection's function key."""

    def __init__(self, harness: Harness) -> None:
        self.definition = json.loads((ROOT / "connector" / API_DEFINITION).read_text())
        policies = json.loads((ROOT / "connector" / API_PROPERTIES).read_text())["properties"][
            "policyTemplateInstances"
        ]
        self.routes = {name: p["parameters"]["x-ms-apimTemplateParameter.newPath"] for p in policies
                       for name in p["parameters"]["x-ms-apimTemplate-operationName"]}  # fmt: skip
        self.origin = harness.api().removesuffix("/api/")  # the host a maker sets on import

    def operation(self, operation_id: str) -> tuple[str, str, dict[str, Any]]:
        paths = self.definition["paths"].items()
        [found] = [(path, method, op) for path, item in paths for method, op in item.items()
                   if isinstance(op, dict) and op.get("operationId") == operation_id]  # fmt: skip
        return found

    def call(
        self, operation_id: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None, **ids: str
    ) -> requests.Response:
        path, method, op = self.operation(operation_id)
        schema = next((p["schema"] for p in op["parameters"] if p["in"] == "body"), None)
        if schema is not None:
            body = described(body, schema)
            jsonschema.Draft4Validator(schema).validate(body)
        [(_, key)] = self.definition["securityDefinitions"].items()
        path = re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], self.routes.get(operation_id, path))
        url = self.origin + self.definition["basePath"] + path
        sent = {**(headers or {}), key["name"]: FUNCTION_KEY}
        return requests.request(method.upper(), url, json=body, headers=sent, timeout=patience(10))

    def subscribe(self, notification_url: str, **inputs: Any) -> requests.Response:
        """The trigger's subscribe: the author's inputs, and the flow's own URL in the notification-url field."""
        _, _, op = self.operation(TRIGGER)
        [field] = [name for name, spec in op["parameters"][0]["schema"]["properties"].items()
                   if spec.get("x-ms-notification-url")]  # fmt: skip
        return self.call(TRIGGER, {**inputs, field: notification_url})

    def unsubscribe(self, location: str) -> requests.Response:
        """The DELETE the platform sends, with the connection's key, when the trigger is removed or the flow is off."""
        return requests.delete(location, headers={"x-functions-key": FUNCTION_KEY}, timeout=patience(10))


def test_the_trigger_subscribes_is_called_back_signed_and_unsubscribes_at_its_location(harness: Harness) -> None:
    platform = Platform(harness)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING), Reply(200, SUCCEEDED)])
    flow_url = harness.stack.callback_url("/flows/f1/triggers/manual/run")
    subscribed = platform.subscribe(flow_url, operationUrl=harness.graph_url(seed.ALERT_OPERATION_PATH))
    _, _, trigger = platform.operation(TRIGGER)
    assert str(subscribed.status_code) in trigger["responses"], subscribed.text
    location, tracking_id = subscribed.headers["Location"], subscribed.json()["trackingId"]
    assert location == f"{platform.origin}/api/operations/{tracking_id}"  # absolute, on graphops' own host
    harness.run()

    [callback] = harness.receiver.delivered()
    assert (callback.path, callback.webhook_id, callback.verified) == (
        "/flows/f1/triggers/manual/run",
        tracking_id,
        True,
    )
    assert (callback.body["outcome"], callback.body["operation"]) == ("succeeded", SUCCEEDED)
    status = platform.call("GetStatus", trackingId=tracking_id)
    assert (status.status_code, status.json()["phase"], status.json()["outcome"]) == (200, "done", "succeeded")
    # The flow is turned off after the run: its DELETE succeeds, and the outcome it was told stays.
    for _ in range(2):  # the platform retries an unsubscribe it did not hear back from
        deleted = platform.unsubscribe(location)
        assert (deleted.status_code, deleted.json()["outcome"]) == (200, "succeeded")
    assert len(harness.receiver.delivered()) == 1


def test_removing_the_trigger_while_it_waits_cancels_the_tracking(harness: Harness) -> None:
    platform = Platform(harness)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    subscribed = platform.subscribe(harness.stack.callback_url("/flows/f2"),
                                    operationUrl=harness.graph_url(seed.ALERT_OPERATION_PATH))  # fmt: skip
    stop = threading.Event()
    runner = threading.Thread(target=harness.host.serve, args=(stop,))
    runner.start()
    try:
        deadline = time.monotonic() + patience(20)
        while not harness.graph.gets(seed.ALERT_OPERATION_PATH) and time.monotonic() < deadline:
            time.sleep(0.1)  # until the tracking has polled once: it is waiting
        deleted = platform.unsubscribe(subscribed.headers["Location"])
        assert (deleted.status_code, deleted.json()["outcome"]) == (200, "cancelled")
    finally:
        stop.set()
        runner.join()
    harness.run()
    assert harness.receiver.received == []
    status = platform.call("GetStatus", trackingId=subscribed.json()["trackingId"]).json()
    assert (status["phase"], status["outcome"]) == ("done", "cancelled")


def test_track_an_operation_and_cancel_it_from_their_cards(harness: Harness) -> None:
    platform = Platform(harness)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, RUNNING)])
    inputs = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": harness.stack.callback_url()}
    tracked = platform.call("TrackAnOperation", inputs, {"Idempotency-Key": f"{harness.stack.queue_name}-card"})
    assert tracked.status_code == 202, tracked.text
    cancelled = platform.call("Cancel", trackingId=tracked.json()["trackingId"])
    assert (cancelled.status_code, cancelled.json()["outcome"]) == (200, "cancelled")
    harness.run()
    assert harness.receiver.received == []


def test_each_start_and_track_card_starts_its_action_and_is_called_back(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS=ALL_ACTIONS, GRAPHOPS_EXPORT_STORAGE_ACCOUNTS="contoso")
    platform = Platform(harness)
    sent = {name: script(harness, name, case) for name, case in CASES.items()}
    for name, case in CASES.items():
        request: dict[str, Any] = {"method": case.method, "url": case.url}
        if case.body is not None:
            request["body"] = case.body
        inputs = {"request": request, "callbackUrl": harness.stack.callback_url(), "correlationId": name}
        key = {"Idempotency-Key": f"{harness.stack.queue_name}-card-{name}"}
        answer = platform.call(f"Start_{name}", inputs, key)
        assert answer.status_code == 202, (name, answer.text)
    harness.run()
    check_callbacks(harness, sent)
