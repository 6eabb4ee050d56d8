"""The polling schedule's goals, on the deterministic simulation in bench/schedule.py (counts, not timings)."""

from __future__ import annotations

import importlib.util
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
