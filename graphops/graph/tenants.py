"""Customer tenants: the allow-list a deployment serves (``GRAPHOPS_TENANTS``), what each may track and start, and
how graphops reaches one without a secret.

A multitenant app registration in the identity's home tenant trusts the user-assigned identity as a federated
credential; each customer tenant consents to the app once. A token of the identity for the token exchange
audience is then the client assertion of the app in any consenting tenant (Entra's "configure an app to trust a
managed identity" guide).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode

from graphops.common.errors import SettingsError
from graphops.graph.clouds import Cloud

SETTING = "GRAPHOPS_TENANTS"
#: The audience of the identity's assertion, per cloud, as the federated credential names it.
EXCHANGE_AUDIENCES = {
    "global": "api://AzureADTokenExchange",
    "usgov": "api://AzureADTokenExchangeUSGov",
    "usgovdod": "api://AzureADTokenExchangeUSGov",
    "china": "api://AzureADTokenExchangeChina",
}
TENANT_FIELDS = frozenset({"name", "startActions", "kinds"})


@dataclass(frozen=True)
class Tenant:
    """One customer tenant a deployment serves: its id, the name people know it by, and what graphops may do in it
    (None: whatever the deployment allows)."""

    tenant_id: str
    name: str
    start_actions: frozenset[str] | None = None
    kinds: frozenset[str] | None = None

    def allows_kind(self, kind: str) -> bool:
        return self.kinds is None or kind in self.kinds

    def allows_action(self, action: str) -> bool:
        return self.start_actions is None or action in self.start_actions


def exchange_scope(cloud: Cloud) -> str:
    """The scope the identity asks its assertion for: the token exchange audience of its cloud."""
    return EXCHANGE_AUDIENCES[cloud.name] + "/.default"


def consent_link(cloud: Cloud, tenant_id: str, client_id: str, authority: str | None = None) -> str:
    """Entra's admin-consent URL: an administrator of ``tenant_id`` opens it to grant the app what it asks for."""
    base = authority or f"https://{cloud.authority_host}"
    return f"{base}/{tenant_id}/adminconsent?" + urlencode({"client_id": client_id})


def parse_tenants(raw: str, actions: frozenset[str], kinds: frozenset[str] | None) -> dict[str, Tenant]:
    """``GRAPHOPS_TENANTS``: a JSON object of tenant id -> {"name", "startActions", "kinds"}. A tenant's lists must
    be within the deployment's (``actions``: GRAPHOPS_START_ACTIONS; ``kinds``: GRAPHOPS_TRACKED_KINDS, None for
    every kind) and default to them."""
    if not raw.strip():
        return {}
    try:
        doc = json.loads(raw)
    except ValueError:
        raise SettingsError(SETTING, 'must be a JSON object: {"<tenant id>": {"name": "Contoso"}, ...}') from None
    if not isinstance(doc, dict):
        raise SettingsError(SETTING, 'must be a JSON object: {"<tenant id>": {"name": "Contoso"}, ...}')
    tenants: dict[str, Tenant] = {}
    for key, entry in doc.items():
        tenant = _tenant(key, entry, actions, kinds)
        if tenant.tenant_id in tenants:
            raise SettingsError(SETTING, f"tenant {tenant.tenant_id} is listed twice")
        tenants[tenant.tenant_id] = tenant
    return tenants


def _tenant(key: str, entry: object, actions: frozenset[str], kinds: frozenset[str] | None) -> Tenant:
    from graphops.graph.actions import ACTIONS
    from graphops.graph.kinds import KINDS

    try:
        tenant_id = str(uuid.UUID(key)).lower()
    except ValueError:
        raise SettingsError(SETTING, f"{key[:60]!r} is not a tenant id (a GUID)") from None
    where = f"tenant {tenant_id}"
    if not isinstance(entry, dict):
        raise SettingsError(SETTING, f'{where}: must be an object such as {{"name": "Contoso"}}')
    unknown = sorted(set(entry) - TENANT_FIELDS)
    if unknown:
        raise SettingsError(SETTING, f"{where}: unknown field {unknown[0]!r}; use some of name, startActions, kinds")
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise SettingsError(SETTING, f"{where}: name must be the tenant's display name (1-100 characters)")
    own_actions = _names(entry, "startActions", where, frozenset(ACTIONS), "start action")
    if own_actions is not None and own_actions - actions:
        extra = sorted(own_actions - actions)[0]
        raise SettingsError(SETTING, f"{where}: start action {extra!r} is not enabled in GRAPHOPS_START_ACTIONS")
    own_kinds = _names(entry, "kinds", where, frozenset(KINDS), "operation kind")
    if own_kinds is not None and kinds is not None and own_kinds - kinds:
        extra = sorted(own_kinds - kinds)[0]
        raise SettingsError(SETTING, f"{where}: kind {extra!r} is not in GRAPHOPS_TRACKED_KINDS")
    return Tenant(tenant_id, name.strip(), own_actions, own_kinds if own_kinds is not None else kinds)


def _names(
    entry: Mapping[str, object], field: str, where: str, known: frozenset[str], what: str
) -> frozenset[str] | None:
    raw = entry.get(field)
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise SettingsError(SETTING, f"{where}: {field} must be a list of names")
    for name in raw:
        if name not in known:
            raise SettingsError(SETTING, f"{where}: {field}: {name[:60]!r} is not a {what}")
    return frozenset(raw)
