"""The local runner: serves ``function_app.py``'s triggers the way the Functions host does.

It indexes the app with ``app.get_functions()``, and for each queue trigger receives batches of
``batchSize``, decodes per ``messageEncoding``, builds ``azure.functions.QueueMessage`` and calls
the function. On return it deletes the message; on an exception it makes the message visible again
after ``visibilityTimeout``, or, once ``dequeueCount`` reaches ``maxDequeueCount``, copies it to
``<queue>-poison`` and deletes it. It is a development tool: production runs on Azure Functions.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import azure.functions as func
from azure.core.credentials import TokenCredential
from azure.core.exceptions import AzureError
from azure.functions.decorators.function_app import Function
from azure.functions.queue import QueueMessage as TriggerMessage
from azure.storage.queue import QueueClient, QueueMessage, QueueServiceClient

from graphops.common.errors import SettingsError
from graphops.local.http_host import HttpFunction, HttpHost

log = logging.getLogger("graphops.runner")
_TIMESPAN = re.compile(r"(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)")


def parse_timespan(raw: str, name: str) -> float:
    """host.json TimeSpan (``[d.]hh:mm:ss[.fff]``) to seconds."""
    match = _TIMESPAN.fullmatch(raw.strip())
    if not match:
        raise SettingsError(name, f"{raw!r} is not a TimeSpan like 00:00:10")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """host.json ``extensions.queues``, with the Functions host's defaults."""

    batch_size: int = 16
    new_batch_threshold: int | None = None
    max_polling_interval: float = 60.0
    visibility_timeout: float = 0.0
    max_dequeue_count: int = 5
    message_encoding: str = "base64"

    @classmethod
    def from_host_json(cls, path: Path) -> QueueOptions:
        doc = json.loads(path.read_text())
        queues = doc.get("extensions", {}).get("queues", {})
        prefix = "host.json extensions.queues."
        options = cls(
            batch_size=int(queues.get("batchSize", 16)),
            new_batch_threshold=queues.get("newBatchThreshold"),
            max_polling_interval=parse_timespan(
                queues.get("maxPollingInterval", "00:01:00"), prefix + "maxPollingInterval"
            ),
            visibility_timeout=parse_timespan(
                queues.get("visibilityTimeout", "00:00:00"), prefix + "visibilityTimeout"
            ),
            max_dequeue_count=int(queues.get("maxDequeueCount", 5)),
            message_encoding=str(queues.get("messageEncoding", "base64")).lower(),
        )
        if not 1 <= options.batch_size <= 32:
            raise SettingsError(prefix + "batchSize", "must be 1 to 32")
        if options.message_encoding not in {"base64", "none"}:
            raise SettingsError(prefix + "messageEncoding", "must be base64 or none")
        return options

    @property
    def threshold(self) -> int:
        return self.new_batch_threshold if self.new_batch_threshold is not None else self.batch_size // 2


@dataclass(frozen=True)
class Faults:
    """Failures the runner can inject, to show what the host's at-least-once delivery does to a step."""

    die_before_delete: float = 0.0  # probability that the host "dies" after the function returned
    seed: int | None = None


@dataclass(frozen=True)
class QueueFunction:
    name: str
    queue_name: str
    connection: str
    call: Callable[[func.QueueMessage], Any]


def load_app(app_dir: Path) -> func.FunctionApp:
    """Import ``function_app.py`` afresh, as a new worker process would, and return its ``app``.

    The Functions worker indexes an app once per process; loading a new module object each time lets
    one process start several runners (the tests do) without indexing one app object twice.
    """
    import importlib.util
    import sys

    path = app_dir / "function_app.py"
    if not path.exists():
        raise FileNotFoundError(f"no function_app.py in {app_dir}")
    if str(app_dir) not in sys.path:
        sys.path.insert(0, str(app_dir))  # as the worker does, so the app can import its own packages
    spec = importlib.util.spec_from_file_location("function_app", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    app = getattr(module, "app", None)
    if not isinstance(app, func.FunctionApp):
        raise TypeError(f"{path} defines no azure.functions.FunctionApp named 'app'")
    return app


def index(app: func.FunctionApp) -> list[Function]:
    """``app.get_functions()``, as the worker calls it once at start-up."""
    quiet = logging.getLogger()  # azure-functions warns on the root logger that non-HTTP apps have no auth level
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return app.get_functions()
    finally:
        quiet.setLevel(level)


def resolve_setting_expression(value: str, env: Mapping[str, str]) -> str:
    """``%NAME%`` binding expressions, as the host resolves them from app settings."""

    def lookup(match: re.Match[str]) -> str:
        name = match.group(1)
        if not env.get(name):
            raise SettingsError(name, f"not set (a trigger binds to %{name}%)")
        return env[name]

    return re.sub(r"%([^%]+)%", lookup, value)


def queue_functions(indexed: Sequence[Function], env: Mapping[str, str]) -> list[QueueFunction]:
    """The queue triggers among an app's indexed functions (``app.get_functions()``, called once)."""
    found = []
    for function in indexed:
        trigger = function.get_trigger()
        binding = trigger.get_dict_repr() if trigger else {}
        if binding.get("type") == "queueTrigger":
            found.append(
                QueueFunction(
                    name=function.get_function_name() or function.get_user_function().__name__,
                    queue_name=resolve_setting_expression(binding["queueName"], env),
                    connection=str(binding.get("connection") or "AzureWebJobsStorage"),
                    call=function.get_user_function(),
                )
            )
    return found


def http_functions(indexed: Sequence[Function]) -> list[HttpFunction]:
    found = []
    for function in indexed:
        trigger = function.get_trigger()
        binding = trigger.get_dict_repr() if trigger else {}
        if binding.get("type") == "httpTrigger":
            methods = frozenset(str(getattr(m, "value", m)).upper() for m in binding.get("methods") or ["GET", "POST"])
            found.append(
                HttpFunction(
                    name=function.get_function_name() or function.get_user_function().__name__,
                    route=str(binding.get("route") or function.get_function_name()),
                    methods=methods,
                    call=function.get_user_function(),
                )
            )
    return found


class LocalHost:
    """Runs an app's queue triggers against a storage account until stopped."""

    def __init__(
        self,
        app: func.FunctionApp,
        env: Mapping[str, str],
        options: QueueOptions,
        *,
        service: QueueServiceClient,
        workers: int | None = None,
        lease_seconds: int = 600,
        faults: Faults = Faults(),
        on_step: Callable[[str, str, Exception | None, float], None] | None = None,
    ) -> None:
        indexed = index(app)
        self.functions = queue_functions(indexed, env)
        self.http_functions = http_functions(indexed)
        self._http: HttpHost | None = None
        self.options = options
        self._service = service
        self._lease = lease_seconds
        self._faults = faults
        self._rng = random.Random(faults.seed)
        self._on_step = on_step
        self._pool = ThreadPoolExecutor(max_workers=workers or options.batch_size, thread_name_prefix="function")
        self._inflight: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.invocations = 0
        self.failures = 0
        self.poisoned = 0

    @classmethod
    def for_connection_string(
        cls, app: func.FunctionApp, env: Mapping[str, str], options: QueueOptions, **kw: Any
    ) -> LocalHost:
        from graphops.storage.connection import StorageConnection
        from graphops.wiring import storage_transport  # the host's own clients pool as many connections as a batch

        # Read as the app reads it, so `UseDevelopmentStorage=true` means the same Azurite to both.
        connection = StorageConnection.from_env(env).connection_string
        if connection is None:
            raise SettingsError("AzureWebJobsStorage", "the local runner needs a connection string here")
        service = QueueServiceClient.from_connection_string(connection, transport=storage_transport())
        return cls(app, env, options, service=service, **kw)

    @classmethod
    def for_account(
        cls, app: func.FunctionApp, env: Mapping[str, str], options: QueueOptions, queue_service_uri: str,
        credential: TokenCredential, **kw: Any,
    ) -> LocalHost:  # fmt: skip
        from graphops.wiring import storage_transport

        service = QueueServiceClient(queue_service_uri, credential=credential, transport=storage_transport())
        return cls(app, env, options, service=service, **kw)

    def _queue(self, name: str) -> QueueClient:
        # No encode/decode policy: the runner sees the bytes on the wire, as the host does.
        return self._service.get_queue_client(name)

    def ensure_queues(self) -> None:
        for function in self.functions:
            for name in (function.queue_name, f"{function.queue_name}-poison"):
                queue = self._queue(name)
                try:
                    queue.create_queue()
                except Exception as exc:  # already there is fine; anything else shows on first receive
                    if "QueueAlreadyExists" not in str(exc):
                        log.debug("create %s: %s", name, exc)

    # -- serving -------------------------------------------------------------------------------

    def serve(self, stop: threading.Event | None = None) -> None:
        """Poll every queue trigger until ``stop`` is set, backing off while queues are empty."""
        stop = stop or self._stop
        self.ensure_queues()
        backoff = 0.1
        while not stop.is_set():
            got = self.poll_once()
            if got:
                backoff = 0.1
                continue
            stop.wait(backoff)
            backoff = min(backoff * 2, self.options.max_polling_interval)
        self.drain()

    def poll_once(self) -> int:
        """Receive one batch for each queue trigger that has room, and start it. Returns messages started."""
        started = 0
        for function in self.functions:
            with self._lock:
                busy = len(self._inflight)
            if busy > self.options.threshold:
                continue
            queue = self._queue(function.queue_name)
            try:
                batch = list(
                    queue.receive_messages(
                        messages_per_page=self.options.batch_size,
                        max_messages=self.options.batch_size,
                        visibility_timeout=self._lease,
                    )
                )
            except AzureError as exc:
                # Storage is out of reach: the host keeps polling, backing off; so do we.
                log.warning("cannot receive from %s: %s", function.queue_name, type(exc).__name__)
                continue
            for message in batch:
                future = self._pool.submit(self._invoke, function, queue, message)
                with self._lock:
                    self._inflight.add(future)
                future.add_done_callback(self._done)
                started += 1
        return started

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._inflight.discard(future)

    def drain(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._inflight:
                    return
            time.sleep(0.02)

    def run_until_idle(self, timeout: float) -> bool:
        """Serve until every trigger queue is empty (visible or not) and nothing runs; False on timeout."""
        self.ensure_queues()
        deadline = time.monotonic() + timeout
        backoff = 0.05
        while time.monotonic() < deadline:
            if self.poll_once():
                backoff = 0.05
                continue
            with self._lock:
                busy = bool(self._inflight)
            if not busy and self.pending() == 0:
                return True
            time.sleep(backoff)
            backoff = min(backoff * 2, 0.5, self.options.max_polling_interval)
        self.drain()
        return False

    def pending(self) -> int:
        """Messages on the trigger queues, visible or not; -1 while storage cannot say."""
        try:
            return sum(
                self._queue(f.queue_name).get_queue_properties().approximate_message_count or 0 for f in self.functions
            )
        except AzureError:
            return -1

    def start_http(self, port: int = 7071) -> str:
        """Serve the HTTP triggers on http://127.0.0.1:<port>/api/...; returns the base URL."""
        self._http = HttpHost(self.http_functions, port).start()
        return self._http.url

    def close(self) -> None:
        self._stop.set()
        if self._http is not None:
            self._http.stop()
            self._http = None
        self._pool.shutdown(wait=True)

    # -- one invocation ------------------------------------------------------------------------

    def _invoke(self, function: QueueFunction, queue: QueueClient, message: QueueMessage) -> None:
        started = time.perf_counter()
        error: Exception | None = None
        try:
            body = self._decode(str(message.content))
            function.call(
                TriggerMessage(  # type: ignore[no-untyped-call]
                    id=message.id,
                    body=body,
                    dequeue_count=message.dequeue_count,
                    expiration_time=message.expires_on,
                    insertion_time=message.inserted_on,
                    time_next_visible=message.next_visible_on,
                    pop_receipt=message.pop_receipt,
                )
            )
        except Exception as exc:
            error = exc
            log.warning("function %s failed on message %s (dequeue %s): %s", function.name, message.id,
                        message.dequeue_count, exc)  # fmt: skip
        with self._lock:
            self.invocations += 1
            self.failures += error is not None
        try:
            if error is None:
                if self._faults.die_before_delete and self._rng.random() < self._faults.die_before_delete:
                    return  # the host died here: the message comes back when its lease runs out
                queue.delete_message(message.id, message.pop_receipt)
            elif (message.dequeue_count or 0) >= self.options.max_dequeue_count:
                self._queue(f"{function.queue_name}-poison").send_message(message.content)
                queue.delete_message(message.id, message.pop_receipt)
                with self._lock:
                    self.poisoned += 1
            else:
                queue.update_message(
                    message.id, message.pop_receipt, visibility_timeout=int(self.options.visibility_timeout)
                )
        except Exception as exc:
            log.warning("could not settle message %s: %s", message.id, exc)
        finally:
            if self._on_step:
                self._on_step(function.name, message.id, error, time.perf_counter() - started)

    def _decode(self, content: str) -> bytes:
        if self.options.message_encoding == "none":
            return content.encode()
        try:
            return base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise ValueError("message is not valid base64 (host.json messageEncoding is base64)") from exc
