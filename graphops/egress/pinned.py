"""Connections pinned to the address a policy checked: one pool per (host, port, address), kept and reused."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Mapping
from urllib.parse import urlsplit

import urllib3

from graphops.egress.policy import CallbackTarget


class PinnedPools:
    """Connection pools to the address a URL's host was resolved to (and checked) once, per (host, address).

    https still verifies the certificate against the host's name, not the address. Least recently used pools
    are closed beyond ``max_pools``.
    """

    def __init__(
        self, timeout: urllib3.Timeout, *, max_pools: int = 64, pool_size: int = 16, ca_certs: str | None = None
    ) -> None:
        self._timeout = timeout
        self._ca_certs = ca_certs  # None: the system's trust store
        self._pools: OrderedDict[tuple[str, str, str, int], urllib3.HTTPConnectionPool] = OrderedDict()
        self._max_pools = max_pools
        self._pool_size = pool_size  # as many connections per host as steps run at once (host.json batchSize)
        self._lock = threading.Lock()

    def send(
        self, target: CallbackTarget, method: str, url: str, headers: Mapping[str, str], body: bytes | None = None
    ) -> urllib3.BaseHTTPResponse:
        """One request to the pinned address: no redirect followed, no retry, the whole answer read."""
        parts = urlsplit(url)
        return self.get(target).urlopen(
            method,
            (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
            body=body,
            headers=dict(headers),
            redirect=False,
            retries=False,
            assert_same_host=False,
            preload_content=True,
        )

    def get(self, target: CallbackTarget) -> urllib3.HTTPConnectionPool:
        key = (target.scheme, target.host, target.address, target.port)
        with self._lock:
            pool = self._pools.get(key)
            if pool is not None:
                self._pools.move_to_end(key)
                return pool
            pool: urllib3.HTTPConnectionPool  # type: ignore[no-redef]
            if target.scheme == "https":
                # Connect to the pinned address, but check the certificate against the name.
                pool = urllib3.HTTPSConnectionPool(
                    target.address,
                    target.port,
                    timeout=self._timeout,
                    maxsize=self._pool_size,
                    server_hostname=target.host,
                    assert_hostname=target.host,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=self._ca_certs,
                )
            else:
                pool = urllib3.HTTPConnectionPool(
                    target.address, target.port, timeout=self._timeout, maxsize=self._pool_size
                )
            self._pools[key] = pool
            while len(self._pools) > self._max_pools:
                self._pools.popitem(last=False)[1].close()
            return pool
