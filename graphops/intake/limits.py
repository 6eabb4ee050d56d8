"""What a request is checked against: the deployment's Graph host and cloud, callback and monitor rules,
timeouts, sinks and start actions.
"""

from __future__ import annotations

from dataclasses import dataclass

from graphops.egress.policy import CallbackPolicy
from graphops.graph.actions import StartRequest, parse_start
from graphops.graph.kinds import OperationRef, resolve_operation_url


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

    def resolve(self, raw: object) -> OperationRef:
        """An operation URL checked against this deployment: its Graph host and cloud, its monitor hosts."""
        return resolve_operation_url(raw, self.graph_endpoint, self.cloud, self.monitors)

    def start(self, raw: object, field_name: str = "start") -> StartRequest:
        """A start request checked against this deployment: a known action, enabled here, on its Graph host."""
        return parse_start(
            raw, self.graph_endpoint, self.cloud, self.start_actions, field_name, self.export_storage_accounts
        )
