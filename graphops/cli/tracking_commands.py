"""``graphops track``, ``start``, ``watch``, ``status`` and ``list``: start trackings and follow them."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

import click

from graphops.cli.base import (
    Context,
    ago,
    camel,
    clear_errors,
    cli,
    emit,
    fail,
    json_option,
    pass_context,
    reach_storage,
    short_id,
)
from graphops.common.errors import Rejected
from graphops.common.json_text import read_json


def tracking_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """The options every way of starting a tracking takes."""
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.option("--callback", "callback_url", help="Where to POST the outcome (https). Without it the "
                     "deployment's other sinks (events, results queue) are told."),
        click.option("--notify", multiple=True, type=click.Choice(["callback", "events", "queue"]),
                     help="Only these sinks are told (repeatable); default: every sink the deployment has."),
        click.option("--correlation-id", help="Echoed back in the callback."),
        click.option("--context", "context_json", help="A JSON object echoed back in the callback."),
        click.option("--timeout", "timeout_seconds", type=int, help="Seconds to wait before the outcome is timedOut."),
        click.option("--select", multiple=True, help="Graph property to ask for ($select); repeatable."),
        click.option("--wait-for-resource", is_flag=True, help="After success, wait for the created resource."),
        click.option("--tenant", "tenant_id", help="A customer tenant of GRAPHOPS_TENANTS (default: the home tenant)."),
        json_option,
        pass_context,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def within(option: str, exc: Rejected) -> str:
    """A problem in an option's JSON, named by the option and the field in it."""
    return f"{option}: {exc.problem}" if exc.field == option else f"{option}.{exc.field}: {exc.problem}"


def tracking_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """The client's keyword arguments from the shared options."""
    context = None
    if options["context_json"] is not None:
        try:
            context = read_json(options["context_json"], "context")
        except Rejected as exc:
            fail(within("context", exc))
    return {
        "correlation_id": options["correlation_id"],
        "context": context,
        "timeout_seconds": options["timeout_seconds"],
        "select": list(options["select"]) or None,
        "wait_for_resource": options["wait_for_resource"],
        "notify": list(options["notify"]) or None,
        "tenant_id": options["tenant_id"],
    }


@cli.command()
@click.argument("operation_url")
@tracking_options
def track(obj: Context, operation_url: str, callback_url: str | None, as_json: bool, **options: Any) -> None:
    """Start tracking OPERATION_URL (Graph's Location URL, or a /v1.0/ or /beta/ path); prints the tracking id."""
    from graphops.client import GraphOpsClient
    from graphops.storage.queues import INTERACTIVE

    with clear_errors():
        client = GraphOpsClient.from_settings(*reach_storage(obj), options=INTERACTIVE)
        tracking_id = client.track(operation_url, callback_url, **tracking_arguments(options))
    emit(as_json, {"trackingId": tracking_id}, lambda: click.echo(tracking_id))


@cli.command()
@click.argument("method", type=click.Choice(["POST", "PATCH"], case_sensitive=False))
@click.argument("url")
@click.option("--body", "body_text", help="The request's JSON body, or @file.json (@- reads stdin).")
@tracking_options
def start(
    obj: Context,
    method: str,
    url: str,
    body_text: str | None,
    callback_url: str | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Have graphops send METHOD URL with its identity (an enabled start action), once, and track what it starts.

    URL is a /v1.0/ or /beta/ path, or an absolute URL on the Graph host. Prints the tracking id.
    """
    from graphops.client import GraphOpsClient
    from graphops.storage.queues import INTERACTIVE

    body = None
    if body_text is not None:
        try:
            body = read_json(click.open_file(body_text[1:]).read() if body_text.startswith("@") else body_text, "body")
        except OSError as exc:
            fail(f"body: {exc}")
        except Rejected as exc:
            fail(within("body", exc))
    with clear_errors():
        client = GraphOpsClient.from_settings(*reach_storage(obj), options=INTERACTIVE)
        tracking_id = client.start(method, url, callback_url, body, **tracking_arguments(options))
    emit(as_json, {"trackingId": tracking_id}, lambda: click.echo(tracking_id))


@cli.command()
@click.argument("operation_url")
@click.option(
    "--timeout", "timeout_seconds", type=click.IntRange(1), default=3600, show_default=True,
    help="Seconds to follow it before giving up (the outcome is then timedOut).",
)  # fmt: skip
@json_option
@pass_context
def watch(obj: Context, operation_url: str, timeout_seconds: int, as_json: bool) -> None:
    """Follow OPERATION_URL until it ends, printing each change. Exit 0 when it succeeded, 1 otherwise.

    Signs in with DefaultAzureCredential (az login) unless GRAPHOPS_CREDENTIAL says otherwise.
    """
    from graphops import watch as watching
    from graphops.settings import Settings
    from graphops.wiring import graph_credential, graph_session

    env = obj.env()
    env.setdefault("GRAPHOPS_CREDENTIAL", "default")
    with clear_errors():
        settings = Settings.from_env(env, need_storage=False)
        from graphops.graph.reader import GraphClient

        credential = graph_credential(settings)
        # One token now: without a sign-in every poll would fail alike until the timeout.
        credential.get_token(settings.cloud.token_scope)
        graph = GraphClient(graph_session(), credential, settings.cloud.token_scope, settings.graph_endpoint)

        def show(change: watching.Change) -> None:
            line = {"at": change.at.isoformat(), "polls": change.polls, "status": change.status,
                    "problem": change.problem, "nextPollInSeconds": change.next_poll_in}  # fmt: skip
            if as_json:
                click.echo(json.dumps(line))
            else:
                more = f"  ({change.problem})" if change.problem else ""
                then = f", next look in {change.next_poll_in}s" if change.next_poll_in is not None else ""
                click.echo(f"{change.at:%H:%M:%S}  {change.status or '-'}{more}  [poll {change.polls}{then}]")

        finished = watching.watch(operation_url, settings, graph, timeout_seconds=timeout_seconds, on_change=show)
    # A report's signed link goes to a tracking's sinks only, never to a screen or a log: read it from the job.
    result = {"outcome": str(finished.outcome), "error": finished.error.to_json() if finished.error else None,
              "operation": finished.kind.withheld(finished.operation)}  # fmt: skip
    if as_json:
        click.echo(json.dumps(result))
    else:
        click.echo(f"outcome: {finished.outcome}" + (f" - {finished.error.message}" if finished.error else ""))
    sys.exit(watching.exit_code(finished.outcome))


@cli.command()
@click.argument("tracking_id")
@json_option
@pass_context
def status(obj: Context, tracking_id: str, as_json: bool) -> None:
    """What graphops knows of one tracking: the status view the API answers (GET /api/operations/ID)."""
    from graphops.storage.state_view import public_view

    with clear_errors():
        entity = _state_store(obj, tracking_id).read(tracking_id)
    if entity is None:
        fail(_not_recorded(tracking_id))
    view = public_view(tracking_id, entity)
    emit(as_json, view, lambda: _print_status(view))


def _print_status(view: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    out = Table(show_header=False, box=None)
    out.add_column(style="bold", no_wrap=True)
    out.add_column(overflow="fold")
    for name, value in view.items():
        if name == "history" or value in (None, "", []):
            continue
        shown = value if isinstance(value, str | int) else json.dumps(value, separators=(", ", ": "))
        if name == "lastProblem" and isinstance(value, dict):
            shown = problem_words(value)
        out.add_row(name, escape(str(shown)))  # Graph's and callers' text is shown as written, never as markup
    history = view["history"]
    out.add_row("history", f"{len(history)} steps" + (", the last:" if history else ""))
    for step in history[-5:]:
        out.add_row("", escape(json.dumps(step, separators=(", ", ": "))))
    Console().print(out)


@cli.command("list")
@click.option("--phase", help="Only trackings in this phase (polling, delivering, done...).")
@click.option(
    "--state", help="Only trackings standing here (polling, delivering, deliveryFailed, succeeded, failed...)."
)
@click.option("--kind", help="Only trackings of this operation kind.")
@click.option("--tenant", help="Only trackings in this customer tenant (an id of GRAPHOPS_TENANTS).")
@click.option("--correlation-id", help="Only trackings whose correlation id contains this, in any case (among the "
              "newest 300 of the range).")  # fmt: skip
@click.option("--sort", default="newest", show_default=True,
              help="newest, attention (what needs it first), or a column: started, kind, state, next ('-' first: "
                   "descending).")  # fmt: skip
@click.option("--from", "since", help="Tracked since (UTC, YYYY-MM-DDTHH:MM). Default: the last 24 hours; '' for all.")
@click.option("--to", "until", help="Tracked before (UTC, YYYY-MM-DDTHH:MM).")
@json_option
@pass_context
def list_command(obj: Context, /, as_json: bool, **chosen: str | None) -> None:
    """Trackings, newest first (or --sort), with counts per state: the console's list, with the same filters."""
    from datetime import UTC, datetime

    from graphops.console.listing import Filters, list_trackings
    from graphops.graph.kinds import KINDS
    from graphops.storage.queues import INTERACTIVE
    from graphops.storage.state import table_client

    names = {"since": "from", "until": "to", "correlation_id": "correlationId", "tenant": "tenantId"}
    query = {names.get(name, name): value for name, value in chosen.items() if value is not None}
    with clear_errors():
        now = datetime.now(UTC)
        settings, credential = reach_storage(obj)
        filters = Filters.from_query(query, now, KINDS, settings.tenants)
        listing = list_trackings(
            table_client(settings.storage, settings.state_table, credential, options=INTERACTIVE), filters, now
        )
    rows = [{camel(name): value for name, value in vars(row).items()} for row in listing.rows]
    data = {"counts": listing.counts, "matching": listing.matching, "trackings": rows}
    emit(as_json, data, lambda: _print_listing(listing, now))


def problem_words(problem: dict[str, Any]) -> str:
    """A poll's problem as a line: what, how many in a row since when, and the last one."""
    count = problem.get("inARow")
    run = f"{count} in a row since {problem.get('since')}, " if isinstance(count, int) and count > 1 else ""
    return f"{problem.get('what')} ({run}last at {problem.get('at')})"


def _print_listing(listing: Any, now: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    counts = ", ".join(f"{name} {count}" for name, count in listing.counts.items()) or "none"
    more = f" (the first {len(listing.rows)} shown)" if listing.matching > len(listing.rows) else ""
    out = Table(title=f"{listing.matching} trackings{more} - {counts}")
    # Short ids and relative times, so that the table fits 100 columns; the text columns fold, never the id.
    for name in ("tracking", "correlation id", "state", "kind", "polls", "since", "next poll"):
        out.add_column(name, no_wrap=name in ("tracking", "polls"), overflow="fold")
    for row in listing.rows:
        state = f"{row.standing} ({row.outcome})" if row.standing == "deliveryFailed" else row.standing
        if row.last_problem and row.phase in ("polling", "awaitingResource"):
            state = f"{state}: {row.last_problem['what']}"
        out.add_row(*(escape(text or "") for text in (short_id(row.tracking_id), row.correlation_id, state, row.kind,
                                                      str(row.polls), ago(row.tracked_since, now),
                                                      ago(row.next_poll_at, now))))  # fmt: skip
    Console().print(out)


@cli.command()
@click.argument("tracking_id")
@json_option
@pass_context
def cancel(obj: Context, tracking_id: str, as_json: bool) -> None:
    """Stop a tracking: no more polls, nothing delivered; its state says cancelled (DELETE /api/operations/ID)."""
    from datetime import UTC, datetime

    from graphops.step import operator
    from graphops.storage.state_view import public_view

    with clear_errors():
        entity = operator.cancel(_state_store(obj, tracking_id), tracking_id, datetime.now(UTC))
    if entity is None:
        fail(_not_recorded(tracking_id))
    view = public_view(tracking_id, entity)
    ended = view["outcome"] != "cancelled"
    emit(as_json, view, lambda: click.echo(f"{tracking_id} had already ended ({view['outcome']}): nothing to cancel"
                                           if ended else f"cancelled {tracking_id}"))  # fmt: skip


@cli.command()
@click.argument("tracking_id")
@json_option
@pass_context
def retrack(obj: Context, tracking_id: str, as_json: bool) -> None:
    """Track a timed-out, failed or cancelled tracking's operation again, for the same callback and sinks: a new
    tracking, linked to the old one both ways. Prints the new tracking id."""
    from datetime import UTC, datetime

    from graphops.settings import seal_for
    from graphops.step import operator
    from graphops.storage.queues import INTERACTIVE, TrackingQueue, queue_client
    from graphops.wiring import limits_for

    with clear_errors():
        state, settings, credential = _reached_state(obj, tracking_id)
        main, poison = (queue_client(settings.storage, name, credential, options=INTERACTIVE)
                        for name in (settings.queue_name, settings.poison_queue_name))  # fmt: skip
        queue = TrackingQueue(main, poison)
        new_id = operator.retrack(state, queue, seal_for(settings), limits_for(settings), tracking_id,
                                  datetime.now(UTC))  # fmt: skip
    emit(as_json, {"trackingId": new_id, "retrackOf": tracking_id}, lambda: click.echo(new_id))


def _state_store(obj: Context, tracking_id: str) -> Any:
    return _reached_state(obj, tracking_id)[0]


def _reached_state(obj: Context, tracking_id: str) -> tuple[Any, Any, Any]:
    """The state store, the settings and the storage credential, once ``tracking_id`` is known to be a tracking id
    and storage answered."""
    from graphops.envelope.tracking import is_tracking_id
    from graphops.storage.queues import INTERACTIVE
    from graphops.storage.state import StateStore, table_client

    if not is_tracking_id(tracking_id):
        fail(f"tracking_id: {tracking_id!r} is not a tracking id (the id `track`, `start` or the API printed)")
    settings, credential = reach_storage(obj)
    table = table_client(settings.storage, settings.state_table, credential, options=INTERACTIVE)
    return StateStore(table), settings, credential


def _not_recorded(tracking_id: str) -> str:
    return f"tracking_id: {tracking_id} is not recorded here (unknown, or removed after GRAPHOPS_STATE_RETENTION_DAYS)"
