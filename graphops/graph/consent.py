"""What a customer tenant granted the multitenant app, read from its directory through Graph, and what each kind
and start action needs: ``graphops consent check``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from graphops.graph.answer import GraphAnswer
from graphops.graph.tenants import Tenant

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's application id, the same in every tenant


class DirectoryReader(Protocol):
    def get_operation(self, url: str) -> GraphAnswer: ...


@dataclass(frozen=True)
class Grants:
    """The app's Graph application permissions in a tenant; ``consented`` False (and ``problem`` why) when the
    tenant gave no token or has no service principal of the app."""

    consented: bool
    granted: frozenset[str] = frozenset()
    problem: str | None = None


def read_grants(graph: DirectoryReader, graph_endpoint: str, client_id: str) -> Grants:
    """The app's service principal in the tenant, its app-role assignments, and Graph's app roles they name."""
    app = _list(graph, graph_endpoint, f"appId eq '{client_id}'")
    if isinstance(app, str):
        return Grants(False, problem=app)
    if not app:
        return Grants(False, problem=f"the app {client_id} has no service principal in the tenant")
    graph_sp = _list(graph, graph_endpoint, f"appId eq '{GRAPH_APP_ID}'")
    if isinstance(graph_sp, str) or not graph_sp:
        return Grants(
            True, problem=graph_sp if isinstance(graph_sp, str) else "Microsoft Graph has no service principal"
        )
    roles = {role.get("id"): role.get("value") for role in graph_sp[0].get("appRoles") or [] if isinstance(role, dict)}
    answer = graph.get_operation(f"{graph_endpoint}/v1.0/servicePrincipals/{app[0].get('id')}/appRoleAssignments")
    assignments = _values(answer)
    if isinstance(assignments, str):
        return Grants(True, problem=assignments)
    granted = {roles.get(a.get("appRoleId")) for a in assignments if a.get("resourceId") == graph_sp[0].get("id")}
    return Grants(True, frozenset(str(name) for name in granted if name))


def needed_permissions(tenant: Tenant, deployment_actions: frozenset[str]) -> dict[str, tuple[str, ...]]:
    """Each tracked kind's and enabled start action's application permissions in ``tenant`` ("kind X", "start Y");
    kinds that need no token, or that no application permission can read, need none."""
    from graphops.graph.actions import ACTIONS
    from graphops.graph.kinds import KINDS

    needs: dict[str, tuple[str, ...]] = {}
    for name in sorted(tenant.kinds if tenant.kinds is not None else KINDS):
        kind = KINDS[name]
        if kind.needs_token and not kind.refuses_apps:
            needs[f"kind {name}"] = _names(kind.permission)
    for name in sorted(tenant.start_actions if tenant.start_actions is not None else deployment_actions):
        needs[f"start {name}"] = _names(ACTIONS[name].permission)
    return needs


def _names(permission: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in permission.split(" and ") if part.strip())


def _list(graph: DirectoryReader, graph_endpoint: str, filter_: str) -> list[Mapping[str, Any]] | str:
    query = urlencode({"$filter": filter_, "$select": "id,appId,appDisplayName,appRoles"}, quote_via=quote)
    return _values(graph.get_operation(f"{graph_endpoint}/v1.0/servicePrincipals?{query}"))


def _values(answer: GraphAnswer) -> list[Mapping[str, Any]] | str:
    """A Graph collection's ``value``, or why there is none."""
    if answer.status_code is None:
        return answer.failure or "no answer"
    if answer.status_code != 200 or not isinstance(answer.body, dict):
        return f"Graph answered {answer.status_code}"
    return [item for item in answer.body.get("value") or [] if isinstance(item, dict)]
