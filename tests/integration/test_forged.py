"""A queue producer writes what it likes: graphops acts only on messages it sealed itself. And a start that cannot
safely repeat is sent to Graph once, even when its message is poisoned by the host and put back."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from graphops import functions
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.runner import QueueOptions
from graphops.settings import Settings, seal_for
from graphops.storage.seal import Seal
from graphops.wiring import limits_for

from ..patience import patience
from .conftest import ROOT, Harness, sink_settings

FORGED_ID = "chosen-by-the-forger"


def forged_envelope(h: Harness) -> dict[str, Any]:
    """What an attacker with queue access writes: a finished, succeeded tracking in phase delivering."""
    now = datetime.now(UTC)
    return {
        "v": 1, "trackingId": FORGED_ID, "operationUrl": h.graph_url(seed.ALERT_OPERATION_PATH),
        "kind": "roleManagementAlertRefresh", "callbackUrl": h.stack.callback_url(), "notify": ["callback", "events",
        "queue"], "trackedSince": now.isoformat(), "deadline": (now + timedelta(hours=1)).isoformat(),
        "phase": "delivering", "polls": 1, "lastStatus": "succeeded", "outcome": "succeeded",
        "operation": seed.alert_refresh("succeeded"), "finishedAt": now.isoformat(), "stateful": False,
    }  # fmt: skip


def nothing_went_out(h: Harness) -> None:
    assert h.receiver.received == [] and h.stack.eventgrid.events == [] and h.results() == []
    assert h.graph.gets(seed.ALERT_OPERATION_PATH) == []


def test_a_forged_envelope_delivers_nothing_and_is_dead_lettered_under_its_message_id(
    make_harness: Any, stack: LocalStack
) -> None:
    h: Harness = make_harness(**sink_settings(stack))
    message_id = h.send_raw(json.dumps(forged_envelope(h)))
    h.run()
    nothing_went_out(h)
    [dead] = h.poison()
    assert dead["trackingId"] == message_id != FORGED_ID  # the forger's id is believed nowhere
    assert dead["field"] == "seal" and dead["reason"].startswith("rejected: seal: missing")


def test_a_sealed_envelope_changed_on_the_way_is_refused(make_harness: Any, stack: LocalStack) -> None:
    h: Harness = make_harness(**sink_settings(stack))
    settings = Settings.from_env(h.env)
    seal = seal_for(settings)
    request = {"operationUrl": h.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": h.stack.callback_url()}
    tracking = from_request(request, "t-sealed", datetime.now(UTC), limits_for(settings))
    doc = json.loads(seal.seal(tracking.to_wire()))
    doc.update(phase="delivering", outcome="succeeded", finishedAt=datetime.now(UTC).isoformat())
    h.send_raw(json.dumps(doc))
    other_key = Seal(b"a key that is not this deployment's own key").seal(tracking.to_wire())
    h.send_raw(other_key)
    h.run()
    nothing_went_out(h)
    assert sorted(d["reason"] for d in h.poison()) == ["rejected: seal: does not match: the message was not "
                                                      "written by this graphops, or was changed"] * 2  # fmt: skip


@pytest.mark.parametrize("field", ["trackingId", "startAttempts", "notBefore"])
def test_a_producer_cannot_choose_fields_graphops_sets(harness: Harness, field: str) -> None:
    value: Any = {"trackingId": FORGED_ID, "startAttempts": 99, "notBefore": "2099-01-01T00:00:00Z"}[field]
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("succeeded"))])
    request = {"operationUrl": harness.graph_url(seed.ALERT_OPERATION_PATH),
               "callbackUrl": harness.stack.callback_url(), field: value}  # fmt: skip
    message_id = harness.send_raw(json.dumps(request))
    harness.run()
    [dead] = harness.poison()
    assert dead["trackingId"] == message_id and dead["field"] == "seal" and field in dead["reason"]
    assert harness.receiver.received == []  # a forged message gets no notice either


def test_a_start_poisoned_by_the_host_and_put_back_is_sent_to_graph_once(make_harness: Any) -> None:
    options = replace(QueueOptions.from_host_json(ROOT / "host.json"), visibility_timeout=0, max_dequeue_count=3)
    h: Harness = make_harness(options=options, GRAPHOPS_START_ACTIONS="teamClone")
    clone = f"/v1.0/teams/{seed.TEAM_ID}/clone"
    location = "/teams('dbd8de4f-5d40-4d55-a6e1-e2a0e2c8b1ab')/operations('op-once')"
    h.graph.on("POST", clone, lambda body: Reply(202, None, {"Location": location}))
    h.graph.script("/v1.0" + location, [Reply(200, seed.teams_operation("succeeded"))])

    def queue_down(point: str) -> None:
        if point == "beforeFirstStep":  # Graph said 202; the first step cannot be queued
            raise RuntimeError("the queue is down")

    functions.tracker().checkpoint = queue_down
    tracking_id = h.client.start("POST", clone, h.stack.callback_url(), {"displayName": "Copy", "partsToClone": "apps"})
    h.run()
    assert len(h.graph.requests("POST", clone)) == 1 and h.receiver.received == []
    [poisoned] = h.poison()  # the host's copy after max_dequeue_count failures: graphops' own sealed start
    assert poisoned["trackingId"] == tracking_id

    functions.tracker().checkpoint = lambda point: None  # the queue is back
    assert len(h.requeue().moved) == 1  # what `graphops poison requeue --all` does
    h.run()
    assert len(h.graph.requests("POST", clone)) == 1  # not sent again
    [callback] = h.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.body["outcome"] == "succeeded"


ROTATED = ["the envelope key two rotations ago: 1c8e5a0f3b7d", "the envelope key one rotation ago: 9e2b6d4a0c8f",
           "the envelope key now, after two rotations: 5a7c9e1b3d0f"]  # fmt: skip


def test_a_step_sealed_with_a_retired_key_is_dead_lettered_under_its_tracking_id_and_its_state_says_so(
    make_harness: Any,
) -> None:
    before: Harness = make_harness(GRAPHOPS_ENVELOPE_KEY=ROTATED[0])
    answer = requests.post(before.api("operations"), json={"operationUrl": before.graph_url(seed.ALERT_OPERATION_PATH),
                           "callbackUrl": before.stack.callback_url()}, timeout=patience(10))  # fmt: skip
    assert answer.status_code == 202, answer.text
    tracking_id = answer.json()["trackingId"]  # its first step is queued, sealed with the first key
    # Two rotations later: neither GRAPHOPS_ENVELOPE_KEY nor _PREVIOUS is the key that step was sealed with.
    after: Harness = make_harness(GRAPHOPS_ENVELOPE_KEY=ROTATED[2], GRAPHOPS_ENVELOPE_KEY_PREVIOUS=ROTATED[1])
    # A forger who knows the tracking id, not the step the state names: still a forgery, under its message id.
    request = {"operationUrl": after.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": after.stack.callback_url()}
    guessed = from_request(request, tracking_id, datetime.now(UTC), limits_for(Settings.from_env(after.env)))
    forged_id = after.send_raw(Seal(b"a key no deployment ever held: 4d1f7a9c2e6b").seal(guessed.to_wire()))
    after.run()
    assert after.graph.gets(seed.ALERT_OPERATION_PATH) == [] and after.receiver.received == []
    [forged] = [d for d in after.poison() if d["trackingId"] != tracking_id]
    assert forged["trackingId"] == forged_id and forged["field"] == "seal"
    [dead] = [d for d in after.poison() if d["trackingId"] == tracking_id]
    assert dead["trackingId"] == tracking_id and dead["field"] == "GRAPHOPS_ENVELOPE_KEY_PREVIOUS"
    assert dead["reason"].startswith("sealed with a key this deployment no longer holds")
    view = requests.get(after.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["waitingFor"].startswith("an operator: sealed with a key this deployment no longer holds")
    assert view["phase"] == "polling" and view["history"][-1]["deadLettered"].startswith("sealed with a key")

    # The operator sets the old key as _PREVIOUS again and puts the step back: it runs as the tracking's step.
    restored: Harness = make_harness(GRAPHOPS_ENVELOPE_KEY=ROTATED[2], GRAPHOPS_ENVELOPE_KEY_PREVIOUS=ROTATED[0])
    restored.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("succeeded"))])
    retired = {e.message_id for e in restored.poison_entries() if e.tracking_id == tracking_id}
    assert len(restored.requeue(retired).moved) == 1
    restored.run()
    assert restored.outcomes() == {tracking_id: "succeeded"}
