"""Where a tracking's CPU goes, part by part: one mode of ``bench/throughput.py`` (graphops or the baseline) in this
process, with each thread's CPU time (``time.thread_time``) taken around every storage SDK call (the table client's
and the queue client's, their serialization included), the Graph GET and the callback POST, and around each step.

What a step spends between those calls is its own code: graphops' decisions, envelope, seal, state row, spans and
log lines, or the baseline's few lines. What the process spends outside the steps is the host's receiving, the
stand-ins and the garbage collector. Thread CPU time moves less with the machine's load than wall time, and the
parts are read side by side in one run, so a part that grew shows even on a busy machine.

    python bench/step_cpu.py [--mode graphops] [--trackings 300]
"""

from __future__ import annotations

import argparse
import functools
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import requests
import urllib3
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient
from throughput import MODES, measure

from graphops.runner import LocalHost

CALLS: dict[type, tuple[str, ...]] = {
    TableClient: ("get_entity", "upsert_entity", "update_entity", "create_entity", "submit_transaction",
                  "delete_entity", "query_entities"),
    QueueClient: ("send_message", "delete_message"),
    requests.Session: ("request",),  # the Graph GET, and a token when one is fetched (the storage clients' transport
    # runs under the calls above)
    urllib3.HTTPConnectionPool: ("urlopen",),  # the callback POST
}  # fmt: skip


class Parts:
    """CPU seconds and calls by part, and the steps' own: counted on the thread that spends them."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()
        # Whether a thread is in a step, and in a call: only a step's calls count, and a call within one once.
        self._inside = threading.local()

    def timed(self, name: str, function: Callable[..., Any], *, step: bool = False) -> Callable[..., Any]:
        @functools.wraps(function)
        def timed(*args: Any, **kwargs: Any) -> Any:
            inside = self._inside
            if not step and (not getattr(inside, "step", False) or getattr(inside, "call", False)):
                return function(*args, **kwargs)  # outside a step (the producer's sends), or within a call
            setattr(inside, "step" if step else "call", True)
            started = time.thread_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent = time.thread_time() - started
                setattr(inside, "step" if step else "call", False)
                with self._lock:
                    self.seconds[name] += spent
                    self.calls[name] += 1

        return timed

    def install(self) -> None:
        for owner, names in CALLS.items():
            for name in names:
                setattr(owner, name, self.timed(f"{owner.__name__}.{name}", getattr(owner, name)))
        # The host's invocation: the function's body and the message's delete after it.
        LocalHost._invoke = self.timed("step", LocalHost._invoke, step=True)  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=MODES[:2], default="graphops")  # traced: its SDK's spans are not parts
    parser.add_argument("--trackings", type=int, default=300)
    args = parser.parse_args()
    parts = Parts()
    parts.install()
    result = measure(args.mode, args.trackings, profile=False)
    n = args.trackings
    step = parts.seconds.pop("step")
    parts.calls.pop("step")
    print(f"{args.mode}: {n} trackings, {result['cpu_seconds'] / n * 1000:.2f} ms of CPU a tracking, "
          f"{result['table_operations']:.2f} table operations a tracking")  # fmt: skip
    print(f"{'part':34} {'ms a tracking':>13} {'calls':>6} {'ms a call':>9}")
    for name, seconds in parts.seconds.most_common():
        calls = parts.calls[name]
        print(f"{name:34} {seconds / n * 1000:13.2f} {calls / n:6.2f} {seconds / calls * 1000:9.3f}")
    print(f"{'the steps between those calls':34} {(step - sum(parts.seconds.values())) / n * 1000:13.2f}")
    print(f"{'outside the steps':34} {(result['cpu_seconds'] - step) / n * 1000:13.2f}")


if __name__ == "__main__":
    main()
