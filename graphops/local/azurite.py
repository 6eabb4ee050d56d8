"""Starts and stops Azurite, the Azure Storage emulator, on free loopback ports."""

from __future__ import annotations

import ctypes
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

ACCOUNT = "devstoreaccount1"
# Azurite's published development key; it opens nothing but the local emulator.
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def find_azurite(start: Path | None = None) -> str:
    """The azurite executable: the project's node_modules first, then PATH."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parents[2]):
        candidate = folder / "node_modules" / ".bin" / "azurite"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("azurite")
    if not found:
        raise FileNotFoundError("azurite not found: run `npm ci` (package.json pins it) or `make node_modules`")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Azurite:
    """``with Azurite() as az:`` runs blob, queue and table services; ``az.connection_string`` reaches them.

    ``location`` keeps data on disk, so a stopped and restarted Azurite still has it.
    """

    def __init__(
        self, location: Path | None = None, executable: str | None = None, first_port: int | None = None
    ) -> None:
        self._executable = executable or find_azurite()
        self._own_dir = location is None
        self.location = location or Path(tempfile.mkdtemp(prefix="graphops-azurite-"))
        # Fixed ports (blob, queue, table from ``first_port``: 10000 is UseDevelopmentStorage=true's), or free ones.
        if first_port is None:
            self.blob_port, self.queue_port, self.table_port = free_port(), free_port(), free_port()
        else:
            self.blob_port, self.queue_port, self.table_port = first_port, first_port + 1, first_port + 2
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://127.0.0.1:{self.table_port}/{ACCOUNT};"
        )

    def start(self, timeout: float = 60.0) -> Self:
        self._process = subprocess.Popen(
            [
                self._executable, "--silent", "--skipApiVersionCheck", "--loose", "--disableProductStyleUrl",
                "--location", str(self.location),
                "--blobHost", "127.0.0.1", "--blobPort", str(self.blob_port),
                "--queueHost", "127.0.0.1", "--queuePort", str(self.queue_port),
                "--tableHost", "127.0.0.1", "--tablePort", str(self.table_port),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - async-signal-safe: one prctl call, nothing imported
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                err = self._process.stderr.read().decode(errors="replace") if self._process.stderr else ""
                raise RuntimeError(f"azurite exited with {self._process.returncode}: {err.strip()[-500:]}")
            if all(_listening(p) for p in (self.blob_port, self.queue_port, self.table_port)):
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"azurite did not listen within {timeout:.0f}s")

    def stop(self, *, keep_data: bool = False) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._process is not None and self._process.stderr:
            self._process.stderr.close()
        self._process = None
        if self._own_dir and not keep_data:
            shutil.rmtree(self.location, ignore_errors=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()


def _die_with_parent() -> None:
    """Linux: end Azurite if the process that started it dies without stopping it (kill -9, a crash).

    Runs between fork and exec, so it only calls what was loaded before the fork.
    """
    if _LIBC is not None:
        _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


_PR_SET_PDEATHSIG = 1
try:
    _LIBC: ctypes.CDLL | None = ctypes.CDLL("libc.so.6", use_errno=True) if sys.platform == "linux" else None
except OSError:
    _LIBC = None


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0
