"""``graphops poison``: read the poison queue, put entries back once the cause is fixed, or discard them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click

from graphops.cli.base import (
    Context,
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


def _chosen(queues: PoisonQueues, names: tuple[str, ...]) -> set[str]:
    """The message ids the names stand for: a tracking id stands for its entries among the oldest 32; any other name
    is taken as a message id, looked for in the whole queue."""
    from graphops.storage.poison import list_entries, message_ids_for

    if not names:
        return set()
    found, unknown = message_ids_for(list_entries(queues.poison, seal=queues.seal), set(names))
    return found | set(unknown)


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

        if not entries:
            click.echo("no dead letters")
            return
        now = datetime.now(UTC)
        # Short ids and relative times, so that the table fits 100 columns (`poison show` takes either id, whole).
        out = Table(title=f"{len(entries)} dead-lettered")
        for name in ("message", "tracking", "when"):
            out.add_column(name, no_wrap=True)
        for name in ("field", "written by", "reason"):
            out.add_column(name, overflow="fold")
        for e in entries:
            when = ago(e.inserted_on.isoformat(), now) if e.inserted_on else ""
            cells = (short_id(e.message_id), short_id(e.tracking_id), when, e.field or "", WRITTEN_BY[e.provenance],
                     e.reason)  # fmt: skip
            out.add_row(*(escape(cell) for cell in cells))  # a producer's text, never rich markup
        Console().print(out)

    emit(as_json, [e.to_json() for e in entries], table)


@poison.command("show")
@click.argument("entry_id")
@json_option
@pass_context
def poison_show(obj: Context, entry_id: str, as_json: bool) -> None:
    """Dead-lettered messages in full, reason and original: ENTRY_ID is a message id, or a tracking id (its
    entries)."""
    from graphops.storage.poison import list_entries, message_ids_for

    with clear_errors():
        queues = _poison_queues(obj)
        entries = list_entries(queues.poison, seal=queues.seal)
    chosen, _ = message_ids_for(entries, {entry_id})
    found = [e for e in entries if e.message_id in chosen]
    if not found:
        fail(f"id: {entry_id} is neither a message id nor a tracking id among the poison queue's oldest 32 entries")

    def human() -> None:
        for entry in found:
            click.echo(f"id:       {entry.message_id}\nwritten:  {WRITTEN_BY[entry.provenance]}")
            click.echo(f"reason:   {entry.reason}\ntracking: {entry.tracking_id or '-'}")
            click.echo(f"field:    {entry.field or '-'}\noriginal:\n{entry.shown}")

    # One entry as an object, as before; a tracking with several, a list of them.
    emit(as_json, found[0].to_json() if len(found) == 1 else [e.to_json() for e in found], human)


@poison.command("requeue")
@click.argument("entry_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Put every entry back.")
@json_option
@pass_context
def poison_requeue(obj: Context, entry_ids: tuple[str, ...], everything: bool, as_json: bool) -> None:
    """Put dead-lettered messages back on the tracking queue (by message id or tracking id, or --all)."""
    from graphops.storage.poison import requeue

    if bool(entry_ids) == everything:
        fail("give message ids or tracking ids, or --all (not both)")
    with clear_errors():
        queues = _poison_queues(obj)
        message_ids = _chosen(queues, entry_ids)
        done = requeue(queues.poison, queues.main, None if everything else message_ids, seal=queues.seal,
                       check=queues.check)  # fmt: skip
    missing = sorted(message_ids - set(done.moved) - set(done.refused))
    emit(as_json, {"requeued": done.moved, "notFound": missing, "refused": done.refused},
         lambda: click.echo(f"requeued {len(done.moved)}"))  # fmt: skip
    if done.refused:
        said = "; ".join(f"{message_id}: {why}" for message_id, why in sorted(done.refused.items()))
        fail(f"message_id: cannot be requeued ({said}); `graphops poison discard ID` deletes it", code=1)
    if missing:
        fail(f"id: neither a message nor a tracking in the poison queue: {', '.join(missing)}", code=1)


@poison.command("discard")
@click.argument("entry_ids", nargs=-1, required=True)
@json_option
@pass_context
def poison_discard(obj: Context, entry_ids: tuple[str, ...], as_json: bool) -> None:
    """Delete dead-lettered messages for good (by message id or tracking id)."""
    from graphops.storage.poison import discard

    with clear_errors():
        queues = _poison_queues(obj)
        message_ids = _chosen(queues, entry_ids)
        gone = discard(queues.poison, message_ids)
    missing = sorted(message_ids - set(gone))
    emit(as_json, {"discarded": gone, "notFound": missing}, lambda: click.echo(f"discarded {len(gone)}"))
    if missing:
        fail(f"id: neither a message nor a tracking in the poison queue: {', '.join(missing)}", code=1)
