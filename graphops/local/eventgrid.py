"""A stand-in for an Event Grid topic's publish endpoint, over TLS with a certificate from a test CA.

It checks what Event Grid checks of a publisher with Entra ID: a bearer token issued for
``https://eventgrid.azure.net`` (the identity stand-in says which audience it issued a token for), the
CloudEvents batch content type, and each event against the CloudEvents 1.0 JSON format. Answers come from a
script (200 unless told otherwise), so a test can make the topic fail, throttle or refuse.
"""

from __future__ import annotations

import json
import re
import ssl
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jsonschema
import trustme

from graphops.local.graph import Reply
from graphops.local.httpserver import Response, StandIn, json_response

AUDIENCE = "https://eventgrid.azure.net"
# The CloudEvents 1.0 JSON format (github.com/cloudevents/spec, cloudevents/formats/json-format.md): the required
# attributes and their types, the optional ones, and extension attributes (lower-case letters and digits).
CLOUDEVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["id", "source", "specversion", "type"],
    "properties": {
        "id": {"type": "string", "minLength": 1},
        "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
        "specversion": {"const": "1.0"},
        "type": {"type": "string", "minLength": 1},
        "datacontenttype": {"type": "string", "minLength": 1},
        "dataschema": {"type": "string", "format": "uri"},
        "subject": {"type": "string", "minLength": 1},
        "time": {"type": "string", "format": "date-time"},
        "data": {},
        "data_base64": {"type": "string"},
    },
    "propertyNames": {"pattern": "^([a-z0-9]{1,20}|data_base64)$"},
    "not": {"required": ["data", "data_base64"]},
}
_VALIDATOR = jsonschema.Draft202012Validator(CLOUDEVENT_SCHEMA)
_RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


@dataclass(frozen=True)
class Publish:
    at: float
    status: int
    events: list[dict[str, Any]] = field(default_factory=list)


class EventGridStandIn(StandIn):
    def __init__(self, token_audience: Callable[[str], str | None], ca: trustme.CA, port: int = 0) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        super().__init__(port, tls=context)
        self._audience_of = token_audience
        self._replies: list[Reply] = []
        self.events: list[dict[str, Any]] = []  # accepted (answered 200), in order
        self.publishes: list[Publish] = []
        self.violations: list[str] = []

    @property
    def endpoint(self) -> str:
        """What GRAPHOPS_EVENT_GRID_ENDPOINT names: the topic's publish endpoint."""
        return f"{self.url}/api/events"

    def script(self, replies: Iterable[Reply]) -> None:
        """Answer the next publishes with ``replies`` in turn, then 200 again."""
        with self.lock:
            self._replies = list(replies)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        lower = {k.lower(): v for k, v in headers.items()}
        parts = urlsplit(path)
        if method != "POST" or parts.path != "/api/events":
            return json_response(404, {"error": {"code": "NotFound", "message": f"{method} {parts.path}"}})
        problem = self._problem(lower, parts.query)
        events: list[dict[str, Any]] = []
        if problem is None:
            events, problem = _events(body)
        if problem is not None:
            status, message = problem
            with self.lock:
                self.violations.append(message)
                self.publishes.append(Publish(time.monotonic(), status))
            return json_response(status, {"error": {"code": "BadRequest", "message": message}})
        with self.lock:
            reply = self._replies.pop(0) if self._replies else Reply(200)
            self.publishes.append(Publish(time.monotonic(), reply.status, events))
            if reply.status == 200:
                self.events.extend(events)
        payload, content_type = reply.payload()
        return reply.status, {"Content-Type": content_type, **reply.headers}, payload

    def _problem(self, headers: dict[str, str], query: str) -> tuple[int, str] | None:
        if "api-version" not in parse_qs(query):
            return 400, "no api-version"
        auth = headers.get("authorization", "")
        audience = self._audience_of(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") else None
        if audience is None or audience.rstrip("/") != AUDIENCE:
            return 401, f"token for {audience!r}, want {AUDIENCE!r}"
        if any(name in headers for name in ("aeg-sas-key", "aeg-sas-token")):
            return 401, "access keys are disabled on this topic"
        if not headers.get("content-type", "").startswith("application/cloudevents-batch+json"):
            return 400, f"content type {headers.get('content-type')!r}, want application/cloudevents-batch+json"
        return None


def _events(body: bytes) -> tuple[list[dict[str, Any]], tuple[int, str] | None]:
    try:
        events = json.loads(body)
    except ValueError:
        return [], (400, "body is not JSON")
    if not isinstance(events, list) or not events:
        return [], (400, "a batch must be a non-empty JSON array")
    for event in events:
        errors = sorted(_VALIDATOR.iter_errors(event), key=str)
        if errors:
            return [], (400, f"not a CloudEvents 1.0 event: {errors[0].message}")
        # The formats, checked here rather than by optional jsonschema plug-ins: RFC 3339 time, a URI reference.
        if "time" in event and not _RFC3339.fullmatch(event["time"]):
            return [], (400, f"not a CloudEvents 1.0 event: time {event['time']!r} is not RFC 3339")
        if any(c.isspace() for c in event["source"]) or not event["source"].isascii():
            return [], (400, f"not a CloudEvents 1.0 event: source {event['source']!r} is not a URI reference")
    return events, None


def write_ca(ca: trustme.CA, folder: Path) -> Path:
    """The test CA's certificate as a PEM file (for REQUESTS_CA_BUNDLE)."""
    path = folder / "graphops-local-ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path
