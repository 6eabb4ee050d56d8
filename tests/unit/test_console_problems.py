"""What the console draws of a poll's problem: the timeline's words, the callout, the list's row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from graphops.console.callout import callout
from graphops.console.listing import problem_of_state
from graphops.console.timeline import timeline
from graphops.envelope.problems import Problem, entry_of

UNREACHABLE = Problem("unreachable", "Graph unreachable")
NO_TOKEN = Problem("noToken", "no token: ManagedIdentityCredential authentication unavailable")
HISTORY: list[dict[str, Any]] = [
    {"at": "2026-11-29T12:00:00Z", "http": 200, "status": "running", "next": 2},
    {"at": "2026-11-29T12:00:02Z", "next": 2, "problem": entry_of(UNREACHABLE, 1)},
    {"at": "2026-11-29T12:00:04Z", "next": 2, "problem": entry_of(UNREACHABLE, 2)},
    {"at": "2026-11-29T12:00:06Z", "next": 2, "problem": entry_of(NO_TOKEN, 3)},
    {"at": "2026-11-29T12:00:08Z", "http": 503, "retryAfter": 5, "next": 5,
     "problem": entry_of(Problem("http503", "Graph answered 503"), 4)},
    {"at": "2026-11-29T12:00:09Z", "start": "teamClone", "decision": "retry"},
    {"at": "2026-11-29T12:00:10Z", "next": 2},  # kept before problems were: no HTTP answer, no problem
]  # fmt: skip


def test_the_timeline_says_a_poll_without_an_answer_in_words_never_http_none() -> None:
    plot = timeline(HISTORY)
    drawn = json.dumps(plot.to_json())
    assert "None" not in drawn
    assert [p.lane for p in plot.polls] == ["running", "Graph unreachable", "Graph unreachable", "no token",
                                           "HTTP 503", "start: no answer", "no answer"]  # fmt: skip
    assert plot.polls[2].label == "Graph unreachable (2 in a row)"
    assert plot.polls[3].label == "no token: ManagedIdentityCredential authentication unavailable (3 in a row)"
    assert plot.polls[4].label == "HTTP 503 · Graph answered 503 (4 in a row)"
    assert [p.ok for p in plot.polls[:5]] == [True, False, False, False, False]


def view(code: str, what: str, count: int = 3, phase: str = "polling") -> dict[str, Any]:
    problem = {"code": code, "what": what, "at": "t3", "since": "t1", "inARow": count}
    return {"phase": phase, "kind": "richLongRunningOperation", "lastProblem": problem, "deliveries": {}}


@pytest.mark.parametrize(
    ("code", "what", "level", "title", "action", "setting"),
    [
        ("noToken", NO_TOKEN.what, "bad", "no token", "az login", "AZURE_CLIENT_ID"),
        ("unreachable", "Graph unreachable", "bad", "unreachable", "network", "GRAPHOPS_GRAPH_ENDPOINT"),
        ("timeout", "timed out", "bad", "does not answer", "network", None),
        ("http503", "Graph answered 503", "bad", "does not answer", "service health", None),
        ("throttled", "throttled (429), Retry-After 30 s", "warn", "throttling", "nothing to do", None),
    ],
)  # fmt: skip
def test_failing_polls_open_the_page_with_what_to_do(
    code: str, what: str, level: str, title: str, action: str, setting: str | None
) -> None:
    said = callout(view(code, what))
    assert said is not None and said.level == level and title in said.title
    assert said.detail == f"{what}: 3 polls in a row, since t1. graphops keeps polling until the tracking's deadline."
    assert action in (said.action or "") and said.setting == setting


def test_a_problem_of_a_finished_tracking_leaves_the_callout_to_its_outcome() -> None:
    finished = {**view("unreachable", "Graph unreachable", phase="done"), "outcome": "timedOut",
                "error": {"code": "timedOut", "message": "not finished; last problem: no answer"}}  # fmt: skip
    said = callout(finished)
    assert said is not None and said.title.startswith("Timed out")
    assert callout({"phase": "polling", "lastProblem": None, "deliveries": {}}) is None


def test_the_list_reads_a_state_rows_last_problem_leniently() -> None:
    problem = {"code": "unreachable", "what": "Graph unreachable", "inARow": 2}
    assert problem_of_state({"lastProblem": json.dumps(problem)}) == problem
    assert problem_of_state({"lastProblem": ""}) is None
    assert problem_of_state({"lastProblem": "{damaged"}) is None
    assert problem_of_state({"lastProblem": "[1]"}) is None
