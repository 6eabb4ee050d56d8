"""Tenant-level operations: Microsoft Search external connections, OneNote copies, GDAP relationships."""

from __future__ import annotations

from .base import GLOBAL_ONLY, OperationKind


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
