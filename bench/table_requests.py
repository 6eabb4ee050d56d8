"""Table operations as Azure bills them: the HTTP requests a process sends to one table endpoint (a transaction is
one). Deterministic for a given run of steps, where time and CPU are not: the figure a benchmark can compare
run to run on a noisy machine."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit


class TableRequests:
    """Counts the HTTP requests sent to one table endpoint, from every client of the process."""

    def __init__(self, endpoint: str) -> None:
        self._netloc = urlsplit(endpoint).netloc
        self._lock = threading.Lock()
        self.count = 0

    @contextmanager
    def counting(self) -> Iterator[TableRequests]:
        from azure.core.pipeline.transport import RequestsTransport

        real = RequestsTransport.send

        def send(transport: Any, request: Any, **kwargs: Any) -> Any:
            if urlsplit(request.url).netloc == self._netloc:
                with self._lock:
                    self.count += 1
            return real(transport, request, **kwargs)

        RequestsTransport.send = send  # type: ignore[method-assign]
        try:
            yield self
        finally:
            RequestsTransport.send = real  # type: ignore[method-assign]
