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
