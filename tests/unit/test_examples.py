"""The examples call the API as its document describes it."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_logic_app_example_subscribes_and_unsubscribes_where_the_api_listens() -> None:
    workflow = json.loads((ROOT / "examples" / "logic-app-http-webhook.json").read_text())
    api = json.loads((ROOT / "graphops" / "openapi.json").read_text())
    webhook = workflow["definition"]["actions"]["Refresh_alerts_and_wait"]
    assert webhook["type"] == "HttpWebhook"
    subscribe, unsubscribe = webhook["inputs"]["subscribe"], webhook["inputs"]["unsubscribe"]
    sub_path = re.sub(r"^@\{parameters\('graphopsBaseUrl'\)\}/api", "", subscribe["uri"])
    unsub_path = re.sub(r"^@\{parameters\('graphopsBaseUrl'\)\}/api", "", unsubscribe["uri"]).split("?")[0]
    assert subscribe["method"].lower() in api["paths"][sub_path]
    assert unsubscribe["method"].lower() in api["paths"][unsub_path]
    assert subscribe["body"]["callbackUrl"] == "@{listCallbackUrl()}"
    required = api["components"]["schemas"]["StartRefreshRequest"]["required"]
    assert set(required) <= set(subscribe["body"])
    assert set(subscribe["body"]) <= set(api["components"]["schemas"]["StartRefreshRequest"]["properties"])
    # No workflow-wide Idempotency-Key: a for-each would collapse into one tracking. listCallbackUrl() is
    # unique per action instance and the same on Logic Apps' retries, so it names the subscription.
    assert "Idempotency-Key" not in subscribe["headers"]
    assert unsubscribe["body"] == {"callbackUrl": "@{listCallbackUrl()}"} and "?" not in unsubscribe["uri"]
    assert "requestBody" in api["paths"][unsub_path]["delete"]


def test_the_team_clone_example_starts_and_awaits_in_one_webhook_action() -> None:
    from graphops.graph.actions import parse_start
    from graphops.intake.request import REQUEST_FIELDS

    workflow = json.loads((ROOT / "examples" / "logic-app-team-clone.json").read_text())
    api = json.loads((ROOT / "graphops" / "openapi.json").read_text())
    [webhook] = [a for a in workflow["definition"]["actions"].values() if a["type"] == "HttpWebhook"]
    subscribe, unsubscribe = webhook["inputs"]["subscribe"], webhook["inputs"]["unsubscribe"]
    assert subscribe["uri"] == "@{parameters('graphopsBaseUrl')}/api/start" and "post" in api["paths"]["/start"]
    body = subscribe["body"]
    schema = api["components"]["schemas"]["StartRequest"]
    assert (
        set(schema["required"]) <= set(body) <= set(schema["properties"]) and set(body) - {"request"} <= REQUEST_FIELDS
    )
    # The request, with the trigger's team id filled in, is the teamClone action; the callback comes once the new
    # team answers; the key is the run's and the action's, so Logic Apps' retries of this call start one clone.
    request = json.loads(json.dumps(body["request"]).replace("@{triggerBody()?['teamId']}", "dbd8de4f"))
    assert parse_start(request, "https://graph.microsoft.com", "global", {"teamClone"}).action.name == "teamClone"
    assert body["waitForResource"] is True and body["callbackUrl"] == "@{listCallbackUrl()}"
    assert subscribe["headers"]["Idempotency-Key"] == "@{workflow().run.name}-Clone_team_and_wait"
    assert unsubscribe == {**unsubscribe, "method": "DELETE", "body": {"callbackUrl": "@{listCallbackUrl()}"}}
    # Logic Apps gives up at its own timeout: a little after graphops' deadline, which always calls back.
    assert webhook["limit"]["timeout"] == "PT2H30M" and body["timeoutSeconds"] == 7200
