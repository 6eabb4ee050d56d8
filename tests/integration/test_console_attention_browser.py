"""The list says what is stuck and why, in Chromium at a laptop's and a phone's width: what needs attention comes
first among many successes, columns sort, part of a correlation id finds its trackings, a failure's reason is in
its row (no hover needed), an overdue poll says so, and a laptop's screen holds at least 15 rows."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from graphops.envelope.tracking import iso
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.settings import Settings
from graphops.storage.state import ROW, StateStore, table_client

from ..patience import wait_until
from .conftest import EveryState
from .test_console_browser import browser, console_over, page, rows  # noqa: F401  (the fixtures)

WIDTHS = (1280, 390)
INCIDENTS = [f"INC-2026-{i:02d}" for i in range(6)]
ROUTINE = [f"nightly-reset-{i:02d}" for i in range(10)]


@pytest.fixture
def crowded(every_state: EveryState) -> Iterator[tuple[EveryState, Any]]:
    """Every state, the polling one's next poll two minutes late (its queue stalled), and 16 more trackings that
    succeeded after it began, with long operation URLs: the problems are no longer the newest rows."""
    harness = every_state.harness
    settings = Settings.from_env(harness.env)
    table = table_client(settings.storage, settings.state_table, None)
    state = StateStore(table)
    ids = []
    for name in (*INCIDENTS, *ROUTINE):
        # Another service than the throttled tracking's, whose 429 holds its shared budget for 15 minutes.
        path = f"/v1.0/teams('{uuid.uuid4()}')/operations('{name}-{uuid.uuid4()}')"
        harness.graph.script(path, [Reply(200, seed.teams_operation("succeeded"))])
        ids.append(harness.track(path, correlation_id=name))

    def all_done() -> bool:
        harness.host.poll_once()
        harness.host.drain()
        return all((state.read(i) or {}).get("phase") == "done" for i in ids)

    wait_until(all_done, 60, "the successes delivered")
    # Nothing runs the host from here on: the polling tracking's next step, as if its queue had stalled.
    late = iso(datetime.now(UTC) - timedelta(minutes=2))
    table.upsert_entity({"PartitionKey": every_state.trackings["polling"], "RowKey": ROW, "nextPollAt": late})
    with console_over(every_state) as console:
        yield every_state, console


def attention_of(shown: Page) -> list[str]:
    marks = shown.locator("#trackings tbody tr[data-tracking]").evaluate_all(
        "(rows) => rows.map((r) => r.dataset.attention || '')"
    )
    return [str(m) for m in marks]


@pytest.mark.parametrize("width", WIDTHS)
def test_what_needs_attention_comes_first_and_says_why_in_its_row(
    page: Page,  # noqa: F811
    crowded: tuple[EveryState, Any],
    width: int,
) -> None:
    data, console = crowded
    ids = data.trackings
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{console.url}/")
    order = rows(page)
    # The stalled poll, the delivery that gave up, the throttled one, then the operations that ended badly (newest
    # first), and only then the rest: 16 successes began after them all.
    assert attention_of(page)[:5] == ["overdue", "deliveryFailed", "waiting", "endedBadly", "endedBadly"]
    assert order[:3] == [ids["polling"], ids["deliveryFailed"], ids["throttled"]]
    assert set(order[3:5]) == {ids["forbidden"], ids["timedOut"]}
    assert set(attention_of(page)[5:]) == {""}

    # Why, in the row, as text a phone shows: no hover.
    reasons = {"deliveryFailed": "410", "forbidden": "UserAuthenticationMethod.Read.All", "timedOut": "deadline"}
    for state, words in reasons.items():
        reason = page.locator(f"tr[data-tracking='{ids[state]}'] .row-reason")
        expect(reason).to_be_visible()
        expect(reason).to_contain_text(words)
        box = reason.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (state, width)

    # An overdue poll says so in words, with a class of its own, not in colour alone.
    late = page.locator(f"tr[data-tracking='{ids['polling']}'] td[data-label='next poll']")
    expect(late).to_have_class(re.compile(r"\boverdue\b"))
    expect(late.locator(".overdue-mark")).to_have_text("overdue")
    expect(late.locator("time")).to_have_text(re.compile(r"^[12] min ago$"))
    on_time = page.locator(f"tr[data-tracking='{ids['throttled']}'] td[data-label='next poll']")
    expect(on_time).not_to_have_class(re.compile(r"\boverdue\b"))
    expect(on_time.locator(".overdue-mark")).to_have_count(0)

    # Newest first is still a choice: the successes come first then.
    page.select_option("select[name=sort]", "newest")
    page.wait_for_url(re.compile(r"sort=newest"))
    # (The routine trackings began within the same second or two, so which of them is newest is not asserted.)
    expect(page.locator("#trackings tbody tr[data-tracking]").first).to_contain_text(re.compile(r"nightly-reset-\d\d"))
    assert attention_of(page)[0] == ""
    assert ids["polling"] not in rows(page)[:16]


@pytest.mark.parametrize("width", WIDTHS)
def test_columns_sort_and_part_of_a_correlation_id_finds_its_trackings(
    page: Page,  # noqa: F811
    crowded: tuple[EveryState, Any],
    width: int,
) -> None:
    data, console = crowded
    page.set_viewport_size({"width": width, "height": 800})
    page.goto(f"{console.url}/?sort=state")
    states = page.locator("#trackings tbody tr[data-tracking]").evaluate_all("(rs) => rs.map((r) => r.dataset.state)")
    # The counts' order: running, delivery failed, then the outcomes as Graph's are listed (cancelled last).
    expected = ["polling", "polling", "deliveryFailed", *["succeeded"] * 17, "timedOut", "forbidden", "cancelled"]
    assert states == expected
    if width > 720:  # the headers are links (a phone's cards have none: the order's select and the URL do it)
        page.click("th[data-sort=kind] a")
        page.wait_for_url(re.compile(r"sort=kind"))
        expect(page.locator("th[data-sort=kind]")).to_have_attribute("aria-sort", "ascending")
        page.click("th[data-sort=next] a")
        page.wait_for_url(re.compile(r"sort=next"))
        expect(page.locator("th[data-sort=next]")).to_have_attribute("aria-sort", "ascending")
        page.click("th[data-sort=next] a")
        page.wait_for_url(re.compile(r"sort=-next"))
        expect(page.locator("th[data-sort=next]")).to_have_attribute("aria-sort", "descending")
        # The next polls, latest first: the throttled one's in 15 min, then the stalled one's, then no next poll.
        assert rows(page)[:2] == [data.trackings["throttled"], data.trackings["polling"]]

    page.goto(f"{console.url}/")
    page.fill("input[name=correlationId]", "inc-2026")  # any part, any case
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"correlationId=inc-2026"))
    names = page.locator("#trackings tbody tr[data-tracking] td.name").all_inner_texts()
    assert sorted(names) == INCIDENTS
    expect(page.locator(".chip[data-state=succeeded] b")).to_have_text(str(len(INCIDENTS)))  # counted as matched


def test_a_laptop_screen_holds_at_least_15_rows_with_urls_on_one_line(
    page: Page,  # noqa: F811
    crowded: tuple[EveryState, Any],
) -> None:
    _, console = crowded
    page.set_viewport_size({"width": 1280, "height": 800})
    page.goto(f"{console.url}/?sort=newest")
    seen = page.locator("#trackings tbody tr[data-tracking]").evaluate_all(
        "(rows) => rows.filter((r) => { const b = r.getBoundingClientRect();"
        " return b.top >= 0 && b.bottom <= window.innerHeight; }).length"
    )
    assert seen >= 15, f"{seen} rows fully visible at 1280x800"
    assert not page.evaluate("() => document.documentElement.scrollWidth > window.innerWidth")  # nothing sideways
    url = page.locator("#trackings td.url").first
    assert len(lines_in(url)) == 1
    full = url.get_attribute("title") or ""  # the whole URL on hover; the cell shows its path, cut to fit
    assert full.startswith("http://") and re.search(r"/operations\('nightly-reset-\d\d-", full)
    expect(url).not_to_contain_text("http")
    assert url.evaluate("(e) => e.firstElementChild.scrollWidth > e.firstElementChild.clientWidth")  # cut: …


def lines_in(element: Any) -> list[int]:
    """The distinct tops of an element's text as laid out: one per line."""
    return list(
        element.evaluate("""(e) => {
        const range = document.createRange(); range.selectNodeContents(e);
        return [...new Set([...range.getClientRects()].map((r) => Math.round(r.top)))];
    }""")
    )


def test_a_trackings_page_and_the_poison_queue_refresh_as_the_list_does(
    page: Page,  # noqa: F811
    every_state: EveryState,
) -> None:
    settings = Settings.from_env(every_state.harness.env)
    state = StateStore(table_client(settings.storage, settings.state_table, None))
    polling = every_state.trackings["polling"]
    page.clock.install()
    with console_over(every_state) as console:
        page.goto(f"{console.url}/trackings/{polling}")
        drawn = "() => !!window.graphopsTimeline && window.graphopsTimeline.canvas === document.querySelector('canvas')"
        wait_until(lambda: page.evaluate(drawn), 10, "the charts drawn")
        expect(page.locator("#auto-refresh")).to_be_checked()
        expect(page.locator("h1 .badge").first).to_have_text("polling")
        assert state.cancel(polling, datetime.now(UTC)) is not None  # it changes while the page is open
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            page.clock.run_for(16_000)
        expect(page.locator("h1 .badge").first).to_have_text("cancelled")
        wait_until(lambda: page.evaluate(drawn), 10, "the charts drawn again, on the new canvas")

        page.goto(f"{console.url}/poison")
        entries = page.locator("tr[data-message]")
        expect(entries).to_have_count(len(every_state.harness.poison_entries()))
        gone = str(entries.first.get_attribute("data-message"))
        page.once("dialog", lambda dialog: dialog.accept())
        page.locator(f"tr[data-message='{gone}'] button.discard").click()  # its row says what was done...
        expect(page.locator(f"tr[data-message='{gone}']")).to_have_attribute("data-result", "discard")
        page.reload()  # ...and a result on the page holds the refresh: a fresh page refreshes again
        remaining = entries.count()
        other = every_state.harness.queue(f"{every_state.harness.stack.queue_name}-poison")
        other.send_message("a late arrival")
        with page.expect_response(lambda r: r.request.headers.get("hx-request") == "true"):
            page.clock.run_for(16_000)
        expect(entries).to_have_count(remaining + 1)
