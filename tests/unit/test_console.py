"""The console's pure parts: who may use it (the deployed console's sign-in: test_console_signin.py), what the
timeline draws, how times read, what a tracking's page says first, what the filters ask the index, and the files
it serves. Pages over real storage and in a browser: tests/integration/test_console*.py."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from graphops.common.errors import Rejected, SettingsError
from graphops.console.access import Operator, Refusal, loopback_operator, same_page_change
from graphops.console.callout import callout
from graphops.console.listing import STANDINGS, Filters
from graphops.console.pages import STATIC_FILES
from graphops.console.timeline import timeline, unit_for
from graphops.console.times import duration, moment, span
from graphops.local.http_host import HttpFunction
from graphops.settings import Settings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OPERATOR = "7b0c33a8-5b0e-4a3e-9c7e-2b1f3f0a9d11"
KINDS = ("roleManagementAlertRefresh", "teamsAsyncOperation")


# -- who may use it ------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["127.0.0.1:8642", "localhost:8642", "[::1]:8642", "LOCALHOST:8642"])
def test_the_local_console_answers_loopback_names(host: str) -> None:
    assert isinstance(loopback_operator({"host": host}, 8642), Operator)


@pytest.mark.parametrize("host", ["", "127.0.0.1", "127.0.0.1:9999", "rebound.example:8642", "10.0.0.5:8642",
                                  "127.0.0.1.nip.io:8642"])  # fmt: skip
def test_the_local_console_refuses_other_names(host: str) -> None:
    refused = loopback_operator({"host": host}, 8642)
    assert isinstance(refused, Refusal) and refused.status == 400


def test_a_change_must_come_from_the_consoles_page() -> None:
    own = {"host": "app.azurewebsites.net", "hx-request": "true"}
    assert same_page_change(own) is None
    assert same_page_change({**own, "origin": "https://app.azurewebsites.net", "sec-fetch-site": "same-origin"}) is None
    behind_front_end = {**own, "host": "10.0.0.4:80", "x-forwarded-host": "app.azurewebsites.net",
                        "origin": "https://app.azurewebsites.net"}  # fmt: skip
    assert same_page_change(behind_front_end) is None
    for bad in ({"host": "app.azurewebsites.net"}, {**own, "hx-request": "false"},
                {**own, "sec-fetch-site": "cross-site"}, {**own, "sec-fetch-site": "same-site"},
                {**own, "origin": "https://evil.example"}, {**own, "origin": "null"}):  # fmt: skip
        refused = same_page_change(bad)
        assert refused is not None and refused.status == 400, bad


# -- the timeline ----------------------------------------------------------------------------------------


def at(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


HISTORY: list[dict[str, Any]] = [
    {"at": at(0), "start": "teamClone", "http": 202, "decision": "Accepted"},
    {"at": at(5), "http": 200, "status": "inProgress", "retryAfter": None, "next": 10, "outcome": None},
    {"at": at(15), "http": 429, "status": None, "retryAfter": 30, "next": 30, "outcome": None},
    {"at": at(45), "http": 200, "status": "succeeded", "retryAfter": None, "next": None, "outcome": "succeeded"},
    {"at": at(46), "sink": "callback", "attempt": 1, "delivered": False, "result": "callback answered 503"},
    {"at": at(76), "sink": "callback", "attempt": 2, "delivered": True, "result": "delivered (200)"},
    {"at": at(76), "sink": "events", "attempt": 1, "result": "published (200)"},  # written before `delivered`
]


def test_the_timeline_has_a_point_per_look_and_per_delivery_attempt_in_the_unit_its_span_needs() -> None:
    plot = timeline(HISTORY)
    assert plot.unit == "seconds"  # 76 s from first to last
    assert [(p.x, p.lane) for p in plot.polls] == [
        (0.0, "start: HTTP 202"), (5.0, "inProgress"), (15.0, "HTTP 429"), (45.0, "succeeded")]  # fmt: skip
    assert [p.ok for p in plot.polls] == [True, True, False, True]
    assert plot.polls[2].at == "2026-11-29 12:00:15 UTC"  # the exact time, for the tooltip
    assert [(p.lane, p.ok) for p in plot.deliveries] == [
        ("deliver: callback", False), ("deliver: callback", True), ("deliver: events", True)]  # fmt: skip
    assert [(w.x, w.seconds) for w in plot.delays] == [(5.0, 10), (15.0, 30)]
    assert [(w.x, w.seconds) for w in plot.retry_after] == [(15.0, 30)]
    assert plot.lanes == ("start: HTTP 202", "inProgress", "HTTP 429", "succeeded", "deliver: callback",
                          "deliver: events")  # fmt: skip
    assert plot.started_at == at(0)
    assert json.loads(json.dumps(plot.to_json()))["polls"][2] == {
        "x": 15.0, "y": "HTTP 429", "label": "HTTP 429", "ok": False, "at": "2026-11-29 12:00:15 UTC"}  # fmt: skip


@pytest.mark.parametrize(("span_seconds", "unit"), [(0, "seconds"), (120, "seconds"), (121, "minutes"),
                                                    (7200, "minutes"), (7201, "hours"),
                                                    (30 * 86400, "hours")])  # fmt: skip
def test_the_time_axis_reads_in_seconds_minutes_or_hours(span_seconds: float, unit: str) -> None:
    assert unit_for(span_seconds)[0] == unit


def test_a_long_timeline_is_drawn_in_hours() -> None:
    plot = timeline([{"at": at(0), "http": 200, "status": "running"}, {"at": at(3 * 3600), "http": 200,
                                                                        "status": "succeeded"}])  # fmt: skip
    assert plot.unit == "hours" and [p.x for p in plot.polls] == [0.0, 3.0]


def test_the_timeline_takes_entries_in_time_order_and_skips_damaged_ones() -> None:
    shuffled = [HISTORY[3], {"at": "yesterday"}, {"http": 200}, HISTORY[1]]
    plot = timeline(shuffled)
    assert [p.lane for p in plot.polls] == ["inProgress", "succeeded"]
    assert plot.polls[0].x == 0.0
    assert timeline([]).polls == () and timeline([]).started_at is None


# -- times and the callout -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "said"), [(0, "0 s"), (59.9, "59 s"), (60, "1 min"), (840, "14 min"),
                                               (3600 * 3 + 300, "3 h 05 min"),
                                               (86400 * 2 + 3600 * 4, "2 d 4 h")])  # fmt: skip
def test_a_span_reads_in_the_unit_that_fits(seconds: float, said: str) -> None:
    assert span(seconds) == said


def test_times_are_relative_to_the_pages_clock_with_the_exact_time_beside() -> None:
    past, future = moment(at(-120), NOW), moment(at(14 * 60), NOW)
    assert past is not None and (past.relative, past.exact, past.past) == ("2 min ago", "2026-11-29 11:58:00 UTC", True)
    assert future is not None and future.relative == "in 14 min" and not future.past
    assert moment("not a time", NOW) is None and moment(None, NOW) is None
    assert duration(at(0), at(3725)) == "1 h 02 min" and duration(at(0), None) is None


def view(**fields: Any) -> dict[str, Any]:
    return {"kind": "roleManagementAlertRefresh", "outcome": None, "deliveries": {}, "error": None, **fields}


def test_the_callout_names_the_failed_sink_and_the_setting_before_anything_else() -> None:
    dead = view(outcome="succeeded", deliveries={"callback": {"state": "delivered", "attempts": 1},
                                                 "events": {"state": "deadLettered", "attempts": 1,
                                                            "error": "Event Grid answered 403"}})  # fmt: skip
    said = callout(dead)
    assert said is not None and said.level == "bad" and "events" in said.title and "403" in said.detail
    assert said.setting == "GRAPHOPS_EVENT_GRID_ENDPOINT" and said.action and "requeue" in said.action


def test_a_refusal_names_the_permission_to_grant_and_a_retired_service_says_so() -> None:
    forbidden = callout(view(outcome="forbidden", error={"code": "Authorization_RequestDenied", "message": "no"}))
    assert forbidden is not None and forbidden.permission == "RoleManagementAlert.Read.Directory"
    onenote = callout(view(kind="onenoteOperation", outcome="forbidden"))
    assert onenote is not None and onenote.permission is None and "31 March 2025" in (onenote.action or "")


@pytest.mark.parametrize(
    ("fields", "level", "words"),
    [({"outcome": "timedOut"}, "bad", "Timed out"), ({"outcome": "failed"}, "bad", "failed in Graph"),
     ({"outcome": "notFound"}, "bad", "does not know"), ({"outcome": "cancelled"}, "info", "Cancelled"),
     ({"waitingFor": "Retry-After"}, "warn", "throttling"),
     ({"waitingFor": "budget"}, "info", "shared throttling budget"),
     ({"outcome": "succeeded", "deliveries": {"callback": {"state": "pending", "attempts": 2, "error": "503"}}},
      "warn", "retried")],
)  # fmt: skip
def test_each_trouble_has_its_callout(fields: dict[str, Any], level: str, words: str) -> None:
    said = callout(view(**fields))
    assert said is not None and said.level == level and words in said.title


def test_a_tracking_waiting_for_a_budget_names_the_budget_its_last_step_waited_for() -> None:
    history = [{"at": "2026-11-29T11:58:00Z", "http": 429}, {"at": "2026-11-29T11:59:00Z", "budget": "identity"}]
    said = callout(view(waitingFor="budget", history=history))
    assert said is not None and said.budget == "identity" and "budget of identity" in said.title
    assert "nothing to do" not in (said.action or "")


def test_a_tracking_going_well_has_no_callout() -> None:
    assert callout(view()) is None
    assert callout(view(outcome="succeeded", deliveries={"callback": {"state": "delivered", "attempts": 1}})) is None


# -- the filters -------------------------------------------------------------------------------------------


def test_no_time_given_means_the_last_day_and_an_empty_from_means_from_the_start() -> None:
    assert Filters.from_query({}, NOW, KINDS).since == NOW - timedelta(hours=24)
    assert Filters.from_query({"from": ""}, NOW, KINDS).since is None
    local = Filters.from_query({"from": "2026-11-29T08:30", "to": "2026-11-29T09:00Z"}, NOW, KINDS)
    assert (local.since, local.until) == (datetime(2026, 11, 29, 8, 30, tzinfo=UTC), datetime(2026, 11, 29, 9, 0,
                                                                                              tzinfo=UTC))  # fmt: skip


def test_filters_become_the_index_window() -> None:
    filters = Filters.from_query({"phase": "done", "kind": "teamsAsyncOperation", "correlationId": "run ' or 1 eq 1",
                                  "from": "2026-11-29T00:00", "to": "2026-11-30T00:00"}, NOW, KINDS)  # fmt: skip
    window = filters.window()
    # Part of a correlation id is matched in the rows read: the table is asked for no value of it.
    assert (window.kind, window.correlation_id) == ("teamsAsyncOperation", None)
    assert filters.correlation_id == "run ' or 1 eq 1"
    assert (window.since, window.until) == (datetime(2026, 11, 29, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))
    assert window.standings == frozenset(STANDINGS) - {"polling", "awaitingResource", "delivering"}
    assert Filters.from_query({"state": "deliveryFailed", "from": ""}, NOW, KINDS).window().standings == {
        "deliveryFailed"}  # fmt: skip
    assert Filters.from_query({"state": "polling", "phase": "done"}, NOW, KINDS).window().standings == frozenset()
    assert Filters().window().standings is None  # no filter on where they stand


def test_the_phase_filter_applies_to_the_counts_and_the_state_filter_does_not() -> None:
    done = Filters(phase="done", state="failed")
    assert done.counted("succeeded") and done.counted("deliveryFailed") and not done.counted("polling")
    assert all(Filters(state="failed").counted(s) for s in STANDINGS)


@pytest.mark.parametrize(
    ("query", "field"),
    [({"phase": "finished"}, "phase"), ({"state": "done"}, "state"), ({"kind": "nope"}, "kind"),
     ({"from": "last tuesday"}, "from"), ({"to": "2026-13-01T00:00"}, "to"),
     ({"from": "2026-11-29T10:00", "to": "2026-11-29T09:00"}, "to"), ({"correlationId": "x" * 257}, "correlationId"),
     ({"from": "1969-12-31T23:59"}, "from"), ({"to": "2200-01-01T00:01"}, "to"),
     ({"from": "0001-01-01T00:00+01:00"}, "from")],
)  # fmt: skip
def test_a_filter_it_cannot_use_is_named(query: dict[str, str], field: str) -> None:
    with pytest.raises(Rejected) as raised:
        Filters.from_query(query, NOW, KINDS)
    assert raised.value.field == field


def test_the_query_string_round_trips_and_chips_change_one_field() -> None:
    filters = Filters.from_query({"state": "failed", "correlationId": "wf 1", "from": ""}, NOW, KINDS)
    assert filters.query_string() == "state=failed&correlationId=wf+1&from="
    assert filters.query_string(state="deliveryFailed") == "state=deliveryFailed&correlationId=wf+1&from="
    from urllib.parse import parse_qsl

    again = Filters.from_query(dict(parse_qsl(filters.query_string(), keep_blank_values=True)), NOW, KINDS)
    assert again == filters


# -- settings, routes and files ------------------------------------------------------------------------------


BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}


def test_the_console_is_off_by_default_and_operators_are_object_ids() -> None:
    settings = Settings.from_env(BASE)
    assert (settings.console_enabled, settings.console_operators, settings.platform_auth_enabled) == (
        False, frozenset(), False)  # fmt: skip
    other = "11111111-2222-3333-4444-555555555555"
    on = Settings.from_env({**BASE, "GRAPHOPS_CONSOLE_ENABLED": "true", "WEBSITE_AUTH_ENABLED": "True",
                            "GRAPHOPS_CONSOLE_OPERATORS": f"{OPERATOR.upper()}, {other}"})  # fmt: skip
    assert on.console_enabled and on.platform_auth_enabled
    assert on.console_operators == {OPERATOR, other}
    with pytest.raises(SettingsError, match=r"GRAPHOPS_CONSOLE_OPERATORS.*oncall@contoso"):
        Settings.from_env({**BASE, "GRAPHOPS_CONSOLE_OPERATORS": "oncall@contoso"})


def test_a_catch_all_route_takes_the_rest_of_the_path_as_the_functions_host_does() -> None:
    route = HttpFunction("console", "console/{*path}", frozenset({"GET"}), lambda request: None)
    assert route.match("console") == {"path": ""}
    assert route.match("console/") == {"path": ""}
    assert route.match("console/trackings/abc") == {"path": "trackings/abc"}
    assert route.match("consoles/x") is None and route.match("operations") is None


def test_every_file_the_pages_name_is_served_and_nothing_else() -> None:
    static = resources.files("graphops.console").joinpath("static")
    templates = Path(str(resources.files("graphops.console").joinpath("templates")))
    named = {name for page in templates.glob("*.html") for name in _static_names(page.read_text())}
    named |= {"console.css", "console.js", "favicon.svg"}
    assert named == STATIC_FILES
    for name in STATIC_FILES:
        assert static.joinpath(*name.split("/")).is_file(), name


def test_the_vendored_libraries_are_the_published_files() -> None:
    folder = Path(str(resources.files("graphops.console").joinpath("static", "vendor")))
    manifest = json.loads((folder / "VENDORED.json").read_text())
    for entry in manifest:
        body = (folder / entry["file"]).read_bytes()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"], entry["file"]
        assert (folder / entry["license"]).is_file()
        assert entry["version"] in entry["file"]


def _static_names(html: str) -> set[str]:
    import re

    return set(re.findall(r"\{\{ root \}\}static/([\w./-]+)", html))


KIND_WORDS = [("authenticationMethodOperation", ["authentication", "Method", "Operation"]),
              ("teamsAsyncOperation", ["teams", "Async", "Operation"]), ("driveItemCopy", ["drive", "Item", "Copy"]),
              ("eDiscoverySearch", ["e", "Discovery", "Search"]), ("x", ["x"]), ("", [""])]  # fmt: skip


@pytest.mark.parametrize(("name", "parts"), KIND_WORDS)
def test_a_kinds_name_breaks_between_its_words(name: str, parts: list[str]) -> None:
    from graphops.console.pages import camel_parts

    assert camel_parts(name) == parts


def test_a_finished_trackings_facts_leave_out_its_deadline() -> None:
    from graphops.console.pages import _facts

    view = {"phase": "polling", "deadline": "2026-12-05T09:00:00.000Z", "polls": 2, "correlationId": "wf"}
    assert ("deadline", view["deadline"]) in _facts(view)
    assert [label for label, _ in _facts({**view, "phase": "done"})] == ["phase", "correlation id", "polls"]
