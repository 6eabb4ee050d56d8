"""The ``graphops`` command, run as a user runs it: a subprocess, settings in local.settings.json."""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack

from ..patience import patience, wait_until
from .conftest import ROOT, Harness

GRAPHOPS = [sys.executable, "-m", "graphops"]


@pytest.fixture
def settings_file(stack: LocalStack, tmp_path: Path) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": stack.environment()}))
    return path


def graphops(settings_file: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHOPS_", "IDENTITY_", "AzureWebJobs"))}
    env["COLUMNS"] = "240"  # a wide terminal, so tables are not folded
    return subprocess.run(
        [*GRAPHOPS, "--settings", str(settings_file), *args],
        capture_output=True, text=True, timeout=patience(timeout), cwd=ROOT, env=env, check=False,
    )  # fmt: skip


def queued(stack: LocalStack) -> int:
    """Messages on the stack's trigger queue (none when the queue was never created)."""
    from azure.core.exceptions import ResourceNotFoundError
    from azure.storage.queue import QueueClient

    queue = QueueClient.from_connection_string(stack.azurite.connection_string, stack.queue_name)
    try:
        return len(queue.peek_messages(max_messages=32))
    except ResourceNotFoundError:
        return 0


def wait_for(predicate: Any, timeout: float = 30) -> None:
    wait_until(predicate, timeout, "the awaited condition")


def test_track_then_run_delivers_the_callback_and_the_runner_stops_cleanly(
    stack: LocalStack, settings_file: Path
) -> None:
    stack.graph.script(
        seed.ALERT_OPERATION_PATH,
        [Reply(200, seed.alert_refresh("running")), Reply(200, seed.alert_refresh("succeeded"))],
    )
    options = ["--callback", stack.callback_url(), "--correlation-id", "cli", "--context", '{"a": 1}', "--json"]
    tracked = graphops(settings_file, "track", stack.graph.url + seed.ALERT_OPERATION_PATH, *options)
    assert tracked.returncode == 0, tracked.stderr
    tracking_id = json.loads(tracked.stdout)["trackingId"]

    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHOPS_", "IDENTITY_", "AzureWebJobs"))}
    runner = subprocess.Popen(
        [*GRAPHOPS, "--settings", str(settings_file), "run", "--app-dir", str(ROOT)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(stack.receiver.delivered)
    finally:
        runner.send_signal(signal.SIGINT)
        _, err = runner.communicate(timeout=patience(30))
    assert runner.returncode == 0, err
    assert "serving track_operation" in err and "stopped" in err
    [callback] = stack.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.verified
    assert (callback.body["outcome"], callback.body["correlationId"], callback.body["context"]) == (
        "succeeded",
        "cli",
        {"a": 1},
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["https://graph.microsoft.us/v1.0/users/u/authentication/operations/o"], "error: operationUrl: host must be"),
        (["/v1.0/users/u/authentication/operations/o", "--context", "{nope"], "error: context: not valid JSON"),
        (["/v1.0/users/u/authentication/operations/o", "--timeout", "0"], "error: timeoutSeconds:"),
        (["/v1.0/users/u/authentication/operations/o", "--select", "a,b"], "error: select:"),
    ],
)
def test_track_refuses_wrong_input_with_one_line_and_exit_2(
    stack: LocalStack, settings_file: Path, args: list[str], message: str
) -> None:
    result = graphops(settings_file, "track", *args, "--callback", stack.callback_url())
    assert result.returncode == 2
    assert result.stderr.startswith(message) and result.stderr.count("\n") == 1
    assert queued(stack) == 0  # refused before anything was enqueued


def test_track_refuses_a_callback_outside_the_allowed_hosts(settings_file: Path) -> None:
    result = graphops(
        settings_file, "track", "/v1.0/users/u/authentication/operations/o", "--callback", "https://example.com/x"
    )
    assert (
        result.returncode == 2
        and "callbackUrl: host example.com is not in GRAPHOPS_CALLBACK_ALLOWED_HOSTS" in result.stderr
    )


def test_a_bad_setting_is_named(stack: LocalStack, tmp_path: Path) -> None:
    path = tmp_path / "bad.settings.json"
    path.write_text(json.dumps({"Values": {**stack.environment(), "GRAPHOPS_MAX_DELAY_SECONDS": "soon"}}))
    result = graphops(path, "track", "/v1.0/users/u/authentication/operations/o", "--callback", stack.callback_url())
    assert result.returncode == 2 and result.stderr.startswith(
        "error: GRAPHOPS_MAX_DELAY_SECONDS: must be a whole number"
    )


def test_watch_follows_an_operation_to_its_end(stack: LocalStack, settings_file: Path) -> None:
    path = seed.reset_path("u1", "watched")
    stack.graph.script(path, [Reply(200, seed.password_reset(s)) for s in ("notStarted", "running", "succeeded")])
    result = graphops(settings_file, "watch", path, "--json")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line.get("status") for line in lines[:-1]] == ["notStarted", "running", "succeeded"]
    assert lines[-1]["outcome"] == "succeeded"


def test_watch_exits_non_zero_when_the_operation_does_not_succeed(stack: LocalStack, settings_file: Path) -> None:
    path = seed.reset_path("u1", "denied")
    for version in ("v1.0", "beta"):  # refused on both: watch, too, asks the beta twin once
        stack.graph.script(seed.reset_path("u1", "denied", version),
                           [Reply(403, seed.graph_error("Authorization_RequestDenied", "no"))])  # fmt: skip
    result = graphops(settings_file, "watch", path)
    assert result.returncode == 1
    assert "outcome: forbidden" in result.stdout and "UserAuthenticationMethod.Read.All" in result.stdout
    bad = graphops(settings_file, "watch", "/v1.0/groups/g")
    assert bad.returncode == 2 and bad.stderr.startswith("error: operationUrl:")


def test_poison_list_show_and_requeue(make_harness: Any, settings_file: Path) -> None:
    h: Harness = make_harness()
    first = h.send_raw("this is not JSON")
    h.send_raw('{"operationUrl": "/v1.0/users/u/authentication/operations/o", "callbackUrl": "https://10.0.0.1/x"}')
    h.run()

    listed = graphops(settings_file, "poison", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = {e["trackingId"]: e for e in json.loads(listed.stdout)}
    assert entries[first]["reason"] == "rejected: message: not valid JSON"
    assert entries[first]["original"] == "this is not JSON"
    assert any(e["field"] == "callbackUrl" for e in entries.values())
    human = graphops(settings_file, "poison", "list")
    assert "not valid JSON" in human.stdout

    entry_id = entries[first]["id"]
    shown = graphops(settings_file, "poison", "show", entry_id)
    assert shown.returncode == 0 and "reason:   rejected: message: not valid JSON" in shown.stdout

    # Nothing graphops can read is in it: requeued, it would only be rejected again. It stays, and says so.
    refused = graphops(settings_file, "poison", "requeue", entry_id)
    assert refused.returncode == 1 and refused.stderr.count("\n") == 1
    assert f"cannot be requeued ({entry_id}: not a JSON object" in refused.stderr and "discard" in refused.stderr
    [private] = [e for e in entries.values() if e["id"] != entry_id]
    moved = graphops(settings_file, "poison", "requeue", private["id"], "--json")
    assert moved.returncode == 0 and json.loads(moved.stdout)["requeued"] == [private["id"]]
    [back] = h.queue(h.stack.queue_name).peek_messages()
    assert json.loads(base64.b64decode(back.content)) == json.loads(private["original"])  # base64, as the trigger reads
    [left] = json.loads(graphops(settings_file, "poison", "list", "--json").stdout)
    assert left["id"] == entry_id

    missing = graphops(settings_file, "poison", "requeue", "no-such-id")
    assert missing.returncode == 1 and "in the poison queue: no-such-id" in missing.stderr
    neither = graphops(settings_file, "poison", "requeue")
    assert neither.returncode == 2 and "give message ids or tracking ids, or --all" in neither.stderr
    unknown = graphops(settings_file, "poison", "show", "no-such-id")
    assert unknown.returncode == 2

    gone = graphops(settings_file, "poison", "discard", left["id"], "no-such-id", "--json")
    assert gone.returncode == 1 and json.loads(gone.stdout) == {"discarded": [left["id"]], "notFound": ["no-such-id"]}
    assert json.loads(graphops(settings_file, "poison", "list", "--json").stdout) == []


def test_graphops_console_serves_the_pages_on_loopback_until_ctrl_c(make_harness: Any, settings_file: Path) -> None:
    h: Harness = make_harness()
    h.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("succeeded"))])
    tracking = h.track(seed.ALERT_OPERATION_PATH, correlation_id="from-the-cli")
    h.run()
    server = subprocess.Popen([*GRAPHOPS, "--settings", str(settings_file), "console", "--port", "0"],
                              stderr=subprocess.PIPE, text=True, cwd=ROOT)  # fmt: skip
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert line.startswith("graphops console: http://127.0.0.1:") and "loopback only" in line, line
        url = line.split()[2]
        page = requests.get(f"{url}trackings/{tracking}", timeout=patience(10))
        assert page.status_code == 200 and "from-the-cli" in page.text
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=patience(20))
    assert server.returncode == 0


def processes_mentioning(text: str) -> list[int]:
    """Live processes whose command line mentions ``text``."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and text.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue  # gone meanwhile
    return found


def test_the_demo_runs_every_scenario_to_its_expected_outcome_and_shows_them_in_the_console(tmp_path: Path) -> None:
    own_tmp = tmp_path / "tmp"  # the demo's Azurite keeps its data here, so its process can be told apart
    own_tmp.mkdir()
    demo = subprocess.Popen(
        [*GRAPHOPS, "demo", "--fast", "--plain", "--console", "--console-port", "0", "--save-to",
         str(tmp_path / "callbacks")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "TMPDIR": str(own_tmp)},
    )  # fmt: skip
    timer = threading.Timer(120, demo.kill)
    timer.start()
    assert demo.stdout is not None
    printed = []
    for line in demo.stdout:  # until the console's line: the demo then waits for Ctrl-C
        printed.append(line)
        if line.startswith("console: http://127.0.0.1:"):
            break
    console_url = printed[-1].split()[1]
    listed = requests.get(console_url, timeout=patience(10))
    poison_page = requests.get(f"{console_url}poison", timeout=patience(10))
    demo.send_signal(signal.SIGINT)  # Ctrl-C
    rest, errors = demo.communicate(timeout=patience(60))
    timer.cancel()
    result = subprocess.CompletedProcess(demo.args, demo.returncode, "".join(printed) + rest, errors)
    assert any(own_tmp.iterdir()), "the demo's Azurite did not use its own temporary folder"
    assert result.returncode == 0, result.stdout + result.stderr
    assert listed.status_code == 200 and poison_page.status_code == 200
    for scenario in ("alert refresh", "no permission", "never finishes", "team clone", "drive copy"):
        assert f">{scenario}</a></td>" in listed.text  # each tracking's correlation id, in its row
    assert "console stopped." in result.stdout
    # The closing hint names commands that work once the demo is gone (test_local.py runs exactly these).
    [hint] = [line for line in result.stdout.splitlines() if "dead-lettered;" in line]
    assert re.findall(r"`([^`]+)`", hint) == ["graphops local --seed", "graphops poison list"]
    saved = {
        json.loads(p.read_text())["body"]["correlationId"]: json.loads(p.read_text())
        for p in (tmp_path / "callbacks").glob("*.json")
    }
    assert {name: doc["body"]["outcome"] for name, doc in saved.items()} == {
        "alert refresh": "succeeded", "password reset": "succeeded", "refresh that fails": "failed",
        "throttled reset": "succeeded", "no permission": "forbidden", "never finishes": "timedOut",
        "team clone": "succeeded", "data export": "succeeded", "drive copy": "succeeded",
        "audit log search": "succeeded",
    }  # fmt: skip
    audit = saved["audit log search"]["body"]  # a job graphops created, read by its own status
    assert (audit["kind"], audit["resource"]) == ("auditLogQuery", audit["operationUrl"] + "/records")
    assert audit["operationUrl"].endswith(f"/v1.0/security/auditLog/queries/{seed.AUDIT_QUERY_ID}")
    assert saved["team clone"]["body"]["resourceReady"] is True  # waited out the new team's 404s
    assert saved["drive copy"]["body"]["kind"] == "driveItemCopy" and "tempauth" not in json.dumps(saved)
    assert all(doc["signatureVerified"] for doc in saved.values())
    assert "summary" in result.stdout and "every part stopped" in result.stdout
    # Each tracking's whole id beside its name: the file its callback was saved in, its console page.
    ids = dict(re.findall(r"^  (\S.*?) +([0-9a-f-]{36})$", result.stdout, re.MULTILINE))
    assert {f"{ids[name]}.json" for name in saved} == {p.name for p in (tmp_path / "callbacks").glob("*.json")}
    # The receiver that answers 410 leaves a dead letter: the poison page has something to show.
    assert "callback gone" not in saved and ids["callback gone"] in poison_page.text
    assert "1 dead-lettered" in result.stdout
    assert processes_mentioning(str(own_tmp)) == [], "the demo left its Azurite running"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "--app-dir", "/no/such/dir"], "does not exist"),
        (["run", "--port", "-1"], "--port"),
        (["demo", "--speed", "fast"], "No such option"),
        (["poison", "list", "--page", "2"], "No such option"),
        (["nonsense"], "No such command"),
    ],
)
def test_every_command_refuses_wrong_input_with_exit_2(settings_file: Path, args: list[str], message: str) -> None:
    result = graphops(settings_file, *args)
    assert result.returncode == 2 and message in result.stderr


def test_requeue_of_a_failed_delivery_delivers_without_asking_graph_again(
    make_harness: Any, settings_file: Path
) -> None:
    h: Harness = make_harness()
    paths = [seed.reset_path("u", f"dead-{i}") for i in range(3)]
    for path in paths:
        h.graph.script(path, [Reply(200, seed.password_reset("succeeded"))])
        h.receiver.answer(f"/down/{path.rsplit('/', 1)[-1]}", 410)  # refused for good: dead-lettered at once
        h.track(path, callback_url=h.stack.callback_url(f"/down/{path.rsplit('/', 1)[-1]}"))
    h.run()
    listed = json.loads(graphops(settings_file, "poison", "list", "--json").stdout)
    assert len(listed) == 3 and all(e["reason"] == "callback not delivered: callback answered 410" for e in listed)
    assert all("sig=" not in e["original"] for e in listed)  # shown without the callback's key

    first = graphops(settings_file, "poison", "requeue", listed[0]["id"], "--json")
    assert json.loads(first.stdout)["requeued"] == [listed[0]["id"]]
    rest = graphops(settings_file, "poison", "requeue", "--all", "--json")
    assert sorted(json.loads(rest.stdout)["requeued"]) == sorted(e["id"] for e in listed[1:])
    assert json.loads(graphops(settings_file, "poison", "list", "--json").stdout) == []
    h.run()  # the receivers answer 200 now
    assert {c.body["outcome"] for c in h.receiver.delivered()} == {"succeeded"} and len(h.receiver.delivered()) == 3
    assert [len(h.graph.gets(p)) for p in paths] == [1, 1, 1]  # delivered again; Graph was not asked again


def test_start_puts_a_start_message_on_the_queue_and_refuses_what_is_not_enabled(
    stack: LocalStack, tmp_path: Path
) -> None:
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"Values": stack.environment(GRAPHOPS_START_ACTIONS="teamClone")}))
    body = tmp_path / "clone.json"
    body.write_text(json.dumps({"displayName": "Library Assist", "partsToClone": "apps,tabs"}))
    url = f"/v1.0/teams/{seed.TEAM_ID}/clone"
    started = graphops(settings, "start", "POST", url, "--body", f"@{body}", "--callback", stack.callback_url(),
                       "--wait-for-resource", "--json")  # fmt: skip
    assert started.returncode == 0, started.stderr
    tracking_id = json.loads(started.stdout)["trackingId"]
    queue = QueueClient.from_connection_string(stack.azurite.connection_string, stack.queue_name,
                                               message_decode_policy=TextBase64DecodePolicy())  # fmt: skip
    [message] = queue.peek_messages(max_messages=32)
    assert message.id == tracking_id
    assert json.loads(message.content) == {
        "start": {"method": "POST", "url": url, "body": {"displayName": "Library Assist", "partsToClone": "apps,tabs"}},
        "callbackUrl": stack.callback_url(), "waitForResource": True,
    }  # fmt: skip
    refused = graphops(settings, "start", "POST", f"/v1.0/teams/{seed.TEAM_ID}/archive", "--callback",
                       stack.callback_url())  # fmt: skip
    assert refused.returncode == 2 and refused.stderr.startswith("error: start.url: teamArchive is not enabled")
    assert len(queue.peek_messages(max_messages=32)) == 1  # nothing more was queued


def test_poison_list_and_show_mark_a_dead_letter_graphops_did_not_seal(make_harness: Any, settings_file: Path) -> None:
    h: Harness = make_harness()
    ours = h.send_raw("this is not JSON")  # graphops dead-letters it, sealed
    h.run()
    forged = {"deadLetter": 1, "reason": "callback not delivered", "trackingId": "a-tracking-of-someone-else",
              "original": json.dumps({"operationUrl": h.graph_url(seed.ALERT_OPERATION_PATH)})}  # fmt: skip
    poison = h.queue(f"{h.stack.queue_name}-poison")
    forged_id = poison.send_message(base64.b64encode(json.dumps(forged).encode()).decode()).id
    listed = graphops(settings_file, "poison", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    entries = {e["id"]: e for e in json.loads(listed.stdout)}
    assert entries[forged_id]["writtenBy"] == "not graphops" and entries[forged_id]["trackingId"] is None
    assert [e["writtenBy"] for e in entries.values() if e["id"] != forged_id] == ["graphops"]
    assert [e["trackingId"] for e in entries.values() if e["id"] != forged_id] == [ours]
    human = graphops(settings_file, "poison", "list")
    assert human.stdout.count("not written by graphops") == 2  # the column, and the reason that says why
    shown = graphops(settings_file, "poison", "show", forged_id)
    assert "written:  not written by graphops" in shown.stdout and "tracking: -" in shown.stdout


def test_budgets_shows_the_pause_its_cause_and_the_waiting_then_reset_deletes_every_row(
    paused_budget: Any, tmp_path: Path
) -> None:
    from graphops.pacing.budget_view import PARTITION, PAUSE_PARTITION
    from graphops.storage.state import table_client

    h = paused_budget.harness
    settings = tmp_path / "local.settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": h.env}))
    listed = graphops(settings, "budgets", "--json")
    assert listed.returncode == 0, listed.stderr
    [identity] = [b for b in json.loads(listed.stdout) if b["service"] == "identity"]
    assert identity["pausedBy"] == paused_budget.throttled and identity["rows"] == 1  # a row per worker: one
    assert 300 < identity["pausedUntil"] - time.time() <= 600  # Retry-After 900, a shared pause of 10 minutes at most
    assert [w["trackingId"] for w in identity["waiting"]] == [paused_budget.waiting]
    assert identity["limit"] == 2800 and identity["windowSeconds"] == 10
    env = {"COLUMNS": "100"}
    table = subprocess.run([*GRAPHOPS, "--settings", str(settings), "budgets"], capture_output=True, text=True,
                           timeout=patience(60), cwd=ROOT, env={**os.environ, **env}, check=False)  # fmt: skip
    assert table.returncode == 0 and "identity" in table.stdout and paused_budget.throttled[:8] in table.stdout
    assert max(len(line) for line in table.stdout.splitlines()) <= 100

    # Asked first: no answer is no reset.
    asked = subprocess.run([*GRAPHOPS, "--settings", str(settings), "budgets", "reset", "identity"], input="n\n",
                           capture_output=True, text=True, timeout=patience(60), cwd=ROOT, env=dict(os.environ),
                           check=False)  # fmt: skip
    assert asked.returncode == 1 and "Reset the identity budget of every tenant?" in asked.stderr
    state = table_client(_storage_of(h.env), h.env["GRAPHOPS_STATE_TABLE"], None)
    rows = lambda partition: [e["RowKey"] for e in state.query_entities(f"PartitionKey eq '{partition}'")]  # noqa: E731
    budget = f"{PARTITION}|{identity['tenant']}|identity"
    rows_before = rows(budget)
    assert len(rows_before) == 1 and len(rows(PAUSE_PARTITION)) == 1

    reset = graphops(settings, "budgets", "reset", "identity", "--tenant", identity["tenant"], "--yes", "--json")
    assert reset.returncode == 0, reset.stderr
    assert json.loads(reset.stdout)["deletedRows"] == [f"{identity['tenant']}|identity/{rows_before[0]}"]
    assert rows(budget) == [] and rows(PAUSE_PARTITION) == []
    assert [b for b in json.loads(graphops(settings, "budgets", "--json").stdout) if b["service"] == "identity"] == []


def _storage_of(env: dict[str, str]) -> Any:
    from graphops.storage.connection import StorageConnection

    return StorageConnection.from_env(env)
