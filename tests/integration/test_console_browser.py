"""The console in a real headless Chromium (Debian's package, driven by Playwright; nothing is downloaded):
the list's filters, a tracking's timeline, and a dead letter requeued from the poison page until it completes.

Each page is also checked for script errors and Content-Security-Policy violations, and photographed:
``GRAPHOPS_SCREENSHOTS=docs`` writes the README's pictures.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from .conftest import ConsoleData

CHROMIUM = os.environ.get("GRAPHOPS_CHROMIUM", "/usr/bin/chromium")
# As the browser is run on a closed machine: no background calls home, no sandbox (the tests run as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]  # fmt: skip


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} not found: `make browser` installs Debian's chromium (as root)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    opened.on(
        "console", lambda m: problems.append(f"{m.text} ({m.location.get('url')})") if m.type == "error" else None
    )
    yield opened
    context.close()
    assert problems == [], "the page reported errors (a CSP violation shows here too)"


def snapshot(page: Page, name: str, tmp_path: Path) -> None:
    folder = Path(os.environ.get("GRAPHOPS_SCREENSHOTS") or tmp_path)
    shot = folder / f"console-{name}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000  # a drawn page, not an empty one


def rows(page: Page) -> list[str]:
    return [str(r.get_attribute("data-tracking")) for r in page.locator("#trackings tbody tr[data-tracking]").all()]


def test_the_list_filters_by_outcome_correlation_kind_and_time(
    page: Page, local_console: Any, console_data: ConsoleData, tmp_path: Path
) -> None:
    data = console_data
    page.goto(f"{local_console.url}/")
    assert sorted(rows(page)) == sorted([data.refreshed, data.failed, data.dead])
    expect(page.locator(".chip[data-outcome=succeeded] b")).to_have_text("2")
    expect(page.locator(".chip[data-outcome=failed] b")).to_have_text("1")
    snapshot(page, "trackings", tmp_path)

    page.select_option("select[name=outcome]", "failed")  # htmx swaps the results in place
    expect(page.locator("#trackings tbody tr[data-tracking]")).to_have_count(1)
    assert rows(page) == [data.failed] and "outcome=failed" in page.url
    expect(page.locator(".chip[data-outcome=succeeded] b")).to_have_text("2")  # counts ignore the outcome filter

    page.select_option("select[name=outcome]", "")
    page.fill("input[name=correlationId]", "wf-console")
    page.click("button[type=submit]")
    expect(page.locator("#trackings tbody tr[data-tracking]")).to_have_count(1)
    assert rows(page) == [data.refreshed]

    page.fill("input[name=correlationId]", "")
    page.select_option("select[name=kind]", "authenticationMethodOperation")
    expect(page.locator("#trackings tbody tr[data-tracking]")).to_have_count(2)
    assert sorted(rows(page)) == sorted([data.failed, data.dead])

    page.fill("input[name=from]", "2099-01-01T00:00")  # a range after every tracking
    page.click("button[type=submit]")
    expect(page.locator("#trackings tbody tr[data-tracking]")).to_have_count(0)
    expect(page.locator("#trackings td.empty")).to_have_text("No tracking matches.")

    page.goto(f"{local_console.url}/")
    page.click(".chip[data-outcome=failed]")  # a count is a link to its own list
    assert rows(page) == [data.failed]


def test_a_trackings_timeline_draws_a_point_per_poll_and_per_delivery_attempt(
    page: Page, local_console: Any, console_data: ConsoleData, tmp_path: Path
) -> None:
    page.goto(f"{local_console.url}/trackings/{console_data.refreshed}")
    page.wait_for_function("window.graphopsTimeline !== undefined")
    drawn = page.evaluate("""() => {
        const chart = window.graphopsTimeline;
        return chart.data.datasets.map((set, i) => ({label: set.label, points: chart.getDatasetMeta(i).data.length,
                                                     lanes: set.data.map((p) => p.y)}));
    }""")
    by_label = {d["label"]: d for d in drawn}
    assert by_label["what Graph said"]["points"] == 4  # the stand-in answered running, 429, running, succeeded
    assert by_label["what Graph said"]["lanes"] == ["running", "HTTP 429", "running", "succeeded"]
    assert by_label["delivery attempts"]["points"] == 1
    assert by_label["wait chosen (s)"]["points"] == 3  # a wait after each poll but the last
    assert by_label["Retry-After (s)"]["points"] == 1 and by_label["Retry-After (s)"]["lanes"] == [2]
    assert page.locator("#history tbody tr").count() == 5  # four polls and one delivery
    snapshot(page, "tracking", tmp_path)

    page.goto(f"{local_console.url}/trackings/{console_data.dead}")
    page.wait_for_function("window.graphopsTimeline !== undefined")
    styles = page.evaluate("() => window.graphopsTimeline.data.datasets[1].pointStyle")
    assert styles == ["crossRot"]  # its one delivery attempt failed (410)
    expect(page.locator("#deliveries")).to_contain_text("410")


def test_requeue_from_the_poison_page_puts_the_message_back_and_it_completes(
    page: Page, local_console: Any, console_data: ConsoleData, tmp_path: Path
) -> None:
    data, harness = console_data, console_data.harness
    page.goto(f"{local_console.url}/poison")
    row = page.locator(f"tr[data-message='{data.dead_message}']")
    expect(row).to_contain_text("callback answered 410")
    expect(row).not_to_contain_text("local-secret-signature")  # the callback's query is not shown
    snapshot(page, "poison", tmp_path)

    page.once("dialog", lambda dialog: dialog.dismiss())  # "Put message ... back?" - no
    row.locator("button.requeue").click()
    expect(row.locator("button.requeue")).to_be_visible()
    assert data.dead_message in [e.message_id for e in _poison(harness)]

    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.requeue").click()
    expect(page.locator(f"tr[data-message='{data.dead_message}']")).to_have_attribute("data-result", "requeue")
    assert data.dead_message not in [e.message_id for e in _poison(harness)]

    harness.run()  # the receiver at /gone answers 200 now: the tracking completes
    [callback] = [r for r in harness.receiver.delivered() if r.webhook_id == data.dead]
    assert callback.body["outcome"] == "succeeded" and callback.verified
    page.goto(f"{local_console.url}/trackings/{data.dead}")
    expect(page.locator("#deliveries")).to_contain_text("delivered")


def test_discard_asks_first_then_deletes(page: Page, local_console: Any, console_data: ConsoleData) -> None:
    data, harness = console_data, console_data.harness
    page.goto(f"{local_console.url}/poison")
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator(f"tr[data-message='{data.dead_message}'] button.discard").click()
    expect(page.locator(f"tr[data-message='{data.dead_message}']")).to_have_attribute("data-result", "discard")
    assert _poison(harness) == []
    harness.run()
    assert [r for r in harness.receiver.received if r.webhook_id == data.dead and r.status == 200] == []


def _poison(harness: Any) -> list[Any]:
    from graphops.poison import list_entries

    return list_entries(harness.queue(f"{harness.stack.queue_name}-poison"))


def test_text_from_graph_or_a_caller_creates_no_element_and_triggers_no_change(
    page: Page, make_harness: Any, tmp_path: Path
) -> None:
    """Graph's status and error and a caller's correlation id, crafted to end the chart's data block and leave an
    htmx element that discards a dead letter on load: the pages show them as text, and nothing is discarded."""
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.local import seed
    from graphops.local.graph import Reply
    from graphops.settings import Settings

    from .conftest import own_state_table

    harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    harness.receiver.answer("/gone", 410)
    harness.graph.script(seed.reset_path("u9", "gone"), [Reply(200, seed.password_reset("succeeded", "gone"))])
    dead = harness.track(seed.reset_path("u9", "gone"), callback_url=harness.stack.callback_url("/gone"))
    harness.run()
    [entry] = _poison(harness)

    def payload(where: str) -> str:
        return (f'</script><div id="pwned-{where}" hx-post="/poison/{entry.message_id}/discard" hx-trigger="load">'
                f"x</div><script>document.title='pwned'</script>")  # fmt: skip

    path = seed.reset_path("u9", "hostile")
    failed = {**seed.password_reset("failed", "hostile"), "statusDetail": payload("error")}
    harness.graph.script(path, [Reply(200, {**seed.password_reset("running", "hostile"), "status": payload("status")}),
                                Reply(200, failed)])  # fmt: skip
    hostile = harness.track(path, correlation_id=payload("correlation")[:200])
    harness.run()

    settings = Settings.from_env(harness.env)
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize)) as console:
        for url in (f"/trackings/{hostile}", "/", "/poison", f"/trackings/{dead}"):
            page.goto(f"{console.url}{url}")
            page.wait_for_load_state("networkidle")
            assert page.locator("[id^=pwned]").count() == 0, url  # no element was made of the text
            assert page.title() != "pwned", url
        page.goto(f"{console.url}/trackings/{hostile}")
        page.wait_for_function("window.graphopsTimeline !== undefined")  # the chart still reads its data
        expect(page.locator("#history")).to_contain_text('<div id="pwned-status"')  # shown as text
        expect(page.locator(".facts")).to_contain_text("pwned-error")
    assert [e.message_id for e in _poison(harness)] == [entry.message_id]  # nothing was discarded
