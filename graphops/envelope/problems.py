"""A poll's problem: what it is called, how many came in a row, and whether this process says so at WARNING.

A poll that got no usable answer (no token, Graph unreachable or silent, a 5xx, a 429) is not the operation's news,
and the tracking goes on; but an operator must see it, or a tracking that cannot reach Graph looks like one that
is merely slow. Each such poll's history entry carries the problem (``problem``: its code, its words and how many
in a row); the state's ``lastProblem`` is read back from the history, so it costs no read and no write of its own.
Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from graphops.graph.answer import GraphAnswer

# History entries that are not a look at Graph: a delivery attempt, a start, a wait for the shared budget, a dead
# letter. They neither continue a run of problems nor end one.
NOT_LOOKS = ("sink", "start", "budget", "deadLettered")

# What an operator does about each problem, by code (the console's callout says it).
ADVICE = {
    "noToken": "check graphops' managed identity (AZURE_CLIENT_ID names a user-assigned one it must be assigned); "
    "running locally, sign in with `az login`",
    "unreachable": "check the network path to Graph (VNet, firewall, DNS) and GRAPHOPS_GRAPH_ENDPOINT",
    "timeout": "Graph accepted the connection but did not answer in time: usually passing; if it persists, check the "
    "network path and Graph's service health",
    "throttled": "nothing to do: graphops waits for Graph's Retry-After; only if it persists, look at what else "
    "calls Graph with this identity (GRAPHOPS_THROTTLE_BUDGETS)",
    "server": "Graph is failing on its side: usually passing; if it persists, check Graph's service health",
}


@dataclass(frozen=True)
class Problem:
    code: str  # noToken, unreachable, timeout, throttled, or http<status> for a 5xx (and a 408)
    what: str  # in words, for people: "Graph unreachable", "throttled (429), Retry-After 30 s"

    @property
    def key(self) -> str:
        """What makes two problems the same one, for the warning: a new Retry-After is not a new problem."""
        return self.code if self.code == "throttled" else self.what


def problem_of(answer: GraphAnswer) -> Problem | None:
    """The problem a poll's answer is, or None when Graph answered (a status, a 404, a refusal: news, not trouble)."""
    code = answer.status_code
    if code is None:
        if answer.failed == "noToken":
            return Problem("noToken", answer.failure or "no token")
        if answer.failed == "timeout":
            return Problem("timeout", "timed out")
        if answer.failed == "unreachable":
            return Problem("unreachable", "Graph unreachable")
        return Problem("unreachable", answer.failure or "no answer")  # a monitor's own words (another host)
    if code == 429:
        after = answer.retry_after
        wait = f"Retry-After {math.ceil(after)} s" if after is not None else "no Retry-After"
        return Problem("throttled", f"throttled (429), {wait}")
    if code >= 500 or code == 408:
        return Problem(f"http{code}", f"Graph answered {code}")
    return None


def is_look(entry: Mapping[str, Any]) -> bool:
    return not any(name in entry for name in NOT_LOOKS)


def in_a_row(history: Sequence[Mapping[str, Any]] | None, problem: Problem | None) -> int:
    """How many problems in a row this poll's makes: one more than the last look's, 1 after an answer; 0 for none."""
    if problem is None:
        return 0
    last = next((entry for entry in reversed(history or ()) if is_look(entry)), None)
    before = last.get("problem") if last is not None else None
    count = before.get("inARow") if isinstance(before, Mapping) else None
    return count + 1 if isinstance(count, int) and count > 0 else 1


def entry_of(problem: Problem | None, count: int) -> dict[str, Any] | None:
    """The history entry's ``problem``: None for an answer, so the entry has none."""
    if problem is None:
        return None
    return {"code": problem.code, "what": problem.what, "inARow": count}


def last_problem(history: Iterable[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """The state's ``lastProblem``: the problem of the last look at Graph, when it had one (an answer clears it),
    with when it was seen, since when they run and how many in a row."""
    looks = [entry for entry in history or () if is_look(entry)]
    if not looks or not isinstance(looks[-1].get("problem"), Mapping):
        return None
    newest = looks[-1]
    problem = newest["problem"]
    since = newest.get("at")
    for entry in reversed(looks):
        if not isinstance(entry.get("problem"), Mapping):
            break
        since = entry.get("at", since)
    return {"code": problem.get("code"), "what": problem.get("what"), "at": newest.get("at"), "since": since,
            "inARow": problem.get("inARow")}  # fmt: skip


@dataclass(frozen=True)
class Said:
    """What a process says of a poll's problem: ``warn`` it at WARNING (a new one), ``cleared`` the last one (INFO),
    and the key it now remembers."""

    warn: bool
    cleared: bool
    remembered: str | None


def say(remembered: str | None, problem: Problem | None) -> Said:
    """Once per problem and process: a repeat of the one it last warned of stays quiet; a change or a clear (an
    answer) lets the next problem be said again."""
    if problem is None:
        return Said(warn=False, cleared=remembered is not None, remembered=None)
    if problem.key == remembered:
        return Said(warn=False, cleared=False, remembered=remembered)
    return Said(warn=True, cleared=False, remembered=problem.key)


def advice(code: str | None) -> str | None:
    """What to do about a problem, by its code."""
    if code is None:
        return None
    if code.startswith("http"):
        return ADVICE["server"]
    return ADVICE.get(code)
