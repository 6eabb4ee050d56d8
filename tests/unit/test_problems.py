"""A poll's problem: its words, its run, the state's lastProblem, and when a process warns of it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.core.exceptions import ClientAuthenticationError

from graphops.envelope.problems import Problem, advice, entry_of, in_a_row, last_problem, problem_of, say
from graphops.graph.answer import GraphAnswer
from graphops.graph.reader import credential_reason
from graphops.storage.state_view import public_view


@pytest.mark.parametrize(
    ("answer", "code", "what"),
    [
        (GraphAnswer(None, failure="no token: ManagedIdentityCredential: no identity", failed="noToken"), "noToken",
         "no token: ManagedIdentityCredential: no identity"),
        (GraphAnswer(None, failure="Graph did not answer: ConnectionError", failed="unreachable"), "unreachable",
         "Graph unreachable"),
        (GraphAnswer(None, failure="Graph did not answer in time: ReadTimeout", failed="timeout"), "timeout",
         "timed out"),
        (GraphAnswer(None, failure="monitor did not answer: ProtocolError"), "unreachable",
         "monitor did not answer: ProtocolError"),
        (GraphAnswer(503), "http503", "Graph answered 503"),
        (GraphAnswer(500, retry_after=5), "http500", "Graph answered 500"),
        (GraphAnswer(429, retry_after=29.2), "throttled", "throttled (429), Retry-After 30 s"),
        (GraphAnswer(429), "throttled", "throttled (429), no Retry-After"),
    ],
)  # fmt: skip
def test_what_a_problem_is_called(answer: GraphAnswer, code: str, what: str) -> None:
    assert problem_of(answer) == Problem(code, what)


@pytest.mark.parametrize("code", [200, 202, 404, 401, 403, 400])
def test_an_answer_is_no_problem(code: int) -> None:
    assert problem_of(GraphAnswer(code, {"status": "running"})) is None


def test_a_credential_chain_is_said_in_its_first_line_without_secrets() -> None:
    chain = (
        "DefaultAzureCredential failed to retrieve a token from the included credentials.\n"
        "Attempted credentials:\n\tEnvironmentCredential: client_secret=abc123XYZ is wrong\n\tAzureCliCredential"
    )
    assert credential_reason(ClientAuthenticationError(chain)) == (
        "DefaultAzureCredential failed to retrieve a token from the included credentials."
    )
    leaky = ClientAuthenticationError("refused token eyJhbGciOi.eyJ0aWQiOiJ4In0.c2ln and secret=hunter2hunter2 sig=x")
    said = credential_reason(leaky)
    assert "eyJ" not in said and "hunter2" not in said and "sig=x" not in said and said.startswith("refused token")
    assert len(credential_reason(ClientAuthenticationError("x " * 500))) <= 200


UNREACHABLE = Problem("unreachable", "Graph unreachable")


def test_problems_in_a_row_count_up_and_an_answer_resets_them() -> None:
    history: list[dict[str, object]] = [{"at": "t0", "http": 200, "status": "running"}]
    for expected in (1, 2, 3):
        count = in_a_row(history, UNREACHABLE)
        assert count == expected
        history.append({"at": f"t{expected}", "problem": entry_of(UNREACHABLE, count)})
    # a wait for the shared budget, a start and a delivery are not looks at Graph: they neither count nor reset
    history.append({"at": "t4", "budget": "identity", "next": 3})
    assert in_a_row(history, Problem("http503", "Graph answered 503")) == 4
    history.append({"at": "t5", "http": 200, "status": "running"})
    assert in_a_row(history, UNREACHABLE) == 1
    assert in_a_row(history, None) == 0


def test_last_problem_is_the_last_looks_and_an_answer_clears_it() -> None:
    history = [
        {"at": "t0", "http": 200, "status": "running"},
        {"at": "t1", "problem": entry_of(UNREACHABLE, 1)},
        {"at": "t2", "problem": entry_of(UNREACHABLE, 2)},
        {"at": "t3", "budget": "identity"},
    ]
    assert last_problem(history) == {"code": "unreachable", "what": "Graph unreachable", "at": "t2", "since": "t1",
                                     "inARow": 2}  # fmt: skip
    assert last_problem([*history, {"at": "t4", "http": 200, "status": "running"}]) is None
    assert last_problem([]) is None and last_problem(None) is None


def test_the_status_view_shows_last_problem_in_camel_case() -> None:
    problem = {"code": "noToken", "what": "no token: x", "at": "t1", "since": "t1", "inARow": 1}
    view = public_view("t", {"phase": "polling", "lastProblem": json.dumps(problem)})
    assert view["lastProblem"] == problem
    assert public_view("t", {"phase": "polling", "lastProblem": ""})["lastProblem"] is None


def test_the_status_view_is_what_openapi_json_declares() -> None:
    document = json.loads((Path(__file__).resolve().parents[2] / "graphops" / "openapi.json").read_text())
    declared = set(document["components"]["schemas"]["TrackingState"]["properties"])
    assert set(public_view("t", {})) == declared


def test_a_process_warns_once_per_problem_until_it_changes_or_clears() -> None:
    first = say(None, UNREACHABLE)
    assert first.warn and first.remembered == "Graph unreachable"
    again = say(first.remembered, UNREACHABLE)
    assert not again.warn and not again.cleared
    changed = say(again.remembered, Problem("noToken", "no token: x"))
    assert changed.warn
    cleared = say(changed.remembered, None)
    assert cleared.cleared and not cleared.warn and cleared.remembered is None
    assert say(cleared.remembered, Problem("noToken", "no token: x")).warn  # back after a clear: said again
    assert not say(None, None).cleared


def test_a_new_retry_after_is_the_same_throttling() -> None:
    first = say(None, Problem("throttled", "throttled (429), Retry-After 30 s"))
    assert not say(first.remembered, Problem("throttled", "throttled (429), Retry-After 5 s")).warn


def test_each_problem_has_advice() -> None:
    assert "az login" in (advice("noToken") or "")
    assert "GRAPHOPS_GRAPH_ENDPOINT" in (advice("unreachable") or "")
    assert (advice("throttled") or "").startswith("nothing to do")
    assert advice("http503") and advice("timeout") and advice(None) is None
