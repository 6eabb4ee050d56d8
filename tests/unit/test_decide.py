from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking
from graphops.graph.answer import GraphAnswer
from graphops.intake.limits import Limits
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.pacing.schedule import MAX_QUEUE_DELAY, PollSchedule
from graphops.step.decide import (
    MAX_CODE_CHARS,
    MAX_MESSAGE_CHARS,
    Finish,
    Policy,
    PollAgain,
    ResourceSeen,
    Twin,
    bounded_error,
    decide,
    decide_resource,
    graph_error,
    observe,
    twin_verdict,
)

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


def test_a_tenant_that_refused_the_app_a_token_ends_forbidden_at_once_while_a_missing_token_is_waited_out() -> None:
    refused = "no consent in tenant Contoso (t) for the app a: an administrator must consent to the app (AADSTS65001)"
    _, d = step(GraphAnswer(None, failure=refused, failed="noConsent"))
    assert d == Finish(Outcome.FORBIDDEN, ErrorInfo("consentRequired", refused))
    _, d = step(GraphAnswer(None, failure="no token: the identity endpoint did not answer", failed="noToken"))
    assert isinstance(d, PollAgain)


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


# What each answer comes to, word for word: the outcome and error a callback carries, the reason a poll records.

DEFAULT = "default (5–60 s)"  # POLICY's schedule, by name


def industry_run() -> Tracking:
    request = {"operationUrl": "/beta/external/industryData/runs/r1", "callbackUrl": "https://x.logic.azure.com/c"}
    return from_request(request, "t3", T0, LIMITS)


def run_answer(status: str, **fields: object) -> GraphAnswer:
    return GraphAnswer(200, {"id": "r1", "status": status, **fields})


def test_a_partial_outcome_carries_graphs_error_when_there_is_one_and_none_otherwise() -> None:
    blocking = {"code": "rowsLeftOut", "message": "12 rows had errors"}
    _, d = step(run_answer("completedWithErrors", blockingError=blocking), t=industry_run())
    assert d == Finish(Outcome.PARTIALLY_SUCCEEDED, ErrorInfo("rowsLeftOut", "12 rows had errors"))
    _, d = step(run_answer("completedWithErrors"), t=industry_run())
    assert d == Finish(Outcome.PARTIALLY_SUCCEEDED, None)
    _, d = step(run_answer("completedWithErrors", statusDetail="some rows"), t=industry_run())
    assert d == Finish(Outcome.PARTIALLY_SUCCEEDED, ErrorInfo("completedWithErrors", "some rows"))


def test_an_error_object_without_code_or_message_is_named_by_the_status() -> None:
    _, d = step(run_answer("failed", blockingError={}), t=industry_run())
    assert d == Finish(Outcome.FAILED, ErrorInfo("failed", ""))
    _, d = step(run_answer("failed", blockingError={"message": "no source"}), t=industry_run())
    assert d == Finish(Outcome.FAILED, ErrorInfo("failed", "no source"))


def test_forbidden_word_for_word() -> None:
    needs = "the app's identity needs the application permission RoleManagementAlert.Read.Directory"
    kind = "roleManagementAlertRefresh"
    _, d = step(GraphAnswer(403, seed.graph_error("Authorization_IdentityNotFound", "Insufficient privileges")))
    assert d == Finish(
        Outcome.FORBIDDEN,
        ErrorInfo("Authorization_IdentityNotFound", f"Graph answered 403: {needs} ({kind}) (Insufficient privileges)"),
    )
    _, d = step(GraphAnswer(401, None))
    assert d == Finish(
        Outcome.FORBIDDEN, ErrorInfo("Authorization_RequestDenied", f"Graph answered 401: {needs} ({kind})")
    )
    _, d = step(GraphAnswer(403, {"error": {"code": "Forbidden"}}))
    assert d == Finish(Outcome.FORBIDDEN, ErrorInfo("Forbidden", f"Graph answered 403: {needs} ({kind})"))


def test_not_found_and_other_errors_word_for_word() -> None:
    _, d = step(GraphAnswer(404), after=120)  # the grace period ends at 120 s: that answer is final
    assert d == Finish(Outcome.NOT_FOUND, ErrorInfo("NotFound", "Graph does not know this operation"))
    _, d = step(GraphAnswer(404, seed.graph_error("ResourceNotFound", "gone")), after=121)
    assert d == Finish(Outcome.NOT_FOUND, ErrorInfo("ResourceNotFound", "gone"))
    _, d = step(GraphAnswer(400, None))
    assert d == Finish(Outcome.ERROR, ErrorInfo("http400", "Graph answered 400"))
    _, d = step(GraphAnswer(409, seed.graph_error("Conflict", "busy")))
    assert d == Finish(Outcome.ERROR, ErrorInfo("Conflict", "busy"))


def test_timing_out_says_what_was_last_seen() -> None:
    t = tracking(timeout=60)
    _, d = step(GraphAnswer(200, seed.alert_refresh("running")), after=60, t=t)
    assert d == Finish(Outcome.TIMED_OUT, ErrorInfo("timedOut", "not finished by the deadline (last status: running)"))
    _, d = step(GraphAnswer(500, seed.graph_error("InternalServerError", "oops")), after=61, t=t)
    assert d == Finish(
        Outcome.TIMED_OUT,
        ErrorInfo("timedOut", "not finished by the deadline (last status: none seen); last problem: oops"),
    )
    _, d = step(GraphAnswer(429, None, retry_after=7200), t=t)
    assert d == Finish(
        Outcome.TIMED_OUT,
        ErrorInfo(
            "timedOut",
            "not finished by the deadline (last status: none seen); Graph's Retry-After reaches past the deadline"
            "; last problem: Graph answered 429",
        ),
    )


def test_polling_again_names_the_reason_and_the_schedule() -> None:
    _, d = step(GraphAnswer(200, seed.alert_refresh("running")))
    assert d == PollAgain(5, "running", schedule=DEFAULT)
    for answer, reason in [(GraphAnswer(None, failure="refused"), "unreachable"), (GraphAnswer(200, {"id": "x"}),
                           "noStatus"), (GraphAnswer(500), "http500"), (GraphAnswer(408), "http408")]:  # fmt: skip
        _, d = step(answer)
        assert d == PollAgain(5, reason, schedule=DEFAULT), answer


def test_a_wait_of_exactly_one_queue_delay_is_not_split_and_a_longer_one_is() -> None:
    month = tracking(timeout=30 * 86400)
    _, d = step(GraphAnswer(429, None, retry_after=MAX_QUEUE_DELAY), t=month)
    assert d == PollAgain(MAX_QUEUE_DELAY, "http429", schedule=DEFAULT)
    _, d = step(GraphAnswer(429, None, retry_after=MAX_QUEUE_DELAY + 100), t=month)
    assert d == PollAgain(MAX_QUEUE_DELAY, "http429", wait=MAX_QUEUE_DELAY + 100, schedule=DEFAULT)


def test_what_a_poll_records() -> None:
    t = observe(tracking(), GraphAnswer(200, seed.alert_refresh("running")))
    assert (t.last_status, t.last_error) == ("running", None)
    cases = [
        (GraphAnswer(None, failure="refused"), ErrorInfo("unreachable", "refused")),
        (GraphAnswer(None), ErrorInfo("unreachable", "Graph did not answer")),
        (GraphAnswer(200, None), ErrorInfo("noStatus", "Graph's answer had no status (not JSON)")),
        (GraphAnswer(200, {"id": "x"}), ErrorInfo("noStatus", "Graph's answer had no status")),
        (GraphAnswer(500), ErrorInfo("http500", "Graph answered 500")),
        (GraphAnswer(503, seed.graph_error("serviceUnavailable", "later")), ErrorInfo("serviceUnavailable", "later")),
        # A status in an answer that is not a 200 is not the operation's.
        (GraphAnswer(503, seed.alert_refresh("succeeded")), ErrorInfo("http503", "Graph answered 503")),
    ]
    for answer, error in cases:
        t = observe(tracking(), answer)
        assert (t.last_status, t.last_error) == (None, error), answer


def test_a_terminal_status_in_an_answer_that_is_not_a_200_ends_nothing() -> None:
    _, d = step(GraphAnswer(503, seed.alert_refresh("succeeded")))
    assert d == PollAgain(5, "http503", schedule=DEFAULT)


def test_retry_after_binds_on_throttling_and_server_errors_only() -> None:
    _, d = step(GraphAnswer(500, None, retry_after=40))
    assert isinstance(d, PollAgain) and d.delay == 40
    _, d = step(GraphAnswer(408, None, retry_after=40))
    assert isinstance(d, PollAgain) and d.delay == 5
    _, d = step(GraphAnswer(404, None, retry_after=40), after=10)
    assert isinstance(d, PollAgain) and d.delay == 5


def test_the_look_at_the_end_of_the_grace_period_is_for_an_operation_never_seen() -> None:
    # Long after the grace period, an operation that is running polls by its schedule (57-60 s at 1000 s).
    _, d = step(GraphAnswer(200, seed.alert_refresh("running")), after=1000)
    assert isinstance(d, PollAgain) and d.delay >= 54
    seen = observe(tracking(), GraphAnswer(200, seed.alert_refresh("running")))
    _, d = step(GraphAnswer(404), after=1000, t=seen)  # one 404 of an operation Graph showed: a glitch
    assert isinstance(d, PollAgain) and d.delay >= 54
    # A schedule's delay that lands exactly at the end of the grace period is kept.
    short_grace = Policy(PollSchedule(5, 60), not_found_grace_seconds=10)
    d = decide(observe(tracking(), GraphAnswer(404)), GraphAnswer(404), T0 + timedelta(seconds=5), short_grace,
               random.Random(1))  # fmt: skip
    assert d == PollAgain(5, "http404", schedule=DEFAULT)


def test_graphs_error_objects_and_their_size() -> None:
    assert graph_error({"error": {}}) == ErrorInfo("", "")
    assert graph_error({"error": {"code": "c"}}) == ErrorInfo("c", "")
    assert graph_error({"error": {"message": "m"}}) == ErrorInfo("", "m")
    assert graph_error({"error": "text"}) is None and graph_error(["error"]) is None
    assert bounded_error("c", "x" * MAX_MESSAGE_CHARS) == ErrorInfo("c", "x" * MAX_MESSAGE_CHARS)
    assert bounded_error("c", "x" * (MAX_MESSAGE_CHARS + 1)) == ErrorInfo("c", "x" * MAX_MESSAGE_CHARS + "… (cut)")
    assert bounded_error("c" * (MAX_CODE_CHARS + 1), "m").code == "c" * MAX_CODE_CHARS


def test_the_wait_for_a_created_resource() -> None:
    done = replace(tracking(), finished_at=T0 + timedelta(seconds=1000))
    later = T0 + timedelta(seconds=1001)

    def resource(answer: GraphAnswer, t: Tracking = done, now: datetime = later) -> PollAgain | ResourceSeen:
        return decide_resource(t, answer, now, POLICY, random.Random(1))

    assert resource(GraphAnswer(200, {})) == ResourceSeen(ready=True)
    assert resource(GraphAnswer(400)) == ResourceSeen(ready=False)
    # Counted from the operation's end, not the tracking's start: the schedule's shortest delay.
    assert resource(GraphAnswer(404)) == PollAgain(5, "resource http404")
    assert resource(GraphAnswer(500)) == PollAgain(5, "resource http500")
    assert resource(GraphAnswer(None, failure="refused")) == PollAgain(5, "resource unreachable")
    assert resource(GraphAnswer(429, None, retry_after=7200)) == ResourceSeen(ready=False)  # past the deadline
    near_the_end = T0 + timedelta(seconds=3600 - 0.5)
    assert resource(GraphAnswer(404), now=near_the_end) == PollAgain(2, "resource http404")  # just past it
    assert resource(GraphAnswer(404), now=T0 + timedelta(seconds=3600)) == ResourceSeen(ready=False)


def test_a_twin_that_reads_the_operation_is_followed() -> None:
    assert twin_verdict(GraphAnswer(200, seed.password_reset("running"))) is Twin.SHOWS


@pytest.mark.parametrize("code", [401, 403, 404, 400, 410])
def test_only_a_definitive_answer_of_the_twin_lets_the_refusal_stand(code: int) -> None:
    assert twin_verdict(GraphAnswer(code, seed.graph_error("Authorization_RequestDenied", "no"))) is Twin.REFUSES


@pytest.mark.parametrize("answer", [GraphAnswer(429, retry_after=7), GraphAnswer(503, retry_after=7),
                                    GraphAnswer(500), GraphAnswer(504), GraphAnswer(408),
                                    GraphAnswer(None, failure="Graph did not answer: ReadTimeout")])  # fmt: skip
def test_a_twin_that_blips_says_nothing_yet(answer: GraphAnswer) -> None:
    assert twin_verdict(answer) is Twin.ASK_AGAIN


def test_a_twins_blip_polls_again_after_its_retry_after_rather_than_ending() -> None:
    """The blip's answer is the poll's: decide waits out its Retry-After and asks again, never ends forbidden."""
    blip = GraphAnswer(503, seed.graph_error("ServiceUnavailable", "try later"), retry_after=40)
    seen = observe(tracking(), blip)
    decision = decide(seen, blip, T0 + timedelta(seconds=1), POLICY, random.Random(1))
    assert isinstance(decision, PollAgain) and decision.delay >= 40 and decision.reason == "http503"


def migration(status: str) -> GraphAnswer:
    return GraphAnswer(200, seed.migration_job(status))


def test_a_migration_tracking_polls_past_the_validation_its_migrate_moved_the_job_on_from() -> None:
    handed = from_request(
        {"operationUrl": seed.MIGRATION_JOB_PATH, "callbackUrl": "https://prod-00.westeurope.logic.azure.com/cb"},
        "t2",
        T0,
        LIMITS,
    )
    migrating = replace(handed, waits_past=frozenset({"validatePassed"}))
    _, d = step(migration("validatePassed"), t=migrating)
    assert isinstance(d, PollAgain)
    _, d = step(migration("completed"), t=migrating)
    assert d == Finish(Outcome.SUCCEEDED)
    _, d = step(migration("validatePassed"), t=handed)  # handed over after validate: its end
    assert d == Finish(Outcome.SUCCEEDED)
