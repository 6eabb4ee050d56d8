"""The tracking envelope: what travels on the queue between steps, and its versioned wire format.

A producer puts a *request* on the queue (the documented message: operationUrl, callbackUrl, ...).
The first step turns it into a :class:`Tracking`, and every later step reads and writes the
versioned envelope (``"v": 1``). Both forms are parsed here and nowhere else.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from .actions import StartRequest, parse_start
from .callbacks import CallbackPolicy
from .errors import Rejected
from .kinds import KINDS, OperationKind, OperationRef, resolve_operation_url, validate_select
from .logs import redact_url
from .text import has_lone_surrogate, scrubbed

WIRE_VERSION = 1
# Step ids a message carries for its gate while state writes fail (graphops.state.StateStore.gate).
MAX_RECORDED_STEP_IDS = 32
# A queue message holds 64 KiB once base64-encoded: about 48 KiB of JSON. Keep requests well inside that,
# so the envelope, which adds Graph's last answer and bookkeeping, always fits when it is re-enqueued.
MAX_REQUEST_BYTES = 32 * 1024
MAX_CONTEXT_BYTES = 16 * 1024
MAX_OPERATION_BYTES = 8 * 1024
MAX_CORRELATION_ID_LENGTH = 256
MAX_HISTORY = 100  # entries per tracking in its state (each step adds one, each delivery attempt one)
REQUEST_FIELDS = frozenset(
    {"operationUrl", "callbackUrl", "correlationId", "context", "timeoutSeconds", "select", "waitForResource",
     "notify", "traceparent"}
)  # fmt: skip
# W3C Trace Context, version 00: the producer's span, which the tracking's trace continues.
TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")
# Where a finished tracking is delivered, and the setting that configures each (the callback: the message).
SINKS = ("callback", "events", "queue")
SINK_SETTINGS = {"callback": "callbackUrl", "events": "GRAPHOPS_EVENT_GRID_ENDPOINT", "queue": "GRAPHOPS_RESULTS_QUEUE"}
# A start message names the Graph request graphops sends (``start``) instead of an operation URL; the
# attempts count is graphops' own, for a start Graph throttled.
START_FIELDS = (REQUEST_FIELDS - {"operationUrl"}) | {"start", "startAttempts"}


class Phase(StrEnum):
    POLLING = "polling"
    AWAITING_RESOURCE = "awaitingResource"  # succeeded; waiting until the created resource answers
    DELIVERING = "delivering"
    DONE = "done"


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    PARTIALLY_SUCCEEDED = "partiallySucceeded"  # eDiscovery: some of the work succeeded
    FAILED = "failed"
    TIMED_OUT = "timedOut"
    NOT_FOUND = "notFound"
    FORBIDDEN = "forbidden"
    REJECTED = "rejected"
    ERROR = "error"
    CANCELLED = "cancelled"  # unsubscribed over HTTP: kept in the state, never called back


@dataclass(frozen=True)
class ErrorInfo:
    code: str
    message: str

    def to_json(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD_LETTERED = "deadLettered"


@dataclass(frozen=True)
class Delivery:
    """Where one sink's delivery of a tracking stands."""

    attempts: int = 0
    state: DeliveryState = DeliveryState.PENDING
    error: str | None = None  # the last failure's reason

    def to_json(self) -> dict[str, Any]:
        return {"state": str(self.state), "attempts": self.attempts, "error": self.error}

    @classmethod
    def from_json(cls, raw: Any) -> Delivery:
        if not isinstance(raw, dict):
            raise ValueError(f"not a delivery: {raw!r}")
        return cls(int(raw.get("attempts", 0)), DeliveryState(raw.get("state", "pending")), raw.get("error"))


def new_step_id() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True)
class Tracking:
    """One operation being waited on, from its first step to its delivered outcome."""

    tracking_id: str
    operation_url: str | None  # None: Graph finished at once when graphops started it (nothing to poll)
    kind: type[OperationKind]
    callback_url: str | None = field(repr=False)  # its query string is a credential (Logic Apps' sig=)
    tracked_since: datetime
    deadline: datetime
    correlation_id: str | None = None
    context: dict[str, Any] | None = None
    select: tuple[str, ...] = ()
    wait_for_resource: bool = False  # after success, poll the created resource until it answers 200
    resource_ready: bool | None = None  # what that wait found; None when nobody asked
    phase: Phase = Phase.POLLING
    polls: int = 0
    last_status: str | None = None
    operation: Any = None  # Graph's last body, as Graph sent it
    last_error: ErrorInfo | None = None
    outcome: Outcome | None = None
    error: ErrorInfo | None = None
    finished_at: datetime | None = None
    notify: tuple[str, ...] = ("callback",)  # the sinks this tracking is delivered to (see SINKS)
    deliveries: Mapping[str, Delivery] = field(default_factory=dict)  # by sink; a sink not here is pending
    stateful: bool = False  # subscribed over HTTP: its state is kept in the table
    not_found_streak: int = 0  # Graph's 404 answers in a row, up to the last poll
    # A wait longer than a queue message can stay invisible (Graph's Retry-After of days): the step wakes up
    # early, sees this, and goes back to sleep without asking Graph.
    not_before: datetime | None = None
    step: int = 0  # how many steps ran before this one (for people reading the state)
    # Names this step's message. The state holds the id of the one live message; a message with
    # another id is a duplicate or the orphan of a crash, and is dropped (see StateStore.gate).
    step_id: str = field(default_factory=new_step_id)
    # The id of the step that sent this message. A step whose predecessor is the one the state names may run
    # even though the state does not name it: the predecessor's state write failed after it had queued us.
    recorded_step_ids: tuple[str, ...] = ()
    # The version of the state this step read (an ETag), so its merge cannot overwrite a cancel that came
    # in meanwhile. In memory only: never on the wire.
    state_etag: str | None = field(default=None, compare=False, repr=False)
    # What the state named when this step read it: (its live step id,), () for none, None when it could not be read.
    # In memory only: next_step turns it into the successor's recorded_step_ids.
    state_names: tuple[str, ...] | None = field(default=None, compare=False, repr=False)
    # Where the state's index had this tracking standing when this step read it (None: nothing read). In memory
    # only: the step's record moves the index only when the standing changed.
    state_standing: str | None = field(default=None, compare=False, repr=False)
    # The tracking's trace: its root span's W3C traceparent (the API call or the producer that asked for it, or
    # else its first step), and the span of the step that queued this message (a link, for the next step).
    traceparent: str | None = None
    step_span: str | None = None
    # When this message was meant to run (sent with a visibility delay): how late it ran is the queue's backlog.
    due_at: datetime | None = None
    # What each step saw and did (time, HTTP status, Graph status, delay, deliveries), kept in the state for
    # people reading it, never on the wire. None: the state was not read, so this step writes none.
    history: tuple[dict[str, Any], ...] | None = field(default=None, compare=False, repr=False)

    def noted(self, **entry: Any) -> Tracking:
        """This tracking with one more history entry (the newest MAX_HISTORY are kept)."""
        if self.history is None:
            return self
        compact = {k: v for k, v in entry.items() if v is not None}
        return replace(self, history=(*self.history, compact)[-MAX_HISTORY:])

    def seen(
        self, status: str | None, operation: Any, problem: ErrorInfo | None, *, not_found: bool = False
    ) -> Tracking:
        """This tracking after one more poll: Graph's status and body when it gave one, else the problem."""
        return replace(
            self,
            polls=self.polls + 1,
            last_status=status or self.last_status,
            operation=_bounded_operation(operation) if status else self.operation,
            last_error=problem,
            not_found_streak=self.not_found_streak + 1 if not_found else 0,
            not_before=None,
        )

    def delivery(self, sink: str) -> Delivery:
        return self.deliveries.get(sink, Delivery())

    def pending_sinks(self) -> tuple[str, ...]:
        return tuple(s for s in self.notify if self.delivery(s).state is DeliveryState.PENDING)

    @property
    def delivery_attempts(self) -> int:
        """Attempts over every sink."""
        return sum(self.delivery(s).attempts for s in self.notify)

    @property
    def last_delivery_error(self) -> str | None:
        """The reason a sink is not delivered yet (or never will be), the first such in ``notify``'s order."""
        for delivery in map(self.delivery, self.notify):
            if delivery.state is DeliveryState.DEAD_LETTERED:
                return f"dead-lettered: {delivery.error}"
            if delivery.state is DeliveryState.PENDING and delivery.error:
                return delivery.error
        return None

    @property
    def delivered_somewhere(self) -> bool:
        return any(self.delivery(s).state is DeliveryState.DELIVERED for s in self.notify)

    @property
    def polled_select(self) -> tuple[str, ...]:
        """The `$select` a poll sends: the caller's properties, with the kind's status property first."""
        return (self.kind.status_field, *self.select) if self.select else ()

    @property
    def shown_operation_url(self) -> str | None:
        """The operation URL fit for a callback or a status view: a monitor's credentials cut from it."""
        if self.operation_url is None or not self.kind.secret_query:
            return self.operation_url
        return redact_url(self.operation_url)

    def finish(self, outcome: Outcome, error: ErrorInfo | None, now: datetime) -> Tracking:
        return replace(self, phase=Phase.DELIVERING, outcome=outcome, error=error, finished_at=now)

    def callback_body(self) -> dict[str, Any]:
        """The JSON POSTed to the callback URL; identical on every attempt."""
        assert self.outcome is not None and self.finished_at is not None
        return callback_document(
            trackingId=self.tracking_id,
            outcome=str(self.outcome),
            kind=self.kind.name,
            operationUrl=self.shown_operation_url,
            resource=self.kind.resource_of(self.operation, self.operation_url),
            progress=self.kind.progress_of(self.operation),
            resourceReady=self.resource_ready,
            operation=self.operation,
            error=self.error.to_json() if self.error else None,
            correlationId=self.correlation_id,
            context=self.context,
            polls=self.polls,
            trackedSince=iso(self.tracked_since),
            finishedAt=iso(self.finished_at),
        )

    def to_wire(self) -> str:
        doc: dict[str, Any] = {
            "v": WIRE_VERSION,
            "trackingId": self.tracking_id,
            "kind": self.kind.name,
            "operationUrl": self.operation_url,
            "callbackUrl": self.callback_url,
            "correlationId": self.correlation_id,
            "context": self.context,
            "select": list(self.select),
            "waitForResource": self.wait_for_resource,
            "resourceReady": self.resource_ready,
            "trackedSince": iso(self.tracked_since),
            "deadline": iso(self.deadline),
            "phase": str(self.phase),
            "polls": self.polls,
            "lastStatus": self.last_status,
            "operation": self.operation,
            "lastError": self.last_error.to_json() if self.last_error else None,
            "outcome": str(self.outcome) if self.outcome else None,
            "error": self.error.to_json() if self.error else None,
            "finishedAt": iso(self.finished_at) if self.finished_at else None,
            "notify": list(self.notify),
            "deliveries": {sink: delivery.to_json() for sink, delivery in self.deliveries.items()},
            "notFoundStreak": self.not_found_streak,
            "notBefore": iso(self.not_before) if self.not_before else None,
            "stateful": self.stateful,
            "step": self.step,
            "stepId": self.step_id,
            "recordedStepIds": list(self.recorded_step_ids) or None,
            "traceparent": self.traceparent,
            "stepSpan": self.step_span,
            "dueAt": iso(self.due_at) if self.due_at else None,
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


CALLBACK_FIELDS = ("trackingId", "outcome", "kind", "operationUrl", "resource", "progress", "resourceReady",
                   "operation", "error", "correlationId", "context", "polls", "trackedSince", "finishedAt")  # fmt: skip


def callback_document(**values: Any) -> dict[str, Any]:
    """A callback's JSON: every field present, in one order, null where this outcome has nothing to say."""
    unknown = set(values) - set(CALLBACK_FIELDS)
    assert not unknown, f"not callback fields: {unknown}"
    return {name: values.get(name) for name in CALLBACK_FIELDS}


@dataclass(frozen=True)
class Limits:
    """What a request is checked against: the deployment's Graph endpoint, callback rules and defaults."""

    graph_endpoint: str
    callbacks: CallbackPolicy
    default_timeout_seconds: int
    max_timeout_seconds: int
    cloud: str = "global"  # the Graph cloud: some kinds exist in the global cloud only
    sinks: frozenset[str] = frozenset({"callback"})  # the sinks this deployment can deliver to
    monitors: CallbackPolicy | None = None  # where drive-copy monitors may be polled (without a token)
    start_actions: frozenset[str] = frozenset()  # GRAPHOPS_START_ACTIONS: what graphops may start itself
    export_storage_accounts: frozenset[str] = frozenset()  # GRAPHOPS_EXPORT_STORAGE_ACCOUNTS: where exports may go

    def resolve(self, raw: object) -> OperationRef:
        """An operation URL checked against this deployment: its Graph host and cloud, its monitor hosts."""
        return resolve_operation_url(raw, self.graph_endpoint, self.cloud, self.monitors)

    def start(self, raw: object, field_name: str = "start") -> StartRequest:
        """A start request checked against this deployment: a known action, enabled here, on its Graph host."""
        return parse_start(
            raw, self.graph_endpoint, self.cloud, self.start_actions, field_name, self.export_storage_accounts
        )


def parse_body(body: bytes | str) -> dict[str, Any]:
    """Bytes off the queue to a JSON object, or :class:`Rejected` saying why not."""
    if isinstance(body, bytes):
        if len(body) > 64 * 1024:
            raise Rejected("message", "larger than a queue message can be (64 KiB)")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected("message", "not UTF-8 text") from None
    else:
        text = body
    try:
        doc = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        raise Rejected("message", "not valid JSON") from None
    if not isinstance(doc, dict):
        raise Rejected("message", "must be a JSON object")
    return doc


def next_step(tracking: Tracking) -> Tracking:
    """The tracking as the message after this one carries it, with the step ids its state may still name.

    A step queues its successor, then records it in the state; that write can fail, any number of times in a row.
    The successor carries what the state named when this step read it: its gate lets it run when the state names
    it or still names that step. When this step could not read the state at all, the successor carries every id
    the state may name (the newest ``MAX_RECORDED_STEP_IDS``): those its predecessors carried, and this step's.
    """
    if not tracking.stateful:
        recorded: tuple[str, ...] = ()
    elif tracking.state_names is None:
        recorded = (*tracking.recorded_step_ids, tracking.step_id)[-MAX_RECORDED_STEP_IDS:]
    else:
        recorded = tracking.state_names
    return replace(tracking, step=tracking.step + 1, step_id=new_step_id(), recorded_step_ids=recorded,
                   state_names=None)  # fmt: skip


def request_problems(
    doc: dict[str, Any], limits: Limits, start_field: str | None = None
) -> tuple[dict[str, Any], list[Rejected]]:
    """Check every field of a request; returns the parsed values and one :class:`Rejected` per bad field.

    With ``start_field`` the request names a Graph request to start (under that name) instead of an operation URL.
    """
    values: dict[str, Any] = {}
    problems: list[Rejected] = []

    def check(name: str, parse: Callable[[], Any]) -> None:
        try:
            values[name] = parse()
        except Rejected as exc:
            problems.append(exc)

    fields = REQUEST_FIELDS if start_field is None else (START_FIELDS - {"start"}) | {start_field}
    # trackingId and notBefore come in graphops' own sealed start messages only (graphops.seal).
    unencodable = sorted(scrubbed(name) for name, value in doc.items() if has_lone_surrogate([name, value]))
    if unencodable:  # nothing else can be checked of it: it cannot even be measured as UTF-8
        return values, [Rejected(name, "holds text that is not valid Unicode (a lone UTF-16 surrogate)")
                        for name in unencodable]  # fmt: skip
    for unknown in sorted(set(doc) - fields - {"trackingId", "notBefore"}):
        problems.append(Rejected(unknown, f"unknown field; expected some of {', '.join(sorted(fields))}"))
    if len(json.dumps(doc, ensure_ascii=False).encode()) > MAX_REQUEST_BYTES:
        problems.append(Rejected("message", f"larger than {MAX_REQUEST_BYTES} bytes of JSON"))
    if start_field is None:
        check("operationUrl", lambda: limits.resolve(doc.get("operationUrl")))
    else:
        check(start_field, lambda: limits.start(doc.get(start_field), start_field))
        check("startAttempts", lambda: _attempts(doc.get("startAttempts", 0)))
    check("callbackUrl", lambda: _callback(doc.get("callbackUrl"), doc.get("notify"), limits))
    check("notify", lambda: _notify(doc.get("notify"), doc.get("callbackUrl") is not None, limits.sinks))
    check("correlationId", lambda: _correlation_id(doc.get("correlationId")))
    check("context", lambda: _context(doc.get("context")))
    check("timeoutSeconds", lambda: _timeout(doc.get("timeoutSeconds", limits.default_timeout_seconds), limits))
    check("select", lambda: validate_select(doc.get("select")))
    check("waitForResource", lambda: _flag("waitForResource", doc.get("waitForResource", False)))
    check("traceparent", lambda: _traceparent(doc.get("traceparent")))
    if doc.get("trackingId") is not None:
        check("trackingId", lambda: _tracking_id(doc["trackingId"]))
    return values, problems


def from_request(doc: dict[str, Any], tracking_id: str, now: datetime, limits: Limits) -> Tracking:
    """Validate a producer's request (the documented message) and start a tracking for it."""
    values, problems = request_problems(doc, limits)
    if problems:
        raise problems[0]
    ref = values["operationUrl"]
    return _tracking(values, tracking_id, now, ref.url, ref.kind)


def from_start_request(
    doc: dict[str, Any], tracking_id: str, now: datetime, limits: Limits, start_field: str = "start"
) -> tuple[Tracking, StartRequest]:
    """Validate a request to start a Graph operation: the tracking (its operation URL not known until Graph
    answers) and the Graph request to send."""
    values, problems = request_problems(doc, limits, start_field)
    if problems:
        raise problems[0]
    start: StartRequest = values[start_field]
    return _tracking(values, tracking_id, now, None, start.action.kind), start


def start_attempts(doc: dict[str, Any]) -> int:
    """How many times a start message was already sent to Graph and throttled (graphops' own count)."""
    raw = doc.get("startAttempts", 0)
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else 0


def _tracking(
    values: dict[str, Any], tracking_id: str, now: datetime, operation_url: str | None, kind: type[OperationKind]
) -> Tracking:
    return Tracking(
        tracking_id=values.get("trackingId", tracking_id),
        operation_url=operation_url,
        kind=kind,
        callback_url=values["callbackUrl"],
        notify=values["notify"],
        tracked_since=now,
        deadline=now + timedelta(seconds=values["timeoutSeconds"]),
        correlation_id=values["correlationId"],
        context=values["context"],
        select=values["select"],
        wait_for_resource=values["waitForResource"],
        traceparent=values["traceparent"],
    )


def _traceparent(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not TRACEPARENT.fullmatch(raw):
        raise Rejected("traceparent", "must be a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>")
    return raw


def traceparent_or_none(raw: object) -> str | None:
    """An envelope's trace context: a damaged one costs the trace, never the tracking."""
    return raw if isinstance(raw, str) and TRACEPARENT.fullmatch(raw) else None


def _callback(raw: object, notify: object, limits: Limits) -> str | None:
    """The callback URL: required unless another sink is configured (and ``notify`` does not name callback)."""
    named = isinstance(notify, list) and "callback" in notify
    if raw is None and not named and (isinstance(notify, list) or limits.sinks - {"callback"}):
        return None  # another sink is asked for (a notify without callback is checked on its own)
    url = limits.callbacks.check_syntax(raw)
    if isinstance(notify, list) and "callback" not in notify:
        raise Rejected("callbackUrl", "given, but notify does not name callback")
    return url


def _notify(raw: object, has_callback: bool, configured: frozenset[str]) -> tuple[str, ...]:
    """The sinks to deliver to: as the request names them, or every configured one (the callback if given)."""
    if raw is None:
        # Nothing chosen happens only without a callbackUrl and without other sinks: callbackUrl says so.
        return tuple(s for s in SINKS if s in configured and (s != "callback" or has_callback))
    if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
        raise Rejected("notify", f"must be a non-empty list of {', '.join(SINKS)}")
    for sink in raw:
        if sink not in SINKS:
            raise Rejected("notify", f"{sink!r} is not a sink; use some of {', '.join(SINKS)}")
        if sink not in configured:
            raise Rejected("notify", f"{sink}: not configured in this deployment ({SINK_SETTINGS[sink]})")
    return tuple(dict.fromkeys(raw))


def _attempts(raw: object) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 100:
        raise Rejected("startAttempts", "must be a whole number from 0 to 100")
    return raw


def _flag(name: str, raw: object) -> bool:
    if not isinstance(raw, bool):
        raise Rejected(name, "must be true or false")
    return raw


def _correlation_id(raw: object) -> str | None:
    if raw is not None and (not isinstance(raw, str) or len(raw) > MAX_CORRELATION_ID_LENGTH):
        raise Rejected("correlationId", f"must be a string of at most {MAX_CORRELATION_ID_LENGTH} characters")
    return raw


def _context(raw: object) -> dict[str, Any] | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise Rejected("context", "must be a JSON object")
    if len(json.dumps(raw, ensure_ascii=False).encode()) > MAX_CONTEXT_BYTES:
        raise Rejected("context", f"larger than {MAX_CONTEXT_BYTES} bytes of JSON")
    return raw


def _timeout(raw: object, limits: Limits) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= limits.max_timeout_seconds:
        raise Rejected("timeoutSeconds", f"must be a whole number of seconds from 1 to {limits.max_timeout_seconds}")
    return raw


def from_wire(doc: dict[str, Any], limits: Limits) -> Tracking:
    """Read an envelope written by :meth:`Tracking.to_wire`, re-checking the URLs it carries."""
    if doc.get("v") != WIRE_VERSION:
        raise Rejected("v", f"unsupported envelope version {doc.get('v')!r}; this graphops reads {WIRE_VERSION}")
    try:
        operation_url, kind = _operation_of(doc, limits)
        return Tracking(
            tracking_id=_tracking_id(doc["trackingId"]),
            operation_url=operation_url,
            kind=kind,
            callback_url=limits.callbacks.check_syntax(doc["callbackUrl"]) if doc.get("callbackUrl") else None,
            correlation_id=doc.get("correlationId"),
            context=doc.get("context"),
            select=validate_select(doc.get("select") or None),
            wait_for_resource=bool(doc.get("waitForResource", False)),
            resource_ready=doc.get("resourceReady") if isinstance(doc.get("resourceReady"), bool) else None,
            tracked_since=_parse_time(doc["trackedSince"]),
            deadline=_parse_time(doc["deadline"]),
            phase=Phase(doc["phase"]),
            polls=int(doc["polls"]),
            last_status=doc.get("lastStatus"),
            operation=doc.get("operation"),
            last_error=_error(doc.get("lastError")),
            outcome=Outcome(doc["outcome"]) if doc.get("outcome") else None,
            error=_error(doc.get("error")),
            finished_at=_parse_time(doc["finishedAt"]) if doc.get("finishedAt") else None,
            notify=_wire_notify(doc),
            deliveries=_wire_deliveries(doc),
            not_found_streak=int(doc.get("notFoundStreak") or 0),
            not_before=_parse_time(doc["notBefore"]) if doc.get("notBefore") else None,
            stateful=bool(doc.get("stateful", False)),
            step=int(doc.get("step", 0)),
            step_id=str(doc.get("stepId") or new_step_id()),
            recorded_step_ids=_recorded_step_ids(doc),
            traceparent=traceparent_or_none(doc.get("traceparent")),
            step_span=traceparent_or_none(doc.get("stepSpan")),
            due_at=moment_or_none(doc.get("dueAt")),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected("message", f"damaged envelope ({type(exc).__name__}: {exc})") from None


def _recorded_step_ids(doc: dict[str, Any]) -> tuple[str, ...]:
    raw = doc.get("recordedStepIds")
    if raw is None:  # an envelope of an earlier version: it knew its predecessor only
        return (str(doc["previousStepId"]),) if doc.get("previousStepId") else ()
    if not isinstance(raw, list) or len(raw) > MAX_RECORDED_STEP_IDS or not all(isinstance(i, str) for i in raw):
        raise ValueError("recordedStepIds: a list of step ids")
    return tuple(raw)


def _wire_notify(doc: dict[str, Any]) -> tuple[str, ...]:
    notify = tuple(doc.get("notify") or ("callback",))
    if not notify or any(sink not in SINKS for sink in notify):
        raise ValueError(f"notify: {notify!r}")
    if "callback" in notify and not doc.get("callbackUrl"):
        raise ValueError("notify names callback, but there is no callbackUrl")
    return notify


def _wire_deliveries(doc: dict[str, Any]) -> dict[str, Delivery]:
    if "deliveries" in doc:
        return {str(sink): Delivery.from_json(raw) for sink, raw in (doc["deliveries"] or {}).items()}
    # Envelopes written before there were sinks: the callback's attempts, as they were counted then.
    error = doc.get("lastDeliveryError")
    return {"callback": Delivery(int(doc.get("deliveryAttempts") or 0), error=error)}


def _operation_of(doc: dict[str, Any], limits: Limits) -> tuple[str | None, type[OperationKind]]:
    """An envelope's operation URL (checked again) and kind. Only a finished tracking may have no URL: Graph did
    the work at once when graphops started it."""
    if doc["operationUrl"] is None:
        kind = KINDS.get(doc["kind"])
        if kind is None or Phase(doc["phase"]) not in {Phase.DELIVERING, Phase.DONE} or not doc.get("outcome"):
            raise Rejected("operationUrl", "missing; only a tracking that finished when it started has none")
        return None, kind
    ref = limits.resolve(doc["operationUrl"])
    if KINDS.get(doc["kind"]) is not ref.kind:
        raise Rejected("kind", f"{doc['kind']!r} does not match the operation URL")
    return ref.url, ref.kind


# ASCII only: the id travels in the webhook-id header, which HTTP carries as Latin-1 at best.
TRACKING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_tracking_id(raw: object) -> bool:
    return isinstance(raw, str) and TRACKING_ID.fullmatch(raw) is not None


def _tracking_id(raw: object) -> str:
    if not is_tracking_id(raw):
        raise Rejected("trackingId", "must be 1-64 ASCII letters, digits, '-' or '_'")
    assert isinstance(raw, str)
    return raw


def _error(raw: object) -> ErrorInfo | None:
    if isinstance(raw, dict):
        return ErrorInfo(str(raw.get("code", "")), str(raw.get("message", "")))
    return None


def _bounded_operation(body: Any) -> Any:
    # Graph's operation bodies are small; should one ever not be, keep what the caller needs and say so,
    # rather than build an envelope too large to re-enqueue.
    if len(json.dumps(body, ensure_ascii=False).encode()) <= MAX_OPERATION_BYTES:
        return body
    keep = {
        k: body[k] for k in ("id", "status", "resourceLocation", "statusDetail") if isinstance(body, dict) and k in body
    }
    return {**keep, "@graphops.truncated": True}


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def moment_or_none(raw: object) -> datetime | None:
    """A time in a document not trusted to be well formed (a history entry, Graph's body, an envelope's
    ``dueAt``): ISO 8601, ``Z`` allowed, read as UTC when it has no zone; None when it is not one."""
    if not isinstance(raw, str):
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _parse_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without zone: {raw!r}")
    return value
