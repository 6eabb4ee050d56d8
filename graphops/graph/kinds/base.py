"""What every operation kind is: a path shape, a status field, the states that end it, a permission.

A kind is a small class with class attributes only; :class:`OperationKind` holds the behaviour they share.
Kinds are grouped by Graph family in the modules beside this one and registered in :mod:`graphops.graph.kinds`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal
from urllib.parse import unquote, urlsplit

from graphops.common.signed import withhold_signed_in

ALL_CLOUDS = frozenset({"global", "usgov", "usgovdod", "china"})
GLOBAL_ONLY = frozenset({"global"})
LONG_RUNNING_STATUS_END = frozenset({"succeeded", "failed"})  # longRunningOperationStatus
MAX_STATUS_CHARS = 256  # Graph's enum members are short words; anything much longer is not a status
#: What a tracking shows in place of a field whose value is a credential (a signed download link).
WITHHELD = "(a signed link: delivered to the tracking's sinks only, never kept or shown)"

# After one round of percent-decoding, an id may hold anything but separators, controls, blanks and '%' (a '%'
# left after decoding means double encoding, a classic way to smuggle a separator past a check). A quote is
# fine in a plain segment (a UPN like o'brien@contoso.com); inside an OData key `('…')` it is not.
ID = re.compile(r"[^\x00-\x20\x7f/\\?#%]+")


class OperationKind:
    """A kind of Graph long-running operation. Subclasses set the class attributes."""

    name: ClassVar[str]
    #: How Graph hands the work over. "location": a request answered 202 and its Location names an operation
    #: resource. "resourceStatus": the job is a resource of its own (an audit log query, a report export job)
    #: whose status changes; the URL graphops reads is the job's own.
    form: ClassVar[Literal["location", "resourceStatus"]] = "location"
    #: The path after the version segment; "{id}" marks one id segment, "a|b" one of these names, others are
    #: literal.
    path_template: ClassVar[tuple[str, ...]]
    versions: ClassVar[frozenset[str]] = frozenset({"v1.0", "beta"})
    #: A Location may come without a version (teams answers `/teams('…')/operations('…')`): read as v1.0.
    unversioned: ClassVar[bool] = False
    clouds: ClassVar[frozenset[str]] = ALL_CLOUDS
    #: Where a version exists in fewer clouds than the kind (v1.0 authentication operations: not in China).
    version_clouds: ClassVar[Mapping[str, frozenset[str]]] = {}
    #: The property that holds the status; `a.b` for one inside an object (a retention event's
    #: `eventStatus.status`), whose first part is what a `$select` names.
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
    #: A path under the job's own URL where its result is read once it succeeded (an audit query's records):
    #: the callback's ``resource``.
    result_path: ClassVar[str | None] = None
    #: Fields of Graph's body whose values are credentials (a report's signed download link): the tracking's
    #: sinks receive them, the state table, the status view, the console and the logs never do.
    secret_fields: ClassVar[frozenset[str]] = frozenset()
    #: The version to ask when this one refuses graphops' token (401/403): v1.0 authentication operations
    #: document delegated permissions only, their beta twin an application permission.
    forbidden_twin: ClassVar[tuple[str, str] | None] = None
    #: Where Graph puts a failed operation's error (a publicError), when not in ``error``; `a.b` as for the status.
    error_field: ClassVar[str] = "error"
    #: False: polled without any token, on the hosts GRAPHOPS_MONITOR_ALLOWED_HOSTS allows (drive copies).
    needs_token: ClassVar[bool] = True
    #: The URL's query values are credentials: never shown in a status view or a callback.
    secret_query: ClassVar[bool] = False
    #: The query parameters Graph itself puts in this kind's Location: kept when polling; any other is refused.
    query_parameters: ClassVar[frozenset[str]] = frozenset()
    #: The field with a percentage of progress, when the kind reports one.
    progress_field: ClassVar[str | None] = None
    #: Progress as counts instead: (the object's field, its total, the counts that are done).
    progress_counts: ClassVar[tuple[str, str, tuple[str, ...]] | None] = None
    #: The Graph path of the resource an operation creates, when it can be read to see that it is ready
    #: (``waitForResource``): "{id}" segments as in ``path_template``. None: the kind cannot wait for it.
    resource_path: ClassVar[tuple[str, ...] | None] = None
    #: Graph's own polling guidance for this service, in seconds: (shortest, longest) delay between polls.
    poll_delays: ClassVar[tuple[int, int] | None] = None
    #: Graph's own properties that tell how a result came out where the status alone does not (an audit query that
    #: stopped at its record limit still `succeeded`): carried as ``details`` by every delivery and the status view,
    #: and always asked for when a poll sends a `$select`.
    detail_fields: ClassVar[tuple[str, ...]] = ()
    #: The Graph service whose throttling limits this kind's polls count against (graphops.pacing.budget.LIMITS).
    service: ClassVar[str | None] = None
    #: A budget kept per resource too, beside the tenant's (Teams: 1 request a second per chat or channel): the
    #: service in LIMITS, and which id of ``path_template`` names the resource (0 is the first "{id}").
    resource_budget: ClassVar[tuple[str, int] | None] = None

    @classmethod
    def details_of(cls, body: object) -> dict[str, Any] | None:
        """The :attr:`detail_fields` Graph's body carries, as Graph sent them (plain values only); None when none."""
        job = cls.entity(body)
        if not cls.detail_fields or not isinstance(job, dict):
            return None
        found = {name: job[name] for name in cls.detail_fields if _plain(job.get(name))}
        return found or None

    @classmethod
    def tenant_named(cls, url: str) -> str | None:
        """The tenant id Graph writes into this kind's operation URL, where it writes one; None otherwise."""
        return None

    @classmethod
    def budget_scope(cls, url: str) -> str:
        """The resource a poll of ``url`` is budgeted per (a chat's id); "" for kinds that have no such budget."""
        if cls.resource_budget is None:
            return ""
        segments = [unquote(seg) for seg in urlsplit(url).path.split("/")[2:]]  # after the version
        ids = [seg for want, seg in zip(cls.path_template, segments, strict=False) if want == "{id}"]
        index = cls.resource_budget[1]
        return ids[index] if index < len(ids) else ""

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
    def entity(cls, body: Any) -> Any:
        """The operation in Graph's body. Several reference pages (audit queries, export jobs, telephone number and
        mail folder operations) show one wrapped as ``{"value": {…}}``: read either way."""
        if isinstance(body, dict) and cls.status_property() not in body:
            inner = body.get("value")
            if isinstance(inner, dict):
                return inner
        return body

    @classmethod
    def status_of(cls, body: object) -> str | None:
        """The operation's status from Graph's JSON body, or None when the body has none."""
        status = field_at(cls.entity(body), cls.status_field)
        if isinstance(status, str) and 0 < len(status) <= MAX_STATUS_CHARS:
            return status
        return None

    @classmethod
    def status_property(cls) -> str:
        """The top-level property that holds the status: the one a `$select` must name."""
        return cls.status_field.split(".", 1)[0]

    @classmethod
    def terminal_states(cls) -> frozenset[str]:
        return cls.succeeded_states | cls.partial_states | cls.failed_states

    @classmethod
    def is_terminal(cls, status: str) -> bool:
        # Evolvable enums: any value we do not know as terminal (unknownFutureValue included) is still running.
        # Compared exactly as the kind's Graph service spells it.
        return status in cls.terminal_states()

    @classmethod
    def resource_of(cls, body: object, url: str | None = None) -> str | None:
        """The created or affected resource's location (or id) when Graph names one; for a kind whose result is
        read under its own URL, that URL once the job succeeded."""
        if cls.result_path is not None:
            done = url is not None and cls.status_of(body) in cls.succeeded_states
            return f"{url.split('?', 1)[0]}/{cls.result_path}" if done and url else None
        if isinstance(body, dict):
            for name in cls.resource_fields:
                value = body.get(name)
                if isinstance(value, str) and value:
                    return value
        return None

    @classmethod
    def withheld(cls, body: Any) -> Any:
        """Graph's body as it may be kept and shown: the values of :attr:`secret_fields` replaced by a note, and
        every signed link anywhere in it withheld (graphops.common.signed), whatever the kind."""
        if cls.secret_fields and isinstance(body, dict):
            body = {k: WITHHELD if k in cls.secret_fields and v is not None else v for k, v in body.items()}
        return withhold_signed_in(body)

    @classmethod
    def clouds_for(cls, version: str) -> frozenset[str]:
        """The Graph clouds where this kind exists in ``version``."""
        return cls.clouds & cls.version_clouds.get(version, cls.clouds)

    @classmethod
    def exists_in(cls, version: str, cloud: str) -> bool:
        return cloud in cls.clouds_for(version)

    @classmethod
    def named_in(cls, version: str, name: str) -> str:
        """``name`` (the kind's, or a start action's) as a refusal says it: with the version when the version,
        not the kind, is what a cloud lacks."""
        return f"{version} {name}" if version in cls.version_clouds else name

    @classmethod
    def progress_of(cls, body: object) -> float | None:
        """Percent complete, 0 to 100, when the kind reports it (some send it as a string, some as counts)."""
        if cls.progress_counts is not None and isinstance(body, dict):
            return _percent_of_counts(body.get(cls.progress_counts[0]), *cls.progress_counts[1:])
        if cls.progress_field is None or not isinstance(body, dict):
            return None
        raw = body.get(cls.progress_field)
        if isinstance(raw, bool):
            return None
        try:
            value = float(raw) if isinstance(raw, int | float | str) else None
        except (ValueError, OverflowError):  # "abc", or an integer too large for a float
            return None
        return value if value is not None and 0 <= value <= 100 else None


def field_at(body: object, path: str) -> object:
    """The value at ``path`` in Graph's JSON (`a.b`: property `b` of the object in `a`); None where there is none."""
    for name in path.split("."):
        if not isinstance(body, dict):
            return None
        body = body.get(name)
    return body


def _plain(value: object) -> bool:
    """A value a detail may carry: a flag, a number or a short word, never an object a kind did not expect."""
    return isinstance(value, bool | int | float) or (isinstance(value, str) and len(value) <= MAX_STATUS_CHARS)


def segment_matches(want: str, seg: str) -> bool:
    """``{id}``: one id; ``a|b``: one of these names; anything else: that name (names without case)."""
    if want == "{id}":
        return ID.fullmatch(seg) is not None and seg not in {".", ".."}
    return seg.lower() in {alternative.lower() for alternative in want.split("|")}


def _percent_of_counts(counts: object, total: str, done: tuple[str, ...]) -> float | None:
    if not isinstance(counts, dict):
        return None
    values = [counts.get(name) for name in (total, *done)]
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values):
        return None
    whole, *parts = values
    assert isinstance(whole, int)
    finished = sum(v for v in parts if isinstance(v, int))
    # Whole numbers to the end: Graph's counts may be any size, and a float of a huge one overflows.
    return (finished * 1000 // whole) / 10 if whole and finished <= whole else None
