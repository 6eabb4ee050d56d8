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
