"""The Graph documentation's own examples for reading a longRunningOperation, verbatim.

From "Get longRunningOperation" (Microsoft Graph beta reference): a role management alert
refresh running and succeeded, and a password reset whose timestamps are not valid ISO 8601.
"""

from __future__ import annotations

from typing import Any

ALERT_OPERATION_ID = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
ALERT_OPERATION_PATH = f"/beta/identityGovernance/roleManagementAlerts/operations/{ALERT_OPERATION_ID}"
RESET_OPERATION_ID = "2d497bb-57bd-47a6-8749-5ccd0869f2bd"


def alert_refresh(status: str, operation_id: str = ALERT_OPERATION_ID) -> dict[str, Any]:
    """Examples 1 (running) and 2 (succeeded); any other status keeps example 1's shape."""
    succeeded = status == "succeeded"
    return {
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity",
        "id": operation_id,
        "createdDateTime": "2023-06-09T22:50:41.5414467Z",
        "lastActionDateTime": "2023-06-09T22:56:09.0296021Z" if succeeded else "2023-06-09T22:52:09.0296021Z",
        "resourceLocation": (
            "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/"
            + operation_id.removeprefix("refresh:")
            if succeeded
            else ""
        ),
        "status": status,
        "statusDetail": "",
    }


def password_reset(status: str, operation_id: str = RESET_OPERATION_ID) -> dict[str, Any]:
    """Example 3, odd timestamps and all (``2020-03-19T12-01-03.45Z`` is not ISO 8601)."""
    return {
        "status": status,
        "createdDateTime": "2020-03-19T12-01-03.45Z",
        "lastActionDateTime": "2020-03-19T12-01-04.23Z",
        "id": operation_id,
    }


def reset_path(user: str, operation_id: str = RESET_OPERATION_ID, version: str = "v1.0") -> str:
    return f"/{version}/users/{user}/authentication/operations/{operation_id}"


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": "standin"}}}


# -- The other kinds, shaped as their Graph reference pages' examples (ids from those pages) -------------

TEAM_ID, TEAM_OPERATION_ID = "dbd8de4f-5d40-4f2d-a4b3-d2a8f3b1c2ea", "3a6fdce1-7ef0-4b4c-b2b9-3ab9c8df9a2e"
TEAM_LOCATION = f"/teams('{TEAM_ID}')/operations('{TEAM_OPERATION_ID}')"  # relative, OData keys, no version
CLONE_ID = "9f7a1a41-1b1f-46d4-9c6b-7cd9cd0bd2f9"
SITE_OPERATION_PATH = "/v1.0/sites/root/operations/contentTypeCopy,0x0101"
EXPORT_ID = "e0a6bb83-4a6e-4a1f-9b45-0e3d2cdb1f94"
EXPORT_PATH = f"/v1.0/dataPolicyOperations/{EXPORT_ID}"
CASE_ID, CASE_OPERATION_ID = "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", "2ad2da7c7dbf4a0aafe5d3d1e6b2df9b"
CASE_OPERATION_PATH = f"/v1.0/security/cases/ediscoveryCases/{CASE_ID}/operations/{CASE_OPERATION_ID}"
CONNECTION_OPERATION_PATH = "/v1.0/external/connections/contosohr/operations/3ed1595a-4bae-43c2-acda-ef973e581323"
ONENOTE_OPERATION_PATH = "/v1.0/users/adele@contoso.com/onenote/operations/copy-c5a2ba4b-7e84-4b8e-a6d4-1e4e4b9e8f2d"
SIMULATION_OPERATION_PATH = "/v1.0/security/attackSimulation/operations/f1b13829-3829-f1b1-2938-b1f12938b1a"
GDAP_OPERATION_PATH = (
    "/v1.0/tenantRelationships/delegatedAdminRelationships/"
    "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836/operations/"
    "0b1fb5c9-9f04-4c3b-8a95-79d2da4c9a1a"
)


def teams_operation(status: str) -> dict[str, Any]:
    """teamsAsyncOperation, as the clone example answers it."""
    done = status == "succeeded"
    return {
        "id": TEAM_OPERATION_ID,
        "operationType": "cloneTeam",
        "createdDateTime": "2026-11-28T21:49:12.8754862Z",
        "status": status,
        "lastActionDateTime": "2026-11-28T21:50:03.4519478Z",
        "attemptsCount": 1,
        "targetResourceId": CLONE_ID if done else None,
        "targetResourceLocation": f"/teams('{CLONE_ID}')" if done else None,
        "error": None,
    }


def rich_operation(status: str, percent: int) -> dict[str, Any]:
    """richLongRunningOperation on a site (a content type copy)."""
    done = status == "succeeded"
    return {
        "id": "contentTypeCopy,0x0101",
        "createdDateTime": "2026-11-28T21:50:00Z",
        "status": status,
        "statusDetail": "",
        "type": "contentTypeCopy",
        "percentageComplete": percent,
        "resourceId": "0x0101" if done else None,
        "resourceLocation": "https://graph.microsoft.com/v1.0/sites/root/contentTypes/0x0101" if done else None,
    }


def data_export(status: str) -> dict[str, Any]:
    """dataPolicyOperation: notStarted, running, complete, failed."""
    return {
        "id": EXPORT_ID,
        "status": status,
        "storageLocation": "https://contoso.blob.core.windows.net/exports/adele" if status == "complete" else None,
        "userId": "48d31887-5fad-4d73-a9f5-3c356e68a038",
        "submittedDateTime": "2026-11-28T21:49:00Z",
        "completedDateTime": "2026-11-28T23:10:00Z" if status in {"complete", "failed"} else None,
        "progress": 100.0 if status == "complete" else 40.0,
    }


def case_operation(status: str, percent: int) -> dict[str, Any]:
    """An eDiscovery case operation (an estimate of search statistics)."""
    return {
        "@odata.type": "#microsoft.graph.security.ediscoveryEstimateOperation",
        "id": CASE_OPERATION_ID,
        "createdDateTime": "2026-11-28T21:49:00Z",
        "completedDateTime": "2026-11-28T21:59:00Z" if status not in {"notStarted", "running"} else None,
        "percentProgress": percent,
        "status": status,
        "action": "estimateStatistics",
        "resultInfo": None,
    }


def connection_operation(status: str) -> dict[str, Any]:
    return {"id": "3ed1595a-4bae-43c2-acda-ef973e581323", "status": status, "error": None}


NOTEBOOKS = "https://graph.microsoft.com/v1.0/users/adele@contoso.com/onenote/notebooks"


def onenote_operation(status: str) -> dict[str, Any]:
    """Capitalised states: NotStarted, Running, Completed, Failed; percentComplete is a string."""
    done = status == "Completed"
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('adele%40contoso.com')/onenote/operations/$entity",
        "id": "copy-c5a2ba4b-7e84-4b8e-a6d4-1e4e4b9e8f2d",
        "status": status,
        "createdDateTime": "2026-11-28T21:49:12Z",
        "lastActionDateTime": "2026-11-28T21:49:30Z",
        "resourceLocation": "https://graph.microsoft.com/v1.0/users/adele@contoso.com/onenote/notebooks/1-f4c8"
        if done
        else None,
        "resourceId": "1-f4c8" if done else None,
        "percentComplete": "100" if done else "50",
    }


# -- More Location kinds, as their pages' examples answer -------------------------------------------------

BILLING_OPERATION_ID = "6fe687d7-1e0f-4bd6-9091-4672691f64bc"
BILLING_OPERATION_PATH = f"/v1.0/reports/partners/billing/operations/{BILLING_OPERATION_ID}"
BILLING_MANIFEST = (
    "https://graph.microsoft.com/v1.0/reports/partners/billing/manifests/8fe347d7-1e0f-4bd6-9091-4672691f32db"
)


def billing_operation(status: str) -> dict[str, Any]:
    """A partner billing export: runningOperation, exportSuccessOperation (its example says "succeeded") or
    failedOperation, told apart by @odata.type."""
    shape = {"running": "runningOperation", "notStarted": "runningOperation", "failed": "failedOperation"}
    body: dict[str, Any] = {
        "@odata.type": f"#microsoft.graph.partners.billing.{shape.get(status, 'exportSuccessOperation')}",
        "id": BILLING_OPERATION_ID,
        "status": status,
        "createdDateTime": "2023-03-09T08:12:53",
        "lastActionDateTime": "2023-03-09T08:37:48.5046691Z",
    }
    if status in {"succeeded", "completed"}:
        body["resourceLocation@odata.navigationLink"] = BILLING_MANIFEST
    if status == "failed":
        body["error"] = {"message": "No data available", "code": "5000"}
    return body


NUMBER_OPERATION_ID = "QXNzaWdubWVudHw2Y2E4Yjc0Ni00YzgxLTRhY2EtOTUyNi1jZmNjNGRiYWYyMmI"
NUMBER_OPERATION_PATH = f"/v1.0/admin/teams/telephoneNumberManagement/operations('{NUMBER_OPERATION_ID}')"


def number_operation(status: str) -> dict[str, Any]:
    """A telephone number assignment, wrapped in "value" as its page's GET example shows it."""
    assignment = ("https://graph.microsoft.com/v1.0/admin/teams/telephoneNumberManagement/numberAssignments/"
                  "N2EyMDUxOTctOGU1OS00ODdkLWI5ZmEtM2ZjMWIxMDhmMWU1fCsxMjA2MTIzNDU2Nw")  # fmt: skip
    return {
        "value": {
            "@odata.type": "#microsoft.graph.teamsAdministration.telephoneNumberLongRunningOperation",
            "id": NUMBER_OPERATION_ID,
            "createdDateTime": "2025-02-03T22:03:26Z",
            "status": status,
            "numbers": [{"resourceLocation": assignment, "status": status}],
        }
    }


ENGAGE_OPERATION_ID = "3a6fdce1-c261-48bc-89de-1cfef658c0d5"
ENGAGE_OPERATION_PATH = f"/v1.0/employeeExperience/engagementAsyncOperations('{ENGAGE_OPERATION_ID}')"
COMMUNITY = (
    "https://graph.microsoft.com/v1.0/employeeExperience/communities('eyJfdHlwZSI6Ikdyb3VwIiwiaWQiOiI4MzIxMjc1In0')"
)


def engagement_operation(status: str) -> dict[str, Any]:
    """A Viva Engage community creation."""
    done = status == "succeeded"
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/employeeExperience/engagementAsyncOperations/$entity",
        "id": ENGAGE_OPERATION_ID,
        "createdDateTime": "2023-12-06T09:42:54.367629-08:00",
        "lastActionDateTime": "2023-12-06T09:42:54.367663-08:00",
        "status": status,
        "statusDetail": None,
        "resourceLocation": COMMUNITY if done else None,
        "operationType": "createCommunity",
        "resourceId": "eyJfdHlwZSI6Ikdyb3VwIiwiaWQiOiI4MzIxMjc1In0" if done else None,
    }


MAIL_OPERATION_ID = "a384ae19-4f06-3576-81fc-795707bb498b"
MAIL_FOLDER_ID = "AAMkAGU0NTIyOWE0LWYxMmUtNGViMi04ZjMyLTljMjUwYWM3NDI3YQAuAAAAAAA25z0YzVCgR6uHvkjbRp9VAQAretDva7GxQ4Hap0R24JZlAAAAAAEMAAA="  # noqa: E501
MAIL_OPERATION_PATH = (
    f"/beta/users/319eaf3g-c3b8-46f5-9f16-38adf00cbaf3/mailFolders/{MAIL_FOLDER_ID}/operations/{MAIL_OPERATION_ID}"
)


def mail_folder_operation(status: str) -> dict[str, Any]:
    """Marking a folder's messages read, wrapped in "value" as its page's GET example shows it."""
    return {
        "value": {
            "@odata.type": "#microsoft.graph.mailFolderOperation",
            "id": MAIL_OPERATION_ID,
            "resourceLocation": f"https://graph.microsoft.com/beta/users('319eaf3g-c3b8-46f5-9f16-38adf00cbaf3')"
            f"/mailFolders('{MAIL_FOLDER_ID}')/operations('{MAIL_OPERATION_ID}')",
            "status": status,
        }
    }


PLACE_OPERATION_ID = "0f5d3cc5-d1bd-4cba-9b0e-e9ad68527ab5"
PLACE_OPERATION_PATH = f"/beta/places/getOperation(id='{PLACE_OPERATION_ID}')"


def place_operation(status: str, succeeded: int, failed: int = 0, total: int = 9) -> dict[str, Any]:
    """A bulk update of places: progress as counts of places."""
    return {
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#microsoft.graph.placeOperation",
        "id": PLACE_OPERATION_ID,
        "status": status,
        "progress": {"totalPlaceCount": total, "succeededPlaceCount": succeeded, "failedPlaceCount": failed},
        "details": [],
    }


# -- Jobs polled by their own status (201 with the job; its status changes) ----------------------------------

AUDIT_QUERY_ID = "168ec429-084b-a489-90d8-504a87846305"
AUDIT_QUERY_PATH = f"/v1.0/security/auditLog/queries/{AUDIT_QUERY_ID}"


def audit_query(status: str, *, wrapped: bool = True, over_limit: bool | None = None) -> dict[str, Any]:
    """An audit log query; its GET page shows it wrapped in "value" (the service answers with the query). With
    ``over_limit``, the record-count properties the resource page added: a query that hit its limit (1,000,000
    records at least) still `succeeded`, and ``isRecordCountLimitExceeded`` says it stopped there."""
    query: dict[str, Any] = {
        "@odata.type": "#microsoft.graph.security.auditLogQuery",
        "id": AUDIT_QUERY_ID,
        "displayName": "Mailbox access, last week",
        "filterStartDateTime": "2026-11-21T00:00:00Z",
        "filterEndDateTime": "2026-11-28T00:00:00Z",
        "recordTypeFilters": ["exchangeItem"],
        "keywordFilter": None,
        "serviceFilter": "Exchange",
        "operationFilters": ["MailItemsAccessed"],
        "userPrincipalNameFilters": ["adele@contoso.com"],
        "ipAddressFilters": [],
        "objectIdFilters": [],
        "administrativeUnitIdFilters": [],
        "status": status,
    }
    if over_limit is not None:
        query |= {"isRecordCountLimitExceeded": over_limit, "recordCountLimit": 1_000_000,
                  "approximateReturnedRecordCount": 1_000_412 if over_limit else 7_204}  # fmt: skip
    return {"value": query} if wrapped else query


EXPORT_JOB_ID = "9ddfb995-b995-9ddf-95b9-df9d95b9df9d"
EXPORT_JOB_PATH = f"/v1.0/deviceManagement/reports/exportJobs/{EXPORT_JOB_ID}"
# The report's temporary location: a blob link whose query is its key (`sig=`).
EXPORT_JOB_URL = (
    "https://amsua0202repexpstorage.blob.core.windows.net/b3a5b6f7/DeviceCompliance_9ddfb995.zip"
    "?sv=2019-07-07&st=2026-11-28T21%3A50%3A00Z&se=2026-11-29T21%3A50%3A00Z&sr=b&sp=r&sig=bXlTaWduZWRLZXlWYWx1ZQ%3D%3D"
)


def export_job(status: str) -> dict[str, Any]:
    """An Intune report export job, wrapped in "value" as its GET page shows it."""
    return {
        "value": {
            "@odata.type": "#microsoft.graph.deviceManagementExportJob",
            "id": EXPORT_JOB_ID,
            "reportName": "DeviceCompliance",
            "filter": "",
            "select": ["DeviceName", "ComplianceState"],
            "format": "csv",
            "snapshotId": None,
            "localizationType": "replaceLocalizableValues",
            "status": status,
            "url": EXPORT_JOB_URL if status == "completed" else None,
            "requestDateTime": "2026-11-28T21:49:00Z",
            "expirationDateTime": "2026-11-29T21:50:00Z" if status == "completed" else "0001-01-01T00:00:00Z",
        }
    }


CLOUD_PC_EXPORT_ID = "TotalAggregatedRemoteConnectionReports__d39979c9-a0a2-4916-a158-1b984742ffff"
CLOUD_PC_EXPORT_PATH = f"/beta/deviceManagement/virtualEndpoint/reports/exportJobs/{CLOUD_PC_EXPORT_ID}"
CLOUD_PC_EXPORT_URL = (
    "https://westus01repexpstorage.blob.core.windows.net/599fe3a3-0285-4e7f-9c83-ffdf37914e27/"
    "remoteConnectionEvents_af34378a-cf5a-418d-b735-54b0ee155118.zip"
)


def cloud_pc_export(status: str) -> dict[str, Any]:
    """A Cloud PC report export: its status is `exportJobStatus`."""
    return {
        "value": {
            "@odata.type": "#microsoft.graph.cloudPcExportJob",
            "id": CLOUD_PC_EXPORT_ID,
            "reportName": "totalAggregatedRemoteConnectionReports",
            "format": "csv",
            "select": ["CloudPcId", "ManagedDeviceName", "UserPrincipalName", "DaysSinceLastSignIn"],
            "filter": None,
            "requestDateTime": "2022-09-16T12:00:06.5137388Z",
            "expirationDateTime": "0001-01-01T00:00:00Z",
            "exportJobStatus": status,
            "exportUrl": CLOUD_PC_EXPORT_URL if status == "completed" else None,
        }
    }


HISTORY_DEFINITION_ID = "b2cb022f-b7e1-40f3-9854-c65a40861c38"
HISTORY_DEFINITION_PATH = f"/v1.0/identityGovernance/accessReviews/historyDefinitions/{HISTORY_DEFINITION_ID}"


def history_definition(status: str) -> dict[str, Any]:
    """An access review history definition (its GET example, trimmed)."""
    return {
        "@odata.type": "#microsoft.graph.accessReviewHistoryDefinition",
        "id": HISTORY_DEFINITION_ID,
        "displayName": "Last quarter's group reviews April 2021",
        "reviewHistoryPeriodStartDateTime": "2021-01-01T00:00:00Z",
        "reviewHistoryPeriodEndDateTime": "2021-04-05T00:00:00Z",
        "decisions": ["approve", "deny", "dontKnow", "notReviewed", "notNotified"],
        "status": status,
        "createdDateTime": "2021-04-14T00:22:48.9392594Z",
        "createdBy": {
            "id": "957f1027-c0ee-460d-9269-b8444459e0fe",
            "displayName": "MOD Administrator",
            "userPrincipalName": "admin@contoso.com",
        },
    }


RESTORE_SESSION_ID = "959ba739-70b5-43c4-8c90-b2c22014f18b"
RESTORE_SESSION_PATH = f"/v1.0/solutions/backupRestore/restoreSessions/{RESTORE_SESSION_ID}"


def restore_session(status: str, completed: int, failed: int = 0, total: int = 2) -> dict[str, Any]:
    """A Microsoft 365 Backup restore session, its artifacts counted."""
    return {
        "@odata.type": "#microsoft.graph.sharepointRestoreSession",
        "id": RESTORE_SESSION_ID,
        "status": status,
        "restoreJobType": "standard",
        "restoreSessionArtifactCount": {
            "total": total,
            "completed": completed,
            "inProgress": total - completed - failed,
            "failed": failed,
        },
        "createdDateTime": "2023-03-30T12:01:03.45Z",
        "lastModifiedDateTime": "2023-03-30T12:01:03.45Z",
    }


INDUSTRY_RUN_ID = "918d4a8f-599b-4f6a-b409-e892855db534"
INDUSTRY_RUN_PATH = f"/beta/external/industryData/runs/{INDUSTRY_RUN_ID}"


def industry_run(status: str) -> dict[str, Any]:
    return {
        "@odata.type": "#microsoft.graph.industryData.industryDataRun",
        "displayName": "Run 2023-11-01 11:10 UTC",
        "endDateTime": None if status == "running" else "2023-11-01T11:40:02.114Z",
        "id": INDUSTRY_RUN_ID,
        "startDateTime": "2023-11-01T11:10:46.924769Z",
        "status": status,
    }


# -- Identity governance, SharePoint site creation and configuration snapshots ------------------------------

ACCESS_REQUEST_ID = "7999249e-249e-7999-9e24-99799e249979"
ACCESS_REQUEST_PATH = f"/v1.0/identityGovernance/entitlementManagement/assignmentRequests/{ACCESS_REQUEST_ID}"


def access_package_request(state: str) -> dict[str, Any]:
    """An access package assignment request (its GET example); `status` is the service's free text beside it."""
    done = state not in {"submitted", "pendingApproval", "delivering", "scheduled"}
    return {
        "id": ACCESS_REQUEST_ID,
        "requestType": "adminAdd",
        "state": state,
        "status": state[:1].upper() + state[1:],
        "createdDateTime": "2019-10-25T22:55:11.623Z",
        "completedDateTime": "2019-10-26T22:55:11.623Z" if done else None,
        "schedule": {"@odata.type": "microsoft.graph.entitlementManagementSchedule"},
    }


WORKFLOW_ID, WORKFLOW_RUN_ID = "14879e66-9ea9-48d0-804d-8fea672d0341", "dad77a47-6eda-4de7-bc37-fe8eb5aaf17d"
# As the page's example writes it, `IdentityGovernance` capitalised.
WORKFLOW_RUN_PATH = f"/v1.0/IdentityGovernance/lifecycleWorkflows/workflows/{WORKFLOW_ID}/runs/{WORKFLOW_RUN_ID}"


def workflow_run(status: str, failed_users: int = 0) -> dict[str, Any]:
    """A Lifecycle Workflows run (its GET example 1), ``failed_users`` of its two users failed."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#identityGovernance/lifecycleWorkflows/"
        f"workflows('{WORKFLOW_ID}')/runs/$entity",
        "id": WORKFLOW_RUN_ID,
        "completedDateTime": None if status in {"queued", "inProgress"} else "2022-08-24T23:28:11.1348863Z",
        "failedTasksCount": 2 * failed_users,
        "failedUsersCount": failed_users,
        "lastUpdatedDateTime": "2022-08-24T23:33:09.186588Z",
        "processingStatus": status,
        "scheduledDateTime": "2022-08-24T23:28:01.6476554Z",
        "startedDateTime": "2022-08-24T23:28:04.5688752Z",
        "successfulUsersCount": 2 - failed_users,
        "totalTasksCount": 4,
        "totalUsersCount": 2,
        "totalUnprocessedTasksCount": 0,
        "workflowExecutionType": "onDemand",
    }


SITE_CREATION_ID = "JXMnaHR0cHMlM0ElMkYlMkZncmFwaC5taWNyb3NvZnQuY29tJTJGc2l0ZXMlMkZ0ZWFtc2l0ZTE="
SITE_CREATION_PATH = f"/beta/sites/getOperationStatus(operationId='{SITE_CREATION_ID}')"
NEW_SITE_ID = "contoso.sharepoint.com,2C712604-1370-44E7-A1F5-426573FDA80A,2D2244C3-251A-49EA-93A8-39E1C3A060FE"
NEW_SITE = f"https://graph.microsoft.com/beta/sites/{NEW_SITE_ID}"


def site_creation(status: str) -> dict[str, Any]:
    """A site creation's status (the getOperationStatus example): the new site named once it succeeded."""
    succeeded = status == "succeeded"
    return {
        "id": SITE_CREATION_ID,
        "createdDateTime": "2022-01-24T16:28:23Z",
        "resourceId": NEW_SITE_ID if succeeded else None,
        "resourceLocation": NEW_SITE if succeeded else None,
        "status": status,
    }


SNAPSHOT_JOB_ID = "c91a1470-acc9-4585-bc03-522ae898f82f"
SNAPSHOT_JOB_PATH = f"/v1.0/admin/configurationManagement/configurationSnapshotJobs/{SNAPSHOT_JOB_ID}"


def snapshot_job(status: str) -> dict[str, Any]:
    """A configuration snapshot job (its GET example); `resourceLocation` stays empty unless asked for by $select."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#admin/configurationManagement/"
        "configurationSnapshotJobs/$entity",
        "id": SNAPSHOT_JOB_ID,
        "displayName": "Snapshot Demo",
        "description": "This is Snapshot Description",
        "tenantId": "2fcf1c68-b412-4c85-bfb2-cb20152a6843",
        "status": status,
        "resources": ["microsoft.exchange.sharedmailbox", "microsoft.exchange.transportrule"],
        "createdDateTime": "2025-02-18T15:43:59.7935268Z",
        "completedDateTime": "0001-01-01T00:00:00Z",
        "resourceLocation": "",
        "createdBy": {
            "user": {"id": "98ceffcc-7c54-4227-8844-835af5a023ce", "displayName": "AdminXTA SDFTestOrg627621"},
        },
    }


# -- Microsoft 365 Backup bulk additions to a protection policy -----------------------------------------------

BULK_POLICY_ID, BULK_JOB_ID = "71633878-8321-4950-bfaf-ed285bdd1461", "61633878-8321-4950-bfaf-ed285bdd1461"
# Each family: its policies' collection, its jobs' collection, and what a job lists to add.
BULK_FAMILIES = {
    "driveProtectionUnitsBulkAdditionJob": ("oneDriveForBusinessProtectionPolicies", "drives"),
    "siteProtectionUnitsBulkAdditionJob": ("sharePointProtectionPolicies", "siteWebUrls"),
    "mailboxProtectionUnitsBulkAdditionJob": ("exchangeProtectionPolicies", "mailboxes"),
}


def bulk_addition_path(kind: str) -> str:
    """The job's URL under its policy: its collection is the kind's name, plural."""
    policies, _ = BULK_FAMILIES[kind]
    return f"/beta/solutions/backupRestore/{policies}/{BULK_POLICY_ID}/{kind}s/{BULK_JOB_ID}"


def bulk_addition_job(kind: str, status: str) -> dict[str, Any]:
    """A bulk addition job (the drive job's GET example, its status as the page spells it: `CompletedWithErrors`);
    the addresses it could not resolve are its `error` once it ended with errors."""
    _, listed = BULK_FAMILIES[kind]
    addresses = ["amala@contoso.com", "conrad@contoso.com", "lothar@contoso.com"]
    job: dict[str, Any] = {
        "@odata.type": f"#microsoft.graph.{kind}",
        "id": BULK_JOB_ID,
        "displayName": "drives-I",
        listed: addresses,
        "directoryObjectIds": ["71633878-8321-4950-bfaf-ed285bdd1461"],
        "status": status,
        "createdBy": {"application": {"id": "1fec8e78-bce4-4aaf-ab1b-5451cc387264"},
                      "user": {"id": "845457dc-4bb2-4815-bef3-8628ebd1952e"}},
        "createdDateTime": "2015-06-19T12-01-03.45Z",
        "lastModifiedDateTime": "2015-06-19T12-01-03.45Z",
    }  # fmt: skip
    if status == "CompletedWithErrors":
        job["error"] = {
            "code": "ProtectionResourcesNotFound",
            "message": "Errors while resolving protection resources",
            "details": [{"code": "EmailNotFound", "message": f"Email address '{address}' not found in directory",
                         "target": address} for address in addresses],
        }  # fmt: skip
    return job


# -- Microsoft Entra Backup and Recovery ------------------------------------------------------------------------

SNAPSHOT_ID, RECOVERY_JOB_ID = "MjAyNC0wOC0yNlQwMjozMDowMFo=", "3f4a6b60-7c1e-4e7c-9c7b-13f8d44b20c4"
RECOVERY_JOB_PATH = f"/v1.0/directory/recovery/snapshots/{SNAPSHOT_ID}/recoveryJobs/{RECOVERY_JOB_ID}"


def recovery_job(status: str, failed_changes: int | None = None) -> dict[str, Any]:
    """A recovery job (its GET example, running), and once it ended how many changes it could not apply."""
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#directory/recovery/"
        f"snapshots('{SNAPSHOT_ID}')/recoveryJobs/$entity",
        "@odata.type": "#microsoft.graph.entraRecoveryServices.recoveryJob",
        "id": RECOVERY_JOB_ID,
        "status": status,
        "targetStateDateTime": "2024-08-26T02:30:00Z",
        "jobStartDateTime": "2024-08-26T08:30:00Z",
        "jobCompletionDateTime": None if failed_changes is None else "2024-08-26T09:10:00Z",
        "filteringCriteria": None,
        "totalObjectsModified": 2000,
        "totalLinksModified": 300,
        "totalFailedChanges": failed_changes,
    }


# -- Cross-tenant migration -------------------------------------------------------------------------------------

MIGRATION_JOB_ID = "1a2fbf52-396e-c3ed-6a65-9772e12d8a43"
MIGRATION_JOB_PATH = f"/v1.0/solutions/migrations/crossTenantMigrationJobs/{MIGRATION_JOB_ID}"


def migration_job(status: str, job_type: str = "migrate") -> dict[str, Any]:
    """A cross-tenant migration job, wrapped in "value" as its GET example shows it (the example's placeholders
    given values)."""
    return {
        "value": {
            "@odata.type": "#microsoft.graph.crossTenantMigrationJob",
            "id": MIGRATION_JOB_ID,
            "displayName": "Contoso to Fabrikam, wave 1",
            "jobType": job_type,
            "sourceTenantId": "2fcf1c68-b412-4c85-bfb2-cb20152a6843",
            "targetTenantId": "72f988bf-86f1-41af-91ab-2d7cd011db47",
            "completeAfterDateTime": "2026-12-01T00:00:00Z",
            "status": status,
            "message": "",
            "createdDateTime": "2026-11-30T09:00:00Z",
            "createdBy": "admin@contoso.com",
            "lastUpdatedDateTime": "2026-11-30T09:40:00Z",
            "exchangeSettings": {"@odata.type": "microsoft.graph.exchangeOnlineCrossTenantMigrationSettings"},
            "workloads": ["exchange"],
            "resourceType": "user",
            "resources": ["adele@contoso.com"],
        }
    }


# -- Event-based retention -------------------------------------------------------------------------------------

RETENTION_EVENT_ID = "fcdbfb58-d0c6-85dd-d011-4e0ff9a6805d"
RETENTION_EVENT_PATH = f"/v1.0/security/triggers/retentionEvents/{RETENTION_EVENT_ID}"


def retention_event(status: str) -> dict[str, Any]:
    """A retention event, wrapped in "value" as its GET example shows it (the example's placeholders given values),
    its propagation's status inside `eventStatus` with the error when it is one."""
    error = {"code": "LocationNotFound", "message": "The site https://contoso.sharepoint.com/sites/hr was not found"}
    return {
        "value": {
            "@odata.type": "#microsoft.graph.security.retentionEvent",
            "id": RETENTION_EVENT_ID,
            "displayName": "Employee 1234 left",
            "description": "Start the retention of employee 1234's records",
            "eventQuery": [{"@odata.type": "microsoft.graph.security.eventQuery", "queryType": "files",
                            "query": "EmployeeNumber:1234"}],
            "eventTriggerDateTime": "2026-11-30T00:00:00Z",
            "createdBy": {"@odata.type": "microsoft.graph.identitySet"},
            "createdDateTime": "2026-11-30T09:00:00Z",
            "lastModifiedBy": {"@odata.type": "microsoft.graph.identitySet"},
            "lastModifiedDateTime": "2026-11-30T09:00:00Z",
            "eventPropagationResults": [],
            "eventStatus": {"@odata.type": "microsoft.graph.security.retentionEventStatus", "status": status,
                            "error": error if status == "error" else None},
            "lastStatusUpdateDateTime": "2026-11-30T09:05:00Z",
        }
    }  # fmt: skip


# -- Windows Autopilot device imports -------------------------------------------------------------------------

AUTOPILOT_ID = "985b4f49-4f49-985b-494f-5b98494f5b98"
AUTOPILOT_PATH = f"/v1.0/deviceManagement/importedWindowsAutopilotDeviceIdentities/{AUTOPILOT_ID}"


def autopilot_import(status: str) -> dict[str, Any]:
    """An imported Autopilot device identity (its GET example, wrapped in "value"), its import status in `state`."""
    failed = status == "error"
    return {
        "value": {
            "@odata.type": "#microsoft.graph.importedWindowsAutopilotDeviceIdentity",
            "id": AUTOPILOT_ID,
            "groupTag": "Group Tag value",
            "serialNumber": "Serial Number value",
            "productKey": "Product Key value",
            "importId": "Import Id value",
            "hardwareIdentifier": "aGFyZHdhcmVJZGVudGlmaWVy",
            "state": {
                "@odata.type": "microsoft.graph.importedWindowsAutopilotDeviceIdentityState",
                "deviceImportStatus": status,
                "deviceRegistrationId": "Device Registration Id value",
                "deviceErrorCode": 15 if failed else 0,
                "deviceErrorName": "Device Error Name value" if failed else "",
            },
            "assignedUserPrincipalName": "Assigned User Principal Name value",
        }
    }


# -- Win32 app content uploads ---------------------------------------------------------------------------------

WIN32_APP_ID, WIN32_CONTENT_VERSION, WIN32_FILE_ID = (
    "a5b9d7f0-3c4e-4b8a-9f2d-6e1c0b7a8d93",
    "1",
    ("eab2e29b-e29b-eab2-9be2-b2ea9be2b2ea"),
)
WIN32_FILE_PATH = (
    f"/beta/deviceAppManagement/mobileApps/{WIN32_APP_ID}/microsoft.graph.win32LobApp/contentVersions/"
    f"{WIN32_CONTENT_VERSION}/files/{WIN32_FILE_ID}"
)
# The blob the package is uploaded to: a SAS, its query the key (`sig=`).
WIN32_UPLOAD_URI = (
    "https://mmoprodscus1.blob.core.windows.net/dc0f4a9e/eab2e29b.intunewin.bin"
    "?sv=2017-04-17&sr=b&si=1804419604&sig=dXBsb2FkS2V5VmFsdWU%3D"
)


def win32_content_file(state: str) -> dict[str, Any]:
    """A Win32 app's content file (the mobileAppContentFile GET example, wrapped in "value"), its storage URI
    present once Intune issued it."""
    issued = state not in {"azureStorageUriRequestPending", "azureStorageUriRequestFailed"}
    return {
        "value": {
            "@odata.type": "#microsoft.graph.mobileAppContentFile",
            "azureStorageUri": WIN32_UPLOAD_URI if issued else None,
            "isCommitted": state == "commitFileSuccess",
            "id": WIN32_FILE_ID,
            "createdDateTime": "2017-01-01T00:02:43.5775965-08:00",
            "name": "Setup.intunewin",
            "size": 4,
            "sizeEncrypted": 13,
            "azureStorageUriExpirationDateTime": "2017-01-01T00:00:08.4940464-08:00",
            "manifest": "bWFuaWZlc3Q=",
            "uploadState": state,
        }
    }
