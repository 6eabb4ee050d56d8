"""The learned schedule's arithmetic, on deterministic inputs: the histogram, the dynamic programme, and where
the step takes a length from."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from graphops.graph.kinds import KINDS
from graphops.pacing.learned import (
    BUCKETS,
    MAX_SAMPLES,
    MIN_SAMPLES,
    CheckingSchedule,
    Lengths,
    bucket_of,
    checking_times,
    learned_schedule,
)
from graphops.pacing.schedule import PollSchedule
from graphops.step.decide import Policy


def lengths_of(*seconds: float) -> Lengths:
    out = Lengths()
    for s in seconds:
        out = out.add(s)
    return out


def test_a_length_falls_in_an_eighth_of_a_doubling() -> None:
    assert [bucket_of(s) for s in (0.2, 1, 2, 2.2, 4, 60, 1e12)] == [0, 0, 8, 9, 16, 47, BUCKETS - 1]


def test_the_histogram_keeps_its_counts_and_halves_them_when_full() -> None:
    history = lengths_of(60, 61, 300)
    assert history.samples == 3 and history.counts == {47: 2, 65: 1}
    assert Lengths.from_json(history.to_json()) == history
    full = Lengths({47: MAX_SAMPLES})
    assert full.add(60).counts == {47: (MAX_SAMPLES + 1) // 2}


@pytest.mark.parametrize("raw", [None, "", "not json", "[1, 2]", '{"x": 1}', '{"999": 1}', '{"3": -1}', '{"3": "1"}'])
def test_an_unreadable_histogram_is_no_history(raw: object) -> None:
    assert Lengths.from_json(raw) == Lengths()


def test_a_kind_learns_only_from_enough_lengths() -> None:
    assert learned_schedule(lengths_of(*[60.0] * (MIN_SAMPLES - 1)), 5) is None
    schedule = learned_schedule(lengths_of(*[60.0] * MIN_SAMPLES), 5)
    assert schedule is not None and schedule.name == f"learned ({MIN_SAMPLES} lengths)"


def test_the_checks_skip_where_the_kind_never_ends_and_gather_where_it_does() -> None:
    # Every length between 4.5 and 5.5 minutes: nothing to see for four minutes, then look closely.
    rng = random.Random(1)
    history = lengths_of(*(rng.uniform(270, 330) for _ in range(200)))
    times = checking_times(history, 5, 3600, weight=2 * 300 / 30**2)
    assert 200 <= times[0] <= 280, times[:5]
    inside = [t for t in times if 270 <= t <= 340]
    assert len(inside) >= 4  # dense where it ends
    gaps = [b - a for a, b in zip((0.0, *times), times, strict=False)]
    assert min(gaps) >= 5 and max(gaps) <= 3600
    late = [b - a for a, b in itertools.pairwise(times) if a > 700]
    assert late and min(late) >= 200  # past where it has nearly always ended: it backs off


def test_the_programme_is_deterministic_and_bounded_by_the_kinds_delays() -> None:
    history = lengths_of(*[30.0 * 2 ** (i / 10) for i in range(60)])
    assert checking_times(history, 31, 120, 0.1) == checking_times(history, 31, 120, 0.1)
    times = checking_times(history, 31, 120, 0.1)
    gaps = [b - a for a, b in zip((0.0, *times), times, strict=False)]
    assert min(gaps) >= 31 - 1e-9 and max(gaps) <= 120 + 1e-9


def test_a_heavier_weight_on_delay_checks_more_often() -> None:
    history = lengths_of(*[120.0 * 2 ** (i / 20) for i in range(100)])
    assert len(checking_times(history, 5, 3600, 1.0)) > len(checking_times(history, 5, 3600, 0.01))


def test_between_and_after_the_learned_checks_the_delays_stay_within_bounds() -> None:
    schedule = CheckingSchedule((100.0, 130.0, 140.0), 5, 600, 50)
    rng = random.Random(0)
    assert schedule.next_delay(0, rng) == 100 and schedule.next_delay(100, rng) == 30
    assert schedule.next_delay(137, rng) == 5  # never sooner than the kind's shortest delay
    assert schedule.next_delay(200, rng) == 600  # past the last learned check: the longest gap


def test_a_learned_schedule_is_used_unless_the_deployment_fixed_the_kinds_or_turned_learning_off() -> None:
    learned = CheckingSchedule((100.0,), 31, 3600, 80)
    teams = KINDS["teamsAsyncOperation"]
    policy = Policy(PollSchedule(5, 60), 120, {"teamsAsyncOperation": PollSchedule(31, 120)},
                    learned={"teamsAsyncOperation": learned})  # fmt: skip
    assert policy.schedule_for(teams) is learned
    assert policy.kind_schedule(teams) == PollSchedule(31, 120)
    assert Policy(policy.schedule, 120, policy.kind_schedules, frozenset({"teamsAsyncOperation"}),
                  learned=policy.learned).schedule_for(teams) == PollSchedule(31, 120)  # fmt: skip
    assert Policy(policy.schedule, 120, policy.kind_schedules, learn=False,
                  learned=policy.learned).schedule_for(teams) == PollSchedule(31, 120)  # fmt: skip
    assert policy.schedule_for(KINDS["siteOperation"]) == PollSchedule(5, 60)


def test_the_length_a_finished_tracking_teaches_is_from_the_first_poll_to_the_middle_of_the_last_wait() -> None:
    from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking, iso
    from graphops.step.poll_job import length_seen

    t0 = datetime(2026, 12, 4, 12, tzinfo=UTC)
    polls = ({"at": iso(t0), "http": 200}, {"at": iso(t0 + timedelta(seconds=100)), "http": 200},
             {"at": iso(t0 + timedelta(seconds=160)), "http": 200})  # fmt: skip
    tracking = Tracking(tracking_id="t", operation_url="u", kind=KINDS["siteOperation"], callback_url=None,
                        tracked_since=t0, deadline=t0 + timedelta(days=1), polls=3, history=polls)  # fmt: skip
    done = tracking.finish(Outcome.SUCCEEDED, None, t0 + timedelta(seconds=160))
    assert length_seen(done) == 130.0  # ended somewhere between 100 s and 160 s
    assert length_seen(tracking.finish(Outcome.FAILED, ErrorInfo("failed", "x"), t0 + timedelta(seconds=160))) == 130
    for outcome in (Outcome.TIMED_OUT, Outcome.FORBIDDEN, Outcome.NOT_FOUND, Outcome.CANCELLED, Outcome.ERROR):
        assert length_seen(tracking.finish(outcome, None, t0 + timedelta(seconds=160))) is None, outcome
    first = Tracking(tracking_id="t", operation_url="u", kind=KINDS["siteOperation"], callback_url=None,
                     tracked_since=t0, deadline=t0 + timedelta(days=1), polls=1)  # fmt: skip
    assert length_seen(first.finish(Outcome.SUCCEEDED, None, t0)) is None  # over before graphops looked
    stateless = replace(tracking, history=None)
    assert length_seen(stateless.finish(Outcome.SUCCEEDED, None, t0 + timedelta(seconds=160))) is None


def test_a_histogram_with_absurd_counts_is_held_to_what_a_row_can_hold() -> None:
    history = Lengths.from_json('{"47": ' + "9" * 400 + ', "48": 3}')
    assert history.counts == {47: MAX_SAMPLES, 48: 3}
    assert learned_schedule(history, 5) is not None
