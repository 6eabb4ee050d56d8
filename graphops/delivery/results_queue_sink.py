"""The results queue: every finished tracking's CloudEvent, for queue-triggered consumers (same storage
connection as the trigger; base64, as a Functions queue trigger reads it by default).

A message is signed as a callback is (Standard Webhooks, the callback secret), so a consumer can tell graphops'
results from anything else on the queue. A queue message has no headers, so it is a JSON object with the
headers and the body exactly as signed: ``{"headers": {"webhook-id", "webhook-timestamp", "webhook-signature"},
"body": "<the CloudEvent's JSON text>"}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueClient

from graphops.common.telemetry import current_traceparent
from graphops.delivery.deliverer import RETRYABLE_STATUS, DeliveryResult
from graphops.delivery.event_grid_sink import cloud_event
from graphops.delivery.signing import WebhookSigner
from graphops.envelope.tracking import Tracking
from graphops.storage.queues import NEVER_EXPIRE, send_creating


class ResultsQueueSink:
    name = "queue"
    setting = "GRAPHOPS_RESULTS_QUEUE"

    def __init__(self, queue: QueueClient, source: str, signer: WebhookSigner) -> None:
        self._queue = queue
        self._source = source
        self._signer = signer

    def deliver(self, tracking: Tracking, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        if self._signer.pending is not None:
            return DeliveryResult(False, True, self._signer.pending.waiting, held=True)
        event = json.dumps(
            cloud_event(tracking, body, self._source, current_traceparent()), separators=(",", ":"), ensure_ascii=False
        )
        # The event's id is the tracking id: the webhook-id consumers dedupe on, as on the callback.
        signed = {"headers": self._signer.headers(tracking.tracking_id, now, event), "body": event}
        try:
            # A result waits for its consumer as long as it takes: it does not expire.
            send_creating(self._queue, json.dumps(signed, separators=(",", ":"), ensure_ascii=False),
                          time_to_live=NEVER_EXPIRE)  # fmt: skip
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            retryable = status is None or status in RETRYABLE_STATUS
            return DeliveryResult(False, retryable, f"results queue did not take it: {type(exc).__name__}", status)
        return DeliveryResult(True, False, "queued")

    def describe(self, tracking: Tracking) -> str:
        return self._queue.queue_name
