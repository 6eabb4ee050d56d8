"""What a tracking's page says first: what went wrong (or what it waits for), and what an operator does about it.

Pure: built from the status view, so each case is tested without a page.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphops.envelope.problems import advice
from graphops.envelope.tracking import SINK_SETTINGS
from graphops.graph.kinds import KINDS

# What to change when a sink gave up, by sink.
SINK_FIXES = {
    "callback": "fix the receiver (or the callbackUrl), then requeue the dead letter",
    "events": "give the app's identity the EventGrid Data Sender role on the topic, then requeue the dead letter",
    "queue": "check the results queue and the identity's Queue Data Message Sender role, then requeue the dead letter",
}


@dataclass(frozen=True)
class Callout:
    level: str  # "bad" (it failed), "warn" (it waits on something), "info"
    title: str
    detail: str = ""
    permission: str | None = None  # an application permission to grant
    setting: str | None = None  # the setting (or message field) to change
    action: str | None = None  # what to do
    budget: str | None = None  # the throttling budget it waits for: the page links to it


def callout(view: Mapping[str, Any]) -> Callout | None:
    """The page's first box, or None when all is well (running normally, or delivered as it should be)."""
    error = view.get("error") or {}
    said = f"{error.get('code')}: {error.get('message')}" if error else ""
    kind = KINDS.get(str(view.get("kind")))
    deliveries: Mapping[str, Any] = view.get("deliveries") or {}
    dead = {sink: d for sink, d in deliveries.items() if isinstance(d, dict) and d.get("state") == "deadLettered"}
    if dead:
        sink, delivery = next(iter(dead.items()))
        return Callout("bad", f"Delivery failed: {', '.join(dead)} gave up", f"{sink}: {delivery.get('error')}",
                       setting=SINK_SETTINGS.get(sink), action=SINK_FIXES.get(sink))  # fmt: skip
    outcome = view.get("outcome")
    if outcome == "forbidden":
        if kind is not None and kind.refuses_apps:
            return Callout("bad", "Graph refused graphops' identity", said, action=kind.refuses_apps)
        permission = kind.permission if kind is not None else None
        return Callout("bad", "Graph refused graphops' identity", said, permission=permission,
                       setting="GRAPHOPS_TRACKED_KINDS",
                       action="grant the application permission (list the kind in GRAPHOPS_TRACKED_KINDS and run "
                              "azd provision, or grant it yourself), then track it again")  # fmt: skip
    if outcome == "timedOut":
        return Callout("bad", "Timed out: the operation had not ended by the deadline", said,
                       setting="timeoutSeconds (GRAPHOPS_DEFAULT_TIMEOUT_SECONDS)",
                       action="track it again with a longer timeoutSeconds if it is still running")  # fmt: skip
    if outcome in ("failed", "partiallySucceeded"):
        return Callout("bad", f"The operation {'partly ' if outcome == 'partiallySucceeded' else ''}failed in Graph",
                       said, action="the work itself failed in Graph (its error above)")  # fmt: skip
    if outcome == "notFound":
        return Callout("bad", "Graph does not know this operation", said,
                       action="check the operation URL: Graph answered 404 past the grace period")  # fmt: skip
    if outcome in ("rejected", "error"):
        return Callout("bad", "graphops could not track it", said)
    if outcome == "cancelled":
        return Callout("info", "Cancelled: unsubscribed, so nobody is called back")
    pending = [f"{sink}: {d.get('error')}" for sink, d in deliveries.items() if isinstance(d, dict) and d.get("error")
               and d.get("state") == "pending"]  # fmt: skip
    if pending and outcome:
        return Callout("warn", "Delivery is being retried", "; ".join(pending),
                       setting="GRAPHOPS_MAX_DELIVERY_ATTEMPTS")  # fmt: skip
    problem = view.get("lastProblem")
    if isinstance(problem, Mapping) and view.get("phase") in ("polling", "awaitingResource"):
        return _failing_polls(problem)
    if view.get("waitingFor") == "Retry-After":
        return Callout("warn", "Graph is throttling: waiting for its Retry-After before the next poll",
                       action="nothing to do: trackings of one service in one tenant share Graph's limits")  # fmt: skip
    if view.get("waitingFor") == "budget":
        history = view.get("history") or []
        last = history[-1] if history and isinstance(history[-1], Mapping) else {}
        service = str(last.get("budget") or "") or None  # the step that waited wrote which budget
        return Callout("info", f"Waiting for the shared throttling budget of {service or 'its service'}: no Graph "
                       "call until it has room or its pause ends", setting="GRAPHOPS_THROTTLE_BUDGETS",
                       action="see the budget: whether a 429 paused it, until when and by which tracking's; reset it "
                              "there if the pause is no longer wanted", budget=service)  # fmt: skip
    return None


# The setting an operator looks at first, by problem.
PROBLEM_SETTINGS = {"noToken": "AZURE_CLIENT_ID", "unreachable": "GRAPHOPS_GRAPH_ENDPOINT"}


def _failing_polls(problem: Mapping[str, Any]) -> Callout:
    """Polls that get no answer from Graph: said as what they meet, how long, and what to do. A tracking that cannot
    reach Graph would otherwise read as one that is merely slow."""
    code = str(problem.get("code") or "")
    count = problem.get("inARow")
    times = f"{count} polls in a row" if isinstance(count, int) and count > 1 else "the last poll"
    since = f", since {problem.get('since')}" if isinstance(count, int) and count > 1 and problem.get("since") else ""
    detail = f"{problem.get('what')}: {times}{since}. graphops keeps polling until the tracking's deadline."
    if code == "throttled":
        return Callout("warn", "Graph is throttling graphops' polls", detail, action=advice(code))
    titles = {
        "noToken": "Polls fail: graphops gets no token for Graph",
        "unreachable": "Polls fail: Graph is unreachable",
    }
    title = titles.get(code, "Polls fail: Graph does not answer")
    return Callout("bad", title, detail, setting=PROBLEM_SETTINGS.get(code), action=advice(code))
