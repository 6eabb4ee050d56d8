from __future__ import annotations

import pytest

from graphops.errors import Rejected
from graphops.kinds import (
    AuthenticationMethodOperation,
    RoleManagementAlertRefresh,
    resolve_operation_url,
    validate_select,
)

GRAPH = "https://graph.microsoft.com"
ALERT = "/beta/identityGovernance/roleManagementAlerts/operations/refresh:DirectoryRole_19356be4_StaleSignInAlert"
RESET = "/v1.0/users/48d31887-5fad-4d73-a9f5-3c356e68a038/authentication/operations/2d497bb-57bd-47a6"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (GRAPH + ALERT, RoleManagementAlertRefresh),
        (ALERT, RoleManagementAlertRefresh),
        (GRAPH + RESET + "?aadgdc=DUB02P&aadgsu=ssprprod-a", AuthenticationMethodOperation),
        (RESET.replace("v1.0", "beta"), AuthenticationMethodOperation),
        ("/v1.0/users/adele@contoso.com/authentication/operations/abc", AuthenticationMethodOperation),
        ("/v1.0/users/adele%40contoso.com/authentication/operations/abc", AuthenticationMethodOperation),
        ("https://GRAPH.microsoft.com" + RESET, AuthenticationMethodOperation),
    ],
)
def test_documented_operation_urls_are_accepted(url: str, kind: type) -> None:
    ref = resolve_operation_url(url, GRAPH)
    assert ref.kind is kind
    assert ref.url.lower().endswith(url.lower().removeprefix(GRAPH.lower()))


def test_the_query_string_is_kept_as_given() -> None:
    url = GRAPH + RESET + "?aadgdc=DUB02P&aadgsu=ssprprod-a"
    assert resolve_operation_url(url, GRAPH).url == url


@pytest.mark.parametrize(
    "url",
    [
        "",
        "https://graph.microsoft.us" + RESET,  # another cloud's Graph
        "https://graph.microsoft.com.evil.example" + RESET,
        "https://graph.microsoft.com:443" + RESET,
        "http://graph.microsoft.com" + RESET,
        "https://user@graph.microsoft.com" + RESET,
        "https://evil.example@graph.microsoft.com" + RESET,
        "//evil.example" + RESET,
        "/v2.0/users/u/authentication/operations/o",
        "/v1.0/identityGovernance/roleManagementAlerts/operations/x",  # alerts are beta only
        "/beta/users/u/authentication/operations/o/extra",
        "/beta/users/u/authentication/operations/",
        "/beta/users//authentication/operations/o",
        "/beta/users/../authentication/operations/o",
        "/beta/users/%2e%2e/authentication/operations/o",
        "/beta/users/a%2Fb/authentication/operations/o",
        "/beta/users/a%5cb/authentication/operations/o",
        "/beta/users/a%252Fb/authentication/operations/o",
        "/beta/users/a\\b/authentication/operations/o",
        "/beta/users/a%zzb/authentication/operations/o",
        "/beta/users/u/authentication/methods/m",
        "/beta/me/authentication/operations/o",
        GRAPH + RESET + "#frag",
        GRAPH + "/beta/users/ü/authentication/operations/o",
        GRAPH + "/beta/users/a b/authentication/operations/o",
        "ftp://graph.microsoft.com" + RESET,
        "/v1.0/users/u/authentication/operations/o" + "x" * 3000,
    ],
)
def test_anything_else_is_rejected_naming_operation_url(url: str) -> None:
    with pytest.raises(Rejected) as raised:
        resolve_operation_url(url, GRAPH)
    assert raised.value.field == "operationUrl"


def test_a_local_graph_endpoint_is_the_only_host_allowed() -> None:
    local = "http://127.0.0.1:8080"
    assert resolve_operation_url(local + ALERT, local).kind is RoleManagementAlertRefresh
    with pytest.raises(Rejected):
        resolve_operation_url(GRAPH + ALERT, local)


def test_kinds_know_their_permission_and_treat_unknown_statuses_as_running() -> None:
    assert RoleManagementAlertRefresh.permission == "RoleManagementAlert.Read.Directory"
    assert AuthenticationMethodOperation.permission == "UserAuthenticationMethod.Read.All"
    for status in ("notStarted", "running", "unknownFutureValue", "somethingNew"):
        assert not AuthenticationMethodOperation.is_terminal(status)
    assert AuthenticationMethodOperation.is_terminal("succeeded")
    assert AuthenticationMethodOperation.status_of({"status": 3}) is None


def test_select_names_are_checked() -> None:
    assert validate_select(["resourceLocation", "resourceLocation", "id"]) == ("resourceLocation", "id")
    for bad in ("status,id", ["a b"], ["$expand"], "x", [1]):
        with pytest.raises(Rejected) as raised:
            validate_select(bad)
        assert raised.value.field == "select"
