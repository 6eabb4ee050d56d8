"""Suite-wide promises, checked over every test that runs: secrets stay out of logs, and the Graph token
goes to the Graph host only."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import urllib3

SECRETS: set[str] = set()  # signing secrets and callback signatures the fixtures handed out
# host:port of the Graph stand-ins running now. Checked when each request is sent, because a port freed
# by one test's stand-in may serve another kind of server in a later test.
GRAPH_HOSTS: set[str] = set()
SENT: list[tuple[str, str, bool]] = []  # (host:port, Authorization prefix, went to a Graph stand-in)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = record.getMessage()
        except Exception:  # a malformed third-party record is not ours to judge
            return
        with self.guard:
            self.lines.append(line)


@pytest.fixture(scope="session", autouse=True)
def no_secret_leaves_and_tokens_stay_home() -> Iterator[None]:
    capture = _Capture()
    root = logging.getLogger()
    root.addHandler(capture)
    level = root.level
    root.setLevel(logging.DEBUG)
    original = urllib3.connectionpool.HTTPConnectionPool.urlopen

    def recording_urlopen(self: Any, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        headers = kwargs.get("headers") or (args[1] if len(args) > 1 else None) or {}
        auth = next((v for k, v in dict(headers).items() if k.lower() == "authorization"), "")
        destination = f"{self.host}:{self.port}"
        SENT.append((destination, str(auth)[:16], destination in GRAPH_HOSTS))
        return original(self, method, url, *args, **kwargs)

    urllib3.connectionpool.HTTPConnectionPool.urlopen = recording_urlopen  # type: ignore[method-assign]
    try:
        yield
    finally:
        urllib3.connectionpool.HTTPConnectionPool.urlopen = original  # type: ignore[method-assign]
        root.removeHandler(capture)
        root.setLevel(level)
    leaked = [line for line in capture.lines if any(secret in line for secret in SECRETS) or "standin-" in line]
    assert not leaked, f"secrets or tokens in the logs: {leaked[:3]}"
    strays = sorted({host for host, auth, to_graph in SENT if auth.startswith("Bearer ") and not to_graph})
    assert not strays, f"a Graph token went to {strays}"
    assert all(auth.startswith("Bearer ") for _, auth, to_graph in SENT if to_graph), "Graph was called without a token"
