"""A checking schedule learned from a kind's own history: pure functions, no I/O.

Each finished tracking leaves one length (:class:`Seen`: how long, when it ended, who asked); :func:`history`
weighs them into a compact histogram of the kind's lengths (:class:`Lengths`: weight per eighth of a doubling,
from one second to about seven weeks). One operation is one length (the store keys them by operation), and a
length with no other within a doubling is not weighed (:func:`isolated`): one operation cannot steer the kind;
the lengths one source adds within an hour count as at most :data:`SOURCE_HOURLY`, so a flood from one caller
cannot either; the newest lengths weigh most, by count (:data:`HALF_COUNT`) and by time (:data:`HALF_LIFE`),
and when the newest lengths' median has moved by :data:`CHANGE` from the older ones' the older ones are dropped
(:func:`changed_since`), so a kind whose lengths change follows within a hundred trackings.

Once a kind has enough lengths, the times to check are chosen to minimise the expected number of Graph calls
plus ``weight`` times the expected delay between the operation's end and the check that sees it
(:func:`checking_times`, dynamic programming over check times: the optimal checking result of Barlow, Hunter
and Proschan, on the kind's own distribution). It skips the stretch where the kind almost never ends, checks
densely where it usually does, never closer than the kind's shortest delay nor further apart than its longest.
Where the history says almost nothing is left (:data:`HANDOVER`) it stops trusting it: real lengths have
tails heavier than what 50 to 300 of them show, and from there the gaps grow at least as fast as the default
schedule's, and with the time waited past that point (:func:`backoff`).
"""

from __future__ import annotations

import bisect
import math
import random
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from graphops.pacing.schedule import PollSchedule

STEPS_PER_DOUBLING = 8
BUCKETS = 22 * STEPS_PER_DOUBLING  # 1 s to 2**22 s (48 days)
#: Lengths a kind needs before its schedule is learned; until then it polls by the default schedule.
MIN_SAMPLES = 50
#: A length's weight halves with every this many lengths (as counted) that ended after it: a slow drift is
#: followed over a few hundred trackings, a change by a factor of :data:`CHANGE` at once (:func:`changed_since`);
#: no one length, the newest included, weighs much more than a hundredth of a long history.
HALF_COUNT = 100.0
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
#: The fewest of a kind's newest lengths (as counted) that a change of its lengths is believed on, and the fewest
#: older ones it is told from: about the effective history a schedule is learned from after it.
RECENT = 30
#: A change: the newest lengths' median and the older ones' differ by this factor or more (in either direction).
CHANGE = 2.0
#: A length with no other within this factor either way stands alone (:func:`isolated`): a doubling, wider than
#: the smoothing's narrowest kernel, narrower than any kind's spread.
ISOLATION = 2.0
#: Where the history's own survival falls below this, the programme stops: what it has seen so late is too little
#: to place checks on, and a real kind's tail is heavier than what it has seen. From there the gaps back off.
HANDOVER = 0.02
#: Past the hand-over the gap is the default schedule's there (5-60 s growth from the kind's shortest delay) or
#: this share of the time waited past the hand-over, whichever is longer, up to the longest gap: an outlier of n
#: times the hand-over costs about log(n) / BACKOFF calls, not n x (hand-over / 60 s).
BACKOFF = 0.1
DEFAULT_MAX_DELAY = 60
#: Where the history says less than this share of the kind's operations are still running, the programme may not
#: check sooner than the default schedule would (:func:`checking_times`' ``sparse_below``): a log-normal kind's
#: hazard rises past its median, so the unconstrained optimum checks more and more often just where the few
#: operations left are likeliest to be outliers of the history, and an outlier pays for every one of those checks.
TAIL = 0.0


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

    def fading_below(self, share: float) -> float:
        """The first time (to a thousandth of a doubling) at which the survival is below ``share``."""
        low, high = 0.0, math.log2(self.horizon())
        while high - low > 0.001:
            middle = (low + high) / 2
            if self.survival([2**middle])[0] < share:
                high = middle
            else:
                low = middle
        return float(2**high)


@dataclass(frozen=True)
class Seen:
    """One operation's length as its kind's history keeps it."""

    seconds: float
    at: float  # when its tracking finished, in seconds since the epoch
    source: str  # who asked for it (see graphops.step.poll_job.length_source)


def bounded(rows: Mapping[str, Seen], keep: int) -> tuple[list[str], list[str]]:
    """A kind's rows (row key -> length) split into the ``keep`` newest by when their trackings finished, which
    are its history, and the older rest, which the store may delete. By time, not by a hash of the operation:
    a new operation's length only ever displaces the oldest one, which weighs least, never a length at random.
    Ties go by row key, so every process reading the same rows keeps the same ones."""
    order = sorted(rows, key=lambda key: (-rows[key].at, key))
    return order[:keep], order[keep:]


@dataclass(frozen=True)
class History:
    """A kind's weighed lengths, and what was not counted in full (for the operator's log)."""

    lengths: Lengths
    too_old: int = 0  # lengths past MAX_AGE, not read
    over_share: Mapping[str, int] = field(default_factory=dict)  # source -> lengths past its hourly share


def history(seen: Iterable[Seen], now: float) -> History:
    """Weighs a kind's lengths: a source's lengths of one hour share :data:`SOURCE_HOURLY`; lengths from before
    the kind's lengths changed (:func:`changed_since`) are not weighed; then each length halves with every
    :data:`HALF_COUNT` counted lengths that ended after it and every :data:`HALF_LIFE` seconds of age. The weights
    are scaled to sum to the effective number of lengths (Kish's), which is what the smoothing's bandwidth
    needs."""
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
    alone = isolated([s.seconds for s in kept])
    newest = sorted((s for s, lone in zip(kept, alone, strict=True) if not lone), key=lambda s: s.at, reverse=True)
    shares = [min(1.0, SOURCE_HOURLY / hours[(s.source, math.floor(s.at / 3600))]) for s in newest]
    since = changed_since([math.log(s.seconds) for s in newest], shares)
    counts: dict[int, float] = defaultdict(float)
    counted = total = squares = 0.0
    for s, share in zip(newest[:since], shares[:since], strict=True):
        weight = share * 0.5 ** (counted / HALF_COUNT + max(0.0, now - s.at) / HALF_LIFE)
        counted += share
        counts[bucket_of(s.seconds)] += weight
        total += weight
        squares += weight * weight
    # Read, and what told the change or stood alone: the kind has that much history, however little it weighs.
    counted += sum(shares[since:]) + sum(alone)
    if total <= 0:
        return History(Lengths({}, counted), too_old, dict(over_share))
    effective = total * total / squares
    scaled = {i: c * effective / total for i, c in counts.items() if c > 0}
    return History(Lengths(scaled, counted), too_old, dict(over_share))


def isolated(seconds: Sequence[float]) -> list[bool]:
    """Which lengths stand alone: no other length within :data:`ISOLATION` times it either way. One operation is
    one length however often it is tracked, and alone it makes no stretch of the distribution: dropped before
    the others are weighed, it changes nothing of their weights, so the kind's schedule stays what it was."""
    order = sorted(seconds)
    # Each length finds itself among its neighbours: alone, it is the only one.
    return [bisect.bisect_right(order, s * ISOLATION) - bisect.bisect_left(order, s / ISOLATION) <= 1 for s in seconds]


def changed_since(logs: Sequence[float], shares: Sequence[float]) -> int:
    """How many of the newest lengths (``logs``: their logarithms, newest first, each counting its share) came
    since the kind's lengths changed; all of them when they did not.

    The split is the one that best tells two runs of lengths apart (least squares of the logarithms, at least
    :data:`RECENT` counted on each side); it is a change when the two runs' medians differ by :data:`CHANGE` or
    more. Counting down alone would leave the old lengths a sixth of the weight a hundred trackings on; dropped,
    the new ones are the history at once. A flood from one source counts as its hourly share, so it takes many
    hours of one caller, or many callers, to make a change."""
    n = len(logs)
    weight = [0.0] * (n + 1)
    first = [0.0] * (n + 1)
    second = [0.0] * (n + 1)
    for k, (x, w) in enumerate(zip(logs, shares, strict=True)):
        weight[k + 1], first[k + 1], second[k + 1] = weight[k] + w, first[k] + w * x, second[k] + w * x * x

    def spread(a: int, b: int) -> float:
        w = weight[b] - weight[a]
        return second[b] - second[a] - (first[b] - first[a]) ** 2 / w

    best, split = math.inf, n
    for k in range(1, n):
        if weight[k] < RECENT or weight[n] - weight[k] < RECENT:
            continue
        cost = spread(0, k) + spread(k, n)
        if cost < best:
            best, split = cost, k
    if split == n:
        return n
    moved = abs(weighted_median(logs[:split], shares[:split]) - weighted_median(logs[split:], shares[split:]))
    return split if moved >= math.log(CHANGE) else n


def weighted_median(values: Sequence[float], weights: Sequence[float]) -> float:
    pairs = sorted(zip(values, weights, strict=True))
    half, seen = sum(weights) / 2, 0.0
    for value, w in pairs:
        seen += w
        if seen >= half:
            return value
    return pairs[-1][0]


@dataclass(frozen=True)
class Until:
    """A distribution planned on only up to ``until`` (the programme's horizon)."""

    lengths: Distribution
    until: float

    def survival(self, times: Sequence[float]) -> list[float]:
        return self.lengths.survival(times)

    def horizon(self) -> float:
        return self.until


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
    reach: float | None = None,
    sparse_below: float = 0.0,
) -> tuple[float, ...]:
    """The check times (after the first poll, at 0) minimising expected checks + ``weight`` x expected delay,
    with consecutive checks ``min_delay`` to ``max_delay`` seconds apart, and, from a check where the survival is
    below ``sparse_below``, no sooner than the default schedule's delay there; past the horizon, one check every
    ``reach`` seconds (``max_delay`` unless given).

    On a grid of step ``s`` up to a horizon past nearly every length, G(i) is the least expected cost from a
    check at ``t_i`` on, weighted by the chance of getting there: G(i) = min over j of S(t_i) (the next check
    is made if the operation is still running) + weight x E[(t_j - T); t_i < T <= t_j] + G(j).
    """
    after = max_delay if reach is None else reach
    horizon = min(2.0**22, lengths.horizon() + after)
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
    default = PollSchedule(min_delay, DEFAULT_MAX_DELAY)
    sparse = [
        max(shortest, math.ceil(min(max_delay, default.nominal_delay(t)) / step - 1e-9))
        if a < sparse_below
        else shortest
        for t, a in zip(grid, alive, strict=True)
    ]
    cost = [0.0] * n
    choice = [-1] * n
    cost[n - 1] = alive[n - 1] * (1 + weight * after / 2)  # past the horizon: every ``reach``
    for i in range(n - 2, -1, -1):
        best, best_j = math.inf, -1
        first = i + sparse[i]
        for j in range(first, min(n - 1, i + max(longest, sparse[i])) + 1):
            delay = grid[j] * (mass_sum[j] - mass_sum[i]) - (time_mass_sum[j] - time_mass_sum[i])
            spent = alive[i] + weight * delay
            if spent >= best:
                break  # the delay only grows with j, and no cost to come is negative: nothing later is cheaper
            if spent + cost[j] < best:
                best, best_j = spent + cost[j], j
        if best_j < 0:  # the horizon is nearer than the shortest delay
            best, best_j = alive[i] * (1 + weight * after / 2), n - 1
        cost[i], choice[i] = best, best_j
    times, i = [], 0
    while 0 <= choice[i] < n - 1:
        i = choice[i]
        times.append(round(grid[i], 1))
    return tuple(times)


def backoff(start: float, handover: float, min_delay: int, max_delay: int) -> tuple[float, ...]:
    """Checks after one at ``start``, past the hand-over at ``handover``: each gap the default schedule's at that
    time or :data:`BACKOFF` of the time waited past the hand-over, whichever is longer, until it reaches
    ``max_delay`` (every ``max_delay`` from there on, :class:`CheckingSchedule`'s own)."""
    default = PollSchedule(min_delay, DEFAULT_MAX_DELAY)
    times, t = [], start
    while t < 2.0**22:
        gap = min(max_delay, max(default.nominal_delay(t), BACKOFF * (t - handover)))
        if gap >= max_delay:
            break
        t += gap
        times.append(round(t, 1))
    return tuple(times)


def learned_schedule(
    lengths: Lengths,
    min_delay: int,
    max_delay: int = LEARNED_MAX_DELAY,
    *,
    reference: float = REFERENCE_INTERVAL,
    handover_at: float = HANDOVER,
    tail: float = TAIL,
) -> CheckingSchedule | None:
    """The kind's learned schedule, or None while it has fewer than :data:`MIN_SAMPLES` lengths. ``min_delay`` is
    the kind's shortest delay (Graph's guidance); the gaps may grow to ``max_delay``.

    The programme plans on the history without its ends (:data:`TRIM`) up to where its survival falls below
    :data:`HANDOVER`; from the last check it places, the gaps back off (:func:`backoff`)."""
    if lengths.samples < MIN_SAMPLES:
        return None
    # The smoothed curve's median, not its bucket's middle: one length more or less moves the weight a little,
    # never by a bucket's ninth.
    weight = 2 * lengths.fading_below(0.5) / reference**2
    longest = max(min_delay, max_delay)
    handover = lengths.fading_below(handover_at)
    reach = PollSchedule(min_delay, DEFAULT_MAX_DELAY).nominal_delay(handover)
    planned = checking_times(Until(lengths, handover), min_delay, longest, weight, reach=reach, sparse_below=tail)
    last = planned[-1] if planned else 0.0
    return CheckingSchedule(planned + backoff(last, handover, min_delay, longest), min_delay, longest,
                            round(lengths.samples))  # fmt: skip
