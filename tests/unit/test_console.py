"""The console's pure parts: who may use it, what the timeline draws, what the filters ask the table, and the
files it serves. Pages over real storage and in a browser: tests/integration/test_console*.py."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import pytest

from graphops.console.access import Operator, Refusal, loopback_operator, platform_operator, same_page_change
from graphops.console.listing import SHOWN, Filters, summarise
from graphops.console.pages import STATIC_FILES
from graphops.console.timeline import timeline
from graphops.errors import Rejected, SettingsError
from graphops.local.http_host import HttpFunction
from graphops.settings import Settings

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
OPERATOR = "7b0c33a8-5b0e-4a3e-9c7e-2b1f3f0a9d11"
KINDS = ("roleManagementAlertRefresh", "teamsAsyncOperation")


# -- who may use it ------------------------------------------------------------------------------------


def deployed(headers: dict[str, str], *, auth: bool = True) -> Operator | Refusal:
    return platform_operator(headers, auth_enabled=auth, operators=frozenset({OPERATOR}))


def test_an_operator_signed_in_by_the_platform_is_let_in() -> None:
    who = deployed({"x-ms-client-principal-id": OPERATOR.upper(), "x-ms-client-principal-name": "oncall@contoso"})
    assert who == Operator(OPERATOR, "oncall@contoso")


@pytest.mark.parametrize(
    ("headers", "auth", "status", "named"),
    [
        ({}, True, 401, "sign in"),
        ({"x-ms-client-principal-id": "  "}, True, 401, "sign in"),
        ({"x-ms-client-principal-id": "0b0c33a8-5b0e-4a3e-9c7e-2b1f3f0a9d11"}, True, 403, "GRAPHOPS_CONSOLE_OPERATORS"),
        ({"x-ms-client-principal-id": OPERATOR}, False, 403, "WEBSITE_AUTH_ENABLED"),  # forgeable without the platform
    ],
)
def test_anyone_else_is_refused_with_the_reason(headers: dict[str, str], auth: bool, status: int, named: str) -> None:
    refused = deployed(headers, auth=auth)
    assert isinstance(refused, Refusal) and refused.status == status and named in refused.reason
    assert refused.sign_in == (status == 401)


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


def test_the_timeline_has_a_point_per_look_and_per_delivery_attempt() -> None:
    plot = timeline(HISTORY)
    assert [(p.minutes, p.lane) for p in plot.polls] == [
        (0.0, "start: HTTP 202"), (0.083, "inProgress"), (0.25, "HTTP 429"), (0.75, "succeeded")]  # fmt: skip
    assert [p.ok for p in plot.polls] == [True, True, False, True]
    assert [(p.lane, p.ok) for p in plot.deliveries] == [
        ("deliver: callback", False), ("deliver: callback", True), ("deliver: events", True)]  # fmt: skip
    assert [(w.minutes, w.seconds) for w in plot.delays] == [(0.083, 10), (0.25, 30)]
    assert [(w.minutes, w.seconds) for w in plot.retry_after] == [(0.25, 30)]
    assert plot.lanes == ("start: HTTP 202", "inProgress", "HTTP 429", "succeeded", "deliver: callback",
                          "deliver: events")  # fmt: skip
    assert plot.started_at == at(0)
    assert json.loads(json.dumps(plot.to_json()))["polls"][2] == {"x": 0.25, "y": "HTTP 429", "label": "HTTP 429",
                                                                  "ok": False}  # fmt: skip


def test_the_timeline_takes_entries_in_time_order_and_skips_damaged_ones() -> None:
    shuffled = [HISTORY[3], {"at": "yesterday"}, {"http": 200}, HISTORY[1]]
    plot = timeline(shuffled)
    assert [p.lane for p in plot.polls] == ["inProgress", "succeeded"]
    assert plot.polls[0].minutes == 0.0
    assert timeline([]).polls == () and timeline([]).started_at is None


# -- the filters -------------------------------------------------------------------------------------------


def test_no_time_given_means_the_last_day_and_an_empty_from_means_from_the_start() -> None:
    assert Filters.from_query({}, NOW, KINDS).since == NOW - timedelta(hours=24)
    assert Filters.from_query({"from": ""}, NOW, KINDS).since is None
    local = Filters.from_query({"from": "2026-11-29T08:30", "to": "2026-11-29T09:00Z"}, NOW, KINDS)
    assert (local.since, local.until) == (datetime(2026, 11, 29, 8, 30, tzinfo=UTC), datetime(2026, 11, 29, 9, 0,
                                                                                              tzinfo=UTC))  # fmt: skip


def test_filters_become_one_table_query_with_parameters() -> None:
    filters = Filters.from_query({"phase": "done", "outcome": "failed", "kind": "teamsAsyncOperation",
                                  "correlationId": "run ' or 1 eq 1", "from": "2026-11-29T00:00",
                                  "to": "2026-11-30T00:00"}, NOW, KINDS)  # fmt: skip
    query, parameters = filters.table_query()
    assert query == ("RowKey eq @row and phase eq @phase and kind eq @kind and correlationId eq @cid and "
                     "trackedSince ge @since and trackedSince lt @until")  # fmt: skip
    assert parameters == {"row": "state", "phase": "done", "kind": "teamsAsyncOperation", "cid": "run ' or 1 eq 1",
                          "since": "2026-11-29T00:00:00.000Z", "until": "2026-11-30T00:00:00.000Z"}  # fmt: skip
    assert "outcome" not in query  # counted over every outcome, filtered after


@pytest.mark.parametrize(
    ("query", "field"),
    [({"phase": "finished"}, "phase"), ({"outcome": "done"}, "outcome"), ({"kind": "nope"}, "kind"),
     ({"from": "last tuesday"}, "from"), ({"to": "2026-13-01T00:00"}, "to"),
     ({"from": "2026-11-29T10:00", "to": "2026-11-29T09:00"}, "to"), ({"correlationId": "x" * 201}, "correlationId")],
)  # fmt: skip
def test_a_filter_it_cannot_use_is_named(query: dict[str, str], field: str) -> None:
    with pytest.raises(Rejected) as raised:
        Filters.from_query(query, NOW, KINDS)
    assert raised.value.field == field


def test_the_query_string_round_trips_and_chips_change_one_field() -> None:
    filters = Filters.from_query({"outcome": "failed", "correlationId": "wf 1", "from": ""}, NOW, KINDS)
    assert filters.query_string() == "outcome=failed&correlationId=wf+1&from="
    assert filters.query_string(outcome="succeeded") == "outcome=succeeded&correlationId=wf+1&from="
    from urllib.parse import parse_qsl

    again = Filters.from_query(dict(parse_qsl(filters.query_string(), keep_blank_values=True)), NOW, KINDS)
    assert again == filters


def entity(tracking_id: str, since: str, outcome: str | None, phase: str = "done") -> dict[str, Any]:
    return {"PartitionKey": tracking_id, "phase": phase, "outcome": outcome or "", "kind": "teamsAsyncOperation",
            "trackedSince": since, "polls": 2, "deliveryAttempts": 1}  # fmt: skip


def test_counts_ignore_the_outcome_filter_and_rows_come_newest_first() -> None:
    entities = [entity("a", "2026-11-29T01:00:00.000Z", "succeeded"), entity("b", "2026-11-29T03:00:00.000Z", "failed"),
                entity("c", "2026-11-29T02:00:00.000Z", "failed"), entity("d", "2026-11-29T04:00:00.000Z", None,
                                                                            "polling")]  # fmt: skip
    listing = summarise(entities, Filters(outcome="failed"))
    assert [row.tracking_id for row in listing.rows] == ["b", "c"] and listing.matching == 2
    assert listing.counts == {"failed": 2, "succeeded": 1, "polling": 1}
    everything = summarise(entities, Filters())
    assert [row.tracking_id for row in everything.rows] == ["d", "b", "c", "a"]
    assert everything.rows[0].shown_as == "polling" and everything.rows[0].outcome is None


def test_at_most_a_page_of_rows_is_drawn_but_all_are_counted() -> None:
    many = [entity(f"t{i}", f"2026-11-29T00:00:{i % 60:02d}.{i:03d}Z", "succeeded") for i in range(SHOWN + 50)]
    listing = summarise(many, Filters())
    assert len(listing.rows) == SHOWN and listing.matching == SHOWN + 50 and listing.counts == {"succeeded": SHOWN + 50}


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
