"""One answer from Graph (or from a monitor), as the readers hand it to the decisions above them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class GraphAnswer:
    """One answer from Graph, or the lack of one (``status_code`` None, ``failure`` says why)."""

    status_code: int | None
    body: Any = None  # parsed JSON, or None when the body was not JSON
    retry_after: float | None = None
    request_id: str | None = None  # Graph's request-id, for support cases
    client_request_id: str | None = None  # ours, sent as client-request-id
    failure: str | None = None
    #: Why there is no answer, when there is none: "noToken" (the credential gave no token), "noConsent" (a customer
    #: tenant refused the app a token: it has not consented), "unreachable" (no connection) or "timeout"
    #: (connected, no answer in time). None when Graph answered.
    failed: str | None = None
    location: str | None = None  # a 202's Location header, when Graph starts an operation
    #: The headers that can name an operation Graph started (Location, Operation-Location, Content-Location),
    #: by lower-case name.
    headers: Mapping[str, str] = field(default_factory=dict)
