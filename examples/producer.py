"""Track a Graph operation from Python automation, and verify the callback on the receiving side.

    python examples/producer.py '<Location URL from Graph>' https://my-endpoint.example.com/graphops

Settings (the queue, the Graph cloud, the allowed callback hosts) come from the environment or
local.settings.json, as for the `graphops` command.
"""

from __future__ import annotations

import os
import sys

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from graphops.client import GraphOpsClient
from graphops.common.errors import Rejected


def start(location: str, callback_url: str) -> str:
    client = GraphOpsClient.from_env(os.environ)
    return client.track(location, callback_url, correlation_id="nightly-reset", context={"ticket": "INC-4711"})


def on_callback(body: bytes, headers: dict[str, str], secret: str) -> dict[str, object] | None:
    """What a receiver does: verify, then de-duplicate on webhook-id (the tracking id)."""
    try:
        payload: dict[str, object] = Webhook(secret).verify(body, headers)
    except WebhookVerificationError:
        return None  # not from graphops, or replayed too late: answer 401
    return payload


if __name__ == "__main__":
    try:
        print(start(sys.argv[1], sys.argv[2]))
    except Rejected as exc:
        sys.exit(f"error: {exc}")
