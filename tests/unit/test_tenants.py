"""Customer tenants: GRAPHOPS_TENANTS read and checked, a request's tenantId checked against it, the tenant an
operation URL names, and what a tenant granted the app."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from azure.core.credentials import AccessToken
from azure.core.exceptions import ClientAuthenticationError

from graphops.common.errors import Rejected, SettingsError
from graphops.envelope.tracking import ErrorInfo, Outcome
from graphops.graph.actions import ACTIONS
from graphops.graph.answer import GraphAnswer
from graphops.graph.clouds import CLOUDS
from graphops.graph.consent import Grants, granted_roles, lacking_permissions, read_grants
from graphops.graph.reader import GraphClient, TenantAccess
from graphops.graph.tenants import consent_link, exchange_scope
from graphops.intake.request import from_request, from_start_request
from graphops.local import seed
from graphops.local.identity import jwt_shaped
from graphops.settings import Settings
from graphops.step.starter import Accepted, Refused, Untrackable, in_tenant, read_start_answer
from graphops.storage.connection import AZURITE_CONNECTION_STRING
from graphops.wiring import limits_for

CONTOSO = "0f4e2c1a-3b5d-4e6f-8a9b-1c2d3e4f5a6b"
FABRIKAM = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
APP = "11111111-2222-4333-8444-555555555555"
BASE = {"AzureWebJobsStorage": AZURITE_CONNECTION_STRING, "GRAPHOPS_QUEUE_NAME": "graph-operations",
        "GRAPHOPS_MULTITENANT_CLIENT_ID": APP, "GRAPHOPS_START_ACTIONS": "teamClone,teamArchive"}  # fmt: skip
NOW = datetime(2026, 12, 7, tzinfo=UTC)
CALLBACK = "https://prod-00.westeurope.logic.azure.com/workflows/x/invoke?sig=s"


def settings(tenants: Any, **env: str) -> Settings:
    return Settings.from_env({**BASE, "GRAPHOPS_TENANTS": json.dumps(tenants), **env})


def test_each_tenant_gets_its_name_and_lists_that_default_to_the_deployments() -> None:
    fabrikam_only = {"name": "Fabrikam", "startActions": ["teamClone"], "kinds": ["teamsAsyncOperation"]}
    read = settings({CONTOSO.upper(): {"name": " Contoso "}, FABRIKAM: fabrikam_only})
    contoso, fabrikam = read.tenants[CONTOSO], read.tenants[FABRIKAM]
    assert (contoso.name, contoso.start_actions, contoso.kinds) == ("Contoso", None, None)
    assert (fabrikam.start_actions, fabrikam.kinds) == (frozenset({"teamClone"}), frozenset({"teamsAsyncOperation"}))
    tracked = settings({CONTOSO: {"name": "C"}}, GRAPHOPS_TRACKED_KINDS="teamsAsyncOperation")
    assert tracked.tenants[CONTOSO].kinds == frozenset({"teamsAsyncOperation"})
    assert Settings.from_env(BASE).tenants == {}


@pytest.mark.parametrize(
    ("tenants", "env", "says"),
    [
        ("[]", {}, "must be a JSON object"),
        ("{nope", {}, "must be a JSON object"),
        ({"contoso": {"name": "C"}}, {}, "'contoso' is not a tenant id"),
        ({CONTOSO: "Contoso"}, {}, f"tenant {CONTOSO}: must be an object"),
        ({CONTOSO: {}}, {}, f"tenant {CONTOSO}: name must be"),
        ({CONTOSO: {"name": "C", "region": "eu"}}, {}, f"tenant {CONTOSO}: unknown field 'region'"),
        ({CONTOSO: {"name": "C", "startActions": ["teamCreate"]}}, {}, f"tenant {CONTOSO}: start action 'teamCreate' "
         "is not enabled in GRAPHOPS_START_ACTIONS"),
        ({CONTOSO: {"name": "C", "startActions": ["reboot"]}}, {}, "'reboot' is not a start action"),
        ({CONTOSO: {"name": "C", "kinds": ["restoreSession"]}}, {"GRAPHOPS_TRACKED_KINDS": "teamsAsyncOperation"},
         f"tenant {CONTOSO}: kind 'restoreSession' is not in GRAPHOPS_TRACKED_KINDS"),
        ({CONTOSO: {"name": "C", "kinds": "teamsAsyncOperation"}}, {}, "kinds must be a list"),
        ({CONTOSO: {"name": "C"}, CONTOSO.upper(): {"name": "D"}}, {}, "listed twice"),
        ({CONTOSO: {"name": "C"}}, {"GRAPHOPS_MULTITENANT_CLIENT_ID": ""}, "needs GRAPHOPS_MULTITENANT_CLIENT_ID"),
    ],
)  # fmt: skip
def test_a_bad_tenant_list_names_the_setting_and_the_tenant_at_fault(tenants: Any, env: dict[str, str], says: str
                                                                    ) -> None:  # fmt: skip
    raw = tenants if isinstance(tenants, str) else json.dumps(tenants)
    with pytest.raises(SettingsError) as raised:
        Settings.from_env({**BASE, "GRAPHOPS_TENANTS": raw, **env})
    assert raised.value.setting == "GRAPHOPS_TENANTS"
    assert says in raised.value.problem


def test_a_request_names_a_served_tenant_whose_kind_and_action_it_allows_or_is_refused_naming_tenant_id() -> None:
    contoso = {"name": "Contoso", "startActions": ["teamArchive"], "kinds": ["teamsAsyncOperation"]}
    limits = limits_for(settings({CONTOSO: contoso, FABRIKAM: {"name": "Fabrikam"}}))
    reset = {"operationUrl": "https://graph.microsoft.com" + seed.reset_path("u", "op", "beta"),
             "callbackUrl": CALLBACK}  # fmt: skip
    assert from_request({**reset, "tenantId": FABRIKAM.upper()}, "t", NOW, limits).tenant_id == FABRIKAM
    assert from_request(reset, "t", NOW, limits).tenant_id is None
    for tenant, says in ((CONTOSO, "authenticationMethodOperation is not tracked in Contoso"),
                         ("9" * 8 + "-0000-4000-8000-" + "0" * 12, "is not a tenant this deployment serves"),
                         ("contoso.onmicrosoft.com", "must be a tenant id"), (7, "must be a tenant id")):  # fmt: skip
        with pytest.raises(Rejected) as raised:
            from_request({**reset, "tenantId": tenant}, "t", NOW, limits)
        assert raised.value.field == "tenantId" and says in raised.value.problem
    clone = {"start": {"method": "POST", "url": "https://graph.microsoft.com/v1.0/teams/t1/clone",
                       "body": {"displayName": "x", "partsToClone": "apps"}}, "callbackUrl": CALLBACK}  # fmt: skip
    with pytest.raises(Rejected) as raised:
        from_start_request({**clone, "tenantId": CONTOSO}, "t", NOW, limits)
    assert raised.value.field == "tenantId" and "teamClone is not enabled in Contoso" in raised.value.problem
    assert from_start_request({**clone, "tenantId": FABRIKAM}, "t", NOW, limits)[0].tenant_id == FABRIKAM


def test_an_alert_refresh_url_must_name_the_trackings_tenant() -> None:
    limits = limits_for(settings({CONTOSO: {"name": "Contoso"}, FABRIKAM: {"name": "Fabrikam"}}))
    url = ("https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/operations/"
           f"refresh:DirectoryRole_{CONTOSO}_StaleSignInAlert")  # fmt: skip
    assert from_request({"operationUrl": url, "callbackUrl": CALLBACK, "tenantId": CONTOSO}, "t", NOW, limits)
    for tenant in (FABRIKAM, None):
        doc = {"operationUrl": url, "callbackUrl": CALLBACK, **({"tenantId": tenant} if tenant else {})}
        with pytest.raises(Rejected) as raised:
            from_request(doc, "t", NOW, limits)
        assert raised.value.field == "operationUrl" and f"names tenant {CONTOSO}" in raised.value.problem
    home = "https://graph.microsoft.com" + seed.ALERT_OPERATION_PATH  # a tenant not served: the home tenant's own
    assert from_request({"operationUrl": home, "callbackUrl": CALLBACK}, "t", NOW, limits).tenant_id is None


def test_a_started_operation_naming_another_tenant_is_not_tracked() -> None:
    """The Location of a start's 202 is held to the start's tenant as a producer's operation URL is."""
    limits = limits_for(settings({CONTOSO: {"name": "Contoso"}, FABRIKAM: {"name": "Fabrikam"}}))
    url = ("https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/operations/"
           f"refresh:DirectoryRole_{CONTOSO}_StaleSignInAlert")  # fmt: skip
    refresh, reply = ACTIONS["roleManagementAlertRefresh"], GraphAnswer(202, {}, headers={"location": url})
    assert isinstance(read_start_answer(refresh, reply, limits, NOW, tenant_id=CONTOSO), Accepted)
    for tenant in (FABRIKAM, None):
        decision = read_start_answer(refresh, reply, limits, NOW, tenant_id=tenant)
        assert isinstance(decision, Untrackable) and f"names tenant {CONTOSO}" in decision.error.message


def test_the_assertion_audience_and_the_consent_link_follow_the_cloud() -> None:
    assert exchange_scope(CLOUDS["global"]) == "api://AzureADTokenExchange/.default"
    assert exchange_scope(CLOUDS["usgov"]) == "api://AzureADTokenExchangeUSGov/.default"
    assert exchange_scope(CLOUDS["china"]) == "api://AzureADTokenExchangeChina/.default"
    assert consent_link(CLOUDS["usgov"], CONTOSO, APP) == (
        f"https://login.microsoftonline.us/{CONTOSO}/adminconsent?client_id={APP}"
    )


class _Session(requests.Session):
    """Records what would have gone to Graph, and sends nothing."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        self.sent.append(str(url))
        raise requests.ConnectionError("not sent in a unit test")


class _Credential:
    def __init__(self, tid: str | None = None, refusal: str | None = None, roles: list[str] | None = None) -> None:
        self.tid, self.refusal, self.roles = tid, refusal, roles

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        if self.refusal:
            raise ClientAuthenticationError(self.refusal)
        claims: dict[str, Any] = {"tid": self.tid or ""}
        if self.roles is not None:
            claims["roles"] = self.roles
        return AccessToken(jwt_shaped(claims, "standin-x"), 2**40)


def tenant_client(session: _Session, credential: _Credential) -> GraphClient:
    home = GraphClient(session, _Credential(FABRIKAM), "https://graph.microsoft.com/.default",
                       "https://graph.microsoft.com",
                       tenants=lambda tenant: TenantAccess(tenant, "Contoso", APP, credential))  # fmt: skip
    return home.for_tenant(CONTOSO)


def test_a_customer_tenants_client_sends_only_that_tenants_token() -> None:
    session = _Session()
    url = "https://graph.microsoft.com" + seed.reset_path("u", "op", "beta")
    answer = tenant_client(session, _Credential(FABRIKAM)).get_operation(url)
    assert (answer.failed, session.sent) == ("noToken", [])
    assert f"not for tenant {CONTOSO}" in (answer.failure or "")
    assert tenant_client(session, _Credential(CONTOSO)).get_operation(url).failed == "unreachable"
    assert session.sent == [url]


def test_entras_refusal_for_want_of_consent_is_told_apart_from_other_token_trouble() -> None:
    url = "https://graph.microsoft.com" + seed.reset_path("u", "op", "beta")
    for refusal, failed in (("AADSTS65001: The user or administrator has not consented", "noConsent"),
                            ("AADSTS700016: Application with identifier 'a' was not found", "noConsent"),
                            ("AADSTS700213: No matching federated identity record found", "noToken"),
                            ("connection refused", "noToken")):  # fmt: skip
        answer = tenant_client(_Session(), _Credential(refusal=refusal)).get_operation(url)
        assert answer.failed == failed, refusal
    consent = tenant_client(_Session(), _Credential(refusal="AADSTS65001: not consented")).get_operation(url)
    assert f"in tenant Contoso ({CONTOSO}) for the app {APP}" in (consent.failure or "")


def test_what_a_tenant_granted_is_its_tokens_roles_claim_and_none_without_one() -> None:
    assert granted_roles({"tid": CONTOSO, "roles": ["Team.Create", "", 7]}) == frozenset({"Team.Create"})
    assert granted_roles({"tid": CONTOSO, "roles": []}) == frozenset()
    assert granted_roles({"tid": CONTOSO}) is None  # Entra leaves the claim out when nothing is granted
    assert granted_roles({"roles": "Team.Create"}) is None


def test_each_kind_and_action_lacks_the_permissions_not_granted_and_those_lacking_nothing_are_left_out() -> None:
    needs = {"kind a": ("X.Read.All",), "start b": ("Y.Create", "Z.ReadWrite.All"), "start c": ("Y.Create",)}
    assert lacking_permissions(needs, frozenset({"Y.Create"})) == {"kind a": ["X.Read.All"],
                                                                   "start b": ["Z.ReadWrite.All"]}  # fmt: skip
    assert lacking_permissions(needs, frozenset({"X.Read.All", "Y.Create", "Z.ReadWrite.All"})) == {}
    assert lacking_permissions(needs, frozenset()) == {"kind a": ["X.Read.All"], "start b": ["Y.Create",
                                                       "Z.ReadWrite.All"], "start c": ["Y.Create"]}  # fmt: skip


def test_a_tenants_grants_come_from_its_token_and_the_directory_is_read_only_without_a_roles_claim() -> None:
    session = _Session()
    with_roles = tenant_client(session, _Credential(CONTOSO, roles=["Team.Create"]))
    assert read_grants(with_roles, "https://graph.microsoft.com", APP) == Grants(True, frozenset({"Team.Create"}),
                                                                                 source="token")  # fmt: skip
    assert session.sent == []
    without = read_grants(tenant_client(session, _Credential(CONTOSO)), "https://graph.microsoft.com", APP)
    assert without.source == "servicePrincipal" and len(session.sent) == 1
    refused = tenant_client(_Session(), _Credential(refusal="AADSTS65001: not consented"))
    grants = read_grants(refused, "https://graph.microsoft.com", APP)
    assert not grants.consented and "AADSTS65001" in (grants.problem or "")


def test_a_start_refused_in_a_customer_tenant_names_the_tenant_and_the_app_once() -> None:
    access = TenantAccess(CONTOSO, "Contoso", APP, _Credential(CONTOSO))
    graph = ErrorInfo("Authorization_RequestDenied", "Insufficient privileges")
    denied = Refused(403, ErrorInfo(graph.code, "the app's identity needs Team.Create"), Outcome.FORBIDDEN, graph)
    named = in_tenant(denied, access)
    assert isinstance(named, Refused) and named.where == access.where and named.graph == graph
    assert (
        named.error.message == f"the app's identity needs Team.Create, in tenant Contoso ({CONTOSO}) for the app {APP}"
    )
    no_consent = ErrorInfo("consentRequired", f"no consent {access.where}: an administrator must consent to the app")
    consent = in_tenant(Refused(403, no_consent, Outcome.FORBIDDEN, no_consent), access)
    assert isinstance(consent, Refused) and consent.error == no_consent and consent.where == access.where
    assert in_tenant(denied, None) == denied  # the home tenant's refusal stays as it was
    not_found = Refused(404, graph, Outcome.NOT_FOUND, graph)
    assert in_tenant(not_found, access) == not_found
