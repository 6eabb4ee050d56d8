"""The envelope's wire format: a tracking read back from the queue, its URLs checked again.

A later step's message is graphops' own (sealed, :mod:`graphops.storage.seal`), but what it carries is read as
data all the same: the operation and callback URLs go through the deployment's checks again, and anything
damaged is a :class:`~graphops.common.errors.Rejected` naming the field.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Protocol

from graphops.common.errors import Rejected
from graphops.common.json_text import read_json
from graphops.egress.policy import CallbackPolicy
from graphops.envelope.tracking import (
    MAX_RECORDED_STEP_IDS,
    SINKS,
    WIRE_VERSION,
    Delivery,
    ErrorInfo,
    Outcome,
    Phase,
    Tracking,
    checked_tracking_id,
    moment_or_none,
    new_step_id,
)
from graphops.graph.kinds import KINDS, OperationKind, OperationRef, validate_select


class UrlChecks(Protocol):
    """What reading an envelope asks of the deployment: the URLs it carries are checked again, as on intake
    (:class:`graphops.intake.limits.Limits` is one)."""

    @property
    def callbacks(self) -> CallbackPolicy: ...

    def resolve(self, raw: object) -> OperationRef: ...


# W3C Trace Context, version 00: the producer's span, which the tracking's trace continues.
TRACEPARENT = re.compile(r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}")


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
    doc = read_json(text, "message")  # nesting and numbers graphops cannot carry: refused naming the field
    if not isinstance(doc, dict):
        raise Rejected("message", "must be a JSON object")
    return doc


def traceparent_or_none(raw: object) -> str | None:
    """An envelope's trace context: a damaged one costs the trace, never the tracking."""
    return raw if isinstance(raw, str) and TRACEPARENT.fullmatch(raw) else None


def from_wire(doc: dict[str, Any], limits: UrlChecks) -> Tracking:
    """Read an envelope written by :meth:`Tracking.to_wire`, re-checking the URLs it carries."""
    if doc.get("v") != WIRE_VERSION:
        raise Rejected("v", f"unsupported envelope version {doc.get('v')!r}; this graphops reads {WIRE_VERSION}")
    try:
        operation_url, kind = _operation_of(doc, limits)
        return Tracking(
            tracking_id=checked_tracking_id(doc["trackingId"]),
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
            tenant_id=_tenant_id(doc.get("tenantId")),
            waits_past=_waits_past(doc.get("waitsPast"), kind),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise Rejected("message", f"damaged envelope ({type(exc).__name__}: {exc})") from None


def _waits_past(raw: object, kind: type[OperationKind]) -> frozenset[str]:
    """The ends an envelope's tracking polls past: some of its kind's ends, nothing else."""
    if raw is None:
        return frozenset()
    if isinstance(raw, list) and all(isinstance(status, str) for status in raw) and set(raw) <= kind.terminal_states():
        return frozenset(raw)
    raise ValueError(f"waitsPast: some of {kind.name}'s ends")


def _tenant_id(raw: object) -> str | None:
    """An envelope's tenant, as intake wrote it (a lower-case GUID); None for the home tenant."""
    if raw is None:
        return None
    try:
        if isinstance(raw, str) and str(uuid.UUID(raw)) == raw:
            return raw
    except ValueError:
        pass
    raise ValueError("tenantId: a lower-case tenant id")


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


def _operation_of(doc: dict[str, Any], limits: UrlChecks) -> tuple[str | None, type[OperationKind]]:
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


def _error(raw: object) -> ErrorInfo | None:
    if isinstance(raw, dict):
        return ErrorInfo(str(raw.get("code", "")), str(raw.get("message", "")))
    return None


def _parse_time(raw: str) -> datetime:
    value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError(f"time without zone: {raw!r}")
    return value
