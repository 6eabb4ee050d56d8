"""Reading an operation's status from Microsoft Graph with the app's identity."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import requests
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError

from graphops.common.telemetry import answered, client_span, http_attributes
from graphops.common.text import scrubbed
from graphops.egress.retry_after import parse_retry_after
from graphops.graph.answer import GraphAnswer

log = logging.getLogger("graphops.graph")
MAX_BODY_BYTES = 1024 * 1024
OPERATION_HEADERS = ("Location", "Operation-Location", "Content-Location")
TENANT_ID = re.compile(r"[0-9a-fA-F-]{36}")
# Entra's refusals of a token in a tenant that has not consented to the app (or does not know it): nothing but an
# administrator's consent changes them, so a tracking in that tenant ends instead of waiting for a token. A federated
# credential that does not match the identity (AADSTS700211-700213) is the deployment's fault, in every tenant at
# once: it is waited out and warned of, as the home identity's own token trouble is.
NO_CONSENT_CODES = ("AADSTS65001", "AADSTS700016", "AADSTS7000215")


@dataclass(frozen=True)
class TenantAccess:
    """How a customer tenant is reached: its id and name, the app it consented to, and that app's credential."""

    tenant_id: str
    name: str
    client_id: str
    credential: TokenCredential

    @property
    def where(self) -> str:
        return f"in tenant {self.name} ({self.tenant_id}) for the app {self.client_id}"


class GraphClient:
    """GETs operation URLs from the configured Graph host, and sends its token nowhere else."""

    def __init__(
        self,
        session: requests.Session,
        credential: TokenCredential,
        scope: str,
        graph_endpoint: str,
        *,
        timeout: tuple[float, float] = (5.0, 30.0),
        tenants: Callable[[str], TenantAccess | None] | None = None,
        access: TenantAccess | None = None,
    ) -> None:
        self._session = session
        self._credential = credential
        self._scope = scope
        self._endpoint = graph_endpoint
        self._netloc = urlsplit(graph_endpoint).netloc
        self._timeout = timeout
        self._tenants = tenants  # a customer tenant's access, built once per tenant (graphops.wiring)
        self.access = access  # the customer tenant this client reads; None: the identity's home tenant
        self._by_tenant: dict[str, GraphClient] = {}
        self._lock = threading.Lock()

    def for_tenant(self, tenant_id: str | None) -> GraphClient:
        """The client for a tracking in ``tenant_id`` (None: the home tenant, this client): its own credential and
        token cache, made on first use and kept. A tenant the deployment does not serve gets a client that never
        has a token."""
        if tenant_id is None or self.access is not None:
            return self
        with self._lock:
            client = self._by_tenant.get(tenant_id)
            if client is None:
                access = self._tenants(tenant_id) if self._tenants else None
                access = access or TenantAccess(tenant_id, tenant_id, "(none)", _NoCredential(tenant_id))
                client = GraphClient(self._session, access.credential, self._scope, self._endpoint,
                                     timeout=self._timeout, access=access)  # fmt: skip
                self._by_tenant[tenant_id] = client
            return client

    def tenant(self) -> str:
        """The tenant graphops' identity reads (its token's ``tid``), which the throttling budgets are kept per;
        "" when the token says none."""
        try:
            return tenant_of(self._credential.get_token(self._scope).token)
        except AzureError:
            return ""

    def get_operation(self, url: str, select: Sequence[str] = ()) -> GraphAnswer:
        """GET an operation; ``select`` (the kind's status property first) narrows what Graph sends, joined to a
        ``$select`` the URL already has rather than sent twice."""
        if select:
            url = with_select(url, select)
        headers = {
            # Graph throttles low-priority requests first: a status poll can wait, a person's request cannot.
            "x-ms-throttle-priority": "low",
            # Evolvable enums hide members added after unknownFutureValue unless asked: a restore session's
            # `failed` is one. An unknown member reads as running either way; a known one may end the tracking.
            "Prefer": "include-unknown-enum-members",
        }
        return self._send("GET", url, headers=headers)

    def send(
        self, method: str, url: str, body: Mapping[str, Any] | None = None, *, client_request_id: str | None = None
    ) -> GraphAnswer:
        """Send a request that starts an operation; the answer carries the headers that name it.

        ``client_request_id`` is chosen (and recorded) by the caller, so support can find a request whose answer
        never arrived.
        """
        return self._send(method, url, body, client_request_id=client_request_id)

    def _send(
        self,
        method: str,
        url: str,
        body: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        *,
        client_request_id: str | None = None,
    ) -> GraphAnswer:
        if urlsplit(url).netloc != self._netloc:
            # URLs are checked on the way in; this is the last line that keeps the token home.
            raise ValueError(f"refusing to send the Graph token to {urlsplit(url).netloc}")
        token = self._token()
        if isinstance(token, GraphAnswer):
            return token
        client_request_id = client_request_id or str(uuid.uuid4())
        attributes = {**http_attributes(method, url), "graphops.client_request_id": client_request_id}
        with client_span(f"{method} Graph", attributes) as span:
            answer = self._exchange(method, url, token, client_request_id, body, headers)
            answered(span, answer.status_code)
            if answer.request_id:
                span.set_attribute("graphops.graph_request_id", answer.request_id)
            return answer

    def token_claims(self) -> dict[str, Any] | GraphAnswer:
        """The claims of the token this client sends (read unchecked: it is graphops' own token, as Entra issued
        it), or the answer saying why there is none."""
        token = self._token()
        return token if isinstance(token, GraphAnswer) else claims_of(token)

    def _token(self) -> str | GraphAnswer:
        try:
            token = self._credential.get_token(self._scope).token
        except AzureError as exc:
            # The credential's own first line only: a chain's message runs to a paragraph per credential tried.
            return self._no_token(credential_reason(exc))
        if self.access is not None and tenant_of(token) != self.access.tenant_id:
            # A token of another tenant is never sent for this tenant's operation, whatever the credential did.
            return GraphAnswer(None, failure=f"no token: the token is not for tenant {self.access.tenant_id}",
                               failed="noToken")  # fmt: skip
        return token

    def _no_token(self, reason: str) -> GraphAnswer:
        if self.access is not None and any(code in reason for code in NO_CONSENT_CODES):
            failure = f"no consent {self.access.where}: an administrator must consent to the app ({reason})"
            return GraphAnswer(None, failure=failure, failed="noConsent")
        return GraphAnswer(None, failure=f"no token: {reason}", failed="noToken")

    def _exchange(
        self,
        method: str,
        url: str,
        token: str,
        client_request_id: str,
        body: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
    ) -> GraphAnswer:
        sent = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "client-request-id": client_request_id,
            "return-client-request-id": "true",
            **(headers or {}),
        }
        try:
            response = self._session.request(
                method, url, headers=sent, json=body, timeout=self._timeout, allow_redirects=False
            )
        except requests.Timeout as exc:
            return GraphAnswer(None, failure=f"Graph did not answer in time: {type(exc).__name__}", failed="timeout")
        except requests.RequestException as exc:
            return GraphAnswer(None, failure=f"Graph did not answer: {type(exc).__name__}", failed="unreachable")
        request_id = response.headers.get("request-id")
        log.debug("graph %s %s client-request-id=%s request-id=%s", method, response.status_code, client_request_id,
                  request_id)  # fmt: skip
        parsed = None
        if len(response.content) <= MAX_BODY_BYTES:
            try:
                parsed = scrubbed(response.json())  # Graph's text, made encodable (graphops.common.text)
            except ValueError:
                parsed = None
        return GraphAnswer(
            response.status_code,
            parsed,
            retry_after=parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC)),
            request_id=request_id,
            client_request_id=client_request_id,
            location=response.headers.get("Location"),
            headers={name.lower(): response.headers[name] for name in OPERATION_HEADERS if name in response.headers},
        )


# Whatever looks like a token or a key in a credential's message (a JWT, a long base64 run, a name=value secret) is cut
# before it is kept or shown: the message is the identity library's, and may quote what it was sent.
_SECRET_LOOKING = re.compile(
    r"eyJ[\w-]+\.[\w-]+\.[\w-]*|[A-Za-z0-9+/_-]{40,}={0,2}|"
    r"((?:secret|password|token|key|signature|sig|assertion)[\"']?\s*[=:]\s*)[^\s,;&\"']+",
    re.IGNORECASE,
)
MAX_REASON_CHARS = 200


def credential_reason(exc: AzureError) -> str:
    """A credential's failure in one line: its message's first line, anything secret-looking cut, bounded."""
    text = str(getattr(exc, "message", None) or exc or type(exc).__name__)
    line = next((part.strip() for part in text.splitlines() if part.strip()), type(exc).__name__)
    line = _SECRET_LOOKING.sub(lambda m: (m.group(1) or "") + "…", line)
    return line if len(line) <= MAX_REASON_CHARS else line[: MAX_REASON_CHARS - 1] + "…"


class _NoCredential:
    """The credential of a tenant the deployment does not serve (no longer in GRAPHOPS_TENANTS): never a token."""

    def __init__(self, tenant_id: str) -> None:
        self._tenant_id = tenant_id

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        raise AzureError(f"tenant {self._tenant_id} is not in GRAPHOPS_TENANTS")


def claims_of(token: str) -> dict[str, Any]:
    """A JWT's claims, read without checking the signature (graphops' own token, read for what it says); empty when
    it is not a JWT."""
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, binascii.Error):
        return {}
    return claims if isinstance(claims, dict) else {}


def tenant_of(token: str) -> str:
    """A JWT's ``tid`` claim, read without checking the signature: it is graphops' own token, read for a key."""
    tid = claims_of(token).get("tid")
    return tid if isinstance(tid, str) and TENANT_ID.fullmatch(tid) else ""


def with_select(url: str, select: Sequence[str]) -> str:
    """``url`` asking for ``select`` too: in its own ``$select`` when it has one, else in a new one."""
    parts = urlsplit(url)
    items = parts.query.split("&") if parts.query else []
    given = next((item for item in items if item.startswith("$select=")), None)
    names = [*(unquote(given.removeprefix("$select=")).split(",") if given else []), *select]
    merged = "$select=" + ",".join(dict.fromkeys(name for name in names if name))
    query = "&".join(merged if item == given else item for item in items) if given else "&".join([*items, merged])
    return urlunsplit(parts._replace(query=query))
