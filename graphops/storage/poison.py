"""The poison queue: read what was dead-lettered, with its reason, and put it back once the cause is fixed.

Two kinds of entries live there: graphops' own dead letters (JSON with ``deadLetter``, ``reason``,
``field`` and the ``original`` message, sealed as graphops' queue messages are: graphops.storage.seal) and the
host's copies of messages whose function threw ``maxDequeueCount`` times (the original, as it was on the wire).
Anything else that claims to be a dead letter was not written by graphops: nothing in it is believed, and put
back it is a producer's message, checked as a request.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, QueueMessage

from graphops.common.errors import Rejected
from graphops.common.json_text import json_or_none
from graphops.common.logs import redact_url
from graphops.common.signed import withhold_signed_in
from graphops.envelope.tracking import is_tracking_id
from graphops.graph.kinds import KINDS
from graphops.storage.seal import INTERNAL_FIELDS, Seal, is_internal

PEEK_LIMIT = 32  # what the queue service lets one peek see
NOT_OURS = "not written by graphops"
UNCHECKED = "seal not checked: GRAPHOPS_ENVELOPE_KEY is not set here"
# Why the trigger would refuse a producer's message (None: it would take it); from graphops.intake, which the
# surfaces hand down.
RequestCheck = Callable[[dict[str, Any]], str | None]


@dataclass(frozen=True)
class PoisonEntry:
    message_id: str
    inserted_on: datetime | None
    reason: str
    tracking_id: str | None
    field: str | None
    original: str  # the message to put back, decoded
    record: dict[str, Any] | None  # graphops' dead-letter record (its seal opened), or None
    #: "graphops" (a dead letter graphops sealed), "host" (the host's copy), "forged" (claims to be a dead letter
    #: but no seal of this deployment's opens it), "unchecked" (a dead letter, and no key here to check it).
    provenance: str = "host"

    @property
    def trusted(self) -> bool:
        """Whether this is what it says it is: graphops' dead letter, or the host's copy of a queue message."""
        return self.provenance in {"graphops", "host"}

    @cached_property  # read by several properties, for each entry a page shows
    def document(self) -> dict[str, Any] | None:
        """The original as JSON, when it is a JSON object (a tracking, a request); None for anything else."""
        doc = json_or_none(self.original)  # anyone's text: too deep or odd numbers read as not JSON
        return doc if isinstance(doc, dict) else None

    @property
    def correlation_id(self) -> str | None:
        value = (self.document or {}).get("correlationId")
        return value if isinstance(value, str) and value else None

    @property
    def unrequeueable(self) -> str | None:
        """Why putting this entry back could do nothing but land it here again; None when it may be requeued."""
        if self.record is not None and not isinstance(self.record.get("original"), str):
            return "kept without its message (too large for a queue message with its reason): nothing to put back"
        if not self.trusted and self.document is not None and is_internal(self.document):
            fields = ", ".join(sorted(INTERNAL_FIELDS & set(self.document)))
            why = NOT_OURS if self.provenance == "forged" else UNCHECKED
            return f"{why}, and its message carries {fields}, which only graphops' own messages may"
        if self.field == "message" and self.record is None:
            return "not base64: the queue's trigger cannot read it, so requeued it would come straight back"
        if self.document is None:
            return "not a JSON object: no tracking or request is in it, so requeued it would be rejected again"
        if not any(k in self.document for k in ("operationUrl", "start", "trackingId")):
            return "an unknown shape (no operationUrl, start or trackingId): requeued it would be rejected again"
        return None

    @property
    def shown(self) -> str:
        """The original fit for a screen: callback URLs without their query (Logic Apps' ``sig=`` is a key)."""
        return redact_callbacks(self.original)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.message_id,
            "insertedOn": self.inserted_on.isoformat() if self.inserted_on else None,
            "reason": self.reason,
            "trackingId": self.tracking_id,
            "field": self.field,
            "original": self.shown,
            "correlationId": self.correlation_id,
            "requeueable": self.unrequeueable is None,
            "whyNotRequeueable": self.unrequeueable,
            "writtenBy": {"graphops": "graphops", "host": "host", "forged": "not graphops"}.get(self.provenance),
        }


_URL_QUERY = re.compile(r"(https?://[^\s\"'?#]*)\?[^\s\"'#]*")


_URL_FIELDS = ("callbackUrl", "operationUrl")


def redact_callbacks(text: str) -> str:
    """``text`` fit for a screen: every URL's query string cut from the JSON's callbackUrl and operationUrl (or from
    any URL in text that is not JSON), a kind's secret fields withheld, and every signed link anywhere else in it
    (a start's storageLocation, Graph's answer, a history) withheld (graphops.common.signed)."""
    doc = json_or_none(text)
    if isinstance(doc, dict):
        # Callback keys (Logic Apps' sig=) and drive-copy monitor credentials (tempauth=) both ride in queries.
        for name in _URL_FIELDS:
            if isinstance(doc.get(name), str):
                doc[name] = redact_url(doc[name])
        kind = KINDS.get(doc["kind"]) if isinstance(doc.get("kind"), str) else None
        if kind is not None and "operation" in doc:
            doc["operation"] = kind.withheld(doc["operation"])  # a report's signed link: the sinks' only
        return json.dumps(withhold_signed_in(doc), ensure_ascii=False)
    return _URL_QUERY.sub(lambda m: m.group(1) + "?…", text)


def entry_from(message_id: str, inserted_on: datetime | None, content: str, *, seal: Seal | None) -> PoisonEntry:
    """One poison entry as it lies on the queue. ``seal`` tells graphops' dead letters from anyone else's; None
    where the envelope key is not at hand, and then no dead letter is taken as graphops' own."""
    try:
        text = base64.b64decode(content, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return PoisonEntry(
            message_id, inserted_on, "not base64: the producer did not encode it", None, "message", content, None
        )
    record = json_or_none(text)
    # A tracking id is linked to and shown: only one that is one (a producer's copy may hold anything there).
    tracking_id = record.get("trackingId") if isinstance(record, dict) else None
    tracking_id = tracking_id if is_tracking_id(tracking_id) else None
    if isinstance(record, dict) and "deadLetter" in record:
        return _dead_letter(message_id, inserted_on, text, record, seal)
    reason = "the function failed on every attempt (maxDequeueCount); see the logs for this message id"
    return PoisonEntry(message_id, inserted_on, reason, tracking_id, None, text, None)


def _dead_letter(
    message_id: str, inserted_on: datetime | None, text: str, record: dict[str, Any], seal: Seal | None
) -> PoisonEntry:
    original = record.get("original")
    claimed = str(record.get("reason"))[:300]
    if seal is None:
        tracking_id = record.get("trackingId")
        return PoisonEntry(message_id, inserted_on, f"{claimed} ({UNCHECKED})",
                           tracking_id if is_tracking_id(tracking_id) else None, None,
                           original if isinstance(original, str) else text, None, "unchecked")  # fmt: skip
    try:
        record = seal.open(record)
    except Rejected:
        # Written by someone who may write to the poison queue: its reason, tracking id and field are not believed.
        reason = f"{NOT_OURS}: a dead letter without this deployment's seal; it says: {claimed}"
        return PoisonEntry(message_id, inserted_on, reason, None, "seal",
                           original if isinstance(original, str) else text, None, "forged")  # fmt: skip
    tracking_id = record.get("trackingId")
    field = record.get("field")
    return PoisonEntry(
        message_id, inserted_on, str(record.get("reason")), tracking_id if is_tracking_id(tracking_id) else None,
        field if isinstance(field, str) else None, original if isinstance(original, str) else "", record, "graphops",
    )  # fmt: skip


def list_entries(poison: QueueClient, *, seal: Seal | None) -> list[PoisonEntry]:
    """Up to 32 entries, oldest first, without taking them off the queue. ``poison`` must not decode.

    A fresh account has no poison queue until the first dead letter: that is no dead letters, not an error."""
    try:
        peeked = list(poison.peek_messages(max_messages=PEEK_LIMIT))
    except ResourceNotFoundError:
        return []
    return [entry_from(m.id, m.inserted_on, str(m.content), seal=seal) for m in peeked]


def message_ids_for(entries: list[PoisonEntry], names: set[str]) -> tuple[set[str], list[str]]:
    """The message ids ``names`` stand for: each a message id, or a tracking id naming every entry of that tracking
    (an operator reads tracking ids everywhere else); and the names that match no entry."""
    found: set[str] = set()
    unknown: list[str] = []
    for name in sorted(names):
        matched = {e.message_id for e in entries if name in (e.message_id, e.tracking_id)}
        found |= matched
        if not matched:
            unknown.append(name)
    return found, unknown


def revived(entry: PoisonEntry) -> str:
    """The message to send back: a delivery that gave up starts its attempts afresh."""
    doc = json_or_none(entry.original)
    # graphops' own dead letters are sealed and ready to go back as they are (a change would break the seal).
    if isinstance(doc, dict) and doc.get("v") == 1 and doc.get("phase") == "delivering" and "seal" not in doc:
        doc["deliveryAttempts"] = 0
        doc["lastDeliveryError"] = None
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    return entry.original


@dataclass(frozen=True)
class Requeued:
    """What a requeue did: the ids put back, and those refused with why (nothing graphops can read in them)."""

    moved: list[str]
    refused: dict[str, str]


def requeue(
    poison: QueueClient, main: QueueClient, ids: set[str] | None, *, seal: Seal | None, check: RequestCheck
) -> Requeued:
    """Move entries (all when ``ids`` is None) back to the main queue. An entry that cannot be requeued
    (``PoisonEntry.unrequeueable``) stays where it is, and is named in ``refused``. One that is not what it says it
    is goes back only as a producer's request that ``check`` finds nothing wrong with, exactly as it was written."""
    refused: dict[str, str] = {}

    def send_back(message: QueueMessage) -> bool:
        entry = entry_from(message.id, message.inserted_on, str(message.content), seal=seal)
        why = entry.unrequeueable
        if why is None and not entry.trusted:
            problem = check(entry.document or {})
            why = None if problem is None else f"{NOT_OURS}, and not a request the trigger takes: {problem}"
        if why is not None:
            refused[message.id] = why
            return False
        text = revived(entry) if entry.trusted else entry.original
        main.send_message(base64.b64encode(text.encode()).decode(), time_to_live=-1)
        return True

    return Requeued(_take(poison, ids, send_back), refused)


def discard(poison: QueueClient, ids: set[str]) -> list[str]:
    """Delete entries for good (a tracking nobody wants any more). Returns the ids deleted."""
    return _take(poison, ids, lambda message: True)


def _take(poison: QueueClient, ids: set[str] | None, handle: Callable[[QueueMessage], bool]) -> list[str]:
    """Handle, then delete, the entries asked for (all when ``ids`` is None) that ``handle`` took. Returns their ids.

    Entries that are not asked for, or not taken, stay hidden while the queue is searched, then show again at once.
    """
    taken: list[str] = []
    skipped: list[QueueMessage] = []
    try:
        while ids is None or not ids <= set(taken):
            try:
                batch = list(poison.receive_messages(max_messages=32, visibility_timeout=60))
            except ResourceNotFoundError:
                break  # a fresh account: no dead letter was ever written, so no poison queue yet
            if not batch:
                break
            for message in batch:
                if (ids is not None and message.id not in ids) or not handle(message):
                    skipped.append(message)
                    continue
                poison.delete_message(message)
                taken.append(message.id)
    finally:
        for message in skipped:
            poison.update_message(message, visibility_timeout=0)
    return taken
