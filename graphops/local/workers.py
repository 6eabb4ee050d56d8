"""Worker processes for tests and benchmarks: ``graphops run`` several times over one settings file, as a Flex
Consumption app scaled out runs several instances on one queue."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def worker_processes(settings_file: Path, logs: Sequence[Path | None]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """One ``graphops run`` per entry of ``logs`` (its stderr goes there; None: nowhere), stopped with Ctrl-C
    (SIGINT) on the way out. The settings come from the file alone, never from this process's environment."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRAPHOPS_", "IDENTITY_", "AzureWebJobs"))}
    command = [sys.executable, "-m", "graphops", "--settings", str(settings_file), "run", "--app-dir", str(ROOT),
               "--port", "0"]  # fmt: skip
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=log.open("w") if log is not None else subprocess.DEVNULL,
        )
        for log in logs
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            process.wait(timeout=60)
