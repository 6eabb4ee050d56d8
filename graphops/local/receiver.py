"""A callback receiver that verifies Standard Webhooks signatures, like a careful endpoint would."""

from __future__ import annotations

import json
import ssl
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from graphops.local.httpserver import Response, StandIn


@dataclass(frozen=True)
class Received:
    at: float
    path: str
    webhook_id: str | None
    verified: bool
    body: Any
    status: int  # what the receiver answered
    authorization: str | None  # must always be None: no token ever goes to a callback
    headers: dict[str, str] = field(default_factory=dict)  # as sent, names in lower case


class CallbackReceiver(StandIn):
    """Records every POST; answers from a per-path script (default 200)."""

    def __init__(
        self, secret: str | None, save_to: Path | None = None, port: int = 0, tls: ssl.SSLContext | None = None
    ) -> None:
        super().__init__(port, tls=tls)
        self._verifier = Webhook(secret) if secret else None
        self._save_to = save_to
        self._scripts: dict[str, list[tuple[int, dict[str, str]]]] = {}
        self._delays: dict[str, float] = {}
        self.received: list[Received] = []

    def slow(self, path: str, seconds: float) -> None:
        """Take ``seconds`` before answering POSTs to ``path`` (a receiver slower than the caller's timeout)."""
        with self.lock:
            self._delays[path] = seconds

    def answer(self, path: str, *statuses: int | tuple[int, dict[str, str]]) -> None:
        """Answer POSTs to ``path`` with these statuses in turn, then 200."""
        with self.lock:
            self._scripts[path] = [s if isinstance(s, tuple) else (s, {}) for s in statuses]

    def by_id(self) -> dict[str, list[Received]]:
        out: dict[str, list[Received]] = {}
        with self.lock:
            for item in self.received:
                out.setdefault(item.webhook_id or "", []).append(item)
        return out

    def delivered(self) -> list[Received]:
        """The callbacks this receiver accepted (answered 2xx)."""
        with self.lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        route = urlsplit(path).path
        lower = {k.lower(): v for k, v in headers.items()}
        verified = False
        try:
            doc = json.loads(body)
            if self._verifier is not None:
                self._verifier.verify(body, lower)
                verified = True
        except (ValueError, WebhookVerificationError):
            doc = None
        with self.lock:
            delay = self._delays.get(route, 0.0)
        if delay:
            time.sleep(delay)
        with self.lock:
            script = self._scripts.get(route)
            status, extra = script.pop(0) if script else (200, {})
            item = Received(
                time.monotonic(), route, lower.get("webhook-id"), verified, doc, status, lower.get("authorization"),
                lower,
            )  # fmt: skip
            self.received.append(item)
        if self._save_to is not None and 200 <= status < 300 and item.webhook_id:
            self._save_to.mkdir(parents=True, exist_ok=True)
            record = {"path": route, "webhookId": item.webhook_id, "signatureVerified": verified, "body": doc}
            (self._save_to / f"{item.webhook_id}.json").write_text(json.dumps(record, indent=2))
        return status, {"Content-Type": "application/json", **extra}, b'{"ok": true}' if status < 300 else b"{}"
