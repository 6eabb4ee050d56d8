"""Real parts for the integration tests: Azurite, the identity endpoint, the Graph stand-in, a
callback receiver, and the local runner driving ``function_app.py`` as the Functions host does."""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from graphops import functions
from graphops.client import GraphOpsClient
from graphops.local.azurite import Azurite
from graphops.local.entra import SignInAuthority
from graphops.local.stack import LocalStack
from graphops.runner import Faults, LocalHost, QueueOptions, load_app

from ..conftest import EVENT_GRID_HOSTS, GRAPH_HOSTS, IDENTITIES, SECRETS
from ..idtokens import SigningKey, id_token
from ..patience import patience

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    az = Azurite().start(timeout=patience(30))  # node starts slowly on a loaded machine
    try:
        yield az
    finally:
        az.stop()


@contextmanager
def watched(stack: LocalStack) -> Iterator[LocalStack]:
    """Tell the suite-wide checks about a running stack: its secrets, its token issuer and its services' hosts."""
    SECRETS.update({stack.secret, "sig=local-secret-signature"})
    IDENTITIES.extend([stack.identity, stack.tenants])
    hosts = [(GRAPH_HOSTS, f"127.0.0.1:{stack.graph.port}"), (EVENT_GRID_HOSTS, f"127.0.0.1:{stack.eventgrid.port}")]
    for kind, host in hosts:
        kind.add(host)
    try:
        yield stack
    finally:
        for kind, host in hosts:
            kind.discard(host)


def sink_settings(stack: LocalStack) -> dict[str, str]:
    """Settings that add the Event Grid stand-in and a results queue of the stack's own to the callback."""
    return {"GRAPHOPS_EVENT_GRID_ENDPOINT": stack.eventgrid.endpoint, "GRAPHOPS_RESULTS_QUEUE": results_queue(stack)}


def results_queue(stack: LocalStack) -> str:
    return f"{stack.queue_name}-results"


@pytest.fixture
def stack(azurite: Azurite) -> Iterator[LocalStack]:
    with LocalStack(azurite=azurite, queue_name=f"ops-{uuid.uuid4().hex[:12]}") as st, watched(st):
        yield st


@dataclass
class Harness:
    """One app under test: its settings, the runner serving it, and ways to feed and read its queues."""

    stack: LocalStack
    host: LocalHost
    env: dict[str, str]
    client: GraphOpsClient
    api_base: str | None = None

    @property
    def graph(self) -> Any:
        return self.stack.graph

    @property
    def receiver(self) -> Any:
        return self.stack.receiver

    def api(self, path: str = "") -> str:
        """The runner's HTTP triggers, started on first use, as ``func start`` serves them."""
        if self.api_base is None:
            self.api_base = self.host.start_http(0)
        return f"{self.api_base}/api/{path}"

    def graph_url(self, path: str) -> str:
        return self.stack.graph.url + path

    def track(self, path: str, **options: Any) -> str:
        callback = options.pop("callback_url", None) or self.stack.callback_url()
        return self.client.track(self.graph_url(path), callback, **options)

    def send_raw(self, text: str, *, encode: bool = True) -> str:
        """Put any text on the trigger queue, base64-encoded as host.json says unless told not to."""
        queue = self.queue(self.stack.queue_name)
        content = base64.b64encode(text.encode()).decode() if encode else text
        return str(queue.send_message(content).id)

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.env["AzureWebJobsStorage"], name)

    def run(self, timeout: float = 60) -> None:
        assert self.host.run_until_idle(patience(timeout)), "trackings still pending when the time ran out"

    @property
    def seal(self) -> Any:
        """The app's seal: what tells its dead letters from anyone else's."""
        from graphops.settings import Settings, seal_for

        return seal_for(Settings.from_env(self.env))

    def poison_entries(self) -> list[Any]:
        """The poison queue's oldest 32 entries, read as the console and `graphops poison list` read them."""
        from graphops.storage.poison import list_entries

        return list_entries(self.queue(f"{self.stack.queue_name}-poison"), seal=self.seal)

    def requeue(self, ids: set[str] | None = None) -> Any:
        """What `graphops poison requeue` (or `--all`) and the console's button do."""
        from graphops.intake.request import producer_problem
        from graphops.settings import Settings
        from graphops.storage.poison import requeue
        from graphops.wiring import limits_for

        limits = limits_for(Settings.from_env(self.env))
        return requeue(self.queue(f"{self.stack.queue_name}-poison"), self.queue(self.stack.queue_name), ids,
                       seal=self.seal, check=lambda doc: producer_problem(doc, limits))  # fmt: skip

    def poison(self) -> list[dict[str, Any]]:
        """The poison queue's oldest 32 entries: our dead letters (with reasons) and the host's raw copies."""
        entries = self.poison_entries()
        return [e.record or {"raw": e.original, "reason": e.reason, "trackingId": e.tracking_id} for e in entries]

    def poison_all(self) -> list[dict[str, Any]]:
        """Every entry of the poison queue (more than one peek shows), read without removing any."""
        from graphops.storage.poison import entry_from

        queue = self.queue(f"{self.stack.queue_name}-poison")
        seen: dict[str, dict[str, Any]] = {}
        messages = list(queue.receive_messages(max_messages=32, messages_per_page=32, visibility_timeout=30))
        while messages:
            for m in messages:
                entry = entry_from(m.id, m.inserted_on, str(m.content), seal=self.seal)
                seen[m.id] = entry.record or {"raw": entry.original, "trackingId": entry.tracking_id}
            messages = list(queue.receive_messages(max_messages=32, messages_per_page=32, visibility_timeout=30))
        return list(seen.values())

    def results(self, *, receive: bool = False) -> list[dict[str, Any]]:
        """The results queue's CloudEvents, decoded as a queue-triggered consumer reads them (base64 JSON, the
        signed body beside its headers): the first 32, left where they are, or (``receive``) all of them, hidden
        for a minute. tests/integration/test_sinks.py verifies their signatures."""
        queue = self.queue(results_queue(self.stack))
        seen: dict[str, dict[str, Any]] = {}
        try:
            if not receive:
                return [event_of(m.content) for m in queue.peek_messages(max_messages=32)]
            messages = list(queue.receive_messages(max_messages=32, messages_per_page=32, visibility_timeout=60))
        except ResourceNotFoundError:
            return []  # created with the first result
        while messages:
            for m in messages:
                seen[m.id] = event_of(m.content)
            messages = list(queue.receive_messages(max_messages=32, messages_per_page=32, visibility_timeout=60))
        return list(seen.values())

    def outcomes(self) -> dict[str, str]:
        """webhook-id -> outcome, for every callback the receiver accepted."""
        return {r.webhook_id: r.body["outcome"] for r in self.receiver.delivered()}


def event_of(content: str) -> dict[str, Any]:
    """The CloudEvent in a results-queue message: its signed body."""
    event: dict[str, Any] = json.loads(json.loads(base64.b64decode(content))["body"])
    return event


@pytest.fixture
def make_harness(stack: LocalStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Harness]]:
    """``make_harness(**settings)`` on the test's stack, or ``make_harness(stack=other, ...)`` on another."""
    made: list[Harness] = []
    default_stack = stack

    def make(
        *,
        stack: LocalStack | None = None,
        faults: Faults | None = None,
        lease_seconds: int = 600,
        options: QueueOptions | None = None,
        **settings: str,
    ) -> Harness:
        stack = stack or default_stack
        env = stack.environment(**settings)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        functions.reset()  # a fresh process, as far as graphops can tell
        app = load_app(ROOT)
        host = LocalHost.for_connection_string(
            app,
            dict(os.environ),
            options or QueueOptions.from_host_json(ROOT / "host.json"),
            faults=faults or Faults(),
            lease_seconds=lease_seconds,
        )
        host.ensure_queues()
        harness = Harness(stack, host, env, GraphOpsClient.from_env(env))
        made.append(harness)
        return harness

    yield make
    for harness in made:
        harness.host.close()
    functions.reset()


@pytest.fixture
def harness(make_harness: Callable[..., Harness]) -> Harness:
    return make_harness()


@dataclass(frozen=True)
class ConsoleSignIn:
    """The deployed console's sign-in on this machine: a tenant's published key (Entra ID's stand-in), the app
    registration operators sign in to, one operator, and requests as App Service authentication forwards them."""

    authority: SignInAuthority
    key: SigningKey
    client_id: str
    operator: str

    def settings(self, **overrides: str) -> dict[str, str]:
        """The console on, for ``operator``, behind the platform's authentication, checking sign-ins here."""
        return {"GRAPHOPS_CONSOLE_ENABLED": "true", "GRAPHOPS_CONSOLE_OPERATORS": self.operator,
                "WEBSITE_AUTH_ENABLED": "True", **self.authority.environment(self.client_id), **overrides}  # fmt: skip

    def token(self, oid: str | None = None, key: SigningKey | None = None, **claims: Any) -> str:
        claims.setdefault("issuer", self.authority.issuer)
        claims.setdefault("audience", self.client_id)
        return id_token(key or self.key, oid=oid or self.operator, **claims)

    def headers(self, oid: str | None = None, **claims: Any) -> dict[str, str]:
        """What the platform forwards for a signed-in user: their ID token, and who it says they are."""
        return {"X-MS-TOKEN-AAD-ID-TOKEN": self.token(oid, **claims), "X-MS-CLIENT-PRINCIPAL-ID": oid or self.operator,
                "X-MS-CLIENT-PRINCIPAL-NAME": "oncall@contoso.example", "X-MS-CLIENT-PRINCIPAL-IDP": "aad"}  # fmt: skip


@pytest.fixture
def sign_in() -> Iterator[ConsoleSignIn]:
    key = SigningKey.make()
    with SignInAuthority({key.kid: key.public}) as authority:
        yield ConsoleSignIn(authority, key, str(uuid.uuid4()), str(uuid.uuid4()))


@dataclass(frozen=True)
class ConsoleData:
    """Trackings the console tests look at: what each one went through is known exactly."""

    harness: Harness
    refreshed: str  # alert refresh: running, 429 (Retry-After: 2), running, succeeded; correlation id wf-console
    failed: str  # password reset: failed at the first poll
    dead: str  # succeeded, but its callback answered 410: dead-lettered
    dead_message: str  # the dead letter's message id in the poison queue


def own_state_table() -> str:
    """A state table for one test: Azurite is shared by the session, and the console lists a whole table."""
    return f"state{uuid.uuid4().hex[:16]}"


@pytest.fixture
def console_data(make_harness: Callable[..., Harness]) -> ConsoleData:
    from graphops.local import seed
    from graphops.local.graph import Reply

    harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    graph = harness.graph
    throttled = Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "2"})
    graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("running")), throttled,
                                             Reply(200, seed.alert_refresh("running")),
                                             Reply(200, seed.alert_refresh("succeeded"))])  # fmt: skip
    graph.script(seed.reset_path("u1", "r1"), [Reply(200, seed.password_reset("failed", "r1"))])
    graph.script(seed.reset_path("u2", "r2"), [Reply(200, seed.password_reset("succeeded", "r2"))])
    harness.receiver.answer("/gone", 410)
    refreshed = harness.track(seed.ALERT_OPERATION_PATH, correlation_id="wf-console")
    failed = harness.track(seed.reset_path("u1", "r1"), correlation_id="wf-other")
    dead = harness.track(seed.reset_path("u2", "r2"), callback_url=harness.stack.callback_url("/gone"))
    harness.run()
    [entry] = [e for e in _poison_entries(harness) if e.tracking_id == dead]
    return ConsoleData(harness, refreshed, failed, dead, entry.message_id)


def _poison_entries(harness: Harness) -> list[Any]:
    from graphops.storage.poison import list_entries

    return list_entries(harness.queue(f"{harness.stack.queue_name}-poison"), seal=harness.seal)


@pytest.fixture
def local_console(console_data: ConsoleData) -> Iterator[Any]:
    """``graphops console``'s server over the test's Azurite, on loopback."""
    from graphops.console import build_console
    from graphops.console.local import LocalConsole
    from graphops.settings import Settings

    settings = Settings.from_env(console_data.harness.env)
    with LocalConsole(lambda authorize: build_console(settings, None, root="/", authorize=authorize)) as server:
        yield server


@dataclass(frozen=True)
class EveryState:
    """One tracking in each state an operator meets, for the console's pages; two are left waiting on Graph."""

    harness: Harness
    trackings: dict[str, str]  # state -> tracking id: polling, throttled, delivered, deliveryFailed, forbidden, ...
    unreadable: str  # a poison entry that is not JSON: it can only be discarded
    unrecorded: str  # a tracking id dead-lettered before any state was kept for it


@pytest.fixture
def every_state(make_harness: Callable[..., Harness]) -> EveryState:
    from graphops.local import seed
    from graphops.local.graph import Reply
    from graphops.settings import Settings
    from graphops.storage.poison import list_entries
    from graphops.storage.state import StateStore, table_client

    harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    graph, receiver = harness.graph, harness.receiver
    receiver.answer("/gone", 410)
    running = Reply(200, seed.password_reset("running", "op"))
    throttled = Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "900"})
    denied = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    succeeded = Reply(200, seed.password_reset("succeeded", "op"))
    scripts = {"polling": [running], "throttled": [running, throttled], "timedOut": [running],
               "cancelled": [running], "delivered": [succeeded], "deliveryFailed": [succeeded],
               "forbidden": [denied]}  # fmt: skip
    trackings: dict[str, str] = {}
    for state, replies in scripts.items():
        path = seed.reset_path(f"user-{state}", "op")
        graph.script(path, replies)
        if state == "forbidden":  # refused on v1.0 and on its beta twin, which graphops asks once
            graph.script(seed.reset_path(f"user-{state}", "op", "beta"), replies)
        callback = harness.stack.callback_url("/gone" if state == "deliveryFailed" else "/")
        options = {"timeout_seconds": 1} if state == "timedOut" else {}
        trackings[state] = harness.track(path, correlation_id=f"wf-{state}", callback_url=callback, **options)
    unreadable = harness.send_raw("this is not JSON")
    unrecorded = harness.send_raw(json.dumps({"operationUrl": "https://graph.microsoft.com/v1.0/nope"}))

    settings = Settings.from_env(harness.env)
    state = StateStore(table_client(settings.storage, settings.state_table, None))
    poison = harness.queue(f"{harness.stack.queue_name}-poison")
    finished = ("delivered", "deliveryFailed", "forbidden", "timedOut")

    def settled() -> bool:
        views = {name: state.read(trackings[name]) or {} for name in (*finished, "cancelled", "throttled")}
        return (all(views[name].get("phase") == "done" for name in finished)
                and bool(views["cancelled"]) and views["throttled"].get("waitingFor") == "Retry-After"
                and len(list_entries(poison, seal=harness.seal)) == 3)  # fmt: skip

    deadline = time.monotonic() + patience(60)
    while not settled():
        assert time.monotonic() < deadline, "the console's trackings did not reach their states"
        harness.host.poll_once()
        time.sleep(0.2)
    harness.host.drain()
    assert state.cancel(trackings["cancelled"], datetime.now(UTC)) is not None
    return EveryState(harness, trackings, unreadable, unrecorded)


@dataclass(frozen=True)
class PausedBudget:
    """The identity budget paused by one tracking's 429 (Retry-After 900), and another tracking waiting for it."""

    harness: Harness
    throttled: str
    waiting: str


@pytest.fixture
def paused_budget(make_harness: Callable[..., Harness]) -> PausedBudget:
    from graphops.local import seed
    from graphops.local.graph import Reply
    from graphops.settings import Settings
    from graphops.storage.state import StateStore, table_client

    harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    running = Reply(200, seed.password_reset("running", "op"))
    throttled = Reply(429, seed.graph_error("TooManyRequests", "slow down"), {"Retry-After": "900"})
    harness.graph.script(seed.reset_path("user-throttled", "op"), [running, throttled])
    harness.graph.script(seed.reset_path("user-waiting", "op"), [running])
    state = StateStore(table_client(Settings.from_env(harness.env).storage, harness.env["GRAPHOPS_STATE_TABLE"], None))

    def until(tracking: str, waiting_for: str) -> None:
        deadline = time.monotonic() + patience(60)
        while (state.read(tracking) or {}).get("waitingFor") != waiting_for:
            assert time.monotonic() < deadline, f"{tracking} did not come to wait for {waiting_for}"
            harness.host.poll_once()
            time.sleep(0.2)

    first = harness.track(seed.reset_path("user-throttled", "op"), correlation_id="wf-throttled")
    until(first, "Retry-After")
    second = harness.track(seed.reset_path("user-waiting", "op"), correlation_id="wf-waiting")
    until(second, "budget")
    harness.host.drain()
    return PausedBudget(harness, first, second)
