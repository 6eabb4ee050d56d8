"""The results queue: every finished tracking's CloudEvent, for queue-triggered consumers (same storage
connection as the trigger; base64, as a Functions queue trigger reads it by default)."""

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
from graphops.envelope.tracking import Tracking
from graphops.storage.queues import NEVER_EXPIRE, send_creating


class ResultsQueueSink:
    name = "queue"
    setting = "GRAPHOPS_RESULTS_QUEUE"

    def __init__(self, queue: QueueClient, source: str) -> None:
        self._queue = queue
        self._source = source

    def deliver(self, tracking: Tracking, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        text = json.dumps(
            cloud_event(tracking, body, self._source, current_traceparent()), separators=(",", ":"), ensure_ascii=False
        )
        try:
            # A result waits for its consumer as long as it takes: it does not expire.
            send_creating(self._queue, text, time_to_live=NEVER_EXPIRE)
        except AzureError as exc:
            status = getattr(exc, "status_code", None)
            retryable = status is None or status in RETRYABLE_STATUS
            return DeliveryResult(False, retryable, f"results queue did not take it: {type(exc).__name__}", status)
        return DeliveryResult(True, False, "queued")

    def describe(self, tracking: Tracking) -> str:
        return self._queue.queue_name
