"""The practice stack (`graphops local --seed`) and the operator's commands against it, run as a user runs them:
every state listed, either id of a dead letter, cancel and track again, camelCase in every --json, start checks and
one-line errors for a port taken, storage down, a fresh account and no sign-in."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from graphops.cli.local_commands import PRACTICE_PORTS
from graphops.local.azurite import free_port
from graphops.local.stack import LocalStack

from ..patience import patience
from .conftest import ROOT
from .test_cli import GRAPHOPS
from .test_cli_errors import no_storage, said_once, signed_out, write

SEEDED = ("polling", "succeeded", "failed", "timedOut", "forbidden", "deliveryFailed", "cancelled")


def free_run(count: int) -> int:
    """The first of ``count`` consecutive free loopback ports, below the range the system hands out for port 0
    (32768 on): a port another test's server is given meanwhile can then never fall inside the run."""
    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20_000, 32_000 - count)
        if all(_free(first + n) for n in range(count)):
            return first
    raise AssertionError("no run of free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def command(folder: Path, *args: str, timeout: float = 60, columns: int = 100) -> subprocess.CompletedProcess[str]:
    """`graphops ARGS` where the practice stack wrote its local.settings.json (the default --settings)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHOPS_", "IDENTITY_", "AzureWebJobs"))}
    env["COLUMNS"] = str(columns)
    return subprocess.run([*GRAPHOPS, *args], capture_output=True, text=True, timeout=patience(timeout), cwd=folder,
                          env=env, check=False)  # fmt: skip


@dataclass
class Practice:
    folder: Path
    port: int
    process: subprocess.Popen[str]


@pytest.fixture(scope="module")
def practice(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Practice]:
    """`graphops local --seed` (as the demo's hint says) on free ports, in a folder of its own."""
    folder = tmp_path_factory.mktemp("practice")
    port = free_run(len(PRACTICE_PORTS) + 3)
    storage = port + len(PRACTICE_PORTS)  # the stack's ports, then Azurite's three
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHOPS_", "IDENTITY_", "AzureWebJobs"))}
    process = subprocess.Popen(
        [*GRAPHOPS, "local", "--seed", "--port", str(port), "--storage-port", str(storage)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=folder, env={**env, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert process.stderr is not None
    said = []
    for line in process.stderr:  # until the seed is in: the stack then waits for Ctrl-C
        said.append(line)
        if line.startswith("seeded "):
            break
    assert said and said[-1].startswith("seeded "), "".join(said)
    yield Practice(folder, port, process)
    process.send_signal(signal.SIGINT)  # Ctrl-C: every part stops
    _, rest = process.communicate(timeout=patience(60))
    assert process.returncode == 0 and "graphops local: stopped" in rest, rest


def test_the_practice_stack_lists_a_tracking_in_every_state_and_a_dead_letter(practice: Practice) -> None:
    listed = json.loads(command(practice.folder, "list", "--from", "", "--json").stdout)
    standings = {row["standing"] for row in listed["trackings"]}
    assert set(SEEDED) <= standings
    throttled = [r for r in listed["trackings"] if r["correlationId"] == "practice-throttled"]
    assert throttled and throttled[0]["nextPollAt"]  # waiting on Graph's Retry-After
    table = command(practice.folder, "list", "--from", "")
    assert table.returncode == 0 and max(len(line) for line in table.stdout.splitlines()) <= 100
    poison = command(practice.folder, "poison", "list")  # the demo's hint, word for word
    assert poison.returncode == 0 and "1 dead-lettered" in poison.stdout
    assert max(len(line) for line in poison.stdout.splitlines()) <= 100


def test_the_practice_stack_has_a_tracking_waiting_for_a_paused_budget_and_a_kind_with_a_learned_schedule(
    practice: Practice,
) -> None:
    rows = json.loads(command(practice.folder, "list", "--from", "", "--json").stdout)["trackings"]
    by_name = {r["correlationId"]: r["trackingId"] for r in rows}
    waiting = json.loads(command(practice.folder, "status", by_name["practice-budgetWait"], "--json").stdout)
    assert waiting["waitingFor"] == "budget" and waiting["history"][-1]["budget"] == "identity"
    learned = json.loads(command(practice.folder, "status", by_name["practice-learned"], "--json").stdout)
    assert any(str(h.get("schedule", "")).startswith("learned") for h in learned["history"])
    # The budget says why: paused by the throttled tracking's 429, with the waiting tracking listed.
    listed = command(practice.folder, "budgets", "--json")
    [identity] = [b for b in json.loads(listed.stdout) if b["service"] == "identity"]
    assert identity["pausedBy"] == by_name["practice-throttled"] and identity["pausedUntil"]
    assert by_name["practice-budgetWait"] in {w["trackingId"] for w in identity["waiting"]}
    table = command(practice.folder, "budgets")
    assert table.returncode == 0 and "identity" in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 100


def test_a_dead_letter_is_shown_by_its_message_id_or_its_tracking_id(practice: Practice) -> None:
    [entry] = json.loads(command(practice.folder, "poison", "list", "--json").stdout)
    by_message = json.loads(command(practice.folder, "poison", "show", entry["id"], "--json").stdout)
    by_tracking = json.loads(command(practice.folder, "poison", "show", entry["trackingId"], "--json").stdout)
    assert by_message == by_tracking and by_message["reason"].endswith("callback answered 410")
    missing = command(practice.folder, "poison", "show", "no-such-id")
    said_once(missing, "id: no-such-id is neither a message id nor a tracking id")


def test_cancel_and_track_again_from_the_command(practice: Practice) -> None:
    rows = json.loads(command(practice.folder, "list", "--from", "", "--json").stdout)["trackings"]
    [timed_out] = [r["trackingId"] for r in rows if r["correlationId"] == "practice-timedOut"]
    again = command(practice.folder, "retrack", timed_out)
    assert again.returncode == 0, again.stderr
    new_id = again.stdout.strip()
    status = json.loads(command(practice.folder, "status", new_id, "--json").stdout)
    assert status["correlationId"] == "practice-timedOut" and status["trackedSince"] > timed_out_since(rows)
    said_once(command(practice.folder, "retrack", timed_out), f"was already tracked again, as {new_id}")
    [running] = [r["trackingId"] for r in rows if r["correlationId"] == "practice-running"]
    cancelled = command(practice.folder, "cancel", running, "--json")
    assert json.loads(cancelled.stdout)["outcome"] == "cancelled"
    assert json.loads(command(practice.folder, "status", running, "--json").stdout)["phase"] == "done"
    [succeeded] = [r["trackingId"] for r in rows if r["correlationId"] == "practice-succeeded"]
    said_once(command(practice.folder, "retrack", succeeded), "ended succeeded")


def timed_out_since(rows: list[dict[str, Any]]) -> str:
    return str(next(r["trackedSince"] for r in rows if r["correlationId"] == "practice-timedOut"))


def camel_keys(doc: Any, where: str = "") -> list[str]:
    """Every key graphops wrote that is not camelCase (Graph's operation and a caller's context are their data)."""
    wrong = []
    if isinstance(doc, dict):
        for key, value in doc.items():
            if not re.fullmatch(r"[a-z][A-Za-z0-9]*", key):
                wrong.append(f"{where}.{key}")
            if key not in ("operation", "context", "counts"):
                wrong += camel_keys(value, f"{where}.{key}")
    elif isinstance(doc, list):
        for item in doc:
            wrong += camel_keys(item, where)
    return wrong


def test_every_json_output_is_camel_case(practice: Practice) -> None:
    from graphops.cli import cli

    rows = json.loads(command(practice.folder, "list", "--from", "", "--json").stdout)["trackings"]
    [entry] = json.loads(command(practice.folder, "poison", "list", "--json").stdout)
    [running] = [r["trackingId"] for r in rows if r["correlationId"] == "practice-running"]
    [failed] = [r["trackingId"] for r in rows if r["correlationId"] == "practice-failed"]
    runs = {
        "list": ["list", "--from", ""], "status": ["status", running], "poison list": ["poison", "list"],
        "poison show": ["poison", "show", entry["id"]], "cancel": ["cancel", running], "retrack": ["retrack", failed],
        "index rebuild": ["index", "rebuild"], "poison discard": ["poison", "discard", "no-such-id"],
        "budgets": ["budgets"], "budgets reset": ["budgets", "reset", "places", "--tenant", "nobody", "--yes"],
        "poison requeue": ["poison", "requeue", "no-such-id"],
        "track": ["track", "/v1.0/users/u/authentication/operations/o", "--notify", "callback", "--callback",
                  f"http://127.0.0.1:{practice.port + 4}/x"],
    }  # fmt: skip
    # Every command with --json is here but watch and start, whose outputs test_cli.py reads as JSON, and consent
    # check, which needs a customer tenant (test_tenants.py reads its JSON).
    with_json = {name for name, sub in _commands(cli) if any(p.name == "as_json" for p in sub.params)}
    assert with_json - {"watch", "start", "consent check"} == set(runs)
    for name, args in runs.items():
        out = command(practice.folder, *args, "--json")
        assert out.stdout, (name, out.stderr)
        assert camel_keys(json.loads(out.stdout)) == [], name


def _commands(group: Any, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, sub in group.commands.items():
        if hasattr(sub, "commands"):
            if sub.invoke_without_command:  # a group that is a command of its own too (`graphops budgets`)
                yield f"{prefix}{name}", sub
            yield from _commands(sub, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", sub


def test_a_fresh_account_has_no_dead_letters(stack: LocalStack, tmp_path: Path) -> None:
    settings = write(tmp_path / "s.json", stack.environment(GRAPHOPS_QUEUE_NAME="never-used"))
    listed = command(tmp_path, "--settings", str(settings), "poison", "list")
    assert listed.returncode == 0 and listed.stdout.strip() == "no dead letters", listed.stderr
    assert json.loads(command(tmp_path, "--settings", str(settings), "poison", "list", "--json").stdout) == []


@pytest.mark.parametrize("what", ["run", "console"])
def test_storage_down_at_start_is_one_line(stack: LocalStack, tmp_path: Path, what: str) -> None:
    args = ["run", "--app-dir", str(ROOT), "--port", str(free_port())] if what == "run" else ["console", "--port", "0"]
    result = command(tmp_path, "--settings", str(no_storage(tmp_path, stack)), *args, timeout=30)
    said_once(result, "cannot reach storage at http://127.0.0.1:")


@pytest.mark.skipif(shutil.which("az", path="/usr/bin:/bin") is not None, reason="the Azure CLI is installed here")
def test_run_without_a_sign_in_stops_at_start(stack: LocalStack, tmp_path: Path) -> None:
    settings = write(tmp_path / "s.json", signed_out(tmp_path, stack.environment()))
    result = command(tmp_path, "--settings", str(settings), "run", "--app-dir", str(ROOT), "--port", "0", timeout=60)
    said_once(result, "not signed in: run `az login`")
    assert stack.graph.requests("GET", "/") == []


@pytest.mark.parametrize("what", ["console", "local", "demo"])
def test_a_port_in_use_is_one_line(stack: LocalStack, tmp_path: Path, what: str) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        settings = str(write(tmp_path / "s.json", stack.environment()))
        args = {"console": ["console", "--port", port], "local": ["local", "--port", port],
                "demo": ["demo", "--console", "--console-port", port]}[what]  # fmt: skip
        result = command(tmp_path, "--settings", settings, *args, timeout=30)
    option = "--console-port" if what == "demo" else "--port"
    said_once(result, f"127.0.0.1:{port} is in use", f"choose another port with {option}")


def test_local_keeps_a_settings_file_it_did_not_write(tmp_path: Path) -> None:
    from graphops.cli.local_commands import _write_practice_settings

    mine = tmp_path / "local.settings.json"
    mine.write_text('{"Values": {"AzureWebJobsStorage": "UseDevelopmentStorage=true"}}')
    env = {name: f"value of {name}" for name in ("AzureWebJobsStorage", "GRAPHOPS_QUEUE_NAME",
           "GRAPHOPS_GRAPH_ENDPOINT", "GRAPHOPS_CALLBACK_ALLOWED_HOSTS", "GRAPHOPS_MONITOR_ALLOWED_HOSTS",
           "GRAPHOPS_ALLOW_HTTP_CALLBACKS")}  # fmt: skip
    said = _write_practice_settings(mine, env, force=False)
    assert "kept" in said and "UseDevelopmentStorage" in mine.read_text()
    _write_practice_settings(mine, env, force=True)
    assert "value of AzureWebJobsStorage" in mine.read_text()
    assert "UseDevelopmentStorage" in (tmp_path / "local.settings.json.bak").read_text()
