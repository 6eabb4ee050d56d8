"""Entra ID: role management alert refreshes and authentication method operations (password resets)."""

from __future__ import annotations

from .base import OperationKind


class RoleManagementAlertRefresh(OperationKind):
    """A refresh of Entra ID role management alerts (beta only)."""

    name = "roleManagementAlertRefresh"
    path_template = ("identityGovernance", "roleManagementAlerts", "operations", "{id}")
    versions = frozenset({"beta"})
    permission = "RoleManagementAlert.Read.Directory"


class AuthenticationMethodOperation(OperationKind):
    """An authentication method operation, such as a password reset."""

    name = "authenticationMethodOperation"
    path_template = ("users", "{id}", "authentication", "operations", "{id}")
    # The reset's Location names the region that holds the operation: `?aadgdc=DUB02P&aadgsu=ssprprod-a`.
    query_parameters = frozenset({"aadgdc", "aadgsu"})
    permission = "UserAuthenticationMethod.Read.All"
