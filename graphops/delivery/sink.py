"""What every sink is: where a finished tracking goes (its callback URL, an Event Grid topic, a results queue).

Each sink delivers one tracking's result once and never raises: whatever goes wrong is a failed delivery
with its reason, retryable or not (:class:`graphops.delivery.deliverer.DeliveryResult`), and the step decides what
comes next. The three share one document: the callback's JSON, which events and the results queue carry as
a CloudEvent's ``data`` (:mod:`graphops.delivery.event_grid_sink`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from graphops.delivery.deliverer import DeliveryResult
from graphops.envelope.tracking import Tracking


class Sink(Protocol):
    #: The sink's name in a message's ``notify`` (graphops.envelope.tracking.SINKS).
    name: str
    #: What is at fault when the sink refuses for good: the dead letter's ``field``.
    setting: str

    def deliver(self, tracking: Tracking, body: Mapping[str, Any], now: datetime) -> DeliveryResult: ...

    def describe(self, tracking: Tracking) -> str:
        """Where this tracking's delivery goes, fit for a log line (no credentials)."""
        ...


__all__ = ["DeliveryResult", "Sink"]
