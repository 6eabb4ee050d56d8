from __future__ import annotations

import itertools
import math
import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from graphops.pacing.schedule import MAX_QUEUE_DELAY, PollSchedule, delivery_delay, split_wait, whole_delay

DEFAULT = PollSchedule(5, 60)


def test_the_delay_grows_from_min_to_max_with_elapsed_time() -> None:
    delays = [DEFAULT.nominal_delay(t) for t in (0, 30, 60, 120, 300, 3600)]
    assert delays == sorted(delays)
    assert delays[0] == 5 and delays[2] == 12 and delays[-1] == 60


@given(
    elapsed=st.floats(0, 10**6),
    low=st.integers(1, 100),
    spread=st.integers(0, 1000),
    seed=st.integers(0, 2**32),
)
def test_the_delay_stays_within_its_bounds(elapsed: float, low: int, spread: int, seed: int) -> None:
    schedule = PollSchedule(low, low + spread)
    assert low <= schedule.next_delay(elapsed, random.Random(seed)) <= low + spread


@given(wanted=st.floats(0, 10**5), not_before=st.none() | st.floats(0, 10**4), remaining=st.floats(0.001, 10**5))
def test_whole_delays_never_poll_before_retry_after_nor_sooner_than_wanted(
    wanted: float, not_before: float | None, remaining: float
) -> None:
    delay = whole_delay(wanted, not_before=not_before, remaining=remaining)
    if delay is None:
        assert not_before is not None and math.ceil(not_before) > remaining
        return
    assert isinstance(delay, int) and delay >= (not_before or 0)
    # Never cut short: the full wait, or, when that reaches the deadline, past it (the step then ends the
    # tracking as timed out instead of polling): never a poll sooner than the schedule's minimum.
    assert delay >= round(wanted) or delay > remaining
    assert delay < remaining or delay >= remaining + 1


def test_delivery_retries_back_off_and_respect_retry_after() -> None:
    rng = random.Random(3)
    delays = [delivery_delay(n, 5, None, rng) for n in range(1, 13)]
    assert 4 <= delays[0] <= 5
    assert all(a < b for a, b in itertools.pairwise(delays[:7]))  # x4 growth outruns 10% jitter
    assert all(0.9 * 36000 <= d <= 36000 for d in delays[7:])  # capped at 10 h
    assert delivery_delay(1, 5, 120, rng) == 120


def test_a_wait_of_exactly_the_queues_limit_is_one_queue_delay() -> None:
    now = datetime(2025, 1, 1, tzinfo=UTC)
    assert split_wait(MAX_QUEUE_DELAY, now) == (MAX_QUEUE_DELAY, None)
    assert split_wait(MAX_QUEUE_DELAY + 1, now) == (MAX_QUEUE_DELAY, now + timedelta(seconds=MAX_QUEUE_DELAY + 1))
