"""Entra ID: role management alert refreshes, authentication method operations (password resets), and Backup and
Recovery's recovery and preview jobs."""

from __future__ import annotations

import re
from types import MappingProxyType
from urllib.parse import unquote

from graphops.graph.kinds.base import GLOBAL_ONLY, OperationKind


class RoleManagementAlertRefresh(OperationKind):
    """A refresh of Entra ID role management alerts (beta only)."""

    name = "roleManagementAlertRefresh"
    path_template = ("identityGovernance", "roleManagementAlerts", "operations", "{id}")
    versions = frozenset({"beta"})
    permission = "RoleManagementAlert.Read.Directory"
    service = "identity"

    @classmethod
    def tenant_named(cls, url: str) -> str | None:
        """Graph names a refresh after its scope, the directory: ``refresh:DirectoryRole_<tenant id>_<alert>``."""
        found = _DIRECTORY_SCOPE.search(unquote(url))
        return found.group(1).lower() if found else None


_DIRECTORY_SCOPE = re.compile(r"DirectoryRole_([0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12})_")


class AuthenticationMethodOperation(OperationKind):
    """An authentication method operation, such as a password reset.

    Reading one with an application permission is documented on beta only: the v1.0 page and Graph's permission
    data list delegated permissions, the beta page UserAuthenticationMethod.Read.All for applications. So a v1.0
    operation that refuses graphops' token is asked on beta; only beta's own definitive refusal ends it as forbidden.
    """

    name = "authenticationMethodOperation"
    path_template = ("users", "{id}", "authentication", "operations", "{id}")
    version_clouds = MappingProxyType({"v1.0": frozenset({"global", "usgov", "usgovdod"})})  # v1.0's page: not in China
    forbidden_twin = ("v1.0", "beta")
    # The reset's Location names the region that holds the operation: `?aadgdc=DUB02P&aadgsu=ssprprod-a`.
    query_parameters = frozenset({"aadgdc", "aadgsu"})
    permission = "UserAuthenticationMethod.Read.All"
    service = "identity"


class RecoveryJob(OperationKind):
    """A Microsoft Entra Backup and Recovery job: a recovery to a snapshot, or its preview. Started by a signed-in
    administrator only; an app may read it (`/directory/recovery/snapshots/{id}/recoveryJobs/{id}`)."""

    name = "recoveryJob"
    form = "resourceStatus"
    path_template = ("directory", "recovery", "snapshots", "{id}", "recoveryJobs|recoveryPreviewJobs", "{id}")
    clouds = GLOBAL_ONLY
    # recoveryStatus: initialized, running, successful, failed, abandoned, unknownFutureValue, calculating,
    # loadingData (the last two only with `Prefer: include-unknown-enum-members`, which every poll sends)
    succeeded_states = frozenset({"successful"})
    failed_states = frozenset({"failed", "abandoned"})  # abandoned: an administrator cancelled it
    permission = "EntraBackup.Read.All"
    resource_fields = ()
    # A successful recovery may still have changes it could not apply (getFailedChanges lists them).
    detail_fields = ("totalObjectsModified", "totalLinksModified", "totalFailedChanges",
                     "totalChangedObjectsCalculated", "totalChangedLinksCalculated")  # fmt: skip
