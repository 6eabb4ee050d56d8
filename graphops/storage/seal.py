"""graphops' own queue messages and dead letters are sealed: an HMAC-SHA256 over the message with a key queue
producers do not hold.

Anyone who may write to the tracking queue (a producer with Storage Queue Data Message Sender) can put any text
there. A tracking's later steps (envelopes: phase, outcome, tracking id, deliveries) and a start's retries
(tracking id, attempts) are graphops' own: acting on a forged one would deliver a signed result Graph never
gave. So graphops seals what it writes and opens what it reads; a message that claims to be internal without a
seal that opens is rejected, never acted on. Producers' requests carry no seal and may not set those fields.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any

from graphops.common.errors import Rejected, SettingsError
from graphops.common.unresolved import Unresolved

SEAL = "seal"
# Fields only graphops writes: a message with any of them is internal, and must carry a seal.
INTERNAL_FIELDS = frozenset({"v", "trackingId", "startAttempts", "notBefore", SEAL})
MIN_KEY_BYTES = 32


@dataclass(frozen=True)
class Seal:
    """Seals messages with ``key``; opens those sealed with it or with ``previous`` (while a key is rotated)."""

    key: bytes = field(repr=False)
    previous: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        for name, key in (("key", self.key), ("previous", self.previous)):
            if key is not None and len(key) < MIN_KEY_BYTES:
                raise ValueError(f"the {name} must be at least {MIN_KEY_BYTES} bytes")

    def seal(self, text: str) -> str:
        """The JSON message ``text`` with its seal added."""
        return json.dumps(self.sealed(json.loads(text)), separators=(",", ":"), ensure_ascii=False)

    def sealed(self, doc: dict[str, Any]) -> dict[str, Any]:
        """``doc`` with its seal added (a dead letter, written as the queue takes it)."""
        body = {name: value for name, value in doc.items() if name != SEAL}
        return {**body, SEAL: _mac(self.key, body)}

    def enclose(self, doc: dict[str, Any]) -> str:
        """``doc`` encrypted (AES-GCM, a key derived from the seal's): what graphops keeps of a request to track it
        again, callback URL included, where readers of the state table see nothing of it."""
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # PyJWT's crypto extra brings it

        nonce = os.urandom(12)
        text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode()
        return base64.urlsafe_b64encode(nonce + AESGCM(_enclosing_key(self.key)).encrypt(nonce, text, None)).decode()

    def disclose(self, text: str) -> dict[str, Any] | None:
        """What :meth:`enclose` kept, with this key or the previous one; None when neither opens it."""
        from cryptography.exceptions import InvalidTag
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        try:
            raw = base64.urlsafe_b64decode(text.encode())
        except (ValueError, binascii.Error):
            return None
        for key in (self.key,) if self.previous is None else (self.key, self.previous):
            try:
                doc = json.loads(AESGCM(_enclosing_key(key)).decrypt(raw[:12], raw[12:], None))
            except (InvalidTag, ValueError):
                continue
            return doc if isinstance(doc, dict) else None
        return None

    def open(self, doc: dict[str, Any]) -> dict[str, Any]:
        """The message without its seal, when the seal is graphops' own. Raises :class:`Rejected` naming
        ``seal`` otherwise: the message is not to be acted on."""
        given = doc.get(SEAL)
        if not isinstance(given, str):
            fields = ", ".join(sorted(INTERNAL_FIELDS & set(doc)))
            raise Rejected(SEAL, f"missing: {fields} may be set by graphops only, in messages it seals")
        body = {name: value for name, value in doc.items() if name != SEAL}
        keys = (self.key,) if self.previous is None else (self.key, self.previous)
        if not any(hmac.compare_digest(given, _mac(key, body)) for key in keys):
            raise Rejected(SEAL, "does not match: the message was not written by this graphops, or was changed")
        return body


def is_internal(doc: dict[str, Any]) -> bool:
    """Whether a message claims to be graphops' own (and so must open with the seal)."""
    return not INTERNAL_FIELDS.isdisjoint(doc)


def _enclosing_key(key: bytes) -> bytes:
    # A key of its own for encryption, never the MAC's: one key, one use.
    return hmac.new(key, b"graphops track-again requests", hashlib.sha256).digest()


def _mac(key: bytes, doc: dict[str, Any]) -> str:
    # One canonical text whatever the spacing or key order on the wire: sorted keys, no spaces, ASCII escapes.
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()
    digest = hmac.new(key, canonical, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class NoKey:
    """Stands in for the :class:`Seal` while an envelope key's Key Vault reference is not resolved: the step and
    the API check for it first and wait; sealing or opening anyway raises, naming the setting, so nothing goes
    out unsealed and no message is taken for forged."""

    unresolved: Unresolved

    def seal(self, text: str) -> str:
        raise SettingsError(self.unresolved.setting, self.unresolved.problem)

    def sealed(self, doc: dict[str, Any]) -> dict[str, Any]:
        raise SettingsError(self.unresolved.setting, self.unresolved.problem)

    def open(self, doc: dict[str, Any]) -> dict[str, Any]:
        raise SettingsError(self.unresolved.setting, self.unresolved.problem)

    def enclose(self, doc: dict[str, Any]) -> str:
        raise SettingsError(self.unresolved.setting, self.unresolved.problem)

    def disclose(self, text: str) -> dict[str, Any] | None:
        raise SettingsError(self.unresolved.setting, self.unresolved.problem)
