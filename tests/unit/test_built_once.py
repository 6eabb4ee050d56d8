"""The process's parts (services, tracker, API, console) are built once, even when the first batch of messages
asks for them from many threads at once: each build is a credential, clients and connection pools, and stores
whose caches and counts must be the process's, not a thread's."""

from __future__ import annotations

import contextlib
import threading

from graphops.functions import BuiltOnce

from ..patience import patience

CALLERS = 8


def test_many_threads_asking_at_once_build_the_part_once_and_share_it() -> None:
    builds: list[object] = []
    # Every builder waits here for the others: had each caller its own build, all of them would be inside at once
    # and pass it together. Built once, the other callers wait outside, and the lone builder's wait ends unmet: the
    # timeout bounds how long absence is watched for, it measures nothing.
    inside = threading.Barrier(CALLERS, timeout=patience(0.5))

    def build() -> object:
        part = object()
        builds.append(part)
        with contextlib.suppress(threading.BrokenBarrierError):
            inside.wait()
        return part

    part = BuiltOnce(build)
    got: list[object] = []
    callers = [threading.Thread(target=lambda: got.append(part())) for _ in range(CALLERS)]
    for caller in callers:
        caller.start()
    for caller in callers:
        caller.join(patience(10))
    assert len(builds) == 1 and got == [builds[0]] * CALLERS
    part.cache_clear()  # settings changed (the tests, the local runner): built afresh, once
    assert part() is not builds[0] and len(builds) == 2
