"""Start actions without servers: which requests match which action, what is refused before Graph is asked,
and what Graph's answer to a start means."""

from __future__ import annotations

import contextlib
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphops.common.errors import Rejected, SettingsError
from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import Outcome
from graphops.graph.actions import ACTIONS, ActionNotEnabled, StartRequest, parse_enabled, parse_start
from graphops.graph.answer import GraphAnswer
from graphops.graph.kinds import KINDS
from graphops.intake.limits import Limits
from graphops.pacing.schedule import MAX_QUEUE_DELAY, delay_until
from graphops.step.starter import (
    Accepted,
    DoneAtOnce,
    NotNow,
    Refused,
    Unknown,
    Untrackable,
    answer_record,
    read_start_answer,
    replay,
)

GRAPH = "https://graph.microsoft.com"
ALL = frozenset(ACTIONS)
NOW = datetime(2026, 11, 29, 6, 0, tzinfo=UTC)
LIMITS = Limits(
    GRAPH, CallbackPolicy(("*.logic.azure.com",)), 86400, 86400,
    monitors=CallbackPolicy(("*.sharepoint.com",), field="operationUrl", setting="GRAPHOPS_MONITOR_ALLOWED_HOSTS"),
    start_actions=ALL,
)  # fmt: skip
TEAM = "dbd8de4f-5d40-4f2d-a4b3-d2a8f3b1c2ea"
CHANNEL = "19:v32db348d9264477abcf18ffa2cf76dc@thread.tacv2"  # as the channel archive page writes one


# The smallest body each action's reference page allows (for the tests that are about paths, not bodies).
MINIMAL_BODIES: dict[str, dict[str, Any]] = {
    "teamCreate": {"template@odata.bind": "standard"}, "teamClone": {"displayName": "c", "partsToClone": "apps"},
    "personalDataExport": {"storageLocation": "https://contoso.blob.core.windows.net/exports"},
    "ediscoveryExportResult": {"displayName": "e"}, "ediscoveryExportReport": {"displayName": "r"},
    "ediscoveryAddToReviewSet": {"search": {"id": "s"}}, "ediscoveryReviewSetExport": {"outputName": "o"},
    "siteContentTypeCopy": {"contentTypeId": "0x0101"},
    "listContentTypeCopy": {"contentTypeId": "0x0101"}, "accessPackageAssignmentRequest": {"requestType": "adminAdd"},
    "configurationSnapshot": {"displayName": "d", "resources": ["microsoft.exchange.transportrule"]},
    "externalConnectionSchema": {"baseType": "microsoft.graph.externalItem", "properties": []},
}  # fmt: skip
ACCOUNTS = frozenset({"contoso"})


def start(method: str, url: str, enabled: frozenset[str] = ALL, cloud: str = "global", **body: Any) -> StartRequest:
    raw: dict[str, Any] = {"method": method, "url": url}
    if body:
        raw["body"] = body
        return parse_start(raw, GRAPH, cloud, enabled, export_accounts=ACCOUNTS)
    try:
        return parse_start(raw, GRAPH, cloud, enabled, export_accounts=ACCOUNTS)
    except Rejected as refused:
        if not refused.field.startswith("start.body."):
            raise
        for minimal in MINIMAL_BODIES.values():  # the body of the action this path is
            with contextlib.suppress(Rejected):
                return parse_start({**raw, "body": minimal}, GRAPH, cloud, enabled, export_accounts=ACCOUNTS)
        raise


@pytest.mark.parametrize(
    ("method", "url", "action"),
    [
        ("POST", "/beta/identityGovernance/roleManagementAlerts/alerts/refresh", "roleManagementAlertRefresh"),
        ("POST", "/beta/identityGovernance/roleManagementAlerts/alerts/DirectoryRole_1_Stale/refresh",
         "roleManagementAlertRefresh"),
        ("POST", "/v1.0/teams", "teamCreate"),
        ("post", f"/v1.0/teams/{TEAM}/clone", "teamClone"),
        ("POST", f"/beta/teams('{TEAM}')/archive", "teamArchive"),
        ("POST", f"{GRAPH}/v1.0/teams/{TEAM}/unarchive", "teamUnarchive"),
        ("POST", "/v1.0/users/adele@contoso.com/exportPersonalData", "personalDataExport"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/searches/s1/estimateStatistics", "ediscoveryEstimate"),
        ("POST", "/beta/security/cases/ediscoveryCases/c1/searches/s1/exportResult", "ediscoveryExportResult"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/searches/s1/exportReport", "ediscoveryExportReport"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/reviewSets/r1/addToReviewSet", "ediscoveryAddToReviewSet"),
        ("POST", f"/v1.0/teams/{TEAM}/channels/{CHANNEL}/archive", "channelArchive"),
        ("POST", f"/beta/groups/{TEAM}/team/channels/{CHANNEL}/archive", "channelArchive"),
        ("POST", f"/v1.0/teams('{TEAM}')/channels('{CHANNEL}')/unarchive", "channelUnarchive"),
        ("POST", f"/v1.0/groups/{TEAM}/team/channels/19%3Aabc_-9@thread.skype/unarchive", "channelUnarchive"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/custodians/applyHold", "ediscoveryCustodianApplyHold"),
        ("POST", "/beta/security/cases/ediscoveryCases/c1/custodians/c25c/applyHold", "ediscoveryCustodianApplyHold"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/custodians/removeHold", "ediscoveryCustodianRemoveHold"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/custodians/c25c/removeHold", "ediscoveryCustodianRemoveHold"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/noncustodialDataSources/applyHold",
         "ediscoveryNoncustodialDataSourceApplyHold"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/noncustodialDataSources/4633/applyHold",
         "ediscoveryNoncustodialDataSourceApplyHold"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/noncustodialDataSources/removeHold",
         "ediscoveryNoncustodialDataSourceRemoveHold"),
        ("POST", "/beta/security/cases/ediscoveryCases/c1/noncustodialDataSources/4633/removeHold",
         "ediscoveryNoncustodialDataSourceRemoveHold"),
        ("POST", "/v1.0/security/cases/ediscoveryCases/c1/reviewSets/r1/export", "ediscoveryReviewSetExport"),
        ("POST", "/v1.0/drives/b!x9/items/01AB/copy", "driveItemCopy"),
        ("POST", "/v1.0/sites/contoso.sharepoint.com,1,2/drive/items/01AB/copy?@microsoft.graph.conflictBehavior=fail",
         "driveItemCopy"),
        ("POST", "/v1.0/users/u1/drive/items/01AB/copy", "driveItemCopy"),
        ("POST", "/v1.0/groups/g1/drive/items/01AB/copy", "driveItemCopy"),
        ("POST", "/v1.0/sites/root/contentTypes/addCopyFromContentTypeHub", "siteContentTypeCopy"),
        ("POST", "/v1.0/sites/root/lists/Documents/contentTypes/addCopyFromContentTypeHub", "listContentTypeCopy"),
        ("PATCH", "/v1.0/external/connections/contosohr/schema", "externalConnectionSchema"),
        ("POST", "/beta/sites", "siteCreate"),
        ("POST", "/v1.0/identityGovernance/entitlementManagement/assignmentRequests", "accessPackageAssignmentRequest"),
        ("POST", "/beta/admin/configurationManagement/configurationSnapshots/createSnapshot", "configurationSnapshot"),
        ("POST", "/v1.0/solutions/migrations/crossTenantMigrationJobs/j1/validate", "crossTenantMigrationValidate"),
        ("POST", f"/v1.0/solutions/migrations/crossTenantMigrationJobs/{TEAM}/migrate", "crossTenantMigrationMigrate"),
    ],
)  # fmt: skip
def test_each_documented_request_is_its_action(method: str, url: str, action: str) -> None:
    request = start(method, url)
    assert request.action.name == action and request.method == method.upper()
    assert request.url.startswith(GRAPH + "/")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (None, "start"),
        ({"method": "POST"}, "start.url"),
        ({"method": "GET", "url": f"/v1.0/teams/{TEAM}/clone"}, "start.method"),
        ({"method": "DELETE", "url": f"/v1.0/teams/{TEAM}"}, "start.method"),
        ({"method": "PATCH", "url": f"/v1.0/teams/{TEAM}/clone"}, "start.url"),  # right path, wrong method
        ({"method": "POST", "url": "/v1.0/users/u/authentication/methods/m/resetPassword"}, "start.url"),  # delegated
        ({"method": "POST", "url": "/v1.0/users/u/onenote/notebooks/n/copyNotebook"}, "start.url"),  # no app-only
        ({"method": "POST", "url": "/v1.0/identityGovernance/roleManagementAlerts/alerts/refresh"}, "start.url"),
        ({"method": "POST", "url": "/v2/teams/x/clone"}, "start.url"),
        ({"method": "POST", "url": "teams/x/clone"}, "start.url"),
        ({"method": "POST", "url": "//evil.example/v1.0/teams/x/clone"}, "start.url"),
        ({"method": "POST", "url": "https://graph.microsoft.com.evil.example/v1.0/teams/x/clone"}, "start.url"),
        ({"method": "POST", "url": "https://user@graph.microsoft.com/v1.0/teams/x/clone"}, "start.url"),
        ({"method": "POST", "url": "http://graph.microsoft.com/v1.0/teams/x/clone"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/x/clone#frag"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/..%2Fusers/clone"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/%252e%252e/clone"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/x%/clone"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/../clone"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams('a'b')/clone"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/x/clone?$select=id"}, "start.url"),  # this action takes no query
        ({"method": "POST", "url": "/v1.0/drives/d/items/i/copy?other=1"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/teams/x/clone", "body": "text"}, "start.body"),
        ({"method": "POST", "url": "/v1.0/teams/x/clone", "body": {"a": "x" * 20000}}, "start.body"),
        ({"method": "POST", "url": "/v1.0/teams/x/clone", "headers": {"Authorization": "x"}}, "start.headers"),
        ({"method": "POST", "url": "/v1.0/teams/x/clone\n"}, "start.url"),
        ({"method": "POST", "url": "/v1.0/téams/x/clone"}, "start.url"),
    ],
)
def test_anything_else_is_refused_naming_the_field(raw: Any, field: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_start(raw, GRAPH, "global", ALL)
    assert refused.value.field == field and not isinstance(refused.value, ActionNotEnabled)


@pytest.mark.parametrize("enabled", [ALL, frozenset()])
def test_purge_data_is_refused_saying_it_deletes_content_whatever_is_enabled(enabled: frozenset[str]) -> None:
    with pytest.raises(Rejected) as refused:
        start("POST", "/v1.0/security/cases/ediscoveryCases/c1/searches/s1/purgeData", enabled, purgeType="recoverable")
    assert refused.value.field == "start.url" and not isinstance(refused.value, ActionNotEnabled)
    assert refused.value.problem.startswith("purgeData is refused") and "deletes" in refused.value.problem


def test_nothing_is_enabled_by_default_and_the_refusal_says_what_enabling_grants() -> None:
    with pytest.raises(ActionNotEnabled) as refused:
        start("POST", f"/v1.0/teams/{TEAM}/clone", enabled=frozenset())
    assert refused.value.field == "start.url"
    assert "GRAPHOPS_START_ACTIONS" in str(refused.value) and "Team.Create" in str(refused.value)
    with pytest.raises(ActionNotEnabled):
        start("POST", f"/v1.0/teams/{TEAM}/archive", enabled=frozenset({"teamClone"}))


def test_an_action_outside_its_cloud_is_refused() -> None:
    with pytest.raises(Rejected, match="global"):
        start("POST", "/v1.0/users/u/exportPersonalData", cloud="usgov")
    assert start("POST", f"/v1.0/teams/{TEAM}/clone", cloud="usgov").action.name == "teamClone"


def test_the_setting_names_known_actions_only_and_has_no_wildcard() -> None:
    assert parse_enabled(" teamClone , teamArchive,") == {"teamClone", "teamArchive"}
    for bad in ("*", "teamclone", "teamClone,resetPassword"):
        with pytest.raises(SettingsError, match="GRAPHOPS_START_ACTIONS"):
            parse_enabled(bad)


def test_every_action_starts_a_tracked_kind_in_the_clouds_it_claims() -> None:
    for action in ACTIONS.values():
        assert KINDS[action.kind.name] is action.kind
        assert action.clouds <= action.kind.clouds
        assert action.reference and action.permission and action.method in {"POST", "PATCH"}
    # What repeating does, as the issue and the reference pages say: creating things is not harmless.
    assert {n for n, a in ACTIONS.items() if not a.repeatable} == {
        "teamCreate", "teamClone", "personalDataExport", "ediscoveryExportResult", "ediscoveryExportReport",
        "ediscoveryAddToReviewSet", "ediscoveryReviewSetExport", "driveItemCopy", "auditLogQuery",
        "deviceManagementExportJob", "cloudPcExportJob", "accessReviewHistoryDefinition", "siteCreate",
        "accessPackageAssignmentRequest", "configurationSnapshot", "crossTenantMigrationValidate",
        "crossTenantMigrationMigrate",
    }  # fmt: skip


# -- What Graph's answer to a start means -------------------------------------------------------------


def answer(status: int | None, body: Any = None, retry_after: float | None = None, **headers: str) -> GraphAnswer:
    return GraphAnswer(status, body, retry_after=retry_after, headers={k.replace("_", "-").lower(): v
                                                                       for k, v in headers.items()})  # fmt: skip


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message}}


CLONE = ACTIONS["teamClone"]


@pytest.mark.parametrize(
    ("action", "reply", "url"),
    [
        (CLONE, answer(202, Location=f"/teams('{TEAM}')/operations('op1')"),
         f"{GRAPH}/v1.0/teams('{TEAM}')/operations('op1')"),
        (ACTIONS["personalDataExport"], answer(202, Location=f"{GRAPH}/v1.0/dataPolicyOperations/d1"),
         f"{GRAPH}/v1.0/dataPolicyOperations/d1"),
        (ACTIONS["driveItemCopy"], answer(202, Location="https://contoso.sharepoint.com/_api/v2.0/monitor/4A34"),
         "https://contoso.sharepoint.com/_api/v2.0/monitor/4A34"),
        (ACTIONS["ediscoveryExportResult"],
         answer(202, Location=f"{GRAPH}/beta/security/cases/ediscoverycases('c1')/operations('o1')"),
         f"{GRAPH}/beta/security/cases/ediscoverycases('c1')/operations('o1')"),
    ],
)  # fmt: skip
def test_a_202_names_the_operation_to_track(action: Any, reply: GraphAnswer, url: str) -> None:
    decision = read_start_answer(action, reply, LIMITS, NOW)
    assert isinstance(decision, Accepted) and decision.operation.url == url
    assert decision.operation.kind is action.kind and decision.not_before is None


def test_the_operation_comes_from_the_actions_own_header_not_content_location() -> None:
    reply = answer(202, Location=f"/teams('{TEAM}')/operations('op1')", Content_Location=f"/teams('{TEAM}')")
    decision = read_start_answer(ACTIONS["teamCreate"], reply, LIMITS, NOW)
    assert isinstance(decision, Accepted) and decision.operation.url.endswith("operations('op1')")


def test_an_operation_location_header_is_read_where_an_action_names_it() -> None:
    from dataclasses import replace

    onenote_style = replace(ACTIONS["siteContentTypeCopy"], operation_headers=("Operation-Location", "Location"))
    reply = answer(202, Operation_Location=f"{GRAPH}/v1.0/sites/root/operations/copy,1")
    decision = read_start_answer(onenote_style, reply, LIMITS, NOW)
    assert isinstance(decision, Accepted) and decision.operation.url.endswith("/operations/copy,1")
    assert isinstance(read_start_answer(ACTIONS["siteContentTypeCopy"], reply, LIMITS, NOW), Untrackable)


def test_the_first_poll_waits_for_the_202s_retry_after() -> None:
    reply = answer(202, retry_after=60, Location=f"{GRAPH}/v1.0/dataPolicyOperations/d1")
    decision = read_start_answer(ACTIONS["personalDataExport"], reply, LIMITS, NOW)
    assert isinstance(decision, Accepted) and decision.not_before == NOW + timedelta(seconds=60)
    assert delay_until(decision.not_before, NOW) == 60
    assert delay_until(decision.not_before, NOW + timedelta(seconds=59.5)) == 1
    assert delay_until(decision.not_before, NOW + timedelta(seconds=61)) == 0
    far = Accepted(decision.operation, NOW + timedelta(days=9))
    assert delay_until(far.not_before, NOW) == MAX_QUEUE_DELAY  # the step wakes early and sleeps again (not_before)


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (answer(202), "no Location"),
        (answer(202, Location="https://evil.example/v1.0/dataPolicyOperations/d1"), "host"),
        (answer(202, Location=f"{GRAPH}/v1.0/sites/root/operations/x"), "names a siteOperation"),
    ],
)
def test_a_202_without_a_trackable_operation_is_untrackable(reply: GraphAnswer, why: str) -> None:
    decision = read_start_answer(ACTIONS["personalDataExport"], reply, LIMITS, NOW)
    assert isinstance(decision, Untrackable) and why.rsplit(maxsplit=1)[-1] in decision.error.message


@pytest.mark.parametrize("status", [200, 201, 204])
def test_graph_doing_it_at_once_is_done(status: int) -> None:
    body = {"id": "0x0101"} if status != 204 else None
    assert read_start_answer(CLONE, answer(status, body), LIMITS, NOW) == DoneAtOnce(status, body)


@pytest.mark.parametrize(
    ("status", "kind", "outcome"),
    [(400, Refused, Outcome.FAILED), (409, Refused, Outcome.FAILED), (403, Refused, Outcome.FORBIDDEN),
     (401, Refused, Outcome.FORBIDDEN), (404, Refused, Outcome.NOT_FOUND), (302, Refused, Outcome.FAILED),
     (429, NotNow, None), (503, NotNow, None), (500, Unknown, None), (502, Unknown, None), (504, Unknown, None),
     (408, Unknown, None), (None, Unknown, None)],
)  # fmt: skip
def test_what_each_refusal_means(status: int | None, kind: type, outcome: Outcome | None) -> None:
    decision = read_start_answer(
        CLONE, answer(status, graph_error("Code", "Graph's words"), retry_after=7), LIMITS, NOW
    )
    assert isinstance(decision, kind)
    if isinstance(decision, Refused):
        assert decision.outcome is outcome and decision.graph.message == "Graph's words"
        assert ("Team.Create" in decision.error.message) == (status in {401, 403})
    if isinstance(decision, NotNow):
        assert decision.wait == 7


def test_a_recorded_answer_replays_as_the_same_decision() -> None:
    accepted = read_start_answer(
        ACTIONS["personalDataExport"],
        answer(202, retry_after=60, Location=f"{GRAPH}/v1.0/dataPolicyOperations/d1"), LIMITS, NOW,
    )  # fmt: skip
    done = DoneAtOnce(200, {"id": "0x0101"})
    untrackable = read_start_answer(CLONE, answer(202), LIMITS, NOW)
    for decision in (accepted, done, untrackable):
        assert isinstance(decision, Accepted | DoneAtOnce | Untrackable)
        assert replay(answer_record(decision), LIMITS) == decision
    huge = answer_record(DoneAtOnce(200, {"blob": "x" * 20000}))
    assert huge["body"] == {"@graphops.truncated": True}


# -- Jobs: Graph answers 201 with the job, read at the URL it was created under ---------------------------

AUDIT = ACTIONS["auditLogQuery"]
QUERIES = f"{GRAPH}/v1.0/security/auditLog/queries"


def test_a_created_job_is_tracked_at_its_collection_url_and_id() -> None:
    decision = read_start_answer(AUDIT, answer(201, {"id": "168ec429", "status": "notStarted"}), LIMITS, NOW,
                                 QUERIES)  # fmt: skip
    assert isinstance(decision, Accepted) and decision.operation.url == f"{QUERIES}/168ec429"
    assert decision.operation.kind.name == "auditLogQuery" and decision.not_before is None
    export = read_start_answer(ACTIONS["cloudPcExportJob"], answer(201, {"id": "Total__d399"}), LIMITS, NOW,
                               f"{GRAPH}/beta/deviceManagement/virtualEndpoint/reports/exportJobs")  # fmt: skip
    assert isinstance(export, Accepted) and export.operation.url.endswith("/exportJobs/Total__d399")
    assert replay(answer_record(decision), LIMITS) == decision  # a retried start tracks the same job


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"status": "notStarted"}, "named no job id"),
        ({"id": ""}, "named no job id"),
        ({"id": 7}, "named no job id"),
        (None, "named no job id"),
        ({"id": "a/b"}, "cannot be tracked"),  # an id that would be two segments
        ({"id": ".."}, "cannot be tracked"),
        ({"id": "x" * 3000}, "cannot be tracked"),
    ],
)
def test_a_created_job_without_a_usable_id_is_untrackable(body: Any, why: str) -> None:
    decision = read_start_answer(AUDIT, answer(201, body), LIMITS, NOW, QUERIES)
    assert isinstance(decision, Untrackable) and why in decision.error.message


SNAPSHOT = ACTIONS["configurationSnapshot"]
SNAPSHOTS = "admin/configurationManagement/configurationSnapshots/createSnapshot"


@pytest.mark.parametrize("version", ["v1.0", "beta"])
def test_a_snapshots_job_is_tracked_under_the_snapshot_jobs_in_the_starts_own_version(version: str) -> None:
    job = {"id": "c91a1470-acc9-4585-bc03-522ae898f82f", "status": "notStarted"}
    decision = read_start_answer(SNAPSHOT, answer(200, job), LIMITS, NOW, f"{GRAPH}/{version}/{SNAPSHOTS}")
    assert isinstance(decision, Accepted) and decision.operation.kind.name == "configurationSnapshotJob"
    jobs = f"{GRAPH}/{version}/admin/configurationManagement/configurationSnapshotJobs"
    assert decision.operation.url == f"{jobs}/c91a1470-acc9-4585-bc03-522ae898f82f"


@pytest.mark.parametrize(
    "job", ["../../../users/x", "a/b", "a%2fb", "x?$select=y", "x#y", "x;y", "caf\u00e9", "../x", "x" * 300]
)
def test_a_hostile_job_id_never_steers_the_path_it_is_read_at(job: str) -> None:
    decision = read_start_answer(SNAPSHOT, answer(200, {"id": job}), LIMITS, NOW, f"{GRAPH}/v1.0/{SNAPSHOTS}")
    assert isinstance(decision, Untrackable) and "cannot be tracked" in decision.error.message, decision
    audit = read_start_answer(AUDIT, answer(201, {"id": job}), LIMITS, NOW, QUERIES)
    assert isinstance(audit, Untrackable) and "cannot be tracked" in audit.error.message, audit


MIGRATION_JOBS = f"{GRAPH}/v1.0/solutions/migrations/crossTenantMigrationJobs"


@pytest.mark.parametrize("step", ["validate", "migrate"])
def test_a_migration_jobs_validate_and_migrate_track_the_job_itself(step: str) -> None:
    action = ACTIONS[f"crossTenantMigration{step.title()}"]
    job = {"id": "add14989-2b21-4001-81bd-a18b0bac1dea", "status": "processing"}
    decision = read_start_answer(action, answer(200, job), LIMITS, NOW, f"{MIGRATION_JOBS}/{job['id']}/{step}")
    assert isinstance(decision, Accepted) and decision.operation.url == f"{MIGRATION_JOBS}/{job['id']}"
    assert decision.operation.kind.name == "crossTenantMigrationJob"


def test_only_a_migrate_waits_past_the_validation_that_let_it_start() -> None:
    assert {name: action.waits_past for name, action in ACTIONS.items() if action.waits_past} == {
        "crossTenantMigrationMigrate": frozenset({"validatePassed"})
    }


def test_a_job_actions_every_2xx_is_the_job_never_work_done_at_once() -> None:
    job = {"id": "168ec429", "status": "notStarted"}
    for status in (200, 201):
        decision = read_start_answer(AUDIT, answer(status, job), LIMITS, NOW, QUERIES)
        assert isinstance(decision, Accepted) and decision.operation.url == f"{QUERIES}/168ec429", status
    nothing = read_start_answer(AUDIT, answer(204), LIMITS, NOW, QUERIES)
    assert isinstance(nothing, Untrackable) and nothing.status == 204 and "no job id" in nothing.error.message


def test_only_job_actions_read_a_201_as_a_job() -> None:
    assert {name for name, action in ACTIONS.items() if action.creates_job} == {
        "auditLogQuery", "deviceManagementExportJob", "cloudPcExportJob", "accessReviewHistoryDefinition",
        "accessPackageAssignmentRequest", "configurationSnapshot", "crossTenantMigrationValidate",
        "crossTenantMigrationMigrate",
    }  # fmt: skip
    assert all(action.kind.form == "resourceStatus" for action in ACTIONS.values() if action.creates_job)
    assert read_start_answer(CLONE, answer(201, {"id": "x"}), LIMITS, NOW, QUERIES) == DoneAtOnce(201, {"id": "x"})


def test_a_beta_export_is_started_in_every_cloud_and_a_v1_export_in_the_global_one_only() -> None:
    body = {"storageLocation": "https://contoso.blob.core.usgovcloudapi.net/exports"}
    beta = start("POST", f"{GRAPH}/beta/users/u1/exportPersonalData", cloud="usgov", **body)
    assert beta.action.name == "personalDataExport" and beta.action.permission == "User.Export.All"
    with pytest.raises(
        Rejected, match=re.escape("v1.0 personalDataExport exists only in the Graph cloud(s) global, not usgov")
    ):
        start("POST", f"{GRAPH}/v1.0/users/u1/exportPersonalData", cloud="usgov", **body)
