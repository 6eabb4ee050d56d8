"""Start actions end to end: graphops sends the Graph request with its identity, keeps the operation URL from
Graph's answer (in each header shape the reference pages show), and tracks it to a signed callback, through
POST /api/start and through start messages on the queue. Then what Graph refuses, and where a host can die."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
import requests

from graphops import functions
from graphops.graph.actions import ACTIONS
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.runner import QueueOptions
from graphops.settings import Settings, seal_for

from ..patience import patience
from .conftest import ROOT, Harness

TEAM, CASE, SEARCH = seed.TEAM_ID, seed.CASE_ID, "c61a5860-d634-4d14-aea7-d82b6f4eb7af"
CHANNEL = "19:v32db348d9264477abcf18ffa2cf76dc@thread.tacv2"
PURGE = f"/v1.0/security/cases/ediscoveryCases/{CASE}/searches/{SEARCH}/purgeData"
CUSTODIANS = ["7f697316-43ed-48e1-977f-261be050db93", "b26888b3-e1f5-47c5-bdf2-33d1b90cb2e8"]
USER = "48d31887-5fad-4d73-a9f5-3c356e68a038"
LIST_OPERATION = "/v1.0/sites/root/lists/Documents/operations/contentTypeCopy,0x0101"
MONITOR_PATH = "/_api/v2.0/monitor/4A3407B5-88FC-4504-8B21-0AABD3412717"
ALERT_PATH = seed.ALERT_OPERATION_PATH


@dataclass(frozen=True)
class Case:
    """One start action as its Graph reference page shows it: the request, the 202, and the operation."""

    method: str
    url: str
    body: dict[str, Any] | None
    headers: dict[str, str]  # of Graph's 202 ({graph} and {monitor} stand for the stand-ins' origins)
    polled: str  # the operation's path, as graphops polls it
    running: Any
    final: Any
    outcome: str = "succeeded"
    on_monitor: bool = False  # polled on the SharePoint monitor, without a token
    extra: dict[str, Any] = field(default_factory=dict)
    status: int = 202  # a job action's answer is 201 with the job ...
    created: Any = None  # ... which is this body


def team(status: str) -> dict[str, Any]:
    return seed.teams_operation(status)


def case_operation(operation: str) -> str:
    return f"/v1.0/security/cases/ediscoveryCases/{CASE}/operations/{operation}"


def case_action(kind: str, action: str, status: str, percent: int) -> dict[str, Any]:
    """A case operation of another kind than the seed's estimate: a hold update, an export."""
    odata_type = f"#microsoft.graph.security.{kind}"
    return {**seed.case_operation(status, percent), "@odata.type": odata_type, "action": action}


def hold(status: str, percent: int) -> dict[str, Any]:
    return case_action("ediscoveryHoldOperation", "holdUpdate", status, percent)


MIGRATE_JOB = "add14989-2b21-4001-81bd-a18b0bac1dea"  # another job than the validated one


def migrating(status: str) -> dict[str, Any]:
    """A cross-tenant migration job being migrated, as its GET example wraps it."""
    return {"value": {**seed.migration_job(status)["value"], "id": MIGRATE_JOB}}


def team_operation(operation: str) -> str:
    """A teams Location as Teams writes it (relative, unversioned, OData keys): one per action here."""
    return f"/teams('{TEAM}')/operations('{operation}')"


CASES: dict[str, Case] = {
    # The refresh's Location is absolute, on the Graph host.
    "roleManagementAlertRefresh": Case(
        "POST", "/beta/identityGovernance/roleManagementAlerts/alerts/refresh",
        {"scopeId": "/", "scopeType": "DirectoryRole"}, {"Location": "{graph}" + ALERT_PATH}, ALERT_PATH,
        seed.alert_refresh("running"), seed.alert_refresh("succeeded"),
    ),
    # Teams: relative, unversioned, OData keys; a create also names the team in Content-Location.
    "teamCreate": Case(
        "POST", "/v1.0/teams", {"displayName": "Library Assist", "template@odata.bind": "standard"},
        {"Location": team_operation("op-create"), "Content-Location": f"/teams('{TEAM}')"},
        "/v1.0" + team_operation("op-create"), team("inProgress"), team("succeeded"),
    ),
    "teamClone": Case(
        "POST", f"/v1.0/teams/{TEAM}/clone", {"displayName": "Library Assist", "partsToClone": "apps,tabs"},
        {"Location": team_operation("op-clone")}, "/v1.0" + team_operation("op-clone"), team("notStarted"),
        team("succeeded"),
    ),
    "teamArchive": Case(
        "POST", f"/v1.0/teams/{TEAM}/archive", None, {"Location": team_operation("op-archive")},
        "/v1.0" + team_operation("op-archive"), team("inProgress"), team("succeeded"),
    ),
    "teamUnarchive": Case(
        "POST", f"/beta/teams('{TEAM}')/unarchive", None, {"Location": team_operation("op-unarchive")},
        "/v1.0" + team_operation("op-unarchive"), team("inProgress"), {**team("failed"), "error": {"code": "Conflict"}},
        outcome="failed",
    ),
    # A channel's Location is the team's operation, relative and unversioned, as its reference page shows it.
    "channelArchive": Case(
        "POST", f"/v1.0/teams/{TEAM}/channels/{CHANNEL}/archive", {"shouldSetSpoSiteReadOnlyForMembers": True},
        {"Location": f"/teams/{TEAM}/operations/op-channel-archive"},
        f"/v1.0/teams/{TEAM}/operations/op-channel-archive", team("inProgress"), team("succeeded"),
    ),
    "channelUnarchive": Case(
        "POST", f"/v1.0/groups/{TEAM}/team/channels/{CHANNEL}/unarchive", None,
        {"Location": f"/teams/{TEAM}/operations/op-channel-unarchive"},
        f"/v1.0/teams/{TEAM}/operations/op-channel-unarchive", team("inProgress"), team("succeeded"),
    ),
    # The export's 202 asks for a wait (Retry-After); the stand-in checks the first poll honours it.
    "personalDataExport": Case(
        "POST", f"/v1.0/users/{USER}/exportPersonalData", {"storageLocation": "https://contoso.blob.core.windows.net/x"},
        {"Location": "{graph}" + seed.EXPORT_PATH, "Retry-After": "1"}, seed.EXPORT_PATH,
        seed.data_export("running"), seed.data_export("complete"),
    ),
    # eDiscovery writes its Location in lower case with OData keys, as its reference page shows.
    "ediscoveryEstimate": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/searches/{SEARCH}/estimateStatistics", None,
        {"Location": f"{{graph}}/v1.0/security/cases/ediscoverycases('{CASE}')/operations('{seed.CASE_OPERATION_ID}')"},
        f"/v1.0/security/cases/ediscoverycases('{CASE}')/operations('{seed.CASE_OPERATION_ID}')",
        seed.case_operation("running", 20), seed.case_operation("succeeded", 100),
    ),
    "ediscoveryExportResult": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/searches/{SEARCH}/exportResult",
        {"displayName": "Export 1", "exportCriteria": "searchHits", "additionalOptions": "none", "exportFormat": "pst"},
        {"Location": "{graph}" + case_operation("op-result")}, case_operation("op-result"),
        seed.case_operation("running", 20), seed.case_operation("partiallySucceeded", 100),
        outcome="partiallySucceeded",
    ),
    "ediscoveryExportReport": Case(
        "POST", f"/beta/security/cases/ediscoveryCases/{CASE}/searches/{SEARCH}/exportReport",
        {"displayName": "Report", "exportCriteria": "searchHits"},
        {"Location": "{graph}" + case_operation("op-report")}, case_operation("op-report"),
        seed.case_operation("running", 20), seed.case_operation("succeeded", 100),
    ),
    "ediscoveryAddToReviewSet": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/reviewSets/63ef0fd7/addToReviewSet",
        {"search": {"id": SEARCH}, "additionalDataOptions": "linkedFiles"},
        {"Location": "{graph}" + case_operation("op-review")}, case_operation("op-review"),
        seed.case_operation("notStarted", 0), seed.case_operation("succeeded", 100),
    ),
    # Holds: on the ids in the body at the collection's path, or on the one in the path.
    "ediscoveryCustodianApplyHold": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/custodians/applyHold", {"ids": CUSTODIANS},
        {"Location": "{graph}" + case_operation("op-hold")}, case_operation("op-hold"),
        hold("running", 50), hold("succeeded", 100),
    ),
    "ediscoveryCustodianRemoveHold": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/custodians/c25c3914f9f743ee9cbaa25377e0cec6/removeHold",
        None, {"Location": "{graph}" + case_operation("op-unhold")}, case_operation("op-unhold"),
        hold("running", 50), hold("partiallySucceeded", 100), outcome="partiallySucceeded",
    ),
    "ediscoveryNoncustodialDataSourceApplyHold": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/noncustodialDataSources/applyHold",
        {"ids": ["46333131344239353834433430454335"]},
        {"Location": "{graph}" + case_operation("op-source-hold")}, case_operation("op-source-hold"),
        hold("notStarted", 0), hold("succeeded", 100),
    ),
    "ediscoveryNoncustodialDataSourceRemoveHold": Case(
        "POST",
        f"/beta/security/cases/ediscoveryCases/{CASE}/noncustodialDataSources/46333131344239353834433430454335/removeHold",
        None, {"Location": "{graph}" + case_operation("op-source-unhold")}, case_operation("op-source-unhold"),
        hold("running", 50), hold("failed", 100), outcome="failed",
    ),
    "ediscoveryReviewSetExport": Case(
        "POST", f"/v1.0/security/cases/ediscoveryCases/{CASE}/reviewSets/273f11a1-17aa-419c-981d-ff10d33e420f/export",
        {"outputName": "Export via API", "description": "Export for the Contoso investigation",
         "exportOptions": "originalFiles,tags", "exportStructure": "directory"},
        {"Location": f"{{graph}}/v1.0/security/cases/ediscoverycases('{CASE}')/operations('op-export')"},
        f"/v1.0/security/cases/ediscoverycases('{CASE}')/operations('op-export')",
        case_action("ediscoveryExportOperation", "contentExport", "running", 30),
        case_action("ediscoveryExportOperation", "contentExport", "succeeded", 100),
    ),
    # A drive copy's monitor is on SharePoint, read without a token.
    "driveItemCopy": Case(
        "POST", "/v1.0/drives/b!x9/items/01MOWKYV/copy?@microsoft.graph.conflictBehavior=rename",
        {"parentReference": {"driveId": "b!x9", "id": "01FOLDER"}, "name": "plan (copy).txt"},
        {"Location": "{monitor}" + MONITOR_PATH}, MONITOR_PATH,
        {"status": "inProgress", "percentageComplete": 40.0}, {"status": "completed", "resourceId": "01COPY"},
        on_monitor=True,
    ),
    # SharePoint writes the header name in lower case.
    "siteContentTypeCopy": Case(
        "POST", "/v1.0/sites/root/contentTypes/addCopyFromContentTypeHub", {"contentTypeId": "0x0101"},
        {"location": "{graph}" + seed.SITE_OPERATION_PATH}, seed.SITE_OPERATION_PATH,
        seed.rich_operation("running", 10), seed.rich_operation("succeeded", 100),
    ),
    "listContentTypeCopy": Case(
        "POST", "/v1.0/sites/root/lists/Documents/contentTypes/addCopyFromContentTypeHub", {"contentTypeId": "0x0101"},
        {"location": "{graph}" + LIST_OPERATION}, LIST_OPERATION,
        seed.rich_operation("running", 10), seed.rich_operation("succeeded", 100),
    ),
    # A site's creation: the page's request, and its Location to getOperationStatus(operationId='…').
    "siteCreate": Case(
        "POST", "/beta/sites",
        {"name": "Communication Site Test", "webUrl": "https://contoso.sharepoint.com/sites/commsite1",
         "locale": "en-US", "shareByEmailEnabled": False, "description": "Test Site Description",
         "template": "SitePublishing", "ownerIdentityToResolve": {"email": "ryan@contoso.com"}},
        {"Location": "{graph}" + seed.SITE_CREATION_PATH}, seed.SITE_CREATION_PATH,
        seed.site_creation("running"), seed.site_creation("succeeded"),
    ),
    "externalConnectionSchema": Case(
        "PATCH", "/v1.0/external/connections/contosohr/schema",
        {"baseType": "microsoft.graph.externalItem", "properties": [{"name": "title", "type": "String"}]},
        {"Location": "{graph}" + seed.CONNECTION_OPERATION_PATH}, seed.CONNECTION_OPERATION_PATH,
        seed.connection_operation("inprogress"), seed.connection_operation("completed"),
    ),
    # Jobs: Graph answers 201 with the job, whose own status graphops then reads at the URL it posted to + id.
    "auditLogQuery": Case(
        "POST", "/v1.0/security/auditLog/queries",
        {"@odata.type": "#microsoft.graph.security.auditLogQuery", "displayName": "Mailbox access, last week",
         "filterStartDateTime": "2026-11-21T00:00:00Z", "filterEndDateTime": "2026-11-28T00:00:00Z",
         "recordTypeFilters": ["exchangeItem"], "operationFilters": ["MailItemsAccessed"]},
        {}, seed.AUDIT_QUERY_PATH, seed.audit_query("running"), seed.audit_query("succeeded"),
        status=201, created=seed.audit_query("notStarted", wrapped=False),
    ),
    # The page's example 1: an administrator assigns a package directly; the request is answered 201.
    "accessPackageAssignmentRequest": Case(
        "POST", "/v1.0/identityGovernance/entitlementManagement/assignmentRequests",
        {"requestType": "adminAdd", "assignment": {"targetId": "46184453-e63b-4f20-86c2-c557ed5d5df9",
                                                   "assignmentPolicyId": "2264bf65-76ba-417b-a27d-54d291f0cbc8",
                                                   "accessPackageId": "a914b616-e04e-476b-aa37-91038f0b165b"}},
        {}, seed.ACCESS_REQUEST_PATH, seed.access_package_request("delivering"),
        seed.access_package_request("delivered"), status=201, created=seed.access_package_request("submitted"),
    ),
    # The page's example: createSnapshot answers 200 with the job, read under configurationSnapshotJobs.
    "configurationSnapshot": Case(
        "POST", "/v1.0/admin/configurationManagement/configurationSnapshots/createSnapshot",
        {"displayName": "Snapshot Demo", "description": "This is Snapshot Description",
         "resources": ["microsoft.exchange.sharedmailbox", "microsoft.exchange.transportrule"]},
        {}, seed.SNAPSHOT_JOB_PATH, seed.snapshot_job("running"), seed.snapshot_job("succeeded"),
        status=200, created=seed.snapshot_job("notStarted"),
    ),
    # A job's validation answers with the job, read at its own URL until validatePassed or validateFailed.
    "crossTenantMigrationValidate": Case(
        "POST", f"/v1.0/solutions/migrations/crossTenantMigrationJobs/{seed.MIGRATION_JOB_ID}/validate", None,
        {}, seed.MIGRATION_JOB_PATH, seed.migration_job("validateInProgress", "validate"),
        seed.migration_job("validatePassed", "validate"), status=200,
        created=seed.migration_job("validateSubmitted", "validate")["value"],
    ),
    # Its migration answers 200 with the job (the page's example: processing); Graph may still read the job as
    # validatePassed at the first poll, which is no end of this wait.
    "crossTenantMigrationMigrate": Case(
        "POST", f"/v1.0/solutions/migrations/crossTenantMigrationJobs/{MIGRATE_JOB}/migrate", None,
        {}, f"/v1.0/solutions/migrations/crossTenantMigrationJobs/{MIGRATE_JOB}", migrating("validatePassed"),
        migrating("completed"), status=200, created=migrating("processing")["value"],
    ),
    "deviceManagementExportJob": Case(
        "POST", "/v1.0/deviceManagement/reports/exportJobs",
        {"reportName": "DeviceCompliance", "format": "csv", "select": ["DeviceName", "ComplianceState"]},
        {}, seed.EXPORT_JOB_PATH, seed.export_job("inProgress"), seed.export_job("completed"),
        status=201, created=seed.export_job("notStarted")["value"],
    ),
    "cloudPcExportJob": Case(
        "POST", "/beta/deviceManagement/virtualEndpoint/reports/exportJobs",
        {"reportName": "TotalAggregatedRemoteConnectionReports", "select": ["CloudPcId", "ManagedDeviceName"]},
        {}, seed.CLOUD_PC_EXPORT_PATH, seed.cloud_pc_export("inProgress"), seed.cloud_pc_export("completed"),
        status=201, created=seed.cloud_pc_export("inProgress")["value"],
    ),
    "accessReviewHistoryDefinition": Case(
        "POST", "/v1.0/identityGovernance/accessReviews/historyDefinitions",
        {"displayName": "Last quarter's group reviews April 2021", "decisions": ["approve", "deny"],
         "reviewHistoryPeriodStartDateTime": "2021-01-01T00:00:00Z",
         "reviewHistoryPeriodEndDateTime": "2021-04-05T00:00:00Z",
         "scopes": [{"@odata.type": "#microsoft.graph.accessReviewQueryScope", "queryType": "MicrosoftGraph",
                     "query": "/identityGovernance/accessReviews/definitions?$filter=contains(scope/query, '/groups')",
                     "queryRoot": None}]},
        {}, seed.HISTORY_DEFINITION_PATH, seed.history_definition("inProgress"), seed.history_definition("done"),
        status=201, created=seed.history_definition("requested"),
    ),
}  # fmt: skip
ALL_ACTIONS = ",".join(ACTIONS)


def test_every_action_in_the_registry_has_a_case() -> None:
    assert set(CASES) == set(ACTIONS)


def script(harness: Harness, name: str, case: Case) -> list[dict[str, Any]]:
    """Graph (or SharePoint) answers the start with the case's 202 and the operation with its script; returns
    the list the bodies Graph received go to."""
    received: list[dict[str, Any]] = []
    origins = {"{graph}": harness.graph.url, "{monitor}": harness.stack.sharepoint.url}

    def answer(body: dict[str, Any]) -> Reply:
        received.append(body)
        headers = {k: _fill(v, origins) for k, v in case.headers.items()}
        return Reply(case.status, case.created, headers)

    harness.graph.on(case.method, case.url.split("?")[0], answer)
    polled = harness.stack.sharepoint if case.on_monitor else harness.graph
    polled.script(case.polled, [Reply(200, case.running), Reply(200, case.final)])
    return received


def _fill(value: str, origins: dict[str, str]) -> str:
    for placeholder, origin in origins.items():
        value = value.replace(placeholder, origin)
    return value


def api_start(harness: Harness, case: Case, key: str, **fields: Any) -> requests.Response:
    request: dict[str, Any] = {"method": case.method, "url": case.url}
    if case.body is not None:
        request["body"] = case.body
    doc = {"request": request, "callbackUrl": harness.stack.callback_url(), **fields}
    # Keys are per test (the state table outlives one): each test's stack has its own queue name.
    key = f"{harness.stack.queue_name}-{key}"
    return requests.post(harness.api("start"), json=doc, headers={"Idempotency-Key": key}, timeout=patience(10))


def check_callbacks(harness: Harness, sent: dict[str, list[dict[str, Any]]]) -> None:
    by_action = {c.body["correlationId"]: c for c in harness.receiver.delivered()}
    assert set(by_action) == set(CASES)
    for name, case in CASES.items():
        callback = by_action[name]
        assert callback.verified, name
        body = callback.body
        expected = (ACTIONS[name].kind.name, case.outcome, ACTIONS[name].kind.entity(case.final))
        assert (body["kind"], body["outcome"], body["operation"]) == expected, name
        assert sent[name] == [case.body or {}], f"{name}: Graph got {sent[name]}"
    assert harness.graph.violations == []  # every token for Graph, no poll before a Retry-After


def test_each_action_is_started_and_tracked_through_the_api(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS=ALL_ACTIONS, GRAPHOPS_EXPORT_STORAGE_ACCOUNTS="contoso")
    sent = {name: script(harness, name, case) for name, case in CASES.items()}
    answers = {name: api_start(harness, case, f"key-{name}", correlationId=name) for name, case in CASES.items()}
    for name, answer in answers.items():
        assert answer.status_code == 202, (name, answer.text)
        assert answer.json()["operationUrl"].endswith(CASES[name].polled), name
    harness.run()
    check_callbacks(harness, sent)
    assert all(c.authorization is None for c in harness.stack.sharepoint.calls)  # the monitor never sees a token


def test_each_action_is_started_and_tracked_through_the_queue(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS=ALL_ACTIONS, GRAPHOPS_EXPORT_STORAGE_ACCOUNTS="contoso")
    sent = {name: script(harness, name, case) for name, case in CASES.items()}
    ids = {
        name: harness.client.start(case.method, case.url, harness.stack.callback_url(), case.body, correlation_id=name)
        for name, case in CASES.items()
    }
    harness.run()
    check_callbacks(harness, sent)
    view = requests.get(harness.api(f"operations/{ids['teamClone']}"), timeout=patience(10)).json()
    assert (view["phase"], view["outcome"], view["kind"]) == ("done", "succeeded", "teamsAsyncOperation")


# -- Graph did it at once, Graph refused, Graph throttled ---------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        # The content type is added synchronously when the hub allows it (200 and the content type).
        ("siteContentTypeCopy", Reply(200, {"id": "0x0101", "name": "Document", "isBuiltIn": True})),
        ("roleManagementAlertRefresh", Reply(204)),  # the refresh's own reference page shows 204 No Content
    ],
)
def test_an_answer_with_the_work_done_is_delivered_as_succeeded(make_harness: Any, name: str, reply: Reply) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS=name)
    case = CASES[name]
    harness.graph.on(case.method, case.url, lambda body: reply)
    answer = api_start(harness, case, "sync-api", correlationId="api")
    assert answer.status_code == 202 and answer.json()["outcome"] == "succeeded", answer.text
    assert answer.json()["operationUrl"] is None
    harness.client.start(case.method, case.url, harness.stack.callback_url(), case.body, correlation_id="queue")
    harness.run()
    callbacks = {c.body["correlationId"]: c.body for c in harness.receiver.delivered()}
    assert set(callbacks) == {"api", "queue"}
    for body in callbacks.values():
        assert (body["outcome"], body["operationUrl"], body["polls"]) == ("succeeded", None, 0)
        assert body["operation"] == reply.body
    assert len(harness.graph.requests(case.method, case.url)) == 2  # once per start, nothing polled


REFUSALS = [
    (Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges")), 403, "forbidden"),
    (Reply(400, seed.graph_error("BadRequest", "partsToClone is invalid")), 400, "failed"),
    (Reply(404, seed.graph_error("NotFound", "No team found with Group Id")), 404, "notFound"),
]


@pytest.mark.parametrize(("reply", "status", "outcome"), REFUSALS, ids=["403", "400", "404"])
def test_graphs_refusal_is_passed_on_and_nothing_is_tracked(
    make_harness: Any, reply: Reply, status: int, outcome: str
) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    harness.graph.on(case.method, case.url, lambda body: reply)
    answer = api_start(harness, case, "refused")
    assert answer.status_code == status and answer.headers["Content-Type"] == "application/problem+json"
    error = reply.body["error"]
    assert answer.json()["graphError"] == {"code": error["code"], "message": error["message"]}
    if status == 403:
        assert "Team.Create" in answer.json()["title"]
    harness.client.start(case.method, case.url, harness.stack.callback_url(), case.body)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == outcome and callback.body["operationUrl"] is None
    assert callback.body["error"]["message"].endswith(reply.body["error"]["message"] + (")" if status == 403 else ""))


def test_a_throttled_start_through_the_api_says_when_to_come_back(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    throttled = Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "2"})
    harness.graph.on(case.method, case.url, lambda body: throttled)
    answer = api_start(harness, case, "throttled")
    assert (answer.status_code, answer.headers["Retry-After"]) == (429, "2")
    assert "nothing was started" in answer.json()["title"] and answer.json()["graphStatus"] == 429
    again = api_start(harness, case, "throttled")  # nothing started: the same key may try again
    assert again.status_code == 429 and len(harness.graph.requests(case.method, case.url)) == 2


def test_a_throttled_start_message_comes_back_after_retry_after(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    replies = [Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "2"}),
               Reply(202, None, {"Location": team_operation("op-clone")})]  # fmt: skip
    harness.graph.on(case.method, case.url, lambda body: replies.pop(0) if len(replies) > 1 else replies[0])
    harness.graph.script(case.polled, [Reply(200, case.final)])
    tracking_id = harness.client.start(case.method, case.url, harness.stack.callback_url(), case.body)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "succeeded" and callback.webhook_id == tracking_id
    calls = harness.graph.requests(case.method, case.url)
    assert [c.status for c in calls] == [429, 202]
    assert calls[1].at - calls[0].at >= 2 and harness.graph.violations == []


# -- Refused before Graph is asked ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "request_doc", "status", "field"),
    [
        ("", {"method": "POST", "url": f"/v1.0/teams/{TEAM}/clone"}, 403, "request.url"),  # off by default
        ("teamClone", {"method": "POST", "url": f"/v1.0/teams/{TEAM}/archive"}, 403, "request.url"),
        ("teamClone", {"method": "DELETE", "url": f"/v1.0/teams/{TEAM}"}, 400, "request.method"),
        ("teamClone", {"method": "POST", "url": "/v1.0/users/x/authentication/methods/y/resetPassword"}, 400,
         "request.url"),
        ("teamClone", {"method": "POST", "url": "https://evil.example/v1.0/teams/x/clone"}, 400, "request.url"),
        ("teamClone", {"method": "POST", "url": "/v1.0/teams/..%2F..%2Fusers/clone"}, 400, "request.url"),
        ("teamClone", {"method": "POST", "url": f"/v1.0/teams/{TEAM}/clone?$expand=x"}, 400, "request.url"),
        ("teamClone", {"method": "POST", "url": f"/v1.0/teams/{TEAM}/clone", "body": [1]}, 400, "request.body"),
        (ALL_ACTIONS, {"method": "POST", "url": PURGE, "body": {"purgeType": "recoverable", "purgeAreas": "mailboxes"}},
         400, "request.url"),
    ],
    ids=["off by default", "another action", "method", "unknown request", "other host", "traversal", "query",
         "body", "purgeData, whatever is enabled"],
)  # fmt: skip
def test_requests_outside_the_enabled_actions_never_reach_graph(
    make_harness: Any, settings: str, request_doc: dict[str, Any], status: int, field: str
) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS=settings)
    doc = {"request": request_doc, "callbackUrl": harness.stack.callback_url()}
    answer = requests.post(harness.api("start"), json=doc, headers={"Idempotency-Key": "k"}, timeout=patience(10))
    assert answer.status_code == status, answer.text
    assert field in [e["field"] for e in answer.json()["errors"]]
    harness.send_raw(json.dumps({"start": request_doc, "callbackUrl": doc["callbackUrl"]}))
    harness.run()
    assert harness.graph.total_calls() == 0  # neither way asked Graph anything
    [dead] = harness.poison()
    assert dead["field"] == field.replace("request", "start")


def test_a_start_needs_an_idempotency_key(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    doc = {
        "request": {"method": "POST", "url": f"/v1.0/teams/{TEAM}/clone", "body": CASES["teamClone"].body},
        "callbackUrl": harness.stack.callback_url(),
    }
    answer = requests.post(harness.api("start"), json=doc, timeout=patience(10))
    assert answer.status_code == 400 and [e["field"] for e in answer.json()["errors"]] == ["Idempotency-Key"]
    assert harness.graph.total_calls() == 0


def test_a_retried_start_is_sent_once_and_a_reused_key_is_refused(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    sent = script(harness, "teamClone", case)
    first, again = (api_start(harness, case, "run-1-clone") for _ in range(2))
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["trackingId"] == again.json()["trackingId"] and len(sent) == 1
    other = api_start(harness, case, "run-1-clone", correlationId="another request")
    assert other.status_code == 422 and len(sent) == 1


# -- Where a host can die ---------------------------------------------------------------------------------------


class HostDied(Exception):
    """The host went away at this point: the function never returned, the message comes back."""


def dies_once_at(point: str) -> Any:
    died: list[str] = []

    def checkpoint(name: str) -> None:
        if name == point and not died:
            died.append(name)
            raise HostDied(name)

    return checkpoint


@pytest.mark.parametrize(
    ("name", "point", "graph_asked", "outcome"),
    [
        ("teamClone", "afterGraph", 1, "error"),  # accepted, not recorded: not repeatable, so not sent again
        ("teamArchive", "afterGraph", 2, "succeeded"),  # harmless to repeat: sent again
        ("teamClone", "beforeGraph", 0, "error"),  # recorded as sending: graphops cannot know it was not sent
        ("teamClone", "beforeFirstStep", 1, "succeeded"),  # recorded: the recorded operation is tracked
    ],
    ids=["after Graph accepted, not repeatable", "after Graph accepted, repeatable", "before Graph",
         "after the answer was recorded"],
)  # fmt: skip
def test_a_start_message_survives_the_host_dying(
    make_harness: Any, name: str, point: str, graph_asked: int, outcome: str
) -> None:
    # host.json's visibilityTimeout, shortened: the failed message is back after 1 s rather than 10.
    options = replace(QueueOptions.from_host_json(ROOT / "host.json"), visibility_timeout=1.0)
    harness = make_harness(GRAPHOPS_START_ACTIONS=name, options=options)
    case = CASES[name]
    sent = script(harness, name, case)
    starter = functions.services().starter
    # The message of a host that died comes back after its lease (minutes): long after any start in flight.
    starter.in_flight_seconds = 0
    if point == "beforeFirstStep":
        functions.tracker().checkpoint = dies_once_at(point)
    else:
        starter.checkpoint = dies_once_at(point)
    tracking_id = harness.client.start(case.method, case.url, harness.stack.callback_url(), case.body)
    harness.run()
    assert len(sent) == graph_asked
    [callback] = harness.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.body["outcome"] == outcome
    if outcome == "error":
        message = callback.body["error"]["message"]
        assert callback.body["error"]["code"] == "mayHaveStarted" and "not repeated" in message
        calls = harness.graph.requests(case.method, case.url)
        # Support can find the request Graph did get by the id graphops sent it with.
        assert all(c.client_request_id in message for c in calls)


def test_a_start_message_delivered_twice_starts_once(harness: Harness, make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    case = CASES["teamClone"]
    sent = script(harness, "teamClone", case)
    message = harness.client.start_request(case.method, case.url, harness.stack.callback_url(), case.body)
    # The queue delivers at least once: graphops' own start message (sealed, with its tracking id) side by side,
    # then once more after the end.
    seal = seal_for(Settings.from_env(harness.env))
    text = seal.seal(json.dumps({**message, "trackingId": f"{harness.stack.queue_name}-dup"}))
    harness.send_raw(text)
    harness.send_raw(text)
    harness.run()
    harness.send_raw(text)
    harness.run()
    assert len(sent) == 1
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "succeeded"


def test_an_api_start_whose_answer_was_lost_is_not_sent_again(make_harness: Any) -> None:
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone,teamArchive")
    for name in ("teamClone", "teamArchive"):
        script(harness, name, CASES[name])
    starter = functions.services().starter
    starter.checkpoint = dies_once_at("afterGraph")
    assert api_start(harness, CASES["teamClone"], "lost").status_code == 500
    under_way = api_start(harness, CASES["teamClone"], "lost")
    assert under_way.status_code == 409 and under_way.headers["Retry-After"]  # it may still be on its way
    starter.in_flight_seconds = 0  # ...and once the first call cannot be waiting for Graph any more:
    not_again = api_start(harness, CASES["teamClone"], "lost")
    assert not_again.status_code == 409 and "may have started" in not_again.json()["title"]
    assert (
        not_again.json()["clientRequestId"]
        == harness.graph.requests("POST", CASES["teamClone"].url)[0].client_request_id
    )
    starter.checkpoint = dies_once_at("afterGraph")
    assert api_start(harness, CASES["teamArchive"], "lost-archive").status_code == 500
    assert api_start(harness, CASES["teamArchive"], "lost-archive").status_code == 202  # harmless: sent again
    assert len(harness.graph.requests("POST", CASES["teamArchive"].url)) == 2
    assert len(harness.graph.requests("POST", CASES["teamClone"].url)) == 1


def test_the_readme_team_clone_recipe_runs_as_logic_apps_runs_it(make_harness: Any) -> None:
    """The example workflow's HTTP Webhook action, its expressions filled in as Logic Apps would, retried once."""
    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    workflow = json.loads((ROOT / "examples" / "logic-app-team-clone.json").read_text())
    subscribe = workflow["definition"]["actions"]["Clone_team_and_wait"]["inputs"]["subscribe"]
    values = {
        "@{parameters('graphopsBaseUrl')}/api/": harness.api(),
        "@{parameters('graphopsFunctionKey')}": "key",
        "@{listCallbackUrl()}": harness.stack.callback_url(),
        "@{workflow().run.name}": f"08584{harness.stack.queue_name}",
        "@{triggerBody()?['teamId']}": TEAM,
        "@{triggerBody()?['displayName']}": "Library Assist",
        "@{triggerBody()?['mailNickname']}": "libassist",
    }
    text = json.dumps(subscribe)
    for expression, value in values.items():
        text = text.replace(expression, value)
    call = json.loads(text)
    sent = script(harness, "teamClone", CASES["teamClone"])
    new_team = f"/v1.0/teams('{seed.CLONE_ID}')"
    harness.graph.script(new_team, [Reply(404, seed.graph_error("NotFound", "not yet")), Reply(200, {"id": "x"})])
    answers = [
        requests.post(call["uri"], json=call["body"], headers=call["headers"], timeout=patience(10)) for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [202, 200] and len(sent) == 1  # a retried subscribe: one clone
    assert sent == [call["body"]["request"]["body"]]
    harness.run()
    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["resourceReady"]) == ("succeeded", True)
    assert callback.body["resource"] == f"/teams('{seed.CLONE_ID}')"


@pytest.mark.parametrize("answer", ["done at once (201)", "forbidden (403)", "throttled (429), then 202"])
def test_every_action_takes_each_kind_of_answer(make_harness: Any, answer: str) -> None:
    """Every action, through the API and the queue (throttling: the queue, which comes back on its own)."""
    harness = make_harness(GRAPHOPS_START_ACTIONS=ALL_ACTIONS, GRAPHOPS_EXPORT_STORAGE_ACCOUNTS="contoso")
    origins = {"{graph}": harness.graph.url, "{monitor}": harness.stack.sharepoint.url}
    forbidden = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    # A job action's 2xx is always its job, never work done at once: "done at once" is a 204 there, a job
    # without an id, which cannot be tracked.
    for name, case in CASES.items():
        accepted = Reply(case.status, case.created, {k: _fill(v, origins) for k, v in case.headers.items()})
        job = ACTIONS[name].creates_job
        replies = {
            "done at once (201)": [Reply(204) if job else Reply(201, {"id": name})],
            "forbidden (403)": [forbidden],
            "throttled (429), then 202": [Reply(429, seed.graph_error("TooManyRequests", "wait"), {"Retry-After": "1"}),
                                          accepted],
        }[answer]  # fmt: skip
        harness.graph.on(case.method, case.url.split("?")[0], lambda body, r=replies: r.pop(0) if len(r) > 1 else r[0])
        (harness.stack.sharepoint if case.on_monitor else harness.graph).script(case.polled, [Reply(200, case.final)])
        if not answer.startswith("throttled"):
            response = api_start(harness, case, f"each-{name}", correlationId=f"api {name}")
            done = (502, None) if job else (202, "succeeded")
            expected = done if answer.startswith("done") else (403, None)
            assert (response.status_code, response.json().get("outcome")) == expected, (name, response.text)
            if response.status_code == 403:
                assert ACTIONS[name].permission in response.json()["title"], name
        harness.client.start(case.method, case.url, harness.stack.callback_url(), case.body,
                             correlation_id=f"queue {name}")  # fmt: skip
    harness.run()
    callbacks = {c.body["correlationId"]: c.body for c in harness.receiver.delivered()}
    for name, case in CASES.items():
        body = callbacks.pop(f"queue {name}")
        if answer.startswith("done") and ACTIONS[name].creates_job:
            assert body["outcome"] == "error" and "no job id" in body["error"]["message"], name
            callbacks.pop(f"api {name}", None)  # the API answered 502 itself
        elif answer.startswith("done"):
            assert (body["outcome"], body["operation"]) == ("succeeded", {"id": name}), name
            assert callbacks.pop(f"api {name}")["outcome"] == "succeeded", name
        elif answer.startswith("forbidden"):
            assert body["outcome"] == "forbidden" and ACTIONS[name].permission in body["error"]["message"], name
        else:
            assert (body["outcome"], body["operation"]) == (case.outcome, ACTIONS[name].kind.entity(case.final)), name
            assert [c.status for c in harness.graph.requests(case.method, case.url.split("?")[0])] == [429, case.status]
    assert callbacks == {} and harness.graph.violations == []


def test_a_parallel_for_each_of_clones_each_retried_starts_one_clone_per_iteration(make_harness: Any) -> None:
    """Logic Apps runs for-each iterations side by side and retries a subscribe call: the recipe's key
    (run name, action, iteration index) makes each iteration one clone, whatever the retries."""
    import threading

    harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone")
    sent: list[dict[str, Any]] = []
    lock = threading.Lock()

    def clone(body: dict[str, Any]) -> Reply:
        with lock:
            sent.append(body)
            operation = f"op-{len(sent)}"
        return Reply(202, None, {"Location": team_operation(operation)})

    harness.graph.on("POST", CASES["teamClone"].url, clone)
    answers: list[requests.Response] = []

    def iteration(index: int) -> None:
        for _ in range(2):  # the call, and Logic Apps' retry of it
            answers.append(api_start(harness, CASES["teamClone"], f"08584-Clone_team_and_wait-{index}",
                                     correlationId=f"iteration {index}"))  # fmt: skip

    threads = [threading.Thread(target=iteration, args=(i,)) for i in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 6 + [202] * 6, [a.text for a in answers]
    assert len(sent) == 6  # one clone per iteration
    assert len({a.json()["trackingId"] for a in answers}) == 6


def test_audit_log_query_starts_are_counted_per_tenant_and_one_over_the_limit_is_refused(make_harness: Any) -> None:
    """A started query counts among the tenant's running ones until its tracking ends; with the running ones at
    graphops' share of Graph's 50, the next start is not sent and the API names the limit."""
    from azure.data.tables import TableClient

    from graphops.pacing import audit_query_store

    table = f"state{uuid.uuid4().hex[:16]}"
    harness = make_harness(GRAPHOPS_START_ACTIONS="auditLogQuery", GRAPHOPS_STATE_TABLE=table)
    case = CASES["auditLogQuery"]
    script(harness, "auditLogQuery", case)
    rows = TableClient.from_connection_string(harness.stack.azurite.connection_string, table)

    def ledger() -> dict[str, Any]:
        [row] = rows.query_entities("PartitionKey eq @p", parameters={"p": audit_query_store.PARTITION})
        return dict(row)

    first = api_start(harness, case, "first")
    assert first.status_code == 202, first.text
    assert len(json.loads(ledger()["running"])) == 1 and len(json.loads(ledger()["submitted"])) == 1
    harness.run()
    assert json.loads(ledger()["running"]) == {}  # its tracking ended: its place is free, its submission counts

    row = ledger()
    far = 4_000_000_000.0  # deadlines long after this test
    row["running"] = json.dumps({f"other-{n}": far for n in range(40)})
    rows.upsert_entity(row)
    refused = api_start(harness, case, "over")
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert "50 audit log queries queued or running" in refused.json()["limit"]
    assert len(harness.graph.requests(case.method, case.url)) == 1  # the refused start never reached Graph
