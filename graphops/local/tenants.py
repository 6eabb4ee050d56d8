"""A stand-in for Entra ID's token endpoint in customer tenants, for a multitenant app that trusts a managed
identity as its federated credential; and the directory reads (the app's service principal and its app-role
assignments) that ``graphops consent check`` falls back to through Graph when a token has no ``roles`` claim.

It follows what these sources say Entra does, so azure-identity's real ``ClientAssertionCredential`` runs against
it unchanged:

- Entra's "Configure an application to trust a managed identity" guide (workload identity federation): the
  federated credential's issuer ``https://login.microsoftonline.com/{home tenant}/v2.0``, its subject the identity's
  principal id (compared case-sensitively), its audience ``api://AzureADTokenExchange``;
- Entra's access token claims reference: an app-only token's ``roles`` lists the application permissions granted
  to the app in the token's tenant (``tid``), and the claim is left out when none is granted;
- Entra's error codes reference: AADSTS700016 (the app not found in the directory: no consent), AADSTS65001 (not
  consented), AADSTS700211/700212/700213 (no federated identity record matches the assertion's issuer, audience
  or subject), AADSTS50027 (an assertion that is not a valid token);
- azure-identity's ``ClientAssertionCredential`` and ``AadClient`` (Azure/azure-sdk-for-python,
  ``azure/identity/_internal/aad_client_base.py``): a form POST to ``{authority}/{tenant}/oauth2/v2.0/token`` with
  ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer``, an https authority only, and
  Entra's ``{"error", "error_description"}`` refusal turned into the credential's error.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote

import trustme

from graphops.local.httpserver import Response, StandIn, json_response
from graphops.local.identity import jwt_shaped

JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
EXCHANGE_AUDIENCE = "api://AzureADTokenExchange"
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's own application id, in every tenant
WORKLOAD_FEDERATION_DOCS = "https://learn.microsoft.com/entra/workload-id/workload-identity-federation"


@dataclass(frozen=True)
class FederatedCredential:
    """What the app registration trusts: tokens of this issuer, for this subject and audience."""

    issuer: str
    subject: str
    audience: str = EXCHANGE_AUDIENCE


@dataclass
class CustomerTenant:
    """A tenant as the app sees it: whether an administrator consented, and the Graph permissions granted."""

    consented: bool = True
    permissions: set[str] = field(default_factory=set)
    service_principal_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    directory_reads: int = 0  # reads of the app's service principal here (they need Application.Read.All)


class TenantAuthority(StandIn):
    """``/{tenant}/oauth2/v2.0/token`` for the app ``client_id`` in each tenant of ``tenants``, over TLS (as an
    authority must be for azure-identity), trusting ``federated``. ``assertion_audience`` tells which audience the
    identity stand-in issued a token for (None: it did not issue it), as Entra checks the assertion's signature."""

    def __init__(
        self,
        client_id: str,
        federated: FederatedCredential,
        assertion_audience: Callable[[str], str | None],
        ca: trustme.CA,
        *,
        app_name: str = "graphops",
        graph_audience: str = "https://graph.microsoft.com",
        port: int = 0,
    ) -> None:
        import ssl

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        super().__init__(port, tls=context)
        self.client_id = client_id
        self.app_name = app_name
        self.federated = federated
        self.graph_audience = graph_audience
        self._assertion_audience = assertion_audience
        self.tenants: dict[str, CustomerTenant] = {}
        self.issued: dict[str, str] = {}  # token -> tenant it was issued in
        self.refusals: list[str] = []  # each refusal's AADSTS line, in order

    def add_tenant(self, tenant_id: str | None = None, *, consented: bool = True, permissions: tuple[str, ...] = ()
                   ) -> str:  # fmt: skip
        tenant_id = tenant_id or str(uuid.uuid4())
        with self.lock:
            self.tenants[tenant_id] = CustomerTenant(consented, set(permissions))
        return tenant_id

    def audience_of(self, token: str) -> str | None:
        """Graph's audience for a token issued here, as the identity stand-in answers for its own."""
        with self.lock:
            return self.graph_audience if token in self.issued else None

    def tenant_of(self, token: str) -> str | None:
        with self.lock:
            return self.issued.get(token)

    def tokens_for(self, tenant_id: str) -> int:
        with self.lock:
            return sum(1 for tenant in self.issued.values() if tenant == tenant_id)

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = path.split("?", maxsplit=1)[0].strip("/").split("/")
        if method != "POST" or len(parts) != 4 or parts[1:] != ["oauth2", "v2.0", "token"]:
            return json_response(404, {"error": "not_found"})
        tenant_id = unquote(parts[0])
        form = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
        refusal = self._refusal(tenant_id, form)
        if refusal is not None:
            status, error, code, description = refusal
            with self.lock:
                self.refusals.append(f"AADSTS{code}")
            stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
            refused = {"error": error, "error_description": f"AADSTS{code}: {description}", "error_codes": [code],
                       "timestamp": stamp}  # fmt: skip
            return json_response(status, refused)
        claims: dict[str, Any] = {"aud": self.graph_audience, "tid": tenant_id, "appid": self.client_id}
        granted = sorted(self.tenants[tenant_id].permissions)
        if granted:  # Entra leaves the roles claim out of a token whose app was granted no application permission
            claims["roles"] = granted
        token = jwt_shaped(claims, "standin-" + secrets.token_urlsafe(24))
        with self.lock:
            self.issued[token] = tenant_id
        return json_response(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                   "access_token": token})  # fmt: skip

    def _refusal(self, tenant_id: str, form: dict[str, str]) -> tuple[int, str, int, str] | None:
        """Entra's refusal of this request, in its own words; None when it issues the token."""
        if form.get("grant_type") != "client_credentials" or form.get("client_assertion_type") != JWT_BEARER:
            return 400, "invalid_request", 900144, "The request body must contain the client_assertion parameter."
        if form.get("scope") != f"{self.graph_audience}/.default":
            return 400, "invalid_scope", 1002012, f"The provided value for scope {form.get('scope')} is not valid."
        tenant = self.tenants.get(tenant_id)
        if form.get("client_id") != self.client_id or tenant is None:
            return 400, "unauthorized_client", 700016, (
                f"Application with identifier '{form.get('client_id')}' was not found in the directory "
                f"'{tenant_id}'. This can happen if the application has not been installed by the administrator of "
                "the tenant or consented to by any user in the tenant. You may have sent your authentication request "
                "to the wrong tenant.")  # fmt: skip
        assertion = form.get("client_assertion", "")
        claims = _claims(assertion)
        if claims is None or self._assertion_audience(assertion) is None:
            return 401, "invalid_client", 50027, "JWT token is invalid or malformed."
        for claim, wanted, code in (("iss", self.federated.issuer, 700211), ("aud", self.federated.audience, 700212),
                                    ("sub", self.federated.subject, 700213)):  # fmt: skip
            if claims.get(claim) != wanted:  # case-sensitive, as Entra compares since 2024
                what = {"iss": "issuer", "aud": "audience", "sub": "subject"}[claim]
                return 401, "invalid_client", code, (
                    f"No matching federated identity record found for presented assertion {what} "
                    f"'{claims.get(claim)}'. Check your federated identity credential Subject, Audience and Issuer "
                    f"against the presented assertion. {WORKLOAD_FEDERATION_DOCS}")  # fmt: skip
        if not tenant.consented:
            return (
                400,
                "invalid_grant",
                65001,
                (
                    f"The user or administrator has not consented to use the application with ID '{self.client_id}' "
                    f"named '{self.app_name}'. Send an interactive authorization request for this user and resource."
                ),
            )
        return None

    def directory(self, tenant_id: str, method: str, path: str, query: str) -> tuple[int, Any] | None:
        """Graph's answers to the reads ``graphops consent check`` makes in ``tenant_id``: the service principals of
        the app and of Graph (filtered by appId), and the app's app-role assignments. None for any other request."""
        tenant = self.tenants.get(tenant_id)
        if method != "GET" or tenant is None:
            return None
        with self.lock:
            tenant.directory_reads += 1
        filters = parse_qs(query).get("$filter", [""])[0]
        if path.endswith("/servicePrincipals"):
            if f"appId eq '{self.client_id}'" in filters:
                found = [{"id": tenant.service_principal_id, "appId": self.client_id, "appDisplayName": self.app_name}]
                return 200, {"value": found}
            if f"appId eq '{GRAPH_APP_ID}'" in filters:
                roles = [{"id": role_id(name), "value": name, "allowedMemberTypes": ["Application"]}
                         for name in sorted(GRAPH_ROLES)]  # fmt: skip
                graph = {"id": GRAPH_SP_ID, "appId": GRAPH_APP_ID, "appDisplayName": "Microsoft Graph",
                         "appRoles": roles}  # fmt: skip
                return 200, {"value": [graph]}
            return 200, {"value": []}
        if path.endswith(f"/servicePrincipals/{tenant.service_principal_id}/appRoleAssignments"):
            principal = tenant.service_principal_id
            assigned = [{"id": str(uuid.uuid4()), "appRoleId": role_id(name), "resourceId": GRAPH_SP_ID,
                         "principalId": principal} for name in sorted(tenant.permissions)]  # fmt: skip
            return 200, {"value": assigned}
        return None


GRAPH_SP_ID = "5f0c4b2e-8a9d-4b1e-9c3a-2d7e6f1a0b9c"  # Microsoft Graph's service principal, here the same everywhere


def role_id(name: str) -> str:
    """An app role's id: Graph's are fixed GUIDs per permission; the stand-in derives one from the name."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"graph-app-role:{name}"))


def _permission_names() -> frozenset[str]:
    from graphops.graph.actions import ACTIONS
    from graphops.graph.kinds import KINDS

    named = [kind.permission for kind in KINDS.values()] + [action.permission for action in ACTIONS.values()]
    return frozenset(part.strip() for text in named for part in text.split(" and ") if "." in part)


GRAPH_ROLES = _permission_names()


def _claims(token: str) -> dict[str, Any] | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    return claims if isinstance(claims, dict) else None
