"""The ``graphops`` command: run the app locally, start and follow trackings, tend the poison queue."""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from .errors import GraphOpsError, SettingsError
from .settings import STORAGE_SETTING

LOCAL_SETTINGS = "local.settings.json"


def load_local_settings(path: Path | None) -> dict[str, str]:
    """``Values`` of local.settings.json under the process environment (the environment wins)."""
    values: dict[str, str] = {}
    if path is not None and path.exists():
        try:
            doc = json.loads(path.read_text())
        except ValueError as exc:
            fail(f"{path}: not valid JSON ({exc})")
        raw = doc.get("Values", {}) if isinstance(doc, dict) else {}
        if not isinstance(raw, dict):
            fail(f"{path}: Values must be an object")
        values = {str(k): str(v) for k, v in raw.items()}
    return {**values, **os.environ}


def fail(message: str, code: int = 2) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


NOT_SIGNED_IN = "not signed in: run `az login` (graphops signs in as you, with DefaultAzureCredential)"
NO_STORAGE_SETTING = "copy local.settings.example.json to local.settings.json (it points at Azurite), or set it"


@contextmanager
def clear_errors() -> Iterator[None]:
    """The user's mistakes and the world's state (no sign-in, no storage) are one line naming the cause and the way
    out, exit 2; any other failure of a service is one line too, exit 1."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError

    try:
        yield
    except SettingsError as exc:
        missing_storage = exc.setting == STORAGE_SETTING and exc.problem.startswith("not set")
        fail(f"{exc} - {NO_STORAGE_SETTING}" if missing_storage else str(exc))
    except GraphOpsError as exc:
        fail(str(exc))
    except ClientAuthenticationError:
        fail(NOT_SIGNED_IN)
    except ServiceRequestError as exc:  # storage stopped answering after the command's first request
        fail(f"cannot reach storage: {type(exc).__name__} - is it running, and reachable from here?")
    except AzureError as exc:
        fail(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", code=1)


class Context:
    def __init__(self, settings_path: Path | None) -> None:
        self.settings_path = settings_path
        self.account: str | None = None  # a real storage account to use instead of the settings' (--account)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {**load_local_settings(self.settings_path), **overrides}
        if self.account:  # read as the signed-in user, with the account's own endpoints
            suffix = _storage_suffix(env)
            env = {k: v for k, v in env.items() if k != "AzureWebJobsStorage"}
            env.update({"AzureWebJobsStorage__queueServiceUri": f"https://{self.account}.queue.{suffix}",
                        "AzureWebJobsStorage__tableServiceUri": f"https://{self.account}.table.{suffix}",
                        "GRAPHOPS_CREDENTIAL": "default"})  # fmt: skip
        return env


pass_context = click.make_pass_decorator(Context)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON, for scripts.")
account_option = click.option(
    "--account", help="A real storage account's name, used with your sign-in (az login); default: the settings' "
    "AzureWebJobsStorage (Azurite)."
)  # fmt: skip


def emit(as_json: bool, data: Any, human: Callable[[], None]) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        human()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--settings", "settings_path", type=click.Path(dir_okay=False, path_type=Path), default=LOCAL_SETTINGS,
    show_default=True, help="App settings file (its Values), as the Functions Core Tools read it.",
)  # fmt: skip
@click.version_option(package_name="graphops")
@click.pass_context
def cli(ctx: click.Context, settings_path: Path) -> None:
    """Wait on Microsoft Graph long-running operations and call back when they end.

    Settings come from the environment and from local.settings.json; the environment wins.
    """
    ctx.obj = Context(settings_path)
    # Without a handler, Python prints azure's warnings (DefaultAzureCredential's 50-line account of each
    # credential it tried) on stderr; the commands say in one line what went wrong. `graphops run` logs them.
    logging.getLogger("azure").addHandler(logging.NullHandler())
    # Like the Core Tools, make the file's values environment variables, so that libraries which read the
    # environment themselves (azure-identity's IDENTITY_ENDPOINT, AZURE_CLIENT_ID) see them too.
    for name, value in load_local_settings(settings_path).items():
        os.environ.setdefault(name, value)


@cli.command()
@click.option(
    "--app-dir",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    default=".",
    show_default=True,
    help="The folder with function_app.py and host.json.",
)
@click.option(
    "--queue-service-uri", help="A real storage account's queue endpoint, signed in with DefaultAzureCredential."
)
@click.option("--workers", type=click.IntRange(1, 64), help="Threads running functions (default: host.json batchSize).")
@click.option("--port", type=click.IntRange(0, 65535), default=7071, show_default=True, help="HTTP triggers' port.")
@pass_context
def run(obj: Context, app_dir: Path, queue_service_uri: str | None, workers: int | None, port: int) -> None:
    """Serve function_app.py's triggers locally, the way the Functions host does.

    A development tool: in production graphops runs on Azure Functions.
    """
    from .runner import LocalHost, QueueOptions, load_app

    env = obj.env()
    if queue_service_uri:
        env.pop("AzureWebJobsStorage", None)
        env["AzureWebJobsStorage__queueServiceUri"] = queue_service_uri
        env.setdefault("GRAPHOPS_CREDENTIAL", "default")
    os.environ.update(env)  # the function reads its settings where the host puts them
    _configure_logging()
    with clear_errors():
        options = QueueOptions.from_host_json(app_dir / "host.json")
        app = load_app(app_dir.resolve())
        if queue_service_uri:
            from .settings import Settings
            from .wiring import graph_credential, storage_credential

            settings = Settings.from_env(env)
            credential = storage_credential(settings, graph_credential(settings))
            assert credential is not None
            host = LocalHost.for_account(app, env, options, queue_service_uri, credential, workers=workers)
        else:
            host = LocalHost.for_connection_string(app, env, options, workers=workers)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        names = ", ".join(f"{f.name} <- queue {f.queue_name}" for f in host.functions)
        click.echo(f"graphops runner: serving {names}. Ctrl-C stops.", err=True)
        if host.http_functions:
            base = host.start_http(port)
            for function in host.http_functions:
                methods = ",".join(sorted(function.methods))
                click.echo(f"  {function.name}: [{methods}] {base}/api/{function.route}", err=True)
        host.serve(stop)
        host.close()
    click.echo("graphops runner: stopped.", err=True)


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
        json_option,
        pass_context,
    ]  # fmt: skip
    for option in reversed(options):
        command = option(command)
    return command


def tracking_arguments(options: dict[str, Any]) -> dict[str, Any]:
    """The client's keyword arguments from the shared options."""
    context = None
    if options["context_json"] is not None:
        try:
            context = json.loads(options["context_json"])
        except ValueError:
            fail("context: not valid JSON")
    return {
        "correlation_id": options["correlation_id"],
        "context": context,
        "timeout_seconds": options["timeout_seconds"],
        "select": list(options["select"]) or None,
        "wait_for_resource": options["wait_for_resource"],
        "notify": list(options["notify"]) or None,
    }


@cli.command()
@click.argument("operation_url")
@tracking_options
def track(obj: Context, operation_url: str, callback_url: str | None, as_json: bool, **options: Any) -> None:
    """Start tracking OPERATION_URL (Graph's Location URL, or a /v1.0/ or /beta/ path); prints the tracking id."""
    from .client import GraphOpsClient

    with clear_errors():
        client = GraphOpsClient.from_settings(*_reach_storage(obj))
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
    from .client import GraphOpsClient

    body = None
    if body_text is not None:
        try:
            body = json.loads(click.open_file(body_text[1:]).read() if body_text.startswith("@") else body_text)
        except OSError as exc:
            fail(f"body: {exc}")
        except ValueError:
            fail("body: not valid JSON")
    with clear_errors():
        client = GraphOpsClient.from_settings(*_reach_storage(obj))
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
    from . import watch as watching
    from .settings import Settings
    from .wiring import graph_credential, graph_session

    env = obj.env()
    env.setdefault("GRAPHOPS_CREDENTIAL", "default")
    with clear_errors():
        settings = Settings.from_env(env, need_storage=False)
        from .graph import GraphClient

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
    from .state import StateStore, public_view, table_client
    from .tracking import is_tracking_id

    if not is_tracking_id(tracking_id):
        fail(f"tracking_id: {tracking_id!r} is not a tracking id (the id `track`, `start` or the API printed)")
    with clear_errors():
        settings, credential = _reach_storage(obj)
        entity = StateStore(table_client(settings.storage, settings.state_table, credential)).read(tracking_id)
    if entity is None:
        fail(f"tracking_id: {tracking_id} is not recorded here (unknown, or removed after "
             "GRAPHOPS_STATE_RETENTION_DAYS)")  # fmt: skip
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
@click.option("--correlation-id", help="Only trackings with this correlation id.")
@click.option("--from", "since", help="Tracked since (UTC, YYYY-MM-DDTHH:MM). Default: the last 24 hours; '' for all.")
@click.option("--to", "until", help="Tracked before (UTC, YYYY-MM-DDTHH:MM).")
@json_option
@pass_context
def list_command(obj: Context, /, as_json: bool, **chosen: str | None) -> None:
    """Trackings, newest first, with counts per state: the console's list, with the same filters."""
    from datetime import UTC, datetime

    from .console.listing import Filters, list_trackings
    from .kinds import KINDS
    from .state import table_client

    names = {"since": "from", "until": "to", "correlation_id": "correlationId"}
    query = {names.get(name, name): value for name, value in chosen.items() if value is not None}
    with clear_errors():
        now = datetime.now(UTC)
        filters = Filters.from_query(query, now, KINDS)
        settings, credential = _reach_storage(obj)
        listing = list_trackings(table_client(settings.storage, settings.state_table, credential), filters, now)
    data = {"counts": listing.counts, "matching": listing.matching, "trackings": [vars(row) for row in listing.rows]}
    emit(as_json, data, lambda: _print_listing(listing))


def _print_listing(listing: Any) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    counts = ", ".join(f"{name} {count}" for name, count in listing.counts.items()) or "none"
    more = f" (the first {len(listing.rows)} shown)" if listing.matching > len(listing.rows) else ""
    out = Table(title=f"{listing.matching} trackings{more} - {counts}")
    for name in ("correlation id", "tracking", "state", "kind", "polls", "since (UTC)", "next poll (UTC)"):
        out.add_column(name, no_wrap=name != "correlation id", overflow="fold")
    for row in listing.rows:
        state = f"{row.standing} ({row.outcome})" if row.standing == "deliveryFailed" else row.standing
        out.add_row(*(escape(text or "") for text in (row.correlation_id, row.tracking_id, state, row.kind,
                                                      str(row.polls), row.tracked_since[:19],
                                                      (row.next_poll_at or "")[:19])))  # fmt: skip
    Console().print(out)


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
    from .state import StateStore, table_client

    obj.account = account
    with clear_errors():
        settings, credential = _reach_storage(obj)
        indexed = StateStore(table_client(settings.storage, settings.state_table, credential)).rebuild_index()
    emit(as_json, {"indexed": indexed}, lambda: click.echo(f"indexed {indexed} trackings"))


@cli.group()
def poison() -> None:
    """Look at dead-lettered messages and their reasons; put them back once the cause is fixed."""


def _reach_storage(obj: Context) -> tuple[Any, Any]:
    """The settings and the storage credential, once the account has answered: in seconds, or one line why not."""
    from .queues import probe, queue_client
    from .settings import Settings
    from .wiring import graph_credential, storage_credential

    settings = Settings.from_env(obj.env())
    storage = settings.storage
    credential = None if storage.connection_string else storage_credential(settings, graph_credential(settings))
    probe(queue_client(storage, settings.queue_name, credential, encoded=False), storage)
    return settings, credential


def _poison_queues(obj: Context) -> tuple[Any, Any]:
    """The poison queue and the tracking queue, read as their messages lie (no decoding)."""
    from .queues import queue_client

    settings, credential = _reach_storage(obj)
    return (queue_client(settings.storage, settings.poison_queue_name, credential, encoded=False),
            queue_client(settings.storage, settings.queue_name, credential, encoded=False))  # fmt: skip


@poison.command("list")
@json_option
@pass_context
def poison_list(obj: Context, as_json: bool) -> None:
    """The oldest 32 dead-lettered messages with their reasons."""
    from .poison import list_entries

    with clear_errors():
        entries = list_entries(_poison_queues(obj)[0])

    def table() -> None:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        out = Table(title=f"{len(entries)} dead-lettered")
        for name in ("id", "when", "tracking", "field"):
            out.add_column(name, no_wrap=True)
        out.add_column("reason", overflow="fold")
        for e in entries:
            when = f"{e.inserted_on:%Y-%m-%d %H:%M:%S}" if e.inserted_on else ""
            cells = (e.message_id, when, e.tracking_id or "", e.field or "", e.reason)
            out.add_row(*(escape(cell) for cell in cells))  # a producer's text, never rich markup
        Console().print(out)

    emit(as_json, [e.to_json() for e in entries], table)


@poison.command("show")
@click.argument("message_id")
@json_option
@pass_context
def poison_show(obj: Context, message_id: str, as_json: bool) -> None:
    """One dead-lettered message in full: reason and original."""
    from .poison import list_entries

    with clear_errors():
        found = [e for e in list_entries(_poison_queues(obj)[0]) if e.message_id == message_id]
    if not found:
        fail(f"message_id: {message_id} is not among the poison queue's oldest 32 entries")
    entry = found[0]

    def human() -> None:
        click.echo(f"id:       {entry.message_id}\nreason:   {entry.reason}\ntracking: {entry.tracking_id or '-'}")
        click.echo(f"field:    {entry.field or '-'}\noriginal:\n{entry.shown}")

    emit(as_json, entry.to_json(), human)


@poison.command("requeue")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "everything", is_flag=True, help="Put every entry back.")
@json_option
@pass_context
def poison_requeue(obj: Context, message_ids: tuple[str, ...], everything: bool, as_json: bool) -> None:
    """Put dead-lettered messages back on the tracking queue (by id, or --all)."""
    from .poison import requeue

    if bool(message_ids) == everything:
        fail("give message ids or --all (not both)")
    with clear_errors():
        poison_queue, main_queue = _poison_queues(obj)
        done = requeue(poison_queue, main_queue, None if everything else set(message_ids))
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
    from .poison import discard

    with clear_errors():
        gone = discard(_poison_queues(obj)[0], set(message_ids))
    missing = sorted(set(message_ids) - set(gone))
    emit(as_json, {"discarded": gone, "notFound": missing}, lambda: click.echo(f"discarded {len(gone)}"))
    if missing:
        fail(f"message_id: not in the poison queue: {', '.join(missing)}", code=1)


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=7072, show_default=True, help="Loopback port.")
@account_option
@pass_context
def console(obj: Context, port: int, account: str | None) -> None:
    """The operations console on http://127.0.0.1:PORT/: trackings, timelines, the poison queue.

    It listens on loopback only. With --account it reads a real storage account as you: your account needs
    Storage Table Data Reader and Storage Queue Data Contributor there (requeue and discard change the queues).
    """
    obj.account = account
    with clear_errors():
        server = _console_server(obj.env(), port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        click.echo(f"graphops console: {server.url}/ (loopback only). Ctrl-C stops.", err=True)
        stop.wait()


def _storage_suffix(env: dict[str, str]) -> str:
    from .settings import Settings

    return Settings.from_env(env, need_storage=False).cloud.storage_suffix


def _console_server(env: dict[str, str], port: int) -> Any:
    """The loopback console over the storage ``env`` names (Azurite, or an account read with a sign-in)."""
    from .console import build_console
    from .console.local import LocalConsole
    from .settings import Settings
    from .wiring import developer_credential

    settings = Settings.from_env(env)
    credential = None if settings.storage.connection_string else developer_credential(settings)
    return LocalConsole(lambda authorize: build_console(settings, credential, root="/", authorize=authorize), port)


@cli.command()
@click.option("--fast", is_flag=True, help="A shorter run, with shorter timeouts (for tests).")
@click.option(
    "--save-to",
    type=click.Path(file_okay=False, path_type=Path),
    default="demo-callbacks",
    show_default=True,
    help="Folder where each callback the demo's receiver gets is saved, as <tracking id>.json.",
)
@click.option("--plain", is_flag=True, help="No live view: one line per event.")
@click.option(
    "--console/--no-console", "show_console", default=None,
    help="Keep the operations console on loopback for the demo's trackings until Ctrl-C. Default: when run from a "
    "terminal.",
)  # fmt: skip
@click.option(
    "--console-port",
    type=click.IntRange(0, 65535),
    default=7072,
    show_default=True,
    help="Loopback port of the demo's console.",
)
def demo(fast: bool, save_to: Path, plain: bool, show_console: bool | None, console_port: int) -> None:
    """Run the whole loop on this machine: Azurite, the runner, Graph and identity stand-ins, a receiver."""
    from .demo import run_demo

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so every child process is stopped
    if show_console is None:
        show_console = sys.stdin.isatty() and sys.stdout.isatty()
    with clear_errors():
        ok = run_demo(save_to=save_to, fast=fast, live=not plain and sys.stdout.isatty(),
                      console_port=console_port if show_console else None)  # fmt: skip
    sys.exit(0 if ok else 1)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("azure", "urllib3", "msal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="graphops")
