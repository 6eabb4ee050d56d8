"""What every ``graphops`` command shares: the group, its settings, one-line errors, ``--json``."""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from graphops.common.errors import GraphOpsError, PortInUse, SettingsError
from graphops.storage.connection import STORAGE_SETTING

STORAGE_SCOPE = "https://storage.azure.com/.default"

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
def clear_errors(port_option: str = "--port") -> Iterator[None]:
    """The user's mistakes and the world's state (no sign-in, no storage, a port taken) are one line naming the cause
    and the way out, exit 2; any other failure of a service is one line too, exit 1."""
    from azure.core.exceptions import AzureError, ClientAuthenticationError, ServiceRequestError

    try:
        yield
    except PortInUse as exc:
        fail(f"{exc}: stop it, or choose another port with {port_option}")
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


def camel(name: str) -> str:
    """A Python name as every ``--json`` output spells its keys (the API's, the callback's): camelCase."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def short_id(tracking_id: str | None) -> str:
    """A tracking or message id as a table shows it: its first 8 characters, enough to tell rows apart in a table
    that fits 100 columns; `--json` has the whole id."""
    return (tracking_id or "")[:8]


def ago(raw: str | None, now: Any) -> str:
    """An ISO 8601 time as "3 min ago" or "in 2 min"; "" for none."""
    from graphops.console.times import moment

    shown = moment(raw, now)
    return str(shown) if shown else ""


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


def reach_storage(obj: Context) -> tuple[Any, Any]:
    """The settings and the storage credential, once the account has answered: in seconds, or one line why not."""
    from graphops.settings import Settings
    from graphops.storage.queues import probe, queue_client
    from graphops.wiring import graph_credential, storage_credential

    settings = Settings.from_env(obj.env())
    storage = settings.storage
    credential = None if storage.connection_string else storage_credential(settings, graph_credential(settings))
    probe(queue_client(storage, settings.queue_name, credential, encoded=False), storage)
    return settings, credential


SIGN_IN_SECONDS = 15  # DefaultAzureCredential tries each way to sign in in turn; a few seconds each at most
NO_IDENTITY = ("not signed in: no managed identity answers here - set GRAPHOPS_CREDENTIAL=default and run `az login` "
               "to sign in as you")  # fmt: skip


def check_sign_in(settings: Any, credential: Any, scope: str) -> None:
    """A token for ``scope`` now, within seconds, or one line saying how to sign in (exit 2): without it every poll
    (or every storage call) would fail alike, each with azure-identity's account of what it tried."""
    from azure.core.exceptions import AzureError

    outcome: list[BaseException | None] = []

    def ask() -> None:
        try:
            credential.get_token(scope)
            outcome.append(None)
        except AzureError as exc:
            outcome.append(exc)

    asking = threading.Thread(target=ask, name="sign-in check", daemon=True)  # a hung probe is left behind
    asking.start()
    asking.join(SIGN_IN_SECONDS)
    way_out = NOT_SIGNED_IN if settings.credential == "default" else NO_IDENTITY
    if not outcome:
        fail(f"{way_out} (no token for {scope} within {SIGN_IN_SECONDS}s)")
    if outcome[0] is not None:
        fail(way_out)


def check_start(env: dict[str, str], *, graph: bool) -> tuple[Any, Any]:
    """What `graphops run` and `graphops console` check before they serve: signed in (a token for Graph when
    ``graph``, one for storage when it is reached with an identity) and storage answering. The settings and the
    storage credential (None with a connection string)."""
    from graphops.settings import Settings
    from graphops.storage.queues import probe, queue_client
    from graphops.wiring import developer_credential, graph_credential, storage_credential

    settings = Settings.from_env(env)
    graph_identity = graph_credential(settings)
    if graph:
        check_sign_in(settings, graph_identity, settings.cloud.token_scope)
    storage = settings.storage
    credential = None
    if not storage.connection_string:
        credential = storage_credential(settings, graph_identity) if graph else developer_credential(settings)
        check_sign_in(settings, credential, STORAGE_SCOPE)
    probe(queue_client(storage, settings.queue_name, credential, encoded=False), storage)
    return settings, credential


def _storage_suffix(env: dict[str, str]) -> str:
    from graphops.settings import Settings

    return Settings.from_env(env, need_storage=False).cloud.storage_suffix


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s", stream=sys.stderr)
    for noisy in ("azure", "urllib3", "msal"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # The sign-in was checked at start (check_sign_in); should it lapse, each failed step says so in the runner's own
    # line, not with azure-identity's many-line account of every credential it tried, on every poll.
    logging.getLogger("azure.identity").setLevel(logging.ERROR)


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="graphops")
