"""Operation kinds: which Graph URLs graphops will poll, and how to read their answers.

One small class per kind (see :mod:`.base`), grouped by Graph family, registered in :data:`KINDS`.
:func:`resolve_operation_url` is the only way an operation URL gets into a tracking: it accepts a URL only
when its host is the configured Graph host and its path is one of the kinds' shapes, in no other spelling.
Adding a kind is one class in its family's module and one line below.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from graphops.common.errors import Rejected
from graphops.common.urls import Url, parse_url, url_text
from graphops.graph.kinds.base import ID, OperationKind, segment_matches
from graphops.graph.kinds.compliance import (
    AttackSimulationOperation,
    DataPolicyOperation,
    EdiscoveryCaseOperation,
    RetentionEvent,
)
from graphops.graph.kinds.drives import DriveItemCopy
from graphops.graph.kinds.identity import AuthenticationMethodOperation, RecoveryJob, RoleManagementAlertRefresh
from graphops.graph.kinds.jobs import (
    AccessPackageAssignmentRequest,
    AccessReviewHistoryDefinition,
    AuditLogQuery,
    CloudPcExportJob,
    ConfigurationSnapshotJob,
    DeviceManagementExportJob,
    DriveProtectionUnitsBulkAdditionJob,
    ImportedWindowsAutopilotDeviceIdentity,
    IndustryDataRun,
    LifecycleWorkflowRun,
    MailboxProtectionUnitsBulkAdditionJob,
    RestoreSession,
    SiteProtectionUnitsBulkAdditionJob,
    Win32LobAppContentFile,
)
from graphops.graph.kinds.odata import split_keys
from graphops.graph.kinds.outlook import MailFolderOperation, PlaceOperation
from graphops.graph.kinds.sharepoint import ListOperation, SiteCreationOperation, SiteOperation
from graphops.graph.kinds.teams import ChatAsyncOperation, TeamsAsyncOperation, TelephoneNumberOperation
from graphops.graph.kinds.tenant import (
    CrossTenantMigrationJob,
    DelegatedAdminRelationshipOperation,
    EngagementAsyncOperation,
    ExternalConnectionOperation,
    OnenoteOperation,
    PartnerBillingOperation,
)

__all__ = [
    "KINDS",
    "AccessPackageAssignmentRequest",
    "AccessReviewHistoryDefinition",
    "AttackSimulationOperation",
    "AuditLogQuery",
    "AuthenticationMethodOperation",
    "ChatAsyncOperation",
    "CloudPcExportJob",
    "ConfigurationSnapshotJob",
    "CrossTenantMigrationJob",
    "DataPolicyOperation",
    "DelegatedAdminRelationshipOperation",
    "DeviceManagementExportJob",
    "DriveItemCopy",
    "DriveProtectionUnitsBulkAdditionJob",
    "EdiscoveryCaseOperation",
    "EngagementAsyncOperation",
    "ExternalConnectionOperation",
    "ImportedWindowsAutopilotDeviceIdentity",
    "IndustryDataRun",
    "LifecycleWorkflowRun",
    "ListOperation",
    "MailFolderOperation",
    "MailboxProtectionUnitsBulkAdditionJob",
    "OnenoteOperation",
    "OperationKind",
    "OperationRef",
    "PartnerBillingOperation",
    "PlaceOperation",
    "RecoveryJob",
    "RestoreSession",
    "RetentionEvent",
    "RoleManagementAlertRefresh",
    "SiteCreationOperation",
    "SiteOperation",
    "SiteProtectionUnitsBulkAdditionJob",
    "TeamsAsyncOperation",
    "TelephoneNumberOperation",
    "Win32LobAppContentFile",
    "resolve_operation_url",
    "resource_url",
    "twin_url",
    "validate_select",
]

KINDS: dict[str, type[OperationKind]] = {
    kind.name: kind
    for kind in (
        RoleManagementAlertRefresh,
        AuthenticationMethodOperation,
        TeamsAsyncOperation,
        ChatAsyncOperation,
        SiteOperation,
        ListOperation,
        DataPolicyOperation,
        EdiscoveryCaseOperation,
        AttackSimulationOperation,
        ExternalConnectionOperation,
        OnenoteOperation,
        DelegatedAdminRelationshipOperation,
        DriveItemCopy,
        PartnerBillingOperation,
        TelephoneNumberOperation,
        EngagementAsyncOperation,
        MailFolderOperation,
        PlaceOperation,
        AuditLogQuery,
        DeviceManagementExportJob,
        CloudPcExportJob,
        AccessReviewHistoryDefinition,
        RestoreSession,
        IndustryDataRun,
        AccessPackageAssignmentRequest,
        LifecycleWorkflowRun,
        SiteCreationOperation,
        ConfigurationSnapshotJob,
        DriveProtectionUnitsBulkAdditionJob,
        SiteProtectionUnitsBulkAdditionJob,
        MailboxProtectionUnitsBulkAdditionJob,
        RecoveryJob,
        CrossTenantMigrationJob,
        RetentionEvent,
        ImportedWindowsAutopilotDeviceIdentity,
        Win32LobAppContentFile,
    )
}

MAX_URL_LENGTH = 2048
_VERSIONS = frozenset({"v1.0", "beta"})
UNVERSIONED_DEFAULT = "v1.0"
_SELECT_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class OperationRef:
    """An operation URL that passed the rules, with the kind it belongs to."""

    url: str
    kind: type[OperationKind]


class HostRule(Protocol):
    """What resolving needs of the monitor host policy (a :class:`graphops.egress.policy.CallbackPolicy`)."""

    def allowed_entry(self, url: Url) -> object: ...


@functools.lru_cache(maxsize=8)
def endpoint_base(graph_endpoint: str) -> Url:
    """The configured Graph endpoint, parsed as every caller's URL is (settings checked it is one)."""
    return parse_url(graph_endpoint, "GRAPHOPS_GRAPH_ENDPOINT", MAX_URL_LENGTH)


def on_graph_host(url: Url, base: Url) -> bool:
    """``url`` is on the Graph host itself, spelled as the endpoint is (scheme aside; the host without case): the
    one place graphops' token may go."""
    return url.netloc == base.netloc


def resolve_operation_url(
    raw: object, graph_endpoint: str, cloud: str = "global", monitors: HostRule | None = None
) -> OperationRef:
    """Check an operation URL (absolute, or a path starting with /v1.0/, /beta/ or, for kinds that answer
    with unversioned Locations, the kind's own first segment) and name its kind. A drive-copy monitor URL on a
    host ``monitors`` allows is the one kind not on the Graph host.

    Raises :class:`Rejected` naming ``operationUrl`` with the reason.
    """
    field = "operationUrl"
    if url_text(raw, field, MAX_URL_LENGTH).startswith("//"):
        raise Rejected(field, "a relative URL must start with /v1.0/, /beta/ or a known unversioned path")
    base = endpoint_base(graph_endpoint)
    url = parse_url(raw, field, MAX_URL_LENGTH, base=base)
    if not on_graph_host(url, base):
        return _monitor_ref(url, monitors, field, base.netloc)
    if url.scheme != base.scheme:
        raise Rejected(field, f"must use {base.scheme}")
    raw_segments = url.path.split("/")
    if len(raw_segments) < 3 or raw_segments[0] != "":
        raise Rejected(field, "not a known operation path")
    segments = split_keys([unquote(seg) for seg in raw_segments[1:]])
    path = url.path
    if segments[0] not in _VERSIONS:
        # An unversioned Location (teams) reads as v1.0; only kinds that answer that way accept it.
        segments = [UNVERSIONED_DEFAULT, *segments]
        path = f"/{UNVERSIONED_DEFAULT}{url.path}"
        candidates = [kind for kind in KINDS.values() if kind.unversioned]
    else:
        candidates = list(KINDS.values())
    version, rest = segments[0], segments[1:]
    for kind in candidates:
        if kind.matches(version, rest):
            if not kind.exists_in(version, cloud):
                what, where = kind.named_in(version, kind.name), ", ".join(sorted(kind.clouds_for(version)))
                raise Rejected(field, f"{what} operations exist only in the Graph cloud(s) {where}, not {cloud}")
            _check_query(url.query, kind, field)
            # From here on the URL is spelled as the endpoint spells it, so every later check (the Graph
            # client's among them) compares exactly.
            return OperationRef(url=urlunsplit((base.scheme, base.netloc, path, url.query, "")), kind=kind)
    raise Rejected(field, "not a known operation path; docs/kinds.md lists the operation kinds graphops tracks")


# The one OData option graphops lets a caller add: it narrows what is read, never widens it.
ALLOWED_ODATA_OPTIONS = frozenset({"$select"})


def _check_query(query: str, kind: type[OperationKind], field: str) -> None:
    """Only what Graph itself puts in the kind's Location, and ``$select``: an ``$expand`` (or any other option)
    would have graphops read and deliver more than the operation."""
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name == "$select" and kind.status_property() not in value.split(","):
            status = kind.status_property()
            raise Rejected(field, f"$select must name {status}, the property graphops reads a {kind.name}'s end in")
        if name.startswith("$") and name not in ALLOWED_ODATA_OPTIONS:
            raise Rejected(field, f"the OData option {name} is not allowed: graphops reads the operation only "
                                  "($select is allowed)")  # fmt: skip
        if not name.startswith("$") and name not in kind.query_parameters:
            allowed = ", ".join(sorted(kind.query_parameters)) or "none"
            raise Rejected(field, f"the query parameter {name!r} is not one Graph puts in a {kind.name} Location "
                                  f"(those: {allowed})")  # fmt: skip


def _monitor_ref(url: Url, monitors: HostRule | None, field: str, graph_host: str) -> OperationRef:
    """A URL off the Graph host: a drive-copy monitor on an allowed host, or refused."""
    segments = [unquote(seg) for seg in url.path.split("/")[1:]]
    monitor_kinds = [kind for kind in KINDS.values() if not kind.needs_token]
    kind = next((k for k in monitor_kinds if k.matches_monitor(segments)), None)
    if kind is None or monitors is None:
        raise Rejected(field, f"host must be the configured Graph host {graph_host}")
    if any(seg in {".", ".."} or ID.fullmatch(seg) is None for seg in segments):
        raise Rejected(field, "not a known operation path")
    monitors.allowed_entry(url)  # https, an allowed SharePoint host: raises naming operationUrl
    return OperationRef(url=url.text, kind=kind)


def resource_url(kind: type[OperationKind], location: str | None, graph_endpoint: str) -> str | None:
    """The URL to read to see whether an operation's resource is ready, when the kind names one of the expected
    shape on the Graph host (`/teams('{id}')`, as teams writes it); None for anything else."""
    if kind.resource_path is None or not location:
        return None
    base = endpoint_base(graph_endpoint)
    try:
        url = parse_url(location, "resource", MAX_URL_LENGTH, base=base)
        segments = split_keys(url.path.split("/")[1:])
    except Rejected:
        return None
    if not on_graph_host(url, base) or url.scheme != base.scheme or url.query or "%" in url.path:
        return None
    path = url.path if segments[0] in _VERSIONS else f"/{UNVERSIONED_DEFAULT}{url.path}"
    rest = segments[1:] if segments[0] in _VERSIONS else segments
    if len(rest) != len(kind.resource_path) or not all(
        segment_matches(want, seg) for want, seg in zip(kind.resource_path, rest, strict=True)
    ):
        return None
    return urlunsplit((base.scheme, base.netloc, path, "", ""))


def twin_url(kind: type[OperationKind], url: str) -> str | None:
    """The same operation in the version to ask when ``url``'s version refused graphops' token, for kinds that
    have one (:attr:`OperationKind.forbidden_twin`); None otherwise, and for a URL already in that version."""
    if kind.forbidden_twin is None:
        return None
    refused, twin = kind.forbidden_twin
    parts = urlsplit(url)
    if not parts.path.startswith(f"/{refused}/"):
        return None
    return urlunsplit(parts._replace(path=f"/{twin}/" + parts.path[len(refused) + 2 :]))


def validate_select(raw: object) -> tuple[str, ...]:
    """The `select` field: Graph property names to ask for; the kind's status property is always added."""
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
