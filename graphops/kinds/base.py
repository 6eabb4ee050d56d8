"""What every operation kind is: a path shape, a status field, the states that end it, a permission.

A kind is a small class with class attributes only; :class:`OperationKind` holds the behaviour they share.
Kinds are grouped by Graph family in the modules beside this one and registered in :mod:`graphops.kinds`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import ClassVar

ALL_CLOUDS = frozenset({"global", "usgov", "usgovdod", "china"})
GLOBAL_ONLY = frozenset({"global"})
LONG_RUNNING_STATUS_END = frozenset({"succeeded", "failed"})  # longRunningOperationStatus

# After one round of percent-decoding, an id may hold anything but separators, controls, blanks and '%' (a '%'
# left after decoding means double encoding, a classic way to smuggle a separator past a check). A quote is
# fine in a plain segment (a UPN like o'brien@contoso.com); inside an OData key `('…')` it is not.
ID = re.compile(r"[^\x00-\x20\x7f/\\?#%]+")


class OperationKind:
    """A kind of Graph long-running operation. Subclasses set the class attributes."""

    name: ClassVar[str]
    #: The path after the version segment; "{id}" marks one id segment, "a|b" one of these names, others are
    #: literal.
    path_template: ClassVar[tuple[str, ...]]
    versions: ClassVar[frozenset[str]] = frozenset({"v1.0", "beta"})
    #: A Location may come without a version (teams answers `/teams('…')/operations('…')`): read as v1.0.
    unversioned: ClassVar[bool] = False
    clouds: ClassVar[frozenset[str]] = ALL_CLOUDS
    status_field: ClassVar[str] = "status"
    succeeded_states: ClassVar[frozenset[str]] = frozenset({"succeeded"})
    partial_states: ClassVar[frozenset[str]] = frozenset()
    failed_states: ClassVar[frozenset[str]] = frozenset({"failed"})
    #: The least-privileged application permission(s) that can read this operation, as Graph names them.
    permission: ClassVar[str]
    #: Why no permission helps, when none does (a service that refuses app-only tokens): said on a 401/403.
    refuses_apps: ClassVar[str | None] = None
    #: Where the created or affected resource is named, first present wins.
    resource_fields: ClassVar[tuple[str, ...]] = ("resourceLocation",)
    #: False: polled without any token, on the hosts GRAPHOPS_MONITOR_ALLOWED_HOSTS allows (drive copies).
    needs_token: ClassVar[bool] = True
    #: The URL's query values are credentials: never shown in a status view or a callback.
    secret_query: ClassVar[bool] = False
    #: The query parameters Graph itself puts in this kind's Location: kept when polling; any other is refused.
    query_parameters: ClassVar[frozenset[str]] = frozenset()
    #: The field with a percentage of progress, when the kind reports one.
    progress_field: ClassVar[str | None] = None
    #: The Graph path of the resource an operation creates, when it can be read to see that it is ready
    #: (``waitForResource``): "{id}" segments as in ``path_template``. None: the kind cannot wait for it.
    resource_path: ClassVar[tuple[str, ...] | None] = None
    #: Graph's own polling guidance for this service, in seconds: (shortest, longest) delay between polls.
    poll_delays: ClassVar[tuple[int, int] | None] = None

    @classmethod
    def matches(cls, version: str, segments: Sequence[str]) -> bool:
        if version not in cls.versions or len(segments) != len(cls.path_template):
            return False
        return all(segment_matches(want, seg) for want, seg in zip(cls.path_template, segments, strict=True))

    @classmethod
    def matches_monitor(cls, segments: Sequence[str]) -> bool:
        """A path off the Graph host (the kinds polled without a token say which)."""
        return False

    @classmethod
    def status_of(cls, body: object) -> str | None:
        """The operation's status from Graph's JSON body, or None when the body has none."""
        if isinstance(body, dict):
            status = body.get(cls.status_field)
            if isinstance(status, str) and status:
                return status
        return None

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        return cls.succeeded_states | cls.partial_states | cls.failed_states

    @classmethod
    def is_terminal(cls, status: str) -> bool:
        # Evolvable enums: any value we do not know as terminal (unknownFutureValue included) is still running.
        # Compared exactly as the kind's Graph service spells it.
        return status in cls.terminal_states()

    @classmethod
    def resource_of(cls, body: object) -> str | None:
        """The created or affected resource's location (or id) when Graph names one."""
        if isinstance(body, dict):
            for name in cls.resource_fields:
                value = body.get(name)
                if isinstance(value, str) and value:
                    return value
        return None

    @classmethod
    def progress_of(cls, body: object) -> float | None:
        """Percent complete, 0 to 100, when the kind reports it (some send it as a string)."""
        if cls.progress_field is None or not isinstance(body, dict):
            return None
        raw = body.get(cls.progress_field)
        if isinstance(raw, bool):
            return None
        try:
            value = float(raw) if isinstance(raw, int | float | str) else None
        except ValueError:
            return None
        return value if value is not None and 0 <= value <= 100 else None


def segment_matches(want: str, seg: str) -> bool:
    """``{id}``: one id; ``a|b``: one of these names; anything else: that name (names without case)."""
    if want == "{id}":
        return ID.fullmatch(seg) is not None and seg not in {".", ".."}
    return seg.lower() in {alternative.lower() for alternative in want.split("|")}
