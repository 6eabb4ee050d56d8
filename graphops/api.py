"""The HTTP API: subscribe, read, cancel, and start-and-track, for Logic Apps' HTTP Webhook action.

Validation is the tracker's own (:func:`graphops.intake.request.request_problems`), so a request the API
accepts is one the queue trigger accepts. Errors are RFC 9457 problem documents naming each bad field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError

from graphops.common.errors import QueueUnavailable, Rejected
from graphops.common.json_text import NOT_JSON, read_json
from graphops.common.logs import event
from graphops.common.telemetry import current_traceparent
from graphops.envelope.tracking import Outcome, Tracking
from graphops.graph.actions import ActionNotEnabled, StartAction
from graphops.intake.request import MAX_REQUEST_BYTES, from_request, from_start_request, request_problems
from graphops.pacing.schedule import delay_until
from graphops.step import operator, starter
from graphops.step.chain import queue_first_step
from graphops.storage.seal import NoKey
from graphops.storage.state import Claim
from graphops.storage.state_view import public_view
from graphops.wiring import Services

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_IDEMPOTENCY_KEY = 200
ALERTS_PATH = "/beta/identityGovernance/roleManagementAlerts/alerts"  # the refresh route's action
REFRESH_FIELDS = frozenset(
    {"scopeId", "scopeType", "alertId", "callbackUrl", "correlationId", "tenantId", "context", "timeoutSeconds"}
)


def problem(
    status: int,
    title: str,
    errors: list[Rejected] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> func.HttpResponse:
    """An RFC 9457 problem document; ``errors`` name each bad field."""
    doc: dict[str, Any] = {"type": "about:blank", "title": title, "status": status, **extra}
    if errors:
        doc["errors"] = [{"field": e.field, "message": e.problem} for e in errors]
        doc["detail"] = "; ".join(str(e) for e in errors)
    return func.HttpResponse(json.dumps(doc), status_code=status, mimetype="application/problem+json", headers=headers)


def ok(status: int, doc: Any, headers: dict[str, str] | None = None) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(doc), status_code=status, mimetype="application/json", headers=headers)


class Api:
    def __init__(self, services: Services) -> None:
        self._s = services

    # -- POST /api/operations ------------------------------------------------------------------

    def subscribe(self, req: func.HttpRequest) -> func.HttpResponse:
        doc, failure = _json_body(req)
        if failure is not None:
            return failure
        assert doc is not None
        values, problems = request_problems(doc, self._s.limits)
        problems += self._unsafe_callback(values)
        idempotency_key = req.headers.get("Idempotency-Key")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            problems.append(Rejected("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"))
        if problems:
            return problem(400, "The request cannot be tracked", problems)
        return self._track(doc, req, idempotency_key)

    def _unsafe_callback(self, values: dict[str, Any]) -> list[Rejected]:
        if values.get("callbackUrl") is None:
            return []
        try:
            self._s.limits.callbacks.target(values["callbackUrl"])
        except Rejected as exc:
            return [exc]
        except OSError:
            pass  # DNS did not answer now; delivery resolves again
        return []

    def _track(self, doc: dict[str, Any], req: func.HttpRequest, idempotency_key: str | None) -> func.HttpResponse:
        if (unreadable := self._key_unreadable()) is not None:
            return unreadable
        now = datetime.now(UTC)
        tracking = replace(from_request(doc, str(uuid.uuid4()), now, self._s.limits), stateful=True)
        if idempotency_key:
            key, fingerprint = f"idem:{idempotency_key}", request_fingerprint(doc)
        else:
            # Logic Apps' listCallbackUrl() differs per action instance (each for-each iteration, each run) and
            # stays the same across its retries of one subscribe call: with the operation, it names the request.
            callback = tracking.callback_url or "\n" + ",".join(tracking.notify)  # no callback: the sinks it names
            key, fingerprint = f"pair:{tracking.operation_url}\n{callback}", None
        claim, answered = self._claim(key, tracking, now, fingerprint, req)
        if answered is not None:
            return answered
        assert claim is not None
        return self._enqueue(replace(tracking, tracking_id=claim.tracking_id), req)

    def _key_unreadable(self) -> func.HttpResponse | None:
        """503 while the envelope key cannot be read: the tracking's first step is a sealed message, so nothing
        accepted now could be queued. The request is fine; the caller tries again after Retry-After."""
        seal = self._s.seal
        if not isinstance(seal, NoKey):
            return None
        wait = str(self._s.settings.max_delay_seconds)  # as long as a queued step waits for it
        setting = seal.unresolved.setting
        return problem(
            503,
            f"{setting} cannot be read yet; nothing was started, try again later",
            [Rejected(setting, seal.unresolved.problem)],
            headers={"Retry-After": wait},
        )

    def _claim(
        self, key: str, tracking: Tracking, now: datetime, fingerprint: str | None, req: func.HttpRequest
    ) -> tuple[Claim | None, func.HttpResponse | None]:
        """Claim ``key`` for ``tracking``. Answers here (with the response) when the call ends: storage down,
        the key reused for another request, or a repeat of a request whose tracking is under way."""
        try:
            claim = self._s.state.claim(key, tracking.tracking_id, tracking.deadline, now, fingerprint)
        except AzureError as exc:
            return None, problem(503, "State storage is unavailable; try again", detail=type(exc).__name__)
        if claim.conflict:
            return None, key_reused()
        if not claim.first and not claim.unfinished:
            event("requestRepeated", trackingId=claim.tracking_id)
            return None, self._accepted(claim.tracking_id, req, status=200)
        return claim, None

    def _enqueue(self, tracking: Tracking, req: func.HttpRequest, delay: int = 0, **answer: Any) -> func.HttpResponse:
        """Queue a claimed tracking's first step, then write its state and the callback URL's pointer.

        A retry that finds the key claimed but no state row queues it (again) under the same tracking id; see
        :func:`graphops.step.chain.queue_first_step`. ``answer`` adds fields to the 202's body.
        """
        # The API call's span is the root of the tracking's trace: every step, Graph call and delivery under it.
        tracking = replace(tracking, traceparent=current_traceparent() or tracking.traceparent)
        try:
            queue_first_step(self._s.queue, self._s.seal, self._s.state, tracking, delay)
        except QueueUnavailable as exc:
            return problem(503, "The queue is unavailable; try again", detail=str(exc))
        try:
            if tracking.callback_url is not None:
                self._s.state.point(f"callback:{tracking.callback_url}", tracking.tracking_id, tracking.deadline)
        except AzureError as exc:
            logging.getLogger("graphops.api").warning("unsubscribe pointer not written for %s: %s",
                                                      tracking.tracking_id, type(exc).__name__)  # fmt: skip
        event("subscribed", trackingId=tracking.tracking_id, kind=tracking.kind.name)
        return self._accepted(tracking.tracking_id, req, 202, **answer)

    def _accepted(self, tracking_id: str, req: func.HttpRequest, status: int, **answer: Any) -> func.HttpResponse:
        # Location is absolute: a custom connector's gateway sends the platform's DELETE (unsubscribe) to it, and a
        # relative one would resolve against the gateway's own URL.
        status_url = req.url.split("/api/", 1)[0] + f"/api/operations/{tracking_id}"
        return ok(status, {"trackingId": tracking_id, "statusUrl": status_url, **answer}, {"Location": status_url})

    # -- GET / DELETE /api/operations/{trackingId} ---------------------------------------------

    def status(self, req: func.HttpRequest) -> func.HttpResponse:
        tracking_id = req.route_params.get("trackingId", "")
        if not _ID.fullmatch(tracking_id):
            return problem(404, "No such tracking")
        try:
            entity = self._s.state.read(tracking_id)
        except AzureError as exc:
            return problem(503, "State storage is unavailable; try again", detail=type(exc).__name__)
        if entity is None:
            return problem(404, "No such tracking")
        return ok(200, public_view(tracking_id, entity))

    def cancel(self, req: func.HttpRequest) -> func.HttpResponse:
        """DELETE /api/operations/{trackingId}; DELETE /api/operations with a JSON body {"callbackUrl"} (what a
        Logic Apps unsubscribe knows: its own listCallbackUrl()); or DELETE /api/operations?idempotencyKey=K."""
        tracking_id = req.route_params.get("trackingId", "")
        if not tracking_id:
            key, failure = _cancel_key(req)
            if failure is not None:
                return failure
            try:
                tracking_id = (self._s.state.claimed(key) or "") if key else ""
            except AzureError as exc:
                return problem(503, "State storage is unavailable; try again", detail=type(exc).__name__)
        if not _ID.fullmatch(tracking_id):
            return problem(404, "No such tracking")
        try:
            entity = operator.cancel(self._s.state, tracking_id, datetime.now(UTC))
        except AzureError as exc:
            return problem(503, "State storage is unavailable; try again", detail=type(exc).__name__)
        if entity is None:
            return problem(404, "No such tracking")
        return ok(200, public_view(tracking_id, entity))

    # -- POST /api/start and POST /api/role-management-alerts/refresh ---------------------------

    def start(self, req: func.HttpRequest) -> func.HttpResponse:
        """Send a caller's Graph request with graphops' identity (an enabled start action) and track it."""
        doc, failure = _json_body(req)
        if failure is not None:
            return failure
        assert doc is not None
        problems: list[Rejected] = []
        idempotency_key = req.headers.get("Idempotency-Key")
        if not idempotency_key or len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
            why = f"required, 1 to {MAX_IDEMPOTENCY_KEY} characters: a retry with the same key never starts it twice"
            problems.append(Rejected("Idempotency-Key", why))
        values, field_problems = request_problems(doc, self._s.limits, "request")
        problems += field_problems + self._unsafe_callback(values)
        if problems:
            status = 403 if any(isinstance(p, ActionNotEnabled) for p in problems) else 400
            return problem(status, "The request cannot be started", problems)
        assert idempotency_key is not None
        return self._start(doc, "request", f"idem:{idempotency_key}", req)

    def start_alert_refresh(self, req: func.HttpRequest) -> func.HttpResponse:
        """The alert refresh's own route (it predates /api/start): the roleManagementAlertRefresh action."""
        doc, failure = _json_body(req)
        if failure is not None:
            return failure
        assert doc is not None
        if "roleManagementAlertRefresh" not in self._s.limits.start_actions:
            return problem(403, "Starting alert refreshes is not enabled", [Rejected(
                "GRAPHOPS_START_ACTIONS", "does not name roleManagementAlertRefresh; enabling it lets graphops start "
                "refreshes with its identity (RoleManagementAlert.ReadWrite.Directory)")])  # fmt: skip
        problems = [Rejected(name, "unknown field") for name in sorted(set(doc) - REFRESH_FIELDS)]
        for name in ("scopeId", "scopeType"):
            if not isinstance(doc.get(name), str) or not doc[name] or len(doc[name]) > 256:
                problems.append(Rejected(name, "required, a string of at most 256 characters"))
        alert_id = doc.get("alertId")
        if alert_id is not None and (not isinstance(alert_id, str) or not _ID.fullmatch(alert_id)):
            problems.append(Rejected("alertId", "must be an alert id (letters, digits, '-', '_')"))
        if problems:
            return problem(400, "The refresh cannot be started", problems)
        target = f"{ALERTS_PATH}/{alert_id}/refresh" if alert_id else f"{ALERTS_PATH}/refresh"
        started: dict[str, Any] = {k: doc[k] for k in REFRESH_FIELDS - {"scopeId", "scopeType", "alertId"} if k in doc}
        started["request"] = {"method": "POST", "url": target, "body": {k: doc[k] for k in ("scopeId", "scopeType")}}
        values, field_problems = request_problems(started, self._s.limits, "request")
        field_problems += self._unsafe_callback(values)
        if field_problems:
            return problem(400, "The refresh cannot be started", field_problems)
        idempotency_key = req.headers.get("Idempotency-Key")
        key = f"idem:{idempotency_key}" if idempotency_key else f"start:{request_fingerprint(doc)}"
        return self._start(started, "request", key, req, fingerprint_of=doc)

    def _start(
        self, doc: dict[str, Any], field: str, key: str, req: func.HttpRequest, fingerprint_of: Any = None
    ) -> func.HttpResponse:
        """Claim ``key`` (before Graph is asked, so a retry never starts twice), send the request, and answer
        with what Graph's answer means."""
        if (unreadable := self._key_unreadable()) is not None:
            return unreadable  # before Graph is asked: a start whose tracking cannot be queued is not sent
        now = datetime.now(UTC)
        pending, request = from_start_request(doc, str(uuid.uuid4()), now, self._s.limits, field)
        pending = replace(pending, stateful=True)
        claim, answered = self._claim(key, pending, now, request_fingerprint(fingerprint_of or doc), req)
        if answered is not None:
            return answered
        assert claim is not None
        tracking = replace(pending, tracking_id=claim.tracking_id)
        try:
            started = self._s.starter.start(tracking.tracking_id, request, tracking.deadline, tracking.tenant_id)
        except AzureError as exc:
            return problem(503, "State storage is unavailable; try again", detail=type(exc).__name__)
        decision = started.decision
        if isinstance(decision, starter.Accepted):
            tracking = starter.tracking_of(tracking, decision, request.action)
            return self._enqueue(
                tracking, req, delay_until(decision.not_before, now), operationUrl=tracking.shown_operation_url
            )
        if isinstance(decision, starter.DoneAtOnce):
            done = replace(tracking, operation=decision.body).finish(Outcome.SUCCEEDED, None, now)
            return self._enqueue(done, req, 0, operationUrl=None, outcome=str(Outcome.SUCCEEDED),
                                 graphStatus=decision.status)  # fmt: skip
        if isinstance(decision, starter.Refused | starter.NotNow | starter.OverLimit):
            self._s.state.release(key, tracking.tracking_id)  # nothing started: the key may be used again
        return _not_started(request.action, decision, started.client_request_id)

    # -- GET /api/openapi.json -----------------------------------------------------------------

    def openapi(self, req: func.HttpRequest) -> func.HttpResponse:
        return func.HttpResponse(openapi_document(), status_code=200, mimetype="application/json")


def request_fingerprint(doc: dict[str, Any]) -> str:
    """A digest of a request's JSON, independent of key order: what an Idempotency-Key is bound to."""
    canonical = json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def key_reused() -> func.HttpResponse:
    return problem(
        422,
        "This Idempotency-Key was sent with another request",
        [Rejected("Idempotency-Key", "already used for a different request that is still running; use one key "
                  "per request (or none: a repeat of the same request is recognised by its URLs)")],
    )  # fmt: skip


def _cancel_key(req: func.HttpRequest) -> tuple[str | None, func.HttpResponse | None]:
    """The dedupe key a DELETE /api/operations names: a callbackUrl in the body, or ?idempotencyKey=."""
    key = req.params.get("idempotencyKey")
    if key:
        return f"idem:{key}", None
    if not req.get_body():
        return None, problem(400, "Name the tracking", [Rejected("callbackUrl", "give the subscribe's callbackUrl "
                                                                 "in a JSON body, or ?idempotencyKey=")])  # fmt: skip
    doc, failure = _json_body(req)
    if failure is not None:
        return None, failure
    assert doc is not None
    callback = doc.get("callbackUrl")
    if not isinstance(callback, str) or not callback:
        return None, problem(400, "Name the tracking", [Rejected("callbackUrl", "required, a string")])
    return f"callback:{callback}", None


def openapi_document() -> str:
    return resources.files("graphops").joinpath("openapi.json").read_text()


def _json_body(req: func.HttpRequest) -> tuple[dict[str, Any] | None, func.HttpResponse | None]:
    body = req.get_body()
    if len(body) > MAX_REQUEST_BYTES:
        return None, problem(413, f"The body is larger than {MAX_REQUEST_BYTES} bytes", [Rejected("body", "too large")])
    try:
        doc = read_json(body or b"null", "body")
    except Rejected as exc:
        # Deep nesting or a number graphops cannot carry is refused naming the field it is in.
        title = "The body is not JSON" if exc.field == "body" and exc.problem == NOT_JSON else "The body cannot be read"
        return None, problem(400, title, [exc])
    if not isinstance(doc, dict):
        return None, problem(400, "The body must be a JSON object", [Rejected("body", "must be a JSON object")])
    return doc, None


def _not_started(
    action: StartAction, decision: starter.StartDecision, client_request_id: str | None
) -> func.HttpResponse:
    """The answer when Graph did not start a tracked operation: its refusal, passed on, or why graphops stopped."""
    if isinstance(decision, starter.OverLimit):
        wait = {"Retry-After": str(max(1, math.ceil(decision.wait)))}
        return problem(429, f"{action.name} not sent: it would pass Graph's limit of {decision.limit}",
                       headers=wait, limit=decision.limit)  # fmt: skip
    if isinstance(decision, starter.InFlight):
        return problem(409, "A start with this Idempotency-Key is under way; try again shortly",
                       headers={"Retry-After": "10"}, clientRequestId=client_request_id)  # fmt: skip
    if isinstance(decision, starter.MayHaveStarted):
        return problem(409, f"{action.name} may have started; it is not sent again under this Idempotency-Key",
                       detail=decision.error.message, clientRequestId=client_request_id)  # fmt: skip
    if isinstance(decision, starter.Untrackable):
        return problem(502, "Graph answered with an operation graphops cannot track", detail=decision.error.message,
                       clientRequestId=client_request_id)  # fmt: skip
    if isinstance(decision, starter.Unknown):
        again = ("a retry with this Idempotency-Key sends it again" if action.repeatable
                 else "a retry with this Idempotency-Key does not send it again: it may have started")  # fmt: skip
        return problem(502, f"Graph did not say whether {action.name} started; {again}", detail=decision.error.message,
                       graphStatus=decision.status, clientRequestId=client_request_id)  # fmt: skip
    assert isinstance(decision, starter.Refused | starter.NotNow), decision
    graph = (decision.graph if isinstance(decision, starter.Refused) else decision.error).to_json()
    if isinstance(decision, starter.NotNow):
        wait = {"Retry-After": str(int(decision.wait or 30))}
        busy = "throttling" if decision.status == 429 else "unavailable"
        return problem(decision.status, f"Graph is {busy}; nothing was started, try again later", headers=wait,
                       graphError=graph, graphStatus=decision.status)  # fmt: skip
    if decision.status in {401, 403}:
        # In a customer tenant, which tenant and which app lack it, as a poll's forbidden says.
        who = f"graphops may not start {action.name} {decision.where}" if decision.where else (
            f"graphops' identity may not start {action.name}")  # fmt: skip
        return problem(403, f"{who}: it needs {action.permission}", graphError=graph, graphStatus=decision.status)
    status = decision.status if 400 <= decision.status < 500 else 502
    return problem(status, f"Graph refused {action.name}", graphError=graph, graphStatus=decision.status)
