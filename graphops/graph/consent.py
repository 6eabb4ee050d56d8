"""What a customer tenant granted the multitenant app, and what each kind and start action needs: ``graphops consent
check``.

What was granted is read from the ``roles`` claim of the tenant's own Graph token (Entra's access token claims
reference: an app-only token lists the application permissions granted to the app in the token's tenant), so the
check needs no permission beyond those graphops uses. Entra leaves the claim out when nothing is granted; only then
is the app's service principal read from the tenant's directory, which needs Application.Read.All there.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlencode

from graphops.graph.answer import GraphAnswer
from graphops.graph.tenants import Tenant

GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"  # Microsoft Graph's application id, the same in every tenant


FROM_ROLES_CLAIM = "token"  # the tenant's Graph token's roles claim
FROM_SERVICE_PRINCIPAL = "servicePrincipal"  # the app's service principal and app-role assignments in the tenant


class DirectoryReader(Protocol):
    def get_operation(self, url: str) -> GraphAnswer: ...

    def token_claims(self) -> dict[str, Any] | GraphAnswer: ...


@dataclass(frozen=True)
class Grants:
    """The app's Graph application permissions in a tenant, and where they were read (``source``: FROM_ROLES_CLAIM or
    FROM_SERVICE_PRINCIPAL); ``consented`` False (and ``problem`` why) when the tenant gave no token or has no service
    principal of the app."""

    consented: bool
    granted: frozenset[str] = frozenset()
    problem: str | None = None
    source: str = FROM_SERVICE_PRINCIPAL


def read_grants(graph: DirectoryReader, graph_endpoint: str, client_id: str) -> Grants:
    """The roles of the tenant's Graph token; without a roles claim, the app's service principal in the tenant."""
    claims = graph.token_claims()
    if isinstance(claims, GraphAnswer):
        return Grants(False, problem=claims.failure or "no token", source=FROM_ROLES_CLAIM)
    roles = granted_roles(claims)
    if roles is not None:
        return Grants(True, roles, source=FROM_ROLES_CLAIM)
    return read_assignments(graph, graph_endpoint, client_id)


def granted_roles(claims: Mapping[str, Any]) -> frozenset[str] | None:
    """The application permissions an app-only token's ``roles`` claim lists; None when it has no such claim."""
    roles = claims.get("roles")
    if not isinstance(roles, list):
        return None
    return frozenset(role for role in roles if isinstance(role, str) and role)


def lacking_permissions(needs: Mapping[str, tuple[str, ...]], granted: frozenset[str]) -> dict[str, list[str]]:
    """What each kind and start action of ``needs`` lacks of its permissions; those that lack nothing are left out."""
    lacking = {what: sorted(set(wanted) - granted) for what, wanted in needs.items()}
    return {what: missing for what, missing in lacking.items() if missing}


def read_assignments(graph: DirectoryReader, graph_endpoint: str, client_id: str) -> Grants:
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
