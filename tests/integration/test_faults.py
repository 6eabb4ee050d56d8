"""Faults that happen in production, against Azurite and the stand-ins: every accepted tracking ends in
exactly one outcome at the receiver (duplicates share a webhook-id), and whatever cannot go on is kept
in the poison queue with its reason. Bounded in time, loopback only."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from graphops import functions
from graphops.delivery.deliverer import Deliverer
from graphops.egress.policy import CallbackPolicy
from graphops.graph.reader import GraphClient
from graphops.local import seed
from graphops.local.azurite import Azurite
from graphops.local.graph import Reply
from graphops.local.httpserver import RESET
from graphops.local.receiver import CallbackReceiver
from graphops.local.stack import LocalStack
from graphops.runner import Faults, QueueOptions
from graphops.wiring import graph_credential, graph_session

from ..patience import patience
from .conftest import ROOT, Harness, sink_settings, watched

FAST_RETRIES = replace(QueueOptions.from_host_json(ROOT / "host.json"), visibility_timeout=0, max_dequeue_count=20)
RUNNING, DONE = seed.password_reset("running"), seed.password_reset("succeeded")


class HostDied(Exception):
    """The worker stopped at this point of the step."""


def dying_at(point: str, rng: random.Random, probability: float, counter: Counter[str]) -> Any:
    def checkpoint(name: str) -> None:
        if name == point and rng.random() < probability:
            counter[name] += 1
            raise HostDied(name)

    return checkpoint


@pytest.mark.parametrize("point", ["beforeGraph", "afterGraph", "afterEnqueue", "afterDeliver"])
@pytest.mark.parametrize("subscribed", [False, True], ids=["queue", "http"])
def test_the_host_dying_at_each_point_of_a_step_loses_nothing(make_harness: Any, point: str, subscribed: bool) -> None:
    h: Harness = make_harness(options=FAST_RETRIES)
    deaths: Counter[str] = Counter()
    functions.tracker().checkpoint = dying_at(point, random.Random(point), 0.4, deaths)
    paths = [seed.reset_path("die", f"{point}-{i}") for i in range(12)]
    ids = set()
    for path in paths:
        h.graph.script(path, [Reply(200, RUNNING), Reply(200, DONE)])
        if subscribed:
            body = {"operationUrl": h.graph_url(path), "callbackUrl": h.stack.callback_url()}
            ids.add(requests.post(h.api("operations"), json=body, timeout=patience(10)).json()["trackingId"])
        else:
            ids.add(h.track(path))
    h.run(timeout=120)

    by_id = h.receiver.by_id()
    assert deaths[point] > 0, "no fault was injected"
    assert set(by_id) == ids, "a tracking was lost"
    assert all({r.body["outcome"] for r in got} == {"succeeded"} for got in by_id.values())
    assert h.poison() == []
    graph_calls = sum(len(h.graph.gets(p)) for p in paths)
    duplicates = sum(len(got) - 1 for got in by_id.values())
    print(f"\n{point} ({'http' if subscribed else 'queue'}): {deaths[point]} deaths, {graph_calls} Graph calls "
          f"for {2 * len(paths)} statuses, {duplicates} duplicate callbacks")  # fmt: skip
    if point == "beforeGraph":
        assert graph_calls == 2 * len(paths) and duplicates == 0  # nothing happened before it died
    if point != "afterDeliver":
        # The state drops stale steps before they call back, for trackings put straight on the queue too.
        assert duplicates == 0


def test_of_two_steps_that_passed_the_gate_on_one_version_only_one_owns_the_state(harness: Harness) -> None:
    """A step run again after its host died past the enqueue, and the successor it had queued, can both pass the
    gate on one version of the state. Only the one that holds it may deliver; the other is stale."""
    from graphops.envelope.tracking import next_step
    from graphops.intake.request import from_request
    from graphops.settings import Settings
    from graphops.wiring import limits_for

    state = functions.services().state
    assert state is not None
    doc = {
        "operationUrl": harness.graph_url(seed.reset_path("hold", "op")),
        "callbackUrl": harness.stack.callback_url(),
    }
    limits = limits_for(Settings.from_env(harness.env))
    rerun = replace(from_request(doc, f"hold-{time.monotonic_ns()}", datetime.now(UTC), limits), stateful=True)
    state.create(rerun)
    orphan = replace(next_step(replace(rerun, state_names=(rerun.step_id,))), stateful=True)
    gates = [state.gate(step) for step in (rerun, orphan)]
    assert [g.go for g in gates] == [True, True] and gates[0].etag == gates[1].etag  # both may run...
    owned = state.own(replace(orphan, state_etag=gates[1].etag))
    assert isinstance(owned, str) and owned != gates[1].etag  # ...the first to hold the state goes on...
    assert state.own(replace(rerun, state_etag=gates[0].etag)) is False  # ...and the other is stale
    assert state.read(rerun.tracking_id)["stepId"] == orphan.step_id
    assert isinstance(state.own(replace(orphan, state_etag=owned)), str)  # the holder's own later write holds


def test_azurite_down_for_a_while_then_back_loses_nothing(make_harness: Any, tmp_path: Path) -> None:
    azurite = Azurite(location=tmp_path / "azurite").start(timeout=patience(30))
    with LocalStack(azurite=azurite, queue_name="outage") as stack, watched(stack):
        try:
            h: Harness = make_harness(stack=stack, options=FAST_RETRIES, lease_seconds=3)
            paths = [seed.reset_path("outage", f"o{i}") for i in range(20)]
            for path in paths:
                h.graph.script(path, [Reply(200, RUNNING)] * 3 + [Reply(200, DONE)])
            ids = {h.track(path) for path in paths}
            hit: list[str] = []
            down = threading.Event()

            def storage_goes_away(point: str) -> None:
                # Storage goes away mid-step, after Graph answered and before the step re-enqueues.
                if point == "afterGraph" and not hit:
                    hit.append(point)
                    azurite.stop(keep_data=True)
                    down.set()

            functions.tracker().checkpoint = storage_goes_away
            stop = threading.Event()
            runner = threading.Thread(target=h.host.serve, args=(stop,))
            runner.start()
            try:
                assert down.wait(60), "no step reached the point where storage was to go away"
                time.sleep(4)  # the outage itself
                azurite.start(timeout=patience(30))  # ...and comes back with its data
                deadline = time.monotonic() + patience(90)
                while set(h.receiver.by_id()) != ids and time.monotonic() < deadline:
                    time.sleep(0.2)
            finally:
                stop.set()
                runner.join()
            assert set(h.receiver.by_id()) == ids
            assert all(r.body["outcome"] == "succeeded" for r in h.receiver.delivered())
            assert hit == ["afterGraph"]  # the outage hit a step in flight (its re-enqueue rode it out or failed)
        finally:
            azurite.stop()


def test_graph_misbehaving_still_ends_every_tracking(harness: Harness) -> None:
    storm = [Reply(429, seed.graph_error("TooManyRequests", "x"), {"Retry-After": "1"})] * 6
    scripts = {
        "storm": [Reply(200, RUNNING), *storm, Reply(200, DONE)],
        "burst": [Reply(500), Reply(502, "<html>bad gateway</html>"), Reply(503), Reply(504), Reply(200, DONE)],
        "reset": [Reply(RESET), Reply(200, RUNNING), Reply(RESET), Reply(200, DONE)],
        "notjson": [Reply(200, "<html>maintenance</html>"), Reply(200, DONE)],
        "nostatus": [Reply(200, {"id": "x", "createdDateTime": "2020-03-19T12-01-03.45Z"}), Reply(200, DONE)],
    }
    for name, replies in scripts.items():
        harness.graph.script(seed.reset_path("g", name), replies)
        harness.track(seed.reset_path("g", name), correlation_id=name)
    harness.run(timeout=90)
    outcomes = {r.body["correlationId"]: r.body["outcome"] for r in harness.receiver.delivered()}
    assert outcomes == dict.fromkeys(scripts, "succeeded")
    assert harness.graph.violations == []  # never a call before Retry-After, through the whole storm
    assert [len(harness.graph.gets(seed.reset_path("g", n))) for n in scripts] == [len(r) for r in scripts.values()]


def test_a_graph_that_does_not_answer_in_time_is_a_retry_not_an_end(harness: Harness) -> None:
    path = seed.reset_path("g", "slow")
    harness.graph.script(path, [Reply(200, DONE, delay=1.5)])
    from graphops.settings import Settings

    settings = Settings.from_env(harness.env)
    client = GraphClient(
        graph_session(),
        graph_credential(settings),
        settings.cloud.token_scope,
        settings.graph_endpoint,
        timeout=(1, 0.3),
    )
    answer = client.get_operation(harness.graph_url(path))
    assert answer.status_code is None and "ReadTimeout" in (answer.failure or "")


def test_a_receiver_down_for_a_stretch_gets_the_callback_when_it_is_back(harness: Harness) -> None:
    path = seed.reset_path("cb", "down")
    harness.graph.script(path, [Reply(200, DONE)])
    port = harness.stack.receiver.port
    harness.stack.receiver.stop()  # nothing listens: connection refused
    tracking_id = harness.track(path)
    stop = threading.Event()
    runner = threading.Thread(target=harness.host.serve, args=(stop,))
    runner.start()
    try:
        time.sleep(3)
        back_at = datetime.now(UTC)
        back = CallbackReceiver(harness.stack.secret, port=port).start()
        deadline = time.monotonic() + patience(60)
        while not back.delivered() and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        stop.set()
        runner.join()
    try:
        [callback] = back.delivered()
        assert callback.webhook_id == tracking_id and callback.verified
        assert len(harness.graph.gets(path)) == 1  # retries re-send the callback; Graph is not asked again
        # And an attempt was made, and failed, while the receiver was down (not only after it was back).
        history = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()["history"]
        attempts = [entry for entry in history if entry.get("sink") == "callback"]
        failed_while_down = [a for a in attempts if not a["delivered"] and datetime.fromisoformat(a["at"]) < back_at]
        assert failed_while_down and attempts[-1]["delivered"] is True, attempts
    finally:
        back.stop()
        harness.stack.receiver = back  # the stack stops it again at the end, harmlessly


@pytest.mark.parametrize(("answer", "reason"), [(410, "callback answered 410"), (302, "redirects are not followed"),
                                                 (404, "callback answered 404")])  # fmt: skip
def test_a_receiver_that_refuses_puts_the_payload_in_the_poison_queue(
    harness: Harness, answer: int, reason: str
) -> None:
    path = seed.reset_path("cb", f"r{answer}")
    harness.graph.script(path, [Reply(200, DONE)])
    harness.receiver.answer("/gone", (answer, {"Location": "https://evil.example/"}))
    tracking_id = harness.track(path, callback_url=harness.stack.callback_url("/gone"))
    harness.run()
    [dead] = harness.poison()
    assert dead["trackingId"] == tracking_id and reason in dead["reason"] and dead["field"] == "callbackUrl"
    payload = json.loads(dead["original"])
    assert payload["outcome"] == "succeeded" and payload["phase"] == "delivering"
    assert len(harness.receiver.received) == 1  # tried once: no retry of a refusal, no redirect followed


def test_a_slow_receiver_is_retried() -> None:
    with CallbackReceiver(secret=None) as receiver:
        receiver.slow("/slow", 1.0)
        import urllib3

        allowed = f"127.0.0.1:{receiver.port}"
        deliverer = Deliverer(
            CallbackPolicy((allowed,), allow_http=True), None, timeout=urllib3.Timeout(connect=1, read=0.2)
        )
        result = deliverer.deliver(f"http://{allowed}/slow", "t", {"outcome": "succeeded"}, datetime.now(UTC))
    assert not result.delivered and result.retryable and "ReadTimeoutError" in result.detail


def test_exhausted_delivery_retries_are_dead_lettered(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_MAX_DELIVERY_ATTEMPTS="3")
    path = seed.reset_path("cb", "exhausted")
    h.graph.script(path, [Reply(200, DONE)])
    h.receiver.answer("/flaky", 503, 503, 503, 503)
    tracking_id = h.track(path, callback_url=h.stack.callback_url("/flaky"))
    h.run(timeout=patience(60))
    [dead] = h.poison()
    assert dead["trackingId"] == tracking_id and "gave up after 3 attempts: callback answered 503" in dead["reason"]
    assert len(h.receiver.received) == 3


def chaos(h: Harness, trackings: int, seed_value: int) -> dict[str, Any]:
    """Many trackings (30% subscribed over HTTP, the rest put on the queue) with random faults everywhere;
    returns the figures for docs/reliability.md."""
    rng = random.Random(seed_value)
    deaths: Counter[str] = Counter()
    points = ["beforeGraph", "afterGraph", "afterEnqueue", "afterDeliver"]

    def checkpoint(name: str) -> None:
        if rng.random() < 0.02:
            deaths[name] += 1
            raise HostDied(name)

    functions.tracker().checkpoint = checkpoint
    glitches = [Reply(429, None, {"Retry-After": "1"}), Reply(503), Reply(500), Reply(RESET), Reply(200, "<html/>")]
    expected_poison: set[str] = set()
    ids: set[str] = set()
    injected = 0
    for i in range(trackings):
        path = seed.reset_path("chaos", f"c{i}")
        replies = []
        for status in (RUNNING, DONE):
            if rng.random() < 0.15:
                replies.append(rng.choice(glitches))
                injected += 1
            replies.append(Reply(200, status))
        h.graph.script(path, replies)
        route = "/cb"
        if rng.random() < 0.02:  # the receiver refuses these for good: they must end in the poison queue
            route = f"/refuse/{i}"
            h.receiver.answer(route, *[410] * 8)
        elif rng.random() < 0.1:
            route = f"/flaky/{i}"
            h.receiver.answer(route, 500)
            injected += 1
        if rng.random() < 0.3:  # subscribed over HTTP: state kept, stale steps dropped
            body = {"operationUrl": h.graph_url(path), "callbackUrl": h.stack.callback_url(route)}
            tracking_id = requests.post(h.api("operations"), json=body, timeout=patience(10)).json()["trackingId"]
        else:
            tracking_id = h.track(path, callback_url=h.stack.callback_url(route))
        ids.add(tracking_id)
        if route.startswith("/refuse/"):
            expected_poison.add(tracking_id)
    garbage = {h.send_raw(f"garbage {i}") for i in range(max(2, trackings // 100))}  # never tracked
    expected_poison |= garbage
    # Event Grid throttles or fails one publish in ten; every event still arrives (the callbacks' retries).
    grid = h.stack.eventgrid
    grid.script(rng.choice([Reply(200)] * 9 + [Reply(503), Reply(429, None, {"Retry-After": "1"})])
                for _ in range(trackings * 2))  # fmt: skip
    h.run(timeout=900)

    by_id = h.receiver.by_id()
    outcomes = {tid: {r.body["outcome"] for r in got if 200 <= r.status < 300} for tid, got in by_id.items()}
    delivered = {tid for tid, got in outcomes.items() if got}
    assert delivered == ids - expected_poison, "a tracking was lost or called back when it should not be"
    assert all(got == {"succeeded"} for tid, got in outcomes.items() if tid in delivered)
    poison = h.poison_all()
    assert {p.get("trackingId") for p in poison} == expected_poison
    duplicates = sum(sum(1 for r in got if 200 <= r.status < 300) - 1 for tid, got in by_id.items() if tid in delivered)
    # Every tracking reached every sink, the ones whose callback was refused included; nothing for garbage.
    published = Counter(e["id"] for e in grid.events)
    queued = Counter(e["id"] for e in h.results(receive=True))
    assert set(published) == set(queued) == ids, "an event or a queued result was lost"
    assert grid.violations == []
    return {
        "trackings": trackings, "graphFaults": injected, "hostDeaths": sum(deaths.values()),
        "deathsByPoint": {p: deaths[p] for p in points}, "duplicates": duplicates,
        "poisoned": len(poison), "lost": len(ids - expected_poison - delivered),
        "events": sum(published.values()), "eventFaults": sum(1 for p in grid.publishes if p.status != 200),
        "queuedResults": sum(queued.values()),
        "lostEvents": len(ids - set(published)), "lostResults": len(ids - set(queued)),
    }  # fmt: skip


def test_many_trackings_with_random_faults_a_representative_cut(make_harness: Any, stack: LocalStack) -> None:
    h: Harness = make_harness(options=FAST_RETRIES, faults=Faults(die_before_delete=0.03, seed=11), lease_seconds=2,
                              **sink_settings(stack))  # fmt: skip
    figures = chaos(h, trackings=150, seed_value=5)
    print("\nchaos:", json.dumps(figures))
    assert figures["lost"] == 0


@pytest.mark.slow
def test_two_thousand_trackings_with_random_faults(make_harness: Any, stack: LocalStack) -> None:
    h: Harness = make_harness(options=FAST_RETRIES, faults=Faults(die_before_delete=0.03, seed=12), lease_seconds=2,
                              **sink_settings(stack))  # fmt: skip
    figures = chaos(h, trackings=2000, seed_value=6)
    print("\nchaos:", json.dumps(figures))
    assert figures["lost"] == 0


class FailingWrites:
    """The state table's writes (merges) failing ``count`` times in a row, from the ``first``-th on (counting from
    1), as a storage outage does; reads and everything else work."""

    def __init__(self, table: Any, first: int, count: int) -> None:
        self.table, self.first, self.count, self.seen, self.failed = table, first, count, 0, 0
        for name in ("update_entity", "upsert_entity"):
            setattr(self, f"_{name}", getattr(table, name))
            setattr(table, name, self._failing(name))

    def _failing(self, name: str) -> Any:
        from azure.core.exceptions import ServiceRequestError

        def write(*args: Any, **kwargs: Any) -> Any:
            self.seen += 1
            if self.first <= self.seen < self.first + self.count:
                self.failed += 1
                raise ServiceRequestError("injected: the state table did not answer")
            return getattr(self, f"_{name}")(*args, **kwargs)

        return write


# The state writes of a tracking polled five times: 1-4 after the first four polls (each after queueing the next
# step), 5 when the fifth poll's success is delivered. A run that starts at 5 hits the delivery's write.
@pytest.mark.parametrize("first", [1, 3, 5], ids=["after the first poll", "after a later poll", "during delivery"])
@pytest.mark.parametrize("count", [1, 2, 3, 5])
def test_any_run_of_failed_state_writes_ends_in_exactly_one_outcome(make_harness: Any, first: int, count: int) -> None:
    h: Harness = make_harness(options=FAST_RETRIES)
    path = seed.reset_path("writes", f"{first}-{count}")
    h.graph.script(path, [Reply(200, RUNNING)] * 4 + [Reply(200, DONE)])
    body = {"operationUrl": h.graph_url(path), "callbackUrl": h.stack.callback_url()}
    tracking_id = requests.post(h.api("operations"), json=body, timeout=patience(10)).json()["trackingId"]
    writes = FailingWrites(functions.tracker()._state._table, first, count)
    h.run(timeout=120)
    by_id = h.receiver.by_id()
    assert set(by_id) == {tracking_id}, "the tracking was lost"
    assert {r.body["outcome"] for r in by_id[tracking_id]} == {"succeeded"}  # duplicates share the webhook-id
    assert writes.failed == count, "the faults were not all injected"
    assert h.poison() == []
    status = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (status["phase"], status["outcome"]) == ("done", "succeeded")
