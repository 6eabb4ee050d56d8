"""The HTTP API: subscribe, read, cancel, and start-and-track, for Logic Apps' HTTP Webhook action.

Validation is the tracker's own (:func:`graphops.tracking.request_problems`), so a request the API
accepts is one the queue trigger accepts. Errors are RFC 9457 problem documents naming each bad field.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from importlib import resources
from typing import Any

import azure.functions as func
from azure.core.exceptions import AzureError, ResourceExistsError

from .errors import QueueUnavailable, Rejected
from .kinds import RoleManagementAlertRefresh
from .logs import event
from .state import Claim, public_view
from .tracking import MAX_REQUEST_BYTES, Tracking, from_request, request_problems
from .wiring import Services

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
MAX_IDEMPOTENCY_KEY = 200
ALERTS_PATH = "/beta/identityGovernance/roleManagementAlerts/alerts"
# Start-and-track checks the caller's fields before Graph is asked; the operation URL comes from Graph's 202.
_PENDING_ALERT_OPERATION = "/beta/identityGovernance/roleManagementAlerts/operations/pending"
START_FIELDS = frozenset(
    {"scopeId", "scopeType", "alertId", "callbackUrl", "correlationId", "context", "timeoutSeconds"}
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
        problems = [Rejected("trackingId", "assigned by graphops, not by the caller")] if "trackingId" in doc else []
        values, field_problems = request_problems(doc, self._s.limits)
        problems += field_problems + self._unsafe_callback(values)
        idempotency_key = req.headers.get("Idempotency-Key")
        if idempotency_key is not None and not 0 < len(idempotency_key) <= MAX_IDEMPOTENCY_KEY:
            problems.append(Rejected("Idempotency-Key", f"must be 1 to {MAX_IDEMPOTENCY_KEY} characters"))
        if problems:
            return problem(400, "The request cannot be tracked", problems)
        return self._track(doc, req, idempotency_key)

    def _unsafe_callback(self, values: dict[str, Any]) -> list[Rejected]:
        if "callbackUrl" not in values:
            return []
        try:
            self._s.limits.callbacks.target(values["callbackUrl"])
        except Rejected as exc:
            return [exc]
        except OSError:
            pass  # DNS did not answer now; delivery resolves again
        return []

    def _track(self, doc: dict[str, Any], req: func.HttpRequest, idempotency_key: str | None) -> func.HttpResponse:
        now = datetime.now(UTC)
        tracking = replace(from_request(doc, str(uuid.uuid4()), now, self._s.limits), stateful=True)
        if idempotency_key:
            key, fingerprint = f"idem:{idempotency_key}", request_fingerprint(doc)
        else:
            # Logic Apps' listCallbackUrl() differs per action instance (each for-each iteration, each run) and
            # stays the same across its retries of one subscribe call: with the operation, it names the request.
            key, fingerprint = f"pair:{tracking.operation_url}\n{tracking.callback_url}", None
        claim, answered = self._claim(key, tracking, now, fingerprint, req)
        if answered is not None:
            return answered
        assert claim is not None
        return self._enqueue(replace(tracking, tracking_id=claim.tracking_id), req)

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

    def _enqueue(self, tracking: Tracking, req: func.HttpRequest) -> func.HttpResponse:
        """Queue a claimed tracking's first step, then write its state and the callback URL's pointer.

        In this order, a state row means the first step is queued: a retry that finds the key claimed but
        no state row queues it (again) under the same tracking id, and the step gate drops whichever first
        message the state does not name.
        """
        try:
            self._s.queue.send(tracking.to_wire(), 0)
        except QueueUnavailable as exc:
            return problem(503, "The queue is unavailable; try again", detail=str(exc))
        try:
            self._s.state.create(tracking)
        except ResourceExistsError:
            pass  # a retry of this call, or the first step, wrote it first
        except AzureError as exc:
            logging.getLogger("graphops.api").warning("state not created for %s: %s", tracking.tracking_id, exc)
        try:
            self._s.state.point(f"callback:{tracking.callback_url}", tracking.tracking_id, tracking.deadline)
        except AzureError as exc:
            logging.getLogger("graphops.api").warning("unsubscribe pointer not written for %s: %s",
                                                      tracking.tracking_id, type(exc).__name__)  # fmt: skip
        event("subscribed", trackingId=tracking.tracking_id, kind=tracking.kind.name)
        return self._accepted(tracking.tracking_id, req, status=202)

    def _accepted(self, tracking_id: str, req: func.HttpRequest, status: int) -> func.HttpResponse:
        path = f"/api/operations/{tracking_id}"
        base = req.url.split("/api/", 1)[0]
        return ok(status, {"trackingId": tracking_id, "statusUrl": base + path}, {"Location": path})

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
            entity = self._s.state.cancel(tracking_id, datetime.now(UTC))
        except AzureError as exc:
            return problem(503, "State storage is unavailable; try again", detail=type(exc).__name__)
        if entity is None:
            return problem(404, "No such tracking")
        event("cancelled", trackingId=tracking_id)
        return ok(200, public_view(tracking_id, entity))

    # -- POST /api/role-management-alerts/refresh ----------------------------------------------

    def start_alert_refresh(self, req: func.HttpRequest) -> func.HttpResponse:
        doc, failure = _json_body(req)
        if failure is not None:
            return failure
        assert doc is not None
        problems = [Rejected(name, "unknown field") for name in sorted(set(doc) - START_FIELDS)]
        for name in ("scopeId", "scopeType"):
            if not isinstance(doc.get(name), str) or not doc[name] or len(doc[name]) > 256:
                problems.append(Rejected(name, "required, a string of at most 256 characters"))
        alert_id = doc.get("alertId")
        if alert_id is not None and (not isinstance(alert_id, str) or not _ID.fullmatch(alert_id)):
            problems.append(Rejected("alertId", "must be an alert id (letters, digits, '-', '_')"))
        request: dict[str, Any] = {
            k: doc[k] for k in ("callbackUrl", "correlationId", "context", "timeoutSeconds") if k in doc
        }
        values, field_problems = request_problems({**request, "operationUrl": _PENDING_ALERT_OPERATION}, self._s.limits)
        problems += field_problems + self._unsafe_callback(values)
        if problems:
            return problem(400, "The refresh cannot be started", problems)
        # The key is claimed before Graph is asked, so a retried start does not start a second refresh.
        now = datetime.now(UTC)
        pending = replace(
            from_request({**request, "operationUrl": _PENDING_ALERT_OPERATION}, str(uuid.uuid4()), now,
                         self._s.limits), stateful=True,
        )  # fmt: skip
        idempotency_key = req.headers.get("Idempotency-Key")
        fingerprint = request_fingerprint(doc)
        key = f"idem:{idempotency_key}" if idempotency_key else f"start:{fingerprint}"
        claim, answered = self._claim(key, pending, now, fingerprint, req)
        if answered is not None:
            return answered
        assert claim is not None
        # First, or an earlier call that died before it queued anything: a refresh is harmless to ask for again.
        target = f"{ALERTS_PATH}/{alert_id}/refresh" if alert_id else f"{ALERTS_PATH}/refresh"
        answer = self._s.graph.post(
            self._s.settings.graph_endpoint + target, {"scopeId": doc["scopeId"], "scopeType": doc["scopeType"]}
        )
        event("startRefresh", httpStatus=answer.status_code, graphRequestId=answer.request_id,
              clientRequestId=answer.client_request_id)  # fmt: skip
        if answer.status_code != 202 or not answer.location:
            return _graph_refusal(answer.status_code, answer.body, answer.retry_after)
        try:
            operation = self._s.limits.resolve(answer.location)
        except Rejected as exc:
            return problem(502, "Graph answered with an operation graphops cannot track", detail=str(exc))
        if operation.kind is not RoleManagementAlertRefresh:
            return problem(502, "Graph answered with an operation of another kind", detail=operation.kind.name)
        tracking = replace(pending, tracking_id=claim.tracking_id, operation_url=operation.url, kind=operation.kind)
        return self._enqueue(tracking, req)

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
        doc = json.loads(body or b"null")
    except (ValueError, RecursionError):
        return None, problem(400, "The body is not JSON", [Rejected("body", "not valid JSON")])
    if not isinstance(doc, dict):
        return None, problem(400, "The body must be a JSON object", [Rejected("body", "must be a JSON object")])
    return doc, None


def _graph_refusal(status: int | None, body: Any, retry_after: float | None) -> func.HttpResponse:
    error = body.get("error") if isinstance(body, dict) else None
    graph = {"code": error.get("code"), "message": error.get("message")} if isinstance(error, dict) else None
    if status is None or status >= 500 or (200 <= status < 300):
        return problem(502, "Graph could not start the refresh", graphError=graph, graphStatus=status)
    if status in {401, 403}:
        return problem(
            403, "graphops' identity may not start alert refreshes: it needs RoleManagementAlert.ReadWrite.Directory",
            graphError=graph, graphStatus=status,
        )  # fmt: skip
    if status == 429:
        wait = {"Retry-After": str(int(retry_after or 30))}
        return problem(429, "Graph is throttling; try again later", headers=wait, graphError=graph, graphStatus=status)
    return problem(
        status if 400 <= status < 500 else 502, "Graph refused the refresh", graphError=graph, graphStatus=status
    )
