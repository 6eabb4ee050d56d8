"""A stand-in for a SharePoint drive-copy monitor: answers GETs from scripts, and records whether anyone
sent it a token (nobody may: the monitor URL carries its own authorization)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from graphops.local.graph import Reply
from graphops.local.httpserver import Response, StandIn


@dataclass(frozen=True)
class MonitorCall:
    path: str
    query: str
    authorization: str | None


class MonitorStandIn(StandIn):
    def __init__(self, port: int = 0) -> None:
        super().__init__(port)
        self._scripts: dict[str, list[Reply]] = {}
        self.calls: list[MonitorCall] = []

    def script(self, path: str, replies: Iterable[Reply]) -> None:
        with self.lock:
            self._scripts[unquote(path)] = list(replies)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(path)
        key = unquote(parts.path)
        lower = {k.lower(): v for k, v in headers.items()}
        with self.lock:
            self.calls.append(MonitorCall(key, parts.query, lower.get("authorization")))
            script = self._scripts.get(key)
            reply = (script.pop(0) if len(script) > 1 else script[0]) if script else Reply(404, {"error": "none"})
        payload = json.dumps(reply.body).encode() if reply.body is not None else b""
        return reply.status, {"Content-Type": "application/json", **reply.headers}, payload
