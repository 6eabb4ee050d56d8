"""Everything graphops talks to, on one machine: Azurite, the identity endpoint, Graph and a receiver.

Used by ``graphops demo`` and by the integration tests, so both run the same parts.
"""

from __future__ import annotations

import base64
import secrets
import tempfile
import uuid
from contextlib import ExitStack
from pathlib import Path
from types import TracebackType
from typing import Self

import trustme

from graphops.graph.clouds import CLOUDS
from graphops.local.azurite import Azurite
from graphops.local.eventgrid import EventGridStandIn, write_ca
from graphops.local.graph import GraphStandIn
from graphops.local.identity import IdentityEndpoint
from graphops.local.receiver import CallbackReceiver
from graphops.local.sharepoint import MonitorStandIn
from graphops.local.tenants import FederatedCredential, TenantAuthority

QUEUE_NAME = "graph-operations"


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class LocalStack:
    def __init__(
        self,
        *,
        azurite: Azurite | None = None,
        save_callbacks_to: Path | None = None,
        queue_name: str = QUEUE_NAME,
        first_port: int | None = None,
    ) -> None:
        """``first_port``: the stand-ins on fixed ports from there (identity, Graph, receiver, SharePoint, Event
        Grid, the customer tenants' sign-in), as `graphops local` keeps them; free ports otherwise."""
        self.secret = new_secret()
        self.queue_name = queue_name
        self._exit = ExitStack()
        self._save_to = save_callbacks_to
        self._shared_azurite = azurite
        self._first_port = first_port

    def start(self) -> Self:
        try:
            self.azurite = self._shared_azurite or self._exit.enter_context(Azurite())
            port = (lambda n: self._first_port + n) if self._first_port is not None else (lambda n: 0)
            self.identity = self._exit.enter_context(IdentityEndpoint(port(0)))
            self.graph = self._exit.enter_context(GraphStandIn(self.audience_of, CLOUDS["global"].token_scope, port(1)))
            self.receiver = self._exit.enter_context(CallbackReceiver(self.secret, self._save_to, port(2)))
            self.sharepoint = self._exit.enter_context(MonitorStandIn(port(3)))
            # Event Grid only speaks TLS: a CA made here, trusted by this process's HTTP clients through
            # REQUESTS_CA_BUNDLE (the environment below), as a private CA would be in production.
            ca = trustme.CA()
            self.ca_folder = Path(self._exit.enter_context(tempfile.TemporaryDirectory(prefix="graphops-ca-")))
            self.ca_bundle = write_ca(ca, self.ca_folder)
            self.eventgrid = self._exit.enter_context(EventGridStandIn(self.identity.audience_of, ca, port(4)))
            # Customer tenants: a multitenant app that trusts the identity as its federated credential. A test adds
            # the tenants (consented or not, with their grants); Graph answers their directory reads.
            federated = FederatedCredential(self.identity.issuer, self.identity.principal_id)
            self.tenants = self._exit.enter_context(
                TenantAuthority(str(uuid.uuid4()), federated, self.identity.audience_of, ca, port=port(5))
            )
            self.graph.directory = self.tenants.directory
        except BaseException:
            self._exit.close()
            raise
        return self

    def stop(self) -> None:
        self._exit.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object | TracebackType | None) -> None:
        self.stop()

    def audience_of(self, token: str) -> str | None:
        """The audience of a token issued here: by the identity endpoint, or in a customer tenant for the app."""
        tenants = getattr(self, "tenants", None)
        return self.identity.audience_of(token) or (tenants.audience_of(token) if tenants else None)

    def callback_url(self, path: str = "/callback", query: str = "sig=local-secret-signature") -> str:
        return f"{self.receiver.url}{path}?{query}"

    def environment(self, **overrides: str) -> dict[str, str]:
        """App settings that point the Function App at these parts."""
        env = {
            "AzureWebJobsStorage": self.azurite.connection_string,
            "GRAPHOPS_QUEUE_NAME": self.queue_name,
            "GRAPHOPS_GRAPH_ENDPOINT": self.graph.url,
            "GRAPHOPS_CALLBACK_ALLOWED_HOSTS": f"127.0.0.1:{self.receiver.port}",
            "GRAPHOPS_MONITOR_ALLOWED_HOSTS": f"127.0.0.1:{self.sharepoint.port}",
            "GRAPHOPS_ALLOW_HTTP_CALLBACKS": "true",
            "GRAPHOPS_CALLBACK_SECRET": self.secret,
            "GRAPHOPS_MIN_DELAY_SECONDS": "1",
            "GRAPHOPS_MAX_DELAY_SECONDS": "2",
            "GRAPHOPS_KIND_POLL_DELAYS": "*=1:2",  # a local run does not wait out teams' 30 s between checks
            # ... nor eDiscovery's five requests a minute: its budget sped up alike (the others' are seconds long)
            "GRAPHOPS_THROTTLE_BUDGETS": "ediscovery=300/60",
            "GRAPHOPS_NOT_FOUND_GRACE_SECONDS": "2",
            "REQUESTS_CA_BUNDLE": str(self.ca_bundle),
            "GRAPHOPS_MULTITENANT_CLIENT_ID": self.tenants.client_id,
            "GRAPHOPS_LOGIN_ENDPOINT": self.tenants.url,
            **self.identity.environment(),
        }
        env.update(overrides)
        return env
