"""The score of `make mutate` per module: mutants killed out of those made, from mutmut's results in mutants/.

mutmut 3 keeps each mutated module's results beside its copy (``mutants/<path>.meta``: an exit code per mutant).
A mutant counts as killed when a test failed with it, or it ran out of time (an endless loop the tests would
also notice); one that no test calls counts as surviving. ``--survivors`` lists the survivors by name, for
``mutmut show <name>``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

# mutmut's exit codes (mutmut.stats.status_by_exit_code): what each one says of the mutant.
KILLED = {1: "killed", 3: "killed", 36: "timeout", -24: "timeout", 24: "timeout", 152: "timeout", 255: "timeout"}
NO_TESTS = {5, 33}
GOAL = 90.0


def scores(root: Path) -> dict[str, Counter[str]]:
    by_module: dict[str, Counter[str]] = {}
    for meta in sorted(root.rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        module = meta.relative_to(root).as_posix().removesuffix(".meta")
        tally: Counter[str] = Counter()
        for code in codes.values():
            tally["total"] += 1
            if code in KILLED:
                tally["killed"] += 1
            elif code in NO_TESTS:
                tally["no tests"] += 1
            elif code == 0:
                tally["survived"] += 1
            else:
                tally["other"] += 1  # not run yet, interrupted, or suspicious
        by_module[module] = tally
    return by_module


def survivors(root: Path) -> list[str]:
    names = []
    for meta in sorted(root.rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        names += [name for name, code in codes.items() if code not in KILLED]
    return names


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("mutants"), help="mutmut's working copy (mutants/)")
    parser.add_argument("--survivors", action="store_true", help="list the mutants no test killed")
    args = parser.parse_args()
    by_module = scores(args.root)
    if not by_module:
        print(f"no mutmut results under {args.root}/: run `make mutate` first", file=sys.stderr)
        return 1
    if args.survivors:
        print("\n".join(survivors(args.root)))
        return 0
    width = max(len(m) for m in by_module)
    print(f"{'module':<{width}}  killed  total  survived  no tests       %")
    everything: Counter[str] = Counter()
    bare = [module for module, tally in by_module.items() if not tally["total"]]
    for module, tally in by_module.items():
        if not tally["total"]:
            continue
        everything += tally
        share = 100 * tally["killed"] / tally["total"] if tally["total"] else 100.0
        flag = "" if share >= GOAL else f"  (under {GOAL:.0f}%)"
        print(
            f"{module:<{width}}  {tally['killed']:>6}  {tally['total']:>5}  {tally['survived']:>8}"
            f"  {tally['no tests']:>8}  {share:5.1f}%{flag}"
        )
    if bare:  # class attributes only: mutmut mutates functions
        print(f"no mutants in {', '.join(bare)}")
    share = 100 * everything["killed"] / everything["total"]
    print(
        f"{'all':<{width}}  {everything['killed']:>6}  {everything['total']:>5}  {everything['survived']:>8}"
        f"  {everything['no tests']:>8}  {share:5.1f}%"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
