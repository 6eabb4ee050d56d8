"""Jobs polled by their own status: Graph answers the request that starts them with the job itself (201), not
with a Location, and the job's own ``status`` changes until it ends. graphops reads the job's URL as it reads
an operation's.

Several of their reference pages show a single job wrapped as ``{"value": {…}}``; both that and the job itself
are read (:meth:`OperationKind.entity`).
"""

from __future__ import annotations

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
