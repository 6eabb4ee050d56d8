"""The few exception types graphops raises; each names what is at fault."""

from __future__ import annotations


class GraphOpsError(Exception):
    """Base class for graphops' own errors."""


class SettingsError(GraphOpsError):
    """An app setting is missing or has a value graphops cannot use. The message names the setting."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class Rejected(GraphOpsError):
    """A tracking request that can never succeed. ``field`` names the part of the request at fault."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class QueueUnavailable(GraphOpsError):
    """The queue could not take a message; the host must retry the step so nothing is lost."""


class StorageUnreachable(GraphOpsError):
    """The storage account did not answer at all (no HTTP reply): the message says where, and what to check."""


class PortInUse(GraphOpsError):
    """A loopback port graphops was to listen on is taken (another console, demo or local stack)."""

    def __init__(self, port: int) -> None:
        super().__init__(f"127.0.0.1:{port} is in use (another graphops console, demo or local stack?)")
        self.port = port
