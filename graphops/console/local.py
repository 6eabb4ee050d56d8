"""``graphops console``: the console's pages on loopback, for a developer at this machine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from urllib.parse import parse_qsl, urlsplit

from graphops.console.access import Operator, Refusal, loopback_operator
from graphops.console.pages import Console, ConsoleRequest, form_of
from graphops.local.httpserver import Response, StandIn

Authorize = Callable[[Mapping[str, str]], Operator | Refusal]


class LocalConsole(StandIn):
    """Serves ``console`` at ``http://127.0.0.1:<port>/``; never on another interface."""

    def __init__(self, build: Callable[[Authorize], Console], port: int = 0) -> None:
        super().__init__(port)  # bound here: the port is known before the console is built
        self.console = build(lambda headers: loopback_operator(headers, self.port))

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(path)
        request = ConsoleRequest(
            method=method,
            path=parts.path.lstrip("/"),
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers={name.lower(): value for name, value in headers.items()},
            form=form_of(headers.get("Content-Type"), body) if method == "POST" else {},
        )
        page = self.console.handle(request)
        return page.status, {"Content-Type": page.content_type, **page.headers}, page.body
