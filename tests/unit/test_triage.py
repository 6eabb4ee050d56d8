"""The list's pure decisions: what needs attention first, how a column sorts, when a poll is overdue, how part of a
correlation id matches; and the short reason a finished tracking's index row keeps."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphops.common.errors import Rejected
from graphops.console.listing import STANDINGS, Filters
from graphops.console.triage import (
    OVERDUE_AFTER,
    Row,
    attention,
    correlation_matches,
    order,
    overdue,
    toggled,
)
from graphops.graph.kinds import KINDS
from graphops.storage.time_index import REASON_CHARS, entry_of_row, entry_of_state, reason_of

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def at(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat()


def row(name: str, standing: str = "succeeded", started: float = -600, **fields: Any) -> Row:
    phase = standing if standing in ("polling", "awaitingResource", "delivering") else "done"
    return Row(tracking_id=name, standing=standing, phase=phase, outcome=None, kind=fields.pop("kind", "teamsAsync"),
               correlation_id=name, tracked_since=at(started), finished_at=None, operation_url=None,
               **fields)  # fmt: skip


def names(rows: list[Row]) -> list[str]:
    return [r.tracking_id for r in rows]


def test_a_poll_is_overdue_only_past_its_time_and_only_while_the_tracking_polls() -> None:
    assert overdue(row("late", "polling", next_poll_at=at(-53)), NOW)
    assert not overdue(row("soon", "polling", next_poll_at=at(30)), NOW)
    just = OVERDUE_AFTER.total_seconds()
    assert not overdue(row("on time", "polling", next_poll_at=at(-just)), NOW)  # the queue's ordinary pace
    assert overdue(row("just late", "polling", next_poll_at=at(-just - 1)), NOW)
    assert overdue(row("waits for its resource", "awaitingResource", next_poll_at=at(-120)), NOW)
    assert not overdue(row("done", "succeeded", next_poll_at=at(-3600)), NOW)  # a stale time of a finished one
    assert not overdue(row("no time", "polling"), NOW)


def test_what_needs_attention_and_why() -> None:
    problem = {"what": "Graph unreachable", "inARow": 3}
    assert attention(row("p", "polling", last_problem=problem, next_poll_at=at(-120)), NOW) == "problem"
    assert attention(row("o", "polling", next_poll_at=at(-120)), NOW) == "overdue"
    assert attention(row("d", "deliveryFailed"), NOW) == "deliveryFailed"
    assert attention(row("t", "polling", waiting_for="Retry-After", next_poll_at=at(900)), NOW) == "waiting"
    assert attention(row("b", "polling", waiting_for="budget", next_poll_at=at(5)), NOW) == "waiting"
    # Graph's 429 is a poll's problem too, but its pace, not a fault: it ranks with the waits.
    throttled = {"code": "throttled", "what": "throttled (429), Retry-After 900 s", "inARow": 1}
    assert attention(row("429", "polling", last_problem=throttled, next_poll_at=at(900)), NOW) == "waiting"
    for ended in ("failed", "forbidden", "timedOut", "notFound"):
        assert attention(row(ended, ended), NOW) == "endedBadly"
    for fine in ("succeeded", "cancelled", "partiallySucceeded"):
        assert attention(row(fine, fine), NOW) is None
    assert attention(row("going", "polling", next_poll_at=at(10)), NOW) is None
    # A problem is a poll's: a finished tracking's last one is history, not what troubles it now.
    assert attention(row("was", "succeeded", last_problem=problem), NOW) is None


def test_needs_attention_comes_first_in_its_order_then_the_rest_newest_first() -> None:
    rows = [
        row("old success", "succeeded", started=-900),
        row("failed", "failed", started=-100),
        row("new success", "succeeded", started=-10),
        row("throttled", "polling", started=-50, waiting_for="Retry-After", next_poll_at=at(900)),
        row("delivery failed", "deliveryFailed", started=-300),
        row("overdue", "polling", started=-400, next_poll_at=at(-53)),
        row("problem", "polling", started=-800, last_problem={"what": "no token"}, next_poll_at=at(5)),
        row("forbidden", "forbidden", started=-20),
        row("polling", "polling", started=-5, next_poll_at=at(10)),
    ]
    assert names(order(rows, "attention", NOW, STANDINGS)) == [
        "problem", "overdue", "delivery failed", "throttled", "forbidden", "failed",  # newest first within a kind
        "polling", "new success", "old success",
    ]  # fmt: skip
    assert names(order(rows, "newest", NOW, STANDINGS)) == [
        "polling", "new success", "forbidden", "throttled", "failed", "delivery failed", "overdue", "problem",
        "old success",
    ]  # fmt: skip
    assert order(rows, "-started", NOW, STANDINGS) == order(rows, "newest", NOW, STANDINGS)
    assert names(order(rows, "started", NOW, STANDINGS))[:2] == ["old success", "problem"]


def test_columns_sort_either_way_ties_newest_first_and_rows_without_a_value_last() -> None:
    rows = [row("b1", kind="b", started=-30), row("a", kind="a", started=-20), row("b2", kind="b", started=-10),
            row("c", kind="c", started=-40)]  # fmt: skip
    assert names(order(rows, "kind", NOW, STANDINGS)) == ["a", "b2", "b1", "c"]
    assert names(order(rows, "-kind", NOW, STANDINGS)) == ["c", "b2", "b1", "a"]

    by_state = [row("ok", "succeeded", started=-1), row("poll", "polling", started=-2),
                row("dead", "deliveryFailed", started=-3), row("bad", "failed", started=-4)]  # fmt: skip
    assert names(order(by_state, "state", NOW, STANDINGS)) == ["poll", "dead", "ok", "bad"]  # the counts' order
    assert names(order(by_state, "-state", NOW, STANDINGS)) == ["bad", "ok", "dead", "poll"]

    polls = [row("later", "polling", started=-1, next_poll_at=at(60)), row("done", "succeeded", started=-2),
             row("sooner", "polling", started=-3, next_poll_at=at(5)),
             row("past", "polling", started=-4, next_poll_at=at(-5))]  # fmt: skip
    assert names(order(polls, "next", NOW, STANDINGS)) == ["past", "sooner", "later", "done"]
    assert names(order(polls, "-next", NOW, STANDINGS)) == ["later", "sooner", "past", "done"]


def test_a_header_sorts_by_its_column_then_the_other_way() -> None:
    assert toggled("attention", "kind") == "kind"
    assert toggled("kind", "kind") == "-kind"
    assert toggled("-kind", "kind") == "kind"
    assert toggled("kind", "state") == "state"


def test_the_correlation_filter_matches_any_part_in_any_case() -> None:
    assert correlation_matches("INC-20261130-7", "INC-")
    assert correlation_matches("inc-20261130-7", "INC-")
    assert correlation_matches("wf-INC-7", "inc-7")
    assert not correlation_matches("wf-7", "INC-")
    assert not correlation_matches(None, "INC-")
    assert correlation_matches(None, None) and correlation_matches("x", "")


def test_the_order_is_read_from_the_query_and_a_strange_one_is_named() -> None:
    assert Filters.from_query({}, NOW, KINDS).sort == "attention"
    assert Filters.from_query({"sort": "-next"}, NOW, KINDS).sort == "-next"
    assert "sort=-next" in Filters.from_query({"sort": "-next"}, NOW, KINDS).query_string()
    assert "sort" not in Filters.from_query({}, NOW, KINDS).query_string()  # the default is not written
    with pytest.raises(Rejected) as raised:
        Filters.from_query({"sort": "polls; drop"}, NOW, KINDS)
    assert raised.value.field == "sort"


# -- the reason a finished tracking's row keeps ---------------------------------------------------------------


def state(**fields: Any) -> dict[str, Any]:
    return {"trackedSince": at(-60), "phase": "done", "polls": 3, "kind": "teamsAsyncOperation", **fields}


def test_a_delivery_that_gave_up_says_its_sinks_error() -> None:
    deliveries = json.dumps({"callback": {"state": "deadLettered", "attempts": 5, "error": "callback answered 410"}})
    assert reason_of(state(outcome="succeeded", deliveries=deliveries)) == "callback answered 410"
    said = state(outcome="succeeded", deliveries=deliveries, lastDeliveryError="callback answered 410 Gone")
    assert reason_of(said) == "callback answered 410 Gone"


def test_a_failed_or_refused_operation_says_its_error_and_a_success_nothing() -> None:
    refused = {"code": "Authorization_RequestDenied",
               "message": "Graph answered 403: the app's identity needs the application permission "
                          "TeamSettings.Read.All (teamsAsyncOperation)"}  # fmt: skip
    # A refusal says first the permission to grant, for its kind, in graphops' words.
    reason = reason_of(state(outcome="forbidden", error=json.dumps(refused)))
    assert reason == f"needs the application permission {KINDS['teamsAsyncOperation'].permission}"
    unknown = reason_of(state(outcome="forbidden", kind="retiredKind", error=json.dumps(refused)))
    assert unknown is not None and unknown.startswith("Authorization_RequestDenied: Graph answered 403")
    assert reason_of(state(outcome="timedOut", error=json.dumps({"code": "Timeout", "message": "gave up"}))) == (
        "Timeout: gave up")  # fmt: skip
    assert reason_of(state(outcome="failed", error=json.dumps({"code": "x", "message": "line\n  two"}))) == (
        "x: line two")  # fmt: skip
    assert reason_of(state(outcome="succeeded", error=json.dumps({"code": "x", "message": "y"}))) is None
    assert reason_of(state(outcome="failed", error="{not json")) is None  # damaged: no reason, never a failure


def test_a_reason_is_bounded_and_kept_in_the_finished_trackings_index_row() -> None:
    long = "why " * 200
    said = state(outcome="failed", error=json.dumps({"code": "Failed", "message": long}))
    reason = reason_of(said)
    assert reason is not None and len(reason) == REASON_CHARS and reason.endswith("…")
    entry = entry_of_state("t1", said)
    assert entry is not None and entry.row["reason"] == reason
    read = entry_of_row(entry.row).details  # as the list reads it back
    assert read is not None and read["reason"] == reason
    running = entry_of_state("t2", {**said, "phase": "polling", "outcome": None})
    assert running is not None and running.details is None  # a running one's row keeps nothing of its state


def test_data_in_a_reason_is_kept_as_written() -> None:
    error = {"code": "<script>alert(1)</script>", "message": "<b>bold</b>"}
    assert reason_of(state(outcome="failed", error=json.dumps(error))) == "<script>alert(1)</script>: <b>bold</b>"
