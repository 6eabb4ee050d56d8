"""Builds a :class:`Tracker` from :class:`Settings`: the one place parts are chosen and connected."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from azure.core.credentials import TokenCredential
from requests.adapters import HTTPAdapter

from graphops.common.logs import quiet_http_client_logs
from graphops.common.unresolved import Unresolved
from graphops.delivery.callback_sink import CallbackSink
from graphops.delivery.deliverer import Deliverer
from graphops.delivery.event_grid_sink import EventGridSink
from graphops.delivery.results_queue_sink import ResultsQueueSink
from graphops.delivery.sink import Sink
from graphops.egress.policy import CallbackPolicy
from graphops.graph.monitor import MonitorClient
from graphops.graph.reader import GraphClient, TenantAccess
from graphops.graph.tenants import exchange_scope
from graphops.intake.limits import Limits
from graphops.pacing.schedule import PollSchedule
from graphops.settings import MAX_TIMEOUT_SECONDS, Settings, seal_for
from graphops.step.decide import Policy
from graphops.step.starter import Starter
from graphops.step.tracker import Tracker, utcnow
from graphops.storage.queues import TrackingQueue, queue_client
from graphops.storage.seal import NoKey, Seal
from graphops.storage.state import StateStore, table_client

USER_AGENT = "graphops/0.1"


def limits_for(settings: Settings) -> Limits:
    return Limits(
        graph_endpoint=settings.graph_endpoint,
        callbacks=CallbackPolicy(settings.callback_allowed_hosts, allow_http=settings.allow_http_callbacks),
        default_timeout_seconds=settings.default_timeout_seconds,
        max_timeout_seconds=MAX_TIMEOUT_SECONDS,
        cloud=settings.cloud.name,
        monitors=monitor_policy(settings),
        start_actions=settings.start_actions,
        export_storage_accounts=settings.export_storage_accounts,
        sinks=configured_sinks(settings),
        tenants=settings.tenants,
    )


def configured_sinks(settings: Settings) -> frozenset[str]:
    """The sinks this deployment can deliver to: the callback always (a message may bring one), and the others
    when their settings are there."""
    return frozenset({"callback"} | ({"events"} if settings.event_grid_endpoint else set())
                     | ({"queue"} if settings.results_queue else set()))  # fmt: skip


def monitor_policy(settings: Settings) -> CallbackPolicy:
    """The rules for drive-copy monitor URLs: a caller's URL graphops fetches, so a callback's SSRF rules."""
    return CallbackPolicy(
        settings.monitor_allowed_hosts,
        allow_http=settings.allow_http_callbacks,
        field="operationUrl",
        setting="GRAPHOPS_MONITOR_ALLOWED_HOSTS",
    )


def managed_identity(client_id: str | None) -> TokenCredential:
    # Imported here: azure-identity pulls in msal, which a cold start should only pay for when it polls.
    from azure.identity import ManagedIdentityCredential

    return ManagedIdentityCredential(client_id=client_id) if client_id else ManagedIdentityCredential()


def developer_credential(settings: Settings) -> TokenCredential:
    """az login, azd, VS Code, environment variables... for running graphops on a workstation.

    Signed in at the cloud's own authority: a US Government or China tenant has no account elsewhere.
    """
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential(
        authority=settings.cloud.authority_host, managed_identity_client_id=settings.client_id
    )


def graph_credential(settings: Settings) -> TokenCredential:
    if settings.credential == "default":
        return developer_credential(settings)
    return managed_identity(settings.client_id)


def tenant_access(settings: Settings, identity: TokenCredential) -> Callable[[str], TenantAccess | None] | None:
    """How a customer tenant's Graph token is had: the multitenant app's ClientAssertionCredential in that tenant,
    whose assertion is the identity's token for the token exchange audience of the cloud. None without the app.

    Each tenant's credential keeps its own token cache; GraphClient.for_tenant asks for one once per tenant.
    """
    client_id = settings.multitenant_client_id
    if client_id is None:
        return None
    scope = exchange_scope(settings.cloud)

    def assertion() -> str:
        return identity.get_token(scope).token

    def access(tenant_id: str) -> TenantAccess | None:
        from azure.identity import ClientAssertionCredential

        tenant = settings.tenants.get(tenant_id)
        if tenant is None:
            return None  # not served: no credential is made for it
        credential = ClientAssertionCredential(tenant_id, client_id, assertion, authority=settings.login_endpoint)
        return TenantAccess(tenant_id, tenant.name, client_id, credential)

    return access


def storage_credential(settings: Settings, graph: TokenCredential) -> TokenCredential | None:
    """The credential for an identity-based storage connection; the Graph one when it is the same identity."""
    storage = settings.storage
    if storage.connection_string:
        return None
    if storage.developer_credential:
        return graph if settings.credential == "default" else developer_credential(settings)
    if settings.credential == "managedidentity" and storage.client_id == settings.client_id:
        return graph
    return managed_identity(storage.client_id)


def graph_session(pool_size: int = 32) -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    session.trust_env = False  # no proxy from the environment may see the Graph token
    return session


@dataclass(frozen=True)
class Services:
    """The process's parts, built once: one credential, one pooled HTTP session, one client per queue."""

    settings: Settings
    limits: Limits
    graph: GraphClient
    queue: TrackingQueue
    seal: Seal | NoKey  # NoKey while an envelope key's Key Vault reference is not resolved
    state: StateStore
    deliverer: Deliverer
    monitor: MonitorClient
    starter: Starter
    sinks: Mapping[str, Sink]
    storage_credential: TokenCredential | None = None  # None with a connection string (Azurite)
    credential: TokenCredential | None = None  # the app's identity: Graph, Event Grid, Application Insights


def storage_transport(pool_size: int = 32, environ: Mapping[str, str] | None = None) -> Any:
    """One pooled session for every storage client: the SDK's default pool (10) is smaller than a batch."""
    from azure.core.pipeline.transport import RequestsTransport

    environ = os.environ if environ is None else environ
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    # requests looks for a proxy, a CA bundle and a .netrc on every request, scanning all of the environment: a
    # fourth of a table operation's CPU. Only a proxy needs that (hosts that bypass it are matched per request); a CA
    # bundle the environment names is read here, once, and given to every request as requests would have.
    session.trust_env = names_a_proxy(environ)
    bundle = ca_bundle(environ)
    return RequestsTransport(session=session, session_owner=False, **({"connection_verify": bundle} if bundle else {}))


# What requests takes from the environment for a request's proxy (and the hosts that bypass it).
PROXY_ENVIRONMENT = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def names_a_proxy(environ: Mapping[str, str]) -> bool:
    """Whether requests must read the environment on each request: it names a proxy (in either case)."""
    return any(name.lower() in PROXY_ENVIRONMENT and value for name, value in environ.items())


def ca_bundle(environ: Mapping[str, str]) -> str | None:
    """The CA bundle requests would take from the environment for a request (REQUESTS_CA_BUNDLE, then
    CURL_CA_BUNDLE), or None: the certificates it ships with then."""
    return environ.get("REQUESTS_CA_BUNDLE") or environ.get("CURL_CA_BUNDLE") or None


def build_services(settings: Settings, credential: TokenCredential | None = None) -> Services:
    quiet_http_client_logs()
    unresolved = {name: Unresolved(name) for name in sorted(settings.unresolved)}
    for setting in unresolved.values():
        setting.announce()  # once per process: its parts are built once (graphops.functions.services)
    credential = credential or graph_credential(settings)
    storage = storage_credential(settings, credential)
    limits = limits_for(settings)
    transport = storage_transport()
    graph = GraphClient(graph_session(), credential, settings.cloud.token_scope, settings.graph_endpoint,
                        tenants=tenant_access(settings, credential))  # fmt: skip
    state = StateStore(table_client(settings.storage, settings.state_table, storage, transport))
    deliverer = Deliverer(
        limits.callbacks,
        settings.callback_secret,
        user_agent=USER_AGENT,
        unresolved=unresolved.get("GRAPHOPS_CALLBACK_SECRET"),
    )
    sinks: dict[str, Sink] = {"callback": CallbackSink(deliverer)}
    if settings.event_grid_endpoint:
        sinks["events"] = EventGridSink(settings.event_grid_endpoint, credential, settings.event_source)
    if settings.results_queue:
        results = queue_client(settings.storage, settings.results_queue, storage, transport)
        sinks["queue"] = ResultsQueueSink(results, settings.event_source, deliverer.signer)
    return Services(
        settings=settings,
        limits=limits,
        graph=graph,
        queue=TrackingQueue(
            queue_client(settings.storage, settings.queue_name, storage, transport),
            queue_client(settings.storage, settings.poison_queue_name, storage, transport),
            dead_letter_ttl=settings.state_retention_days * 24 * 3600,
        ),
        seal=seal_for(settings),
        state=state,
        starter=Starter(graph, state, limits, utcnow),
        monitor=MonitorClient(limits.monitors or monitor_policy(settings), user_agent=USER_AGENT),
        deliverer=deliverer,
        sinks=sinks,
        storage_credential=storage,
        credential=credential,
    )


def policy_for(settings: Settings) -> Policy:
    """The polling policy: the deployment's schedule, and each kind's where its service asks for its own."""
    from graphops.graph.kinds import KINDS

    default = PollSchedule(settings.min_delay_seconds, settings.max_delay_seconds)
    schedules = {name: PollSchedule(*kind.poll_delays) for name, kind in KINDS.items() if kind.poll_delays}
    fixed: set[str] = set()
    for kind, low, high in settings.kind_poll_delays:
        for name in KINDS if kind == "*" else (kind,):
            schedules[name] = PollSchedule(low, high)
            fixed.add(name)
    return Policy(default, settings.not_found_grace_seconds, schedules, frozenset(fixed), settings.learned_schedule,
                  budgets=settings.throttle_budgets)  # fmt: skip


def build_tracker(services: Services) -> Tracker:
    settings = services.settings
    return Tracker(
        limits=services.limits,
        policy=policy_for(settings),
        graph=services.graph,
        queue=services.queue,
        seal=services.seal,
        deliverer=services.deliverer,
        max_delivery_attempts=settings.max_delivery_attempts,
        state=services.state,
        monitor=services.monitor,
        starter=services.starter,
        sinks=services.sinks,
        record_all=settings.record_queue_trackings,
        retention=timedelta(days=settings.state_retention_days),
    )
