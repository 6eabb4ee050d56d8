"""Start actions: the Graph requests graphops may send with its own identity to start an operation.

Each action says which requests it is (method and path shapes), which kind of operation Graph's `202` names
and in which header, the application permission it needs, and whether sending it twice is harmless. Nothing
is sent unless the deployment names the action in ``GRAPHOPS_START_ACTIONS``; a request that matches no
enabled action is refused here, before Graph is asked. Every entry is checked against its Graph reference
page (``reference``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from graphops.common.errors import Rejected
from graphops.common.urls import parse_url, url_text
from graphops.graph.clouds import CLOUDS
from graphops.graph.kinds import (
    AccessPackageAssignmentRequest,
    AccessReviewHistoryDefinition,
    AuditLogQuery,
    CloudPcExportJob,
    ConfigurationSnapshotJob,
    CrossTenantMigrationJob,
    DataPolicyOperation,
    DeviceManagementExportJob,
    DriveItemCopy,
    EdiscoveryCaseOperation,
    ExternalConnectionOperation,
    ListOperation,
    OperationKind,
    RoleManagementAlertRefresh,
    SiteCreationOperation,
    SiteOperation,
    TeamsAsyncOperation,
    endpoint_base,
    on_graph_host,
)
from graphops.graph.kinds.base import segment_matches
from graphops.graph.kinds.odata import split_keys

V1_AND_BETA = frozenset({"v1.0", "beta"})
MAX_BODY_BYTES = 16 * 1024
MAX_URL_LENGTH = 2048
METHODS = frozenset({"POST", "PATCH"})


class ActionNotEnabled(Rejected):
    """The request is a known start action this deployment has not enabled."""


# The alphabet of the ids in Graph's start paths: GUIDs, user principal names, drive ids (`b!…`), SharePoint
# site ids (`host,guid,guid`), content type ids (`0x0101…`), connection and alert names. Nothing else (`;`, `:`,
# `$`, `%`, quotes, non-ASCII) reaches Graph in an id.
START_ID = re.compile(r"[A-Za-z0-9._,!@-]{1,256}")
# A channel id as Teams writes it (`19:…@thread.tacv2`; `…@thread.skype` in older teams): the one id with a `:`, so
# it is read by its own shape, and only where a path shape says "{channel}".
CHANNEL = "{channel}"
CHANNEL_ID = re.compile(r"19:[A-Za-z0-9_-]{1,200}@thread\.(?:tacv2|skype)")
ID_SHAPES = {"{id}": (START_ID, "an id Graph gives: letters, digits and - _ . , ! @"),
             CHANNEL: (CHANNEL_ID, "a channel id as Teams gives them, 19:…@thread.tacv2")}  # fmt: skip
JSON_TYPES: dict[str, type | tuple[type, ...]] = {"string": str, "boolean": bool, "object": dict, "array": list}


@dataclass(frozen=True)
class Body:
    """What a start's JSON body may carry: its top-level fields with their JSON types, and the required ones."""

    fields: Mapping[str, str] = field(default_factory=dict)  # name -> "string", "boolean", "object", "array"
    required: frozenset[str] = frozenset()
    #: The field naming a storage location Graph writes data to: one of GRAPHOPS_EXPORT_STORAGE_ACCOUNTS.
    storage_location: str | None = None

    def check(self, body: dict[str, Any] | None, field_name: str, accounts: frozenset[str], suffix: str) -> None:
        doc = body or {}
        for name in sorted(set(doc) - set(self.fields)):
            allowed = ", ".join(sorted(self.fields)) or "none: this action takes no body"
            raise Rejected(f"{field_name}.{name}", f"not a field this action takes (it takes {allowed})")
        for name in sorted(self.required - set(doc)):
            raise Rejected(f"{field_name}.{name}", "required")
        for name, kind in self.fields.items():
            value = doc.get(name)
            if value is not None and (
                not isinstance(value, JSON_TYPES[kind]) or isinstance(value, bool) != (kind == "boolean")
            ):
                raise Rejected(f"{field_name}.{name}", f"must be a JSON {kind}")
        if self.storage_location is not None and self.storage_location in doc:
            _storage_location(doc[self.storage_location], f"{field_name}.{self.storage_location}", accounts, suffix)


def _storage_location(raw: object, field_name: str, accounts: frozenset[str], suffix: str) -> None:
    """A blob container URL on one of the deployment's allowed storage accounts: graphops' identity writes a user's
    data there, so a caller with a function key cannot send it anywhere else. The account is read from the URL's
    one parse (graphops.common.urls), the reading Graph's own parser agrees with."""
    url = parse_url(raw, field_name, MAX_URL_LENGTH)
    account, _, rest = url.host.partition(".")
    if url.scheme != "https" or rest != f"blob.{suffix}" or account not in accounts or url.port not in (None, 443):
        listed = ", ".join(sorted(accounts)) or "none (GRAPHOPS_EXPORT_STORAGE_ACCOUNTS is empty)"
        raise Rejected(field_name, f"must be an https container URL on an allowed storage account ({listed}), "
                                   f"https://<account>.blob.{suffix}/...")  # fmt: skip


NO_BODY = Body()


@dataclass(frozen=True)
class StartAction:
    """One Graph request that starts a long-running operation."""

    name: str
    method: str
    #: Path shapes after the version segment ("{id}": one id, "a|b": one of these names).
    paths: tuple[tuple[str, ...], ...]
    kind: type[OperationKind]  # what the operation URL in Graph's 202 must resolve to
    permission: str  # the least privileged application permission, as Graph's reference page names it
    repeatable: bool  # sending it twice is harmless (archive again: yes; a second clone: no)
    reference: str  # the Graph reference page, under learn.microsoft.com/graph/api/
    versions: frozenset[str] = V1_AND_BETA
    #: Where Graph's 202 names the operation, first present wins.
    operation_headers: tuple[str, ...] = ("Location",)
    #: Graph answers (201, or 200) with the job itself (a resource-status kind): the job's URL is the request's plus
    #: its id, unless job_collection says where it is.
    creates_job: bool = False
    #: Where the job is read when that is not the request's URL (a `createSnapshot` posts to one collection and
    #: its job lives in another): the collection's path after the version, the job's id appended.
    job_collection: tuple[str, ...] = ()
    #: Ends of the kind the request moves a job on from: read at the first polls (Graph has not moved the job yet),
    #: they are no end of this tracking.
    waits_past: frozenset[str] = frozenset()
    query: frozenset[str] = frozenset()  # query parameters the request may carry
    body: Body = NO_BODY  # what its JSON body may carry, from its reference page

    @property
    def clouds(self) -> frozenset[str]:
        return self.kind.clouds

    def matches(self, method: str, version: str, segments: Sequence[str]) -> bool:
        if method != self.method or version not in self.versions:
            return False
        return self.shape_of(segments) is not None

    def job_url(self, request_url: str, job_id: str) -> str | None:
        """The URL of the job Graph created for a request to ``request_url``: under the collection it was posted
        to, or under the action's own job collection in the request's version. None when ``job_id`` is not an id
        as Graph gives them: an id Graph sent is data, and must not steer the path."""
        if START_ID.fullmatch(job_id) is None:
            return None
        base = request_url.split("?", 1)[0]
        if not self.job_collection:
            return f"{base}/{job_id}"
        scheme, netloc, path, _, _ = urlsplit(base)
        version = path.split("/")[1]
        return urlunsplit((scheme, netloc, "/".join(("", version, *self.job_collection, job_id)), "", ""))

    def shape_of(self, segments: Sequence[str]) -> tuple[str, ...] | None:
        """The path shape ``segments`` fit, if any."""
        return next((path for path in self.paths if _fits(path, segments)), None)


def _fits(path: Sequence[str], segments: Sequence[str]) -> bool:
    return len(path) == len(segments) and all(
        segment_matches("{id}" if want == CHANNEL else want, seg) for want, seg in zip(path, segments, strict=True)
    )


@dataclass(frozen=True)
class RefusedRequest:
    """A Graph request that starts a long-running operation and that graphops never sends, whatever is enabled."""

    name: str  # as its reference page names it
    method: str
    paths: tuple[tuple[str, ...], ...]
    why: str


# Each action's body as its reference page lists it (the request body section).
_EXPORT = {"displayName": "string", "description": "string", "exportCriteria": "string", "exportLocation": "string",
           "additionalOptions": "string", "cloudAttachmentVersion": "string", "documentVersion": "string"}  # fmt: skip
_TEAM = {"template@odata.bind": "string", "group@odata.bind": "string", "displayName": "string",
         "description": "string", "visibility": "string", "classification": "string", "specialization": "string",
         "firstChannelName": "string", "members": "array", "channels": "array", "installedApps": "array",
         "memberSettings": "object", "guestSettings": "object", "messagingSettings": "object", "funSettings": "object",
         "discoverySettings": "object"}  # fmt: skip
_CASE = ("security", "cases", "ediscoveryCases", "{id}")
_SEARCH = (*_CASE, "searches", "{id}")
# Every property is optional on its page; the query's status and id are Graph's to set.
_AUDIT_QUERY = {"@odata.type": "string", "displayName": "string", "filterStartDateTime": "string",
                "filterEndDateTime": "string", "recordTypeFilters": "array", "keywordFilter": "string",
                "serviceFilter": "string", "serviceFilters": "array", "operationFilters": "array",
                "userPrincipalNameFilters": "array", "ipAddressFilters": "array", "objectIdFilters": "array",
                "administrativeUnitIdFilters": "array"}  # fmt: skip
_HISTORY = {"displayName": "string", "decisions": "array", "scopes": "array",
            "reviewHistoryPeriodStartDateTime": "string", "reviewHistoryPeriodEndDateTime": "string"}  # fmt: skip
# The page lists every property, Graph's own (id, status, url, times) among them; a caller names the report.
_EXPORT_JOB = {"@odata.type": "string", "reportName": "string", "filter": "string", "select": "array",
               "format": "string", "snapshotId": "string", "localizationType": "string",
               "search": "string"}  # fmt: skip
_DRIVE_ITEM = ("items", "{id}", "copy")
_CHANNEL = ("channels", CHANNEL)
# A hold is applied to (or removed from) the ids in the body at the collection's path, or to the one in the path.
_HOLD_IDS = Body({"ids": "array"})
_MIGRATION_JOBS = ("solutions", "migrations", "crossTenantMigrationJobs")

ACTIONS: dict[str, StartAction] = {
    action.name: action
    for action in (
        StartAction(
            "roleManagementAlertRefresh", "POST",
            (("identityGovernance", "roleManagementAlerts", "alerts", "refresh"),
             ("identityGovernance", "roleManagementAlerts", "alerts", "{id}", "refresh")),
            RoleManagementAlertRefresh, "RoleManagementAlert.ReadWrite.Directory", repeatable=True,
            reference="unifiedrolemanagementalert-refresh", versions=frozenset({"beta"}),
            body=Body({"scopeId": "string", "scopeType": "string"}),
        ),
        StartAction("teamCreate", "POST", (("teams",),), TeamsAsyncOperation, "Team.Create", repeatable=False,
                    reference="team-post", body=Body(_TEAM, frozenset({"template@odata.bind"}))),
        StartAction("teamClone", "POST", (("teams", "{id}", "clone"),), TeamsAsyncOperation, "Team.Create",
                    repeatable=False, reference="team-clone",
                    body=Body({"displayName": "string", "description": "string", "mailNickname": "string",
                               "classification": "string", "visibility": "string", "partsToClone": "string"},
                              frozenset({"displayName", "partsToClone"}))),
        # Least privileged is TeamSettings.ReadWrite.Group, resource-specific consent: granted team by team by the
        # team's owners, never tenant-wide, so a deployment is granted the least tenant-wide one.
        StartAction("teamArchive", "POST", (("teams", "{id}", "archive"),), TeamsAsyncOperation,
                    "TeamSettings.ReadWrite.All", repeatable=True, reference="team-archive",
                    body=Body({"shouldSetSpoSiteReadOnlyForMembers": "boolean"})),
        StartAction("teamUnarchive", "POST", (("teams", "{id}", "unarchive"),), TeamsAsyncOperation,
                    "TeamSettings.ReadWrite.All", repeatable=True, reference="team-unarchive"),
        StartAction("channelArchive", "POST",
                    (("teams", "{id}", *_CHANNEL, "archive"), ("groups", "{id}", "team", *_CHANNEL, "archive")),
                    TeamsAsyncOperation, "ChannelSettings.ReadWrite.All", repeatable=True,
                    reference="channel-archive", body=Body({"shouldSetSpoSiteReadOnlyForMembers": "boolean"})),
        StartAction("channelUnarchive", "POST",
                    (("teams", "{id}", *_CHANNEL, "unarchive"), ("groups", "{id}", "team", *_CHANNEL, "unarchive")),
                    TeamsAsyncOperation, "ChannelSettings.ReadWrite.All", repeatable=True,
                    reference="channel-unarchive"),
        StartAction(
            "personalDataExport", "POST", (("users", "{id}", "exportPersonalData"),), DataPolicyOperation,
            "User.Export.All", repeatable=False, reference="user-exportpersonaldata",
            body=Body({"storageLocation": "string"}, frozenset({"storageLocation"}),
                      storage_location="storageLocation"),
        ),
        # An estimate only counts: a second one gives the same numbers.
        StartAction("ediscoveryEstimate", "POST", ((*_SEARCH, "estimateStatistics"),), EdiscoveryCaseOperation,
                    "eDiscovery.Read.All", repeatable=True,
                    reference="security-ediscoverysearch-estimatestatistics"),
        StartAction("ediscoveryExportResult", "POST", ((*_SEARCH, "exportResult"),), EdiscoveryCaseOperation,
                    "eDiscovery.Read.All", repeatable=False, reference="security-ediscoverysearch-exportresult",
                    body=Body({**_EXPORT, "exportFormat": "string"}, frozenset({"displayName"}))),
        StartAction("ediscoveryExportReport", "POST", ((*_SEARCH, "exportReport"),), EdiscoveryCaseOperation,
                    "eDiscovery.Read.All", repeatable=False, reference="security-ediscoverysearch-exportreport",
                    body=Body(_EXPORT, frozenset({"displayName"}))),
        StartAction(
            "ediscoveryAddToReviewSet", "POST",
            (("security", "cases", "ediscoveryCases", "{id}", "reviewSets", "{id}", "addToReviewSet"),),
            EdiscoveryCaseOperation, "eDiscovery.Read.All", repeatable=False,
            reference="security-ediscoveryreviewset-addtoreviewset",
            body=Body({"search": "object", "additionalDataOptions": "string", "itemsToInclude": "string"},
                      frozenset({"search"})),
        ),
        # A hold applied (or removed) again leaves the same holds.
        StartAction("ediscoveryCustodianApplyHold", "POST",
                    ((*_CASE, "custodians", "applyHold"), (*_CASE, "custodians", "{id}", "applyHold")),
                    EdiscoveryCaseOperation, "eDiscovery.Read.All", repeatable=True,
                    reference="security-ediscoverycustodian-applyhold", body=_HOLD_IDS),
        StartAction("ediscoveryCustodianRemoveHold", "POST",
                    ((*_CASE, "custodians", "removeHold"), (*_CASE, "custodians", "{id}", "removeHold")),
                    EdiscoveryCaseOperation, "eDiscovery.Read.All", repeatable=True,
                    reference="security-ediscoverycustodian-removehold", body=_HOLD_IDS),
        StartAction("ediscoveryNoncustodialDataSourceApplyHold", "POST",
                    ((*_CASE, "noncustodialDataSources", "applyHold"),
                     (*_CASE, "noncustodialDataSources", "{id}", "applyHold")),
                    EdiscoveryCaseOperation, "eDiscovery.Read.All", repeatable=True,
                    reference="security-ediscoverynoncustodialdatasource-applyhold", body=_HOLD_IDS),
        StartAction("ediscoveryNoncustodialDataSourceRemoveHold", "POST",
                    ((*_CASE, "noncustodialDataSources", "removeHold"),
                     (*_CASE, "noncustodialDataSources", "{id}", "removeHold")),
                    EdiscoveryCaseOperation, "eDiscovery.Read.All", repeatable=True,
                    reference="security-ediscoverynoncustodialdatasource-removehold", body=_HOLD_IDS),
        StartAction("ediscoveryReviewSetExport", "POST", ((*_CASE, "reviewSets", "{id}", "export"),),
                    EdiscoveryCaseOperation, "eDiscovery.Read.All", repeatable=False,
                    reference="security-ediscoveryreviewset-export",
                    body=Body({"outputName": "string", "description": "string", "exportOptions": "string",
                               "exportStructure": "string"}, frozenset({"outputName"}))),
        StartAction(
            "driveItemCopy", "POST",
            (("drives", "{id}", *_DRIVE_ITEM), ("sites", "{id}", "drive", *_DRIVE_ITEM),
             ("users", "{id}", "drive", *_DRIVE_ITEM), ("groups", "{id}", "drive", *_DRIVE_ITEM)),
            DriveItemCopy, "Files.ReadWrite.All", repeatable=False, reference="driveitem-copy",
            query=frozenset({"@microsoft.graph.conflictBehavior"}),
            body=Body({"parentReference": "object", "name": "string", "childrenOnly": "boolean",
                       "includeAllVersionHistory": "boolean"}),
        ),
        # Adding (or syncing) a hub content type a second time leaves the same content type.
        StartAction("siteContentTypeCopy", "POST", (("sites", "{id}", "contentTypes", "addCopyFromContentTypeHub"),),
                    SiteOperation, "Sites.Manage.All", repeatable=True,
                    reference="contenttype-addcopyfromcontenttypehub",
                    body=Body({"contentTypeId": "string"}, frozenset({"contentTypeId"}))),
        StartAction(
            "listContentTypeCopy", "POST",
            (("sites", "{id}", "lists", "{id}", "contentTypes", "addCopyFromContentTypeHub"),),
            ListOperation, "Sites.Manage.All", repeatable=True, reference="contenttype-addcopyfromcontenttypehub",
            body=Body({"contentTypeId": "string"}, frozenset({"contentTypeId"})),
        ),
        # A second creation at the same webUrl is refused, not a second site; but an answer that never came may
        # have created it, and the refusal would then read as a failure: not sent again.
        StartAction("siteCreate", "POST", (("sites",),), SiteCreationOperation, "Sites.Create.All",
                    repeatable=False, reference="site-post-sites", versions=frozenset({"beta"}),
                    body=Body({"name": "string", "webUrl": "string", "locale": "string", "description": "string",
                               "shareByEmailEnabled": "boolean", "template": "string",
                               "ownerIdentityToResolve": "object"})),
        # Jobs: a second start makes a second job (a saved query, a report, a history definition), so an answer that
        # never came is not sent again.
        StartAction("auditLogQuery", "POST", (("security", "auditLog", "queries"),), AuditLogQuery,
                    "AuditLogsQuery.Read.All", repeatable=False, creates_job=True, body=Body(_AUDIT_QUERY),
                    reference="security-auditcoreroot-post-auditlogqueries"),
        StartAction("deviceManagementExportJob", "POST", (("deviceManagement", "reports", "exportJobs"),),
                    DeviceManagementExportJob, "DeviceManagementConfiguration.ReadWrite.All", repeatable=False,
                    reference="intune-reporting-devicemanagementexportjob-create", creates_job=True,
                    body=Body(_EXPORT_JOB, frozenset({"reportName"}))),
        StartAction("cloudPcExportJob", "POST", (("deviceManagement", "virtualEndpoint", "reports", "exportJobs"),),
                    CloudPcExportJob, "CloudPC.ReadWrite.All", repeatable=False, versions=frozenset({"beta"}),
                    reference="cloudpcreports-post-exportjobs", creates_job=True,
                    body=Body({"reportName": "string", "filter": "string", "select": "array", "format": "string"})),
        StartAction("accessReviewHistoryDefinition", "POST",
                    (("identityGovernance", "accessReviews", "historyDefinitions"),), AccessReviewHistoryDefinition,
                    "AccessReview.ReadWrite.All", repeatable=False, reference="accessreviewset-post-historydefinitions",
                    creates_job=True,
                    # Not scheduleSettings ("preview, not supported yet"): a recurring report's status is no one job's.
                    body=Body(_HISTORY, frozenset({"displayName", "scopes"}))),
        # A request to assign (adminAdd), update (adminUpdate) or remove (adminRemove) an access package.
        StartAction("accessPackageAssignmentRequest", "POST",
                    (("identityGovernance", "entitlementManagement", "assignmentRequests"),),
                    AccessPackageAssignmentRequest, "EntitlementManagement.ReadWrite.All", repeatable=False,
                    reference="entitlementmanagement-post-assignmentrequests", versions=frozenset({"v1.0"}),
                    creates_job=True,
                    body=Body({"@odata.type": "string", "requestType": "string", "assignment": "object",
                               "answers": "array", "justification": "string", "schedule": "object"},
                              frozenset({"requestType"}))),
        # A second call takes a second snapshot. Its job is read under configurationSnapshotJobs, not under the POST's.
        StartAction("configurationSnapshot", "POST",
                    (("admin", "configurationManagement", "configurationSnapshots", "createSnapshot"),),
                    ConfigurationSnapshotJob, "ConfigurationMonitoring.ReadWrite.All", repeatable=False,
                    reference="configurationbaseline-createsnapshot", creates_job=True,
                    job_collection=("admin", "configurationManagement", "configurationSnapshotJobs"),
                    body=Body({"displayName": "string", "description": "string", "resources": "array"},
                              frozenset({"displayName", "resources"}))),
        # A cross-tenant migration job's validation, then its migration: each answers with the job, read at its own
        # URL. A second call while the first runs is refused (409), which would read as a failure: not sent again.
        StartAction("crossTenantMigrationValidate", "POST", ((*_MIGRATION_JOBS, "{id}", "validate"),),
                    CrossTenantMigrationJob, "CrossTenantContentMigration.ReadWrite.All", repeatable=False,
                    reference="crosstenantmigrationjob-validate", versions=frozenset({"v1.0"}), creates_job=True,
                    job_collection=_MIGRATION_JOBS),
        # Migrate is sent to a job that reads validatePassed, and may still read so at the first polls.
        StartAction("crossTenantMigrationMigrate", "POST", ((*_MIGRATION_JOBS, "{id}", "migrate"),),
                    CrossTenantMigrationJob, "CrossTenantContentMigration.ReadWrite.All", repeatable=False,
                    reference="crosstenantmigrationjob-migrate", versions=frozenset({"v1.0"}), creates_job=True,
                    job_collection=_MIGRATION_JOBS, waits_past=frozenset({"validatePassed"})),
        # PATCH sets the schema: sending the same schema again asks for the same state.
        StartAction("externalConnectionSchema", "PATCH", (("external", "connections", "{id}", "schema"),),
                    ExternalConnectionOperation, "ExternalConnection.ReadWrite.OwnedBy", repeatable=True,
                    reference="externalconnectors-schema-update",
                    body=Body({"baseType": "string", "properties": "array"}, frozenset({"baseType", "properties"}))),
    )
}  # fmt: skip

REFUSED: tuple[RefusedRequest, ...] = (
    RefusedRequest("purgeData", "POST", ((*_SEARCH, "purgeData"),),
                   "it deletes the search's mailbox items and Teams messages, for good: graphops never sends a request "
                   "that deletes content"),
)  # fmt: skip


@dataclass(frozen=True)
class StartRequest:
    """A caller's Graph request that matched an enabled action: what graphops will send."""

    action: StartAction
    method: str
    url: str  # absolute, on the Graph host, spelled as the endpoint spells it
    body: dict[str, Any] | None = field(default=None, compare=False)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"method": self.method, "url": self.url}
        if self.body is not None:
            doc["body"] = self.body
        return doc


def parse_start(
    raw: object,
    graph_endpoint: str,
    cloud: str,
    enabled: Collection[str],
    field_name: str = "start",
    export_accounts: frozenset[str] = frozenset(),
) -> StartRequest:
    """Check a start request ``{"method", "url", "body"}`` and name its action.

    Raises :class:`Rejected` naming ``<field_name>.method``, ``.url`` or ``.body``; :class:`ActionNotEnabled` when
    the request is a known action the deployment has not enabled.
    """
    if not isinstance(raw, dict):
        raise Rejected(field_name, "required, an object with method, url and (optionally) body")
    unknown = sorted(set(raw) - {"method", "url", "body"})
    if unknown:
        raise Rejected(f"{field_name}.{unknown[0]}", "unknown field; expected method, url, body")
    method = raw.get("method")
    if not isinstance(method, str) or method.upper() not in METHODS:
        raise Rejected(f"{field_name}.method", f"must be one of {', '.join(sorted(METHODS))}")
    method = method.upper()
    url, version, segments, query = _graph_path(raw.get("url"), graph_endpoint, f"{field_name}.url")
    body = raw.get("body")
    if body is not None and not isinstance(body, dict):
        raise Rejected(f"{field_name}.body", "must be a JSON object")
    if body is not None and len(json.dumps(body, ensure_ascii=False).encode()) > MAX_BODY_BYTES:
        raise Rejected(f"{field_name}.body", f"larger than {MAX_BODY_BYTES} bytes of JSON")
    action = next((a for a in ACTIONS.values() if a.matches(method, version, segments)), None)
    refused = next((r for r in REFUSED if r.method == method and any(_fits(p, segments) for p in r.paths)), None)
    if refused is not None:
        raise Rejected(f"{field_name}.url", f"{refused.name} is refused: {refused.why}")
    if action is None:
        raise Rejected(f"{field_name}.url", f"{method} {urlsplit(url).path} is not a start action graphops knows; "
                                            "docs/start-actions.md lists them")  # fmt: skip
    bad_query = sorted({name for name, _ in query} - action.query)
    if bad_query:
        raise Rejected(f"{field_name}.url", f"{action.name} takes no query parameter {bad_query[0]!r}")
    if not action.kind.exists_in(version, cloud):
        what, where = action.kind.named_in(version, action.name), ", ".join(sorted(action.kind.clouds_for(version)))
        raise Rejected(f"{field_name}.url", f"{what} exists only in the Graph cloud(s) {where}, not {cloud}")
    if action.name not in enabled:
        raise ActionNotEnabled(
            f"{field_name}.url",
            f"{action.name} is not enabled in this deployment (GRAPHOPS_START_ACTIONS); enabling it lets graphops "
            f"{action.method} with its own identity, which needs {action.permission}",
        )
    for want, segment in _ids(action, segments):
        shape, what = ID_SHAPES[want]
        if shape.fullmatch(segment) is None:
            raise Rejected(f"{field_name}.url", f"{segment!r} is not {what}")
    action.body.check(body, f"{field_name}.body", export_accounts, CLOUDS[cloud].storage_suffix)
    return StartRequest(action, method, url, body)


def _ids(action: StartAction, segments: Sequence[str]) -> list[tuple[str, str]]:
    """The segments of the request's path that stand for ids in the action's path shape, each with its place
    ("{id}" or "{channel}")."""
    path = action.shape_of(segments) or ()
    return [(want, seg) for want, seg in zip(path, segments, strict=True) if want in ("{id}", CHANNEL)]


def _graph_path(raw: object, graph_endpoint: str, field_name: str) -> tuple[str, str, list[str], list[tuple[str, str]]]:
    """A Graph URL (absolute on the Graph host, or a path starting with its version): the URL to send, its
    version, its path segments (decoded once, OData keys split) and its query."""
    text = url_text(raw, field_name, MAX_URL_LENGTH)
    if text.startswith("//") or not (text.startswith("/") or "://" in text):
        raise Rejected(field_name, "must be a path starting with /v1.0/ or /beta/, or a URL on the Graph host")
    base = endpoint_base(graph_endpoint)
    url = parse_url(text, field_name, MAX_URL_LENGTH, base=base)
    if url.scheme != base.scheme or not on_graph_host(url, base):
        raise Rejected(field_name, f"must be on the configured Graph host {base.netloc}")
    segments = split_keys([unquote(seg) for seg in url.path.split("/")[1:]], field_name)
    if len(segments) < 2 or segments[0] not in V1_AND_BETA:
        raise Rejected(field_name, "must start with /v1.0/ or /beta/")
    try:
        query = parse_qsl(url.query, keep_blank_values=True, strict_parsing=bool(url.query))
    except ValueError:
        raise Rejected(field_name, "malformed query string") from None
    return urlunsplit((base.scheme, base.netloc, url.path, url.query, "")), segments[0], segments[1:], query


def parse_enabled(raw: str, setting: str = "GRAPHOPS_START_ACTIONS") -> frozenset[str]:
    """The setting's comma-separated action names. Each must be a known action: there is no wildcard, so a
    deployment grants exactly what it names."""
    from graphops.common.errors import SettingsError

    names = frozenset(name.strip() for name in raw.split(",") if name.strip())
    for name in sorted(names):
        if name not in ACTIONS:
            raise SettingsError(setting, f"{name!r} is not a start action; use some of {', '.join(ACTIONS)}")
    return names
