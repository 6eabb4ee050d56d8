"""Operation kinds: which Graph URLs graphops will poll, and how to read their answers.

One small class per kind, registered in :data:`KINDS`. A kind knows its path shape, the field
that holds the status, which statuses end the operation, and the application permission needed to
read it. :func:`resolve_operation_url` is the only way an operation URL gets into a tracking: it
accepts a URL only when its host is the configured Graph host and its path is one of the shapes
below, in no other spelling.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import unquote, urlsplit, urlunsplit

from .errors import Rejected
from .urls import url_text

MAX_URL_LENGTH = 2048
_VERSIONS = frozenset({"v1.0", "beta"})
# After one round of percent-decoding, an id may hold anything but separators, controls, blanks and '%'
# (a '%' left after decoding means double encoding, a classic way to smuggle a separator past a check).
_ID = re.compile(r"[^\x00-\x20\x7f/\\?#%]+")
_SELECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


class OperationKind:
    """A kind of Graph long-running operation. Subclasses set the class attributes."""

    name: ClassVar[str]
    #: The path after the version segment; "{id}" marks one id segment, other segments are literal.
    path_template: ClassVar[tuple[str, ...]]
    versions: ClassVar[frozenset[str]] = _VERSIONS
    status_field: ClassVar[str] = "status"
    terminal_states: ClassVar[frozenset[str]] = frozenset({"succeeded", "failed"})
    succeeded_states: ClassVar[frozenset[str]] = frozenset({"succeeded"})
    #: The least-privileged application permission that can read this operation.
    permission: ClassVar[str]

    @classmethod
    def matches(cls, version: str, segments: Sequence[str]) -> bool:
        if version not in cls.versions or len(segments) != len(cls.path_template):
            return False
        return all(
            _ID.fullmatch(seg) is not None and seg not in {".", ".."} if want == "{id}" else seg.lower() == want.lower()
            for want, seg in zip(cls.path_template, segments, strict=True)
        )

    @classmethod
    def status_of(cls, body: object) -> str | None:
        """The operation's status from Graph's JSON body, or None when the body has none."""
        if isinstance(body, dict):
            status = body.get(cls.status_field)
            if isinstance(status, str) and status:
                return status
        return None

    @classmethod
    def is_terminal(cls, status: str) -> bool:
        # Evolvable enums: any value we do not know as terminal (unknownFutureValue included) is still running.
        return status in cls.terminal_states


class RoleManagementAlertRefresh(OperationKind):
    """A refresh of Entra ID role management alerts (beta only)."""

    name = "roleManagementAlertRefresh"
    path_template = ("identityGovernance", "roleManagementAlerts", "operations", "{id}")
    versions = frozenset({"beta"})
    permission = "RoleManagementAlert.Read.Directory"


class AuthenticationMethodOperation(OperationKind):
    """An authentication method operation, such as a password reset."""

    name = "authenticationMethodOperation"
    path_template = ("users", "{id}", "authentication", "operations", "{id}")
    permission = "UserAuthenticationMethod.Read.All"


KINDS: dict[str, type[OperationKind]] = {
    kind.name: kind for kind in (RoleManagementAlertRefresh, AuthenticationMethodOperation)
}


@dataclass(frozen=True)
class OperationRef:
    """An operation URL that passed the rules, with the kind it belongs to."""

    url: str
    kind: type[OperationKind]


def resolve_operation_url(raw: object, graph_endpoint: str) -> OperationRef:
    """Check an operation URL (absolute, or a path starting with /v1.0/ or /beta/) and name its kind.

    Raises :class:`Rejected` naming ``operationUrl`` with the reason.
    """
    field = "operationUrl"
    raw = url_text(raw, field, MAX_URL_LENGTH)
    if raw.startswith("/"):
        if raw.startswith("//"):
            raise Rejected(field, "a relative URL must start with /v1.0/ or /beta/")
        url = graph_endpoint + raw
    else:
        url = raw
    parts = urlsplit(url)
    base = urlsplit(graph_endpoint)
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise Rejected(field, "must not carry user information")
    if parts.fragment:
        raise Rejected(field, "must not have a fragment")
    if parts.netloc.lower() != base.netloc:
        raise Rejected(field, f"host must be the configured Graph host {base.netloc}")
    if parts.scheme.lower() != base.scheme:
        raise Rejected(field, f"must use {base.scheme}")
    raw_segments = parts.path.split("/")
    if len(raw_segments) < 3 or raw_segments[0] != "":
        raise Rejected(field, "not a known operation path")
    for seg in raw_segments[1:]:
        if "%" in seg and re.search(r"%(?![0-9A-Fa-f]{2})", seg):
            raise Rejected(field, "malformed percent-encoding in the path")
    segments = [unquote(seg) for seg in raw_segments[1:]]
    version, rest = segments[0], segments[1:]
    # Scheme and host are compared without case; from here on they are spelled as the endpoint spells them,
    # so every later check (the Graph client's among them) compares exactly.
    url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))
    for kind in KINDS.values():
        if kind.matches(version, rest):
            return OperationRef(url=url, kind=kind)
    raise Rejected(
        field,
        "not a known operation path; expected /beta/identityGovernance/roleManagementAlerts/operations/{id} "
        "or /{v1.0|beta}/users/{id}/authentication/operations/{id}",
    )


def validate_select(raw: object) -> tuple[str, ...]:
    """The `select` field: Graph property names to ask for; `status` is always included."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) > 32:
        raise Rejected("select", "must be a list of at most 32 property names")
    names: list[str] = []
    for item in raw:
        if not isinstance(item, str) or not _SELECT_NAME.fullmatch(item):
            raise Rejected("select", f"{item!r} is not a property name")
        if item not in names:
            names.append(item)
    return tuple(names)
