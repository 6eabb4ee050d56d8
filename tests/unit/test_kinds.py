from __future__ import annotations

import re

import pytest

from graphops.common.errors import Rejected
from graphops.envelope.tracking import ErrorInfo
from graphops.graph.kinds import (
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


# -- every kind ---------------------------------------------------------------------------------------

from graphops.graph.kinds import KINDS  # noqa: E402
from graphops.local import seed  # noqa: E402

DOCUMENTED = {
    "teamsAsyncOperation": [seed.TEAM_LOCATION, f"/v1.0/teams/{seed.TEAM_ID}/operations/{seed.TEAM_OPERATION_ID}",
                            f"/beta/teams('{seed.TEAM_ID}')/operations('{seed.TEAM_OPERATION_ID}')"],
    "chatAsyncOperation": ["/beta/chats/19:c253a29b5f694b55a6baad8e83510af7@thread.v2/operations/2432b57b-0abd"],
    "siteOperation": [seed.SITE_OPERATION_PATH],
    "listOperation": ["/v1.0/sites/root/lists/0f3c5e3a/operations/copy,1"],
    "dataPolicyOperation": [seed.EXPORT_PATH, GRAPH + seed.EXPORT_PATH, seed.EXPORT_PATH.replace("v1.0", "beta")],
    "ediscoveryCaseOperation": [seed.CASE_OPERATION_PATH],
    "externalConnectionOperation": [seed.CONNECTION_OPERATION_PATH],
    "onenoteOperation": [seed.ONENOTE_OPERATION_PATH, "/v1.0/groups/g1/onenote/operations/op",
                         "/v1.0/sites/s1/onenote/operations/op"],
    "attackSimulationOperation": [seed.SIMULATION_OPERATION_PATH],
    "delegatedAdminRelationshipOperation": [seed.GDAP_OPERATION_PATH],
    "partnerBillingOperation": [seed.BILLING_OPERATION_PATH,
                                GRAPH + seed.BILLING_OPERATION_PATH.replace("v1.0", "beta")],
    "telephoneNumberOperation": [GRAPH + seed.NUMBER_OPERATION_PATH,
                                 f"/beta/admin/teams/telephoneNumberManagement/operations/{seed.NUMBER_OPERATION_ID}"],
    "engagementAsyncOperation": [GRAPH + seed.ENGAGE_OPERATION_PATH,
                                 f"/v1.0/employeeExperience/engagementAsyncOperations/{seed.ENGAGE_OPERATION_ID}"],
    "mailFolderOperation": [seed.MAIL_OPERATION_PATH],
    "placeOperation": [GRAPH + seed.PLACE_OPERATION_PATH],
    "auditLogQuery": [seed.AUDIT_QUERY_PATH, seed.AUDIT_QUERY_PATH.replace("v1.0", "beta")],
    "deviceManagementExportJob": [seed.EXPORT_JOB_PATH, seed.EXPORT_JOB_PATH.replace("v1.0", "beta")],
    "cloudPcExportJob": [seed.CLOUD_PC_EXPORT_PATH],
    "accessReviewHistoryDefinition": [seed.HISTORY_DEFINITION_PATH],
    "restoreSession": [seed.RESTORE_SESSION_PATH],
    "industryDataRun": [seed.INDUSTRY_RUN_PATH],
    "accessPackageAssignmentRequest": [seed.ACCESS_REQUEST_PATH, GRAPH + seed.ACCESS_REQUEST_PATH],
    "lifecycleWorkflowRun": [seed.WORKFLOW_RUN_PATH, seed.WORKFLOW_RUN_PATH.replace("v1.0", "beta"),
                             seed.WORKFLOW_RUN_PATH.replace("IdentityGovernance", "identityGovernance")],
    "siteCreationOperation": [GRAPH + seed.SITE_CREATION_PATH, seed.SITE_CREATION_PATH.replace("=')", "%3D')")],
    "configurationSnapshotJob": [seed.SNAPSHOT_JOB_PATH, seed.SNAPSHOT_JOB_PATH.replace("v1.0", "beta")],
    **{kind: [seed.bulk_addition_path(kind), GRAPH + seed.bulk_addition_path(kind).replace("beta", "v1.0")]
       for kind in seed.BULK_FAMILIES},
    "recoveryJob": [seed.RECOVERY_JOB_PATH, GRAPH + seed.RECOVERY_JOB_PATH.replace("v1.0", "beta"),
                    seed.RECOVERY_JOB_PATH.replace("recoveryJobs", "recoveryPreviewJobs")],
    "crossTenantMigrationJob": [seed.MIGRATION_JOB_PATH, GRAPH + seed.MIGRATION_JOB_PATH.replace("v1.0", "beta")],
    "retentionEvent": [seed.RETENTION_EVENT_PATH, seed.RETENTION_EVENT_PATH.replace("v1.0", "beta")],
    "importedWindowsAutopilotDeviceIdentity": [seed.AUTOPILOT_PATH,
                                               GRAPH + seed.AUTOPILOT_PATH.replace("v1.0", "beta")],
    "win32LobAppContentFile": [seed.WIN32_FILE_PATH, GRAPH + seed.WIN32_FILE_PATH.replace("beta", "v1.0")],
}  # fmt: skip


@pytest.mark.parametrize(("name", "url"), [(n, u) for n, urls in DOCUMENTED.items() for u in urls])
def test_each_kinds_documented_shapes_are_accepted(name: str, url: str) -> None:
    assert resolve_operation_url(url, GRAPH).kind is KINDS[name]


def test_every_kind_has_a_documented_shape_here() -> None:
    known = {"roleManagementAlertRefresh", "authenticationMethodOperation", "driveItemCopy"}
    assert set(DOCUMENTED) | known == set(KINDS)


def sharepoint() -> object:
    from graphops.egress.policy import CallbackPolicy

    return CallbackPolicy(("*.sharepoint.com",), field="operationUrl", setting="GRAPHOPS_MONITOR_ALLOWED_HOSTS")


MONITOR = "https://contoso.sharepoint.com/_api/v2.0/monitor/4A3407B5-88FC-4504-8B21-0AABD3412717"


@pytest.mark.parametrize(
    "url",
    [
        MONITOR,
        "https://contoso-my.sharepoint.com/personal/adele_contoso_com/_api/v2.0/monitor/4A34",
        "https://contoso.sharepoint.com/sites/finance/_api/v2.1/drives/b!x9/operations/1e5b?c=Yzpm&tempauth=eyJ0eXAi",
    ],
)
def test_a_drive_copy_monitor_on_an_allowed_sharepoint_host_is_accepted(url: str) -> None:
    ref = resolve_operation_url(url, GRAPH, monitors=sharepoint())  # type: ignore[arg-type]
    assert ref.kind is KINDS["driveItemCopy"] and ref.url == url  # the query (its credential) is kept to poll


@pytest.mark.parametrize(
    ("url", "why"),
    [
        (MONITOR.replace("contoso.sharepoint.com", "evil.example"), "GRAPHOPS_MONITOR_ALLOWED_HOSTS"),
        (MONITOR.replace("https", "http"), "https"),
        (MONITOR.replace("https://", "https://user@"), "user information"),
        (GRAPH + "/_api/v2.0/monitor/abc", "not a known operation path"),  # a monitor path on the Graph host
        ("https://contoso.sharepoint.com/v1.0/users/u/authentication/operations/o", "Graph host"),  # Graph on SP
        ("https://contoso.sharepoint.com/_api/v2.0/monitor/a/../b", "Graph host"),
        ("https://contoso.sharepoint.com/_api/v2.0/monitor/%2e%2e", "Graph host"),
        ("https://contoso.sharepoint.com/_layouts/15/download.aspx", "Graph host"),
    ],
)
def test_monitor_urls_refuse_their_tricks(url: str, why: str) -> None:
    with pytest.raises(Rejected, match=why) as raised:
        resolve_operation_url(url, GRAPH, monitors=sharepoint())  # type: ignore[arg-type]
    assert raised.value.field == "operationUrl"


def test_without_monitor_hosts_no_monitor_is_accepted() -> None:
    with pytest.raises(Rejected, match="Graph host"):
        resolve_operation_url(MONITOR, GRAPH)


def test_a_upn_with_an_apostrophe_is_a_plain_id() -> None:
    url = "/v1.0/users/o'brien@contoso.com/authentication/operations/2d497bb"
    assert resolve_operation_url(url, GRAPH).kind is KINDS["authenticationMethodOperation"]


def test_a_teams_location_without_a_version_reads_as_v1() -> None:
    ref = resolve_operation_url(seed.TEAM_LOCATION, GRAPH)
    assert ref.url == GRAPH + "/v1.0" + seed.TEAM_LOCATION


@pytest.mark.parametrize(
    "url",
    [
        "/teams('a/b')/operations('c')",  # a separator inside the key
        "/teams('a')/operations('c')/extra",
        "/teams('a'')/operations('c')",
        "/teams('..')/operations('c')",
        "/teams('a%2Fb')/operations('c')",
        "/teams(a)/operations(c)",  # OData keys are quoted
        "/sites/root/operations/x",  # only teams answers without a version
        "/v1.0/dataPolicyOperations/x/extra",
        "/v1.0/industryData/runs/x",  # beta only
        "/v1.0/deviceManagement/virtualEndpoint/reports/exportJobs/x",  # beta only
        "/beta/places/getOperation/x/extra",
        "/v1.0/me/onenote/operations/x",  # delegated only
        "/v1.0/drives/d/onenote/operations/x",
        "/v1.0/security/cases/ediscoveryCases/c/operations",
        # Beta's older access package requests spell their state otherwise; the plural is the old API's name.
        "/beta/identityGovernance/entitlementManagement/assignmentRequests/r1",
        "/v1.0/identityGovernance/entitlementManagement/accessPackageAssignmentRequests/r1",
        "/v1.0/identityGovernance/entitlementManagement/assignmentRequests/r1/cancel",
        "/v1.0/identityGovernance/lifecycleWorkflows/workflows/w1/runs",
        "/v1.0/identityGovernance/lifecycleWorkflows/workflows/w1/runs/r1/userProcessingResults",
        "/v1.0/identityGovernance/lifecycleWorkflows/deletedItems/workflows/w1/runs/r1",
        # A site's creation: beta only, and only as Graph writes the function and its parameter.
        "/v1.0/sites/getOperationStatus(operationId='op1')",
        "/beta/sites/getOperationStatus(id='op1')",
        "/beta/sites/getOperationStatus(operationId=op1)",
        "/beta/sites/getOperationStatus(operationId='a/b')",
        "/beta/sites/getOperationStatus(operationId='a%2Fb')",
        "/beta/sites/getOperationStatus(operationId='')",
        "/beta/sites/getOperationStatus(operationId='..')",
        "/beta/sites/getOperationStatus/op1",
        "/beta/sites/getOperationStatus(operationId='op1')/extra",
        "/beta/sites/s1/getOperationStatus(operationId='op1')",
        "/beta/places/getOperation(operationId='op1')",
        "/beta/admin/configurationManagement/configurationSnapshotJobs",
        "/beta/admin/configurationManagement/configurationBaselines/b1/createSnapshot",
        "/beta/admin/configurationManagement/configurationMonitors/m1",
        # A bulk addition job only under its own family's policies, and only one job.
        "/beta/solutions/backupRestore/sharePointProtectionPolicies/p1/driveProtectionUnitsBulkAdditionJobs/j1",
        "/beta/solutions/backupRestore/oneDriveForBusinessProtectionPolicies/p1/siteProtectionUnitsBulkAdditionJobs/j1",
        "/beta/solutions/backupRestore/oneDriveForBusinessProtectionPolicies/p1/mailboxProtectionUnitsBulkAdditionJobs/j1",
        "/beta/solutions/backupRestore/exchangeProtectionPolicies/p1/driveProtectionUnitsBulkAdditionJobs/j1",
        "/beta/solutions/backupRestore/oneDriveForBusinessProtectionPolicies/p1/driveProtectionUnitsBulkAdditionJobs",
        "/beta/solutions/backupRestore/oneDriveForBusinessProtectionPolicies/p1/driveExclusionUnitsBulkAdditionJobs/j1",
        "/beta/solutions/backupRestore/protectionPolicies/p1/driveProtectionUnitsBulkAdditionJobs/j1",
        "/v1.0/directory/recovery/snapshots/s1/recoveryJobs",
        "/v1.0/directory/recovery/snapshots/s1/recoveryJobs/j1/getFailedChanges",
        "/v1.0/directory/recovery/snapshots/s1/previewJobs/j1",
        "/v1.0/directory/recovery/snapshots/a%2Fb/recoveryJobs/j1",  # a base64 id's '/' stays a separator
        "/v1.0/solutions/migrations/crossTenantMigrationJobs/j1/users/u1",
        "/v1.0/solutions/migrations/crossTenantMigrationJobs/j1/validate",
        "/v1.0/solutions/migrations/crossTenantMigrationJobs",
        "/v1.0/security/triggers/retentionEvents",
        "/v1.0/security/triggerTypes/retentionEventTypes/t1",
        "/v1.0/security/triggers/retentionEvents/e1/retentionEventType",
        "/v1.0/deviceManagement/windowsAutopilotDeviceIdentities/d1",
        "/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities",
        "/beta/deviceAppManagement/mobileApps/a1/microsoft.graph.win32LobApp/contentVersions/1/files",
        "/beta/deviceAppManagement/mobileApps/a1/microsoft.graph.win32LobApp/contentVersions/1/files/f1/commit",
        "/beta/deviceAppManagement/mobileApps/a1/microsoft.graph.iosLobApp/contentVersions/1/files/f1",
        "/beta/deviceAppManagement/mobileApps/a1/win32LobApp/contentVersions/1/files/f1",
    ],
)
def test_new_shapes_refuse_their_tricks(url: str) -> None:
    with pytest.raises(Rejected) as raised:
        resolve_operation_url(url, GRAPH)
    assert raised.value.field == "operationUrl"


@pytest.mark.parametrize(
    ("url", "cloud"),
    [(seed.EXPORT_PATH, "usgov"), (seed.ONENOTE_OPERATION_PATH, "china"),
     (seed.SIMULATION_OPERATION_PATH, "usgovdod"), (seed.CASE_OPERATION_PATH, "china"),
     (seed.CONNECTION_OPERATION_PATH, "china"), (seed.GDAP_OPERATION_PATH, "china"),
     (seed.reset_path("adele@contoso.com"), "china"), (seed.AUDIT_QUERY_PATH, "usgov"),
     (seed.CLOUD_PC_EXPORT_PATH, "usgov"), (seed.RESTORE_SESSION_PATH, "usgovdod"),
     (seed.BILLING_OPERATION_PATH, "china"), (seed.PLACE_OPERATION_PATH, "usgov"),
     (seed.WORKFLOW_RUN_PATH, "china"), (seed.SITE_CREATION_PATH, "usgov"),
     (seed.SNAPSHOT_JOB_PATH.replace("v1.0", "beta"), "china"),
     (seed.bulk_addition_path("siteProtectionUnitsBulkAdditionJob"), "usgov"), (seed.RECOVERY_JOB_PATH, "usgov"),
     (seed.MIGRATION_JOB_PATH, "usgovdod"), (seed.RETENTION_EVENT_PATH, "china")],
)  # fmt: skip
def test_kinds_outside_their_clouds_are_refused_with_the_reason(url: str, cloud: str) -> None:
    with pytest.raises(Rejected, match=f"not {cloud}"):
        resolve_operation_url(url, GRAPH, cloud)
    assert resolve_operation_url(url, GRAPH, "global").kind.clouds >= {"global"}


def test_a_version_missing_from_a_cloud_is_refused_there_and_its_twin_is_not() -> None:
    reset = seed.reset_path("adele@contoso.com")
    refusal = "v1.0 authenticationMethodOperation operations exist only in the Graph cloud(s) global, usgov, usgovdod"
    with pytest.raises(Rejected, match=re.escape(f"{refusal}, not china")):
        resolve_operation_url(reset, GRAPH, "china")
    assert resolve_operation_url(reset.replace("/v1.0/", "/beta/"), GRAPH, "china").kind.name == (
        "authenticationMethodOperation"
    )
    with pytest.raises(Rejected, match=re.escape("v1.0 dataPolicyOperation operations exist only in the Graph cloud(s) "
                                                 "global, not usgov")):  # fmt: skip
        resolve_operation_url(seed.EXPORT_PATH, GRAPH, "usgov")
    assert resolve_operation_url(seed.EXPORT_PATH.replace("/v1.0/", "/beta/"), GRAPH, "usgov").kind.name == (
        "dataPolicyOperation"
    )


def test_a_refused_version_names_its_twin_and_nothing_else_has_one() -> None:
    from graphops.graph.kinds import twin_url

    reset = GRAPH + seed.reset_path("adele@contoso.com") + "?aadgdc=DUB02P&aadgsu=ssprprod-a"
    assert twin_url(KINDS["authenticationMethodOperation"], reset) == reset.replace("/v1.0/", "/beta/")
    assert twin_url(KINDS["authenticationMethodOperation"], reset.replace("/v1.0/", "/beta/")) is None
    assert [name for name, kind in KINDS.items() if kind.forbidden_twin] == ["authenticationMethodOperation"]


@pytest.mark.parametrize(
    ("name", "running", "succeeded", "partial", "failed"),
    [
        ("teamsAsyncOperation", ["notStarted", "inProgress"], ["succeeded"], [], ["failed", "invalid"]),
        ("dataPolicyOperation", ["notStarted", "running"], ["complete"], [], ["failed"]),
        ("ediscoveryCaseOperation", ["notStarted", "running"], ["succeeded"], ["partiallySucceeded"],
         ["failed", "submissionFailed"]),
        ("externalConnectionOperation", ["unspecified", "inprogress"], ["completed"], [], ["failed"]),
        ("onenoteOperation", ["NotStarted", "Running"], ["Completed"], [], ["Failed"]),
        ("siteOperation", ["notStarted", "running"], ["succeeded"], [], ["failed"]),
        ("partnerBillingOperation", ["notStarted", "running"], ["completed", "succeeded"], [], ["failed"]),
        ("telephoneNumberOperation", ["notStarted", "running"], ["succeeded"], [], ["failed", "skipped"]),
        ("engagementAsyncOperation", ["notStarted", "running", "inProgress"], ["succeeded"], [],
         ["failed", "skipped"]),
        ("mailFolderOperation", ["notStarted", "running"], ["succeeded"], [], ["failed"]),
        ("placeOperation", ["created", "inProgress"], ["succeeded"], ["partiallySucceeded"], ["failed", "expired"]),
        ("auditLogQuery", ["notStarted", "running"], ["succeeded"], [], ["failed", "cancelled"]),
        ("deviceManagementExportJob", ["unknown", "notStarted", "inProgress"], ["completed"], [], ["failed"]),
        ("cloudPcExportJob", ["notStarted", "inProgress"], ["completed"], [], ["failed"]),
        ("accessReviewHistoryDefinition", ["requested", "inProgress"], ["done"], [], ["error"]),
        ("restoreSession", ["draft", "activating", "active"], ["completed"], ["completedWithError"], ["failed"]),
        ("industryDataRun", ["running"], ["completed", "completedWithWarnings"], ["completedWithErrors"],
         ["failed"]),
        ("accessPackageAssignmentRequest", ["submitted", "pendingApproval", "delivering", "scheduled"], ["delivered"],
         ["partiallyDelivered"], ["deliveryFailed", "denied", "canceled"]),
        ("lifecycleWorkflowRun", ["queued", "inProgress", "canceling", "quarantined"], ["completed"],
         ["completedWithErrors"], ["failed", "canceled"]),
        ("siteCreationOperation", ["notStarted", "running"], ["succeeded"], [], ["failed"]),
        ("configurationSnapshotJob", ["notStarted", "running"], ["succeeded"], ["partiallySuccessful"], ["failed"]),
        *[(kind, ["unknown", "active"], ["completed", "Completed"], ["completedWithErrors", "CompletedWithErrors"], [])
          for kind in seed.BULK_FAMILIES],
        ("recoveryJob", ["initialized", "running", "calculating", "loadingData"], ["successful"], [],
         ["failed", "abandoned"]),
        ("crossTenantMigrationJob", ["submitted", "approved", "processing", "cuttingOver", "inProgress",
                                     "pendingCancel", "adminActionRequired", "validateSubmitted",
                                     "validateProcessing", "validateInProgress"],
         ["completed", "validatePassed"], ["completedWithErrors"], ["failed", "validateFailed", "cancelled"]),
        ("retentionEvent", ["pending", "notAvaliable"], ["success"], [], ["error"]),
        ("importedWindowsAutopilotDeviceIdentity", ["unknown", "pending"], ["complete"], ["partial"], ["error"]),
        ("win32LobAppContentFile", ["unknown", "transientError", "azureStorageUriRequestPending",
                                    "azureStorageUriRenewalPending", "commitFilePending"],
         ["success", "azureStorageUriRequestSuccess", "azureStorageUriRenewalSuccess", "commitFileSuccess"], [],
         ["error", "azureStorageUriRequestFailed", "azureStorageUriRequestTimedOut", "azureStorageUriRenewalFailed",
          "azureStorageUriRenewalTimedOut", "commitFileFailed", "commitFileTimedOut"]),
    ],
)  # fmt: skip
def test_states_compare_as_each_service_spells_them(
    name: str, running: list[str], succeeded: list[str], partial: list[str], failed: list[str]
) -> None:
    kind = KINDS[name]
    for status in [*running, "unknownFutureValue", "brandNew"]:
        assert not kind.is_terminal(status), status
    assert set(succeeded) <= kind.succeeded_states and set(partial) == kind.partial_states
    assert set(failed) <= kind.failed_states
    assert not kind.is_terminal("Succeeded") or name == "onenoteOperation"  # exact spelling


def test_resource_and_progress_come_from_each_kinds_own_fields() -> None:
    assert KINDS["teamsAsyncOperation"].resource_of(seed.teams_operation("succeeded")) == f"/teams('{seed.CLONE_ID}')"
    assert KINDS["siteOperation"].progress_of(seed.rich_operation("running", 40)) == 40.0
    assert KINDS["onenoteOperation"].progress_of(seed.onenote_operation("Running")) == 50.0  # a string in Graph
    assert KINDS["dataPolicyOperation"].resource_of(seed.data_export("complete")).startswith("https://contoso.blob")
    assert KINDS["ediscoveryCaseOperation"].resource_of(seed.case_operation("succeeded", 100)) is None
    assert KINDS["siteOperation"].progress_of({"percentageComplete": 140}) is None
    assert KINDS["siteOperation"].progress_of({"percentageComplete": True}) is None


def test_docs_kinds_lists_every_kind_with_its_form_states_permission_clouds_and_pace() -> None:
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "docs" / "kinds.md").read_text()
    table = readme.split("# Operation kinds", 1)[1].split("\n\n")
    rows = [line for block in table[:3] for line in block.splitlines() if line.startswith("| `")]
    by_kind = {row.split("`")[1]: [c.strip() for c in row.strip("|").split("|")] for row in rows}
    assert sorted(by_kind) == sorted(KINDS) and len(rows) == len(KINDS)  # one table, one row per kind
    for name, kind in KINDS.items():
        cells = by_kind[name]
        assert cells[1] == {"location": "Location", "resourceStatus": "resource status"}[kind.form], name
        states = [set(re.sub(r"\(.*?\)", "", part).replace("—", "").replace(",", " ").split())
                  for part in cells[3].split(" / ")]  # fmt: skip
        assert states == [kind.succeeded_states, kind.partial_states, kind.failed_states], name
        assert cells[4] == kind.permission, name
        clouds = "all" if kind.clouds == {"global", "usgov", "usgovdod", "china"} else ", ".join(sorted(kind.clouds))
        versions = "".join(f" ({v}: {', '.join(sorted(c))})" for v, c in kind.version_clouds.items())
        assert cells[5] == clouds + versions, name
        schedule = f"{kind.poll_delays[0]}–{kind.poll_delays[1]}" if kind.poll_delays else "5–60 (the deployment’s)"
        assert cells[6] == schedule, name


def test_each_kind_polls_at_its_services_pace_unless_settings_say_otherwise() -> None:
    import random
    from datetime import UTC, datetime, timedelta

    from graphops.common.errors import SettingsError
    from graphops.egress.policy import CallbackPolicy
    from graphops.graph.answer import GraphAnswer
    from graphops.intake.limits import Limits
    from graphops.intake.request import from_request
    from graphops.settings import Settings
    from graphops.step.decide import PollAgain, decide, observe
    from graphops.wiring import policy_for

    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}
    policy = policy_for(Settings.from_env(env))
    limits = Limits(GRAPH, CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    t0 = datetime(2026, 11, 28, tzinfo=UTC)

    def first_delay(path: str, body: dict[str, object], chosen: object = policy) -> int:
        doc = {"operationUrl": path, "callbackUrl": "https://a.logic.azure.com/cb"}
        tracking = observe(from_request(doc, "t", t0, limits), GraphAnswer(200, body))
        decision = decide(tracking, GraphAnswer(200, body), t0 + timedelta(seconds=1), chosen, random.Random(0))  # type: ignore[arg-type]
        assert isinstance(decision, PollAgain)
        return decision.delay

    assert (
        first_delay(seed.TEAM_LOCATION, seed.teams_operation("inProgress")) == 31
    )  # "wait >30 seconds between checks"
    assert first_delay(seed.EXPORT_PATH, seed.data_export("running")) == 60
    assert first_delay(seed.CASE_OPERATION_PATH, seed.case_operation("running", 1)) == 30
    assert first_delay(seed.SITE_OPERATION_PATH, seed.rich_operation("running", 1)) == 5  # the deployment's own
    quick = policy_for(Settings.from_env({**env, "GRAPHOPS_KIND_POLL_DELAYS": "teamsAsyncOperation=2:10"}))
    assert first_delay(seed.TEAM_LOCATION, seed.teams_operation("inProgress"), quick) == 2
    everything = policy_for(Settings.from_env({**env, "GRAPHOPS_KIND_POLL_DELAYS": "*=1:2"}))
    assert first_delay(seed.EXPORT_PATH, seed.data_export("running"), everything) == 1
    for bad in ("teams=1:2", "teamsAsyncOperation=5", "teamsAsyncOperation=9:3", "teamsAsyncOperation=0:3"):
        with pytest.raises(SettingsError, match="GRAPHOPS_KIND_POLL_DELAYS"):
            Settings.from_env({**env, "GRAPHOPS_KIND_POLL_DELAYS": bad})


def test_only_a_resource_of_the_expected_shape_on_the_graph_host_is_waited_for() -> None:
    from graphops.graph.kinds import resource_url

    teams = KINDS["teamsAsyncOperation"]
    assert resource_url(teams, f"/teams('{seed.CLONE_ID}')", GRAPH) == f"{GRAPH}/v1.0/teams('{seed.CLONE_ID}')"
    assert resource_url(teams, f"{GRAPH}/beta/teams/{seed.CLONE_ID}", GRAPH) == f"{GRAPH}/beta/teams/{seed.CLONE_ID}"
    for odd in (
        f"https://evil.example/teams('{seed.CLONE_ID}')",
        "/teams('a')/members",
        "/teams('a%2Fb')",
        "/users('a')",
        "/teams('a')?$expand=x",
        "//evil.example/teams('a')",
        "",
        None,
        "/teams('..')",
    ):
        assert resource_url(teams, odd, GRAPH) is None, odd  # fmt: skip
    assert resource_url(KINDS["siteOperation"], "https://graph.microsoft.com/v1.0/sites/root", GRAPH) is None


def test_waiting_for_a_resource_asks_again_on_404_until_the_deadline() -> None:
    import random
    from datetime import UTC, datetime, timedelta

    from graphops.egress.policy import CallbackPolicy
    from graphops.envelope.tracking import Outcome
    from graphops.graph.answer import GraphAnswer
    from graphops.intake.limits import Limits
    from graphops.intake.request import from_request
    from graphops.pacing.schedule import PollSchedule
    from graphops.step.decide import Policy, PollAgain, ResourceSeen, decide_resource

    t0 = datetime(2026, 11, 28, tzinfo=UTC)
    limits = Limits(GRAPH, CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    doc = {"operationUrl": seed.TEAM_LOCATION, "callbackUrl": "https://a.logic.azure.com/cb", "timeoutSeconds": 600,
           "waitForResource": True}  # fmt: skip
    tracking = from_request(doc, "t", t0, limits).finish(Outcome.SUCCEEDED, None, t0 + timedelta(seconds=60))
    policy, rng = Policy(PollSchedule(5, 60), 120), random.Random(0)
    at = t0 + timedelta(seconds=65)
    assert decide_resource(tracking, GraphAnswer(200, {"id": "x"}), at, policy, rng) == ResourceSeen(True)
    assert isinstance(decide_resource(tracking, GraphAnswer(404), at, policy, rng), PollAgain)
    throttled = decide_resource(tracking, GraphAnswer(429, retry_after=40), at, policy, rng)
    assert isinstance(throttled, PollAgain) and throttled.delay >= 40
    assert decide_resource(tracking, GraphAnswer(403), at, policy, rng) == ResourceSeen(False)
    assert decide_resource(tracking, GraphAnswer(404), t0 + timedelta(seconds=600), policy, rng) == ResourceSeen(False)


def test_watching_a_drive_copy_reads_its_monitor_and_never_the_graph_client() -> None:
    from graphops import watch as watching
    from graphops.local.graph import Reply
    from graphops.local.sharepoint import MonitorStandIn
    from graphops.settings import Settings

    class NoGraph:
        def get_operation(self, url: str, select: object = ()) -> object:
            raise AssertionError("the Graph client (and its token) must not read a monitor")

    with MonitorStandIn() as sharepoint:
        path = "/_api/v2.0/monitor/4A34"
        sharepoint.script(path, [Reply(200, {"status": "inProgress", "percentageComplete": 5}),
                                 Reply(200, {"status": "completed", "resourceId": "01MOW"})])  # fmt: skip
        env = {
            "GRAPHOPS_MONITOR_ALLOWED_HOSTS": f"127.0.0.1:{sharepoint.port}",
            "GRAPHOPS_ALLOW_HTTP_CALLBACKS": "true",
        }
        settings = Settings.from_env(env, need_storage=False)
        finished = watching.watch(
            f"{sharepoint.url}{path}", settings, NoGraph(), timeout_seconds=60,  # type: ignore[arg-type]
            on_change=lambda change: None, sleep=lambda seconds: None,
        )  # fmt: skip
    assert str(finished.outcome) == "succeeded" and [c.authorization for c in sharepoint.calls] == [None, None]


# -- What the new forms read ------------------------------------------------------------------------------


def test_a_job_wrapped_as_its_page_shows_it_reads_as_the_job() -> None:
    audit = KINDS["auditLogQuery"]
    assert audit.status_of(seed.audit_query("running")) == "running"  # {"value": {...}}, as the GET page shows
    assert audit.status_of(seed.audit_query("running", wrapped=False)) == "running"
    assert audit.entity(seed.audit_query("succeeded")) == seed.audit_query("succeeded", wrapped=False)
    assert audit.entity({"value": [{"status": "succeeded"}]}) == {"value": [{"status": "succeeded"}]}  # a list
    assert KINDS["cloudPcExportJob"].status_of(seed.cloud_pc_export("completed")) == "completed"  # exportJobStatus
    assert KINDS["cloudPcExportJob"].status_of({"status": "completed"}) is None


def test_a_jobs_result_is_its_link_or_the_path_under_its_own_url_once_it_succeeded() -> None:
    audit, url = KINDS["auditLogQuery"], GRAPH + seed.AUDIT_QUERY_PATH
    assert audit.resource_of(seed.audit_query("succeeded", wrapped=False), url) == url + "/records"
    assert audit.resource_of(seed.audit_query("succeeded", wrapped=False), url + "?$select=status") == url + "/records"
    assert audit.resource_of(seed.audit_query("running", wrapped=False), url) is None
    assert audit.resource_of(seed.audit_query("failed", wrapped=False), url) is None
    export = KINDS["deviceManagementExportJob"]
    assert export.resource_of(seed.export_job("completed")["value"]) == seed.EXPORT_JOB_URL
    assert KINDS["partnerBillingOperation"].resource_of(seed.billing_operation("succeeded")) == seed.BILLING_MANIFEST


def test_a_signed_link_is_withheld_from_what_is_kept_and_shown() -> None:
    from graphops.common.signed import WITHHELD_QUERY
    from graphops.graph.kinds.base import WITHHELD

    export = KINDS["deviceManagementExportJob"]
    job = seed.export_job("completed")["value"]
    kept = export.withheld(job)
    assert kept["url"] == WITHHELD and kept["expirationDateTime"] == job["expirationDateTime"]
    assert export.withheld(seed.export_job("inProgress")["value"])["url"] is None  # nothing to withhold yet
    assert KINDS["cloudPcExportJob"].withheld(seed.cloud_pc_export("completed")["value"])["exportUrl"] == WITHHELD
    # A kind that names no secret field still withholds a signed link's query; a body without one is kept as it is.
    assert KINDS["auditLogQuery"].withheld(job)["url"] == job["url"].split("?")[0] + WITHHELD_QUERY
    running = seed.export_job("inProgress")["value"]
    assert KINDS["auditLogQuery"].withheld(running) == running
    upload = seed.win32_content_file("azureStorageUriRequestSuccess")["value"]
    assert KINDS["win32LobAppContentFile"].withheld(upload)["azureStorageUri"] == WITHHELD
    secret = {name for name, kind in KINDS.items() if kind.secret_fields}
    assert secret == {"deviceManagementExportJob", "cloudPcExportJob", "win32LobAppContentFile"}


def test_progress_from_counts() -> None:
    places, restore = KINDS["placeOperation"], KINDS["restoreSession"]
    assert places.progress_of(seed.place_operation("inProgress", 3)) == 33.3
    assert places.progress_of(seed.place_operation("partiallySucceeded", 7, 2)) == 100.0
    assert places.progress_of(seed.place_operation("created", 0, total=0)) is None  # nothing to count yet
    assert places.progress_of({"progress": {"totalPlaceCount": 2, "succeededPlaceCount": 3}}) is None
    assert places.progress_of({"progress": {"totalPlaceCount": "9", "succeededPlaceCount": 1}}) is None
    assert places.progress_of({"progress": {"totalPlaceCount": True, "succeededPlaceCount": 1}}) is None
    assert restore.progress_of(seed.restore_session("active", 1)) == 50.0
    assert restore.progress_of(seed.restore_session("completedWithError", 1, failed=1)) == 100.0


def test_each_way_an_operation_ends_unsuccessfully_is_said_in_words() -> None:
    import random
    from datetime import UTC, datetime

    from graphops.egress.policy import CallbackPolicy
    from graphops.graph.answer import GraphAnswer
    from graphops.intake.limits import Limits
    from graphops.intake.request import from_request
    from graphops.pacing.schedule import PollSchedule
    from graphops.step.decide import Finish, Policy, decide, observe

    limits = Limits(GRAPH, CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    now = datetime(2026, 12, 4, tzinfo=UTC)
    policy = Policy(PollSchedule(5, 60), 120)

    def error_of(path: str, body: dict[str, object]) -> tuple[str, str]:
        tracking = from_request({"operationUrl": path, "callbackUrl": "https://a.logic.azure.com/c"}, "t", now, limits)
        answer = GraphAnswer(200, body)
        decision = decide(observe(tracking, answer), answer, now, policy, random.Random(0))
        assert isinstance(decision, Finish) and decision.error is not None
        return decision.error.code, decision.error.message

    assert error_of(seed.AUDIT_QUERY_PATH, seed.audit_query("cancelled")) == (
        "cancelled", "Graph reports the operation was cancelled",
    )  # fmt: skip
    assert error_of(seed.PLACE_OPERATION_PATH, seed.place_operation("expired", 0)) == (
        "expired", "Graph reports the operation expired",
    )  # fmt: skip
    assert error_of(seed.INDUSTRY_RUN_PATH, {**seed.industry_run("failed"), "blockingError": {
        "code": "sourceUnavailable", "message": "The SIS connection was refused"}}) == (
        "sourceUnavailable", "The SIS connection was refused",
    )  # fmt: skip
    assert error_of(seed.BILLING_OPERATION_PATH, seed.billing_operation("failed")) == ("5000", "No data available")
    assert error_of(seed.ACCESS_REQUEST_PATH, seed.access_package_request("denied")) == (
        "denied", "Graph reports the operation was denied",
    )  # fmt: skip
    assert error_of(seed.WORKFLOW_RUN_PATH, seed.workflow_run("canceled")) == (
        "canceled", "Graph reports the operation was canceled",
    )  # fmt: skip
    assert error_of(seed.RECOVERY_JOB_PATH, seed.recovery_job("abandoned", 0)) == (
        "abandoned", "Graph reports the operation was abandoned",
    )  # fmt: skip


def test_a_select_asks_for_the_kinds_own_status_property() -> None:
    from datetime import UTC, datetime

    from graphops.egress.policy import CallbackPolicy
    from graphops.intake.limits import Limits
    from graphops.intake.request import from_request

    limits = Limits(GRAPH, CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    now = datetime(2026, 12, 4, tzinfo=UTC)
    doc = {"operationUrl": seed.CLOUD_PC_EXPORT_PATH, "callbackUrl": "https://a.logic.azure.com/c", "select": ["id"]}
    assert from_request(doc, "t", now, limits).polled_select == ("exportJobStatus", "id")
    assert from_request({**doc, "select": None}, "t", now, limits).polled_select == ()
    # A status inside an object: the object's property is what a $select names.
    nested = {**doc, "operationUrl": seed.RETENTION_EVENT_PATH, "select": ["displayName"]}
    assert from_request(nested, "t", now, limits).polled_select == ("eventStatus", "displayName")


def test_a_status_inside_an_object_is_read_there_and_a_select_names_the_object() -> None:
    event = KINDS["retentionEvent"]
    assert event.status_of(seed.retention_event("pending")) == "pending"  # wrapped in "value", as its page shows
    assert event.status_of(seed.retention_event("success")["value"]) == "success"
    for odd in ({"eventStatus": "success"}, {"eventStatus": None}, {"status": "success"}, {"eventStatus": {}}):
        assert event.status_of(odd) is None, odd
    url = GRAPH + seed.RETENTION_EVENT_PATH
    with pytest.raises(Rejected, match="must name eventStatus, the property"):
        resolve_operation_url(url + "?$select=displayName", GRAPH)
    assert resolve_operation_url(url + "?$select=eventStatus", GRAPH).kind is event
    autopilot = KINDS["importedWindowsAutopilotDeviceIdentity"]
    assert autopilot.status_of(seed.autopilot_import("complete")) == "complete"
    assert autopilot.status_property() == "state"


def test_an_error_inside_a_wrapped_failed_job_is_read_and_graphs_text_is_bounded() -> None:
    import random
    from datetime import UTC, datetime

    from graphops.egress.policy import CallbackPolicy
    from graphops.graph.answer import GraphAnswer
    from graphops.intake.limits import Limits
    from graphops.intake.request import from_request
    from graphops.pacing.schedule import PollSchedule
    from graphops.step.decide import MAX_MESSAGE_CHARS, Finish, Policy, decide, observe

    limits = Limits(GRAPH, CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    now = datetime(2026, 12, 4, tzinfo=UTC)

    def finish(body: dict[str, object]) -> Finish:
        doc = {"operationUrl": seed.EXPORT_JOB_PATH, "callbackUrl": "https://a.logic.azure.com/c"}
        answer = GraphAnswer(200, body)
        decision = decide(observe(from_request(doc, "t", now, limits), answer), answer, now,
                          Policy(PollSchedule(5, 60), 120), random.Random(0))  # fmt: skip
        assert isinstance(decision, Finish)
        return decision

    failed = seed.export_job("failed")
    failed["value"]["error"] = {"code": "ReportFailed", "message": "The report could not be generated"}
    assert finish(failed).error == ErrorInfo("ReportFailed", "The report could not be generated")
    huge = seed.export_job("failed")
    huge["value"]["error"] = {"code": "C" * 5000, "message": "x" * 500_000}
    error = finish(huge).error
    assert error is not None and len(error.code) == 200 and len(error.message) < MAX_MESSAGE_CHARS + 10
    assert error.message.endswith("… (cut)")
    assert KINDS["deviceManagementExportJob"].status_of({"status": "x" * 257}) is None  # no status is that long


def test_counts_of_any_size_give_a_percentage_or_none_never_an_error() -> None:
    places = KINDS["placeOperation"]
    big = 10**400
    counts = {"totalPlaceCount": big, "succeededPlaceCount": big // 2, "failedPlaceCount": 0}
    assert places.progress_of({"progress": counts}) == 50.0
    assert KINDS["siteOperation"].progress_of({"percentageComplete": 10**400}) is None  # too large for a float


def test_a_select_in_the_url_must_name_the_kinds_status_and_a_select_field_joins_it() -> None:
    from graphops.graph.reader import with_select

    url = GRAPH + seed.CLOUD_PC_EXPORT_PATH
    with pytest.raises(Rejected, match="must name exportJobStatus"):
        resolve_operation_url(url + "?$select=id", GRAPH)
    assert resolve_operation_url(url + "?$select=exportJobStatus,id", GRAPH).url.endswith("$select=exportJobStatus,id")
    joined = with_select(url + "?$select=exportJobStatus,id", ("exportJobStatus", "exportUrl"))
    assert joined == url + "?$select=exportJobStatus,id,exportUrl"  # one $select, not two
    reset = GRAPH + RESET + "?aadgdc=DUB02P&aadgsu=ssprprod-a"
    assert with_select(reset, ("status",)) == reset + "&$select=status"


def test_a_dead_letters_signed_link_is_withheld_where_people_read_the_poison_queue() -> None:
    import json

    from graphops.storage.poison import redact_callbacks

    envelope = {"v": 1, "kind": "deviceManagementExportJob", "operationUrl": GRAPH + seed.EXPORT_JOB_PATH,
                "callbackUrl": "https://a.logic.azure.com/cb?sig=key",
                "operation": seed.export_job("completed")["value"]}  # fmt: skip
    shown = json.loads(redact_callbacks(json.dumps(envelope)))
    assert "sig=" not in json.dumps(shown) and shown["operation"]["url"].startswith("(a signed link")
    assert shown["operation"]["reportName"] == "DeviceCompliance"
    odd = json.loads(redact_callbacks(json.dumps({**envelope, "kind": 7})))  # a producer's: nothing to withhold by
    assert odd["callbackUrl"] == "https://a.logic.azure.com/cb?…"


def test_a_status_is_a_word_of_one_to_256_characters() -> None:
    from graphops.graph.kinds.base import MAX_STATUS_CHARS
    from graphops.graph.kinds.identity import RoleManagementAlertRefresh as Alert

    assert Alert.status_of({"status": "a"}) == "a"
    assert Alert.status_of({"status": "s" * MAX_STATUS_CHARS}) == "s" * MAX_STATUS_CHARS
    assert Alert.status_of({"status": "s" * (MAX_STATUS_CHARS + 1)}) is None
    assert Alert.status_of({"status": ""}) is None


def test_a_copys_progress_is_a_percentage_from_0_to_100() -> None:
    from graphops.graph.kinds.drives import DriveItemCopy as Copy

    assert [Copy.progress_of({"percentageComplete": p}) for p in (0, 100, "50", 12.5)] == [0.0, 100.0, 50.0, 12.5]
    assert [Copy.progress_of({"percentageComplete": p}) for p in (-1, 100.5, None, True, "x")] == [None] * 5
    assert Copy.progress_of({}) is None and Copy.progress_of("50") is None


def test_a_copys_resource_is_its_first_named_field_that_is_text() -> None:
    from graphops.graph.kinds.drives import DriveItemCopy as Copy

    assert Copy.resource_of({"resourceLocation": 123, "resourceId": "01ABC"}) == "01ABC"
    assert Copy.resource_of({"resourceLocation": "", "resourceId": ""}) is None


def test_a_monitor_path_is_scoped_only_by_a_site_or_a_personal_onedrive() -> None:
    from graphops.graph.kinds.drives import DriveItemCopy as Copy

    assert Copy.matches_monitor(["sites", "s1", "_api", "v2.0", "monitor", "m1"])
    assert Copy.matches_monitor(["personal", "u1", "_api", "v2.0", "monitor", "m1"])
    assert not Copy.matches_monitor(["lists", "l1", "_api", "v2.0", "monitor", "m1"])


def test_an_id_segment_is_never_a_dot_segment_and_a_name_is_named_with_its_version_only_where_it_matters() -> None:
    from graphops.graph.kinds.base import segment_matches
    from graphops.graph.kinds.identity import AuthenticationMethodOperation, RoleManagementAlertRefresh

    assert not segment_matches("{id}", ".") and not segment_matches("{id}", "..") and segment_matches("{id}", ".a")
    assert RoleManagementAlertRefresh.named_in("beta", "roleManagementAlertRefresh") == "roleManagementAlertRefresh"
    assert AuthenticationMethodOperation.named_in("v1.0", "x") == "v1.0 x"


def test_odata_keys_and_function_ids() -> None:
    from graphops.graph.kinds.odata import split_keys

    assert split_keys(["places", "getOperation(id='op1')"]) == ["places", "getOperation(id=)", "op1"]
    assert split_keys(["sites", "getOperationStatus(operationId='b3A=')"]) == [
        "sites", "getOperationStatus(operationId=)", "b3A=",
    ]  # fmt: skip
    assert split_keys(["getOperationStatus(other='x')"]) == ["getOperationStatus(other='x')"]  # no function id
    assert split_keys(["teams('t1')", "operations('o1')"]) == ["teams", "t1", "operations", "o1"]
    with pytest.raises(Rejected) as rejected:
        split_keys(["teams('a b')"], field="where")
    assert (rejected.value.field, rejected.value.problem) == ("where", "\"teams('a b')\" is not a valid OData key")


NOT_KNOWN = "not a known operation path"


@pytest.mark.parametrize(
    ("url", "cloud", "problem"),
    [
        ("//graph.microsoft.com" + RESET, "global",
         "a relative URL must start with /v1.0/, /beta/ or a known unversioned path"),
        ("https://u@graph.microsoft.com" + RESET, "global", "must not carry user information"),
        ("https://u:p@graph.microsoft.com" + RESET, "global", "must not carry user information"),
        (GRAPH + RESET + "#top", "global", "must not have a fragment"),
        ("http://graph.microsoft.com" + RESET, "global", "must use https"),
        ("/v1.0", "global", NOT_KNOWN),
        (GRAPH + "/v1.0/users/a%zz/authentication/operations/b", "global", "malformed percent-encoding in the path"),
        (GRAPH + "/v1.0/users/a%4/authentication/operations/b", "global", "malformed percent-encoding in the path"),
        (GRAPH + "/v1.0/me/nothing", "global",
         "not a known operation path; docs/kinds.md lists the operation kinds graphops tracks"),
        ("/v1.0/dataPolicyOperations/d1", "usgov",
         "v1.0 dataPolicyOperation operations exist only in the Graph cloud(s) global, not usgov"),
        (RESET + "?$select=id", "global",
         "$select must name status, the property graphops reads a authenticationMethodOperation's end in"),
        (RESET + "?$expand=x", "global",
         "the OData option $expand is not allowed: graphops reads the operation only ($select is allowed)"),
        (RESET + "?other=", "global",
         "the query parameter 'other' is not one Graph puts in a authenticationMethodOperation Location "
         "(those: aadgdc, aadgsu)"),
        (ALERT + "?x=1", "global",
         "the query parameter 'x' is not one Graph puts in a roleManagementAlertRefresh Location (those: none)"),
        ("https://contoso.sharepoint.com/_api/v2.0/monitor/m1", "global",
         "host must be the configured Graph host graph.microsoft.com"),
    ],
)  # fmt: skip
def test_each_refused_operation_url_says_why(url: str, cloud: str, problem: str) -> None:
    with pytest.raises(Rejected) as rejected:
        resolve_operation_url(url, GRAPH, cloud)
    assert (rejected.value.field, rejected.value.problem) == ("operationUrl", problem)


def test_a_percent_sign_is_checked_in_every_segment_and_may_encode_anything_but_a_separator() -> None:
    assert resolve_operation_url("/v1.0/users/a%41b/authentication/operations/b", GRAPH).kind.name == (
        "authenticationMethodOperation"
    )
    assert resolve_operation_url("/v1.0/users/a%4Fb/authentication/operations/b", GRAPH).url.endswith(
        "a%4Fb/authentication/operations/b"
    )
    assert resolve_operation_url("/v1.0/users/a%4fb/authentication/operations/b", GRAPH).url.endswith(
        "a%4fb/authentication/operations/b"
    )


def test_select_is_at_most_32_names_and_says_so() -> None:
    assert validate_select(["a"] * 32) == ("a",)
    assert validate_select([f"p{i}" for i in range(32)]) == tuple(f"p{i}" for i in range(32))
    for bad in ([f"p{i}" for i in range(33)], "status"):
        with pytest.raises(Rejected) as rejected:
            validate_select(bad)
        assert (rejected.value.field, rejected.value.problem) == (
            "select",
            "must be a list of at most 32 property names",
        )
    with pytest.raises(Rejected) as rejected:
        validate_select(["a b"])
    assert rejected.value.problem == "'a b' is not a property name"


def test_an_audit_query_that_hit_its_record_limit_says_so_in_its_details() -> None:
    kind = KINDS["auditLogQuery"]
    over = kind.details_of(seed.audit_query("succeeded", over_limit=True))
    assert over == {"isRecordCountLimitExceeded": True, "recordCountLimit": 1_000_000,
                    "approximateReturnedRecordCount": 1_000_412}  # fmt: skip
    within = kind.details_of(seed.audit_query("succeeded", over_limit=False, wrapped=False))
    assert within is not None and within["isRecordCountLimitExceeded"] is False
    assert kind.details_of(seed.audit_query("running")) is None  # a query before the record-count properties
    assert kind.details_of({"value": {"status": "succeeded", "isRecordCountLimitExceeded": {"odd": 1}}}) is None
    assert KINDS["teamsAsyncOperation"].details_of({"status": "succeeded", "isRecordCountLimitExceeded": True}) is None


def test_a_poll_that_selects_properties_asks_for_the_kinds_details_too() -> None:
    from datetime import UTC, datetime

    from graphops.egress.policy import CallbackPolicy
    from graphops.intake.limits import Limits
    from graphops.intake.request import from_request

    limits = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    request = {"operationUrl": seed.AUDIT_QUERY_PATH, "callbackUrl": "https://prod-00.westeurope.logic.azure.com/cb",
               "select": ["displayName", "status"]}  # fmt: skip
    tracking = from_request(request, "m-1", datetime(2026, 1, 1, tzinfo=UTC), limits)
    assert tracking.polled_select == ("status", "isRecordCountLimitExceeded", "recordCountLimit",
                                      "approximateReturnedRecordCount", "displayName")  # fmt: skip
