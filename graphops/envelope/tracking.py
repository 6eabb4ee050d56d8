"""The tracking: one operation being waited on, as every step of it reads and writes it.

:class:`Tracking` is what travels on the queue between steps (:mod:`graphops.envelope.wire` reads it back) and
what the callback, the events and the status view are made from. Its enums name the phases and outcomes that
every surface shows.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from graphops.common.errors import Rejected
from graphops.common.logs import redact_url
from graphops.graph.kinds import OperationKind

WIRE_VERSION = 1
# Step ids a message carries for its gate while state writes fail (graphops.storage.state.StateStore.gate).
MAX_RECORDED_STEP_IDS = 32
MAX_OPERATION_BYTES = 8 * 1024
MAX_HISTORY = 100  # entries per tracking in its state (each step adds one, each delivery attempt one)
# Where a finished tracking is delivered, and the setting that configures each (the callback: the message).
SINKS = ("callback", "events", "queue")
SINK_SETTINGS = {"callback": "callbackUrl", "events": "GRAPHOPS_EVENT_GRID_ENDPOINT", "queue": "GRAPHOPS_RESULTS_QUEUE"}


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
    # The customer tenant the operation is in (GRAPHOPS_TENANTS); None for the identity's home tenant. Its polls
    # and its start use that tenant's token only.
    tenant_id: str | None = None
    # Ends of the kind this tracking polls past: its start moved a job on from one of them (a cross-tenant
    # migration's migrate, sent while the job still reads validatePassed), so reading it is no end of this wait.
    waits_past: frozenset[str] = frozenset()

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
        wanted = (self.kind.status_property(), *self.kind.detail_fields, *self.select)
        return tuple(dict.fromkeys(wanted)) if self.select else ()

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
            details=self.kind.details_of(self.operation),
            resourceReady=self.resource_ready,
            operation=self.operation,
            error=self.error.to_json() if self.error else None,
            correlationId=self.correlation_id,
            context=self.context,
            tenantId=self.tenant_id,
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
            "tenantId": self.tenant_id,
            "waitsPast": sorted(self.waits_past) or None,
        }
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


CALLBACK_FIELDS = ("trackingId", "outcome", "kind", "operationUrl", "resource", "progress", "details",
                   "resourceReady", "operation", "error", "correlationId", "context", "tenantId", "polls",
                   "trackedSince", "finishedAt")  # fmt: skip


def callback_document(**values: Any) -> dict[str, Any]:
    """A callback's JSON: every field present, in one order, null where this outcome has nothing to say."""
    unknown = set(values) - set(CALLBACK_FIELDS)
    assert not unknown, f"not callback fields: {unknown}"
    return {name: values.get(name) for name in CALLBACK_FIELDS}


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


# ASCII only: the id travels in the webhook-id header, which HTTP carries as Latin-1 at best.
TRACKING_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


def is_tracking_id(raw: object) -> bool:
    return isinstance(raw, str) and TRACKING_ID.fullmatch(raw) is not None


def checked_tracking_id(raw: object) -> str:
    if not is_tracking_id(raw):
        raise Rejected("trackingId", "must be 1-64 ASCII letters, digits, '-' or '_'")
    assert isinstance(raw, str)
    return raw


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
