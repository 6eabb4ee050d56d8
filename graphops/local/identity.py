"""A stand-in for the App Service / Functions managed identity endpoint.

Set ``IDENTITY_ENDPOINT`` and ``IDENTITY_HEADER`` (see :meth:`IdentityEndpoint.environment`) and
azure-identity's ``ManagedIdentityCredential`` fetches its tokens here, through its real code path.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

from graphops.local.httpserver import Response, StandIn, json_response


@dataclass(frozen=True)
class IssuedToken:
    resource: str
    client_id: str | None


class IdentityEndpoint(StandIn):
    """Its tokens name a tenant (`tid`) as a managed identity's name the identity's tenant: one of its own per
    stand-in, so two local stacks sharing an Azurite never share a throttling budget. As Entra's v2.0 tokens do,
    they name their issuer (`iss`, the home tenant's) and the identity (`sub` and `oid`, its principal id): a
    token for ``api://AzureADTokenExchange`` is the assertion a federated credential matches on those three."""

    def __init__(self, port: int = 0, tenant: str | None = None) -> None:
        super().__init__(port)
        self.tenant = tenant or str(uuid.uuid4())
        self.principal_id = str(uuid.uuid4())  # the user-assigned identity's object (principal) id
        self.header_secret = secrets.token_urlsafe(16)
        self.issued: dict[str, IssuedToken] = {}
        self.requests = 0
        # Set, every token request is refused with this reason (an identity not assigned, or not yet ready), as the
        # platform's endpoint refuses: the way to see what a tracking shows when graphops gets no token.
        self.refusing: str | None = None

    @property
    def issuer(self) -> str:
        """The issuer Entra writes in the identity's tokens, which a federated credential names."""
        return f"https://login.microsoftonline.com/{self.tenant}/v2.0"

    def environment(self) -> dict[str, str]:
        return {"IDENTITY_ENDPOINT": f"{self.url}/msi/token", "IDENTITY_HEADER": self.header_secret}

    def audience_of(self, token: str) -> str | None:
        issued = self.issued.get(token)
        return issued.resource if issued else None

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        with self.lock:
            self.requests += 1
        if method != "GET" or parts.path != "/msi/token":
            return json_response(404, {"error": "not_found"})
        sent = {k.lower(): v for k, v in headers.items()}.get("x-identity-header")
        if sent != self.header_secret:
            return json_response(401, {"error": "invalid_request", "error_description": "X-IDENTITY-HEADER mismatch"})
        if self.refusing is not None:
            return json_response(400, {"error": "invalid_request", "error_description": self.refusing})
        resource = query.get("resource")
        if not resource or query.get("api-version") != "2019-08-01":
            return json_response(400, {"error": "invalid_request", "error_description": "resource and api-version"})
        claims = {"aud": resource, "tid": self.tenant, "iss": self.issuer, "sub": self.principal_id,
                  "oid": self.principal_id}  # fmt: skip
        token = jwt_shaped(claims, "standin-" + secrets.token_urlsafe(24))
        with self.lock:
            self.issued[token] = IssuedToken(resource, query.get("client_id"))
        return json_response(
            200,
            {
                "access_token": token,
                "expires_on": str(int(time.time()) + 3600),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": query.get("client_id", "00000000-0000-0000-0000-000000000000"),
            },
        )


def jwt_shaped(claims: Mapping[str, Any], signature: str) -> str:
    """A token in a JWT's three parts (unsigned: only the stand-ins read it), so ``tid`` is where Entra puts it."""

    def part(doc: Mapping[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.{signature}"
