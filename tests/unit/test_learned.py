"""The learned schedule's arithmetic, on deterministic inputs: the histogram, the dynamic programme, and where
the step takes a length from."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from graphops.graph.kinds import KINDS
from graphops.pacing.learned import (
    BUCKETS,
    HANDOVER,
    MIN_SAMPLES,
    REFERENCE_INTERVAL,
    STEPS_PER_DOUBLING,
    CheckingSchedule,
    Lengths,
    Until,
    backoff,
    bucket_middle,
    bucket_of,
    checking_times,
    learned_schedule,
)
from graphops.pacing.schedule import PollSchedule
from graphops.step.decide import Policy


def lengths_of(*seconds: float) -> Lengths:
    return Lengths.of(seconds)


def test_a_length_falls_in_an_eighth_of_a_doubling() -> None:
    assert [bucket_of(s) for s in (0.2, 1, 2, 2.2, 4, 60, 1e12)] == [0, 0, 8, 9, 16, 47, BUCKETS - 1]


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


def test_bucket_middles_and_the_histograms_edges() -> None:
    assert bucket_middle(0) == 2 ** (0.5 / STEPS_PER_DOUBLING) and bucket_middle(8) == 2 ** (8.5 / STEPS_PER_DOUBLING)
    assert Lengths({8: 1}).horizon() == 2 ** (9 / STEPS_PER_DOUBLING) * 1.5
    assert Lengths.of([2.0, 2.1, 1e12]).counts == {8: 2.0, BUCKETS - 1: 1.0}


def test_the_median_is_the_middle_of_the_bucket_where_half_the_lengths_are_reached() -> None:
    assert Lengths({3: 25, 10: 25}).median() == bucket_middle(3)  # half reached exactly at the first
    assert Lengths({3: 24, 10: 26}).median() == bucket_middle(10)
    assert Lengths({3: 20, 5: 20, 10: 10}).median() == bucket_middle(5)
    assert Lengths({3: 20, 10: 10, 20: 20}).median() == bucket_middle(10)
    assert Lengths().median() == 1.0


def test_the_survival_curve_is_the_histogram_smoothed_with_silvermans_bandwidth() -> None:
    lengths = Lengths({8: 30, 24: 20})  # about 2 s and 8 s
    logs = [(math.log(bucket_middle(8)), 30), (math.log(bucket_middle(24)), 20)]
    mean = sum(x * c for x, c in logs) / 50
    spread = math.sqrt(sum(c * (x - mean) ** 2 for x, c in logs) / 50)
    width = 1.06 * spread * 50 ** (-1 / 5)
    assert width > math.log(2) / STEPS_PER_DOUBLING  # the bandwidth, not the floor, binds here

    def expected(t: float) -> float:
        return sum(c / 2 * math.erfc((math.log(t) - mu) / (width * math.sqrt(2))) for mu, c in logs) / 50

    times = [0.5, 1.0, 2.0, 4.0, 8.0, 30.0]
    assert lengths.survival(times) == pytest.approx([expected(t) for t in times], rel=1e-12)
    assert lengths.survival([0.0, -1.0]) == [1.0, 1.0]
    assert lengths.survival([1e-6])[0] == pytest.approx(1.0) and lengths.survival([1e6])[0] == pytest.approx(0.0)
    # Lengths of about a second: at one second, some have ended already.
    assert Lengths({0: 50}).survival([1.0])[0] < 0.9


def test_the_next_learned_check_counts_a_check_due_within_half_a_second_as_made() -> None:
    schedule = CheckingSchedule((10.0, 20.0), min_delay=1, max_delay=60, samples=50)
    assert schedule.next_delay(9.0, random.Random(1)) == 1.0
    assert schedule.next_delay(9.6, random.Random(1)) == 10.4
    assert schedule.next_delay(25.0, random.Random(1)) == 60


def test_the_learned_schedule_weighs_delay_at_the_kinds_median_and_backs_off_past_the_hand_over() -> None:
    lengths = Lengths({40: 30, 48: 30})  # about 32 s and 64 s
    schedule = learned_schedule(lengths, 5, 600)
    assert schedule is not None
    median = lengths.fading_below(0.5)  # the smoothed curve's, between the two buckets
    assert bucket_middle(40) < median < bucket_middle(48)
    weight = 2 * median / REFERENCE_INTERVAL**2
    handover = lengths.fading_below(HANDOVER)
    planned = checking_times(
        Until(lengths, handover), 5, 600, weight, reach=PollSchedule(5, 60).nominal_delay(handover)
    )
    assert planned and planned[-1] <= handover + 60
    assert schedule == CheckingSchedule(planned + backoff(planned[-1], handover, 5, 600), 5, 600, 60)
    late = [b - a for a, b in itertools.pairwise(schedule.times) if a >= planned[-1]]
    # Past the hand-over: the default's gap, then a tenth of the time waited past it, until the longest gap.
    assert late[0] == pytest.approx(PollSchedule(5, 60).nominal_delay(planned[-1]), abs=0.1)
    assert all(b >= a - 0.1 for a, b in itertools.pairwise(late)) and late[-1] > 300
    slow = checking_times(Until(lengths, handover), 700, 700, weight, reach=700)
    assert learned_schedule(lengths, 700, 600) == CheckingSchedule(
        slow + backoff(slow[-1] if slow else 0.0, handover, 700, 700), 700, 700, 60
    )


class _Steps:
    """A distribution given by its survival at multiples of ``unit`` seconds (a step function), for exhaustive
    checks."""

    def __init__(self, alive: list[float], unit: float, reach: int) -> None:
        self.alive, self.unit, self.reach = alive, unit, reach

    def survival(self, times: Sequence[float]) -> list[float]:
        return [self.alive[min(int(t / self.unit + 1e-9), len(self.alive) - 1)] for t in times]

    def horizon(self) -> float:
        return self.reach * self.unit


def _cheapest(
    alive: list[float], step: float, shortest: int, longest: int, weight: float, tail: float
) -> tuple[int, ...]:
    """Of every way to check at grid points 0 = i0 < i1 < ... (gaps of ``shortest`` to ``longest`` points, up to
    the grid's last point n - 1), the one with the least expected calls + weight x expected delay, by definition:
    a check made while the operation runs is a call; an end in (t_a, t_b] is seen at t_b; from the last point on,
    one call every ``tail`` seconds, an end seen half way on average. A check too near the last point to make
    another stops there, and is charged that tail."""
    n = len(alive)

    def cost(checks: tuple[int, ...]) -> float:
        total = 0.0
        for a, b in itertools.pairwise(checks):
            ended = sum((b - k) * step * max(0.0, alive[k - 1] - alive[k]) for k in range(a + 1, b + 1))
            total += alive[a] + weight * ended
        return total

    best, best_checks = math.inf, ()
    for r in range(n):
        for inner in itertools.combinations(range(1, n - 1), r):
            checks = (0, *inner)
            if not all(shortest <= b - a <= longest for a, b in itertools.pairwise(checks)):
                continue
            last = checks[-1]
            if last + shortest > n - 1:  # no further check fits: stop here
                total = cost(checks) + alive[last] * (1 + weight * tail / 2)
            elif n - 1 - last <= longest:
                total = cost((*checks, n - 1)) + alive[n - 1] * (1 + weight * tail / 2)
            else:
                continue
            if total < best:
                best, best_checks = total, checks
    return best_checks[1:]


@pytest.mark.parametrize("seed", range(8))
def test_the_check_times_are_the_cheapest_of_every_possible_schedule(seed: int) -> None:
    rng = random.Random(seed)
    # A grid of one point per second, or per two or three seconds when the shortest delay is long (a fifth of it).
    step = rng.choice([1, 2, 3])
    min_delay = rng.choice([1, 2]) if step == 1 else 5 * step
    max_delay = rng.choice([3, 4]) if step == 1 else rng.choice([5, 6, 7]) * step + rng.choice([0, step // 2])
    weight = rng.choice([0.02, 0.3, 1.0]) / step
    reach = rng.choice([4, 5, 6])
    # Ends all along the grid (which runs max_delay past the horizon), and some still running at its end.
    cuts = sorted(rng.random() * 0.9 for _ in range(reach + max_delay // step + 1))
    distribution = _Steps([1.0, *(1 - c for c in cuts)], step, reach)
    times = checking_times(distribution, min_delay, max_delay, weight)
    n = int((distribution.horizon() + max_delay) / step + 1e-9) + 1
    grid_alive = distribution.survival([i * step for i in range(n)])
    shortest = max(1, math.ceil(min_delay / step))
    longest = max(shortest, int(max_delay / step))
    expected = _cheapest(grid_alive, step, shortest, longest, weight, max_delay)
    assert times == tuple(float(i * step) for i in expected)


def test_no_check_lies_past_the_histograms_reach() -> None:
    class Endless:
        def survival(self, times: Sequence[float]) -> list[float]:
            return [1.0 if t < 2.0**23 else 0.0 for t in times]

        def horizon(self) -> float:
            return 2.0**23

    times = checking_times(Endless(), 60, 3600, 1e-6)
    assert times and max(times) <= 2.0**22
