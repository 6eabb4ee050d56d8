"""A tracking's state row and what is shown of it: the row the table keeps (:func:`entity_of`) and the JSON the
status endpoint, ``graphops status`` and the console answer with (:func:`public_view`). Pure: no I/O.

A signed download link is never kept here (the kind's ``withheld``); Graph's body is bounded to what one table
property holds.
"""

from __future__ import annotations

import json
import re
from typing import Any

from graphops.common.signed import withhold_signed_in
from graphops.envelope.problems import last_problem
from graphops.envelope.tracking import Phase, Tracking, iso
from graphops.storage.time_index import entry_of_state

MAX_PROPERTY_CHARS = 30_000  # a table string property holds 64 KiB of UTF-16
# The body the sinks were given, as the tracking's page shows it: a context is at most 16 KiB, Graph's operation
# is bounded too, but a body's whole need not be kept to say what the callback got; past this it is cut, and says so.
MAX_BODY_CHARS = 16_000
TRUNCATED = "\n… (cut: the body the sinks got was longer)"


def history_of(entity: dict[str, Any]) -> tuple[dict[str, Any], ...]:
    raw = entity.get("history")
    try:
        entries = json.loads(raw) if isinstance(raw, str) and raw else []
    except ValueError:
        return ()  # damaged: start again rather than stop the step
    return tuple(e for e in entries if isinstance(e, dict)) if isinstance(entries, list) else ()


def history_json(history: tuple[dict[str, Any], ...]) -> str:
    """The history as stored: its newest entries, as many as fit in one table property."""
    for start in range(len(history)):
        text = json.dumps(history[start:], separators=(",", ":"), ensure_ascii=False)
        if len(text) <= MAX_PROPERTY_CHARS:
            return text
    return "[]"


def entity_of(tracking: Tracking) -> dict[str, Any]:
    """The table's view of a tracking (what GET /api/operations/{id} shows)."""
    kept = tracking.kind.withheld(tracking.operation)  # a signed link goes to the sinks only
    operation = json.dumps(kept, ensure_ascii=False) if kept is not None else None
    history: dict[str, Any] = (
        {"history": history_json(withhold_signed_in(tracking.history))} if tracking.history is not None else {}
    )
    if tracking.history is not None:  # read from the history: unknown (and left as it is) when that was not read
        problem = last_problem(tracking.history)
        history["lastProblem"] = json.dumps(problem, ensure_ascii=False) if problem else None
    # Every other property too (an operation URL, an error's message): no signed link is kept, whoever wrote it.
    # The operation and the history were withheld above, value by value: not scanned again as text, every step.
    others = withhold_signed_in(
        {
            "phase": str(tracking.phase),
            "step": tracking.step,
            "stepId": tracking.step_id,
            "operationUrl": tracking.shown_operation_url,
            "kind": tracking.kind.name,
            "resource": tracking.kind.resource_of(kept, tracking.operation_url),
            "progress": tracking.kind.progress_of(tracking.operation),
            "details": json.dumps(details) if (details := tracking.kind.details_of(kept)) else None,
            "resourceReady": tracking.resource_ready,
            "correlationId": tracking.correlation_id,
            "tenantId": tracking.tenant_id,
            "lastStatus": tracking.last_status,
            "polls": tracking.polls,
            "outcome": str(tracking.outcome) if tracking.outcome else None,
            "error": json.dumps(tracking.error.to_json()) if tracking.error else None,
            "deliveryAttempts": tracking.delivery_attempts,
            "lastDeliveryError": tracking.last_delivery_error,
            "deliveries": json.dumps({sink: tracking.delivery(sink).to_json() for sink in tracking.notify}),
            "trackedSince": iso(tracking.tracked_since),
            "deadline": iso(tracking.deadline),
            "finishedAt": iso(tracking.finished_at) if tracking.finished_at else None,
            "waitingFor": waiting_for(tracking),
            "schedule": schedule_of(tracking),
            "traceId": trace_id_of(tracking.traceparent),
        }
    )
    return {**history, **others, "operation": operation[:MAX_PROPERTY_CHARS] if operation else None,
            "context": json.dumps(tracking.context, ensure_ascii=False)[:MAX_PROPERTY_CHARS]
            if tracking.context is not None else None,
            "callbackBody": delivered_body(tracking)}  # fmt: skip


def delivered_body(tracking: Tracking) -> str | None:
    """The body the sinks get once the tracking has an outcome (the callback's POST, the event's data), as JSON text,
    bounded; None before. The callback URL is not in it; a signed link in Graph's operation is withheld, as in the
    rest of the state (it goes to the sinks only)."""
    if tracking.outcome is None or tracking.finished_at is None:
        return None
    body = tracking.callback_body()
    if body.get("operation") is not None:
        body["operation"] = tracking.kind.withheld(tracking.operation)
    text = json.dumps(withhold_signed_in(body), ensure_ascii=False, separators=(",", ":"))
    return text if len(text) <= MAX_BODY_CHARS else text[: MAX_BODY_CHARS - len(TRUNCATED)] + TRUNCATED


def trace_id_of(traceparent: str | None) -> str | None:
    """The W3C trace id of the tracking's trace (Application Insights' operation id), or None."""
    found = re.fullmatch(r"00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}", traceparent or "")
    return found.group(1) if found and found.group(1) != "0" * 32 else None


def schedule_of(tracking: Tracking) -> str | None:
    """The schedule the tracking's last poll followed (default, or learned), as its history says."""
    for entry in reversed(tracking.history or ()):
        if "schedule" in entry:
            return str(entry["schedule"])
    return None


def waiting_for(tracking: Tracking) -> str | None:
    """``Retry-After`` when the next poll waits for Graph's throttling rather than the schedule (the console says
    so), ``budget`` when it waits for the service's shared budget; None when it does not, or when this step did
    not read the history that tells."""
    last = tracking.history[-1] if tracking.history else None
    if tracking.phase is Phase.POLLING and last is not None and "budget" in last:
        return "budget"  # the service's shared throttling budget for the tenant is spent, or paused by a 429
    if tracking.phase is not Phase.POLLING or last is None or "sink" in last or last.get("retryAfter") is None:
        return None
    http = last.get("http")
    return "Retry-After" if http is None or (isinstance(http, int) and (http == 429 or http >= 500)) else None


def public_view(tracking_id: str, entity: dict[str, Any]) -> dict[str, Any]:
    """The JSON the status endpoint answers with."""

    def parsed(name: str) -> Any:
        raw = entity.get(name)
        return json.loads(raw) if isinstance(raw, str) and raw else None

    def value(name: str) -> Any:
        raw = entity.get(name)
        return None if raw == "" else raw  # "" is how a merge clears a property

    indexed = entry_of_state(tracking_id, entity)

    # Rows written before every signed link was withheld are shown without them too.
    return withhold_signed_in(
        {
            "trackingId": tracking_id,
            "phase": value("phase"),
            "outcome": value("outcome"),
            "standing": indexed.standing if indexed else None,
            "kind": value("kind"),
            "operationUrl": value("operationUrl"),
            "correlationId": value("correlationId"),
            "tenantId": value("tenantId"),
            "lastStatus": value("lastStatus"),
            "resource": value("resource"),
            "progress": value("progress"),
            "details": parsed("details"),
            "resourceReady": value("resourceReady"),
            "operation": parsed("operation"),
            "error": parsed("error"),
            "polls": entity.get("polls", 0),
            "lastPollAt": value("lastPollAt"),
            "nextPollAt": value("nextPollAt"),
            "waitingFor": value("waitingFor"),
            "lastProblem": parsed("lastProblem"),
            "schedule": value("schedule"),
            "traceId": value("traceId"),
            "deliveryAttempts": entity.get("deliveryAttempts", 0),
            "lastDeliveryError": value("lastDeliveryError"),
            "deliveries": parsed("deliveries"),
            "history": parsed("history") or [],
            "trackedSince": value("trackedSince"),
            "deadline": value("deadline"),
            "finishedAt": value("finishedAt"),
        }
    )
