"""A threaded loopback HTTP server that starts and stops cleanly: the base of every stand-in."""

from __future__ import annotations

import errno
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from graphops.common.errors import PortInUse


def ensure_free(port: int) -> None:
    """Raise :class:`PortInUse` now when ``port`` is taken on loopback: said before the work that would end by
    listening there (the demo's console), not after it."""
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None
            raise


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    owner: StandIn


class Handler(BaseHTTPRequestHandler):
    """Routes every method to ``owner.handle``; quiet by default."""

    server: _Server
    protocol_version = "HTTP/1.1"

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.owner.handle(self.command, self.path, dict(self.headers), body)
        if status == RESET:
            self.close_connection = True  # hang up without a word: the client sees the connection reset
            return
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        try:
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client gave up waiting (a timeout test): nothing to tell it

    def __getattr__(self, name: str) -> Any:
        # The base class answers 501 for any method without a do_<METHOD>; route them all, so the
        # owner decides (405 where no function takes the method, as the Functions host does).
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def log_message(self, format: str, *args: Any) -> None:
        pass


Response = tuple[int, dict[str, str], bytes]
RESET = 0  # a status that makes the stand-in drop the connection instead of answering


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


class StandIn:
    """Subclasses implement :meth:`handle`; ``with StandIn() as s:`` serves on ``s.url``."""

    def __init__(self, port: int = 0, tls: ssl.SSLContext | None = None) -> None:
        try:
            self._server = _Server(("127.0.0.1", port), Handler)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None  # one line for the operator, not a socket traceback
            raise
        self._server.owner = self
        self._scheme = "https" if tls else "http"
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        # A short poll interval: stopping waits for one, and every test stops four stand-ins.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        raise NotImplementedError
