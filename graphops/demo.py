"""``graphops demo``: the whole loop on one machine, with a live view of every tracking."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from graphops import functions
from graphops.client import GraphOpsClient
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.local.stack import LocalStack
from graphops.runner import LocalHost, QueueOptions, load_app

APP_DIR = Path(__file__).resolve().parents[1]


@dataclass
class Scenario:
    name: str
    path: str
    replies: list[Reply]
    expected: str
    timeout: int | None = None
    query: str = ""
    handed: str | None = None  # the URL as a caller hands it over, when not the stand-in's absolute one
    on_sharepoint: bool = False  # a drive-copy monitor, served by the SharePoint stand-in
    wait_for_resource: bool = False
    resource: tuple[str, list[Reply]] | None = None  # the created resource's path and answers
    #: graphops sends this Graph request itself (a start action: method, path, body) and Graph answers 202
    #: with ``handed`` as its Location, or ``created``: 201 with the job, read at the path + its id.
    start: tuple[str, str, dict[str, Any]] | None = None
    created: dict[str, Any] | None = None
    #: What the callback's receiver answers (then 200); a permanent refusal such as 410 dead-letters the
    #: delivery, and the console's poison page shows it.
    callback_answers: tuple[int, ...] = ()
    #: The beta twin a 401/403 on a v1.0 reset asks: it answers as the scenario's path does.
    twin: str | None = None

    @property
    def callback_expected(self) -> bool:
        return not any(400 <= status < 500 and status not in (408, 425, 429) for status in self.callback_answers)


@dataclass
class Row:
    scenario: Scenario
    kind: str = ""
    status: str = "-"
    polls: int = 0
    next_poll_at: float | None = None
    outcome: str = ""


def scenarios(fast: bool) -> list[Scenario]:
    alert_running, alert_done = seed.alert_refresh("running"), seed.alert_refresh("succeeded")
    failing_id = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_RolesAssignedOutsidePimAlert"
    stuck_id = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_TooManyGlobalAdminsAssignedToTenantAlert"
    alert_path = "/beta/identityGovernance/roleManagementAlerts/operations/"
    failed = {**seed.alert_refresh("failed", failing_id), "statusDetail": "Scope not found"}
    user = "48d31887-5fad-4d73-a9f5-3c356e68a038"
    throttle = Reply(429, seed.graph_error("TooManyRequests", "Too many requests"), {"Retry-After": "2"})
    denied = seed.graph_error("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    team_missing = Reply(404, seed.graph_error("NotFound", "No team found with Group Id"))
    team = {"id": seed.CLONE_ID, "displayName": "Contoso Sales (clone)"}
    copy_running = {"operation": "itemCopy", "percentageComplete": 42.0, "status": "inProgress"}
    copied = "https://contoso.sharepoint.com/sites/finance/_api/v2.0/drives/b!x9/items/01MOWKYV"
    return [
        Scenario("alert refresh", seed.ALERT_OPERATION_PATH, [Reply(200, alert_running)] * 2 + [Reply(200, alert_done)],
                 "succeeded"),
        Scenario("password reset", seed.reset_path(user),
                 [Reply(200, seed.password_reset(s)) for s in ("notStarted", "running", "succeeded")], "succeeded",
                 query="?aadgdc=DUB02P&aadgsu=ssprprod-a"),
        Scenario("refresh that fails", alert_path + failing_id,
                 [Reply(200, seed.alert_refresh("running", failing_id)), Reply(200, failed)], "failed"),
        Scenario("throttled reset", seed.reset_path(user, "7f1c0b9e-throttled"),
                 [Reply(200, seed.password_reset("running")), throttle, Reply(200, seed.password_reset("succeeded"))],
                 "succeeded"),
        Scenario("no permission", seed.reset_path("adele@contoso.com", "0c5d-forbidden"), [Reply(403, denied)],
                 "forbidden", twin=seed.reset_path("adele@contoso.com", "0c5d-forbidden", "beta")),
        Scenario("never finishes", alert_path + stuck_id, [Reply(200, seed.alert_refresh("running", stuck_id))],
                 "timedOut", timeout=5 if fast else 12),
        Scenario("team clone", "/v1.0" + seed.TEAM_LOCATION,
                 [Reply(200, seed.teams_operation(s)) for s in ("notStarted", "inProgress", "succeeded")], "succeeded",
                 handed=seed.TEAM_LOCATION, wait_for_resource=True,
                 resource=(f"/v1.0/teams('{seed.CLONE_ID}')", [team_missing, team_missing, Reply(200, team)]),
                 start=("POST", f"/v1.0/teams/{seed.TEAM_ID}/clone", {"displayName": "Contoso Sales (clone)",
                                                                       "partsToClone": "apps,tabs,channels"})),
        Scenario("data export", seed.EXPORT_PATH,
                 [Reply(200, seed.data_export(s)) for s in ("notStarted", "running", "complete")], "succeeded"),
        Scenario("drive copy", "/_api/v2.1/drives/b!x9/operations/1e5b",
                 [Reply(200, copy_running), Reply(303, None, {"Location": copied})], "succeeded",
                 query="?c=Yzpm&tempauth=demo-credential", on_sharepoint=True),
        Scenario("audit log search", seed.AUDIT_QUERY_PATH,
                 [Reply(200, seed.audit_query(s)) for s in ("running", "running", "succeeded")], "succeeded",
                 start=("POST", "/v1.0/security/auditLog/queries",
                        {"displayName": "Mailbox access, last week", "operationFilters": ["MailItemsAccessed"],
                         "filterStartDateTime": "2026-11-21T00:00:00Z", "filterEndDateTime": "2026-11-28T00:00:00Z"}),
                 created=seed.audit_query("notStarted", wrapped=False)),
        Scenario("callback gone", seed.reset_path(user, "5d2e-receiver-gone"),
                 [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))],
                 "succeeded", callback_answers=(410,)),
    ]  # fmt: skip


class EventView(logging.Handler):
    """Follows the tracker's structured log lines, as an operator would, and keeps one row per tracking."""

    def __init__(self, rows: dict[str, Row]) -> None:
        super().__init__(logging.INFO)
        self.rows = rows
        self.rows_lock = threading.Lock()  # Handler.lock is the base class's own

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = json.loads(record.getMessage())
        except ValueError:
            return
        with self.rows_lock:
            row = self.rows.get(event.get("trackingId", ""))
            if row is None:
                return
            row.kind = event.get("kind", row.kind)
            if event["event"] == "poll":
                row.polls = event.get("polls", row.polls)
                http = event.get("httpStatus")
                row.status = event.get("status") or (f"HTTP {http}" if http else "no answer")
                delay = event.get("nextPollSeconds")
                row.next_poll_at = time.monotonic() + delay if delay is not None else None
            elif event["event"] == "resource":
                http = event.get("httpStatus")
                row.status = "resource ready" if event.get("ready") else f"waiting for resource (HTTP {http})"
                delay = event.get("nextPollSeconds")
                row.next_poll_at = time.monotonic() + delay if delay is not None else None
            elif event["event"] == "deliver":
                row.outcome = event.get("outcome", "")
                row.next_poll_at = None

    def table(self) -> Table:
        out = Table("tracking", "kind", "Graph status", "polls", "next poll", "outcome", expand=True)
        now = time.monotonic()
        with self.rows_lock:
            for row in self.rows.values():
                upcoming = f"in {max(0.0, row.next_poll_at - now):.0f}s" if row.next_poll_at else ""
                out.add_row(row.scenario.name, row.kind, row.status, str(row.polls), upcoming, row.outcome or "…")
        return out


def run_demo(
    *, save_to: Path, fast: bool, live: bool, console: Console | None = None, console_port: int | None = None
) -> bool:
    """The scenarios, start to end. With ``console_port``, the operations console then shows the demo's
    trackings on loopback until Ctrl-C, before every part is stopped."""
    console = console or Console()
    started = time.monotonic()
    console.print(
        "[bold]graphops demo[/]: Azurite, the local runner, and stand-ins for Graph and the identity endpoint"
    )
    with LocalStack(save_callbacks_to=save_to) as stack:
        env = stack.environment(
            GRAPHOPS_MAX_DELAY_SECONDS="2" if fast else "3",
            GRAPHOPS_START_ACTIONS="teamClone,auditLogQuery",
            # Every result is also published to Event Grid (the TLS stand-in) and put on a results queue.
            GRAPHOPS_EVENT_GRID_ENDPOINT=stack.eventgrid.endpoint,
            GRAPHOPS_RESULTS_QUEUE=f"{stack.queue_name}-results",
        )
        os.environ.update(env)
        functions.reset()
        plan = scenarios(fast)
        for item in plan:
            (stack.sharepoint if item.on_sharepoint else stack.graph).script(item.path, item.replies)
            if item.twin:
                stack.graph.script(item.twin, item.replies)
            if item.resource:
                stack.graph.script(*item.resource)
            if item.start:
                answer = Reply(202, None, {"Location": item.handed or item.path})
                stack.graph.on(
                    item.start[0], item.start[1], _answers(Reply(201, item.created) if item.created else answer)
                )
        host = LocalHost.for_connection_string(
            load_app(APP_DIR), env, QueueOptions.from_host_json(APP_DIR / "host.json")
        )
        host.ensure_queues()
        client = GraphOpsClient.from_env(env)
        rows: dict[str, Row] = {}
        view = EventView(rows)
        tracker_log = logging.getLogger("graphops")
        tracker_log.addHandler(view)
        tracker_log.setLevel(logging.INFO)
        tracker_log.propagate = False
        try:
            for item in plan:
                route = f"/callbacks/{item.name.replace(' ', '-')}"
                if item.callback_answers:
                    stack.receiver.answer(route, *item.callback_answers)
                callback = stack.callback_url(route)
                host_url = stack.sharepoint.url if item.on_sharepoint else stack.graph.url
                options = {"correlation_id": item.name, "context": {"demo": True}, "timeout_seconds": item.timeout,
                           "wait_for_resource": item.wait_for_resource}  # fmt: skip
                if item.start:  # graphops sends the request and tracks what Graph's 202 (or 201) names
                    method, path, body = item.start
                    tracking_id = client.start(method, path, callback, body, **options)
                else:
                    tracking_id = client.track(item.handed or host_url + item.path + item.query, callback, **options)
                rows[tracking_id] = Row(item)
            finished = _serve(host, view, rows, live, console)
        finally:
            tracker_log.removeHandler(view)
            tracker_log.propagate = True
            host.close()
        ok = _summary(console, rows, stack, save_to, _queued(env), _dead_letters(env)) and finished
        if console_port is not None:
            _show_console(console, env, console_port)
    console.print(f"done in {time.monotonic() - started:.1f}s; every part stopped.")
    return ok


def _show_console(console: Console, env: dict[str, str], port: int) -> None:
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.settings import Settings

    settings = Settings.from_env(env)
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize), port) as pages:
        # One line a script can wait for, and a person can click.
        console.print(f"console: {pages.url}/ (the demo's trackings; Ctrl-C stops it and the demo)", soft_wrap=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            console.print("console stopped.")


def _queued(env: dict[str, str]) -> set[str]:
    """The tracking ids on the results queue (each message one signed CloudEvent, base64 as a queue trigger reads
    it; its webhook-id is the tracking id)."""
    from azure.storage.queue import QueueClient, TextBase64DecodePolicy

    queue = QueueClient.from_connection_string(env["AzureWebJobsStorage"], env["GRAPHOPS_RESULTS_QUEUE"],
                                               message_decode_policy=TextBase64DecodePolicy())  # fmt: skip
    return {json.loads(m.content)["headers"]["webhook-id"] for m in queue.peek_messages(max_messages=32)}


def _dead_letters(env: dict[str, str]) -> dict[str, str]:
    """Tracking id -> the reason of its dead letter, from the poison queue the console shows."""
    from graphops.settings import Settings, seal_held
    from graphops.storage.connection import StorageConnection
    from graphops.storage.poison import list_entries
    from graphops.storage.queues import queue_client

    poison = queue_client(StorageConnection.from_env(env), f"{env['GRAPHOPS_QUEUE_NAME']}-poison", None, encoded=False)
    seal = seal_held(Settings.from_env(env))
    return {e.tracking_id: e.reason for e in list_entries(poison, seal=seal) if e.tracking_id}


def _answers(reply: Reply) -> Callable[[dict[str, Any]], Reply]:
    return lambda body: reply


def _serve(host: LocalHost, view: EventView, rows: dict[str, Row], live: bool, console: Console) -> bool:
    result: list[bool] = []
    runner = threading.Thread(target=lambda: result.append(host.run_until_idle(timeout=90)), daemon=True)
    runner.start()
    progress = Progress(TextColumn("trackings ended"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    task = progress.add_task("ended", total=len(rows))
    if live:
        with Live(Group(view.table(), progress), console=console, refresh_per_second=8) as screen:
            while runner.is_alive():
                progress.update(task, completed=sum(1 for r in rows.values() if r.outcome))
                screen.update(Group(view.table(), progress))
                time.sleep(0.125)
            progress.update(task, completed=sum(1 for r in rows.values() if r.outcome))
            screen.update(Group(view.table(), progress))
    else:
        seen: set[tuple[str, int, str]] = set()
        while True:
            alive = runner.is_alive()
            for row in list(rows.values()):
                key = (row.scenario.name, row.polls, row.outcome)
                if row.polls and key not in seen:
                    seen.add(key)
                    console.print(
                        f"{row.scenario.name:<20} poll {row.polls}: {row.status}"
                        + (f" -> {row.outcome}" if row.outcome else "")
                    )
            if not alive:
                break
            time.sleep(0.1)
    runner.join()
    return bool(result and result[0])


def _summary(
    console: Console, rows: dict[str, Row], stack: LocalStack, save_to: Path, queued: set[str], dead: dict[str, str]
) -> bool:
    received = stack.receiver.by_id()
    events = {e["id"]: e["type"].removeprefix("graphops.operation.") for e in stack.eventgrid.events}
    table = Table("tracking", "outcome", "polls", "callback", "event", "queued", title="summary")
    ok = True
    for tracking_id, row in rows.items():
        got = [r for r in received.get(tracking_id, []) if 200 <= r.status < 300]
        # The event carries the outcome whether or not the callback was taken.
        outcome = got[0].body["outcome"] if got else events.get(tracking_id, "(none)")
        verified = bool(got) and all(r.verified for r in got)
        published, on_queue = events.get(tracking_id) == outcome, tracking_id in queued
        if row.scenario.callback_expected:
            callback_ok, callback = verified, f"{len(got)}, signed" if verified else "MISSING"
        else:  # refused for good by its receiver: dead-lettered, on the console's poison page
            callback_ok = not got and "callback" in dead.get(tracking_id, "")
            callback = "dead-lettered" if callback_ok else "NOT DEAD-LETTERED"
        good = outcome == row.scenario.expected and callback_ok and published and on_queue
        ok &= good
        shown = outcome if outcome == row.scenario.expected else f"{outcome} (expected {row.scenario.expected})"
        table.add_row(
            row.scenario.name, f"[{'green' if good else 'red'}]{shown}[/]",
            str(got[0].body["polls"] if got else row.polls), callback,
            "yes" if published else "MISSING", "yes" if on_queue else "MISSING",
        )  # fmt: skip
    console.print(table)
    console.print(f"callbacks saved in {save_to}/ as <tracking id>.json, signature checked on receipt:")
    for tracking_id, row in rows.items():  # whole ids, to find each file and each tracking in the console
        console.print(f"  {row.scenario.name:<20} {tracking_id}", soft_wrap=True)
    if dead:
        # The demo's Azurite goes with it: the hints are for the practice stack, which keeps its data.
        console.print(f"{len(dead)} dead-lettered; to look at dead letters after the demo, start the practice stack "
                      "with `graphops local --seed`, then run `graphops poison list`", soft_wrap=True)  # fmt: skip
    console.print(f"{len(stack.eventgrid.events)} CloudEvents published to Event Grid (TLS, an Entra ID token), "
                  f"{len(queued)} on the results queue")  # fmt: skip
    if stack.graph.violations:
        ok = False
        console.print(f"[red]Graph stand-in saw violations:[/] {stack.graph.violations}")
    return ok


# -- `graphops local --seed`: a tracking in every state an operator meets ------------------------------------------

PRACTICE_STATES = ("running", "throttled", "succeeded", "failed", "timedOut", "forbidden", "deliveryFailed",
                   "cancelled")  # fmt: skip


def seed_every_state(
    stack: LocalStack, client: GraphOpsClient, env: dict[str, str], timeout: float = 120
) -> dict[str, str]:
    """Track one password reset per state on the practice stack (its runner serving them meanwhile) and wait until
    each stands there: state -> tracking id. The delivery that fails leaves a dead letter in the poison queue."""
    from datetime import UTC, datetime

    from graphops.pacing.length_store import LengthStore
    from graphops.settings import Settings
    from graphops.step import operator
    from graphops.storage.state import StateStore, table_client
    from graphops.storage.state_view import history_of

    stack.receiver.answer("/gone", 410)
    running = Reply(200, seed.password_reset("running", "op"))
    throttled = Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "3600"})
    denied = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    scripts = {"running": [running], "throttled": [running, throttled], "timedOut": [running],
               "succeeded": [Reply(200, seed.password_reset("succeeded", "op"))],
               "failed": [Reply(200, seed.password_reset("failed", "op"))], "forbidden": [denied],
               "deliveryFailed": [Reply(200, seed.password_reset("succeeded", "op"))],
               "cancelled": [running]}  # fmt: skip
    run = datetime.now(UTC).strftime("%H%M%S")  # a seed again beside the first: its own operations
    settings = Settings.from_env(env)
    table = table_client(settings.storage, settings.state_table, None)
    # Before any poll of the kind: each process reads the lengths at its first poll, then every ten minutes.
    seed_learned_lengths(LengthStore(table), LEARNED_KIND, time.time())
    trackings: dict[str, str] = {}
    for state in PRACTICE_STATES:
        path = seed.reset_path(f"practice-{state}-{run}", "op")
        stack.graph.script(path, scripts[state])
        if state == "forbidden":  # refused on v1.0 and on its beta twin, which graphops asks once
            stack.graph.script(seed.reset_path(f"practice-{state}-{run}", "op", "beta"), scripts[state])
        callback = stack.callback_url("/gone" if state == "deliveryFailed" else "/practice")
        options: dict[str, Any] = {"timeout_seconds": 1} if state == "timedOut" else {}
        trackings[state] = client.track(stack.graph.url + path, callback, correlation_id=f"practice-{state}", **options)
    # A kind polled by the schedule its lengths taught (its history says "schedule": "learned").
    learned_path = f"/v1.0/dataPolicyOperations/practice-learned-{run}"
    stack.graph.script(learned_path, [Reply(200, seed.data_export("running"))])
    trackings["learned"] = client.track(stack.graph.url + learned_path, stack.callback_url("/practice"),
                                        correlation_id="practice-learned")  # fmt: skip
    state_store = StateStore(table)
    ended = ("succeeded", "failed", "timedOut", "forbidden", "deliveryFailed")
    deadline = time.monotonic() + timeout

    def settled() -> bool:
        rows = {name: state_store.read(trackings[name]) or {} for name in (*ended, "running", "throttled", "cancelled")}
        return (all(rows[name].get("phase") == "done" for name in ended) and bool(rows["running"])
                and bool(rows["cancelled"]) and rows["throttled"].get("waitingFor") == "Retry-After")  # fmt: skip

    _wait_until(settled, deadline, timeout, "a tracking in every state")
    # The throttled tracking's 429 (Retry-After: an hour) paused the tenant's identity budget for ten minutes: a
    # password reset tracked now waits for it without asking Graph.
    waiting_path = seed.reset_path(f"practice-budgetWait-{run}", "op")
    stack.graph.script(waiting_path, [running])
    trackings["budgetWait"] = client.track(stack.graph.url + waiting_path, stack.callback_url("/practice"),
                                           correlation_id="practice-budgetWait")  # fmt: skip

    def waiting() -> bool:
        return (state_store.read(trackings["budgetWait"]) or {}).get("waitingFor") == "budget"

    def learned() -> bool:
        history = history_of(state_store.read(trackings["learned"]) or {})
        return any(str(h.get("schedule") or "").startswith("learned") for h in history)

    _wait_until(waiting, deadline, timeout, "a tracking waiting for the paused identity budget")
    _wait_until(learned, deadline, timeout, "a tracking polled by its kind's learned schedule")
    operator.cancel(state_store, trackings["cancelled"], datetime.now(UTC))
    return trackings


#: The practice stack's kind with a learned schedule, and how many lengths it is given (past the 50 it needs).
LEARNED_KIND = "dataPolicyOperation"
LEARNED_LENGTHS = 80


def practice_poll_delays() -> str:
    """The practice stack's fast schedule for every kind but the one it seeds a learned schedule for: a schedule
    the settings fix is never replaced by a learned one."""
    from graphops.graph.kinds import KINDS

    return ",".join(f"{name}=1:2" for name in sorted(KINDS) if name != LEARNED_KIND)


def seed_learned_lengths(store: Any, kind: str, now: float) -> None:
    """Lengths of ``kind`` as finished trackings leave them (graphops.pacing.length_store): two to four minutes,
    one an hour from a source each, so none is past its share and each counts."""
    from graphops.pacing.learned import Seen
    from graphops.pacing.length_store import operation_key

    for n in range(LEARNED_LENGTHS):
        seconds = 120.0 + (n * 37) % 120
        store.add(kind, operation_key(f"practice-learned-{n}"), Seen(seconds, now - 3600.0 * n, f"practice-{n}"))


def _wait_until(done: Any, deadline: float, timeout: float, what: str) -> None:
    while not done():
        if time.monotonic() > deadline:
            raise TimeoutError(f"the practice trackings did not reach their states within {timeout:.0f}s: {what}")
        time.sleep(0.25)
