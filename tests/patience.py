"""How long a test waits for something that will happen: a base time, scaled to the machine it runs on.

A wait bounds a failure; it never measures anything (timings belong in bench/). So a wait may be long without
slowing a passing test, and it grows with the machine's load when it starts: CI beside other work, or the
integration suite's worker processes sharing two cores, get more time, never a flaky failure.
``GRAPHOPS_TEST_PATIENCE`` multiplies every wait (3 on a slow machine or under a debugger).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable


def patience(seconds: float) -> float:
    """``seconds`` on an idle machine; more on a loaded one (the run queue per core, over the last minute)."""
    load = os.getloadavg()[0] / (os.cpu_count() or 1)
    return seconds * max(1.0, load) * float(os.environ.get("GRAPHOPS_TEST_PATIENCE", "1"))


def wait_until(predicate: Callable[[], object], seconds: float = 30, what: str = "condition") -> None:
    """Return once ``predicate()`` is true; fail, naming ``what``, when it is not within ``patience(seconds)``."""
    deadline = time.monotonic() + patience(seconds)
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {patience(seconds):.0f} s")
        time.sleep(0.1)
