"""The operator's Entra ID sign-in, verified by graphops itself rather than taken from the platform's word.

App Service authentication (with its token store on) forwards the user's Entra ID token in
``X-MS-TOKEN-AAD-ID-TOKEN``. Whether a Flex Consumption front end strips an ``X-MS-CLIENT-PRINCIPAL-*`` header a
client forged is not documented, so those headers decide nothing here: the ID token does. Its signature is
checked against the keys the tenant publishes (its OpenID Connect ``jwks_uri``), and so are its audience (the
console's app registration), its issuer (the tenant, v2.0 endpoint) and its lifetime. Its ``oid`` is the operator.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jwt

from graphops.console.access import Operator, Refusal
from graphops.settings import Settings

ALGORITHMS = ["RS256"]  # what Entra ID signs with; never "none", never a shared-secret HMAC
LEEWAY_SECONDS = 60  # clocks differ a little between Entra ID and the instance
KEYS_TIMEOUT_SECONDS = 5  # a page waits this long at most for the tenant's keys
KEYS_LIFESPAN_SECONDS = 3600  # keys are kept an hour; a token signed by a key not yet seen fetches them again


@dataclass(frozen=True)
class Authority:
    """The tenant's sign-in authority, as the console's settings name it."""

    login_endpoint: str  # https://login.microsoftonline.com, or a national cloud's, or a loopback stand-in
    tenant_id: str
    client_id: str  # the app registration the operators sign in to: the ID token's audience

    @property
    def issuer(self) -> str:
        return f"{self.login_endpoint}/{self.tenant_id}/v2.0"

    @property
    def keys_url(self) -> str:
        # The jwks_uri of the tenant's OpenID configuration (``{issuer}/.well-known/openid-configuration``).
        return f"{self.login_endpoint}/{self.tenant_id}/discovery/v2.0/keys"


def check_id_token(token: str, key: Any, authority: Authority) -> Operator | Refusal:
    """The operator ``token`` names (its ``oid``; its ``preferred_username`` to show) when ``key`` verifies its
    signature and it is for this app, from this tenant and unexpired; else why not. Pure: ``key`` is already
    chosen (TenantKeys finds it by the token's ``kid``)."""
    try:
        claims = jwt.decode(
            token, key, algorithms=ALGORITHMS, audience=authority.client_id, issuer=authority.issuer,
            leeway=LEEWAY_SECONDS, options={"require": ["exp", "iat", "aud", "iss"]},
        )  # fmt: skip
    except jwt.ExpiredSignatureError:
        return Refusal(401, "your Entra ID sign-in has expired: sign in again", sign_in=True)
    except jwt.InvalidSignatureError:
        return Refusal(401, "the ID token's signature does not verify against the tenant's published keys")
    except jwt.InvalidAudienceError:
        return Refusal(401, "the ID token is for another application (its audience is not "
                            "GRAPHOPS_CONSOLE_CLIENT_ID)")  # fmt: skip
    except jwt.InvalidIssuerError:
        return Refusal(401, f"the ID token was not issued by {authority.issuer} (GRAPHOPS_CONSOLE_TENANT_ID, "
                            "GRAPHOPS_CONSOLE_LOGIN_ENDPOINT)")  # fmt: skip
    except jwt.ImmatureSignatureError:
        return Refusal(401, "the ID token is not valid yet (its iat or nbf is in the future)")
    except jwt.MissingRequiredClaimError as exc:
        return Refusal(401, f"the ID token has no {exc.claim!r} claim")
    except jwt.InvalidAlgorithmError:
        return Refusal(401, f"the ID token is not signed with {', '.join(ALGORITHMS)}")
    except jwt.InvalidTokenError as exc:
        return Refusal(401, f"the ID token cannot be read ({type(exc).__name__})")
    object_id = str(claims.get("oid") or "").strip().lower()
    if not object_id:
        return Refusal(401, "the ID token names no object id (oid claim)")
    name = str(claims.get("preferred_username") or claims.get("name") or "").strip()
    return Operator(object_id, name or object_id)


class TenantKeys:
    """The tenant's published signing keys, fetched with a timeout and kept (PyJWT's PyJWKClient): a key is
    chosen by the ``kid`` in a token's header, and a ``kid`` not seen yet fetches the key set once more."""

    def __init__(self, authority: Authority) -> None:
        self._keys = jwt.PyJWKClient(authority.keys_url, cache_keys=True, lifespan=KEYS_LIFESPAN_SECONDS,
                                     timeout=KEYS_TIMEOUT_SECONDS)  # fmt: skip
        self._where = authority.keys_url

    def key_for(self, token: str) -> Any | Refusal:
        try:
            return self._keys.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            return Refusal(503, f"cannot fetch the tenant's signing keys from {self._where}: try again in a moment")
        except jwt.PyJWKClientError:
            return Refusal(401, "the ID token is signed by a key the tenant does not publish")
        except (jwt.DecodeError, jwt.PyJWKError):
            return Refusal(401, "the ID token cannot be read (not a signed JWT with a key id)")


def verifier(authority: Authority) -> Callable[[str], Operator | Refusal]:
    """Checks an ID token against the tenant's published keys: its key found, then the token checked."""
    keys = TenantKeys(authority)

    def verify(token: str) -> Operator | Refusal:
        key = keys.key_for(token)
        return key if isinstance(key, Refusal) else check_id_token(token, key, authority)

    return verify


def platform_verifier(settings: Settings) -> Callable[[str], Operator | Refusal] | Refusal:
    """The deployed console's check of ID tokens, or why it cannot check any (a setting missing)."""
    tenant, client = settings.console_tenant_id, settings.console_client_id
    if tenant is None or client is None:
        missing = [name for name, value in (("GRAPHOPS_CONSOLE_TENANT_ID", tenant),
                                            ("GRAPHOPS_CONSOLE_CLIENT_ID", client)) if value is None]  # fmt: skip
        return Refusal(403, f"the console cannot verify sign-ins: {' and '.join(missing)} not set "
                            "(deploy with consoleClientId set)")  # fmt: skip
    return verifier(Authority(settings.console_login_endpoint, tenant, client))
