"""How to reach the deployment's storage account: a connection string, or an identity and service URIs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from graphops.common.errors import SettingsError
from graphops.common.urls import require_https

STORAGE_SETTING = "AzureWebJobsStorage"


@dataclass(frozen=True)
class StorageConnection:
    """How to reach the storage account that holds the queue: a connection string or an identity."""

    connection_string: str | None = field(default=None, repr=False)
    queue_service_uri: str | None = None
    table_service_uri: str | None = None
    client_id: str | None = None  # user-assigned managed identity; None means system-assigned
    developer_credential: bool = False  # no __credential setting: a developer's sign-in (az login), as Core Tools do

    @property
    def queue_endpoint(self) -> str:
        """The queue service's address, for messages: never the connection string, which holds the key."""
        if self.connection_string is None:
            return self.queue_service_uri or ""
        parts = dict(part.split("=", 1) for part in self.connection_string.split(";") if "=" in part)
        if "QueueEndpoint" in parts:
            return parts["QueueEndpoint"]
        suffix = parts.get("EndpointSuffix", "core.windows.net")
        return f"{parts.get('DefaultEndpointsProtocol', 'https')}://{parts.get('AccountName', '?')}.queue.{suffix}"

    def unreachable(self) -> str:
        """What to say when storage does not answer: on loopback it is Azurite, which `make run` starts."""
        where = self.queue_endpoint
        host = (urlsplit(where).hostname or "").lower()
        if host in ("127.0.0.1", "localhost", "::1"):
            return f"cannot reach storage at {where} - is Azurite running? (`make azurite` starts it)"
        return f"cannot reach storage at {where} - check the network path to the account and its firewall"

    @classmethod
    def from_env(cls, env: Mapping[str, str], prefix: str = STORAGE_SETTING) -> StorageConnection:
        conn = env.get(prefix, "").strip()
        if conn:
            if conn == "UseDevelopmentStorage=true":
                conn = AZURITE_CONNECTION_STRING
            return cls(connection_string=conn)
        queue_uri = env.get(f"{prefix}__queueServiceUri", "").strip()
        account = env.get(f"{prefix}__accountName", "").strip()
        if not queue_uri and account:
            # __accountName only exists in the global cloud; sovereign clouds must give service URIs.
            queue_uri = f"https://{account}.queue.core.windows.net"
        if not queue_uri:
            raise SettingsError(
                prefix,
                f"not set: give a connection string, or {prefix}__queueServiceUri for an identity-based connection",
            )
        require_https(f"{prefix}__queueServiceUri", queue_uri)
        table_uri = env.get(f"{prefix}__tableServiceUri", "").strip() or None
        if not table_uri and ".queue." in queue_uri:
            # An account's endpoints differ by service name only, in every cloud.
            table_uri = queue_uri.replace(".queue.", ".table.", 1)
        credential = env.get(f"{prefix}__credential", "").strip().lower()
        if credential not in {"", "managedidentity"}:
            raise SettingsError(f"{prefix}__credential", f"must be 'managedidentity' or unset, not {credential!r}")
        return cls(
            queue_service_uri=queue_uri,
            table_service_uri=table_uri,
            client_id=env.get(f"{prefix}__clientId", "").strip() or None,
            developer_credential=not credential,
        )


AZURITE_CONNECTION_STRING = (
    "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;"
    "AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
    "BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1;"
    "QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
    "TableEndpoint=http://127.0.0.1:10002/devstoreaccount1;"
)
