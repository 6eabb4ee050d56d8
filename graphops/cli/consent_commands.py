"""``graphops consent``: whether a customer tenant has consented to the multitenant app, and what it still lacks."""

from __future__ import annotations

from typing import Any

import click

from graphops.cli.base import Context, clear_errors, cli, emit, fail, json_option, pass_context


@cli.group()
def consent() -> None:
    """A customer tenant's consent to the multitenant app (GRAPHOPS_MULTITENANT_CLIENT_ID)."""


def _tenant_settings(obj: Context, tenant_id: str) -> tuple[Any, Any]:
    """The settings (Graph only) and the tenant of GRAPHOPS_TENANTS named, or one line why not (exit 2)."""
    from graphops.settings import Settings

    settings = Settings.from_env(obj.env(), need_storage=False)
    if settings.multitenant_client_id is None:
        fail("GRAPHOPS_MULTITENANT_CLIENT_ID: not set (the multitenant app's application id)")
    tenant = settings.tenants.get(tenant_id.strip().lower())
    if tenant is None:
        fail(f"--tenant: {tenant_id} is not in GRAPHOPS_TENANTS")
    return settings, tenant


@consent.command()
@click.option("--tenant", "tenant_id", required=True, help="The customer tenant's id (of GRAPHOPS_TENANTS).")
@pass_context
def link(obj: Context, tenant_id: str) -> None:
    """Print the admin-consent URL an administrator of the tenant opens to grant the app its permissions."""
    from graphops.graph.tenants import consent_link

    with clear_errors():
        settings, tenant = _tenant_settings(obj, tenant_id)
    click.echo(consent_link(settings.cloud, tenant.tenant_id, settings.multitenant_client_id, settings.login_endpoint))


@consent.command()
@click.option("--tenant", "tenant_id", required=True, help="The customer tenant's id (of GRAPHOPS_TENANTS).")
@json_option
@pass_context
def check(obj: Context, tenant_id: str, as_json: bool) -> None:
    """Read what the tenant granted the app from the roles of its Graph token (or, when the token has none, from the
    app's service principal there), and print what each tracked kind and enabled start action still lacks.
    Exits 1 when something is missing or the tenant has not consented."""
    from graphops.graph.consent import lacking_permissions, needed_permissions, read_grants
    from graphops.graph.tenants import consent_link
    from graphops.wiring import graph_credential, graph_session, tenant_access

    with clear_errors():
        settings, tenant = _tenant_settings(obj, tenant_id)
        from graphops.graph.reader import GraphClient

        identity = graph_credential(settings)
        graph = GraphClient(graph_session(4), identity, settings.cloud.token_scope, settings.graph_endpoint,
                            tenants=tenant_access(settings, identity))  # fmt: skip
        grants = read_grants(
            graph.for_tenant(tenant.tenant_id), settings.graph_endpoint, settings.multitenant_client_id
        )
    needs = needed_permissions(tenant, settings.start_actions)
    lacking = lacking_permissions(needs, grants.granted)
    client_id = settings.multitenant_client_id
    link = consent_link(settings.cloud, tenant.tenant_id, client_id, settings.login_endpoint)
    report = {"tenantId": tenant.tenant_id, "name": tenant.name, "appId": client_id,
              "consented": grants.consented, "problem": grants.problem, "granted": sorted(grants.granted),
              "grantsFrom": grants.source,
              "lacking": lacking,
              "consentLink": link}  # fmt: skip
    emit(as_json, report, lambda: _print(report, needs))
    if not grants.consented or lacking:
        raise SystemExit(1)


def _print(report: dict[str, Any], needs: dict[str, tuple[str, ...]]) -> None:
    from graphops.graph.consent import FROM_ROLES_CLAIM

    name, tenant_id, app = report["name"], report["tenantId"], report["appId"]
    if not report["consented"]:
        click.echo(f"{name} ({tenant_id}) has not consented to the app {app}: {report['problem']}")
        click.echo(f"an administrator of {name} consents at {report['consentLink']}")
        return
    where = (
        "its Graph token's roles" if report["grantsFrom"] == FROM_ROLES_CLAIM else "the app's service principal there"
    )
    granted = ", ".join(report["granted"]) or "none"
    click.echo(f"{name} ({tenant_id}) consented to the app {app}; granted (read from {where}): {granted}")
    for what in sorted(needs):
        missing = report["lacking"].get(what)
        click.echo(f"  {what}: lacks {', '.join(missing)}" if missing else f"  {what}: ok")
    if report["lacking"]:
        click.echo(f"grant the missing application permissions, then consent again: {report['consentLink']}")
