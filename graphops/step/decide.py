"""What to do with Graph's answer: a pure decision, tested without any server."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking
from graphops.graph.answer import GraphAnswer
from graphops.graph.kinds import OperationKind
from graphops.graph.kinds.base import field_at
from graphops.pacing.budget import Limit
from graphops.pacing.schedule import MAX_QUEUE_DELAY, PollSchedule, Schedule, whole_delay

THROTTLED = frozenset({429, 503, 504})  # wait at least Retry-After
# Answers worth asking again about: throttling, 404 while Graph catches up, timeouts, any 5xx.
ASK_AGAIN = THROTTLED | {404, 408}


# Once Graph has shown an operation, a 404 is a glitch of its replicas, not the operation's end: only this
# many 404 answers in a row end the tracking as notFound.
NOT_FOUND_STREAK_AFTER_SEEN = 3


@dataclass(frozen=True)
class PollAgain:
    delay: int  # seconds, never more than a queue message can wait (MAX_QUEUE_DELAY)
    reason: str
    wait: int | None = None  # the whole wait, when it is longer than one queue delay
    schedule: str | None = None  # the schedule that chose the delay (its name), when one did


@dataclass(frozen=True)
class Finish:
    outcome: Outcome
    error: ErrorInfo | None = None


Decision = PollAgain | Finish


class Twin(StrEnum):
    """What the twin's answer says of a refused operation (see :func:`twin_verdict`)."""

    SHOWS = "shows"  # it reads the operation: the tracking reads the twin from now on
    REFUSES = "refuses"  # a definitive no: the first refusal stands
    ASK_AGAIN = "askAgain"  # throttled, failing or silent: says nothing yet, so poll again


def twin_verdict(answer: GraphAnswer) -> Twin:
    """What the twin's answer means for a tracking whose version refused graphops' token. Only a definitive answer
    ends the tracking: a 429, a 408, a 5xx or no answer at all is a blip that says nothing of the operation, so the
    tracking polls again (after Graph's Retry-After) and asks the twin again."""
    code = answer.status_code
    if code == 200:
        return Twin.SHOWS
    if code is None or code in ASK_AGAIN - {404} or code >= 500:
        return Twin.ASK_AGAIN
    # 401, 403, 404 and any other 4xx: asking the twin again will not change its answer.
    return Twin.REFUSES


@dataclass(frozen=True)
class ResourceSeen:
    """The wait for a created resource is over: it answered 200 (ready), or it never will in time."""

    ready: bool


@dataclass(frozen=True)
class Policy:
    schedule: PollSchedule  # the deployment's own (GRAPHOPS_MIN/MAX_DELAY_SECONDS)
    not_found_grace_seconds: int
    #: A kind's own schedule, where its service asks for one (teams: >30 s between checks) or settings say so.
    kind_schedules: Mapping[str, PollSchedule] = field(default_factory=dict)
    #: Kinds whose schedule the deployment set (GRAPHOPS_KIND_POLL_DELAYS): never replaced by a learned one.
    fixed: frozenset[str] = frozenset()
    learn: bool = True  # GRAPHOPS_LEARNED_SCHEDULE
    #: The learned schedules of the kinds that have enough history (read by the step, per process).
    learned: Mapping[str, Schedule] = field(default_factory=dict)
    #: Each Graph service's throttling limit per tenant (GRAPHOPS_THROTTLE_BUDGETS): the shared budgets.
    budgets: Mapping[str, Limit] = field(default_factory=dict)

    def schedule_for(self, kind: type[OperationKind]) -> Schedule:
        learned = self.learned.get(kind.name) if self.learn and kind.name not in self.fixed else None
        return learned or self.kind_schedule(kind)

    def kind_schedule(self, kind: type[OperationKind]) -> PollSchedule:
        """The kind's schedule before any learning: its service's, the deployment's override, or the default."""
        return self.kind_schedules.get(kind.name, self.schedule)


def observe(tracking: Tracking, answer: GraphAnswer) -> Tracking:
    """The tracking after one poll: counts it, keeps Graph's body when it is an operation."""
    status = tracking.kind.status_of(answer.body) if answer.status_code == 200 else None
    operation = tracking.kind.entity(answer.body)
    return tracking.seen(status, operation, None if status else _problem(answer), not_found=answer.status_code == 404)


def decide(tracking: Tracking, answer: GraphAnswer, now: datetime, policy: Policy, rng: random.Random) -> Decision:
    """The next step for a tracking that just got ``answer`` (already folded in with :func:`observe`)."""
    kind = tracking.kind
    code = answer.status_code
    status = kind.status_of(answer.body) if code == 200 else None
    if status is not None and kind.is_terminal(status) and status not in tracking.waits_past:
        if status in kind.succeeded_states:
            return Finish(Outcome.SUCCEEDED)
        job = kind.entity(answer.body)
        if status in kind.partial_states:
            return Finish(Outcome.PARTIALLY_SUCCEEDED, _operation_error(job, status, kind.error_field, required=False))
        return Finish(Outcome.FAILED, _operation_error(job, status, kind.error_field))
    if answer.failed == "noConsent":
        # A customer tenant that has not consented to the app: no wait brings a token, an administrator does.
        return Finish(Outcome.FORBIDDEN, ErrorInfo("consentRequired", answer.failure or "no consent"))
    if code in {401, 403}:
        graph = graph_error(answer.body)
        return Finish(
            Outcome.FORBIDDEN,
            ErrorInfo(
                graph.code if graph else "Authorization_RequestDenied",
                f"Graph answered {code}: "
                + (kind.refuses_apps or f"the app's identity needs the application permission {kind.permission}")
                + f" ({kind.name})"
                + (f" ({graph.message})" if graph and graph.message else ""),
            ),
        )
    elapsed = (now - tracking.tracked_since).total_seconds()
    seen = tracking.last_status is not None
    if code == 404 and (
        tracking.not_found_streak >= NOT_FOUND_STREAK_AFTER_SEEN if seen else elapsed >= policy.not_found_grace_seconds
    ):
        return Finish(
            Outcome.NOT_FOUND, graph_error(answer.body) or ErrorInfo("NotFound", "Graph does not know this operation")
        )
    if code is not None and code != 200 and code < 500 and code not in ASK_AGAIN:
        # 3xx (never followed) and the other 4xx: asking again will not change the answer.
        graph = graph_error(answer.body)
        return Finish(Outcome.ERROR, graph or ErrorInfo(f"http{code}", f"Graph answered {code}"))
    remaining = (tracking.deadline - now).total_seconds()
    if remaining <= 0:
        return Finish(Outcome.TIMED_OUT, timeout_error(tracking))
    not_before = _retry_after(answer)
    schedule = policy.schedule_for(kind)
    delay = whole_delay(schedule.next_delay(elapsed, rng), not_before=not_before, remaining=remaining)
    if delay is None:
        return Finish(Outcome.TIMED_OUT, timeout_error(tracking, throttled=True))
    if code == 404 and not seen and policy.not_found_grace_seconds - elapsed < delay < remaining:
        # Look once more right at the end of the grace period rather than well after it, but never sooner than
        # the kind's minimum delay.
        shortest = max(not_before or 0, schedule.min_delay)
        delay = max(math.ceil(shortest), int(policy.not_found_grace_seconds - elapsed) + 1)
    if delay > MAX_QUEUE_DELAY:
        return PollAgain(MAX_QUEUE_DELAY, status or _reason(answer), wait=delay, schedule=schedule.name)
    return PollAgain(delay, status or _reason(answer), schedule=schedule.name)


def _retry_after(answer: GraphAnswer) -> float | None:
    """The wait Graph asked for, where it binds: throttling, server errors and no answer at all."""
    code = answer.status_code
    return answer.retry_after if code is None or code in THROTTLED or code >= 500 else None


def _reason(answer: GraphAnswer) -> str:
    if answer.status_code is None:
        return "unreachable"
    if answer.status_code == 200:
        return "noStatus"
    return f"http{answer.status_code}"


def _problem(answer: GraphAnswer) -> ErrorInfo | None:
    if answer.status_code is None:
        return ErrorInfo("unreachable", answer.failure or "Graph did not answer")
    if answer.status_code == 200:
        return ErrorInfo(
            "noStatus", "Graph's answer had no status" + ("" if answer.body is not None else " (not JSON)")
        )
    return graph_error(answer.body) or ErrorInfo(f"http{answer.status_code}", f"Graph answered {answer.status_code}")


# Graph's words kept in an error: enough for any real message, never enough to make a state row or a message
# too large to write (a table property holds 64 KiB; the tracking's envelope travels in a queue message).
MAX_CODE_CHARS, MAX_MESSAGE_CHARS = 200, 2000


def graph_error(body: Any) -> ErrorInfo | None:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return bounded_error(error.get("code", ""), error.get("message", ""))
    return None


def bounded_error(code: object, message: object) -> ErrorInfo:
    """An error made of Graph's text, cut to a size every store and message can hold."""
    text = str(message)
    cut = text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "… (cut)"
    return ErrorInfo(str(code)[:MAX_CODE_CHARS], cut)


# How an operation that did not succeed ended, in words, where "failed" would mislead.
_ENDED = {
    "cancelled": "was cancelled",
    "canceled": "was canceled",
    "skipped": "was skipped",
    "expired": "expired",
    "error": "ended in error",
    "denied": "was denied",
    "abandoned": "was abandoned",
}


def _operation_error(body: Any, status: str, error_field: str, *, required: bool = True) -> ErrorInfo | None:
    if isinstance(body, dict):
        error = field_at(body, error_field)
        if isinstance(error, dict):  # richLongRunningOperation carries a publicError
            return bounded_error(error.get("code", status), error.get("message", ""))
        detail = body.get("statusDetail")
        if isinstance(detail, str) and detail:
            return bounded_error(status, detail)
    return ErrorInfo(status, f"Graph reports the operation {_ENDED.get(status, 'failed')}") if required else None


def timeout_error(tracking: Tracking, *, throttled: bool = False) -> ErrorInfo:
    last = tracking.last_status or "none seen"
    why = "; Graph's Retry-After reaches past the deadline" if throttled else ""
    problem = f"; last problem: {tracking.last_error.message}" if tracking.last_error else ""
    return ErrorInfo("timedOut", f"not finished by the deadline (last status: {last}){why}{problem}")


def decide_resource(
    tracking: Tracking, answer: GraphAnswer, now: datetime, policy: Policy, rng: random.Random
) -> PollAgain | ResourceSeen:
    """After success, with ``waitForResource``: is the created resource readable yet?

    404 (the team that "succeeded" but is not there yet), throttling and server errors wait and ask again
    until the tracking's deadline; 200 is ready; any other answer will not change, so the wait ends there.
    """
    code = answer.status_code
    if code == 200:
        return ResourceSeen(ready=True)
    if code is not None and code < 500 and code not in ASK_AGAIN:
        return ResourceSeen(ready=False)
    remaining = (tracking.deadline - now).total_seconds()
    if remaining <= 0:
        return ResourceSeen(ready=False)
    since = (now - (tracking.finished_at or tracking.tracked_since)).total_seconds()
    wanted = policy.kind_schedule(tracking.kind).next_delay(since, rng)  # not the learned: that is the operation's
    delay = whole_delay(wanted, not_before=_retry_after(answer), remaining=remaining)
    if delay is None:
        return ResourceSeen(ready=False)
    return PollAgain(min(delay, MAX_QUEUE_DELAY), f"resource http{code}" if code else "resource unreachable")
