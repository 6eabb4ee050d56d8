"""``graphops budgets``: the shared throttling budgets, as the console's budgets page shows them, and their reset."""

from __future__ import annotations

from typing import Any

import click

from graphops.cli.base import (
    Context,
    account_option,
    ago,
    clear_errors,
    cli,
    emit,
    fail,
    json_option,
    pass_context,
    reach_storage,
    short_id,
)


def _table(obj: Context) -> tuple[Any, Any]:
    """The state table (where the budgets are kept) and the settings, once storage answered."""
    from graphops.storage.queues import INTERACTIVE
    from graphops.storage.state import table_client

    settings, credential = reach_storage(obj)
    return table_client(settings.storage, settings.state_table, credential, options=INTERACTIVE), settings


@cli.group(invoke_without_command=True)
@account_option
@json_option
@pass_context
@click.pass_context
def budgets(ctx: click.Context, obj: Context, account: str | None, as_json: bool) -> None:
    """Each throttling budget: its service and tenant (and scope), used of its limit in the window ending now,
    paused until when and by which tracking's 429, and the trackings waiting for it."""
    if ctx.invoked_subcommand is not None:
        return
    from datetime import UTC, datetime

    from graphops.console.budgets import as_json as budget_json
    from graphops.console.budgets import budgets as read_budgets

    obj.account = account
    with clear_errors():
        table, settings = _table(obj)
        now = datetime.now(UTC)
        shown = read_budgets(table, settings.throttle_budgets, now)
    emit(as_json, [budget_json(b) for b in shown], lambda: _print_budgets(shown, now))


def _print_budgets(shown: list[Any], now: Any) -> None:
    from datetime import UTC, datetime

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    if not shown:
        click.echo("no budget used yet")
        return
    out = Table(title=f"{len(shown)} budgets")
    # Short ids and relative times, so that the table fits 100 columns; the text columns fold, never an id.
    for name in ("service", "tenant", "used", "paused until", "paused by", "waiting"):
        out.add_column(name, no_wrap=name in ("tenant", "paused by"), overflow="fold")
    for budget in shown:
        view = budget.view
        until = datetime.fromtimestamp(view.paused_until, UTC).isoformat() if view.paused_until else None
        used = f"{view.used}/{view.limit if view.limit is not None else '?'}"
        used += f" per {view.window:g} s" if view.window else ""
        waiting = ", ".join(w.correlation_id or short_id(w.tracking_id) for w in budget.waiting)
        service = f"{view.service} ({view.scope})" if view.scope else view.service
        out.add_row(*(escape(text) for text in (service, short_id(view.tenant), used,
                                                ago(until, now) if until else "no", short_id(view.cause) or "",
                                                waiting or "none")))  # fmt: skip
    Console().print(out)


@budgets.command("reset")
@click.argument("service")
@click.option("--tenant", help="Only this tenant's budget (its id); default: every tenant's.")
@click.option("--scope", help="Only the budget of this resource (a chat's id, as the page shows it).")
@click.option("--yes", is_flag=True, help="Reset without asking.")
@account_option
@json_option
@pass_context
def budgets_reset(
    obj: Context, service: str, tenant: str | None, scope: str | None, yes: bool, account: str | None, as_json: bool
) -> None:
    """Delete a budget's rows, its pause included: the trackings waiting for it poll at their next step."""
    from graphops.pacing.budget_view import reset

    which = f"the {service} budget" + (f" of tenant {tenant}" if tenant else " of every tenant")
    which += f" for {scope}" if scope else ""
    if not yes and not click.confirm(f"Reset {which}?", err=True):
        fail("not reset", code=1)
    obj.account = account
    with clear_errors():
        table, _ = _table(obj)
        deleted = reset(table, service, tenant, scope)
    emit(as_json, {"service": service, "tenant": tenant, "scope": scope, "deletedRows": deleted},
         lambda: click.echo(f"reset {which}: {len(deleted)} rows deleted"))  # fmt: skip
