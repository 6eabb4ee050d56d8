"""Calling a callback URL: the signed Standard Webhooks POST, to the address its policy checked.

:class:`Deliverer` sends one attempt and says how it went (:class:`DeliveryResult`); the step decides what
comes next.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import urllib3

from graphops.common.errors import Rejected
from graphops.common.telemetry import inject
from graphops.common.unresolved import Unresolved
from graphops.common.urls import DEFAULT_PORTS
from graphops.delivery.signing import WebhookSigner
from graphops.egress.pinned import PinnedPools
from graphops.egress.policy import CallbackPolicy
from graphops.egress.retry_after import parse_retry_after

_QUERY = re.compile(r"\?\S*")  # a query string in an error text (Logic Apps puts its sig= there)


@dataclass(frozen=True)
class DeliveryResult:
    """What one POST to a callback URL came to."""

    delivered: bool
    retryable: bool
    detail: str
    status_code: int | None = None
    retry_after: float | None = None
    # Not attempted: a setting it needs cannot be read yet. Not an attempt, so it counts against no limit.
    held: bool = False


# Asking again may help: a timeout, "too early", throttling, and every server error (5xx, 501 and 505-511
# included: a receiver behind a gateway answers with any of them while it is being deployed).
RETRYABLE_STATUS = frozenset({408, 425, 429, *range(500, 600)})


class Deliverer:
    """POSTs a tracking's result to its callback URL, signed per Standard Webhooks.

    One pool of connections per (host, pinned address); redirects are never followed.
    """

    def __init__(
        self,
        policy: CallbackPolicy,
        secret: str | None,
        *,
        timeout: urllib3.Timeout | None = None,
        user_agent: str = "graphops",
        max_pools: int = 64,
        pool_size: int = 16,
        ca_certs: str | None = None,
        unresolved: Unresolved | None = None,
    ) -> None:
        self._policy = policy
        #: Signs callbacks; the results queue signs with it too. Pending: the secret is configured but not readable
        #: yet (an unresolved Key Vault reference), so nothing is sent, never anything unsigned.
        self.signer = WebhookSigner(secret, unresolved)
        self._user_agent = user_agent
        self._pools = PinnedPools(
            timeout or urllib3.Timeout(connect=5.0, read=15.0), max_pools=max_pools, pool_size=pool_size,
            ca_certs=ca_certs,
        )  # fmt: skip

    def deliver(self, url: str, webhook_id: str, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        """POST ``body`` once. Never raises: whatever goes wrong is a failed delivery with its reason."""
        try:
            return self._post(url, webhook_id, body, now)
        except Exception as exc:
            # A failure nobody foresaw is final for this attempt and goes to the poison queue with its reason,
            # rather than failing the step and asking Graph again on every retry of the message.
            detail = _QUERY.sub("?…", f"{type(exc).__name__}: {exc}")[:300]
            return DeliveryResult(False, False, f"unexpected error while delivering: {detail}")

    def _post(self, url: str, webhook_id: str, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        if self.signer.pending is not None:
            return DeliveryResult(False, True, self.signer.pending.waiting, held=True)
        try:
            target = self._policy.target(url)
        except Rejected as exc:
            return DeliveryResult(False, False, str(exc))
        except OSError as exc:
            return DeliveryResult(False, True, f"could not resolve the callback host: {exc}")
        payload = json.dumps(body, separators=(",", ":"), ensure_ascii=False)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": self._user_agent,
            "Host": target.host if target.port == DEFAULT_PORTS[target.scheme] else f"{target.host}:{target.port}",
            **self.signer.headers(webhook_id, now, payload),
        }
        inject(headers)  # traceparent: the receiver's trace (a Logic Apps run) continues graphops' delivery span
        try:
            response = self._pools.send(target, "POST", url, headers, payload.encode())
        except urllib3.exceptions.HTTPError as exc:
            return DeliveryResult(False, True, f"callback not reachable: {type(exc).__name__}")
        status = response.status
        if 200 <= status < 300:
            return DeliveryResult(True, False, f"delivered ({status})", status)
        retry_after = parse_retry_after(response.headers.get("Retry-After"), now)
        if 300 <= status < 400:
            return DeliveryResult(False, False, f"callback answered {status}; redirects are not followed", status)
        if status in RETRYABLE_STATUS:
            return DeliveryResult(False, True, f"callback answered {status}", status, retry_after)
        return DeliveryResult(False, False, f"callback answered {status}", status)
