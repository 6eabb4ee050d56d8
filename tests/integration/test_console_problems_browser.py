"""A tracking whose polls fail, in Chromium at a laptop's and a phone's width: the list shows what they meet, the
tracking's page opens with it and what to do, and its timeline says it in words."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from graphops.local.stack import LocalStack
from graphops.settings import Settings
from graphops.storage.state import StateStore, table_client

from ..conftest import GRAPH_HOSTS
from ..patience import wait_until
from .conftest import Harness
from .test_console_browser import browser, page  # noqa: F401  (the fixtures)
from .test_poll_problems import REFRESH, closed_port


def failing_twice(harness: Harness, tracking_id: str) -> None:
    """Run the tracking's steps until two polls in a row met its problem; it keeps polling after."""
    settings = Settings.from_env(harness.env)
    state = StateStore(table_client(settings.storage, settings.state_table, None))

    def twice() -> bool:
        harness.host.poll_once()
        harness.host.drain()
        entity = state.read(tracking_id) or {}
        problem = json.loads(entity.get("lastProblem") or "null")
        return bool(problem) and problem["inARow"] >= 2

    wait_until(twice, 60, "two failed polls in a row")


@pytest.fixture
def failing(make_harness: Any, stack: LocalStack) -> Iterator[tuple[Any, str, str]]:
    """One tracking that cannot reach Graph and one that gets no token, both still polling, and a console."""
    from graphops.console import build_console
    from graphops.console.local import LocalConsole

    host = f"127.0.0.1:{closed_port()}"
    GRAPH_HOSTS.add(host)  # the deployment's Graph host, down: its token goes nowhere else
    try:
        closed: Harness = make_harness(GRAPHOPS_GRAPH_ENDPOINT=f"http://{host}")
        unreachable = closed.client.track(f"http://{host}{REFRESH}", stack.callback_url(), timeout_seconds=600,
                                          correlation_id="graph-down")  # fmt: skip
        failing_twice(closed, unreachable)
    finally:
        GRAPH_HOSTS.discard(host)
    stack.identity.refusing = "no identity assigned"
    refused: Harness = make_harness()
    no_token = refused.track(REFRESH, timeout_seconds=600, correlation_id="no-token")
    failing_twice(refused, no_token)
    settings = Settings.from_env(refused.env)
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize)) as server:
        yield server, unreachable, no_token


@pytest.mark.parametrize("width", [1280, 390])
def test_failing_polls_show_in_the_list_and_open_the_trackings_page(
    page: Page,  # noqa: F811
    failing: tuple[Any, str, str],
    width: int,
) -> None:
    server, unreachable, no_token = failing
    page.set_viewport_size({"width": width, "height": 900})
    page.goto(f"{server.url}/")
    down = page.locator(f"tr[data-tracking='{unreachable}'] .problem")
    expect(down).to_be_visible()
    expect(down).to_contain_text("Graph unreachable ×")
    expect(page.locator(f"tr[data-tracking='{no_token}'] .problem")).to_contain_text("no token: ")

    page.goto(f"{server.url}/trackings/{unreachable}")
    callout = page.locator("#callout")
    expect(callout).to_be_visible()
    expect(callout.locator("h2")).to_have_text("Polls fail: Graph is unreachable")
    expect(callout).to_contain_text("GRAPHOPS_GRAPH_ENDPOINT")
    assert "HTTP None" not in page.locator("#timeline-data").inner_text()
    assert "HTTP None" not in page.locator("body").inner_text()
    assert "Graph unreachable" in page.locator("#timeline-data").inner_text()
    expect(page.locator("#trace")).to_contain_text("GRAPHOPS_APPINSIGHTS_RESOURCE_ID")  # no telemetry here: no link

    page.goto(f"{server.url}/trackings/{no_token}")
    expect(page.locator("#callout h2")).to_have_text("Polls fail: graphops gets no token for Graph")
    expect(page.locator("#callout")).to_contain_text("az login")
    assert "HTTP None" not in page.locator("body").inner_text()
    assert '"y": "no token"' in page.locator("#timeline-data").inner_text().replace('":"', '": "')
