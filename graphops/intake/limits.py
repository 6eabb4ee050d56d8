"""What a request is checked against: the deployment's Graph host and cloud, callback and monitor rules,
timeouts, sinks and start actions.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field

from graphops.common.errors import Rejected
from graphops.egress.policy import CallbackPolicy
from graphops.graph.actions import StartRequest, parse_start
from graphops.graph.kinds import OperationRef, resolve_operation_url
from graphops.graph.tenants import Tenant


@dataclass(frozen=True)
class Limits:
    """What a request is checked against: the deployment's Graph endpoint, callback rules and defaults."""

    graph_endpoint: str
    callbacks: CallbackPolicy
    default_timeout_seconds: int
    max_timeout_seconds: int
    cloud: str = "global"  # the Graph cloud: some kinds exist in the global cloud only
    sinks: frozenset[str] = frozenset({"callback"})  # the sinks this deployment can deliver to
    monitors: CallbackPolicy | None = None  # where drive-copy monitors may be polled (without a token)
    start_actions: frozenset[str] = frozenset()  # GRAPHOPS_START_ACTIONS: what graphops may start itself
    export_storage_accounts: frozenset[str] = frozenset()  # GRAPHOPS_EXPORT_STORAGE_ACCOUNTS: where exports may go
    tenants: Mapping[str, Tenant] = field(default_factory=dict)  # GRAPHOPS_TENANTS: the customer tenants served

    def tenant(self, raw: object, kind: str | None, action: str | None = None) -> str | None:
        """A request's ``tenantId``: None for the home tenant, else a tenant of GRAPHOPS_TENANTS where the request's
        kind is tracked and its start action (if any) enabled."""
        if raw is None:
            return None
        try:
            tenant_id = str(uuid.UUID(raw)).lower() if isinstance(raw, str) else ""
        except ValueError:
            tenant_id = ""
        if not tenant_id:
            raise Rejected("tenantId", "must be a tenant id (a GUID)")
        tenant = self.tenants.get(tenant_id)
        if tenant is None:
            raise Rejected("tenantId", f"{tenant_id} is not a tenant this deployment serves (GRAPHOPS_TENANTS)")
        if kind is not None and not tenant.allows_kind(kind):
            raise Rejected("tenantId", f"{kind} is not tracked in {tenant.name} ({tenant_id}): see GRAPHOPS_TENANTS")
        if action is not None and not tenant.allows_action(action):
            raise Rejected("tenantId", f"{action} is not enabled in {tenant.name} ({tenant_id}): see GRAPHOPS_TENANTS")
        return tenant_id

    def resolve(self, raw: object) -> OperationRef:
        """An operation URL checked against this deployment: its Graph host and cloud, its monitor hosts."""
        return resolve_operation_url(raw, self.graph_endpoint, self.cloud, self.monitors)

    def start(self, raw: object, field_name: str = "start") -> StartRequest:
        """A start request checked against this deployment: a known action, enabled here, on its Graph host."""
        return parse_start(
            raw, self.graph_endpoint, self.cloud, self.start_actions, field_name, self.export_storage_accounts
        )
