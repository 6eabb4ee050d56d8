"""``graphops index``: the state table's time index, written anew from the state rows."""

from __future__ import annotations

import click

from graphops.cli.base import Context, account_option, clear_errors, cli, emit, json_option, pass_context, reach_storage


@cli.group()
def index() -> None:
    """The time index the console's list and `graphops list` read (kept in the state table)."""


@index.command("rebuild")
@account_option
@json_option
@pass_context
def index_rebuild(obj: Context, account: str | None, as_json: bool) -> None:
    """Write the index anew from every tracking's state: once after upgrading from a version without it.
    Run it while the app is stopped (or idle): it reads the whole state table. With --account your sign-in
    needs Storage Table and Queue Data Contributor there (the azd developer roles)."""
    from graphops.storage.queues import INTERACTIVE
    from graphops.storage.state import StateStore, table_client

    obj.account = account
    with clear_errors():
        settings, credential = reach_storage(obj)
        indexed = StateStore(
            table_client(settings.storage, settings.state_table, credential, options=INTERACTIVE)
        ).rebuild_index()
    emit(as_json, {"indexed": indexed}, lambda: click.echo(f"indexed {indexed} trackings"))
