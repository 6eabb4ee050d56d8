"""Who may use the console, decided from a request's headers alone (pure: tested without a platform).

Deployed, the console sits behind App Service's built-in authentication (Entra ID). The platform signs
the user in and forwards their Entra ID token (``X-MS-TOKEN-AAD-ID-TOKEN``, from its token store). graphops
verifies that token itself (graphops/console/signin.py) and lets in only the operators named in
``GRAPHOPS_CONSOLE_OPERATORS``, by the token's ``oid``: the ``X-MS-CLIENT-PRINCIPAL-*`` headers decide nothing,
since whether every front end strips a forged one is not documented. Nothing is believed unless the platform says
its authentication is on (``WEBSITE_AUTH_ENABLED``).
Locally the console listens on loopback and answers only requests addressed to loopback (a page on
another site cannot reach it through a DNS name it rebinds to 127.0.0.1).

Either way a change (requeue, discard) must come from the console's own page: htmx's header (a
cross-site form cannot set it without a CORS preflight, which the console never grants) and, when the
browser sends them, a same-origin ``Origin`` and ``Sec-Fetch-Site``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from urllib.parse import urlsplit

LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "[::1]"})
ID_TOKEN_HEADER = "x-ms-token-aad-id-token"  # noqa: S105 - a header's name: the platform's forwarded ID token


@dataclass(frozen=True)
class Operator:
    principal_id: str
    name: str
    token: str = ""  # the change token of the page being served (change_token)


@dataclass(frozen=True)
class Refusal:
    status: int  # 401: sign in; 403: signed in, not allowed; 400: not the console's own page
    reason: str
    sign_in: bool = False  # a browser is sent to the platform's sign-in page


def platform_operator(
    headers: Mapping[str, str],
    *,
    auth_enabled: bool,
    operators: frozenset[str],
    verify: Callable[[str], Operator | Refusal] | Refusal,
) -> Operator | Refusal:
    """The signed-in operator behind a request to the deployed console, or why it is refused.

    ``headers`` with lower-case names; ``verify`` checks an ID token (signin.verifier), or is why none can be."""
    if not auth_enabled:
        return Refusal(403, "the console needs App Service authentication (WEBSITE_AUTH_ENABLED is not True): "
                            "deploy with consoleClientId set")  # fmt: skip
    if isinstance(verify, Refusal):
        return verify
    token = headers.get(ID_TOKEN_HEADER, "").strip()
    if not token:  # an X-MS-CLIENT-PRINCIPAL-ID alone proves nothing
        return Refusal(401, "sign in with Entra ID to use the console (no ID token came with the request: App "
                            "Service authentication forwards it when its token store is on)", sign_in=True)  # fmt: skip
    who = verify(token)
    if isinstance(who, Refusal):
        return who
    if who.principal_id not in operators:
        return Refusal(403, f"{who.principal_id} is not in GRAPHOPS_CONSOLE_OPERATORS")
    return who


def loopback_operator(headers: Mapping[str, str], port: int) -> Operator | Refusal:
    """The developer at this machine, if the request was addressed to loopback on the console's port."""
    host = headers.get("host", "")
    name, _, given_port = host.rpartition(":")
    if name.lower() not in LOOPBACK_NAMES or given_port != str(port):
        return Refusal(400, f"the local console answers only http://127.0.0.1:{port}/ (Host was {host!r})")
    return Operator("local", "local developer")


TOKEN_HEADER = "x-graphops-token"  # noqa: S105 - a header's name
SESSION_COOKIE = "AppServiceAuthSession"  # the platform's sign-in session


def change_token(key: bytes, who: Operator, headers: Mapping[str, str]) -> str:
    """The token a page gives its changes (requeue, discard): bound to the operator and their sign-in session, so
    a request forged elsewhere, even one htmx was tricked into sending, has no valid token to carry."""
    cookies: SimpleCookie = SimpleCookie()
    with contextlib.suppress(CookieError):  # a cookie header it cannot read: no session to bind to
        cookies.load(headers.get("cookie", ""))
    session = cookies[SESSION_COOKIE].value if SESSION_COOKIE in cookies else ""
    digest = hmac.new(key, f"console-change|{who.principal_id}|{session}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def token_refusal(key: bytes, who: Operator, headers: Mapping[str, str]) -> Refusal | None:
    """None when a change carries this operator's token for this session; else why not."""
    if hmac.compare_digest(headers.get(TOKEN_HEADER, ""), change_token(key, who, headers)):
        return None
    return Refusal(403, "the page's change token is missing or stale: reload the page and try again")


def same_page_change(headers: Mapping[str, str]) -> Refusal | None:
    """None when a POST comes from the console's own page; else why not."""
    if headers.get("hx-request", "").lower() != "true":
        return Refusal(400, "changes are made from the console's pages (HX-Request header missing)")
    site = headers.get("sec-fetch-site")
    if site is not None and site != "same-origin":
        return Refusal(400, f"changes are made from the console's pages (Sec-Fetch-Site: {site})")
    origin = headers.get("origin")
    # Behind the platform's front end the name the browser used may be in a forwarding header instead.
    names = {headers.get(h, "").lower() for h in ("host", "x-forwarded-host", "disguised-host")} - {""}
    if origin is not None and urlsplit(origin).netloc.lower() not in names:
        return Refusal(400, "changes are made from the console's pages (Origin differs from Host)")
    return None
