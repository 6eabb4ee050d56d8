"""Jobs polled by their own status: Graph answers the request that starts them with the job itself (201), not
with a Location, and the job's own ``status`` changes until it ends. graphops reads the job's URL as it reads
an operation's.

Several of their reference pages show a single job wrapped as ``{"value": {…}}``; both that and the job itself
are read (:meth:`OperationKind.entity`).
"""

from __future__ import annotations

from types import MappingProxyType

from graphops.graph.kinds.base import ALL_CLOUDS, GLOBAL_ONLY, OperationKind


class AuditLogQuery(OperationKind):
    """A Microsoft Purview audit log search (`POST /security/auditLog/queries`): minutes to hours."""

    name = "auditLogQuery"
    form = "resourceStatus"
    path_template = ("security", "auditLog", "queries", "{id}")
    clouds = GLOBAL_ONLY
    # auditLogQueryStatus: notStarted, running, succeeded, failed, cancelled, unknownFutureValue
    failed_states = frozenset({"failed", "cancelled"})
    # The per-service AuditLogsQuery-<service>.Read.All permissions each read one service's records; this one
    # reads a query over any of them.
    permission = "AuditLogsQuery.Read.All"
    resource_fields = ()
    result_path = "records"  # the records are a relationship of the query: no link property carries them
    # A query that hits its record limit (at least 1,000,000) still ends `succeeded`: isRecordCountLimitExceeded
    # says so, and is the authority (the throttling limits page); the other two say how far it got.
    detail_fields = ("isRecordCountLimitExceeded", "recordCountLimit", "approximateReturnedRecordCount")


class DeviceManagementExportJob(OperationKind):
    """An Intune report export (`POST /deviceManagement/reports/exportJobs`); its result is a signed link."""

    name = "deviceManagementExportJob"
    form = "resourceStatus"
    path_template = ("deviceManagement", "reports", "exportJobs", "{id}")
    clouds = ALL_CLOUDS
    # deviceManagementReportStatus: unknown, notStarted, inProgress, completed, failed (no unknownFutureValue)
    succeeded_states = frozenset({"completed"})
    permission = "DeviceManagementConfiguration.Read.All"
    resource_fields = ("url",)
    secret_fields = frozenset({"url"})  # "temporary location of the exported report": a link with its own key


class ImportedWindowsAutopilotDeviceIdentity(OperationKind):
    """A Windows Autopilot device import (`POST /deviceManagement/importedWindowsAutopilotDeviceIdentities/import`
    answers with the imported identities): each is registered with the device directory in its own time.

    Its page names no clouds; it is Intune's, whose other pages name all four.
    """

    name = "importedWindowsAutopilotDeviceIdentity"
    form = "resourceStatus"
    path_template = ("deviceManagement", "importedWindowsAutopilotDeviceIdentities", "{id}")
    clouds = ALL_CLOUDS
    # importedWindowsAutopilotDeviceIdentityImportStatus: unknown, pending, partial, complete, error; inside
    # `state`, beside the directory's deviceErrorCode and deviceErrorName.
    status_field = "state.deviceImportStatus"
    succeeded_states = frozenset({"complete"})
    partial_states = frozenset({"partial"})
    failed_states = frozenset({"error"})
    permission = "DeviceManagementServiceConfig.Read.All"
    resource_fields = ()


class Win32LobAppContentFile(OperationKind):
    """A Win32 app's content file in Intune: its two waits, for the storage URI to upload to (after the file is
    created) and for the commit (after `commit`), each read at the file's URL. `azureStorageUri` is a signed link."""

    name = "win32LobAppContentFile"
    form = "resourceStatus"
    path_template = ("deviceAppManagement", "mobileApps", "{id}", "microsoft.graph.win32LobApp", "contentVersions",
                     "{id}", "files", "{id}")  # fmt: skip
    clouds = ALL_CLOUDS
    # mobileAppContentFileUploadState: success, transientError, error, unknown, and for each wait its Pending,
    # Success, Failed and TimedOut (azureStorageUriRequest…, azureStorageUriRenewal…, commitFile…). A transientError
    # is retried by the service: still running.
    status_field = "uploadState"
    succeeded_states = frozenset(
        {"success", "azureStorageUriRequestSuccess", "azureStorageUriRenewalSuccess", "commitFileSuccess"}
    )
    failed_states = frozenset({
        "error", "azureStorageUriRequestFailed", "azureStorageUriRequestTimedOut", "azureStorageUriRenewalFailed",
        "azureStorageUriRenewalTimedOut", "commitFileFailed", "commitFileTimedOut",
    })  # fmt: skip
    permission = "DeviceManagementApps.Read.All"
    resource_fields = ()
    secret_fields = frozenset({"azureStorageUri"})  # a SAS to the upload's blob: delivered, never kept or shown


class CloudPcExportJob(OperationKind):
    """A Windows 365 Cloud PC report export (beta, `POST /deviceManagement/virtualEndpoint/reports/exportJobs`)."""

    name = "cloudPcExportJob"
    form = "resourceStatus"
    path_template = ("deviceManagement", "virtualEndpoint", "reports", "exportJobs", "{id}")
    versions = frozenset({"beta"})
    # The pages disagree (global only; global and US Gov L4): the newest names the global cloud only.
    clouds = GLOBAL_ONLY
    status_field = "exportJobStatus"  # cloudPcExportJobStatus: notStarted, inProgress, completed, failed
    succeeded_states = frozenset({"completed"})
    permission = "CloudPC.ReadWrite.All"  # the only application permission its GET page lists
    resource_fields = ("exportUrl",)
    secret_fields = frozenset({"exportUrl"})


class AccessReviewHistoryDefinition(OperationKind):
    """An access review history report (`POST /identityGovernance/accessReviews/historyDefinitions`).

    Its instances have no GET of their own; the definition's status is theirs for a report that does not
    recur. Once done, a download link is made per instance (`generateDownloadUri`): the callback names the
    instances, and graphops writes nothing itself.
    """

    name = "accessReviewHistoryDefinition"
    form = "resourceStatus"
    path_template = ("identityGovernance", "accessReviews", "historyDefinitions", "{id}")
    # accessReviewHistoryStatus: requested, inProgress, done, error, unknownFutureValue
    succeeded_states = frozenset({"done"})
    failed_states = frozenset({"error"})
    permission = "AccessReview.ReadWrite.All"  # Graph lists no read-only application permission for it
    resource_fields = ()
    result_path = "instances"


class RestoreSession(OperationKind):
    """A Microsoft 365 Backup restore session, once activated (`POST …/restoreSessions/{id}/activate`)."""

    name = "restoreSession"
    form = "resourceStatus"
    path_template = ("solutions", "backupRestore", "restoreSessions", "{id}")
    clouds = GLOBAL_ONLY
    # restoreSessionStatus: draft, activating, active, completedWithError, completed, failed (the last only with
    # `Prefer: include-unknown-enum-members`, which every poll sends).
    succeeded_states = frozenset({"completed"})
    partial_states = frozenset({"completedWithError"})
    permission = "BackupRestore-Restore.Read.All"
    resource_fields = ()
    progress_counts = ("restoreSessionArtifactCount", "total", ("completed", "failed"))


class ProtectionUnitsBulkAdditionJob(OperationKind):
    """What Microsoft 365 Backup's bulk additions to a protection policy share (`POST …/{policy}/{jobs}`, answered
    201 with the job): up to 50,000 drives, sites or mailboxes added in one job. Each family below is its own kind,
    its policy's collection and its jobs' collection named together, so no mix of the two is accepted."""

    form = "resourceStatus"
    clouds = GLOBAL_ONLY
    # protectionUnitsBulkJobStatus: unknown, active, completed, completedWithErrors, unknownFutureValue. The GET
    # page's example capitalises it (`CompletedWithErrors`): both spellings end it.
    succeeded_states = frozenset({"completed", "Completed"})
    partial_states = frozenset({"completedWithErrors", "CompletedWithErrors"})  # `error` names what was not added
    failed_states = frozenset()
    permission = "BackupRestore-Configuration.Read.All"
    resource_fields = ()


class DriveProtectionUnitsBulkAdditionJob(ProtectionUnitsBulkAdditionJob):
    name = "driveProtectionUnitsBulkAdditionJob"
    path_template = ("solutions", "backupRestore", "oneDriveForBusinessProtectionPolicies", "{id}",
                     "driveProtectionUnitsBulkAdditionJobs", "{id}")  # fmt: skip


class SiteProtectionUnitsBulkAdditionJob(ProtectionUnitsBulkAdditionJob):
    name = "siteProtectionUnitsBulkAdditionJob"
    path_template = ("solutions", "backupRestore", "sharePointProtectionPolicies", "{id}",
                     "siteProtectionUnitsBulkAdditionJobs", "{id}")  # fmt: skip


class MailboxProtectionUnitsBulkAdditionJob(ProtectionUnitsBulkAdditionJob):
    name = "mailboxProtectionUnitsBulkAdditionJob"
    path_template = ("solutions", "backupRestore", "exchangeProtectionPolicies", "{id}",
                     "mailboxProtectionUnitsBulkAdditionJobs", "{id}")  # fmt: skip


class IndustryDataRun(OperationKind):
    """An industry data (Microsoft Education) run (beta): its start answers a bare 202, so the run is found by
    listing runs and handed over by its URL."""

    name = "industryDataRun"
    form = "resourceStatus"
    path_template = ("external", "industryData", "runs", "{id}")
    versions = frozenset({"beta"})
    clouds = GLOBAL_ONLY
    # industryDataRunStatus: running, completed, completedWithWarnings, completedWithErrors, failed
    succeeded_states = frozenset({"completed", "completedWithWarnings"})
    partial_states = frozenset({"completedWithErrors"})  # rows with errors were left out of the data lake
    permission = "IndustryData-Run.Read.All"
    resource_fields = ()
    error_field = "blockingError"


class ConfigurationSnapshotJob(OperationKind):
    """A tenant configuration snapshot (`POST /admin/configurationManagement/configurationBaselines/{id}/createSnapshot`
    answers 200 with the job, whose own URL is under `configurationSnapshotJobs`, not under the POST's)."""

    name = "configurationSnapshotJob"
    form = "resourceStatus"
    path_template = ("admin", "configurationManagement", "configurationSnapshotJobs", "{id}")
    clouds = frozenset({"global", "usgov", "usgovdod"})
    version_clouds = MappingProxyType({"v1.0": GLOBAL_ONLY})  # v1.0's page: global only; beta's: the US clouds too
    # snapshotJobStatus: notStarted, running, succeeded, failed, unknownFutureValue, partiallySuccessful (the last
    # only with `Prefer: include-unknown-enum-members`, which every poll sends)
    partial_states = frozenset({"partiallySuccessful"})
    permission = "ConfigurationMonitoring.Read.All"
    # Where the snapshot file is; Graph returns it only on $select (the request's `select`: ["resourceLocation"]).
    resource_fields = ("resourceLocation",)


class AccessPackageAssignmentRequest(OperationKind):
    """An Entra ID Governance request for an access package, or for its removal
    (`POST /identityGovernance/entitlementManagement/assignmentRequests` answers 201 with the request): it waits
    for approvals, then for each resource's provisioning.

    v1.0 only: beta's older `accessPackageAssignmentRequests` spell their state otherwise (`requestState`,
    `Delivered`).
    """

    name = "accessPackageAssignmentRequest"
    form = "resourceStatus"
    path_template = ("identityGovernance", "entitlementManagement", "assignmentRequests", "{id}")
    versions = frozenset({"v1.0"})
    # accessPackageRequestState: submitted, pendingApproval, delivering, delivered, deliveryFailed, denied,
    # scheduled, canceled, partiallyDelivered, unknownFutureValue. `status` beside it is free text ("Delivered").
    status_field = "state"
    succeeded_states = frozenset({"delivered"})
    partial_states = frozenset({"partiallyDelivered"})  # some of the package's resources were not provisioned
    failed_states = frozenset({"deliveryFailed", "denied", "canceled"})
    permission = "EntitlementManagement.Read.All"
    resource_fields = ()


class LifecycleWorkflowRun(OperationKind):
    """A Lifecycle Workflows run (a workflow run on demand, `POST …/workflows/{id}/activate`, answers 204: list
    the workflow's runs for it)."""

    name = "lifecycleWorkflowRun"
    form = "resourceStatus"
    path_template = ("identityGovernance", "lifecycleWorkflows", "workflows", "{id}", "runs", "{id}")
    clouds = frozenset({"global", "usgov", "usgovdod"})
    # lifecycleWorkflowProcessingStatus: queued, inProgress, completed, completedWithErrors, canceled, failed,
    # unknownFutureValue, canceling, quarantined (a quarantined workflow's run may yet go on: still running)
    status_field = "processingStatus"
    succeeded_states = frozenset({"completed"})
    partial_states = frozenset({"completedWithErrors"})  # failedTasksCount and failedUsersCount say how many
    failed_states = frozenset({"failed", "canceled"})
    permission = "LifecycleWorkflows-Reports.Read.All"
    resource_fields = ()
    detail_fields = ("totalUsersCount", "successfulUsersCount", "failedUsersCount", "failedTasksCount")
