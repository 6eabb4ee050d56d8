"""Follow one operation in the foreground, with the tracker's own decisions: for a person at a terminal."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from graphops.envelope.tracking import Outcome, Tracking
from graphops.graph.monitor import MonitorClient
from graphops.graph.reader import GraphClient
from graphops.settings import Settings
from graphops.step.decide import Finish, decide, observe
from graphops.step.poll_job import ask_twin
from graphops.wiring import limits_for, monitor_policy, policy_for


@dataclass(frozen=True)
class Change:
    """What a person watching sees: a new status, a problem, or the end."""

    at: datetime
    polls: int
    status: str | None
    problem: str | None
    next_poll_in: int | None


def watch(
    operation_url: str,
    settings: Settings,
    graph: GraphClient,
    *,
    timeout_seconds: int,
    on_change: Callable[[Change], None],
    sleep: Callable[[float], None] = time.sleep,
) -> Tracking:
    """Poll until the operation ends or the timeout passes; returns the finished tracking."""
    limits = limits_for(settings)
    ref = limits.resolve(operation_url)
    # A drive-copy monitor is read without the Graph token, under the monitor hosts' rules.
    reader = graph if ref.kind.needs_token else MonitorClient(limits.monitors or monitor_policy(settings))
    now = datetime.now(UTC)
    tracking = Tracking(
        tracking_id="watch", operation_url=ref.url, kind=ref.kind, callback_url="",
        tracked_since=now, deadline=now + timedelta(seconds=timeout_seconds),
    )  # fmt: skip
    policy = policy_for(settings)
    rng = random.Random()
    shown: tuple[str | None, str | None] = (None, None)
    while True:
        assert tracking.operation_url is not None
        answer = reader.get_operation(tracking.operation_url, ())
        now = datetime.now(UTC)
        if answer.status_code in {401, 403}:
            tracking, answer = ask_twin(reader, tracking, answer, now)  # a v1.0 reset is read on beta
        tracking = observe(tracking, answer)
        decision = decide(tracking, answer, now, policy, rng)
        problem = tracking.last_error.message if tracking.last_error else None
        delay = None if isinstance(decision, Finish) else decision.delay
        if (tracking.last_status, problem) != shown or isinstance(decision, Finish):
            on_change(Change(now, tracking.polls, tracking.last_status, problem, delay))
            shown = (tracking.last_status, problem)
        if isinstance(decision, Finish):
            return tracking.finish(decision.outcome, decision.error, now)
        sleep(decision.delay)


def exit_code(outcome: Outcome | None) -> int:
    """0 when the operation succeeded; 1 for every other end (2 is kept for wrong input)."""
    return 0 if outcome is Outcome.SUCCEEDED else 1
