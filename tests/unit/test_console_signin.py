"""Who may use the deployed console: the Entra ID token App Service authentication forwards, verified by graphops
(signature, audience, issuer, lifetime), and its ``oid`` against the operators; never the principal headers.
The same over HTTP, through the Function App's console: tests/integration/test_console.py."""

from __future__ import annotations

import uuid
from typing import Any

import jwt
import pytest

from graphops.common.errors import SettingsError
from graphops.console.access import Operator, Refusal, platform_operator
from graphops.console.signin import Authority, check_id_token, platform_verifier, verifier
from graphops.local.entra import SignInAuthority
from graphops.settings import Settings

from ..idtokens import SigningKey, id_token

OPERATOR = "7b0c33a8-5b0e-4a3e-9c7e-2b1f3f0a9d11"
STRANGER = "0b0c33a8-5b0e-4a3e-9c7e-2b1f3f0a9d11"
TENANT = "5f2b6c1e-9a7d-4e3b-8c1a-2d4e6f8a0b1c"
CLIENT = "c0ffee00-1234-4abc-9def-00000000c0de"
AUTHORITY = Authority("https://login.microsoftonline.com", TENANT, CLIENT)
KEY = SigningKey.make()  # the tenant's published key
BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}


def token(oid: str = OPERATOR, key: SigningKey = KEY, **claims: Any) -> str:
    claims.setdefault("issuer", AUTHORITY.issuer)
    claims.setdefault("audience", CLIENT)
    return id_token(key, oid=oid, **claims)


def checked(text: str) -> Operator | Refusal:
    return check_id_token(text, KEY.public, AUTHORITY)


def refused(answer: Operator | Refusal, status: int, named: str) -> Refusal:
    assert isinstance(answer, Refusal), answer
    assert answer.status == status and named in answer.reason, answer
    return answer


# -- the token itself ----------------------------------------------------------------------------------


def test_a_token_the_tenant_signed_for_this_app_names_the_operator_by_oid() -> None:
    assert checked(token(OPERATOR.upper())) == Operator(OPERATOR, "oncall@contoso.example")


def test_a_token_signed_by_a_key_the_tenant_does_not_hold_is_refused() -> None:
    forger = SigningKey.make(kid=KEY.kid)  # names the published key, signs with its own
    refused(checked(token(key=forger)), 401, "signature does not verify")


def test_an_expired_token_is_refused_and_sends_the_browser_to_sign_in_again() -> None:
    answer = refused(checked(token(lifetime=-120)), 401, "expired")  # beyond the leeway
    assert answer.sign_in
    assert isinstance(checked(token(lifetime=-20)), Operator)  # within it: clocks differ a little


def test_a_token_for_another_application_is_refused() -> None:
    refused(checked(token(audience=str(uuid.uuid4()))), 401, "GRAPHOPS_CONSOLE_CLIENT_ID")


@pytest.mark.parametrize("issuer", [
    "https://login.microsoftonline.com/9e1f0c2d-3b4a-4c5d-8e6f-7a8b9c0d1e2f/v2.0",  # another tenant
    f"https://login.microsoftonline.com/{TENANT}/",  # the same tenant's v1.0 tokens
    f"https://sts.windows.net/{TENANT}/",
    f"https://login.microsoftonline.us/{TENANT}/v2.0",  # another cloud
], ids=["other-tenant", "v1-endpoint", "sts", "other-cloud"])  # fmt: skip
def test_a_token_from_another_issuer_is_refused(issuer: str) -> None:
    refused(checked(token(issuer=issuer)), 401, AUTHORITY.issuer)


@pytest.mark.parametrize("claim", ["exp", "iat", "aud", "iss", "oid"])
def test_a_token_without_a_claim_it_needs_is_refused(claim: str) -> None:
    extra: dict[str, Any] = {claim: None} if claim not in {"aud", "iss"} else {}
    text = token(**extra) if extra else jwt.encode(
        {k: v for k, v in jwt.decode(token(), options={"verify_signature": False}).items() if k != claim},
        KEY.private, algorithm="RS256", headers={"kid": KEY.kid})  # fmt: skip
    refused(checked(text), 401, claim)


def test_an_unsigned_token_or_one_signed_with_a_shared_secret_is_refused() -> None:
    claims = jwt.decode(token(), options={"verify_signature": False})
    unsigned = jwt.encode(claims, None, algorithm="none")
    refused(checked(unsigned), 401, "RS256")
    refused(checked("not a token at all"), 401, "cannot be read")


# -- who gets in -------------------------------------------------------------------------------------------


def deployed(headers: dict[str, str], *, auth: bool = True) -> Operator | Refusal:
    return platform_operator(headers, auth_enabled=auth, operators=frozenset({OPERATOR}),
                             verify=lambda text: check_id_token(text, KEY.public, AUTHORITY))  # fmt: skip


def test_an_operator_with_a_verified_token_is_let_in() -> None:
    assert deployed({"x-ms-token-aad-id-token": token()}) == Operator(OPERATOR, "oncall@contoso.example")


def test_a_principal_header_alone_opens_nothing() -> None:
    answer = refused(deployed({"x-ms-client-principal-id": OPERATOR}), 401, "no ID token")
    assert answer.sign_in  # a browser is sent to the platform's sign-in, which forwards a token


def test_the_tokens_oid_wins_over_a_principal_header_beside_it() -> None:
    forged = {"x-ms-client-principal-id": OPERATOR, "x-ms-client-principal-name": "oncall@contoso.example"}
    refused(deployed({**forged, "x-ms-token-aad-id-token": token(STRANGER)}), 403, STRANGER)
    # And an operator's token is theirs, whatever header another name is put in.
    who = deployed({"x-ms-client-principal-id": STRANGER, "x-ms-token-aad-id-token": token()})
    assert who == Operator(OPERATOR, "oncall@contoso.example")


def test_a_verified_stranger_is_refused_naming_the_setting() -> None:
    refused(deployed({"x-ms-token-aad-id-token": token(STRANGER)}), 403, "GRAPHOPS_CONSOLE_OPERATORS")


def test_nothing_is_believed_without_the_platforms_authentication() -> None:
    refused(deployed({"x-ms-token-aad-id-token": token()}, auth=False), 403, "WEBSITE_AUTH_ENABLED")


# -- the tenant's keys and the settings --------------------------------------------------------------------


def test_the_keys_are_fetched_from_the_tenant_once_and_an_unknown_key_is_named() -> None:
    with SignInAuthority({KEY.kid: KEY.public}) as entra:
        authority = Authority(entra.url, entra.tenant, CLIENT)
        verify = verifier(authority)
        for _ in range(3):
            assert verify(token(issuer=authority.issuer)) == Operator(OPERATOR, "oncall@contoso.example")
        assert entra.key_set_requests == 1  # kept, not fetched for every page
        refused(verify(token(key=SigningKey.make(), issuer=authority.issuer)), 401, "does not publish")
        port = entra.port
    # The tenant's key endpoint not answering is the console's trouble, not the operator's: 503, try again.
    gone = verifier(Authority(f"http://127.0.0.1:{port}", TENANT, CLIENT))
    refused(gone(token()), 503, "cannot fetch the tenant's signing keys")


def test_the_sign_in_settings_follow_the_cloud_and_name_what_is_missing() -> None:
    settings = Settings.from_env(BASE)
    assert settings.console_login_endpoint == "https://login.microsoftonline.com"
    assert Settings.from_env({**BASE, "GRAPHOPS_GRAPH_CLOUD": "china"}).console_login_endpoint == (
        "https://login.chinacloudapi.cn")  # fmt: skip
    missing = platform_verifier(settings)
    assert isinstance(missing, Refusal) and missing.status == 403
    assert "GRAPHOPS_CONSOLE_TENANT_ID and GRAPHOPS_CONSOLE_CLIENT_ID" in missing.reason
    infra = Settings.from_env({**BASE, "GRAPHOPS_CONSOLE_TENANT_ID": TENANT.upper(),
                               "GRAPHOPS_CONSOLE_CLIENT_ID": CLIENT,
                               "GRAPHOPS_CONSOLE_LOGIN_ENDPOINT": "https://login.microsoftonline.us/"})  # fmt: skip
    assert (infra.console_tenant_id, infra.console_login_endpoint) == (TENANT, "https://login.microsoftonline.us")
    assert callable(platform_verifier(infra))


@pytest.mark.parametrize(("name", "value", "said"), [
    ("GRAPHOPS_CONSOLE_TENANT_ID", "contoso.onmicrosoft.com", "GUID"),
    ("GRAPHOPS_CONSOLE_CLIENT_ID", "console", "GUID"),
    ("GRAPHOPS_CONSOLE_LOGIN_ENDPOINT", "http://login.example.com", "https"),  # keys in clear text: forgeable
    ("GRAPHOPS_CONSOLE_LOGIN_ENDPOINT", "https://login.microsoftonline.com/common", "origin only"),
    ("GRAPHOPS_CONSOLE_LOGIN_ENDPOINT", "login.microsoftonline.com", "absolute"),
], ids=["tenant-not-guid", "client-not-guid", "http-login", "login-with-path", "login-not-url"])  # fmt: skip
def test_a_sign_in_setting_it_cannot_use_is_named(name: str, value: str, said: str) -> None:
    with pytest.raises(SettingsError, match=rf"{name}.*{said}"):
        Settings.from_env({**BASE, name: value})


def test_a_loopback_key_stand_in_may_be_plain_http() -> None:
    local = Settings.from_env({**BASE, "GRAPHOPS_CONSOLE_LOGIN_ENDPOINT": "http://127.0.0.1:8123"})
    assert local.console_login_endpoint == "http://127.0.0.1:8123"
