"""The polling schedule's goals, on the deterministic simulation in bench/schedule.py (counts, not timings)."""

from __future__ import annotations

import importlib.util
import math
import random
import sys
from pathlib import Path

spec = importlib.util.spec_from_file_location(
    "bench_schedule", Path(__file__).resolve().parents[2] / "bench" / "schedule.py"
)
assert spec and spec.loader
bench = importlib.util.module_from_spec(spec)
sys.modules[spec.name] = bench  # dataclasses look their module up
spec.loader.exec_module(bench)


def test_the_default_schedule_meets_every_goal_against_fixed_30_s_polling() -> None:
    results = bench.goals(bench.simulate(samples=500))
    assert [(goal, figure) for goal, met, figure in results if not met] == []
    assert len(results) == 6


def test_past_where_its_history_fades_a_learned_kind_costs_no_more_than_the_default() -> None:
    """The out-of-distribution goals the learned schedules meet (bench/schedule.py's outliers table), exactly: every
    1-minute kind; the 5-minute kinds but three cells; the 30-minute kinds at 10 medians of sigma 0.25 and 0.5. The
    others are not met: inside their distribution the weight wants a check every 15-25 s where the default's cap
    is 60 s, and a lighter weight gives up the fixed-30 s goals (docs/performance.md, the frontier)."""
    results = bench.out_of_distribution_goals(bench.out_of_distribution())
    met = {goal.split(":")[0] for goal, ok, _ in results if ok}
    expected = {f"{name}, {times}x median" for name in ("1 min, sigma 0.25", "1 min, sigma 0.5", "1 min, sigma 1.0")
                for times in (2, 4, 10)}  # fmt: skip
    expected |= {"5 min, sigma 0.25, 2x median", "5 min, sigma 0.25, 10x median", "5 min, sigma 0.5, 2x median",
                 "5 min, sigma 0.5, 10x median", "5 min, sigma 1.0, 2x median", "5 min, sigma 1.0, 4x median",
                 "30 min, sigma 0.25, 10x median", "30 min, sigma 0.5, 10x median"}  # fmt: skip
    assert expected <= met  # each of these met; a cell that comes to pass as well is welcome


def test_sixty_trackings_of_one_operation_change_no_kinds_check_times_more_than_one_does() -> None:
    """The poisoning goal on the store's own bounding (one row per operation, its first length; the newest rows by
    time): after 60 trackings of one operation every kind's check times are those after one tracking of it, and
    for all but one kind those without it. The exception, 1 minute at sigma 1.0, has lengths within a doubling
    of the operation's 3 s: there it is one real length of the kind, weighed as any other."""
    results = bench.poisoning(samples=300)
    assert all(r.same_as_once for r in results)
    assert [r.kind for r in results if not r.same_as_without] == ["1 min, sigma 1.0"]


def test_one_operation_far_from_the_kinds_lengths_leaves_its_schedule_exactly_as_it_was() -> None:
    """The poisoning goal, exactly (same check times): an operation of 3 s, tracked again and again (one row, one
    length), newest of a 5-minute kind's 200. Alone within a doubling, it is not weighed; the others weigh as
    before. (bench/schedule.py's poisoning table also replaces one of the kind's rows with it, by the store's
    slots; that measures within 1% for most kinds, not all.)"""
    from graphops.pacing.learned import Seen, history, learned_schedule

    rng = random.Random(7)
    clean = [Seen(300 * math.exp(rng.gauss(0, 0.5)), bench.NOW - 3600 * (i + 1), f"c{i % 5}") for i in range(200)]
    flooded = [*clean, Seen(3.0, bench.NOW - 1, "retry-loop.example")]
    before, after = history(clean, bench.NOW).lengths, history(flooded, bench.NOW).lengths
    assert after.counts == before.counts and after.samples == before.samples + 1
    learned_after, learned_before = learned_schedule(after, 5), learned_schedule(before, 5)
    assert learned_after is not None and learned_before is not None
    assert learned_after.times == learned_before.times


def test_a_kind_whose_median_moves_fourfold_is_near_its_new_optimum_within_a_hundred_trackings() -> None:
    """Every drift goal but one: a 30-minute kind of sigma 0.5 moved fourfold learns from its 100 new lengths alone
    (the older ones dropped), and those 100 place checks with 1.18x the optimum's delay for 0.93x its calls."""
    results = bench.drift_goals(bench.drift(samples=300))
    assert {goal.split(":")[0] for goal, ok, _ in results if not ok} <= {"30 min, sigma 0.5, median x4"}
    assert len(results) == 12
