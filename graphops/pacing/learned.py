"""A checking schedule learned from a kind's own history: pure functions, no I/O.

Each finished tracking leaves one length (:class:`Seen`: how long, when it ended, who asked); :func:`history`
weighs them into a compact histogram of the kind's lengths (:class:`Lengths`: weight per eighth of a doubling,
from one second to about seven weeks). One operation is one length (the store keys them by operation); the
lengths one source adds within an hour count as at most :data:`SOURCE_HOURLY`, so a flood from one caller
cannot steer the kind; the newest lengths weigh most, by count (:data:`HALF_COUNT`) and by time
(:data:`HALF_LIFE`), so a kind whose lengths change follows within about a hundred trackings.

Once a kind has enough lengths, the times to check are chosen to minimise the expected number of Graph calls
plus ``weight`` times the expected delay between the operation's end and the check that sees it
(:func:`checking_times`, dynamic programming over check times: the optimal checking result of Barlow, Hunter
and Proschan, on the kind's own distribution). It skips the stretch where the kind almost never ends, checks
densely where it usually does, and backs off past where it nearly always has, never closer than the kind's
shortest delay nor further apart than its longest. Past where the history ends it does not trust the
history's "nothing is left" (:class:`WithTail`): real lengths have tails, and there the gaps grow with the
time already waited, at least as fast as the default schedule's.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from graphops.pacing.schedule import PollSchedule

STEPS_PER_DOUBLING = 8
BUCKETS = 22 * STEPS_PER_DOUBLING  # 1 s to 2**22 s (48 days)
#: Lengths a kind needs before its schedule is learned; until then it polls by the default schedule.
MIN_SAMPLES = 50
#: A length's weight halves with every this many lengths (as counted) that ended after it: the effective
#: history is about 60 lengths, so a kind whose lengths change is followed within about a hundred trackings.
HALF_COUNT = 40.0
#: ... and with every this many seconds since it ended, so a kind quiet for weeks goes by its latest lengths
#: however few came since, not by the many that came before.
HALF_LIFE = 7 * 86400.0
#: Lengths older than this are not read at all (the store's rows are overwritten long before, as a rule).
MAX_AGE = 90 * 86400.0
#: The lengths one source adds to a kind within one clock hour count as this many at most, shared among them:
#: a burst from one caller (a script, a retry loop, a hostile producer) is one observation of one moment, not
#: hundreds of independent ones.
SOURCE_HOURLY = 10
#: The interval whose trade-off the learned schedule takes: polling every 30 s (azure-core's poller) weighs a
#: second of delay as 2 x length / 30**2 calls at an operation's length (fewer polls, by L/t, against a delay
#: growing by t/2); the learned schedule weighs it so at the kind's median, then places its checks better.
REFERENCE_INTERVAL = 30.0
#: The longest gap between two learned checks: long enough to wait through the stretch where a kind almost
#: never ends (an audit search of hours), short enough that an outlier is still seen within the hour.
LEARNED_MAX_DELAY = 3600
MAX_GRID = 6000  # grid points of the dynamic programme: its cost grows with grid x (longest / step)
#: The share of a kind's operations assumed to outlast its history, on a heavy tail from its median, P(T > t) =
#: (median / t) ** TAIL_SHAPE: what keeps the programme from reading "nothing is left" where its 50 to 300
#: lengths merely saw nothing. Where that tail is all there is, the best gap at t is about
#: 30 s x sqrt(t / (TAIL_SHAPE x median)), whatever TAIL_WEIGHT: 85 s at twice the median, 170 s at eight
#: times. Chosen by bench/schedule.py's out-of-distribution and in-distribution tables together.
TAIL_WEIGHT = 0.05
TAIL_SHAPE = 0.25
#: How far, in medians, the programme plans on that tail; past it, one check every ``max_delay``.
TAIL_REACH = 12.0
#: Where the history's own survival falls below this, the gaps are at least the default schedule's (graphops'
#: 5-60 s growth, from the kind's shortest delay): past what the history has seen, it knows no better.
HANDOVER = 0.02
DEFAULT_MAX_DELAY = 60


def bucket_of(seconds: float) -> int:
    """The histogram bucket a length falls in."""
    if seconds <= 1:
        return 0
    return min(BUCKETS - 1, int(math.log2(seconds) * STEPS_PER_DOUBLING))


def bucket_middle(index: int) -> float:
    return float(2 ** ((index + 0.5) / STEPS_PER_DOUBLING))


class Distribution(Protocol):
    """What the programme needs of a distribution of lengths."""

    def survival(self, times: Sequence[float]) -> list[float]:
        """P(length > t) at each of ``times``."""
        ...

    def horizon(self) -> float:
        """A time past nearly every length."""
        ...


@dataclass(frozen=True)
class Lengths:
    """How long a kind's operations took: a weight per bucket (sparse), summing to the history's effective
    number of lengths, and how many lengths were counted to make it."""

    counts: Mapping[int, float] = field(default_factory=dict)
    counted: float | None = None  # None: the weights' sum

    @classmethod
    def of(cls, seconds: Iterable[float]) -> Lengths:
        """Lengths weighed alike (each counts one)."""
        counts: dict[int, float] = defaultdict(float)
        for s in seconds:
            counts[bucket_of(s)] += 1.0
        return cls(dict(counts))

    @property
    def weight(self) -> float:
        return sum(self.counts.values())

    @property
    def samples(self) -> float:
        """The lengths the history counts (a source's burst counts as its share): what learning waits for."""
        return self.weight if self.counted is None else self.counted

    def survival(self, times: Sequence[float]) -> list[float]:
        """P(length > t) at each of ``times``, from the histogram smoothed in log time (a Gaussian kernel,
        Silverman's bandwidth on the effective number of lengths), so 50 samples give a usable curve rather
        than a staircase."""
        n = self.weight
        logs = [(math.log(bucket_middle(i)), c) for i, c in self.counts.items()]
        mean = sum(x * c for x, c in logs) / n
        spread = math.sqrt(sum(c * (x - mean) ** 2 for x, c in logs) / n)
        width = max(1.06 * spread * n ** (-0.2), math.log(2) / STEPS_PER_DOUBLING)
        out = []
        for t in times:
            if t <= 0:
                out.append(1.0)
                continue
            x = math.log(t)
            out.append(sum(c * 0.5 * math.erfc((x - mu) / (width * math.sqrt(2))) for mu, c in logs) / n)
        return out

    def median(self) -> float:
        half, seen = self.weight / 2, 0.0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= half:
                return bucket_middle(index)
        return 1.0

    def horizon(self) -> float:
        """Past the longest bucket's upper edge, and half as much again."""
        return float(2 ** ((max(self.counts) + 1) / STEPS_PER_DOUBLING) * 1.5)


@dataclass(frozen=True)
class Seen:
    """One operation's length as its kind's history keeps it."""

    seconds: float
    at: float  # when its tracking finished, in seconds since the epoch
    source: str  # who asked for it (see graphops.step.poll_job.length_source)


@dataclass(frozen=True)
class History:
    """A kind's weighed lengths, and what was not counted in full (for the operator's log)."""

    lengths: Lengths
    too_old: int = 0  # lengths past MAX_AGE, not read
    over_share: Mapping[str, int] = field(default_factory=dict)  # source -> lengths past its hourly share


def history(seen: Iterable[Seen], now: float) -> History:
    """Weighs a kind's lengths: a source's lengths of one hour share :data:`SOURCE_HOURLY`; then each length
    halves with every :data:`HALF_COUNT` counted lengths that ended after it and every :data:`HALF_LIFE`
    seconds of age. The weights are scaled to sum to the effective number of lengths (Kish's), which is what
    the smoothing's bandwidth needs."""
    every = list(seen)
    kept = [s for s in every if now - s.at <= MAX_AGE and math.isfinite(s.seconds) and s.seconds > 0]
    too_old = sum(1 for s in every if now - s.at > MAX_AGE)
    hours: dict[tuple[str, int], int] = defaultdict(int)
    for s in kept:
        hours[(s.source, math.floor(s.at / 3600))] += 1
    over_share: dict[str, int] = defaultdict(int)
    for (source, _), n in hours.items():
        if n > SOURCE_HOURLY:
            over_share[source] += n - SOURCE_HOURLY
    counts: dict[int, float] = defaultdict(float)
    counted = total = squares = 0.0
    for s in sorted(kept, key=lambda s: s.at, reverse=True):
        share = min(1.0, SOURCE_HOURLY / hours[(s.source, math.floor(s.at / 3600))])
        weight = share * 0.5 ** (counted / HALF_COUNT + max(0.0, now - s.at) / HALF_LIFE)
        counted += share
        counts[bucket_of(s.seconds)] += weight
        total += weight
        squares += weight * weight
    if total <= 0:
        return History(Lengths(), too_old, dict(over_share))
    effective = total * total / squares
    scaled = {i: c * effective / total for i, c in counts.items() if c > 0}
    return History(Lengths(scaled, counted), too_old, dict(over_share))


@dataclass(frozen=True)
class WithTail:
    """A kind's learned distribution, with :data:`TAIL_WEIGHT` of it moved onto a heavy tail from its median."""

    lengths: Distribution
    median: float

    def survival(self, times: Sequence[float]) -> list[float]:
        learned = self.lengths.survival(times)
        return [
            1.0 if t <= 0 else (1 - TAIL_WEIGHT) * s + TAIL_WEIGHT * min(1.0, (self.median / t) ** TAIL_SHAPE)
            for t, s in zip(times, learned, strict=True)
        ]

    def horizon(self) -> float:
        return max(self.lengths.horizon(), TAIL_REACH * self.median)


@dataclass(frozen=True)
class CheckingSchedule:
    """Poll at the learned check times; past the last one, every ``max_delay`` seconds."""

    times: tuple[float, ...]  # seconds since the tracking began, increasing
    min_delay: int
    max_delay: int
    samples: int

    @property
    def name(self) -> str:
        return f"learned ({self.samples} lengths)"

    def next_delay(self, elapsed: float, rng: random.Random) -> float:
        """Seconds until the next check after ``elapsed``; jittered downwards a little, as the default."""
        index = bisect.bisect_right(self.times, elapsed + 0.5)
        wanted = self.times[index] - elapsed if index < len(self.times) else float(self.max_delay)
        return min(self.max_delay, max(self.min_delay, wanted))


def checking_times(
    lengths: Distribution,
    min_delay: int,
    max_delay: int,
    weight: float,
    least: Callable[[Sequence[float]], Sequence[float]] | None = None,
) -> tuple[float, ...]:
    """The check times (after the first poll, at 0) minimising expected checks + ``weight`` x expected delay,
    with consecutive checks ``min_delay`` to ``max_delay`` seconds apart, and a check at t at least ``least``'s
    value at t (for the grid's times) before the next.

    On a grid of step ``s`` up to a horizon past nearly every length, G(i) is the least expected cost from a
    check at ``t_i`` on, weighted by the chance of getting there: G(i) = min over j of S(t_i) (the next check
    is made if the operation is still running) + weight x E[(t_j - T); t_i < T <= t_j] + G(j).
    """
    horizon = min(2.0**22, lengths.horizon() + max_delay)
    step = max(1.0, horizon / MAX_GRID, min_delay / 5)
    n = int(horizon / step) + 1
    grid = [i * step for i in range(n)]
    alive = lengths.survival(grid)
    floors = least(grid) if least is not None else [0.0] * n
    # Mass ending in (t_{k-1}, t_k], counted at t_k: prefix sums of the mass and of t x mass.
    mass_sum = [0.0] * n
    time_mass_sum = [0.0] * n
    for k in range(1, n):
        m = max(0.0, alive[k - 1] - alive[k])
        mass_sum[k] = mass_sum[k - 1] + m
        time_mass_sum[k] = time_mass_sum[k - 1] + grid[k] * m
    shortest = max(1, math.ceil(min_delay / step))
    longest = max(shortest, int(max_delay / step))
    cost = [0.0] * n
    choice = [-1] * n
    cost[n - 1] = alive[n - 1] * (1 + weight * max_delay / 2)  # past the horizon: every max_delay
    for i in range(n - 2, -1, -1):
        best, best_j = math.inf, -1
        first = i + max(shortest, math.ceil(floors[i] / step - 1e-9))
        for j in range(first, min(n - 1, i + longest) + 1):
            delay = grid[j] * (mass_sum[j] - mass_sum[i]) - (time_mass_sum[j] - time_mass_sum[i])
            spent = alive[i] + weight * delay
            if spent >= best:
                break  # the delay only grows with j, and no cost to come is negative: nothing later is cheaper
            if spent + cost[j] < best:
                best, best_j = spent + cost[j], j
        if best_j < 0:  # the horizon is nearer than the shortest delay
            best, best_j = alive[i] * (1 + weight * max_delay / 2), n - 1
        cost[i], choice[i] = best, best_j
    times, i = [], 0
    while 0 <= choice[i] < n - 1:
        i = choice[i]
        times.append(round(grid[i], 1))
    return tuple(times)


def handover(lengths: Distribution, min_delay: int) -> Callable[[Sequence[float]], list[float]]:
    """The least gap at each time: where the history's own survival is below :data:`HANDOVER` (it has seen almost
    nothing end so late), the default schedule's delay there; elsewhere none."""
    default = PollSchedule(min_delay, DEFAULT_MAX_DELAY)

    def least(grid: Sequence[float]) -> list[float]:
        alive = lengths.survival(grid)
        return [default.nominal_delay(t) if s < HANDOVER else 0.0 for t, s in zip(grid, alive, strict=True)]

    return least


def learned_schedule(lengths: Lengths, min_delay: int, max_delay: int = LEARNED_MAX_DELAY) -> CheckingSchedule | None:
    """The kind's learned schedule, or None while it has fewer than :data:`MIN_SAMPLES` lengths. ``min_delay`` is
    the kind's shortest delay (Graph's guidance); the gaps may grow to ``max_delay``."""
    if lengths.samples < MIN_SAMPLES:
        return None
    median = lengths.median()
    weight = 2 * median / REFERENCE_INTERVAL**2
    longest = max(min_delay, max_delay)
    times = checking_times(WithTail(lengths, median), min_delay, longest, weight, handover(lengths, min_delay))
    return CheckingSchedule(times, min_delay, longest, round(lengths.samples))
