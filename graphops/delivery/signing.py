"""Standard Webhooks signatures: what a callback POST carries as headers, and a results-queue message beside its
body, so a receiver and a queue consumer verify graphops' results with the one callback secret."""

from __future__ import annotations

from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook

from graphops.common.unresolved import Unresolved


class WebhookSigner:
    """Signs with ``GRAPHOPS_CALLBACK_SECRET``; with no secret configured, results carry no signature."""

    def __init__(self, secret: str | None, pending: Unresolved | None = None) -> None:
        self._signer = Webhook(secret) if secret else None
        #: A configured secret that cannot be read yet (an unresolved Key Vault reference): nothing is sent then,
        #: rather than something unsigned; the delivery is held, not counted as an attempt.
        self.pending = pending

    def headers(self, webhook_id: str, now: datetime, payload: str) -> dict[str, str]:
        """``webhook-id``, ``webhook-timestamp`` and, with a secret, ``webhook-signature`` over ``payload`` (the
        body exactly as sent)."""
        headers = {"webhook-id": webhook_id, "webhook-timestamp": str(int(now.timestamp()))}
        if self._signer is not None:
            headers["webhook-signature"] = self._signer.sign(webhook_id, now.astimezone(UTC), payload)
        return headers
