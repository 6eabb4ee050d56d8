"""The step's glue, with stub adapters: what is sent where, and when the host must retry."""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphops.common.errors import QueueUnavailable
from graphops.delivery.deliverer import DeliveryResult
from graphops.egress.policy import CallbackPolicy
from graphops.graph.answer import GraphAnswer
from graphops.intake.limits import Limits
from graphops.local import seed
from graphops.pacing.schedule import PollSchedule
from graphops.step.decide import Policy
from graphops.step.tracker import Tracker
from graphops.storage.seal import Seal

NOW = datetime(2026, 11, 28, tzinfo=UTC)
CALLBACK = "https://prod-00.westeurope.logic.azure.com/cb?sig=s"
SEAL = Seal(b"a key the tests seal their envelopes with.")


class StubGraph:
    def __init__(self, *answers: GraphAnswer) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    def get_operation(self, url: str, select: Sequence[str] = ()) -> GraphAnswer:
        self.calls.append(url)
        return self.answers.pop(0)


class StubQueue:
    name = "graph-operations"

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[tuple[str, int]] = []
        self.dead: list[dict[str, Any]] = []

    def send(self, text: str, delay_seconds: int) -> None:
        if self.fail:
            raise QueueUnavailable("down")
        self.sent.append((text, delay_seconds))

    def dead_letter(self, record: dict[str, Any]) -> None:
        if self.fail:
            raise QueueUnavailable("down")
        self.dead.append(record)


class StubDeliverer:
    def __init__(self, *results: DeliveryResult) -> None:
        self.results = list(results)
        self.posts: list[tuple[str, str, Mapping[str, Any]]] = []

    def deliver(self, url: str, webhook_id: str, body: Mapping[str, Any], now: datetime) -> DeliveryResult:
        self.posts.append((url, webhook_id, body))
        return self.results.pop(0) if self.results else DeliveryResult(True, False, "delivered (200)", 200)


def tracker(
    graph: StubGraph,
    queue: StubQueue,
    deliverer: StubDeliverer,
    attempts: int = 3,
    clock: Any = lambda: NOW,
    state: Any = None,
    retention: timedelta = timedelta(days=7),
) -> Tracker:
    limits = Limits(
        "https://graph.microsoft.com",
        CallbackPolicy(("*.logic.azure.com",), resolver=lambda h, p: ["20.38.102.5"]),
        86400,
        30 * 86400,
    )
    return Tracker(
        limits=limits, policy=Policy(PollSchedule(5, 60), 120), graph=graph, queue=queue, seal=SEAL,  # type: ignore[arg-type]
        deliverer=deliverer, max_delivery_attempts=attempts, clock=clock, rng=random.Random(0), state=state,  # type: ignore[arg-type]
        retention=retention,
    )  # fmt: skip


def request(**extra: Any) -> bytes:
    return json.dumps({"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK, **extra}).encode()


def test_a_running_operation_is_re_enqueued_as_an_envelope_with_a_delay() -> None:
    graph, queue = StubGraph(GraphAnswer(200, seed.alert_refresh("running"))), StubQueue()
    result = tracker(graph, queue, StubDeliverer()).handle(request(), "msg-1")
    [(text, delay)] = queue.sent
    envelope = json.loads(text)
    assert (result.action, delay, envelope["trackingId"], envelope["polls"], envelope["v"]) == (
        "pollAgain",
        5,
        "msg-1",
        1,
        1,
    )


def test_when_the_queue_cannot_take_the_next_step_the_host_must_retry() -> None:
    graph = StubGraph(GraphAnswer(200, seed.alert_refresh("running")))
    with pytest.raises(QueueUnavailable):
        tracker(graph, StubQueue(fail=True), StubDeliverer()).handle(request(), "msg-1")


def test_a_rejected_request_is_dead_lettered_once_with_its_reason_and_graph_is_never_called() -> None:
    graph, queue, deliverer = StubGraph(), StubQueue(), StubDeliverer()
    body = request(operationUrl="https://graph.microsoft.us/v1.0/users/u/authentication/operations/o")
    result = tracker(graph, queue, deliverer).handle(body, "msg-9")
    assert result.action == "deadLettered" and graph.calls == []
    [record] = queue.dead
    assert (
        record["field"] == "operationUrl"
        and record["original"] == body.decode()
        and "configured Graph host" in record["reason"]
    )
    [(url, webhook_id, sent)] = deliverer.posts  # the callback URL is usable, so the caller hears of it
    assert (url, webhook_id, sent["outcome"]) == (CALLBACK, "msg-9", "rejected")


def test_a_refused_callback_is_dead_lettered_and_not_called() -> None:
    queue, deliverer = StubQueue(), StubDeliverer()
    tracker(StubGraph(), queue, deliverer).handle(request(callbackUrl="https://169.254.169.254/latest"), "m")
    assert queue.dead[0]["field"] == "callbackUrl" and deliverer.posts == []


def test_delivery_retries_without_polling_again_then_dead_letters_the_payload() -> None:
    graph = StubGraph(GraphAnswer(200, seed.alert_refresh("succeeded")))
    queue = StubQueue()
    failing = DeliveryResult(False, True, "callback answered 503", 503)
    deliverer = StubDeliverer(failing, failing, failing)
    t = tracker(graph, queue, deliverer, attempts=3)
    assert t.handle(request(), "m").action == "retryDelivery"
    assert t.handle(queue.sent[-1][0], "m2").action == "retryDelivery"
    assert t.handle(queue.sent[-1][0], "m3").action == "deadLettered"
    assert len(graph.calls) == 1 and len(deliverer.posts) == 3
    assert {p[1] for p in deliverer.posts} == {"m"}  # one webhook-id for every attempt
    [record] = queue.dead
    assert record["field"] == "callbackUrl" and "gave up after 3 attempts" in record["reason"]
    assert json.loads(record["original"])["outcome"] == "succeeded"


def test_a_redirecting_callback_is_dead_lettered_at_once() -> None:
    graph, queue = StubGraph(GraphAnswer(200, seed.alert_refresh("succeeded"))), StubQueue()
    deliverer = StubDeliverer(DeliveryResult(False, False, "callback answered 302; redirects are not followed", 302))
    assert tracker(graph, queue, deliverer).handle(request(), "m").action == "deadLettered"
    assert queue.sent == [] and "302" in queue.dead[0]["reason"]


def test_a_state_table_that_is_unavailable_slows_nothing() -> None:
    from azure.core.exceptions import ServiceRequestError

    from graphops.storage.state import StateStore

    class DownTable:
        def __getattr__(self, name: str) -> Any:
            def fail(*args: Any, **kwargs: Any) -> Any:
                raise ServiceRequestError("table down")

            return fail

    state = StateStore(DownTable())  # type: ignore[arg-type]
    graph, queue = StubGraph(GraphAnswer(200, seed.alert_refresh("running"))), StubQueue()
    t = tracker(graph, queue, StubDeliverer(), state=state)  # a subscribed tracking, its table out of reach
    envelope = json.loads(queue_envelope(stateful=True))
    result = t.handle(json.dumps(envelope), "m")
    assert result.action == "pollAgain" and len(queue.sent) == 1 and len(graph.calls) == 1
    # It tried: one read, one merge, and the query of the kinds' lengths; each failed quietly.
    assert state.operations == 3


def finished_envelope(**request: Any) -> str:
    """A subscribed tracking's step after Graph said ``succeeded``: it delivers."""
    from dataclasses import replace

    from graphops.envelope.tracking import Outcome
    from graphops.intake.request import from_request

    limits = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    doc = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK, **request}
    tracking = replace(from_request(doc, "t-1", NOW, limits), stateful=True)
    return SEAL.seal(tracking.finish(Outcome.SUCCEEDED, None, NOW).to_wire())


def queue_envelope(**changes: Any) -> str:
    from dataclasses import replace

    from graphops.intake.request import from_request

    limits = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400)
    doc = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": CALLBACK}
    return SEAL.seal(replace(from_request(doc, "t-1", NOW, limits), **changes).to_wire())


@pytest.mark.parametrize("timeout", [6, 12, 13, 31])
def test_a_tracking_that_never_finishes_polls_no_closer_than_the_minimum_and_ends_at_its_deadline(
    timeout: int,
) -> None:
    """Each step runs when its message shows again: the clock moves by the delay the previous step chose."""
    from datetime import timedelta

    now = [NOW]
    graph = StubGraph(*[GraphAnswer(200, seed.alert_refresh("running"))] * 50)
    queue, deliverer = StubQueue(), StubDeliverer()
    step = tracker(graph, queue, deliverer, clock=lambda: now[0])
    polled_at: list[datetime] = []
    graph_get = graph.get_operation

    def recording(url: str, select: Sequence[str] = ()) -> GraphAnswer:
        polled_at.append(now[0])
        return graph_get(url, select)

    graph.get_operation = recording  # type: ignore[method-assign]
    result = step.handle(request(timeoutSeconds=timeout), "msg-1")
    while result.action == "pollAgain":
        text, delay = queue.sent[-1]
        now[0] += timedelta(seconds=delay)
        result = step.handle(text.encode(), f"msg-{len(queue.sent) + 1}")
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(polled_at)]
    assert gaps and min(gaps) >= 5, gaps  # PollSchedule(5, 60): never closer than the minimum
    deadline = NOW + timedelta(seconds=timeout)
    assert all(at < deadline for at in polled_at)  # no poll at or past the deadline
    [(_, _, body)] = deliverer.posts
    assert body["outcome"] == "timedOut" and body["polls"] == len(polled_at)
    assert timedelta(0) <= now[0] - deadline <= timedelta(seconds=2)  # ended at the deadline, not later


@pytest.mark.parametrize("hours", [20, 24 * 10])
def test_a_receivers_long_retry_after_is_waited_out_in_full(hours: int) -> None:
    """Not cut to the back-off's 10 h cap; past the queue's 7-day limit, in steps that do not call back early."""
    from datetime import timedelta

    now = [NOW]
    later = DeliveryResult(False, True, "503", 503, retry_after=hours * 3600.0)
    graph = StubGraph(GraphAnswer(200, seed.alert_refresh("succeeded")))
    queue, deliverer = StubQueue(), StubDeliverer(later)
    step = tracker(graph, queue, deliverer, clock=lambda: now[0], retention=timedelta(days=30))  # 10 days fit in it
    assert step.handle(request(), "msg-1").action == "retryDelivery"
    waited = timedelta(0)
    while len(deliverer.posts) == 1:
        text, delay = queue.sent[-1]
        assert delay <= 7 * 24 * 3600  # what a queue message can wait
        waited += timedelta(seconds=delay)
        now[0] = NOW + waited
        step.handle(text.encode(), f"msg-{len(queue.sent) + 1}")
    assert waited >= timedelta(hours=hours) and len(deliverer.posts) == 2
    assert deliverer.posts[1][1] == deliverer.posts[0][1]  # the same webhook-id: one delivery, tried again


def test_a_step_whose_state_another_step_moved_on_calls_no_one() -> None:
    """A duplicate of this step (its host died past the enqueue and it ran again) wrote the state first: this step
    passed the gate on the version before, and must not deliver a second time."""
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError, ServiceRequestError

    from graphops.storage.state import StateStore

    from .test_state import Entity

    envelope = json.loads(queue_envelope(stateful=True))

    class MovedOn:
        table_name = "graphopsstate"

        def get_entity(self, partition_key: str, row_key: str) -> Entity:
            if row_key != "state":
                raise ResourceNotFoundError("no such entity")
            return Entity({"stepId": envelope["stepId"], "step": 0, "phase": "polling"})

        def update_entity(self, *args: Any, **kwargs: Any) -> Any:
            raise ResourceModifiedError("the condition specified using HTTP conditional header(s) is not met")

        def __getattr__(self, name: str) -> Any:
            def out_of_reach(*args: Any, **kwargs: Any) -> Any:
                raise ServiceRequestError("not this test's concern")

            return out_of_reach

    graph, queue, deliverer = StubGraph(GraphAnswer(200, seed.alert_refresh("succeeded"))), StubQueue(), StubDeliverer()
    t = tracker(graph, queue, deliverer, state=StateStore(MovedOn()))  # type: ignore[arg-type]
    result = t.handle(json.dumps(envelope), "m")
    assert (result.action, result.detail) == ("dropped", "stale")
    assert deliverer.posts == [] and queue.sent == [] and queue.dead == []


class QueueService:
    """What a storage queue is to TrackingQueue: it takes what it is sent."""

    def __init__(self, name: str) -> None:
        self.queue_name = name
        self.sent: list[str] = []

    def send_message(self, text: str, **options: Any) -> None:
        self.sent.append(text)


class RecordingState:
    """The state table's part in a delivering step: it lets the step run, and keeps what it records."""

    lengths = None  # a delivering step learns nothing

    def __init__(self) -> None:
        self.recorded: list[tuple[Any, bool]] = []

    def budgets(self, limits: Any) -> None:
        return None

    def gate(self, tracking: Any) -> Any:
        from graphops.storage.state import StepGate

        return StepGate(True)

    def own(self, tracking: Any) -> bool:
        return True  # no other step of it came first

    def record(
        self,
        tracking: Any,
        next_poll_at: Any,
        now: Any,
        *,
        final: bool = False,
        standing: Any = None,
        extra: Any = None,
    ) -> None:
        self.recorded.append((tracking, final))


def test_a_dead_letter_too_large_even_as_written_keeps_its_reason_records_the_end_and_repeats_no_sink(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from graphops.storage import queues

    main, poison = QueueService("graph-operations"), QueueService("graph-operations-poison")
    state = RecordingState()
    deliverer = StubDeliverer(DeliveryResult(False, False, "callback answered 410", 410))
    t = tracker(StubGraph(), queues.TrackingQueue(main, poison), deliverer, state=state)  # type: ignore[arg-type]
    # The tracking's copy holds more than the queue takes; its reason alone does not.
    monkeypatch.setattr(queues, "MAX_MESSAGE_BYTES", 2048)
    result = t.handle(finished_envelope(context={"note": "x" * 1500}), "m")
    assert result.action == "deadLettered" and len(deliverer.posts) == 1  # the step ends: the host repeats nothing
    [record] = [json.loads(text) for text in poison.sent]
    assert (record["trackingId"], record["original"]) == ("t-1", None)
    assert record["reason"] == "callback not delivered: callback answered 410"
    assert "too large" in record["originalOmitted"]
    [(final, is_final)] = state.recorded
    assert is_final and final.phase == "done" and final.delivery("callback").state == "deadLettered"
