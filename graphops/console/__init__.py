"""The operations console: every tracking, its timeline, and the poison queue, as web pages.

Served by ``graphops console`` on loopback (a developer's sign-in, or Azurite) and, where a deployment
enables it, by the Function App at ``/api/console`` behind App Service authentication.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Callable, Mapping
from datetime import datetime

from azure.core.credentials import TokenCredential

from graphops.common.errors import Rejected, SettingsError
from graphops.console.access import Operator, Refusal
from graphops.console.pages import Console, ConsoleRequest, Page
from graphops.intake.request import producer_problem
from graphops.settings import Settings, seal_for, seal_held
from graphops.step import operator
from graphops.step.tracker import utcnow
from graphops.storage.queues import INTERACTIVE, TrackingQueue, queue_client
from graphops.storage.state import StateStore, table_client
from graphops.wiring import limits_for

__all__ = ["Console", "ConsoleRequest", "Page", "build_console"]


def build_console(
    settings: Settings,
    credential: TokenCredential | None,
    *,
    root: str,
    authorize: Callable[[Mapping[str, str]], Operator | Refusal],
    sign_in_url: str | None = None,
) -> Console:
    """The console over the deployment's state table and queues (read as their messages lie)."""
    storage = settings.storage
    limits = limits_for(settings)  # a poison entry graphops did not write goes back only as a valid request
    # Tracking again queues a first step as the API does: sealed, base64 as the trigger reads it.
    queue = TrackingQueue(
        queue_client(storage, settings.queue_name, credential, options=INTERACTIVE),
        queue_client(storage, settings.poison_queue_name, credential, options=INTERACTIVE),
    )

    def retrack(state: StateStore, tracking_id: str, now: datetime) -> str:
        try:
            seal = seal_for(settings)  # asked here: a console reading an account as you may have no envelope key
        except SettingsError as exc:
            raise Rejected(exc.setting, exc.problem) from None
        return operator.retrack(state, queue, seal, limits, tracking_id, now)

    return Console(
        table_client(storage, settings.state_table, credential, options=INTERACTIVE),
        queue_client(storage, settings.poison_queue_name, credential, encoded=False, options=INTERACTIVE),
        queue_client(storage, settings.queue_name, credential, encoded=False, options=INTERACTIVE),
        root=root,
        authorize=authorize,
        clock=utcnow,
        sign_in_url=sign_in_url,
        unreachable=storage.unreachable(),
        token_key=token_key(settings),
        seal=seal_held(settings),
        check=lambda doc: producer_problem(doc, limits),
        retrack=retrack,
        # A trace link only where traces go: with a connection string, to the resource infra names.
        insights=settings.app_insights_resource_id if settings.app_insights_connection_string else None,
        cloud=settings.cloud.name,
        budgets=settings.throttle_budgets,
        tenants={tenant_id: tenant.name for tenant_id, tenant in settings.tenants.items()},
    )


def token_key(settings: Settings) -> bytes:
    """The key of the pages' change tokens: derived from the envelope key where the app has it, so every instance
    accepts the tokens of every other; a random one for a process of its own (the local console on an account)."""
    if settings.envelope_key is None:
        return os.urandom(32)
    return hmac.new(settings.envelope_key, b"graphops console change tokens", hashlib.sha256).digest()
