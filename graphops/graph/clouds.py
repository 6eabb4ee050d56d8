"""The national clouds Microsoft Graph runs in, and what differs between them."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Cloud:
    """One Microsoft Graph deployment: where to send requests and which token to ask for."""

    name: str
    graph_host: str
    authority_host: str
    logic_apps_hosts: tuple[str, ...]
    sharepoint_hosts: tuple[str, ...]  # where drive-copy monitors live (polled without a token)
    storage_suffix: str = "core.windows.net"  # <account>.queue.<suffix>: the tools name an account by its name

    @property
    def graph_endpoint(self) -> str:
        return f"https://{self.graph_host}"

    @property
    def token_scope(self) -> str:
        # A token is only good for the Graph of the cloud that issued it.
        return f"https://{self.graph_host}/.default"


CLOUDS: dict[str, Cloud] = {
    cloud.name: cloud
    for cloud in (
        Cloud(
            "global", "graph.microsoft.com", "login.microsoftonline.com", ("*.logic.azure.com",), ("*.sharepoint.com",)
        ),
        Cloud(
            "usgov",
            "graph.microsoft.us",
            "login.microsoftonline.us",
            ("*.logic.azure.us",),
            ("*.sharepoint.us",),
            "core.usgovcloudapi.net",
        ),
        Cloud(
            "usgovdod",
            "dod-graph.microsoft.us",
            "login.microsoftonline.us",
            ("*.logic.azure.us",),
            ("*.sharepoint-mil.us",),
            "core.usgovcloudapi.net",
        ),
        Cloud(
            "china",
            "microsoftgraph.chinacloudapi.cn",
            "login.chinacloudapi.cn",
            ("*.logic.azure.cn",),
            ("*.sharepoint.cn",),
            "core.chinacloudapi.cn",
        ),
    )
}
