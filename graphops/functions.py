"""The functions' bodies. ``function_app.py`` binds triggers to these and does nothing else.

The worker imports this module when it indexes the app, before any message or request arrives:
the SDK clients are imported on first use instead, so a cold start pays only for what it runs
(``bench/coldstart.py`` measures it).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Generic, TypeVar
from urllib.parse import urlsplit

import azure.functions as func

from graphops.common.logs import event
from graphops.settings import Settings, seal_for

if TYPE_CHECKING:
    from graphops.api import Api
    from graphops.console import Console
    from graphops.step.tracker import Tracker
    from graphops.wiring import Services


def check_settings() -> Settings:
    """Read the app settings; a bad value fails at start-up with a message naming the setting.

    A secret whose Key Vault reference is not resolved is not a bad value: every function still loads, and only
    the work that needs the secret waits for it (graphops.common.unresolved), announced once the process builds
    its parts.
    """
    settings = Settings.from_env(os.environ)
    seal_for(settings)  # the app's own messages cannot be sealed or opened without a key: one must be set
    return settings


T = TypeVar("T")
# One lock for every part a process builds once: reentrant, since the tracker, the API and the console build the
# services within their own build.
_BUILDING = threading.RLock()


class BuiltOnce(Generic[T]):
    """A part of the process, built on first use, once even when many threads ask for it at once: the worker runs
    a batch of messages in a thread each, and each would otherwise build its own credential, clients and pools
    (and its own stores, each with its own caches and counts) for the first messages."""

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._built: list[T] = []
        self.__doc__ = build.__doc__

    def __call__(self) -> T:
        if not self._built:  # after the first build, no lock: reading a list is safe across threads
            with _BUILDING:
                if not self._built:
                    self._built.append(self._build())
        return self._built[0]

    def built(self) -> T | None:
        """The part, when it was built; None otherwise (nothing is built by asking)."""
        return self._built[0] if self._built else None

    def cache_clear(self) -> None:
        with _BUILDING:
            self._built.clear()


# Whether traces and metrics go to Application Insights, decided once per process: OpenTelemetry's providers
# belong to the process, so reset() leaves this as it is.
TELEMETRY: list[bool] = []


@BuiltOnce
def services() -> Services:
    """The process's parts, built on first use: one credential and one HTTP pool per worker."""
    from graphops.common.telemetry import configure
    from graphops.wiring import build_services

    built = build_services(check_settings())
    if not TELEMETRY:
        settings = built.settings
        TELEMETRY.append(configure(settings.app_insights_connection_string, built.credential,
                                   settings.telemetry_sampling_ratio))  # fmt: skip
    return built


@BuiltOnce
def tracker() -> Tracker:
    from graphops.wiring import build_tracker

    return build_tracker(services())


@BuiltOnce
def api() -> Api:
    from graphops.api import Api

    return Api(services())


CONSOLE_ROOT = "/api/console/"
SIGN_IN = "/.auth/login/aad?post_login_redirect_uri="  # App Service authentication's Entra ID sign-in


@BuiltOnce
def console_pages() -> Console:
    from graphops.console import build_console
    from graphops.console.access import platform_operator
    from graphops.console.signin import platform_verifier

    built = services()
    settings = built.settings
    verify = platform_verifier(settings)  # one per process: the tenant's keys are fetched once and kept
    return build_console(
        settings, built.storage_credential, root=CONSOLE_ROOT, sign_in_url=SIGN_IN,
        authorize=lambda headers: platform_operator(
            headers, auth_enabled=settings.platform_auth_enabled, operators=settings.console_operators,
            verify=verify),
    )  # fmt: skip


def reset() -> None:
    """Forget the parts built so far (the local runner and the tests start afresh with new settings), once what
    they keep to write later (the lengths of finished trackings) is written."""
    built = services.built()
    if built is not None:
        built.state.lengths.flush()
    for cached in (services, tracker, api, console_pages):
        cached.cache_clear()


def track_operation(msg: func.QueueMessage) -> None:
    """Queue trigger: one step of one tracking. Raising hands the message back to the host to retry."""
    tracker().handle(msg.get_body(), msg.id or "", msg.insertion_time)


def subscribe(req: func.HttpRequest) -> func.HttpResponse:
    with api_span("subscribe", req):
        return api().subscribe(req)


def status(req: func.HttpRequest) -> func.HttpResponse:
    return api().status(req)


def cancel(req: func.HttpRequest) -> func.HttpResponse:
    return api().cancel(req)


def start(req: func.HttpRequest) -> func.HttpResponse:
    with api_span("start", req):
        return api().start(req)


def start_alert_refresh(req: func.HttpRequest) -> func.HttpResponse:
    with api_span("start_alert_refresh", req):
        return api().start_alert_refresh(req)


def openapi(req: func.HttpRequest) -> func.HttpResponse:
    return api().openapi(req)


@contextlib.contextmanager
def api_span(name: str, req: func.HttpRequest) -> Iterator[None]:
    """The span of an API call that starts trackings: their traces' root (under the host's request span)."""
    from opentelemetry.trace import SpanKind

    from graphops.common.telemetry import client_span

    services()  # telemetry is configured with the process's parts, before the first span
    attributes = {"http.request.method": req.method, "url.path": urlsplit(req.url).path}
    with client_span(f"graphops {name}", attributes, SpanKind.INTERNAL):  # the host records the request itself
        yield


def console(req: func.HttpRequest) -> func.HttpResponse:
    """The operations console's pages: 404 unless GRAPHOPS_CONSOLE_ENABLED, then for signed-in operators only."""
    if not services().settings.console_enabled:
        return func.HttpResponse("The console is off in this deployment (GRAPHOPS_CONSOLE_ENABLED).\n",
                                 status_code=404, mimetype="text/plain")  # fmt: skip
    from graphops.console import ConsoleRequest
    from graphops.console.pages import form_of

    method = req.method.upper()
    page = console_pages().handle(ConsoleRequest(
        method=method, path=req.route_params.get("path") or "", query=dict(req.params),
        headers={name.lower(): value for name, value in req.headers.items()},
        form=form_of(req.headers.get("Content-Type"), req.get_body()) if method == "POST" else {},
    ))  # fmt: skip
    mimetype, _, charset = page.content_type.partition("; charset=")
    return func.HttpResponse(page.body, status_code=page.status, headers=dict(page.headers), mimetype=mimetype,
                             charset=charset or "utf-8")  # fmt: skip


def remove_finished(timer: func.TimerRequest) -> None:
    """Timer: delete finished trackings older than GRAPHOPS_STATE_RETENTION_DAYS."""
    settings = services().settings
    removed = services().state.remove_finished(datetime.now(UTC) - timedelta(days=settings.state_retention_days))
    event("stateCleanup", removed=removed, retentionDays=settings.state_retention_days)
