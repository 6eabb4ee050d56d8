"""The console's pages: a request in, a page out, whatever serves them (the Function App or the CLI).

Server-rendered HTML (Jinja2, autoescaped), htmx for the filters and the poison queue's buttons, Chart.js
for the timeline; both scripts are served from this package, so the console works offline and under a
strict Content-Security-Policy (no inline script or style, nothing from another origin).
"""

from __future__ import annotations

import json
import logging
import mimetypes
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

from azure.core.exceptions import AzureError, ServiceRequestError
from azure.data.tables import TableClient
from azure.storage.queue import QueueClient

from graphops.common.errors import Rejected
from graphops.common.logs import event, redact_url
from graphops.console.access import Operator, Refusal, change_token, same_page_change, token_refusal
from graphops.console.budgets import budgets
from graphops.console.callout import callout
from graphops.console.listing import PHASES, READ, STANDINGS, Filters, list_trackings
from graphops.console.timeline import timeline
from graphops.console.times import duration, moment
from graphops.console.trace import SETTING, trace_url
from graphops.console.triage import COLUMNS, attention, overdue, toggled
from graphops.envelope.tracking import TRACKING_ID, iso
from graphops.graph.kinds import KINDS
from graphops.pacing import budget_view
from graphops.pacing.budget import LIMITS, Limit
from graphops.step import operator
from graphops.storage import poison
from graphops.storage.poison import RequestCheck
from graphops.storage.seal import Seal
from graphops.storage.state import StateStore
from graphops.storage.state_view import public_view

if TYPE_CHECKING:
    from jinja2 import Environment

log = logging.getLogger("graphops.console")
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
STATIC_FILES = frozenset(
    {"console.css", "console.js", "favicon.svg", "vendor/htmx-2.0.11.min.js", "vendor/chart-4.6.1.umd.min.js"}
)


@dataclass(frozen=True)
class ConsoleRequest:
    method: str
    path: str  # below the console's root, without a leading slash: "", "poison", "trackings/abc"
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # lower-case names
    form: Mapping[str, list[str]] = field(default_factory=dict)  # a POST's form fields (the poison page's ticks)


def form_of(content_type: str | None, body: bytes) -> dict[str, list[str]]:
    """A POST's form fields, when the body is a form (htmx sends the ticked boxes so); else none."""
    if not (content_type or "").startswith("application/x-www-form-urlencoded"):
        return {}
    return parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=False)


@dataclass(frozen=True)
class Page:
    status: int
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)


class Console:
    """The pages, over the state table and the queues. ``authorize`` decides who may see them."""

    def __init__(
        self,
        table: TableClient,
        poison_queue: QueueClient,
        main_queue: QueueClient,
        *,
        root: str,
        authorize: Callable[[Mapping[str, str]], Operator | Refusal],
        clock: Callable[[], datetime],
        sign_in_url: str | None = None,
        unreachable: str = "cannot reach storage",
        token_key: bytes,
        seal: Seal | None,
        check: RequestCheck,
        retrack: Callable[[StateStore, str, datetime], str],
        insights: str | None = None,
        cloud: str = "global",
        budgets: Mapping[str, Limit] = LIMITS,
        tenants: Mapping[str, str] | None = None,
    ) -> None:
        self._table, self._state = table, StateStore(table)
        self._tenants = dict(tenants or {})  # GRAPHOPS_TENANTS: id -> display name, for the list's column and filter
        self._poison, self._main = poison_queue, main_queue  # raw clients: entries are read as they lie
        self._root = root.rstrip("/") + "/"
        self._authorize, self._clock = authorize, clock
        self._sign_in_url = sign_in_url
        self._unreachable = unreachable  # what to say when storage does not answer at all
        self._token_key = token_key  # binds each page's change token to its operator and session
        self._templates: Environment | None = None
        self._seal = seal  # tells graphops' dead letters from anyone else's
        self._check = check  # the trigger's check of a producer's request, for an entry graphops did not write
        self._retrack = retrack  # operator.retrack over the deployment's queue, seal and limits
        # The Application Insights resource the deployment sends its traces to (None: no telemetry, or not known).
        self._insights, self._cloud = insights, cloud
        self._budgets = budgets  # the deployment's throttling limits (GRAPHOPS_THROTTLE_BUDGETS)

    def handle(self, request: ConsoleRequest) -> Page:
        path = request.path.strip("/")
        if path.startswith("static/") and request.method == "GET":
            return self._static(path.removeprefix("static/"))  # no data in them: served before sign-in
        who = self._authorize(request.headers)
        if isinstance(who, Refusal):
            return self._refused(who, request)
        who = replace(who, token=change_token(self._token_key, who, request.headers))  # for the page's changes
        parts = path.split("/") if path else []
        try:
            if request.method == "GET" and not parts:
                return self._list(request, who)
            if request.method == "GET" and parts == ["poison"]:
                return self._poison_page(who)
            if request.method == "GET" and parts == ["budgets"]:
                return self._budgets_page(request, who)
            if request.method == "POST" and parts == ["budgets", "reset"]:
                return self._budget_reset(request, who)
            if request.method == "GET" and len(parts) == 2 and parts[0] == "trackings":
                return self._tracking(unquote(parts[1]), who)
            if request.method == "POST" and len(parts) == 3 and parts[0] == "poison":
                return self._poison_action(unquote(parts[1]), parts[2], request, who)
            if request.method == "POST" and len(parts) == 2 and parts[0] == "poison":
                return self._poison_bulk(parts[1], request, who)
            if request.method == "POST" and len(parts) == 3 and parts[0] == "trackings":
                return self._tracking_action(unquote(parts[1]), parts[2], request, who)
        except Rejected as exc:
            return self._render("error.html", 400, who=who, title="Not understood", message=str(exc))
        except AzureError as exc:
            log.warning("console: storage unavailable: %s", type(exc).__name__)
            said = self._unreachable if isinstance(exc, ServiceRequestError) else "try again in a moment"
            return self._render("error.html", 503, who=who, title="Storage unavailable",
                                message=f"{type(exc).__name__}: {said}")  # fmt: skip
        return self._render("error.html", 404, who=who, title="Not found", message=f"nothing at /{path}")

    # -- pages ----------------------------------------------------------------------------------------

    def _list(self, request: ConsoleRequest, who: Operator) -> Page:
        now = self._clock()
        filters = Filters.from_query(request.query, now, KINDS, self._tenants)
        listing = list_trackings(self._table, filters, now)
        chips = [(name, count, filters.query_string(state=name)) for name, count in listing.counts.items()]
        # Each sortable column's header links to the list sorted by it (again: the other way round).
        headers = {c: (filters.query_string(sort=toggled(filters.sort, c)), aria_sort(filters.sort, c))
                   for c in COLUMNS}  # fmt: skip
        return self._render("list.html", 200, who=who, title="Trackings", filters=filters.form(), listing=listing,
                            chips=chips, phases=PHASES, states=STANDINGS, kinds=sorted(KINDS), now=now,
                            everything=filters.query_string(state=None), headers=headers, sort=filters.sort,
                            attention=attention, overdue=overdue, read_limit=READ, tenants=self._tenants)  # fmt: skip

    def _tracking(self, tracking_id: str, who: Operator) -> Page:
        entity = self._state.read(tracking_id) if TRACKING_ID.fullmatch(tracking_id) else None
        if entity is None:
            why = ("graphops has no record of it: it was never recorded (a message the queue's trigger rejected, or "
                   "one put on the queue with GRAPHOPS_RECORD_QUEUE_TRACKINGS=false), or it finished more than "
                   "GRAPHOPS_STATE_RETENTION_DAYS ago and was removed")  # fmt: skip
            return self._render("error.html", 404, who=who, title="No such tracking",
                                message=f"No tracking {tracking_id!r}: {why}.")  # fmt: skip
        view = public_view(tracking_id, entity)
        links = {"retrackOf": entity.get(operator.RETRACK_OF), "retrackedAs": entity.get(operator.RETRACKED_AS)}
        dead = [e for e in poison.list_entries(self._poison, seal=self._seal) if e.tracking_id == tracking_id]
        plot = timeline(view["history"])
        kind = KINDS.get(str(view.get("kind")))
        return self._render("tracking.html", 200, who=who, title=f"Tracking {view.get('correlationId') or tracking_id}",
                            view=view, problem=callout(view), facts=_facts(view), deliveries=view["deliveries"] or {},
                            dead=dead, plot=plot, plot_data=plot.to_json(), history=view["history"], now=self._clock(),
                            permission=kind.permission if kind else None, time_facts=TIME_FACTS, links=links,
                            retrackable=operator.retrack_refusal(tracking_id, entity) is None,
                            trace=trace_url(self._insights, view.get("traceId"), self._cloud),
                            context=readable(entity.get("context")), body=readable(entity.get("callbackBody")),
                            trace_setting=SETTING)  # fmt: skip

    def _poison_page(self, who: Operator, bulk: Mapping[str, Any] | None = None) -> Page:
        entries = poison.list_entries(self._poison, seal=self._seal)
        return self._render("poison.html", 200, who=who, title="Poison queue", entries=entries,
                            limit=poison.PEEK_LIMIT, now=self._clock(), bulk=bulk)  # fmt: skip

    def _budgets_page(self, request: ConsoleRequest, who: Operator, reset: Mapping[str, Any] | None = None) -> Page:
        now = self._clock()
        shown = budgets(self._table, self._budgets, now)
        service = request.query.get("service", "").strip() or None  # a waiting tracking's link names its budget
        if service is not None:
            shown = [b for b in shown if b.view.service == service]
        return self._render("budgets.html", 200, who=who, title="Budgets", budgets=shown, service=service, now=now,
                            moment_of=lambda at: iso(datetime.fromtimestamp(at, UTC)), reset=reset)  # fmt: skip

    def _budget_reset(self, request: ConsoleRequest, who: Operator) -> Page:
        """Deletes a budget's rows, its pause included: its workers find it unused at their next lease."""
        if (refused := self._change_refused(request, who)) is not None:
            return refused
        service, tenant, scope = ((request.form.get(name) or [""])[0] for name in ("service", "tenant", "scope"))
        if not service or not tenant:
            raise Rejected("service", "a reset names the budget's service and tenant")
        deleted = budget_view.reset(self._table, service, tenant, scope)
        event("console", action="budget reset", service=service, tenant=tenant, scope=scope or None,
              operator=who.principal_id, rows=len(deleted))  # fmt: skip
        done = {"service": service, "tenant": tenant, "scope": scope, "rows": len(deleted)}
        return self._budgets_page(ConsoleRequest("GET", "budgets"), who, reset=done)

    def _change_refused(self, request: ConsoleRequest, who: Operator) -> Page | None:
        """Every change (requeue, discard, cancel, track again) comes from the console's own page with its token."""
        refused = same_page_change(request.headers) or token_refusal(self._token_key, who, request.headers)
        return None if refused is None else self._refused(refused, request)

    def _poison_bulk(self, action: str, request: ConsoleRequest, who: Operator) -> Page:
        """Requeue or discard every ticked entry at once; the page again, saying what was done to which."""
        if (refused := self._change_refused(request, who)) is not None:
            return refused
        ids = set(request.form.get("id", []))
        if action not in ("requeue", "discard"):
            return self._render("error.html", 404, who=who, title="Not found", message=f"no action {action!r}")
        refusals: dict[str, str] = {}
        if action == "requeue":
            requeued = poison.requeue(self._poison, self._main, ids, seal=self._seal, check=self._check)
            done, refusals = requeued.moved, requeued.refused
        else:
            done = poison.discard(self._poison, ids) if ids else []
        event("console", action=f"bulk {action}", messageIds=sorted(ids), operator=who.principal_id,
              done=len(done))  # fmt: skip
        bulk = {"action": action, "done": sorted(done), "refused": refusals,
                "missing": sorted(ids - set(done) - set(refusals)), "asked": len(ids)}  # fmt: skip
        return self._poison_page(who, bulk=bulk)

    def _tracking_action(self, tracking_id: str, action: str, request: ConsoleRequest, who: Operator) -> Page:
        """Cancel a tracking, or track it again: the same paths as `graphops cancel` and `graphops retrack`."""
        if (refused := self._change_refused(request, who)) is not None:
            return refused
        if not TRACKING_ID.fullmatch(tracking_id) or action not in ("cancel", "retrack"):
            return self._render("error.html", 404, who=who, title="Not found", message=f"no action {action!r}")
        now = self._clock()
        new_id = why = None
        outcome: str | None = None
        if action == "cancel":
            entity = operator.cancel(self._state, tracking_id, now)
            outcome = None if entity is None else str(entity.get("outcome") or "")
            why = f"No tracking {tracking_id} is recorded here." if entity is None else None
        else:
            try:
                new_id = self._retrack(self._state, tracking_id, now)
            except Rejected as exc:
                why = exc.problem
        event("console", action=action, trackingId=tracking_id, operator=who.principal_id, done=why is None)
        # 200 either way: htmx swaps in what happened, a refusal included.
        return self._render("tracking_done.html", 200, who=who, action=action, tracking_id=tracking_id,
                            new_id=new_id, outcome=outcome, why=why)  # fmt: skip

    def _poison_action(self, message_id: str, action: str, request: ConsoleRequest, who: Operator) -> Page:
        if (refused := self._change_refused(request, who)) is not None:
            return refused
        why = None
        if action == "requeue":
            requeued = poison.requeue(self._poison, self._main, {message_id}, seal=self._seal, check=self._check)
            done, why = requeued.moved, requeued.refused.get(message_id)
        elif action == "discard":
            done = poison.discard(self._poison, {message_id})
        else:
            return self._render("error.html", 404, who=who, title="Not found", message=f"no action {action!r}")
        event("console", action=action, messageId=message_id, operator=who.principal_id, done=bool(done))
        return self._render("poison_done.html", 200 if done else (409 if why else 404), who=who, action=action,
                            message_id=message_id, done=bool(done), why=why)  # fmt: skip

    # -- plumbing -------------------------------------------------------------------------------------

    def _refused(self, refusal: Refusal, request: ConsoleRequest) -> Page:
        # One line per refusal, naming why, as the page does (reasons are graphops' own words, never a token).
        event("consoleRefused", level=logging.WARNING, status=refusal.status, reason=refusal.reason,
              method=request.method)  # fmt: skip
        if refusal.sign_in and self._sign_in_url and request.method == "GET":
            back = quote(self._root + request.path.lstrip("/"), safe="/")
            return Page(302, b"", headers={**SECURITY_HEADERS, "Location": f"{self._sign_in_url}{back}"})
        return self._render("error.html", refusal.status, who=None, title="Not allowed", message=refusal.reason)

    def _static(self, name: str) -> Page:
        if name not in STATIC_FILES:
            return Page(404, b"not found", "text/plain; charset=utf-8", SECURITY_HEADERS)
        body = resources.files(__package__).joinpath("static", *name.split("/")).read_bytes()
        kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
        kind = "text/javascript" if name.endswith(".js") else kind  # some systems map .js to text/plain
        return Page(200, body, f"{kind}; charset=utf-8",
                    {**SECURITY_HEADERS, "Cache-Control": "public, max-age=86400"})  # fmt: skip

    def _render(self, template: str, status: int, **context: Any) -> Page:
        if self._templates is None:
            from jinja2 import Environment, PackageLoader, select_autoescape

            self._templates = Environment(
                loader=PackageLoader(__package__ or "graphops.console", "templates"),
                autoescape=select_autoescape(default=True), trim_blocks=True, lstrip_blocks=True,
            )  # fmt: skip
            self._templates.filters["no_query"] = lambda url: redact_url(url) if url else ""
            self._templates.filters["path_only"] = path_only
            self._templates.filters["camel_parts"] = camel_parts
            self._templates.globals.update(moment=moment, duration=duration)
        body = self._templates.get_template(template).render(root=self._root, **context)
        return Page(status, body.encode(), headers=SECURITY_HEADERS)


def readable(raw: Any) -> str | None:
    """JSON kept as text (a context, a delivered body), indented to read; as it is when it is not JSON (cut)."""
    if not isinstance(raw, str) or not raw:
        return None
    try:
        return json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        return raw


def aria_sort(sort: str, column: str) -> str:
    """How a column's header says the list is sorted by it (aria-sort)."""
    return {column: "ascending", f"-{column}": "descending"}.get(sort, "none")


def camel_parts(name: str) -> list[str]:
    """A camelCase name in its words (``authenticationMethodOperation``: three), where a line may break."""
    return re.findall(r"[A-Z]?[^A-Z]+|[A-Z]+(?![^A-Z])", name) or [name]


def path_only(url: str | None) -> str:
    """An operation URL as the list shows it: its path (the host is Graph's, or a SharePoint site's), no query."""
    if not url:
        return ""
    parts = urlsplit(url)
    return unquote(parts.path) or url


TIME_FACTS = frozenset({"tracked since", "last poll", "next poll", "deadline", "finished"})


def _facts(view: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The tracking's facts in the order an operator reads them (those in TIME_FACTS are ISO 8601 times)."""
    error = view.get("error") or {}
    names = [("standing", "standing"), ("phase", "phase"), ("outcome", "outcome"), ("kind", "kind"),
             ("operation URL", "operationUrl"), ("waiting for", "waitingFor"),
             ("correlation id", "correlationId"), ("tenant", "tenantId"), ("Graph status", "lastStatus"),
             ("progress", "progress"),
             ("resource", "resource"), ("resource ready", "resourceReady"), ("polls", "polls"),
             ("schedule", "schedule"), ("tracked since", "trackedSince"), ("last poll", "lastPollAt"),
             ("next poll", "nextPollAt"),
             ("deadline", "deadline"), ("finished", "finishedAt"), ("delivery attempts", "deliveryAttempts"),
             ("last delivery error", "lastDeliveryError")]  # fmt: skip
    if view.get("phase") == "done":  # it ended: a deadline still to come would only mislead
        names.remove(("deadline", "deadline"))
    facts = [(label, view.get(key)) for label, key in names if view.get(key) not in (None, "")]
    details = view.get("details")
    if isinstance(details, Mapping):  # Graph's own word on how the result came out (an audit query's record limit)
        facts.extend((str(name), value) for name, value in details.items())
    problem = view.get("lastProblem")
    if isinstance(problem, Mapping):  # what the polls meet instead of an answer (its callout says what to do)
        count = problem.get("inARow")
        facts.append(("last problem", f"{problem.get('what')}" + (f" ({count} in a row)" if count else "")))
    if error:
        facts.append(("error", f"{error.get('code')}: {error.get('message')}"))
    return facts
