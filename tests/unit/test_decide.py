from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking
from graphops.graph.answer import GraphAnswer
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.pacing.schedule import PollSchedule
from graphops.step.decide import Finish, Policy, PollAgain, decide, observe

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICY = Policy(PollSchedule(5, 60), not_found_grace_seconds=120)
LIMITS = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)


def tracking(timeout: int = 3600) -> Tracking:
    return from_request(
        {
            "operationUrl": seed.ALERT_OPERATION_PATH,
            "callbackUrl": "https://prod-00.westeurope.logic.azure.com/cb",
            "timeoutSeconds": timeout,
        },
        "t1",
        T0,
        LIMITS,
    )


def step(answer: GraphAnswer, after: float = 1.0, t: Tracking | None = None) -> tuple[Tracking, PollAgain | Finish]:
    t = observe(t or tracking(), answer)
    return t, decide(t, answer, T0 + timedelta(seconds=after), POLICY, random.Random(1))


def test_a_failed_operation_carries_graphs_error() -> None:
    body = {**seed.alert_refresh("failed"), "error": {"code": "generalException", "message": "the copy broke"}}
    _, d = step(GraphAnswer(200, body))
    assert d == Finish(Outcome.FAILED, ErrorInfo("generalException", "the copy broke"))
    _, d = step(GraphAnswer(200, seed.alert_refresh("failed")))
    assert d == Finish(Outcome.FAILED, ErrorInfo("failed", "Graph reports the operation failed"))


def test_terminal_statuses_finish() -> None:
    t, d = step(GraphAnswer(200, seed.alert_refresh("succeeded")))
    assert d == Finish(Outcome.SUCCEEDED) and t.operation == seed.alert_refresh("succeeded") and t.polls == 1
    _, d = step(GraphAnswer(200, {**seed.alert_refresh("failed"), "statusDetail": "nope"}))
    assert isinstance(d, Finish) and d.outcome is Outcome.FAILED and d.error and d.error.message == "nope"


@pytest.mark.parametrize("status", ["notStarted", "running", "unknownFutureValue", "brandNewValue"])
def test_any_other_status_polls_again_within_the_schedule(status: str) -> None:
    t, d = step(GraphAnswer(200, seed.alert_refresh(status)))
    # One second in, the schedule asks for its minimum: exactly 5 s (the jitter never goes below the minimum).
    assert isinstance(d, PollAgain) and d.delay == 5 and t.last_status == status


@pytest.mark.parametrize("code", [401, 403])
def test_forbidden_names_the_permission(code: int) -> None:
    _, d = step(GraphAnswer(code, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges")))
    assert isinstance(d, Finish) and d.outcome is Outcome.FORBIDDEN and d.error
    assert "RoleManagementAlert.Read.Directory" in d.error.message and "Insufficient privileges" in d.error.message


def test_a_onenote_refusal_names_the_retirement_not_a_permission() -> None:
    request = {"operationUrl": "/v1.0/users/u1/onenote/operations/op1", "callbackUrl": "https://x.logic.azure.com/c"}
    onenote = from_request(request, "t2", T0, LIMITS)
    _, d = step(GraphAnswer(401, seed.graph_error("40004", "Unauthorized")), t=onenote)
    assert isinstance(d, Finish) and d.outcome is Outcome.FORBIDDEN and d.error
    assert "OneNote refuses app-only tokens since 31 March 2025" in d.error.message
    assert "needs the application permission" not in d.error.message


@pytest.mark.parametrize("code", [429, 503, 504])
def test_throttling_waits_at_least_retry_after(code: int) -> None:
    _, d = step(GraphAnswer(code, None, retry_after=37.2))
    assert isinstance(d, PollAgain) and d.delay >= 38


def test_retry_after_past_the_deadline_times_out_instead_of_polling_early() -> None:
    _, d = step(GraphAnswer(429, None, retry_after=7200), t=tracking(timeout=60))
    assert isinstance(d, Finish) and d.outcome is Outcome.TIMED_OUT and d.error and "Retry-After" in d.error.message


@pytest.mark.parametrize("answer", [GraphAnswer(500), GraphAnswer(None, failure="timeout"), GraphAnswer(200, None),
                                    GraphAnswer(200, {"id": "x"}), GraphAnswer(408)])  # fmt: skip
def test_transient_problems_poll_again_and_remember_the_problem(answer: GraphAnswer) -> None:
    t, d = step(answer)
    assert isinstance(d, PollAgain) and t.last_error is not None and t.polls == 1


def test_not_found_is_retried_until_the_grace_period_ends() -> None:
    _, d = step(GraphAnswer(404), after=10)
    assert isinstance(d, PollAgain)
    _, d = step(GraphAnswer(404), after=100)
    assert isinstance(d, PollAgain) and d.delay == 21  # looks again just after the grace period, not 60 s later
    _, d = step(GraphAnswer(404), after=118)
    assert isinstance(d, PollAgain) and d.delay == 5  # but never sooner than the kind's minimum delay
    _, d = step(GraphAnswer(404), after=121)
    assert isinstance(d, Finish) and d.outcome is Outcome.NOT_FOUND


@pytest.mark.parametrize("code", [400, 405, 409, 410, 301, 302])
def test_other_client_errors_and_redirects_end_in_error(code: int) -> None:
    _, d = step(GraphAnswer(code, seed.graph_error("Nope", "no")))
    assert isinstance(d, Finish) and d.outcome is Outcome.ERROR


def test_near_the_deadline_the_wait_ends_past_it_never_sooner_than_the_minimum() -> None:
    t = tracking(timeout=100)
    _, d = step(GraphAnswer(200, seed.alert_refresh("running")), after=97, t=t)
    # The schedule wants 5 s; only 3 are left: the step comes back a second past the deadline and ends the
    # tracking there without asking Graph again (tests/unit/test_step.py), rather than polling 3 s from now.
    assert isinstance(d, PollAgain) and d.delay == 4
    for left in (0.2, 0.5, 0.999, 4.9):  # what used to give 0 s (a burst of polls) or less than the minimum
        _, d = step(GraphAnswer(200, seed.alert_refresh("running")), after=100 - left, t=t)
        assert isinstance(d, PollAgain) and d.delay > left, left
    t2, d = step(GraphAnswer(200, seed.alert_refresh("running")), after=100, t=t)
    assert isinstance(d, Finish) and d.outcome is Outcome.TIMED_OUT and t2.operation == seed.alert_refresh("running")
