"""Start tracking from Python: validate like the function does, then enqueue.

from graphops.client import GraphOpsClient
client = GraphOpsClient.from_env(os.environ)
tracking_id = client.track(location_url, callback_url, correlation_id="run-42")
tracking_id = client.start("POST", "/v1.0/teams/{id}/clone", callback_url, body={...})
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from azure.core.credentials import TokenCredential
from azure.storage.queue import QueueClient

from graphops.common.errors import Rejected
from graphops.common.telemetry import current_traceparent
from graphops.intake.limits import Limits
from graphops.intake.request import from_request, from_start_request
from graphops.settings import Settings
from graphops.storage.queues import NEVER_EXPIRE, queue_client, send_creating
from graphops.wiring import graph_credential, limits_for, storage_credential


class GraphOpsClient:
    """A producer of tracking requests for one graphops queue."""

    def __init__(self, queue: QueueClient, limits: Limits) -> None:
        self._queue = queue
        self._limits = limits

    @classmethod
    def from_settings(
        cls, settings: Settings, credential: TokenCredential | None = None, options: Mapping[str, Any] | None = None
    ) -> GraphOpsClient:
        """A client for the deployment's queue; ``options`` are the storage client's (retries, timeouts)."""
        if credential is None and not settings.storage.connection_string:
            credential = storage_credential(settings, graph_credential(settings))
        queue = queue_client(settings.storage, settings.queue_name, credential, options=options)
        return cls(queue, limits_for(settings))

    @classmethod
    def from_env(cls, env: Mapping[str, str], credential: TokenCredential | None = None) -> GraphOpsClient:
        return cls.from_settings(Settings.from_env(env), credential)

    def request(self, operation_url: str, callback_url: str | None = None, **options: Any) -> dict[str, Any]:
        """The queue message for these arguments, checked by the same rules the function applies.

        Options: ``correlation_id``, ``context``, ``timeout_seconds``, ``select``, ``wait_for_resource``, ``notify``
        (the sinks: "callback", "events", "queue"), ``tenant_id`` (a customer tenant of GRAPHOPS_TENANTS).
        Without a callback URL the deployment's other sinks are used.
        Raises :class:`graphops.common.errors.Rejected` naming the field at fault.
        """
        doc = _message({"operationUrl": operation_url, "callbackUrl": callback_url}, **options)
        self._check_callback(from_request(doc, "check", datetime.now(UTC), self._limits).callback_url)
        return doc

    def start_request(
        self, method: str, url: str, callback_url: str | None = None, body: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> dict[str, Any]:  # fmt: skip
        """The queue message that has graphops send ``method url`` (an enabled start action) and track it."""
        start: dict[str, Any] = {"method": method, "url": url}
        if body is not None:
            start["body"] = dict(body)
        doc = _message({"start": start, "callbackUrl": callback_url}, **options)
        self._check_callback(from_start_request(doc, "check", datetime.now(UTC), self._limits)[0].callback_url)
        return doc

    def _check_callback(self, callback_url: str | None) -> None:
        """The callback's host must resolve, to public addresses, now: a typo is said before anything is queued."""
        if callback_url is None:
            return
        try:
            self._limits.callbacks.target(callback_url)
        except OSError as exc:
            host = urlsplit(callback_url).hostname
            problem = exc.strerror or str(exc)
            raise Rejected("callbackUrl", f"host {host} does not resolve ({problem}): check its spelling") from None

    def track(self, operation_url: str, callback_url: str | None = None, **options: Any) -> str:
        """Enqueue a tracking request; returns its tracking id (the queue message's id)."""
        return self._send(self.request(operation_url, callback_url, **options))

    def start(
        self, method: str, url: str, callback_url: str | None = None, body: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> str:  # fmt: skip
        """Enqueue a start: graphops sends the request with its identity, once, and tracks what Graph started.
        Returns the tracking id (the queue message's id)."""
        return self._send(self.start_request(method, url, callback_url, body, **options))

    def _send(self, doc: dict[str, Any]) -> str:
        sent = send_creating(self._queue, json.dumps(doc), time_to_live=NEVER_EXPIRE)
        return str(sent.id)


def _message(
    doc: dict[str, Any],
    *,
    correlation_id: str | None = None,
    context: Mapping[str, Any] | None = None,
    timeout_seconds: int | None = None,
    select: list[str] | None = None,
    wait_for_resource: bool = False,
    notify: list[str] | None = None,
    tenant_id: str | None = None,
) -> dict[str, Any]:
    if doc.get("callbackUrl") is None:
        doc.pop("callbackUrl", None)
    optional = {
        "notify": notify,
        "correlationId": correlation_id,
        "context": dict(context) if context is not None else None,
        "timeoutSeconds": timeout_seconds,
        "select": select,
        "tenantId": tenant_id,
        # A producer that traces (OpenTelemetry) gets the tracking's steps in its own trace.
        "traceparent": current_traceparent(),
    }
    doc.update({k: v for k, v in optional.items() if v is not None})
    if wait_for_resource:
        doc["waitForResource"] = True
    return doc
