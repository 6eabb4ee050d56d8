"""The tracking queue and its poison queue, through azure-storage-queue."""

from __future__ import annotations

import base64
import contextlib
import json
from collections.abc import Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceNotFoundError, ServiceRequestError
from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy
from opentelemetry.trace import SpanKind

from graphops.common.errors import QueueUnavailable, StorageUnreachable
from graphops.common.telemetry import client_span
from graphops.storage.connection import StorageConnection

# host.json's messageEncoding is "base64": what we send must be what the trigger decodes, or every
# message silently ends in the poison queue. tests/unit/test_host_json.py keeps the two in step.
MESSAGE_ENCODING = "base64"
NEVER_EXPIRE = -1
# What one queue message holds, as the service measures it: the bytes it is sent as (here base64 of UTF-8).
MAX_MESSAGE_BYTES = 64 * 1024
# For a person waiting on a page: a refused connection is said at once (the clients' backoff before a retry
# starts at 15 s), every other transient failure is still retried.
INTERACTIVE: dict[str, Any] = {"retry_connect": 0, "connection_timeout": 5}


def queue_client(
    storage: StorageConnection,
    queue_name: str,
    credential: TokenCredential | None,
    transport: Any = None,
    *,
    encoded: bool = True,
    options: Mapping[str, Any] | None = None,
) -> QueueClient:
    """A client for one queue, base64-encoding as the Functions queue trigger expects (``encoded=False``: as
    the messages lie, for tools that must read what a producer got wrong)."""
    policies: dict[str, Any] = {}
    if encoded:
        policies = {
            "message_encode_policy": TextBase64EncodePolicy(),
            "message_decode_policy": TextBase64DecodePolicy(),
        }
    if transport is not None:
        policies["transport"] = transport
    policies.update(options or {})
    if storage.connection_string:
        return QueueClient.from_connection_string(storage.connection_string, queue_name, **policies)
    assert storage.queue_service_uri is not None and credential is not None
    return QueueClient(storage.queue_service_uri, queue_name, credential=credential, **policies)


def probe(queue: QueueClient, storage: StorageConnection) -> None:
    """One request without retries, before a command's work: storage that is not there is said in seconds.

    The clients' own retries would take over a minute to give up on an Azurite that is not running.
    Raises :class:`StorageUnreachable`; a refused sign-in comes through as azure-core's
    ``ClientAuthenticationError``.
    """
    try:
        queue.get_queue_properties(retry_total=0, connection_timeout=5)
    except ResourceNotFoundError:
        return  # the account answered; the queue comes with the first message
    except ServiceRequestError as exc:
        raise StorageUnreachable(storage.unreachable()) from exc


def send_creating(queue: QueueClient, text: str, **options: Any) -> Any:
    """Send, creating the queue first if it does not exist yet (a fresh Azurite, a first run)."""
    try:
        return queue.send_message(text, **options)
    except ResourceNotFoundError:
        with contextlib.suppress(ResourceExistsError):  # another worker created it in between
            queue.create_queue()
        return queue.send_message(text, **options)


class MessageTooLarge(QueueUnavailable):
    """A message the queue would refuse for its size: known before it is sent, so it is never tried."""


def compact_json(doc: Any) -> str:
    """``doc`` as the shortest JSON text that can be sent: UTF-8 as it is, or, when it holds text UTF-8 cannot
    carry (a lone surrogate a producer wrote), with ASCII escapes that keep it."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=True)
    return text


def encoded_size(text: str) -> int:
    """The bytes a message takes on the queue: UTF-8, then base64 (``MESSAGE_ENCODING``)."""
    return len(base64.b64encode(text.encode()))


@dataclass(frozen=True)
class Sent:
    """A message the queue took: its id, and the receipt that lets its sender delete it before anyone takes it."""

    id: str
    pop_receipt: str


class TrackingQueue:
    """Sends the next step of a tracking, and dead-letters what cannot go on."""

    def __init__(self, main: QueueClient, poison: QueueClient, dead_letter_ttl: int = NEVER_EXPIRE) -> None:
        self._main = main
        self._poison = poison
        # Dead letters hold callback URLs with their keys: they expire with the retention period.
        self._dead_letter_ttl = dead_letter_ttl

    @property
    def name(self) -> str:
        return self._main.queue_name

    def send(self, text: str, delay_seconds: int) -> Sent:
        with queue_span(self._main, delay_seconds):
            try:
                # Each step is a new message; it must not expire before the tracking's own deadline does.
                sent = send_creating(self._main, text, visibility_timeout=delay_seconds, time_to_live=NEVER_EXPIRE)
            except AzureError as exc:
                problem = f"could not re-enqueue on {self._main.queue_name}: {type(exc).__name__}"
                raise QueueUnavailable(problem) from exc
        return Sent(str(sent.id), str(sent.pop_receipt))

    def take_back(self, sent: Sent) -> None:
        """Delete a message this process just sent (and nobody has received: its pop receipt still holds)."""
        try:
            self._main.delete_message(sent.id, sent.pop_receipt)
        except AzureError as exc:
            raise QueueUnavailable(f"could not delete {sent.id} from {self._main.queue_name}") from exc

    def dead_letter(self, record: dict[str, Any]) -> None:
        """Write a dead letter. Raises :class:`MessageTooLarge` when it would not fit a queue message, measured
        as it is sent; :class:`QueueUnavailable` when the queue did not take it."""
        text = compact_json(record)
        size = encoded_size(text)
        if size > MAX_MESSAGE_BYTES:
            raise MessageTooLarge(f"{size} bytes encoded, over the {MAX_MESSAGE_BYTES} a queue message holds")
        with queue_span(self._poison, 0):
            try:
                send_creating(self._poison, text, time_to_live=self._dead_letter_ttl)
            except AzureError as exc:
                raise QueueUnavailable(
                    f"could not dead-letter to {self._poison.queue_name}: {type(exc).__name__}"
                ) from exc


def queue_span(queue: QueueClient, delay_seconds: int) -> AbstractContextManager[Any]:
    attributes = {"messaging.system": "azure_storage_queues", "messaging.operation.type": "send",
                  "messaging.destination.name": queue.queue_name, "graphops.delay_seconds": delay_seconds}  # fmt: skip
    return client_span(f"send {queue.queue_name}", attributes, SpanKind.PRODUCER)
