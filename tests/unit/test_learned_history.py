"""What a kind's history is made of (graphops.pacing.learned.history) and how its schedule behaves where the
history runs out: deterministic inputs, counts and check times, no timings."""

from __future__ import annotations

import math
import random

import pytest

from graphops.pacing.learned import (
    HALF_COUNT,
    MAX_AGE,
    SOURCE_HOURLY,
    CheckingSchedule,
    Lengths,
    Seen,
    bucket_middle,
    bucket_of,
    history,
    learned_schedule,
)
from graphops.pacing.schedule import PollSchedule, Schedule

NOW = 1_800_000_000.0
HOUR = 3600.0
DAY = 86400.0


def calls(schedule: Schedule, length: float) -> int:
    """Graph calls until a check at or past ``length`` (the first at 0), without jitter's luck: the default's
    nominal delay, the learned schedule's own."""
    return seen(schedule, length)[0]


def seen(schedule: Schedule, length: float) -> tuple[int, float]:
    """(calls, seconds from ``length`` to the check that sees it)."""
    t, n = 0.0, 1
    while t < length:
        t += (
            schedule.nominal_delay(t)
            if isinstance(schedule, PollSchedule)
            else schedule.next_delay(t, random.Random(0))
        )
        n += 1
    return n, t - length


def log_normal(
    median: float, sigma: float, count: int, seed: int, *, source: str = "", start: float = NOW
) -> list[Seen]:
    """``count`` lengths, one an hour back from ``start``, from five callers in turn (or ``source``)."""
    rng = random.Random(seed)
    return [
        Seen(median * math.exp(rng.gauss(0, sigma)), start - HOUR * i, source or f"caller{i % 5}") for i in range(count)
    ]


def learned(seen: list[Seen], min_delay: int = 5) -> CheckingSchedule:
    schedule = learned_schedule(history(seen, NOW).lengths, min_delay)
    assert schedule is not None
    return schedule


def test_past_where_the_history_ends_the_gaps_grow_at_least_as_the_defaults() -> None:
    """200 lengths of about 20 minutes: their survival curve reaches nothing near 35 minutes. Every gap from twice
    the median on is at least the default's (60 s), and an outlier of 10 times the median costs fewer calls than
    the default schedule (at 4 times, about as many: bench/schedule.py's out-of-distribution table)."""
    schedule = learned(log_normal(1200, 0.25, 200, seed=1))
    default = PollSchedule(5, 60)
    assert calls(schedule, 10 * 1200) <= calls(default, 10 * 1200)
    late = [b - a for a, b in zip(schedule.times, schedule.times[1:], strict=False) if a >= 2 * 1200]
    assert late and min(late) >= 60


def test_a_short_kind_costs_no_more_than_the_default_at_two_and_ten_medians() -> None:
    """A 5-minute kind of sigma 0.5: at 2 medians at most the default's calls, at 10 fewer. (At 4 medians it makes
    39 calls to the default's 34: inside its distribution it checks every 22-26 s, and that stretch costs more
    than the default's whole schedule to 4 medians; docs/performance.md, the frontier.)"""
    schedule = learned(log_normal(300, 0.5, 200, seed=2))
    default = PollSchedule(5, 60)
    assert calls(schedule, 2 * 300) <= calls(default, 2 * 300)
    assert calls(schedule, 10 * 300) < calls(default, 10 * 300)


def test_a_callers_burst_counts_as_its_share_of_an_hour() -> None:
    burst = [Seen(2.0, NOW - 60 - i, "flood.example") for i in range(500)]
    weighed = history(log_normal(300, 0.5, 200, seed=3) + burst, NOW)
    assert weighed.over_share == {"flood.example": 500 - SOURCE_HOURLY}
    assert weighed.lengths.samples == pytest.approx(200 + SOURCE_HOURLY)


def test_a_callers_flood_of_short_operations_does_not_steer_the_kind() -> None:
    """500 operations of two seconds from one caller within the hour, on a kind of five minutes: its schedule
    stays within a few calls of what it was up to 4 medians, and no sparser; at 10 medians, past the hand-over, it
    costs no more than the default. (Its share, 10 of 210 lengths, moves the hand-over: at 10 medians it makes 64
    calls to the clean kind's 58.)"""
    clean = log_normal(300, 0.5, 200, seed=4)
    flood = [Seen(2.0, NOW - 7 * i, "flood.example") for i in range(500)]
    before, after = learned(clean), learned(clean + flood)
    assert calls(after, 3000) <= calls(PollSchedule(5, 60), 3000)
    for length in (150, 300, 600, 1200, 3000):
        # Its share (10 of 210 lengths) buys an early check or three, a tenth more at most up to 4 medians.
        if length <= 1200:
            assert calls(after, length) <= calls(before, length) + max(3, calls(before, length) // 10), length
        # ... and it is not made sparse either: the end is seen within twice as late, or the default's gap.
        assert seen(after, length)[1] <= max(2 * seen(before, length)[1], 60), length  # the default's gap


def test_the_newest_lengths_weigh_most_by_time_even_when_fewer() -> None:
    """A kind quiet for a month: 100 lengths of a minute from then, 20 of ten minutes from today. By count alone
    the month-old ones would still be most of the history; by time they are not."""
    old = [Seen(60.0, NOW - 30 * DAY - HOUR * i, f"caller{i % 5}") for i in range(100)]
    new = [Seen(600.0, NOW - HOUR * i, f"caller{i % 5}") for i in range(20)]
    lengths = history(old + new, NOW).lengths
    assert lengths.median() == bucket_middle(bucket_of(600.0))
    assert lengths.samples == pytest.approx(120)


def test_a_kind_whose_lengths_change_follows_within_a_hundred_trackings() -> None:
    before = log_normal(300, 0.25, 300, seed=5, start=NOW - 100 * HOUR)
    after = log_normal(1200, 0.25, 100, seed=6)
    lengths = history(before + after, NOW).lengths
    assert bucket_middle(bucket_of(1200 / 1.2)) <= lengths.median() <= bucket_middle(bucket_of(1200 * 1.2))
    moved = sum(c for i, c in lengths.counts.items() if bucket_middle(i) > 600) / lengths.weight
    assert moved >= 0.85


def test_lengths_past_the_oldest_counted_are_not_read() -> None:
    weighed = history([Seen(60.0, NOW - MAX_AGE - 1, "a"), Seen(60.0, NOW - MAX_AGE + 1, "a")], NOW)
    assert weighed.too_old == 1 and weighed.lengths.samples == pytest.approx(1)


def test_the_weights_sum_to_the_effective_number_of_lengths() -> None:
    """Kish's effective number: (sum of weights)^2 / sum of squares; lengths weighed alike count one each."""
    weights = [0.5 ** (i / HALF_COUNT) for i in range(10)]  # ten lengths of this hour, newest first
    alike = history([Seen(60.0, NOW, f"c{i}") for i in range(10)], NOW).lengths
    assert math.isclose(alike.weight, sum(weights) ** 2 / sum(w * w for w in weights), rel_tol=1e-9)
    assert alike.samples == 10 and Lengths.of([60.0] * 10).weight == 10
