"""Reading a drive-copy monitor: a URL on the tenant's SharePoint host that takes no token.

The URL is a caller's, so it goes through the callbacks' rules: https, an allowed host
(GRAPHOPS_MONITOR_ALLOWED_HOSTS), every resolved address public, the connection pinned to the address
checked. No Authorization header is ever sent, redirects are read and never followed, and the URL's
query (its `tempauth` credential) is never logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from urllib.parse import urlsplit

import urllib3

from graphops.common.errors import Rejected
from graphops.common.telemetry import answered, client_span, http_attributes
from graphops.common.text import scrubbed
from graphops.egress.pinned import PinnedPools
from graphops.egress.policy import CallbackPolicy
from graphops.egress.retry_after import parse_retry_after
from graphops.graph.answer import GraphAnswer

MAX_BODY_BYTES = 1024 * 1024


class MonitorClient:
    def __init__(
        self,
        policy: CallbackPolicy,
        *,
        user_agent: str = "graphops",
        timeout: urllib3.Timeout | None = None,
        pool_size: int = 16,
        ca_certs: str | None = None,
    ) -> None:
        self._policy = policy
        self._user_agent = user_agent
        self._pools = PinnedPools(
            timeout or urllib3.Timeout(connect=5.0, read=30.0), pool_size=pool_size, ca_certs=ca_certs
        )

    def get_operation(self, url: str, select: Sequence[str] = ()) -> GraphAnswer:
        """GET the monitor. A redirect means the copy is done: its Location names the new item."""
        with client_span("GET monitor", http_attributes("GET", url)) as span:  # the query (tempauth) is cut
            answer = self._get(url)
            answered(span, answer.status_code)
            return answer

    def _get(self, url: str) -> GraphAnswer:
        try:
            target = self._policy.target(url)
        except Rejected as exc:
            return GraphAnswer(None, failure=f"monitor host refused: {exc.problem}")
        except OSError:
            return GraphAnswer(None, failure="could not resolve the monitor host")
        parts = urlsplit(url)
        headers = {
            "Accept": "application/json",
            "User-Agent": self._user_agent,
            "Host": target.host if parts.port is None else f"{target.host}:{target.port}",
        }
        try:
            response = self._pools.send(target, "GET", url, headers)
        except urllib3.exceptions.HTTPError as exc:
            return GraphAnswer(None, failure=f"monitor did not answer: {type(exc).__name__}")
        location = response.headers.get("Location")
        if 300 <= response.status < 400 and location:
            # Read, never followed: the copy is complete and the redirect points at it.
            done = {"status": "completed", "resourceLocation": location, "@graphops.redirect": response.status}
            return GraphAnswer(200, done, location=location)
        body = None
        if len(response.data) <= MAX_BODY_BYTES:
            try:
                body = scrubbed(json.loads(response.data))  # its text made encodable (graphops.common.text)
            except ValueError:
                body = None
        retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
        return GraphAnswer(response.status, body, retry_after=retry_after)
