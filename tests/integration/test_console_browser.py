"""The console in a real headless Chromium (Debian's package, driven by Playwright; nothing is downloaded):
the list's filters, a tracking's timeline, and a dead letter requeued from the poison page until it completes.

Each page is also checked for script errors and Content-Security-Policy violations, and photographed:
``GRAPHOPS_SCREENSHOTS=docs`` writes the pictures docs/console.md shows.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Browser, Page, expect, sync_playwright

from graphops.local.graph import Reply

from ..patience import patience
from .conftest import ConsoleData, EveryState, PausedBudget

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


def test_the_list_filters_by_state_correlation_kind_and_time(
    page: Page, local_console: Any, console_data: ConsoleData, tmp_path: Path
) -> None:
    data = console_data
    page.goto(f"{local_console.url}/")
    assert sorted(rows(page)) == sorted([data.refreshed, data.failed, data.dead])
    # The dead-lettered tracking succeeded in Graph, but its callback was not delivered: it counts as that.
    expect(page.locator(".chip[data-state=succeeded] b")).to_have_text("1")
    expect(page.locator(".chip[data-state=deliveryFailed] b")).to_have_text("1")
    expect(page.locator(".chip[data-state=failed] b")).to_have_text("1")

    page.select_option("select[name=state]", "failed")  # htmx swaps the results in place
    expect(page.locator("#trackings tbody tr[data-tracking]")).to_have_count(1)
    assert rows(page) == [data.failed] and "state=failed" in page.url
    expect(page.locator(".chip[data-state=succeeded] b")).to_have_text("1")  # counts ignore the state filter

    page.select_option("select[name=state]", "")
    page.fill("input[name=correlationId]", "wf-console")
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"correlationId=wf-console"))  # the new results are in, not the last ones
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
    page.click(".chip[data-state=failed]")  # a count is a link to its own list
    assert rows(page) == [data.failed]


def test_a_trackings_timeline_draws_a_point_per_poll_and_per_delivery_attempt(
    page: Page, local_console: Any, console_data: ConsoleData, tmp_path: Path
) -> None:
    page.goto(f"{local_console.url}/trackings/{console_data.refreshed}")
    page.wait_for_function("window.graphopsTimeline !== undefined && window.graphopsWaits !== undefined")
    drawn = page.evaluate("""() => {
        const each = (chart) => chart.data.datasets.map((set, i) => ({label: set.label,
            points: chart.getDatasetMeta(i).data.length, lanes: set.data.map((p) => p.y),
            colour: set.backgroundColor}));
        return each(window.graphopsTimeline).concat(each(window.graphopsWaits));
    }""")
    by_label = {d["label"]: d for d in drawn}
    # One thing per axis: what Graph said and the deliveries against time; the waits in their own chart.
    assert by_label["what Graph said"]["points"] == 4  # the stand-in answered running, 429, running, succeeded
    assert by_label["what Graph said"]["lanes"] == ["running", "HTTP 429", "running", "succeeded"]
    assert by_label["delivery attempts"]["points"] == 1
    assert by_label["wait chosen (s)"]["points"] == 3  # a wait after each poll but the last
    assert by_label["Retry-After (s)"]["points"] == 1 and by_label["Retry-After (s)"]["lanes"] == [2]
    assert by_label["what Graph said"]["colour"][1] == "#c62828"  # the 429 in the colour of a problem
    assert page.locator("#history tbody tr").count() == 5  # four polls and one delivery
    hover = page.locator("#history time").first.get_attribute("title") or ""
    assert hover.endswith(" UTC") and hover[:4].isdigit()  # relative times, the exact one on hover

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

    return harness.poison_entries()


def test_text_from_graph_or_a_caller_creates_no_element_and_triggers_no_change(
    page: Page, make_harness: Any, tmp_path: Path
) -> None:
    """Graph's status and error and a caller's correlation id, crafted to end the chart's data block and leave an
    htmx element that discards a dead letter on load: the pages show them as text, and nothing is discarded."""
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.local import seed
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
    hostile = harness.track(path, correlation_id=payload("correlation")[:200], context={"note": payload("context")})
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
        # The context and the body delivered, shown as the text they are.
        expect(page.locator("#context pre")).to_contain_text('<div id=\\"pwned-context\\"')  # as JSON writes it
        expect(page.locator("#callback-body pre")).to_contain_text('<div id=\\"pwned-correlation\\"')
        page.goto(f"{console.url}/")
        expect(page.locator(f"tr[data-tracking='{hostile}'] .row-reason")).to_contain_text("pwned-error")
    assert [e.message_id for e in _poison(harness)] == [entry.message_id]  # nothing was discarded


# -- every state, at a laptop's width and a phone's ------------------------------------------------------------

WIDTHS = (1280, 390)
RED, GREEN, GREY = "rgb(198, 40, 40)", "rgb(26, 127, 55)", "rgb(91, 100, 117)"  # the text of a badge


def console_over(data: EveryState) -> Any:
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.settings import Settings

    settings = Settings.from_env(data.harness.env)
    return LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize))


def at_width(page: Page, width: int) -> None:
    page.set_viewport_size({"width": width, "height": 900})


def scrolls_sideways(page: Page) -> bool:
    return bool(page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth"))


def lines_of(element: Any) -> list[str]:
    """The text of an element as the browser laid it out, line by line (by each character's top)."""
    return list(
        element.evaluate("""(e) => {
        const range = document.createRange(), tops = new Map();
        const walker = document.createTreeWalker(e, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (let i = 0; i < node.length; i++) {
                range.setStart(node, i); range.setEnd(node, i + 1);
                const top = Math.round(range.getBoundingClientRect().top);
                tops.set(top, (tops.get(top) || "") + node.data[i]);
            }
        }
        return [...tops.values()];
    }""")
    )


def colour(page: Page, selector: str) -> str:
    return str(page.locator(selector).first.evaluate("(e) => getComputedStyle(e).color"))


def test_the_list_shows_each_state_in_a_colour_that_means_it_and_fits_a_laptop_and_a_phone(
    page: Page, every_state: EveryState, tmp_path: Path
) -> None:
    ids = every_state.trackings
    with console_over(every_state) as console:
        for width in WIDTHS:
            at_width(page, width)
            page.goto(f"{console.url}/")
            chips = {c.get_attribute("data-state"): c.locator("b").inner_text()
                     for c in page.locator(".chip[data-state]").all()}  # fmt: skip
            assert chips == {"polling": "2", "succeeded": "1", "deliveryFailed": "1", "forbidden": "1",
                             "timedOut": "1", "cancelled": "1"}, width  # fmt: skip
            row = {state: page.locator(f"tr[data-tracking='{ids[state]}']") for state in ids}
            expect(row["deliveryFailed"].locator(".badge").first).to_have_text("deliveryFailed")
            expect(row["deliveryFailed"]).to_contain_text("succeeded")  # what Graph said, beside it
            assert colour(page, f"tr[data-tracking='{ids['deliveryFailed']}'] .badge") == RED
            assert colour(page, f"tr[data-tracking='{ids['timedOut']}'] .badge") == RED
            assert colour(page, f"tr[data-tracking='{ids['delivered']}'] .badge") == GREEN
            assert colour(page, f"tr[data-tracking='{ids['cancelled']}'] .badge") == GREY
            # What is stuck and for how long: Graph asked for 15 minutes.
            throttled = row["throttled"].locator("td[data-label='next poll']")
            expect(throttled).to_contain_text("waiting for Retry-After")
            expect(throttled.locator("time")).to_have_text(re.compile(r"^in 1[45] min$"))
            last_poll = row["polling"].locator("td[data-label='last poll'] time")
            expect(last_poll).to_have_text(re.compile(r"^(now|\d+ s ago)$"))
            expect(row["delivered"].locator("td[data-label=took]")).to_have_text(re.compile(r"^\d+ s$"))
            # Correlation id first, the tracking id short, the operation as a path without Graph's host.
            first_cell = row["forbidden"].locator("td").first
            expect(first_cell).to_have_text("wf-forbidden")
            expect(row["forbidden"].locator("td.id a")).to_have_text(f"{ids['forbidden'][:8]}…")
            expect(row["forbidden"].locator("td.url")).to_have_text(
                "/v1.0/users/user-forbidden/authentication/operations/op"
            )
            # A kind's long name breaks between its words, never inside one.
            kind = lines_of(row["forbidden"].locator("td.kind"))
            assert "".join(kind) == "authenticationMethodOperation"
            assert set(kind) <= {"authenticationMethodOperation", "authentication", "MethodOperation",
                                 "authenticationMethod", "Operation", "Method"}, kind  # fmt: skip
            assert not scrolls_sideways(page), width
            display = row["forbidden"].evaluate("(e) => getComputedStyle(e).display")
            assert display == ("block" if width < 720 else "table-row"), width  # cards on a phone
            snapshot(page, f"trackings-{width}", tmp_path)

        page.click(".chip[data-state=deliveryFailed]")  # the count is a filter of its own
        assert rows(page) == [ids["deliveryFailed"]] and "state=deliveryFailed" in page.url


def test_auto_refresh_is_visible_and_holds_off_while_a_filter_is_typed(page: Page, every_state: EveryState) -> None:
    ids = every_state.trackings
    page.clock.install()
    with console_over(every_state) as console:
        page.goto(f"{console.url}/")
        toggle = page.locator("#auto-refresh")
        expect(toggle).to_be_visible()
        expect(toggle).to_be_checked()
        refreshes: list[str] = []
        page.on("request", lambda r: refreshes.append(r.url) if r.headers.get("hx-request") == "true" else None)
        page.focus("input[name=correlationId]")  # the operator is typing: no refresh under their hands
        page.clock.run_for(16_000)
        page.wait_for_timeout(500)  # real time, for a request that should not come
        assert refreshes == []
        page.locator("h1").click()
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            page.clock.run_for(16_000)
        assert len(refreshes) == 1
        expect(page.locator(f"tr[data-tracking='{ids['polling']}']")).to_be_visible()

        toggle.uncheck()  # off, and it stays off on the next visit
        page.reload()
        expect(page.locator("#auto-refresh")).not_to_be_checked()


def test_a_trackings_page_says_first_what_failed_and_what_to_do(
    page: Page, every_state: EveryState, tmp_path: Path
) -> None:
    ids = every_state.trackings
    said = {"deliveryFailed": ["Delivery failed", "callback", "410"],
            "forbidden": ["Graph refused", "UserAuthenticationMethod.Read.All", "GRAPHOPS_TRACKED_KINDS"],
            "timedOut": ["Timed out", "timeoutSeconds"], "throttled": ["throttling", "Retry-After"],
            "cancelled": ["Cancelled"]}  # fmt: skip
    with console_over(every_state) as console:
        for width in WIDTHS:
            at_width(page, width)
            for state, words in said.items():
                page.goto(f"{console.url}/trackings/{ids[state]}")
                first = page.locator("#live > :nth-child(2)")  # after the title, before the facts and the timeline
                expect(first).to_have_id("callout")
                for word in words:
                    expect(first).to_contain_text(word)
                assert not scrolls_sideways(page), (state, width)
            page.goto(f"{console.url}/trackings/{ids['delivered']}")
            expect(page.locator("#callout")).to_have_count(0)  # all is well: nothing to say first

            page.goto(f"{console.url}/trackings/{ids['forbidden']}")
            permission = page.locator("#callout code.name").first
            # A long permission name breaks only at its dots: each line of it starts with a whole word.
            lines = lines_of(permission)
            assert "".join(lines) == "UserAuthenticationMethod.Read.All"
            assert all(line.split(".")[0] in ("UserAuthenticationMethod", "Read", "All", "") for line in lines), lines

            page.goto(f"{console.url}/trackings/{ids['deliveryFailed']}")
            expect(page.locator("#deliveries tr[data-sink=callback]")).to_contain_text("deadLettered")
            requeue = page.locator("#callout button.requeue")
            expect(requeue).to_be_visible()
            box = requeue.bounding_box()
            assert box is not None and box["x"] + box["width"] <= width
            page.wait_for_function("window.graphopsTimeline !== undefined")
            snapshot(page, f"tracking-{width}", tmp_path)

        page.once("dialog", lambda dialog: dialog.accept())
        page.locator("#callout button.requeue").click()  # the dead letter back on the queue, from its page
        expect(page.locator("#dead-result tr")).to_have_attribute("data-result", "requeue")


def test_the_poison_page_names_each_entry_and_offers_only_discard_for_what_cannot_be_requeued(
    page: Page, every_state: EveryState, tmp_path: Path
) -> None:
    data = every_state
    with console_over(data) as console:
        for width in WIDTHS:
            at_width(page, width)
            page.goto(f"{console.url}/poison")
            dead = page.locator("tr[data-message]").filter(has_text="wf-deliveryFailed")
            expect(dead.locator("td[data-label=dead-lettered] time")).to_have_text(re.compile(r" ago$"))
            unreadable = page.locator("tr[data-unrequeueable]").filter(has_text="this is not JSON")
            expect(unreadable).to_contain_text("Cannot be requeued: not a JSON object")
            expect(unreadable.locator("button.requeue")).to_have_count(0)
            for button in (dead.locator("button.requeue"), dead.locator("button.discard"),
                           unreadable.locator("button.discard")):  # fmt: skip
                expect(button).to_be_visible()
                box = button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, width
            assert not scrolls_sideways(page), width
            snapshot(page, f"poison-{width}", tmp_path)

        # Its link leads to a page that says plainly why there is nothing to show (read here, not in the browser,
        # which reports every 404 as an error).
        never = page.locator(f"tr[data-message] a[href$='/trackings/{data.unrecorded}']").get_attribute("href")
        answer = requests.get(f"{console.url}{never}", timeout=patience(10))
        assert answer.status_code == 404 and "graphops has no record of it" in answer.text


@pytest.fixture
def every_state_console(every_state: EveryState) -> Iterator[Any]:
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.settings import Settings

    settings = Settings.from_env(every_state.harness.env)
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize)) as server:
        yield server


@pytest.mark.parametrize("width", [1280, 390])
def test_cancel_and_track_again_from_a_trackings_page(
    browser: Browser, every_state: EveryState, every_state_console: Any, width: int
) -> None:
    from graphops.storage.state import StateStore, table_client

    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    url, trackings = every_state_console.url, every_state.trackings
    page.goto(f"{url}/trackings/{trackings['polling']}")
    expect(page.locator("button.retrack")).to_have_count(0)  # still running: only cancel
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("button.cancel").click()
    expect(page.locator("#operator-result [data-result]")).to_have_attribute("data-result", "cancel")
    settings = every_state.harness.env
    state = StateStore(table_client(_storage(settings), settings.get("GRAPHOPS_STATE_TABLE", ""), None))
    assert (state.read(trackings["polling"]) or {}).get("outcome") == "cancelled"

    page.goto(f"{url}/trackings/{trackings['timedOut']}")
    expect(page.locator("button.cancel")).to_have_count(0)  # it ended: only track again
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("button.retrack").click()
    link = page.locator("#operator-result a.new-tracking")
    expect(link).to_be_visible()
    new_id = link.inner_text()
    assert (state.read(new_id) or {}).get("retrackOf") == trackings["timedOut"]
    link.click()
    expect(page.locator("a.retrack-of")).to_have_text(trackings["timedOut"])
    page.goto(f"{url}/trackings/{trackings['timedOut']}")
    expect(page.locator("a.retracked-as")).to_have_text(new_id)
    expect(page.locator("button.retrack")).to_have_count(0)  # tracked again once only
    context.close()


@pytest.mark.parametrize("width", [1280, 390])
def test_bulk_requeue_of_the_ticked_dead_letters(
    browser: Browser, every_state: EveryState, every_state_console: Any, width: int
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(f"{every_state_console.url}/poison")
    entries = every_state.harness.poison_entries()
    requeueable = [e.message_id for e in entries if e.unrequeueable is None and e.trusted]
    assert requeueable
    for message_id in requeueable:
        page.locator(f"tr[data-message='{message_id}'] input[name=id]").check()
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("button.bulk-requeue").click()
    expect(page.locator("#bulk-result")).to_have_attribute("data-done", str(len(requeueable)))
    left = {e.message_id for e in every_state.harness.poison_entries()}
    assert left == {e.message_id for e in entries} - set(requeueable)  # only the ticked ones went
    context.close()


def _storage(env: dict[str, str]) -> Any:
    from graphops.storage.connection import StorageConnection

    return StorageConnection.from_env(env)


@pytest.mark.parametrize("width", [1280, 390])
def test_a_paused_budget_names_the_429_that_paused_it_the_waiting_tracking_links_there_and_it_resets(
    browser: Browser, paused_budget: PausedBudget, width: int, tmp_path: Path
) -> None:
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.pacing.budget_view import PARTITION
    from graphops.settings import Settings
    from graphops.storage.state import table_client

    env = paused_budget.harness.env
    settings = Settings.from_env(env)
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize)) as console:
        # The waiting tracking's page names its budget and links to it, rather than "nothing to do".
        page.goto(f"{console.url}/trackings/{paused_budget.waiting}")
        expect(page.locator("#callout h2")).to_contain_text("budget of identity")
        page.locator("#callout a.budget").click()
        row = page.locator("#budgets tr[data-service=identity]")
        expect(row).to_have_count(1)
        expect(row.locator("a.cause")).to_have_attribute("href", f"/trackings/{paused_budget.throttled}")
        expect(row.locator("td.paused time")).to_be_visible()
        expect(row.locator("a.waiter")).to_have_attribute("href", f"/trackings/{paused_budget.waiting}")
        assert not scrolls_sideways(page)
        snapshot(page, f"budgets-{width}", tmp_path)

        # A reset without the page's change token is refused, and nothing is deleted.
        table = table_client(settings.storage, settings.state_table, None)
        budget = f"{PARTITION}|{row.get_attribute('data-budget')}"
        kept = lambda: [e["RowKey"] for e in table.query_entities(f"PartitionKey eq '{budget}'")]  # noqa: E731
        forged = requests.post(
            f"{console.url}/budgets/reset",
            headers={"HX-Request": "true"},
            timeout=patience(10),
            data={"service": "identity", "tenant": row.get_attribute("data-budget").split("|")[0]},
        )
        assert forged.status_code == 403 and len(kept()) == 1  # the one worker's row

        page.once("dialog", lambda dialog: dialog.accept())
        row.locator("button.reset").click()
        expect(page.locator("#reset-result")).to_have_attribute("data-rows", "1")
        expect(page.locator("#budgets tr[data-service=identity]")).to_have_count(0)
        assert kept() == []
    context.close()
