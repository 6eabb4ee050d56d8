"""A caller's request, or a producer's message, turned into a tracking, or refused field by field.

The documented message (operationUrl, callbackUrl, ...) and the API's bodies are checked here and nowhere else,
so a request the API accepts is one the queue trigger accepts. Every bad field is one
:class:`~graphops.common.errors.Rejected` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from graphops.common.errors import Rejected
from graphops.common.text import has_lone_surrogate, scrubbed
from graphops.envelope.tracking import SINK_SETTINGS, SINKS, Tracking, checked_tracking_id
from graphops.envelope.wire import TRACEPARENT
from graphops.graph.actions import StartRequest
from graphops.graph.kinds import OperationKind, OperationRef, validate_select
from graphops.intake.limits import Limits
from graphops.storage.seal import INTERNAL_FIELDS, SEAL, is_internal

# A queue message holds 64 KiB once base64-encoded: about 48 KiB of JSON. Keep requests well inside that,
# so the envelope, which adds Graph's last answer and bookkeeping, always fits when it is re-enqueued.
MAX_REQUEST_BYTES = 32 * 1024
MAX_CONTEXT_BYTES = 16 * 1024
MAX_CORRELATION_ID_LENGTH = 256
REQUEST_FIELDS = frozenset(
    {"operationUrl", "callbackUrl", "correlationId", "context", "timeoutSeconds", "select", "waitForResource",
     "notify", "traceparent", "tenantId"}
)  # fmt: skip
# A start message names the Graph request graphops sends (``start``) instead of an operation URL.
START_FIELDS = (REQUEST_FIELDS - {"operationUrl"}) | {"start"}
# What graphops' own sealed start messages carry besides: the tracking id, a throttled start's attempts and the
# Retry-After it waits for. Never a caller's or a producer's to set (graphops/openapi.json declares none).
SEALED_START_FIELDS = frozenset({"trackingId", "startAttempts", "notBefore"})


def request_problems(
    doc: dict[str, Any], limits: Limits, start_field: str | None = None, *, sealed: bool = False
) -> tuple[dict[str, Any], list[Rejected]]:
    """Check every field of a request; returns the parsed values and one :class:`Rejected` per bad field.

    With ``start_field`` the request names a Graph request to start (under that name) instead of an operation URL;
    ``sealed``: it is graphops' own start message, whose seal opened, and may carry ``SEALED_START_FIELDS``.
    """
    values: dict[str, Any] = {}
    problems: list[Rejected] = []

    def check(name: str, parse: Callable[[], Any]) -> None:
        try:
            values[name] = parse()
        except Rejected as exc:
            problems.append(exc)

    fields = REQUEST_FIELDS if start_field is None else (START_FIELDS - {"start"}) | {start_field}
    own = SEALED_START_FIELDS if sealed and start_field is not None else frozenset()
    unencodable = sorted(scrubbed(name) for name, value in doc.items() if has_lone_surrogate([name, value]))
    if unencodable:  # nothing else can be checked of it: it cannot even be measured as UTF-8
        return values, [Rejected(name, "holds text that is not valid Unicode (a lone UTF-16 surrogate)")
                        for name in unencodable]  # fmt: skip
    for unknown in sorted(set(doc) - fields - own):
        why = "assigned by graphops, not by the caller" if unknown in SEALED_START_FIELDS else "unknown field"
        problems.append(Rejected(unknown, f"{why}; expected some of {', '.join(sorted(fields))}"))
    if len(json.dumps(doc, ensure_ascii=False).encode()) > MAX_REQUEST_BYTES:
        problems.append(Rejected("message", f"larger than {MAX_REQUEST_BYTES} bytes of JSON"))
    if start_field is None:
        check("operationUrl", lambda: limits.resolve(doc.get("operationUrl")))
    else:
        check(start_field, lambda: limits.start(doc.get(start_field), start_field))
        if own:
            check("startAttempts", lambda: _attempts(doc.get("startAttempts", 0)))
    check("callbackUrl", lambda: _callback(doc.get("callbackUrl"), doc.get("notify"), limits))
    check("notify", lambda: _notify(doc.get("notify"), doc.get("callbackUrl") is not None, limits.sinks))
    check("correlationId", lambda: _correlation_id(doc.get("correlationId")))
    check("context", lambda: _context(doc.get("context")))
    check("timeoutSeconds", lambda: _timeout(doc.get("timeoutSeconds", limits.default_timeout_seconds), limits))
    check("select", lambda: validate_select(doc.get("select")))
    check("waitForResource", lambda: _flag("waitForResource", doc.get("waitForResource", False)))
    check("traceparent", lambda: _traceparent(doc.get("traceparent")))
    check("tenantId", lambda: limits.tenant(doc.get("tenantId"), *_kind_and_action(values, start_field)))
    if start_field is None and values.get("operationUrl") and "tenantId" in values:
        check("operationUrl", lambda: same_tenant(values["operationUrl"], values["tenantId"], limits))
    if own and doc.get("trackingId") is not None:
        check("trackingId", lambda: checked_tracking_id(doc["trackingId"]))
    return values, problems


def _kind_and_action(values: dict[str, Any], start_field: str | None) -> tuple[str | None, str | None]:
    """What a tenant must allow for this request: its kind, and the action it starts (when its fields parsed)."""
    if start_field is None:
        ref = values.get("operationUrl")
        return (ref.kind.name if ref else None), None
    start = values.get(start_field)
    return (start.action.kind.name, start.action.name) if start else (None, None)


def same_tenant(ref: OperationRef, tenant_id: str | None, limits: Limits) -> OperationRef:
    """An operation URL that names a tenant (where Graph writes one) must name the tracking's: another tenant's token
    would never read it, and its own must never be sent for it."""
    named = ref.kind.tenant_named(ref.url)
    if named is None or named == tenant_id or (tenant_id is None and named not in limits.tenants):
        return ref
    expected = f"tenantId {tenant_id}" if tenant_id else "the home tenant (no tenantId)"
    raise Rejected("operationUrl", f"names tenant {named}, not {expected}")


def from_request(doc: dict[str, Any], tracking_id: str, now: datetime, limits: Limits) -> Tracking:
    """Validate a producer's request (the documented message) and start a tracking for it."""
    values, problems = request_problems(doc, limits)
    if problems:
        raise problems[0]
    ref = values["operationUrl"]
    return _tracking(values, tracking_id, now, ref.url, ref.kind)


def producer_problem(doc: dict[str, Any], limits: Limits) -> str | None:
    """Why the queue's trigger would refuse ``doc`` as a producer's message; None when it would take it. Fields only
    graphops' sealed messages carry are refused here: a producer's message is never taken as graphops' own."""
    if is_internal(doc):
        return f"{SEAL}: {', '.join(sorted(INTERNAL_FIELDS & set(doc)))} may be set by graphops only"
    _, problems = request_problems(doc, limits, "start" if "start" in doc else None)
    return str(problems[0]) if problems else None


def from_start_request(
    doc: dict[str, Any],
    tracking_id: str,
    now: datetime,
    limits: Limits,
    start_field: str = "start",
    *,
    sealed: bool = False,
) -> tuple[Tracking, StartRequest]:
    """Validate a request to start a Graph operation: the tracking (its operation URL not known until Graph
    answers) and the Graph request to send. ``sealed``: graphops' own start message (``request_problems``)."""
    values, problems = request_problems(doc, limits, start_field, sealed=sealed)
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
        tenant_id=values.get("tenantId"),
    )


def _traceparent(raw: object) -> str | None:
    if raw is None:
        return None
    if not isinstance(raw, str) or not TRACEPARENT.fullmatch(raw):
        raise Rejected("traceparent", "must be a W3C traceparent: 00-<32 hex trace id>-<16 hex span id>-<2 hex flags>")
    return raw


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
