"""Customer tenants: trackings polled with the multitenant app's token in their own tenant, through azure-identity's
real ClientAssertionCredential, the identity's token its assertion, against the tenant sign-in stand-in."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableClient

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.pacing.budget_store import PARTITION

from ..conftest import SPANS
from ..patience import patience
from .conftest import ROOT, Harness
from .test_cli import GRAPHOPS
from .test_starts import CASES, api_start

RESET = "UserAuthenticationMethod.Read.All"


def tenants_setting(*tenants: tuple[str, str], **extra: Any) -> str:
    return json.dumps({tenant: {"name": name, **extra} for tenant, name in tenants})


def served(make_harness: Callable[..., Harness], *tenants: tuple[str, str], **settings: str) -> Harness:
    return make_harness(GRAPHOPS_TENANTS=tenants_setting(*tenants), GRAPHOPS_STATE_TABLE=f"t{uuid.uuid4().hex[:16]}",
                        **settings)  # fmt: skip


def test_two_tenants_trackings_are_polled_each_with_its_own_tenants_token_and_budget(
    make_harness: Callable[..., Harness], stack: LocalStack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, "graphops")
    authority = stack.tenants
    contoso = authority.add_tenant(permissions=(RESET,))
    fabrikam = authority.add_tenant(permissions=(RESET,))
    harness = served(make_harness, (contoso, "Contoso"), (fabrikam, "Fabrikam"))
    paths = {tenant: seed.reset_path(f"user-{tenant}", "op", "beta") for tenant in (contoso, fabrikam)}
    for path in paths.values():
        harness.graph.script(path, [Reply(200, seed.password_reset("running", "op")),
                                    Reply(200, seed.password_reset("succeeded", "op"))])  # fmt: skip
    ids = {tenant: harness.track(path, tenant_id=tenant) for tenant, path in paths.items()}
    home = harness.track(seed.ALERT_OPERATION_PATH)
    harness.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("succeeded"))])
    harness.run()

    assert harness.outcomes() == {ids[contoso]: "succeeded", ids[fabrikam]: "succeeded", home: "succeeded"}
    for tenant, path in paths.items():
        calls = harness.graph.gets(path)
        assert len(calls) == 2
        assert {call.tenant for call in calls} == {tenant}  # its own tenant's token, every time
    assert {call.tenant for call in harness.graph.gets(seed.ALERT_OPERATION_PATH)} == {harness.stack.identity.tenant}
    bodies = {r.webhook_id: r.body for r in harness.receiver.delivered()}
    assert bodies[ids[contoso]]["tenantId"] == contoso
    assert bodies[home]["tenantId"] is None
    status = requests.get(harness.api(f"operations/{ids[fabrikam]}"), timeout=30).json()
    assert status["tenantId"] == fabrikam and status["outcome"] == "succeeded"
    table = TableClient.from_connection_string(harness.env["AzureWebJobsStorage"], harness.env["GRAPHOPS_STATE_TABLE"])
    budgets = {row["PartitionKey"] for row in table.query_entities(f"PartitionKey gt '{PARTITION}|' and "
                                                                    f"PartitionKey lt '{PARTITION}}}'")}  # fmt: skip
    assert {budget.split("|")[1] for budget in budgets} == {contoso, fabrikam, harness.stack.identity.tenant}
    assert authority.tokens_for(contoso) == 1 and authority.tokens_for(fabrikam) == 1  # each credential caches
    steps = [dict(span.attributes or {}) for span in SPANS.get_finished_spans()]
    tenants = {step["graphops.tracking_id"]: step.get("graphops.tenant_id") for step in steps
               if "graphops.tracking_id" in step}  # fmt: skip
    assert tenants[ids[contoso]] == contoso and tenants[ids[fabrikam]] == fabrikam and tenants[home] is None
    polls = [json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith('{"event": "poll"')]
    assert {p["trackingId"]: p.get("tenantId") for p in polls} == {ids[contoso]: contoso, ids[fabrikam]: fabrikam,
                                                                   home: None}  # fmt: skip


def test_a_tenant_without_consent_ends_forbidden_naming_the_tenant_the_app_and_the_consent(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    authority = stack.tenants
    unconsented = authority.add_tenant(consented=False)
    unknown = str(uuid.uuid4())  # listed in GRAPHOPS_TENANTS, but the app was never consented to there at all
    harness = served(make_harness, (unconsented, "Northwind"), (unknown, "Tailspin"))
    paths = {tenant: seed.reset_path(f"user-{tenant}", "op", "beta") for tenant in (unconsented, unknown)}
    ids = {tenant: harness.track(path, tenant_id=tenant) for tenant, path in paths.items()}
    harness.run()

    bodies = {r.webhook_id: r.body for r in harness.receiver.delivered()}
    for tenant, code in ((unconsented, "AADSTS65001"), (unknown, "AADSTS700016")):
        body = bodies[ids[tenant]]
        assert body["outcome"] == "forbidden"
        assert body["error"]["code"] == "consentRequired"
        message = body["error"]["message"]
        assert tenant in message and authority.client_id in message and code in message
        assert "consent" in message
        assert not harness.graph.gets(paths[tenant])  # no token, no request
    assert "Northwind" in bodies[ids[unconsented]]["error"]["message"]


def test_a_tenant_lacking_the_kinds_permission_ends_forbidden_naming_tenant_app_and_permission(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    tenant = stack.tenants.add_tenant()
    harness = served(make_harness, (tenant, "Contoso"))
    denied = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    path = seed.reset_path("someone", "op", "beta")
    harness.graph.script(path, [denied])
    tracking = harness.track(path, tenant_id=tenant)
    harness.run()

    [body] = [r.body for r in harness.receiver.delivered() if r.webhook_id == tracking]
    assert body["outcome"] == "forbidden"
    message = body["error"]["message"]
    assert RESET in message and tenant in message and "Contoso" in message
    assert harness.stack.tenants.client_id in message


def test_a_tenant_outside_the_allow_list_is_refused_with_a_400_naming_tenant_id(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    listed = stack.tenants.add_tenant()
    harness = served(make_harness, (listed, "Contoso"))
    stranger = str(uuid.uuid4())
    body = {"operationUrl": harness.graph_url(seed.reset_path("u", "op", "beta")),
            "callbackUrl": harness.stack.callback_url(), "tenantId": stranger}  # fmt: skip
    answer = requests.post(harness.api("operations"), json=body, timeout=30)
    assert answer.status_code == 400
    problem = answer.json()
    assert "tenantId" in json.dumps(problem) and stranger in json.dumps(problem)
    accepted = requests.post(harness.api("operations"), json={**body, "tenantId": listed}, timeout=30)
    assert accepted.status_code == 202


def test_an_operation_url_naming_another_tenant_is_refused(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    ours, theirs = stack.tenants.add_tenant(), stack.tenants.add_tenant()
    harness = served(make_harness, (ours, "Contoso"), (theirs, "Fabrikam"))
    path = f"/beta/identityGovernance/roleManagementAlerts/operations/refresh:DirectoryRole_{theirs}_StaleSignInAlert"
    body = {"operationUrl": harness.graph_url(path), "callbackUrl": harness.stack.callback_url(), "tenantId": ours}
    answer = requests.post(harness.api("operations"), json=body, timeout=30)
    assert answer.status_code == 400
    assert "operationUrl" in answer.text and theirs in answer.text
    home = requests.post(harness.api("operations"), json={k: v for k, v in body.items() if k != "tenantId"}, timeout=30)
    assert home.status_code == 400  # a customer tenant's operation is never read with the home tenant's token
    own = requests.post(harness.api("operations"), json={**body, "tenantId": theirs}, timeout=30)
    assert own.status_code == 202
    assert not harness.graph.gets(path) or {c.tenant for c in harness.graph.gets(path)} == {theirs}


def graphops(stack: LocalStack, settings_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The command as a user runs it, trusting the stand-ins' CA (the tenant sign-in speaks TLS only)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHOPS_", "IDENTITY_", "AzureWebJobs"))}
    env.update({"COLUMNS": "240", "REQUESTS_CA_BUNDLE": str(stack.ca_bundle)})
    return subprocess.run([*GRAPHOPS, "--settings", str(settings_file), *args], capture_output=True, text=True,
                          timeout=patience(60), cwd=ROOT, env=env, check=False)  # fmt: skip


def consent_settings(stack: LocalStack, tmp_path: Path, *tenants: tuple[str, str], **extra: str) -> Path:
    values = {**stack.environment(), "GRAPHOPS_TENANTS": tenants_setting(*tenants), **extra}
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def test_consent_check_reports_the_permission_a_tracked_kind_and_a_start_action_lack_from_the_tenants_token(
    stack: LocalStack, tmp_path: Path
) -> None:
    tenant = stack.tenants.add_tenant(permissions=(RESET,))
    kinds = "authenticationMethodOperation,roleManagementAlertRefresh"
    settings = consent_settings(stack, tmp_path, (tenant, "Contoso"), GRAPHOPS_START_ACTIONS="teamClone",
                                GRAPHOPS_TRACKED_KINDS=kinds)  # fmt: skip
    checked = graphops(stack, settings, "consent", "check", "--tenant", tenant, "--json")
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["consented"] is True and report["granted"] == [RESET] and report["grantsFrom"] == "token"
    assert stack.tenants.tenants[tenant].directory_reads == 0  # the token said it all: no Application.Read.All
    assert report["lacking"] == {"kind roleManagementAlertRefresh": ["RoleManagementAlert.Read.Directory"],
                                 "start teamClone": ["Team.Create"]}  # fmt: skip
    shown = graphops(stack, settings, "consent", "check", "--tenant", tenant)
    assert f"granted (read from its Graph token's roles): {RESET}" in shown.stdout
    assert "roleManagementAlertRefresh: lacks RoleManagementAlert.Read.Directory" in shown.stdout
    assert "authenticationMethodOperation: ok" in shown.stdout

    stack.tenants.tenants[tenant].permissions |= {"RoleManagementAlert.Read.Directory", "Team.Create"}
    complete = graphops(stack, settings, "consent", "check", "--tenant", tenant, "--json")
    assert complete.returncode == 0, complete.stdout
    assert json.loads(complete.stdout)["lacking"] == {}


def test_consent_check_reads_the_service_principal_only_when_the_tenants_token_has_no_roles_claim(
    stack: LocalStack, tmp_path: Path
) -> None:
    tenant = stack.tenants.add_tenant()  # consented, granted nothing: Entra's token has no roles claim
    settings = consent_settings(
        stack, tmp_path, (tenant, "Fabrikam"), GRAPHOPS_TRACKED_KINDS="authenticationMethodOperation"
    )
    checked = graphops(stack, settings, "consent", "check", "--tenant", tenant, "--json")
    assert checked.returncode == 1, checked.stderr
    report = json.loads(checked.stdout)
    assert report["consented"] is True and report["granted"] == [] and report["grantsFrom"] == "servicePrincipal"
    assert report["lacking"] == {"kind authenticationMethodOperation": [RESET]}
    assert stack.tenants.tenants[tenant].directory_reads > 0
    shown = graphops(stack, settings, "consent", "check", "--tenant", tenant)
    assert "granted (read from the app's service principal there): none" in shown.stdout


def test_consent_check_says_a_tenant_has_not_consented_and_link_prints_where_to_consent(
    stack: LocalStack, tmp_path: Path
) -> None:
    tenant = stack.tenants.add_tenant(consented=False)
    settings = consent_settings(stack, tmp_path, (tenant, "Northwind"))
    checked = graphops(stack, settings, "consent", "check", "--tenant", tenant)
    assert checked.returncode == 1
    assert "Northwind" in checked.stdout and "has not consented" in checked.stdout and "AADSTS65001" in checked.stdout
    linked = graphops(stack, settings, "consent", "link", "--tenant", tenant)
    assert linked.returncode == 0
    assert linked.stdout.strip() == f"{stack.tenants.url}/{tenant}/adminconsent?client_id={stack.tenants.client_id}"
    stranger = graphops(stack, settings, "consent", "check", "--tenant", str(uuid.uuid4()))
    assert stranger.returncode == 2 and "GRAPHOPS_TENANTS" in stranger.stderr


def test_a_start_in_a_customer_tenant_is_sent_with_its_token_or_refused_403_where_it_has_not_consented(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    consented = stack.tenants.add_tenant(permissions=("Team.Create",))
    unconsented = stack.tenants.add_tenant(consented=False)
    tenants = ((consented, "Contoso"), (unconsented, "Northwind"))
    harness = served(make_harness, *tenants, GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    harness.graph.on(case.method, case.url, lambda body: Reply(202, None, {"Location": seed.TEAM_LOCATION}))
    harness.graph.script(f"/v1.0{seed.TEAM_LOCATION}", [Reply(200, case.final)])
    refused = api_start(harness, case, "northwind", tenantId=unconsented)
    assert refused.status_code == 403
    assert refused.json()["graphError"]["code"] == "consentRequired" and unconsented in refused.text
    assert not harness.graph.requests(case.method, case.url)  # no token, nothing sent
    started = api_start(harness, case, "contoso", tenantId=consented)
    assert started.status_code == 202, started.text
    harness.run()
    [sent] = harness.graph.requests(case.method, case.url)
    assert sent.tenant == consented
    [callback] = harness.receiver.delivered()
    assert callback.body["tenantId"] == consented and callback.body["outcome"] == "succeeded"


def test_a_start_graph_refuses_with_403_in_a_customer_tenant_names_the_tenant_the_app_and_the_permission(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    tenant = stack.tenants.add_tenant(permissions=(RESET,))  # consented, without Team.Create
    harness = served(make_harness, (tenant, "Contoso"), GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    denied = seed.graph_error("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    harness.graph.on(case.method, case.url, lambda body: Reply(403, denied))
    refused = api_start(harness, case, "contoso-denied", tenantId=tenant)
    assert refused.status_code == 403, refused.text
    answer = refused.json()
    title = answer["title"]
    assert f"Contoso ({tenant})" in title and stack.tenants.client_id in title and "Team.Create" in title
    assert answer["graphError"]["code"] == "Authorization_RequestDenied"
    [sent] = harness.graph.requests(case.method, case.url)
    assert sent.tenant == tenant


def test_an_alert_refresh_takes_a_served_tenant_and_refuses_one_outside_the_allow_list_naming_tenant_id(
    make_harness: Callable[..., Harness], stack: LocalStack
) -> None:
    tenant = stack.tenants.add_tenant(permissions=("RoleManagementAlert.ReadWrite.Directory",))
    barred = stack.tenants.add_tenant(permissions=("RoleManagementAlert.ReadWrite.Directory",))
    harness = served(make_harness, (tenant, "Contoso"), GRAPHOPS_START_ACTIONS="roleManagementAlertRefresh")
    operation_id = f"refresh:DirectoryRole_{tenant}_StaleSignInAlert"  # Graph names the tenant in the operation
    operation = f"/beta/identityGovernance/roleManagementAlerts/operations/{operation_id}"
    refresh = "/beta/identityGovernance/roleManagementAlerts/alerts/refresh"
    harness.graph.on_post(refresh, lambda body: Reply(202, None, {"Location": harness.graph_url(operation)}))
    harness.graph.script(operation, [Reply(200, seed.alert_refresh("succeeded", operation_id))])

    def start_refresh(tenant_id: str | None) -> requests.Response:
        doc = {"scopeId": "/", "scopeType": "DirectoryRole", "callbackUrl": harness.stack.callback_url(),
               **({"tenantId": tenant_id} if tenant_id else {})}  # fmt: skip
        return requests.post(harness.api("role-management-alerts/refresh"), json=doc, timeout=patience(10))

    outside = start_refresh(barred)  # consented to the app, but not served by this deployment
    assert outside.status_code == 400, outside.text
    assert [e["field"] for e in outside.json()["errors"]] == ["tenantId"] and "GRAPHOPS_TENANTS" in outside.text
    assert not harness.graph.requests("POST", refresh)  # refused before Graph is asked
    started = start_refresh(tenant)
    assert started.status_code == 202, started.text
    harness.run()
    [sent] = harness.graph.requests("POST", refresh)
    assert sent.tenant == tenant
    [callback] = harness.receiver.delivered()
    assert callback.body["tenantId"] == tenant and callback.body["outcome"] == "succeeded"
    # The home tenant's refresh answered with the customer tenant's operation: not tracked with the home token.
    home = start_refresh(None)
    assert home.status_code == 502 and f"names tenant {tenant}" in home.json()["detail"], home.text
    assert len(harness.graph.requests("POST", refresh)) == 2 and len(harness.graph.gets(operation)) == 1


def test_the_consoles_list_names_each_trackings_tenant_and_filters_by_it(
    make_harness: Callable[..., Harness], stack: LocalStack, tmp_path: Path
) -> None:
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.settings import Settings

    contoso, fabrikam = stack.tenants.add_tenant(permissions=(RESET,)), stack.tenants.add_tenant(permissions=(RESET,))
    harness = served(make_harness, (contoso, "Contoso"), (fabrikam, "Fabrikam"))
    ids = {}
    for tenant in (contoso, fabrikam, None):
        path = seed.reset_path(f"user-{tenant}", "op", "beta")
        harness.graph.script(path, [Reply(200, seed.password_reset("succeeded", "op"))])
        ids[tenant] = harness.track(path, tenant_id=tenant)
    harness.run()

    settings = Settings.from_env(harness.env)
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize)) as console:
        everything = requests.get(f"{console.url}/?from=", timeout=patience(10)).text
        only = requests.get(f"{console.url}/?from=&tenantId={fabrikam}", timeout=patience(10)).text
        unknown = requests.get(f"{console.url}/?from=&tenantId={uuid.uuid4()}", timeout=patience(10))
    cells = {tracking: everything.split(f'data-tracking="{tracking}"')[1].split("</tr>")[0]
             for tracking in ids.values()}  # fmt: skip
    assert ">Contoso</td>" in cells[ids[contoso]] and ">Fabrikam</td>" in cells[ids[fabrikam]]
    assert ">home</td>" in cells[ids[None]]
    assert f'data-tracking="{ids[fabrikam]}"' in only
    assert f'data-tracking="{ids[contoso]}"' not in only and f'data-tracking="{ids[None]}"' not in only
    assert unknown.status_code == 400 and "tenantId" in unknown.text
    settings_file = tmp_path / "local.settings.json"
    settings_file.write_text(json.dumps({"IsEncrypted": False, "Values": harness.env}))
    listed = graphops(stack, settings_file, "list", "--tenant", fabrikam, "--from", "", "--json")
    assert [row["tenantId"] for row in json.loads(listed.stdout)["trackings"]] == [fabrikam], listed.stderr


def test_the_tenant_sign_in_takes_the_identitys_assertion_only_where_issuer_subject_and_audience_match(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientAssertionCredential, ManagedIdentityCredential

    from graphops.graph.reader import tenant_of
    from graphops.local.tenants import FederatedCredential

    for name, value in {**stack.identity.environment(), "REQUESTS_CA_BUNDLE": str(stack.ca_bundle)}.items():
        monkeypatch.setenv(name, value)
    tenant = stack.tenants.add_tenant(permissions=(RESET,))
    identity = ManagedIdentityCredential()

    def token(audience: str) -> str:
        def assertion() -> str:
            return str(identity.get_token(audience + "/.default").token)

        app = ClientAssertionCredential(tenant, stack.tenants.client_id, assertion, authority=stack.tenants.url)
        return str(app.get_token("https://graph.microsoft.com/.default").token)

    assert tenant_of(token("api://AzureADTokenExchange")) == tenant
    with pytest.raises(ClientAuthenticationError) as wrong_audience:
        token("api://AzureADTokenExchangeUSGov")
    assert "AADSTS700212" in str(wrong_audience.value)
    federated = stack.tenants.federated
    for changed, code in ((FederatedCredential(federated.issuer, federated.subject.upper()), "AADSTS700213"),
                          (FederatedCredential(federated.issuer.replace("/v2.0", ""), federated.subject),
                           "AADSTS700211")):  # fmt: skip
        stack.tenants.federated = changed  # as a credential saved with a wrong subject or issuer: refused only now
        with pytest.raises(ClientAuthenticationError) as refused:
            token("api://AzureADTokenExchange")
        assert code in str(refused.value) and "No matching federated identity record" in str(refused.value)
