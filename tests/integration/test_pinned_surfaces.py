"""Promises of the surfaces on top, over Azurite and the stand-ins: what `graphops watch` prints, the CLI when
storage goes away in mid-command or a start's body is missing or not JSON, and the status view during a wait
for the shared throttling budget."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from graphops.graph.kinds.base import WITHHELD
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack

from .conftest import Harness, own_state_table
from .test_cli import graphops, queued
from .test_cli_errors import said_once, write

# -- `graphops watch` never prints a signed link --------------------------------------------------------

SIGNED = [
    ("deviceManagementExportJob", seed.EXPORT_JOB_PATH, seed.export_job, seed.EXPORT_JOB_URL, "url"),
    ("cloudPcExportJob", seed.CLOUD_PC_EXPORT_PATH, seed.cloud_pc_export, seed.CLOUD_PC_EXPORT_URL, "exportUrl"),
    # A Win32 app's content file: its upload's storage URI, asked for and issued.
    ("win32LobAppContentFile", seed.WIN32_FILE_PATH,
     lambda state: seed.win32_content_file({"inProgress": "azureStorageUriRequestPending",
                                            "completed": "azureStorageUriRequestSuccess"}[state]),
     seed.WIN32_UPLOAD_URI, "azureStorageUri"),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "path", "job", "link", "field"), SIGNED, ids=[s[0] for s in SIGNED])
@pytest.mark.parametrize("as_json", [True, False], ids=["json", "human"])
def test_watch_never_prints_a_signed_link(
    stack: LocalStack, tmp_path: Path, kind: str, path: str, job: Any, link: str, field: str, as_json: bool
) -> None:
    stack.graph.script(path, [Reply(200, job("inProgress")), Reply(200, job("completed"))])
    settings = write(tmp_path / "s.json", stack.environment())
    result = graphops(settings, "watch", path, *(["--json"] if as_json else []))
    assert result.returncode == 0, result.stderr
    assert len(stack.graph.gets(path)) == 2  # it did read the finished job, link and all
    printed = result.stdout + result.stderr
    for part in (link, link.split("?", maxsplit=1)[0], urlhost(link), "sig="):
        assert part not in printed, printed
    if as_json:
        end = json.loads(result.stdout.splitlines()[-1])
        assert end["outcome"] == "succeeded" and end["operation"][field] == WITHHELD
    else:
        assert "outcome: succeeded" in result.stdout


def urlhost(url: str) -> str:
    return url.split("/")[2]


# -- The CLI losing storage in mid-command --------------------------------------------------------------


@dataclass
class OnceStorage:
    url: str
    answered: list[str]  # the requests it answered


@contextmanager
def storage_that_answers_once(target: str) -> Iterator[OnceStorage]:
    """A storage endpoint that passes its first request on to ``target`` (Azurite), then stops listening."""

    answered: list[str] = []

    class Once(BaseHTTPRequestHandler):
        def forward(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
            reply = requests.request(self.command, target + self.path, headers=headers, data=body, timeout=10)
            self.send_response(reply.status_code)
            for name, value in reply.headers.items():
                if name.lower() not in {"connection", "transfer-encoding", "content-length", "keep-alive"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply.content)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(reply.content)
            answered.append(f"{self.command} {self.path}")

        do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Once)
    url = f"http://127.0.0.1:{server.server_address[1]}"

    def answer_once() -> None:
        server.handle_request()
        server.server_close()  # from now on, nothing listens there

    thread = threading.Thread(target=answer_once, daemon=True)
    thread.start()
    try:
        yield OnceStorage(url, answered)
    finally:
        if thread.is_alive():
            server.server_close()
        thread.join(timeout=30)


def test_the_cli_losing_storage_in_mid_command_prints_one_line_and_exits_2(stack: LocalStack, tmp_path: Path) -> None:
    azurite = stack.azurite
    with storage_that_answers_once(f"http://127.0.0.1:{azurite.queue_port}") as storage:
        connection = azurite.connection_string.replace(
            f"QueueEndpoint=http://127.0.0.1:{azurite.queue_port}/", f"QueueEndpoint={storage.url}/"
        )
        assert storage.url in connection
        settings = write(tmp_path / "s.json", {**stack.environment(), "AzureWebJobsStorage": connection})
        # A person at a terminal hears of it within the command's usual time, not after the storage clients'
        # backoff (their retries of a refused connection start at 15 s): the CLI's clients retry no connection.
        result = graphops(settings, "track", seed.reset_path("u", "o"), "--callback", stack.callback_url())
    assert len(storage.answered) == 1 and storage.answered[0].startswith("GET "), storage.answered  # the probe
    said_once(result, "cannot reach storage")
    assert queued(stack) == 0


# -- `graphops start`: a body that is missing, or not JSON ----------------------------------------------


@pytest.fixture
def start_settings(stack: LocalStack, tmp_path: Path) -> Path:
    return write(tmp_path / "s.json", stack.environment(GRAPHOPS_START_ACTIONS="teamClone,personalDataExport"))


@pytest.mark.parametrize(
    ("url", "field"),
    [(f"/v1.0/teams/{seed.TEAM_ID}/clone", "start.body.displayName"),
     ("/v1.0/users/u1/exportPersonalData", "start.body.storageLocation")],
)  # fmt: skip
def test_a_start_without_its_body_is_refused_naming_the_missing_field(
    stack: LocalStack, start_settings: Path, url: str, field: str
) -> None:
    result = graphops(start_settings, "start", "POST", url, "--callback", stack.callback_url())
    said_once(result, f"error: {field}: required")
    assert queued(stack) == 0


@pytest.mark.parametrize("text", ["{nope", "{'displayName': 'c'}", '{"displayName": "c",}', ""])
@pytest.mark.parametrize("from_file", [False, True], ids=["inline", "@file"])
def test_start_with_a_body_that_is_not_json_prints_one_line_and_exits_2(
    stack: LocalStack, start_settings: Path, tmp_path: Path, text: str, from_file: bool
) -> None:
    body = tmp_path / "body.json"
    body.write_text(text)
    given = f"@{body}" if from_file else text
    url = f"/v1.0/teams/{seed.TEAM_ID}/clone"
    result = graphops(start_settings, "start", "POST", url, "--body", given, "--callback", stack.callback_url())
    said_once(result, "error: body: not valid JSON")
    assert queued(stack) == 0
    good = graphops(start_settings, "start", "POST", url, "--body", '{"displayName": "c", "partsToClone": "apps"}',
                    "--callback", stack.callback_url())  # fmt: skip
    assert good.returncode == 0 and queued(stack) == 1, good.stderr  # the same command, with JSON, is taken


# -- The status view during a wait for the shared budget, and that wait's end at the deadline -----------


def case_path(n: int) -> str:
    return f"/v1.0/security/cases/ediscoveryCases/{seed.CASE_ID}/operations/pinned-{n}"


def iso_time(raw: str) -> datetime:
    return datetime.fromisoformat(raw.replace("Z", "+00:00"))


def test_the_status_view_says_budget_during_a_budget_wait_which_ends_past_the_deadline_as_timed_out(
    make_harness: Any, tmp_path: Path
) -> None:
    h: Harness = make_harness(GRAPHOPS_THROTTLE_BUDGETS="ediscovery=1000/60", GRAPHOPS_STATE_TABLE=own_state_table())
    # Graph throttles eDiscovery for the tenant for ten minutes: the budget pauses every tracking of it.
    h.graph.script(case_path(1), [Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "600"})])
    throttled = h.track(case_path(1), timeout_seconds=30)
    h.run()
    assert h.outcomes() == {throttled: "timedOut"} and len(h.graph.gets(case_path(1))) == 1

    body = {"operationUrl": h.graph_url(case_path(2)), "callbackUrl": h.stack.callback_url(), "timeoutSeconds": 3}
    subscribed = requests.post(h.api("operations"), json=body, timeout=10)
    assert subscribed.status_code == 202, subscribed.text
    tracking_id = subscribed.json()["trackingId"]
    steps, give_up = h.host.invocations, time.monotonic() + 60
    while h.host.invocations == steps:  # its first step, and no other
        assert time.monotonic() < give_up, "the first step never ran"
        if not h.host.poll_once():
            time.sleep(0.05)
    h.host.drain()

    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=10).json()
    assert (view["phase"], view["waitingFor"], view["polls"], view["outcome"]) == ("polling", "budget", 0, None)
    status = graphops(write(tmp_path / "s.json", h.env), "status", tracking_id, "--json")
    assert status.returncode == 0, status.stderr
    assert json.loads(status.stdout)["waitingFor"] == "budget"
    assert "budget" in graphops(write(tmp_path / "s.json", h.env), "status", tracking_id).stdout

    [wait] = [entry for entry in view["history"] if "budget" in entry]
    lands = iso_time(wait["at"]) + timedelta(seconds=wait["next"])
    past = (lands - iso_time(view["deadline"])).total_seconds()
    assert 0.99 <= past <= 2.01, (wait, view["deadline"])  # a whole second past the deadline, not two

    h.run()
    assert h.outcomes()[tracking_id] == "timedOut"
    assert h.graph.gets(case_path(2)) == []  # the wait ended it without asking Graph
    ended = requests.get(h.api(f"operations/{tracking_id}"), timeout=10).json()
    assert (ended["phase"], ended["outcome"], ended["polls"], ended["waitingFor"]) == ("done", "timedOut", 0, None)
