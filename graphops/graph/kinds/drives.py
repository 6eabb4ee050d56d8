"""OneDrive and SharePoint drive-item copies: the monitor URL a copy answers with.

It is not a Graph URL: it lives on the tenant's SharePoint host (`https://contoso.sharepoint.com/_api/v2.0/
monitor/{id}` or `/_api/v2.1/drives/{id}/operations/{id}?c=…&tempauth=…`) and takes no token; a Graph token
sent there is refused ("Invalid audience"), and must never be sent there. Its query values are credentials.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from graphops.graph.kinds.base import OperationKind, segment_matches

_SITE_PREFIX = ("sites|teams|personal", "{id}")  # a monitor may be scoped to a site or a personal OneDrive
_MONITOR_PATHS = (
    ("_api", "v2.0", "monitor", "{id}"),
    ("_api", "v2.1", "drives", "{id}", "operations", "{id}"),
)


class DriveItemCopy(OperationKind):
    name = "driveItemCopy"
    path_template = ()
    needs_token = False
    secret_query = True
    # asyncJobStatus: notStarted, inProgress, completed, updating, failed, deletePending, deleteFailed, waiting
    succeeded_states = frozenset({"completed"})
    failed_states = frozenset({"failed", "deleteFailed"})
    permission = "none (the monitor URL takes no token)"
    resource_fields = ("resourceLocation", "resourceId")
    progress_field = "percentageComplete"
    monitor_paths: ClassVar[tuple[tuple[str, ...], ...]] = _MONITOR_PATHS

    @classmethod
    def matches(cls, version: str, segments: Sequence[str]) -> bool:
        return False  # never a Graph path

    @classmethod
    def matches_monitor(cls, segments: Sequence[str]) -> bool:
        """A monitor path on a SharePoint host, optionally under a site or a personal OneDrive."""
        candidates = [list(segments)]
        if len(segments) > 2 and all(segment_matches(w, s) for w, s in zip(_SITE_PREFIX, segments, strict=False)):
            candidates.append(list(segments[2:]))
        return any(
            len(path) == len(template) and all(segment_matches(w, s) for w, s in zip(template, path, strict=True))
            for path in candidates
            for template in cls.monitor_paths
        )
