"""A stand-in for Microsoft Graph's operation endpoints, answering from scripts.

Each operation path gets a script: a list of :class:`Reply`, one consumed per GET, the last one
repeated. Every request is recorded, and the stand-in checks what real Graph would and what the
tests promise: the bearer token was issued by the identity stand-in for Graph's audience, and no
request arrives before the Retry-After it was given.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote, urlsplit

from graphops.common.errors import Rejected
from graphops.graph.kinds import resolve_operation_url
from graphops.graph.reader import tenant_of
from graphops.local.httpserver import Response, StandIn
from graphops.local.seed import graph_error
from graphops.pacing.budget import Limit


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # a dict is sent as JSON, a str as it is
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering

    def payload(self) -> tuple[bytes, str]:
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain"
        if self.body is None:
            return b"", "application/json"
        return json.dumps(self.body).encode(), "application/json"


@dataclass(frozen=True)
class Call:
    at: float
    method: str
    path: str
    query: str
    status: int
    client_request_id: str | None
    priority: str | None = None  # x-ms-throttle-priority
    prefer: str | None = None  # Prefer
    wall: float = 0.0  # the wall clock at arrival (before any scripted delay): the window a limit counts it in
    tenant: str = ""  # the bearer token's tenant (its ``tid``)


class GraphStandIn(StandIn):
    def __init__(self, token_audience: Callable[[str], str | None], expected_audience: str, port: int = 0) -> None:
        super().__init__(port)
        self._audience_of = token_audience
        self.expected_audience = expected_audience.removesuffix("/.default")
        self._scripts: dict[str, list[Reply]] = {}
        self._actions: dict[tuple[str, str], Callable[[dict[str, Any]], Reply]] = {}
        self.calls: defaultdict[str, list[Call]] = defaultdict(list)
        self.violations: list[str] = []
        self._not_before: dict[str, float] = {}
        #: With limits (``enforce``), each Graph service's documented limit per tenant, as Graph applies them: in
        #: every window of the limit's length, wherever it starts (a sliding window, not a clock minute), a request
        #: past the limit is answered 429 (with Retry-After, but for the services that send none), and listed
        #: here as (time, tenant, service).
        self.limits: Mapping[str, Limit] = {}
        self.throttled: list[tuple[float, str, str]] = []
        self._admitted: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)
        self.wall: Callable[[], float] = time.time  # the clock limits count by (a test may move it)
        #: The directory's answers in a tenant (the token's ``tid``) to (method, path, query): what a tenant stand-in
        #: knows of the app's service principal and its grants (graphops.local.tenants); None for other requests.
        self.directory: Callable[[str, str, str, str], tuple[int, Any] | None] | None = None

    def enforce(self, limits: Mapping[str, Limit]) -> None:
        """Answer as Graph does when an app exceeds a service's limit in a tenant (the tenant read from the
        token's ``tid``; the service from the operation's kind)."""
        with self.lock:
            self.limits = dict(limits)

    def script(self, path: str, replies: Iterable[Reply]) -> None:
        """Answer GETs of ``path`` (as a client writes it) with ``replies`` in turn, then the last forever."""
        with self.lock:
            self._scripts[unquote(path)] = list(replies)

    def on_post(self, path: str, action: Callable[[dict[str, Any]], Reply]) -> None:
        self.on("POST", path, action)

    def on(self, method: str, path: str, action: Callable[[dict[str, Any]], Reply]) -> None:
        """Answer ``method`` requests to ``path`` with ``action(body)`` (the JSON body, {} when there is none)."""
        with self.lock:
            self._actions[(method, unquote(path))] = action

    def requests(self, method: str, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls[unquote(path)] if c.method == method]

    def gets(self, path: str) -> list[Call]:
        with self.lock:
            return [c for c in self.calls[unquote(path)] if c.method == "GET"]

    def total_calls(self) -> int:
        with self.lock:
            return sum(len(c) for c in self.calls.values())

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(path)
        key = unquote(parts.path)
        now, arrived = time.monotonic(), self.wall()  # Graph counts a request when it arrives, not when answered
        lower = {k.lower(): v for k, v in headers.items()}
        reply = self._reply(method, key, lower, body, now, arrived, parts.query)
        if reply.delay:
            time.sleep(reply.delay)
        with self.lock:
            self.calls[key].append(
                Call(now, method, key, parts.query, reply.status, lower.get("client-request-id"),
                     lower.get("x-ms-throttle-priority"), lower.get("prefer"), arrived,
                     tenant_of(lower.get("authorization", "").removeprefix("Bearer ")))
            )  # fmt: skip
            retry_after = reply.headers.get("Retry-After")
            if retry_after and retry_after.isdigit():
                self._not_before[key] = time.monotonic() + int(retry_after)
        payload, content_type = reply.payload()
        out = {"Content-Type": content_type, "request-id": str(uuid.uuid4()), **reply.headers}
        if "client-request-id" in lower:
            out["client-request-id"] = lower["client-request-id"]
        return reply.status, out, payload

    def _reply(
        self, method: str, key: str, headers: dict[str, str], body: bytes, now: float, arrived: float, query: str = ""
    ) -> Reply:
        auth = headers.get("authorization", "")
        audience = self._audience_of(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if audience != self.expected_audience:
            with self.lock:
                self.violations.append(f"{method} {key}: token for {audience!r}, want {self.expected_audience!r}")
            return Reply(401, graph_error("InvalidAuthenticationToken", "Access token validation failure."))
        throttled = self._over_limit(method, key, auth.removeprefix("Bearer "), now, arrived)
        if throttled is not None:
            return throttled
        known = self.directory(tenant_of(auth.removeprefix("Bearer ")), method, key, query) if self.directory else None
        if known is not None:
            return Reply(known[0], known[1])
        with self.lock:
            due = self._not_before.get(key)
            if due is not None and now < due:
                self.violations.append(f"{method} {key}: {due - now:.2f}s before Retry-After")
            if (method, key) in self._actions:
                action = self._actions[(method, key)]
            elif method == "GET" and key in self._scripts:
                script = self._scripts[key]
                return _evolvable(script.pop(0) if len(script) > 1 else script[0], headers.get("prefer", ""))
            else:
                return Reply(404, graph_error("Request_ResourceNotFound", f"Resource '{key}' does not exist."))
        try:
            doc = json.loads(body or b"{}")
        except ValueError:
            return Reply(400, graph_error("BadRequest", "Invalid JSON body."))
        return action(doc)

    def _over_limit(self, method: str, key: str, token: str, now: float, clock: float) -> Reply | None:
        """Graph's 429 when this request is one too many for its service in its tenant in the window of the limit's
        length that ends now; Retry-After is when the oldest request counted leaves it."""
        if method != "GET" or not self.limits:
            return None
        try:
            kind = resolve_operation_url(self.url + key, self.url).kind
        except Rejected:
            return None
        limit = self.limits.get(kind.service or "")
        if limit is None:
            return None
        tenant = tenant_of(token)
        with self.lock:
            admitted = self._admitted[(tenant, kind.service or "")]
            while admitted and admitted[0] <= clock - limit.window:
                admitted.popleft()  # out of every window that ends now or later
            if len(admitted) < limit.requests:
                admitted.append(clock)
                return None
            self.throttled.append((now, tenant, kind.service or ""))
            wait = math.ceil(admitted[0] + limit.window - clock)  # when the oldest leaves the window
        headers = {} if kind.service in NO_RETRY_AFTER else {"Retry-After": str(max(1, wait))}
        return Reply(429, graph_error("TooManyRequests", "Too many requests"), headers)


#: Services whose 429 carries no Retry-After (personal data exports): the client backs off on its own.
NO_RETRY_AFTER = frozenset({"dataExport"})


# Members of Graph's evolvable enums added after unknownFutureValue, which Graph answers only to a request that
# asks with `Prefer: include-unknown-enum-members` (and as unknownFutureValue otherwise).
LATE_MEMBERS = frozenset({"failed"})


def _evolvable(reply: Reply, prefer: str) -> Reply:
    """A restore session's `failed` as Graph sends it: only when the request asked for late enum members."""
    body = reply.body
    late = isinstance(body, dict) and "RestoreSession" in str(body.get("@odata.type", "")) and body.get("status")
    if late in LATE_MEMBERS and "include-unknown-enum-members" not in prefer:
        return replace(reply, body={**body, "status": "unknownFutureValue"})
    return reply
