"""The callback URL: a signed Standard Webhooks POST (see :class:`graphops.delivery.deliverer.Deliverer`)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from graphops.common.logs import redact_url
from graphops.delivery.deliverer import Deliverer, DeliveryResult
from graphops.envelope.tracking import Tracking


class CallbackSink:
    name = "callback"
    setting = "callbackUrl"

    def __init__(self, deliverer: Deliverer) -> None:
        self._deliverer = deliverer

    def deliver(self, tracking: Tracking, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        if tracking.callback_url is None:
            return DeliveryResult(False, False, "no callbackUrl")
        return self._deliverer.deliver(tracking.callback_url, tracking.tracking_id, body, now)

    def describe(self, tracking: Tracking) -> str:
        return redact_url(tracking.callback_url) if tracking.callback_url else "-"
