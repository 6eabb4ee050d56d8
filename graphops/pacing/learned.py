"""A checking schedule learned from a kind's own history: pure functions, no I/O.

Each finished tracking's length joins a compact histogram of its kind's lengths (:class:`Lengths`: counts per
eighth of a doubling, from one second to about seven weeks). Once a kind has enough of them, the times to check
are chosen to minimise the expected number of Graph calls plus ``weight`` times the expected delay between the
operation's end and the check that sees it (:func:`checking_times`, dynamic programming over check times: the
optimal checking result of Barlow, Hunter and Proschan, on the kind's own distribution). It skips the stretch
where the kind almost never ends, checks densely where it usually does, and backs off past where it nearly
always has, never closer than the kind's shortest delay nor further apart than its longest.
"""

from __future__ import annotations

import bisect
import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

STEPS_PER_DOUBLING = 8
BUCKETS = 22 * STEPS_PER_DOUBLING  # 1 s to 2**22 s (48 days)
#: Lengths a kind needs before its schedule is learned; until then it polls by the default schedule.
MIN_SAMPLES = 50
#: Past this many, every count is halved: a kind's recent history weighs more than its distant past.
MAX_SAMPLES = 2000
#: The interval whose trade-off the learned schedule takes: polling every 30 s (azure-core's poller) weighs a
#: second of delay as 2 x length / 30**2 calls at an operation's length (fewer polls, by L/t, against a delay
#: growing by t/2); the learned schedule weighs it so at the kind's median, then places its checks better.
REFERENCE_INTERVAL = 30.0
#: The longest gap between two learned checks: long enough to wait through the stretch where a kind almost
#: never ends (an audit search of hours), short enough that an outlier is still seen within the hour.
LEARNED_MAX_DELAY = 3600
MAX_GRID = 6000  # grid points of the dynamic programme: its cost grows with grid x (longest / step)


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
    """How long a kind's operations took: a count per bucket (sparse)."""

    counts: Mapping[int, int] = field(default_factory=dict)

    @property
    def samples(self) -> int:
        return sum(self.counts.values())

    def add(self, seconds: float) -> Lengths:
        counts = dict(self.counts)
        index = bucket_of(seconds)
        counts[index] = counts.get(index, 0) + 1
        if sum(counts.values()) > MAX_SAMPLES:
            counts = {i: c // 2 for i, c in counts.items() if c // 2}
        return Lengths(counts)

    def to_json(self) -> str:
        return json.dumps({str(i): c for i, c in sorted(self.counts.items())}, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: object) -> Lengths:
        """What the state table holds; anything unreadable is no history at all."""
        try:
            doc = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            return cls()
        if not isinstance(doc, dict):
            return cls()
        counts = {}
        for key, value in doc.items():
            if isinstance(key, str) and key.isdigit() and int(key) < BUCKETS and isinstance(value, int) and value > 0:
                counts[int(key)] = min(value, MAX_SAMPLES)  # a row never holds more, whoever wrote it
        return cls(counts)

    def survival(self, times: Sequence[float]) -> list[float]:
        """P(length > t) at each of ``times``, from the histogram smoothed in log time (a Gaussian kernel,
        Silverman's bandwidth), so 50 samples give a usable curve rather than a staircase."""
        n = self.samples
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
        half, seen = self.samples / 2, 0
        for index in sorted(self.counts):
            seen += self.counts[index]
            if seen >= half:
                return bucket_middle(index)
        return 1.0

    def horizon(self) -> float:
        """Past the longest bucket's upper edge, and half as much again."""
        return float(2 ** ((max(self.counts) + 1) / STEPS_PER_DOUBLING) * 1.5)


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


def checking_times(lengths: Distribution, min_delay: int, max_delay: int, weight: float) -> tuple[float, ...]:
    """The check times (after the first poll, at 0) minimising expected checks + ``weight`` x expected delay,
    with consecutive checks ``min_delay`` to ``max_delay`` seconds apart.

    On a grid of step ``s`` up to a horizon past nearly every length, G(i) is the least expected cost from a
    check at ``t_i`` on, weighted by the chance of getting there: G(i) = min over j of S(t_i) (the next check
    is made if the operation is still running) + weight x E[(t_j - T); t_i < T <= t_j] + G(j).
    """
    horizon = min(2.0**22, lengths.horizon() + max_delay)
    step = max(1.0, horizon / MAX_GRID, min_delay / 5)
    n = int(horizon / step) + 1
    grid = [i * step for i in range(n)]
    alive = lengths.survival(grid)
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
        for j in range(i + shortest, min(n - 1, i + longest) + 1):
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


def learned_schedule(lengths: Lengths, min_delay: int, max_delay: int = LEARNED_MAX_DELAY) -> CheckingSchedule | None:
    """The kind's learned schedule, or None while it has fewer than :data:`MIN_SAMPLES` lengths. ``min_delay`` is
    the kind's shortest delay (Graph's guidance); the gaps may grow to ``max_delay``."""
    if lengths.samples < MIN_SAMPLES:
        return None
    weight = 2 * lengths.median() / REFERENCE_INTERVAL**2
    longest = max(min_delay, max_delay)
    return CheckingSchedule(checking_times(lengths, min_delay, longest, weight), min_delay, longest, lengths.samples)
