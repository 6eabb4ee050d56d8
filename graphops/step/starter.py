"""Starting an operation with graphops' identity: send the action's request once, and read Graph's answer.

A start is recorded before Graph is asked and again once Graph answered (a row beside the tracking's state).
That record is what makes a retried start safe: a recorded answer is replayed, not sent again; a request that
went out with no answer recorded (the host died, Graph never answered) is sent again only when the action is
harmless to repeat, and otherwise ends as "may have started; not repeated", naming the client-request-id that
Graph's support can find it by.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from azure.core.exceptions import ResourceExistsError

from graphops.common.errors import Rejected
from graphops.common.logs import event
from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking, iso
from graphops.graph.actions import StartAction, StartRequest
from graphops.graph.answer import GraphAnswer
from graphops.graph.kinds import OperationRef
from graphops.graph.reader import TenantAccess
from graphops.intake.limits import Limits
from graphops.intake.request import same_tenant
from graphops.step.decide import graph_error
from graphops.storage.state import StartRecord, StateStore

# A start recorded as sent this recently may still be waiting for Graph (the client gives up after 35 s). A
# queue message whose host died comes back after its lease (minutes), so it is never mistaken for one.
IN_FLIGHT_SECONDS = 60
MAX_RECORDED_BODY_BYTES = 8 * 1024
#: Start actions whose submissions Graph limits per tenant: counted in the tenant's ledger before they are sent.
COUNTED_ACTIONS = frozenset({"auditLogQuery"})


@dataclass(frozen=True)
class Accepted:
    """Graph started it: poll ``operation``, not before ``not_before`` (the 202's Retry-After)."""

    operation: OperationRef
    not_before: datetime | None = None


@dataclass(frozen=True)
class DoneAtOnce:
    """Graph did the work in the request itself (200, 201, 204)."""

    status: int
    body: Any = None


@dataclass(frozen=True)
class Refused:
    """Graph said no, and started nothing."""

    status: int
    error: ErrorInfo  # for the callback
    outcome: Outcome
    graph: ErrorInfo  # Graph's own code and message, passed on to an HTTP caller as they were
    where: str = ""  # in a customer tenant: which tenant and which app (TenantAccess.where)


@dataclass(frozen=True)
class NotNow:
    """Throttled or unavailable: nothing started; ask again after ``wait`` seconds."""

    status: int
    error: ErrorInfo
    wait: float | None = None


@dataclass(frozen=True)
class OverLimit:
    """Graph's limit for this action in the tenant would be passed (audit log query submissions): nothing was
    sent; ask again after ``wait`` seconds."""

    limit: str
    wait: float


@dataclass(frozen=True)
class Unknown:
    """No answer, or a server error: the request may or may not have started something."""

    status: int | None
    error: ErrorInfo


@dataclass(frozen=True)
class Untrackable:
    """Graph accepted the request but named no operation graphops can track."""

    status: int
    error: ErrorInfo


@dataclass(frozen=True)
class MayHaveStarted:
    """An earlier attempt sent this (not repeatable) request and no answer was recorded: it is not sent again."""

    error: ErrorInfo


@dataclass(frozen=True)
class InFlight:
    """Another call is sending this very request right now."""


StartDecision = Accepted | DoneAtOnce | Refused | NotNow | OverLimit | Unknown | Untrackable | MayHaveStarted | InFlight


def read_start_answer(
    action: StartAction,
    answer: GraphAnswer,
    limits: Limits,
    now: datetime,
    url: str | None = None,
    tenant_id: str | None = None,
) -> StartDecision:
    """What Graph's answer to a start request (sent to ``url``, in ``tenant_id``: None for the home tenant) means.
    Pure: tested without any server."""
    code = answer.status_code
    if code is None and answer.failed == "noConsent":
        # A customer tenant refused the app a token: nothing was sent, and only an administrator's consent helps.
        refusal = ErrorInfo("consentRequired", answer.failure or "no consent")
        return Refused(403, refusal, Outcome.FORBIDDEN, refusal)
    if code is None:
        return Unknown(None, ErrorInfo("unreachable", answer.failure or "Graph did not answer"))
    if code == 202:
        return _accepted(action, answer, limits, now, tenant_id)
    if action.creates_job and 200 <= code < 300:
        # A job action's answer is the job, whatever the 2xx: never work done at once (a 202's Location is not
        # what its page documents either; a job without an id cannot be tracked).
        return _created(action, answer, limits, url)
    if 200 <= code < 300:
        return DoneAtOnce(code, answer.body)
    error = graph_error(answer.body) or ErrorInfo(f"http{code}", f"Graph answered {code}")
    if code in {429, 503}:
        return NotNow(code, error, answer.retry_after)
    if code in {401, 403}:
        why = f"Graph answered {code}: the app's identity needs {action.permission} to start {action.name}"
        return Refused(code, ErrorInfo(error.code, f"{why} ({error.message})"), Outcome.FORBIDDEN, error)
    if code == 404:
        return Refused(code, error, Outcome.NOT_FOUND, error)
    if code >= 500 or code == 408:
        return Unknown(code, error)
    return Refused(code, error, Outcome.FAILED, error)


def _accepted(
    action: StartAction, answer: GraphAnswer, limits: Limits, now: datetime, tenant_id: str | None
) -> StartDecision:
    raw = next((answer.headers[h.lower()] for h in action.operation_headers if answer.headers.get(h.lower())), None)
    if raw is None:
        where = " or ".join(action.operation_headers)
        return Untrackable(202, ErrorInfo("noOperation", f"Graph accepted {action.name} but sent no {where} header"))
    try:
        operation = limits.resolve(raw)
    except Rejected as exc:
        return Untrackable(202, ErrorInfo("untrackableOperation", f"Graph accepted {action.name}, but its operation "
                                                                  f"URL cannot be tracked: {exc.problem}"))  # fmt: skip
    if operation.kind is not action.kind:
        named = f"Graph accepted {action.name}, but named a {operation.kind.name}, not a {action.kind.name}"
        return Untrackable(202, ErrorInfo("untrackableOperation", named))
    try:  # the operation's tenant, where Graph writes one, is the start's: its token is never sent for another's
        same_tenant(operation, tenant_id, limits)
    except Rejected as exc:
        return Untrackable(202, ErrorInfo("untrackableOperation", f"Graph accepted {action.name}, but its operation "
                                                                  f"URL {exc.problem}"))  # fmt: skip
    wait = answer.retry_after
    return Accepted(operation, now + timedelta(seconds=wait) if wait else None)


def _created(action: StartAction, answer: GraphAnswer, limits: Limits, url: str | None) -> StartDecision:
    """A job Graph answered with (201 or 200 with the job): it is read by its id, under the collection it was created
    in or the action's own job collection."""
    code = answer.status_code or 201
    job = answer.body.get("id") if isinstance(answer.body, dict) else None
    if not isinstance(job, str) or not job or url is None:
        return Untrackable(code, ErrorInfo("noOperation", f"Graph answered {action.name} with {code} but named no "
                                                          "job id"))  # fmt: skip
    job_url = action.job_url(url, job)
    try:
        if job_url is None:
            raise Rejected("id", "its id is not one Graph gives (letters, digits and - _ . , ! @)")
        operation = limits.resolve(job_url)
    except Rejected as exc:
        return Untrackable(code, ErrorInfo("untrackableOperation", f"Graph created {action.name}'s job, but it "
                                                                   f"cannot be tracked: {exc.problem}"))  # fmt: skip
    if operation.kind is not action.kind:
        return Untrackable(code, ErrorInfo("untrackableOperation", f"{action.name}'s job is not a {action.kind.name}"))
    return Accepted(operation)


def tracking_of(pending: Tracking, decision: Accepted, action: StartAction) -> Tracking:
    """The tracking of the operation a start was accepted with, polled past the ends ``action`` moves a job on from."""
    return replace(pending, operation_url=decision.operation.url, kind=decision.operation.kind,
                   not_before=decision.not_before, waits_past=action.waits_past)  # fmt: skip


def answer_record(decision: Accepted | DoneAtOnce | Untrackable) -> dict[str, Any]:
    """What is kept of a final answer, so that a retried start replays it."""
    if isinstance(decision, Accepted):
        not_before = iso(decision.not_before) if decision.not_before else None
        return {"decision": "accepted", "operationUrl": decision.operation.url, "notBefore": not_before}
    if isinstance(decision, DoneAtOnce):
        body = decision.body
        if len(json.dumps(body, ensure_ascii=False).encode()) > MAX_RECORDED_BODY_BYTES:
            body = {"@graphops.truncated": True}
        return {"decision": "done", "status": decision.status, "body": body}
    return {"decision": "untrackable", "status": decision.status, "error": decision.error.to_json()}


def replay(record: Mapping[str, Any], limits: Limits) -> StartDecision:
    """The decision a recorded answer stands for."""
    if record.get("decision") == "accepted":
        not_before = record.get("notBefore")
        return Accepted(limits.resolve(record["operationUrl"]),
                        datetime.fromisoformat(not_before.replace("Z", "+00:00")) if not_before else None)  # fmt: skip
    if record.get("decision") == "done":
        return DoneAtOnce(int(record["status"]), record.get("body"))
    error = record.get("error") or {}
    return Untrackable(int(record.get("status", 202)), ErrorInfo(str(error.get("code", "")), str(error.get("message"))))


def in_tenant(decision: StartDecision, access: TenantAccess | None) -> StartDecision:
    """A start a customer tenant refused (401/403, or no consent) says which tenant and which app lack the
    permission, as a poll's ``forbidden`` does."""
    if access is None or not isinstance(decision, Refused) or decision.outcome is not Outcome.FORBIDDEN:
        return decision
    if access.tenant_id not in decision.error.message:  # a refusal for want of consent names them already
        decision = replace(decision, error=replace(decision.error, message=f"{decision.error.message}, {access.where}"))
    return replace(decision, where=access.where)


class StartSender(Protocol):
    @property
    def access(self) -> TenantAccess | None: ...

    def tenant(self) -> str: ...

    def for_tenant(self, tenant_id: str | None) -> StartSender: ...

    def send(
        self, method: str, url: str, body: Mapping[str, Any] | None = None, *, client_request_id: str | None = None
    ) -> GraphAnswer: ...


@dataclass(frozen=True)
class Started:
    """What one start call did: the decision, the client-request-id the request went out with, whether this call
    sent it (or replayed an earlier answer), and Graph's request-id when it answered."""

    decision: StartDecision
    client_request_id: str | None
    sent: bool = False
    graph_request_id: str | None = None
    status: int | None = None


class Starter:
    """Sends a start action's request for a tracking, at most once unless the action is harmless to repeat."""

    def __init__(self, graph: StartSender, state: StateStore, limits: Limits, clock: Callable[[], datetime]) -> None:
        self._graph = graph
        self._state = state
        self._limits = limits
        self._clock = clock
        self.in_flight_seconds = IN_FLIGHT_SECONDS
        #: Called at "beforeGraph" and "afterGraph": a seam for crash tests, a no-op otherwise.
        self.checkpoint: Callable[[str], None] = lambda point: None

    def start(
        self, tracking_id: str, request: StartRequest, deadline: datetime, tenant_id: str | None = None
    ) -> Started:
        """Start ``request`` for ``tracking_id``, or tell what an earlier attempt did; logs a ``start`` line.

        Attempts overlap (an HTTP retry, a queue message delivered twice at once): a start sent moments ago
        is still under way, not lost. Raises AzureError when the record cannot be read or written: then
        nothing was sent.
        """
        graph = self._graph if tenant_id is None else self._graph.for_tenant(tenant_id)
        started = self._start(tracking_id, request, deadline, graph, tenant_id)
        started = replace(started, decision=in_tenant(started.decision, graph.access))
        event("start", trackingId=tracking_id, action=request.action.name, httpStatus=started.status,
              decision=type(started.decision).__name__, replayed=not started.sent,
              graphRequestId=started.graph_request_id, clientRequestId=started.client_request_id)  # fmt: skip
        return started

    def _start(
        self, tracking_id: str, request: StartRequest, deadline: datetime, graph: StartSender, tenant_id: str | None
    ) -> Started:
        now = self._clock()
        record = self._state.start_record(tracking_id)
        if record is not None:
            earlier = self._earlier(record, request, now)
            if earlier is not None:
                return earlier
        if request.action.name in COUNTED_ACTIONS:
            admission = self._state.audit_queries.admit(graph.tenant(), tracking_id, deadline.timestamp(),
                                                        now.timestamp())  # fmt: skip
            if not admission.go:
                return Started(OverLimit(admission.limit, admission.wait), None)
        client_request_id = str(uuid.uuid4())
        try:
            self._state.begin_start(tracking_id, request.action.name, client_request_id, now, deadline,
                                    again=record is not None)  # fmt: skip
        except ResourceExistsError:
            return Started(InFlight(), None)  # another call recorded its send first
        self.checkpoint("beforeGraph")
        answer = graph.send(request.method, request.url, request.body, client_request_id=client_request_id)
        self.checkpoint("afterGraph")
        decision = read_start_answer(request.action, answer, self._limits, self._clock(), request.url, tenant_id)
        if isinstance(decision, Refused | NotNow):
            self._state.forget_start(tracking_id)  # nothing started: a retry may send it again
        elif isinstance(decision, Accepted | DoneAtOnce | Untrackable):
            self._state.answered_start(tracking_id, answer_record(decision))
        # Unknown: the record still says "sent, no answer"; what a retry does depends on the action.
        return Started(decision, client_request_id, True, answer.request_id, answer.status_code)

    def _earlier(self, record: StartRecord, request: StartRequest, now: datetime) -> Started | None:
        """What an earlier attempt's record means for this one; None: send the request (again)."""
        if record.answer is not None:
            return Started(replay(record.answer, self._limits), record.client_request_id)
        sent_at = datetime.fromisoformat(record.sent_at.replace("Z", "+00:00")) if record.sent_at else None
        if sent_at is not None and (now - sent_at).total_seconds() < self.in_flight_seconds:
            return Started(InFlight(), record.client_request_id)
        if request.action.repeatable:
            return None
        message = (
            f"{request.action.name} may have started; not repeated: an earlier attempt sent it at {record.sent_at} "
            f"(client-request-id {record.client_request_id}) and no answer was recorded"
        )
        return Started(MayHaveStarted(ErrorInfo("mayHaveStarted", message)), record.client_request_id)
