"""The ``graphops`` command when the user or the world gets something wrong: one line naming the cause and the
way out, exit 2, never a traceback; and ``graphops status`` and ``graphops list``, read as an operator does."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from graphops.console import build_console
from graphops.console.access import Operator
from graphops.console.pages import ConsoleRequest
from graphops.local import seed
from graphops.local.azurite import free_port
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.settings import Settings

from .conftest import Harness
from .test_cli import graphops, queued

OPERATION = "/v1.0/users/u/authentication/operations/o"
CLOSED = "http://127.0.0.1:{port}/devstoreaccount1"


def said_once(result: Any, *needles: str) -> None:
    """Exit 2, and the whole of stderr one line holding every needle."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def write(path: Path, values: dict[str, str]) -> Path:
    path.write_text(json.dumps({"IsEncrypted": False, "Values": values}))
    return path


def no_storage(tmp_path: Path, stack: LocalStack) -> Path:
    """The stack's settings, with storage on a loopback port where nothing listens."""
    port = free_port()
    closed = CLOSED.format(port=port)
    conn = f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={'A' * 88};" + ";".join(
        f"{service}Endpoint={closed.replace(str(port), str(port + i))}" for i, service in enumerate(("Queue", "Table"))
    )
    return write(tmp_path / "closed.json", {**stack.environment(), "AzureWebJobsStorage": conn})


def signed_out(tmp_path: Path, values: dict[str, str]) -> dict[str, str]:
    """Settings that sign in as a developer on a machine where nobody signed in: DefaultAzureCredential's developer
    credentials only (no managed identity endpoint is probed), and a home with no cached sign-in."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**values, "GRAPHOPS_CREDENTIAL": "default", "AZURE_TOKEN_CREDENTIALS": "dev", "HOME": str(home),
            "PATH": "/usr/bin:/bin"}  # fmt: skip


def test_a_callback_host_that_does_not_resolve_is_one_line(stack: LocalStack, tmp_path: Path) -> None:
    # .invalid never resolves (RFC 2606); the host is allowed, so DNS is what refuses it.
    settings = write(tmp_path / "s.json", stack.environment(GRAPHOPS_CALLBACK_ALLOWED_HOSTS="*.example.invalid"))
    result = graphops(settings, "track", OPERATION, "--callback", "https://hooks.example.invalid/cb")
    said_once(result, "callbackUrl: host hooks.example.invalid does not resolve", "check its spelling")
    assert queued(stack) == 0


@pytest.mark.skipif(shutil.which("az", path="/usr/bin:/bin") is not None, reason="the Azure CLI is installed here")
def test_watch_without_a_sign_in_stops_at_once(stack: LocalStack, tmp_path: Path) -> None:
    settings = write(tmp_path / "s.json", signed_out(tmp_path, stack.environment()))
    result = graphops(settings, "watch", stack.graph.url + seed.ALERT_OPERATION_PATH, timeout=60)
    said_once(result, "not signed in: run `az login`")
    assert stack.graph.requests("GET", seed.ALERT_OPERATION_PATH) == []  # no poll without a token


@pytest.mark.skipif(shutil.which("az", path="/usr/bin:/bin") is not None, reason="the Azure CLI is installed here")
def test_track_to_an_account_without_a_sign_in_stops_at_once(stack: LocalStack, tmp_path: Path) -> None:
    env = {k: v for k, v in stack.environment().items() if k != "AzureWebJobsStorage"}
    env["AzureWebJobsStorage__queueServiceUri"] = f"https://127.0.0.1:{free_port()}/devstoreaccount1"
    settings = write(tmp_path / "s.json", signed_out(tmp_path, env))
    result = graphops(settings, "track", OPERATION, "--callback", stack.callback_url(), timeout=60)
    said_once(result, "not signed in: run `az login`")


@pytest.mark.parametrize("command", [["poison", "list"], ["list"], ["status", "00000000-0000-4000-8000-000000000000"]])
def test_storage_that_does_not_answer_is_said_in_seconds(stack: LocalStack, tmp_path: Path, command: list[str]) -> None:
    # The clients' own retries took over a minute to give up; the bound here is far from either.
    result = graphops(no_storage(tmp_path, stack), *command, timeout=30)
    said_once(result, "cannot reach storage at http://127.0.0.1:", "is Azurite running? (`make azurite` starts it)")


def test_track_with_storage_down_is_said_before_anything_else(stack: LocalStack, tmp_path: Path) -> None:
    result = graphops(no_storage(tmp_path, stack), "track", OPERATION, "--callback", stack.callback_url(), timeout=30)
    said_once(result, "cannot reach storage at http://127.0.0.1:")


def test_the_consoles_503_says_where_storage_is_and_what_to_start(stack: LocalStack) -> None:
    port = free_port()
    env = {**stack.environment(), "AzureWebJobsStorage": (
        f"DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey={'A' * 88};"
        f"QueueEndpoint={CLOSED.format(port=port)};TableEndpoint={CLOSED.format(port=port)}")}  # fmt: skip
    console = build_console(Settings.from_env(env), None, root="/", authorize=lambda _: Operator("op", "Op"))
    page = console.handle(ConsoleRequest("GET", ""))
    assert page.status == 503
    assert f"cannot reach storage at {CLOSED.format(port=port)}" in page.body.decode()
    assert "make azurite" in page.body.decode()


def test_no_storage_setting_says_to_copy_the_example(stack: LocalStack, tmp_path: Path) -> None:
    values = {k: v for k, v in stack.environment().items() if k != "AzureWebJobsStorage"}
    result = graphops(write(tmp_path / "s.json", values), "poison", "list")
    said_once(result, "AzureWebJobsStorage: not set", "copy local.settings.example.json to local.settings.json")


def test_track_without_a_callback_needs_another_sink(stack: LocalStack, tmp_path: Path) -> None:
    settings = write(tmp_path / "s.json", stack.environment())
    said_once(graphops(settings, "track", OPERATION), "callbackUrl")
    said_once(graphops(settings, "track", OPERATION, "--notify", "events"), "notify: events: not configured")


def test_status_and_list_show_what_the_console_shows(make_harness: Any, tmp_path: Path) -> None:
    h: Harness = make_harness()
    h.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("running")),
                                               Reply(200, seed.alert_refresh("succeeded"))])  # fmt: skip
    tracking_id = h.track(seed.ALERT_OPERATION_PATH, correlation_id="nightly-[b]refresh[/b]")
    h.run()
    settings = write(tmp_path / "s.json", h.env)

    status = graphops(settings, "status", tracking_id, "--json")
    assert status.returncode == 0, status.stderr
    view = json.loads(status.stdout)
    assert (view["trackingId"], view["outcome"], view["phase"], view["polls"]) == (tracking_id, "succeeded", "done", 2)
    assert view["standing"] == "succeeded"
    human = graphops(settings, "status", tracking_id)
    assert "succeeded" in human.stdout and "nightly-[b]refresh[/b]" in human.stdout  # shown as written

    listed = graphops(settings, "list", "--json", "--correlation-id", "nightly-[b]refresh[/b]")
    assert listed.returncode == 0, listed.stderr
    doc = json.loads(listed.stdout)
    assert [row["trackingId"] for row in doc["trackings"]] == [tracking_id] and doc["counts"] == {"succeeded": 1}
    table = graphops(settings, "list", "--state", "succeeded")
    assert tracking_id[:8] in table.stdout and "nightly-[b]refresh[/b]" in table.stdout
    said_once(graphops(settings, "list", "--state", "great"), "state: 'great' is not one of")
    assert tracking_id[:8] not in graphops(settings, "list", "--state", "deliveryFailed").stdout
    said_once(graphops(settings, "status", "not an id"), "tracking_id:")
    said_once(graphops(settings, "status", "00000000-0000-4000-8000-000000000000"), "is not recorded here")
