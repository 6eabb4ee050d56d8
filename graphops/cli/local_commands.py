"""``graphops run``, ``graphops console`` and ``graphops demo``: the app, its console and the whole loop on
this machine.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from graphops.cli.base import Context, account_option, check_start, clear_errors, cli, configure_logging, pass_context


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
    from graphops.runner import LocalHost, QueueOptions, load_app

    env = obj.env()
    if queue_service_uri:
        env.pop("AzureWebJobsStorage", None)
        env["AzureWebJobsStorage__queueServiceUri"] = queue_service_uri
        env.setdefault("GRAPHOPS_CREDENTIAL", "default")
    os.environ.update(env)  # the function reads its settings where the host puts them
    with clear_errors():
        settings, credential = check_start(env, graph=True)  # before a poll: one line, not one failure per poll
        options = QueueOptions.from_host_json(app_dir / "host.json")
        app = load_app(app_dir.resolve())
        configure_logging()
        if credential is not None:
            uri = settings.storage.queue_endpoint
            host = LocalHost.for_account(app, env, options, uri, credential, workers=workers)
        else:
            host = LocalHost.for_connection_string(app, env, options, workers=workers)
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        base = host.start_http(port) if host.http_functions else None
        names = ", ".join(f"{f.name} <- queue {f.queue_name}" for f in host.functions)
        click.echo(f"graphops runner: serving {names}. Ctrl-C stops.", err=True)
        for function in host.http_functions:
            methods = ",".join(sorted(function.methods))
            click.echo(f"  {function.name}: [{methods}] {base}/api/{function.route}", err=True)
        try:
            host.serve(stop)
        finally:
            host.close()
    click.echo("graphops runner: stopped.", err=True)


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
        settings, credential = check_start(obj.env(), graph=False)
        server = console_server(settings, credential, port)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with server:
        click.echo(f"graphops console: {server.url}/ (loopback only). Ctrl-C stops.", err=True)
        stop.wait()


def console_server(settings: Any, credential: Any, port: int) -> Any:
    """The loopback console over the settings' storage (Azurite, or an account read with a sign-in)."""
    from graphops.console import build_console
    from graphops.console.local import LocalConsole

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
    from graphops.demo import run_demo
    from graphops.local.httpserver import ensure_free

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # unwind, so every child process is stopped
    if show_console is None:
        show_console = sys.stdin.isatty() and sys.stdout.isatty()
    with clear_errors(port_option="--console-port"):
        if show_console:
            ensure_free(console_port)
        ok = run_demo(save_to=save_to, fast=fast, live=not plain and sys.stdout.isatty(),
                      console_port=console_port if show_console else None)  # fmt: skip
    sys.exit(0 if ok else 1)


# The practice stack's fixed ports, from --port: the runner's API, the console, then the stand-ins.
PRACTICE_PORTS = ("API", "console", "identity", "Graph", "receiver", "SharePoint", "Event Grid", "tenant sign-in")
# What the written local.settings.json holds: what every command needs to reach the stack (storage, queue, the hosts a
# callback or a monitor may be on); never the stand-ins' secrets, which are new each time the stack starts.
PRACTICE_SETTINGS = (
    "AzureWebJobsStorage",
    "GRAPHOPS_QUEUE_NAME",
    "GRAPHOPS_GRAPH_ENDPOINT",
    "GRAPHOPS_CALLBACK_ALLOWED_HOSTS",
    "GRAPHOPS_MONITOR_ALLOWED_HOSTS",
    "GRAPHOPS_ALLOW_HTTP_CALLBACKS",
)


@cli.command("local")
@click.option(
    "--port",
    type=click.IntRange(1, 65528),
    default=7071,
    show_default=True,
    help="The runner's API; the console on the next port, then identity, Graph, the callback receiver, "
    "SharePoint and Event Grid stand-ins.",
)
@click.option(
    "--storage-port",
    type=click.IntRange(1, 65533),
    default=10000,
    show_default=True,
    help="Azurite's blob port; queue and table on the next two (10000: UseDevelopmentStorage=true's).",
)
@click.option(
    "--data",
    type=click.Path(file_okay=False, path_type=Path),
    default=".azurite",
    show_default=True,
    help="Where Azurite keeps its data, from one start to the next.",
)
@click.option("--seed", is_flag=True, help="Fill it with a tracking in every state (and a dead letter).")
@click.option(
    "--force",
    is_flag=True,
    help="Write the settings file even when one is there (the old one is kept beside it as .bak).",
)
@pass_context
def local(obj: Context, port: int, storage_port: int, data: Path, seed: bool, force: bool) -> None:
    """A practice stack that stays up until Ctrl-C: Azurite, the Graph and identity stand-ins, the runner and the
    console, on fixed ports. Writes the settings file (--settings) so that every other command reaches it."""
    from graphops.demo import APP_DIR, practice_poll_delays, seed_every_state
    from graphops.local.azurite import Azurite
    from graphops.local.httpserver import ensure_free
    from graphops.local.stack import LocalStack

    ports = [port + n for n in range(len(PRACTICE_PORTS))]
    with clear_errors():
        for taken in ports:
            ensure_free(taken)
    with clear_errors(port_option="--storage-port"):
        for taken in range(storage_port, storage_port + 3):
            ensure_free(taken)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with (
        clear_errors(),
        Azurite(location=data, first_port=storage_port) as azurite,
        LocalStack(azurite=azurite, first_port=port + 2) as stack,
    ):
        env = stack.environment()
        if seed:  # the seeded kind with a learned schedule keeps it (not fixed to the stack's 1-2 s)
            env["GRAPHOPS_KIND_POLL_DELAYS"] = practice_poll_delays()
        written = _write_practice_settings(obj.settings_path, env, force)
        _serve_practice(stack, env, port, stop, written, seed and seed_every_state, APP_DIR)
    click.echo("graphops local: stopped (Azurite's data kept in " + str(data) + ").", err=True)


def _write_practice_settings(path: Path | None, env: dict[str, str], force: bool) -> str:
    """Write the settings file the other commands read, unless one that differs is there: then keep it and say so
    (overwritten only with --force, the old one kept as .bak). Returns what was done, in words."""
    import json

    if path is None:
        return "no settings file written (--settings '')"
    doc = {"IsEncrypted": False, "Values": {"FUNCTIONS_WORKER_RUNTIME": "python",
                                            **{name: env[name] for name in PRACTICE_SETTINGS}}}  # fmt: skip
    text = json.dumps(doc, indent=2) + "\n"
    if path.exists() and path.read_text() != text:
        if not force:
            return f"{path} is there and points elsewhere: kept (--force writes this stack's, keeping it as .bak)"
        path.replace(path.with_name(path.name + ".bak"))
    path.write_text(text)
    return f"settings in {path}"


def _serve_practice(
    stack: Any, env: dict[str, str], port: int, stop: threading.Event, written: str, seed: Any, app_dir: Path
) -> None:
    from graphops import functions
    from graphops.client import GraphOpsClient
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.runner import LocalHost, QueueOptions, load_app
    from graphops.settings import Settings

    os.environ.update(env)  # the functions read their settings where the host puts them
    functions.reset()
    host = LocalHost.for_connection_string(load_app(app_dir), env, QueueOptions.from_host_json(app_dir / "host.json"))
    settings = Settings.from_env(env)
    try:
        api = host.start_http(port)
        serving = threading.Thread(target=host.serve, args=(stop,), name="practice runner", daemon=True)
        serving.start()
        build = lambda authorize: build_console(settings, None, root="/", authorize=authorize)  # noqa: E731
        with LocalConsole(build, port + 1) as pages:
            azurite = stack.azurite
            click.echo(f"graphops local: Azurite 127.0.0.1:{azurite.blob_port}-{azurite.table_port}, "
                       f"API {api}/api/, console {pages.url}/, Graph stand-in {stack.graph.url}; {written}. "
                       "Ctrl-C stops.", err=True)  # fmt: skip
            if seed:
                trackings = seed(stack, GraphOpsClient.from_env(env), env)
                click.echo(f"seeded {len(trackings)} trackings, one per state ({', '.join(trackings)}), and a dead "
                           "letter: try `graphops list --from ''` and `graphops poison list`", err=True)  # fmt: skip
            stop.wait()
        serving.join(timeout=30)
    finally:
        host.close()
