"""Events: every finished tracking as a CloudEvents 1.0 event, published to an Event Grid topic with the app's
identity (audience https://eventgrid.azure.net, role EventGrid Data Sender; no access keys).

The event is the same on every attempt: its ``id`` is the tracking id, so a consumer dedupes redeliveries
(Event Grid's and graphops' own) on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential

from graphops.common.telemetry import current_traceparent
from graphops.delivery.deliverer import RETRYABLE_STATUS, DeliveryResult
from graphops.egress.retry_after import parse_retry_after
from graphops.envelope.tracking import Tracking, iso

#: Events are typed ``graphops.operation.<outcome>``: graphops.operation.succeeded, ….failed, ….timedOut...
EVENT_TYPE_PREFIX = "graphops.operation."
# Per call, not per client: the SDK's client takes no pipeline options for a basic topic. graphops retries by
# re-enqueueing (with the callbacks' back-off), and a redirect is never followed.
_SEND_OPTIONS = {"retry_total": 0, "permit_redirects": False, "connection_timeout": 5, "read_timeout": 15}


def cloud_event(
    tracking: Tracking, body: Mapping[str, Any], source: str, traceparent: str | None = None
) -> dict[str, Any]:
    """The structured-mode CloudEvents 1.0 JSON of a finished tracking.

    ``subject`` is the operation's path (Graph's, or a drive-copy monitor's, without its query), so an Event
    Grid subscription can filter one kind with ``subjectBeginsWith``; an operation Graph finished at once has
    none. ``data`` is the callback's JSON: at most a few tens of KiB (the envelope that carries it fits in a
    queue message), far below Event Grid's 1 MB.
    """
    assert tracking.outcome is not None and tracking.finished_at is not None
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": tracking.tracking_id,
        "source": source,
        "type": EVENT_TYPE_PREFIX + str(tracking.outcome),
        "time": iso(tracking.finished_at),
        "datacontenttype": "application/json",
        "data": dict(body),
    }
    if tracking.shown_operation_url:
        event["subject"] = urlsplit(tracking.shown_operation_url).path
    if traceparent:
        event["traceparent"] = traceparent  # the CloudEvents distributed tracing extension
    return event


class EventGridSink:
    name = "events"
    setting = "GRAPHOPS_EVENT_GRID_ENDPOINT"

    def __init__(self, endpoint: str, credential: TokenCredential, source: str) -> None:
        self._endpoint = endpoint
        self._credential = credential
        self._source = source
        self._client: Any = None  # built on first use: the SDK is imported only by apps that publish

    def deliver(self, tracking: Tracking, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        from azure.core.exceptions import AzureError, HttpResponseError
        from azure.core.messaging import CloudEvent

        event: CloudEvent[Any] = CloudEvent.from_dict(cloud_event(tracking, body, self._source, current_traceparent()))
        try:
            self.client().send([event], **_SEND_OPTIONS)
        except HttpResponseError as exc:
            status = exc.status_code
            if status is None:  # no answer at all, or no token for Event Grid (yet)
                return DeliveryResult(False, True, f"Event Grid not reached: {type(exc).__name__}")
            headers = getattr(exc.response, "headers", None) or {}
            retry_after = parse_retry_after(headers.get("Retry-After"), now)
            message = str(exc.message or "").splitlines()[0][:200] if exc.message else ""
            detail = f"Event Grid answered {status}" + (f": {message}" if message else "")
            return DeliveryResult(False, status in RETRYABLE_STATUS, detail, status, retry_after)
        except AzureError as exc:
            return DeliveryResult(False, True, f"Event Grid not reached: {type(exc).__name__}")
        except Exception as exc:  # a failure nobody foresaw: final for this attempt, with its reason
            return DeliveryResult(False, False, f"unexpected error while publishing: {type(exc).__name__}: {exc}")
        return DeliveryResult(True, False, "published (200)", 200)

    def client(self) -> Any:
        if self._client is None:
            from azure.eventgrid import EventGridPublisherClient

            self._client = EventGridPublisherClient(self._endpoint, self._credential)
        return self._client

    def describe(self, tracking: Tracking) -> str:
        return urlsplit(self._endpoint).netloc
