"""A stand-in for Entra ID's sign-in authority of one tenant: its OpenID configuration and its signing keys.

The deployed console verifies operators' ID tokens against the keys their tenant publishes
(graphops/console/signin.py). Pointed here (``GRAPHOPS_CONSOLE_LOGIN_ENDPOINT``, see :meth:`environment`), it
fetches the public halves of key pairs the caller made, through the same code it runs in Azure.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from jwt.algorithms import RSAAlgorithm

from graphops.local.httpserver import Response, StandIn, json_response


class SignInAuthority(StandIn):
    """Serves ``/{tenant}/v2.0/.well-known/openid-configuration`` and ``/{tenant}/discovery/v2.0/keys``, as
    login.microsoftonline.com does, with ``keys`` (key id -> public key) as the tenant's published keys."""

    def __init__(self, keys: Mapping[str, RSAPublicKey], tenant: str | None = None, port: int = 0) -> None:
        super().__init__(port)
        self.tenant = tenant or str(uuid.uuid4())
        self._jwks = {"keys": [_jwk(kid, key) for kid, key in keys.items()]}
        self.key_set_requests = 0  # how often the key set was fetched (the console keeps it)

    @property
    def issuer(self) -> str:
        return f"{self.url}/{self.tenant}/v2.0"

    def environment(self, client_id: str) -> dict[str, str]:
        """The console's settings for signing in here to the app registration ``client_id``."""
        return {"GRAPHOPS_CONSOLE_LOGIN_ENDPOINT": self.url, "GRAPHOPS_CONSOLE_TENANT_ID": self.tenant,
                "GRAPHOPS_CONSOLE_CLIENT_ID": client_id}  # fmt: skip

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        if method != "GET":
            return json_response(405, {"error": "method_not_allowed"})
        if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration":
            return json_response(200, {
                "issuer": self.issuer,
                "jwks_uri": f"{self.url}/{self.tenant}/discovery/v2.0/keys",
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token"],
                "subject_types_supported": ["pairwise"],
            })  # fmt: skip
        if path == f"/{self.tenant}/discovery/v2.0/keys":
            with self.lock:
                self.key_set_requests += 1
            return json_response(200, self._jwks)
        return json_response(404, {"error": "not_found"})


def _jwk(kid: str, key: RSAPublicKey) -> dict[str, Any]:
    # As Entra ID publishes them: RSA signing keys, each named by its kid.
    return {**RSAAlgorithm.to_jwk(key, as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}
