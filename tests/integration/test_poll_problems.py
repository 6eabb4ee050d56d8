"""A poll that gets no answer is part of its tracking: through the real step, against Azurite, with Graph's host
closed and with the identity refusing tokens. The state's lastProblem and `graphops status` say what it met."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest

from graphops.local.stack import LocalStack
from graphops.settings import Settings
from graphops.storage.state import StateStore, table_client

from ..conftest import GRAPH_HOSTS
from .conftest import Harness
from .test_cli import graphops

REFRESH = "/beta/identityGovernance/roleManagementAlerts/operations/refresh:x"


def closed_port() -> int:
    """A loopback port nothing listens on: bound, then let go."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def state_of(harness: Harness, tracking_id: str) -> dict[str, Any]:
    settings = Settings.from_env(harness.env)
    entity = StateStore(table_client(settings.storage, settings.state_table, None)).read(tracking_id)
    assert entity is not None
    return dict(entity)


def status_json(harness: Harness, tmp_path: Path, tracking_id: str) -> dict[str, Any]:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": harness.env}))
    done = graphops(path, "status", tracking_id, "--json")
    assert done.returncode == 0, done.stderr
    view: dict[str, Any] = json.loads(done.stdout)
    return view


def test_graph_unreachable_is_the_trackings_last_problem(
    make_harness: Any, stack: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host = f"127.0.0.1:{closed_port()}"
    graph = f"http://{host}"
    harness: Harness = make_harness(GRAPHOPS_GRAPH_ENDPOINT=graph)
    tracking_id = harness.client.track(graph + REFRESH, stack.callback_url(), timeout_seconds=5)
    GRAPH_HOSTS.add(host)  # the deployment's Graph host, down: its token goes nowhere else
    try:
        with caplog.at_level("INFO", logger="graphops"):
            harness.run()
    finally:
        GRAPH_HOSTS.discard(host)
    entity = state_of(harness, tracking_id)
    problem = json.loads(entity["lastProblem"])
    assert problem["code"] == "unreachable" and problem["what"] == "Graph unreachable"
    assert problem["inARow"] >= 2 and problem["since"] < problem["at"]
    polls = [e for e in json.loads(entity["history"]) if "problem" in e]
    assert [e["problem"]["inARow"] for e in polls] == list(range(1, len(polls) + 1))
    # said once at WARNING in this process, however many polls met it
    warned = [r for r in caplog.records if r.levelname == "WARNING" and '"pollProblem"' in r.getMessage()]
    assert len(warned) == 1 and "Graph unreachable" in warned[0].getMessage()
    view = status_json(harness, tmp_path, tracking_id)
    assert view["lastProblem"] == problem
    assert view["error"]["code"] == "timedOut"
    printed = graphops(tmp_path / "local.settings.json", "status", tracking_id)
    assert f"Graph unreachable ({problem['inARow']} in a row since" in printed.stdout


def test_no_token_is_the_trackings_last_problem_in_the_credentials_words(
    make_harness: Any, stack: LocalStack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stack.identity.refusing = "Identity not found"
    harness: Harness = make_harness()
    tracking_id = harness.track(REFRESH, timeout_seconds=4)
    with caplog.at_level("INFO", logger="graphops"):
        harness.run()
    assert stack.graph.gets(REFRESH) == []  # no token, no request: Graph was never asked
    problem = json.loads(state_of(harness, tracking_id)["lastProblem"])
    assert problem["code"] == "noToken" and problem["what"].startswith("no token: ")
    # azure-identity's own reason, in one line (it does not pass the endpoint's description on)
    assert "managed identity" in problem["what"] and "\n" not in problem["what"]
    assert stack.identity.header_secret not in problem["what"]
    assert problem["inARow"] >= 2
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len([m for m in warned if '"pollProblem"' in m]) == 1
    others = [m for m in warned if '"pollProblem"' not in m]
    assert not any("Credential" in m for m in others), others  # never the credential's own warning, per poll
    assert status_json(harness, tmp_path, tracking_id)["lastProblem"] == problem
