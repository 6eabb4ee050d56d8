"""Promises of the envelope, the step and a start's answer, held where the decision is made: the step ids a
message carries, a budget wait that reaches the deadline, the beta twin asked on a 401, Graph's error text cut
to its bound on every path, and a start without the body its action needs."""

from __future__ import annotations

import json
import random
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from graphops.common.errors import Rejected
from graphops.envelope.tracking import MAX_RECORDED_STEP_IDS, ErrorInfo, Outcome, next_step
from graphops.envelope.wire import from_wire
from graphops.graph.actions import ACTIONS, StartAction, parse_start
from graphops.graph.answer import GraphAnswer
from graphops.intake.request import from_request
from graphops.local import seed
from graphops.pacing.budget import LIMITS as BUDGET_LIMITS
from graphops.pacing.schedule import PollSchedule
from graphops.step.chain import Chain
from graphops.step.decide import MAX_MESSAGE_CHARS, Finish, Policy, decide, observe
from graphops.step.poll_job import Polling
from graphops.step.starter import read_start_answer

from .test_step import CALLBACK, NOW, SEAL, StubDeliverer, StubGraph, StubQueue, request, tracker
from .test_tracking import LIMITS, REQUEST

# -- The step ids a message carries through the wire and each step --------------------------------------


def test_a_message_carries_the_newest_32_step_ids_through_the_wire_and_each_step() -> None:
    tracking = replace(from_request(dict(REQUEST), "t", NOW, LIMITS), stateful=True)
    sent: list[str] = []
    for _ in range(40):  # no step could read the state: each successor carries every id it may name
        sent.append(tracking.step_id)
        tracking = from_wire(json.loads(next_step(tracking).to_wire()), LIMITS)
    assert MAX_RECORDED_STEP_IDS == 32
    assert len(tracking.recorded_step_ids) == 32
    assert tracking.recorded_step_ids == tuple(sent[-32:])  # the newest, in order; the oldest eight dropped
    assert sent[7] not in tracking.recorded_step_ids and sent[8] in tracking.recorded_step_ids


def test_an_envelope_with_more_than_32_step_ids_is_damaged() -> None:
    doc = json.loads(replace(from_request(dict(REQUEST), "t", NOW, LIMITS), stateful=True).to_wire())
    ids = [f"{n:016x}" for n in range(33)]
    assert len(from_wire({**doc, "recordedStepIds": ids[:32]}, LIMITS).recorded_step_ids) == 32
    with pytest.raises(Rejected) as refused:
        from_wire({**doc, "recordedStepIds": ids}, LIMITS)
    assert refused.value.field == "message" and "recordedStepIds" in refused.value.problem


# -- A budget wait that reaches the deadline ------------------------------------------------------------

CASE_OPERATION = f"/v1.0/security/cases/ediscoveryCases/{seed.CASE_ID}/operations/op-1"


class SpentBudgets:
    """The service's shared budget, spent for the next ten minutes."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    def wait_before_polling(self, tenant: str, service: str | None) -> float:
        self.asked.append((tenant, service or ""))
        return 600.0

    def pause(self, tenant: str, service: str | None, retry_after: float | None) -> None:
        raise AssertionError("nothing was throttled")


class BudgetState:
    def __init__(self) -> None:
        self.budgets_kept = SpentBudgets()

    def budgets(self, limits: Any) -> SpentBudgets:
        return self.budgets_kept


class TenantGraph(StubGraph):
    def tenant(self) -> str:
        return "tenant-a"


@pytest.mark.parametrize(("remaining", "delay"), [(10.0, 11), (10.3, 12), (0.4, 2)])
def test_a_budget_wait_that_reaches_the_deadline_ends_a_second_past_it_as_timed_out_without_a_poll(
    remaining: float, delay: int
) -> None:
    tracking = from_request({"operationUrl": CASE_OPERATION, "callbackUrl": CALLBACK, "timeoutSeconds": 60}, "t",
                            NOW, LIMITS)  # fmt: skip
    at = tracking.deadline - timedelta(seconds=remaining)
    graph, queue, state = TenantGraph(), StubQueue(), BudgetState()
    policy = Policy(PollSchedule(5, 60), 120, learn=False, budgets={"ediscovery": BUDGET_LIMITS["ediscovery"]})
    polling = Polling(chain=Chain(queue, SEAL, state, lambda: at), deliver=lambda t: pytest.fail("delivered"),  # type: ignore[arg-type]
                      policy=policy, graph=graph, monitor=None, graph_endpoint="https://graph.microsoft.com",  # type: ignore[arg-type]
                      clock=lambda: at, rng=random.Random(0))  # fmt: skip
    waited = polling.poll(tracking)
    assert state.budgets_kept.asked == [("tenant-a", "ediscovery")] and graph.calls == []
    [(message, queued_delay)] = queue.sent
    assert (waited.action, waited.delay, queued_delay) == ("wait", delay, delay)
    lands = at + timedelta(seconds=queued_delay)
    assert timedelta(seconds=1) <= lands - tracking.deadline < timedelta(seconds=2)  # a whole second past it

    deliverer, next_queue = StubDeliverer(), StubQueue()
    ended = tracker(graph, next_queue, deliverer, clock=lambda: lands).handle(message, "m-2")
    assert graph.calls == [] and next_queue.sent == []  # Graph was not asked again
    assert ended.action == "delivered" and ended.tracking is not None
    assert ended.tracking.outcome is Outcome.TIMED_OUT and ended.tracking.polls == 0
    [(_, _, body)] = deliverer.posts
    assert body["outcome"] == "timedOut" and body["error"]["code"] == "timedOut"


# -- The beta twin, asked on a v1.0 401 as on a 403 -----------------------------------------------------

V1_RESET = "https://graph.microsoft.com" + seed.reset_path("u1", "op1")
BETA_RESET = "https://graph.microsoft.com" + seed.reset_path("u1", "op1", "beta")


@pytest.mark.parametrize("refused", [401, 403])
def test_a_v1_reset_refused_with_401_or_403_is_read_on_its_beta_twin(refused: int) -> None:
    denied = GraphAnswer(refused, seed.graph_error("Authorization_RequestDenied", "no"))
    graph, deliverer = StubGraph(denied, GraphAnswer(200, seed.password_reset("succeeded", "op1"))), StubDeliverer()
    result = tracker(graph, StubQueue(), deliverer).handle(request(operationUrl=V1_RESET), "m-1")
    assert graph.calls == [V1_RESET, BETA_RESET]
    assert result.tracking is not None and result.tracking.outcome is Outcome.SUCCEEDED
    [(_, _, body)] = deliverer.posts
    assert body["outcome"] == "succeeded" and body["operationUrl"] == BETA_RESET


@pytest.mark.parametrize("refused", [401, 403])
def test_the_twin_is_asked_once_and_a_second_refusal_stands(refused: int) -> None:
    denied = GraphAnswer(refused, seed.graph_error("Authorization_RequestDenied", "no"))
    graph, deliverer = StubGraph(denied, denied), StubDeliverer()
    result = tracker(graph, StubQueue(), deliverer).handle(request(operationUrl=V1_RESET), "m-1")
    assert graph.calls == [V1_RESET, BETA_RESET]
    assert result.tracking is not None and result.tracking.outcome is Outcome.FORBIDDEN


# -- Graph's error text, cut to its bound on every path -------------------------------------------------

HUGE = "#" * (MAX_MESSAGE_CHARS * 50)


def cut_to_the_bound(error: ErrorInfo | None) -> None:
    assert error is not None
    assert error.message.count("#") == MAX_MESSAGE_CHARS, len(error.message)
    assert error.message.endswith("… (cut)") or error.message.endswith("… (cut))")
    assert len(error.message) < MAX_MESSAGE_CHARS + 300


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 410])
def test_graphs_error_text_while_polling_is_cut_to_the_bound(code: int) -> None:
    tracking = from_request({"operationUrl": seed.reset_path("u1", "op1"), "callbackUrl": CALLBACK}, "t", NOW, LIMITS)
    answer = GraphAnswer(code, seed.graph_error("BadRequest", HUGE))
    later = NOW + timedelta(seconds=300)  # past the not-found grace: a 404 ends it too
    seen = observe(tracking, answer)
    cut_to_the_bound(seen.last_error)
    decision = decide(seen, answer, later, Policy(PollSchedule(5, 60), 120), random.Random(0))
    assert isinstance(decision, Finish)
    cut_to_the_bound(decision.error)
    finished = seen.finish(decision.outcome, decision.error, later)
    cut_to_the_bound(finished.error)
    cut_to_the_bound(ErrorInfo(**finished.callback_body()["error"]))  # what is delivered


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 429, 500, 503])
def test_a_start_refused_with_a_huge_message_keeps_it_cut_to_the_bound(code: int) -> None:
    reply = GraphAnswer(code, seed.graph_error("BadRequest", HUGE))
    decision = read_start_answer(ACTIONS["teamClone"], reply, LIMITS, NOW)
    cut_to_the_bound(decision.error)  # type: ignore[union-attr]
    if hasattr(decision, "graph"):  # a refusal also passes Graph's own words on to an HTTP caller
        cut_to_the_bound(decision.graph)


# -- A start without the body its action needs ----------------------------------------------------------


def example_url(action: StartAction) -> str:
    version = "v1.0" if "v1.0" in action.versions else "beta"
    segments = ("x1" if part == "{id}" else part.split("|")[0] for part in action.paths[0])
    return f"/{version}/" + "/".join(segments)


NEEDS_A_BODY = [action for action in ACTIONS.values() if action.body.required]


@pytest.mark.parametrize("action", NEEDS_A_BODY, ids=[action.name for action in NEEDS_A_BODY])
def test_a_start_without_the_body_its_action_needs_is_refused_naming_the_missing_field(action: StartAction) -> None:
    raw = {"method": action.method, "url": example_url(action)}
    with pytest.raises(Rejected) as refused:
        parse_start(raw, "https://graph.microsoft.com", "global", frozenset(ACTIONS))
    assert refused.value.field == f"start.body.{min(action.body.required)}" and refused.value.problem == "required"
    with pytest.raises(Rejected) as null_body:
        parse_start({**raw, "body": None}, "https://graph.microsoft.com", "global", frozenset(ACTIONS))
    assert null_body.value.field == refused.value.field


def test_every_action_that_needs_a_body_is_covered() -> None:
    names = {action.name for action in NEEDS_A_BODY}
    assert len(names) >= 10 and {"teamClone", "personalDataExport", "teamCreate"} <= names


def test_a_migrate_trackings_wait_past_validation_survives_the_wire_and_names_only_its_kinds_ends() -> None:
    handed = from_request({**REQUEST, "operationUrl": seed.MIGRATION_JOB_PATH}, "t", NOW, LIMITS)
    migrating = replace(handed, waits_past=frozenset({"validatePassed"}))
    assert from_wire(json.loads(migrating.to_wire()), LIMITS).waits_past == {"validatePassed"}
    assert from_wire(json.loads(handed.to_wire()), LIMITS).waits_past == frozenset()
    doc = json.loads(migrating.to_wire())
    for bad in (["running"], ["succeeded"], "validatePassed", [7]):
        with pytest.raises(Rejected) as refused:
            from_wire({**doc, "waitsPast": bad}, LIMITS)
        assert refused.value.field == "message" and "waitsPast" in refused.value.problem
