"""Cold start: what a fresh worker pays to import function_app and index its functions, against importing
azure.functions alone. Each figure is the median of fresh interpreters.

    python bench/coldstart.py [--runs 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = """
import time
start = time.perf_counter()
import azure.functions
base = time.perf_counter()
{extra}
print((base - start) * 1000, (time.perf_counter() - base) * 1000)
"""
APP = "import function_app\nfunction_app.app.get_functions()"


def measure(extra: str, runs: int) -> tuple[float, float]:
    env = {**os.environ, "AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}
    base, added = [], []
    for _ in range(runs):
        out = subprocess.run(
            [sys.executable, "-c", PROBE.format(extra=extra)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        base.append(float(out[0]))
        added.append(float(out[1]))
    return statistics.median(base), statistics.median(added)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    sdk, _ = measure("", args.runs)
    _, graphops = measure(APP, args.runs)
    print(f"import azure.functions:                     {sdk:7.1f} ms (median of {args.runs})")
    print(f"+ import function_app and index functions:  {graphops:7.1f} ms")
    print(f"{'PASS' if graphops < 150 else 'FAIL'}  graphops adds less than 150 ms")


if __name__ == "__main__":
    main()
