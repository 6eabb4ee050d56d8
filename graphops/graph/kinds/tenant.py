"""Tenant-level operations: Microsoft Search external connections, OneNote copies, GDAP relationships, partner
billing exports, Viva Engage communities, cross-tenant migrations."""

from __future__ import annotations

from graphops.graph.kinds.base import GLOBAL_ONLY, OperationKind


class ExternalConnectionOperation(OperationKind):
    """A Microsoft Search connection schema update (`PATCH /external/connections/{id}/schema`)."""

    name = "externalConnectionOperation"
    path_template = ("external", "connections", "{id}", "operations", "{id}")
    clouds = frozenset({"global", "usgov", "usgovdod"})
    succeeded_states = frozenset({"completed"})
    permission = "ExternalConnection.ReadWrite.OwnedBy"  # the least privileged Graph lists for this GET
    resource_fields = ()


class OnenoteOperation(OperationKind):
    """A OneNote copy (started with an Operation-Location header); global cloud only.

    The resource type spells its states NotStarted, Running, Completed, Failed; the GET page's prose says
    "completed or failed". Both spellings end it.
    """

    name = "onenoteOperation"
    path_template = ("users|groups|sites", "{id}", "onenote", "operations", "{id}")
    clouds = GLOBAL_ONLY
    succeeded_states = frozenset({"Completed", "completed"})
    failed_states = frozenset({"Failed", "failed"})
    permission = "Notes.Read.All"  # delegated only now: graphops grants nothing for this kind
    refuses_apps = "OneNote refuses app-only tokens since 31 March 2025: no application permission reads its operations"
    resource_fields = ("resourceLocation", "resourceId")
    progress_field = "percentComplete"


class DelegatedAdminRelationshipOperation(OperationKind):
    """A GDAP relationship update."""

    name = "delegatedAdminRelationshipOperation"
    path_template = ("tenantRelationships", "delegatedAdminRelationships", "{id}", "operations", "{id}")
    versions = frozenset({"v1.0"})
    clouds = frozenset({"global", "usgov", "usgovdod"})
    permission = "DelegatedAdminRelationship.Read.All"
    resource_fields = ()


class PartnerBillingOperation(OperationKind):
    """A partner's billed or unbilled reconciliation or usage export (`POST /reports/partners/billing/…/export`).

    On success the operation links its manifest (`resourceLocation@odata.navigationLink`), which names the blobs
    and carries a SAS token: graphops delivers the link and never expands the manifest into the operation.
    """

    name = "partnerBillingOperation"
    path_template = ("reports", "partners", "billing", "operations", "{id}")
    clouds = GLOBAL_ONLY
    # The resource page's success state is `completed`, its GET example's `succeeded`: both end it.
    succeeded_states = frozenset({"completed", "succeeded"})
    permission = "PartnerBilling.Read.All"
    resource_fields = ("resourceLocation@odata.navigationLink", "resourceLocation")


class EngagementAsyncOperation(OperationKind):
    """A Viva Engage community creation (`POST /employeeExperience/communities`, an `Operation-Location`)."""

    name = "engagementAsyncOperation"
    path_template = ("employeeExperience", "engagementAsyncOperations", "{id}")
    clouds = GLOBAL_ONLY
    failed_states = frozenset({"failed", "skipped"})
    permission = "Community.Read.All"
    resource_fields = ("resourceLocation", "resourceId")
    poll_delays = (31, 120)  # its page: "wait >30 seconds between checks"


class CrossTenantMigrationJob(OperationKind):
    """A cross-tenant content migration (`POST /solutions/migrations/crossTenantMigrationJobs` answers 201 with
    the job): its `validate` and then its `migrate` each run it to an end of its own, read at the job's URL."""

    name = "crossTenantMigrationJob"
    form = "resourceStatus"
    path_template = ("solutions", "migrations", "crossTenantMigrationJobs", "{id}")
    clouds = GLOBAL_ONLY
    # crossTenantMigrationJobStatus. The migrate page names completed, completedWithErrors and failed its terminal
    # states; a validation ends validatePassed or validateFailed, and a cancellation cancelled. The others
    # (adminActionRequired among them: an administrator must act) read as running.
    succeeded_states = frozenset({"completed", "validatePassed"})
    partial_states = frozenset({"completedWithErrors"})
    failed_states = frozenset({"failed", "validateFailed", "cancelled"})
    permission = "CrossTenantContentMigration.Read.All"
    resource_fields = ()
