"""``graphops poison``: read the poison queue, put entries back once the cause is fixed, or discard them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from graphops.cli.base import Context, clear_errors, cli, emit, fail, json_option, pass_context, reach_storage

# Who wrote an entry, as the list and show say it: only a sealed dead letter is graphops' own.
WRITTEN_BY = {"graphops": "graphops", "host": "the host (a copy)", "forged": "not written by graphops",
              "unchecked": "unknown (no GRAPHOPS_ENVELOPE_KEY)"}  # fmt: skip


@cli.group()
def poison() -> None:
    """Look at dead-lettered messages and their reasons; put them back once the cause is fixed."""


@dataclass(frozen=True)
class PoisonQueues:
    """The poison queue and the tracking queue, read as their messages lie (no decoding); the seal that tells
    graphops' dead letters from anyone else's (None without GRAPHOPS_ENVELOPE_KEY); and the trigger's check of a
    producer's request, for an entry graphops did not write."""

    poison: Any
    main: Any
    seal: Any
    check: Callable[[dict[str, Any]], str | None]


def _poison_queues(obj: Context) -> PoisonQueues:
    from graphops.intake.request import producer_problem
    from graphops.settings import seal_held
    from graphops.storage.queues import INTERACTIVE, queue_client
    from graphops.wiring import limits_for

    settings, credential = reach_storage(obj)
    poison_queue, tracking_queue = (
        queue_client(settings.storage, name, credential, encoded=False, options=INTERACTIVE)
        for name in (settings.poison_queue_name, settings.queue_name)
    )
    limits = limits_for(settings)
    return PoisonQueues(poison_queue, tracking_queue, seal_held(settings), lambda doc: producer_problem(doc, limits))


@poison.command("list")
@json_option
@pass_context
def poison_list(obj: Context, as_json: bool) -> None:
    """The oldest 32 dead-lettered messages with their reasons."""
    from graphops.storage.poison import list_entries

    with clear_errors():
        queues = _poison_queues(obj)
        entries = list_entries(queues.poison, seal=queues.seal)

    def table() -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        out = Table(title=f"{len(entries)} dead-lettered")
        for name in ("id", "when", "tracking", "field", "written by"):
            out.add_column(name, no_wrap=True)
        out.add_column("reason", overflow="fold")
        for e in entries:
            when = f"{e.inserted_on:%Y-%m-%d %H:%M:%S}" if e.inserted_on else ""
            cells = (e.message_id, when, e.tracking_id or "", e.field or "", WRITTEN_BY[e.provenance], e.reason)
            out.add_row(*(escape(cell) for cell in cells))  # a producer's text, never rich markup
        Console().print(out)

    emit(as_json, [e.to_json() for e in entries], table)


@poison.command("show")
@click.argument("message_id")
@json_option
@pass_context
def poison_show(obj: Context, message_id: str, as_json: bool) -> None:
    """One dead-lettered message in full: reason and original."""
    from graphops.storage.poison import list_entries

    with clear_errors():
        queues = _poison_queues(obj)
        found = [e for e in list_entries(queues.poison, seal=queues.seal) if e.message_id == message_id]
    if not found:
        fail(f"message_id: {message_id} is not among the poison queue's oldest 32 entries")
    entry = found[0]

    def human() -> None:
        click.echo(f"id:       {entry.message_id}\nwritten:  {WRITTEN_BY[entry.provenance]}")
        click.echo(f"reason:   {entry.reason}\ntracking: {entry.tracking_id or '-'}")
        click.echo(f"field:    {entry.field or '-'}\noriginal:\n{entry.shown}")

    emit(as_json, entry.to_json(), human)


@poison.command("requeue")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Put every entry back.")
@json_option
@pass_context
def poison_requeue(obj: Context, message_ids: tuple[str, ...], everything: bool, as_json: bool) -> None:
    """Put dead-lettered messages back on the tracking queue (by id, or --all)."""
    from graphops.storage.poison import requeue

    if bool(message_ids) == everything:
        fail("give message ids or --all (not both)")
    with clear_errors():
        queues = _poison_queues(obj)
        done = requeue(queues.poison, queues.main, None if everything else set(message_ids), seal=queues.seal,
                       check=queues.check)  # fmt: skip
    missing = sorted(set(message_ids) - set(done.moved) - set(done.refused))
    emit(as_json, {"requeued": done.moved, "notFound": missing, "refused": done.refused},
         lambda: click.echo(f"requeued {len(done.moved)}"))  # fmt: skip
    if done.refused:
        said = "; ".join(f"{message_id}: {why}" for message_id, why in sorted(done.refused.items()))
        fail(f"message_id: cannot be requeued ({said}); `graphops poison discard ID` deletes it", code=1)
    if missing:
        fail(f"message_id: not in the poison queue: {', '.join(missing)}", code=1)


@poison.command("discard")
@click.argument("message_ids", nargs=-1, required=True)
@json_option
@pass_context
def poison_discard(obj: Context, message_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete dead-lettered messages for good (by id)."""
    from graphops.storage.poison import discard

    with clear_errors():
        gone = discard(_poison_queues(obj).poison, set(message_ids))
    missing = sorted(set(message_ids) - set(gone))
    emit(as_json, {"discarded": gone, "notFound": missing}, lambda: click.echo(f"discarded {len(gone)}"))
    if missing:
        fail(f"message_id: not in the poison queue: {', '.join(missing)}", code=1)
