"""When to ask again: pure functions of elapsed time, with no I/O.

Polling: the delay grows with the square of the time the operation has been tracked
(``elapsed**2 / GROWTH_HORIZON``), clamped to [min, max] and jittered downwards. Short
operations are noticed within seconds (12 s between polls at one minute), long ones cost one call
per ``max`` seconds. ``bench/schedule.py`` measures this against fixed intervals.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

GROWTH_HORIZON = 300.0  # seconds; the delay equals the elapsed time once elapsed reaches this (before the cap)
JITTER = 0.1  # poll up to 10% early, so trackings started together drift apart
MAX_DELIVERY_DELAY = 10 * 3600
# A queue message can stay invisible for 7 days at most; a longer delay is refused and the step would fail.
MAX_QUEUE_DELAY = 7 * 24 * 3600 - 60


def delay_until(moment: datetime | None, now: datetime) -> int:
    """Whole seconds from ``now`` until ``moment`` (none when it has passed), at most what a queue message can
    wait: a longer wait wakes the step early, and it sleeps again (see ``Tracking.not_before``)."""
    if moment is None or moment <= now:
        return 0
    return min(MAX_QUEUE_DELAY, math.ceil((moment - now).total_seconds()))


class Schedule(Protocol):
    """When to poll a tracking next: the default growth (:class:`PollSchedule`) or one learned from its kind's
    lengths (:class:`graphops.pacing.learned.CheckingSchedule`)."""

    @property
    def min_delay(self) -> int: ...

    @property
    def name(self) -> str: ...

    def next_delay(self, elapsed: float, rng: random.Random) -> float: ...


@dataclass(frozen=True)
class PollSchedule:
    min_delay: int
    max_delay: int

    @property
    def name(self) -> str:
        return f"default ({self.min_delay}–{self.max_delay} s)"

    def nominal_delay(self, elapsed: float) -> float:
        return min(self.max_delay, max(self.min_delay, elapsed * elapsed / GROWTH_HORIZON))

    def next_delay(self, elapsed: float, rng: random.Random) -> float:
        """Seconds until the next poll, for a tracking that started ``elapsed`` seconds ago."""
        return max(self.min_delay, self.nominal_delay(elapsed) * (1 - JITTER * rng.random()))


def whole_delay(wanted: float, *, not_before: float | None, remaining: float) -> int | None:
    """A visibility delay in whole seconds: at least ``wanted`` (never below the kind's minimum) and at least
    ``not_before`` (Retry-After).

    When that would reach the deadline, the delay ends just past it instead (``past_deadline``): the step then
    finds the deadline gone and ends the tracking as timed out without asking Graph again. It is never cut
    short, so two polls of one tracking are never closer than the kind's minimum delay. Returns None when
    Graph's Retry-After itself reaches past the deadline.
    """
    floor_ = math.ceil(not_before) if not_before else 0
    if floor_ > remaining:
        return None
    delay = max(floor_, round(wanted))
    return past_deadline(remaining) if delay >= remaining else delay


def past_deadline(remaining: float) -> int:
    """A delay that lands a whole second after the deadline, so a queue that shows the message a little early
    still shows it after the deadline."""
    return math.ceil(remaining) + 1


def delivery_delay(failed_attempts: int, min_delay: int, retry_after: float | None, rng: random.Random) -> int:
    """Seconds before the next callback attempt (or start) after ``failed_attempts`` failures.

    Grows x4 from the minimum poll delay (5 s, 20 s, 80 s, ... up to 10 h with the defaults), like
    the usual webhook schedules, and never earlier than the receiver's (or Graph's) Retry-After, however
    long: a wait past the queue's 7-day limit is waited out in steps (``split_wait``).
    """
    exponent = min(failed_attempts - 1, 20)
    base: float = min(MAX_DELIVERY_DELAY, min_delay * 4**exponent)
    jittered = base * (1 - JITTER * rng.random())
    return math.ceil(max(jittered, retry_after or 0.0))


def split_wait(delay: int, now: datetime) -> tuple[int, datetime | None]:
    """A wait as a queue can hold it: the visibility delay for this step, and the moment the wait really ends
    when that is past the queue's 7-day limit (the step wakes early and sleeps again until then)."""
    if delay <= MAX_QUEUE_DELAY:
        return delay, None
    return MAX_QUEUE_DELAY, now + timedelta(seconds=delay)
