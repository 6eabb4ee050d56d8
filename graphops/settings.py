"""App settings, read once into a typed object and passed down.

Nothing else in graphops reads the environment: the function entry point calls
:func:`Settings.from_env` once per process and hands the result to the parts that need it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from graphops.common.errors import SettingsError
from graphops.common.unresolved import Unresolved
from graphops.graph.clouds import CLOUDS, Cloud
from graphops.graph.tenants import Tenant, parse_tenants
from graphops.pacing.budget import LIMITS, Limit, parse_budgets
from graphops.storage.connection import STORAGE_SETTING, StorageConnection
from graphops.storage.seal import NoKey, Seal

DEFAULT_QUEUE_NAME = "graph-operations"  # what the docs, infra and local settings use
MAX_TIMEOUT_SECONDS = 30 * 24 * 3600
ENVELOPE_SETTINGS = frozenset({"GRAPHOPS_ENVELOPE_KEY", "GRAPHOPS_ENVELOPE_KEY_PREVIOUS"})
# Kept in Key Vault in Azure (infra/app/function.bicep): each may reach the app as its unresolved reference.
SECRET_SETTINGS = ("GRAPHOPS_CALLBACK_SECRET", *sorted(ENVELOPE_SETTINGS))


@dataclass(frozen=True)
class WholeNumber:
    """A whole-number setting: its default and the range the app accepts (infra's bounds are the same)."""

    default: int
    low: int
    high: int


WHOLE_NUMBERS = {
    "GRAPHOPS_MIN_DELAY_SECONDS": WholeNumber(5, 1, 3600),
    "GRAPHOPS_MAX_DELAY_SECONDS": WholeNumber(60, 1, 6 * 3600),
    "GRAPHOPS_DEFAULT_TIMEOUT_SECONDS": WholeNumber(86400, 1, MAX_TIMEOUT_SECONDS),
    "GRAPHOPS_MAX_DELIVERY_ATTEMPTS": WholeNumber(12, 1, 50),
    "GRAPHOPS_NOT_FOUND_GRACE_SECONDS": WholeNumber(120, 0, 24 * 3600),
    "GRAPHOPS_STATE_RETENTION_DAYS": WholeNumber(7, 1, 365),
}


@dataclass(frozen=True)
class Settings:
    """Everything graphops' logic needs to know about its deployment."""

    storage: StorageConnection
    queue_name: str
    cloud: Cloud = CLOUDS["global"]
    graph_endpoint: str = CLOUDS["global"].graph_endpoint
    callback_allowed_hosts: tuple[str, ...] = CLOUDS["global"].logic_apps_hosts
    monitor_allowed_hosts: tuple[str, ...] = CLOUDS["global"].sharepoint_hosts
    allow_http_callbacks: bool = False
    callback_secret: str | None = field(default=None, repr=False)
    # The secret settings that are Key Vault references the platform has not resolved (graphops.common.unresolved):
    # the app starts without them, and only the work that needs one waits for it.
    unresolved: frozenset[str] = frozenset()
    # GRAPHOPS_ENVELOPE_KEY (and _PREVIOUS while rotating): seals graphops' own queue messages (graphops.storage.seal).
    # Only the app needs it; producers and the command's other tools do not.
    envelope_key: bytes | None = field(default=None, repr=False)
    envelope_key_previous: bytes | None = field(default=None, repr=False)
    min_delay_seconds: int = WHOLE_NUMBERS["GRAPHOPS_MIN_DELAY_SECONDS"].default
    max_delay_seconds: int = WHOLE_NUMBERS["GRAPHOPS_MAX_DELAY_SECONDS"].default
    default_timeout_seconds: int = WHOLE_NUMBERS["GRAPHOPS_DEFAULT_TIMEOUT_SECONDS"].default
    max_delivery_attempts: int = WHOLE_NUMBERS["GRAPHOPS_MAX_DELIVERY_ATTEMPTS"].default
    not_found_grace_seconds: int = WHOLE_NUMBERS["GRAPHOPS_NOT_FOUND_GRACE_SECONDS"].default
    state_table: str = "graphopsstate"
    state_retention_days: int = WHOLE_NUMBERS["GRAPHOPS_STATE_RETENTION_DAYS"].default
    # GRAPHOPS_KIND_POLL_DELAYS: (kind or "*", min, max) overriding a kind's own polling schedule.
    kind_poll_delays: tuple[tuple[str, int, int], ...] = ()
    # GRAPHOPS_START_ACTIONS: the Graph requests graphops may send with its own identity (none by default).
    start_actions: frozenset[str] = frozenset()
    # GRAPHOPS_EXPORT_STORAGE_ACCOUNTS: the storage accounts a personal data export may be written to (none by default).
    export_storage_accounts: frozenset[str] = frozenset()
    # Sinks beside (or instead of) callbacks: an Event Grid topic (CloudEvents 1.0, Entra ID) and a results queue.
    event_grid_endpoint: str | None = None
    event_source: str = "/graphops/local"  # CloudEvents `source`: this deployment
    results_queue: str | None = None
    # Trackings put straight on the queue get a state too (status view, stale duplicates dropped).
    record_queue_trackings: bool = True
    # GRAPHOPS_LEARNED_SCHEDULE: a kind with enough finished trackings polls by a schedule learned from them.
    learned_schedule: bool = True
    # GRAPHOPS_THROTTLE_BUDGETS: each Graph service's limit per tenant, shared by every worker ({} when "off").
    throttle_budgets: Mapping[str, Limit] = field(default_factory=lambda: dict(LIMITS))
    # The operations console in the Function App (/api/console): off unless enabled, and then only for the
    # operators named, signed in through App Service authentication (which the platform reports on).
    console_enabled: bool = False
    console_operators: frozenset[str] = frozenset()
    platform_auth_enabled: bool = False  # WEBSITE_AUTH_ENABLED, set by App Service when its authentication is on
    # The sign-in the console verifies itself (graphops/console/signin.py): the Entra ID tenant and the app
    # registration App Service authentication signs operators in to (the ID token's audience), and the login
    # host that issues and publishes the keys (the cloud's own; a loopback stand-in in the tests).
    console_tenant_id: str | None = None
    console_client_id: str | None = None
    console_login_endpoint: str = f"https://{CLOUDS['global'].authority_host}"
    # Traces and metrics to Application Insights (graphops.common.telemetry): off without a connection string.
    app_insights_connection_string: str | None = field(default=None, repr=False)
    # GRAPHOPS_APPINSIGHTS_RESOURCE_ID (infra sets it from the component): the console links a tracking to its trace.
    app_insights_resource_id: str | None = None
    telemetry_sampling_ratio: float = 1.0  # GRAPHOPS_TELEMETRY_SAMPLING_RATIO: share of traces kept (metrics: all)
    client_id: str | None = None  # AZURE_CLIENT_ID: the user-assigned identity that reads Graph
    # GRAPHOPS_TENANTS: the customer tenants served beside the home tenant, each with what may be done in it; their
    # tokens come from the multitenant app (GRAPHOPS_MULTITENANT_CLIENT_ID), the identity its federated credential.
    tenants: Mapping[str, Tenant] = field(default_factory=dict)
    multitenant_client_id: str | None = None
    # GRAPHOPS_LOGIN_ENDPOINT: where customer tenants' tokens are asked for (the cloud's own; a stand-in locally).
    login_endpoint: str = f"https://{CLOUDS['global'].authority_host}"
    credential: str = "managedidentity"  # or "default": DefaultAzureCredential, for running locally

    @property
    def poison_queue_name(self) -> str:
        return f"{self.queue_name}-poison"

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, need_storage: bool = True) -> Settings:
        """Read and check every setting. ``need_storage=False`` for tools that only talk to Graph."""
        cloud_name = env.get("GRAPHOPS_GRAPH_CLOUD", "global").strip().lower() or "global"
        if cloud_name not in CLOUDS:
            raise SettingsError("GRAPHOPS_GRAPH_CLOUD", f"unknown cloud {cloud_name!r}; use one of {', '.join(CLOUDS)}")
        cloud = CLOUDS[cloud_name]
        min_delay = _int(env, "GRAPHOPS_MIN_DELAY_SECONDS")
        max_delay = _int(env, "GRAPHOPS_MAX_DELAY_SECONDS")
        if max_delay < min_delay:
            raise SettingsError(
                "GRAPHOPS_MAX_DELAY_SECONDS", f"must be at least GRAPHOPS_MIN_DELAY_SECONDS ({min_delay})"
            )
        unresolved = frozenset(name for name in SECRET_SETTINGS if _unresolved_reference(env, name))
        return cls(
            storage=StorageConnection.from_env(env) if need_storage else StorageConnection(),
            queue_name=_queue_name(_required(env, "GRAPHOPS_QUEUE_NAME") if need_storage else DEFAULT_QUEUE_NAME),
            cloud=cloud,
            graph_endpoint=_origin(
                "GRAPHOPS_GRAPH_ENDPOINT",
                env.get("GRAPHOPS_GRAPH_ENDPOINT", "").strip(),
                cloud.graph_endpoint,
                why="the Graph token travels with every request",
            ),
            callback_allowed_hosts=_allowed_hosts(env, "GRAPHOPS_CALLBACK_ALLOWED_HOSTS", cloud.logic_apps_hosts),
            monitor_allowed_hosts=_allowed_hosts(env, "GRAPHOPS_MONITOR_ALLOWED_HOSTS", cloud.sharepoint_hosts),
            allow_http_callbacks=_bool(env, "GRAPHOPS_ALLOW_HTTP_CALLBACKS", default=False),
            callback_secret=None if "GRAPHOPS_CALLBACK_SECRET" in unresolved else _secret(env),
            unresolved=unresolved,
            envelope_key=_envelope_key(env, "GRAPHOPS_ENVELOPE_KEY"),
            envelope_key_previous=_envelope_key(env, "GRAPHOPS_ENVELOPE_KEY_PREVIOUS", local_default=False),
            min_delay_seconds=min_delay,
            max_delay_seconds=max_delay,
            default_timeout_seconds=_int(env, "GRAPHOPS_DEFAULT_TIMEOUT_SECONDS"),
            max_delivery_attempts=_int(env, "GRAPHOPS_MAX_DELIVERY_ATTEMPTS"),
            not_found_grace_seconds=_int(env, "GRAPHOPS_NOT_FOUND_GRACE_SECONDS"),
            state_table=_table_name(env.get("GRAPHOPS_STATE_TABLE", "").strip() or "graphopsstate"),
            state_retention_days=_int(env, "GRAPHOPS_STATE_RETENTION_DAYS"),
            kind_poll_delays=_kind_poll_delays(env.get("GRAPHOPS_KIND_POLL_DELAYS", "")),
            start_actions=_start_actions(env.get("GRAPHOPS_START_ACTIONS", "")),
            export_storage_accounts=_storage_accounts(env, "GRAPHOPS_EXPORT_STORAGE_ACCOUNTS"),
            event_grid_endpoint=_event_grid_endpoint(env.get("GRAPHOPS_EVENT_GRID_ENDPOINT", "").strip()),
            event_source=_event_source(env),
            results_queue=_results_queue(env, need_storage),
            record_queue_trackings=_bool(env, "GRAPHOPS_RECORD_QUEUE_TRACKINGS", default=True),
            learned_schedule=_bool(env, "GRAPHOPS_LEARNED_SCHEDULE", default=True),
            throttle_budgets=_budgets(env.get("GRAPHOPS_THROTTLE_BUDGETS", "").strip()),
            console_enabled=_bool(env, "GRAPHOPS_CONSOLE_ENABLED", default=False),
            console_operators=_object_ids(env, "GRAPHOPS_CONSOLE_OPERATORS"),
            platform_auth_enabled=env.get("WEBSITE_AUTH_ENABLED", "").strip().lower() == "true",
            console_tenant_id=_guid(env, "GRAPHOPS_CONSOLE_TENANT_ID"),
            console_client_id=_guid(env, "GRAPHOPS_CONSOLE_CLIENT_ID"),
            console_login_endpoint=_login_endpoint(
                env, "GRAPHOPS_CONSOLE_LOGIN_ENDPOINT", cloud, why="operators' sign-ins are checked against its keys"
            ),
            app_insights_connection_string=env.get("APPLICATIONINSIGHTS_CONNECTION_STRING", "").strip() or None,
            app_insights_resource_id=env.get("GRAPHOPS_APPINSIGHTS_RESOURCE_ID", "").strip() or None,
            telemetry_sampling_ratio=_ratio(env, "GRAPHOPS_TELEMETRY_SAMPLING_RATIO", default=1.0),
            client_id=env.get("AZURE_CLIENT_ID", "").strip() or None,
            credential=_choice(env, "GRAPHOPS_CREDENTIAL", ("managedidentity", "default")),
            tenants=_tenants(env),
            multitenant_client_id=_guid(env, "GRAPHOPS_MULTITENANT_CLIENT_ID"),
            login_endpoint=_login_endpoint(env, "GRAPHOPS_LOGIN_ENDPOINT", cloud, why="the assertion goes there"),
        )


def _login_endpoint(env: Mapping[str, str], name: str, cloud: Cloud, *, why: str) -> str:
    """An Entra sign-in host: the cloud's own unless the setting names another (a loopback stand-in)."""
    return _origin(name, env.get(name, "").strip(), f"https://{cloud.authority_host}", why=why)


def _tenants(env: Mapping[str, str]) -> dict[str, Tenant]:
    """GRAPHOPS_TENANTS, within GRAPHOPS_START_ACTIONS and GRAPHOPS_TRACKED_KINDS (every kind when not set)."""
    raw = env.get("GRAPHOPS_TENANTS", "")
    if not raw.strip():
        return {}
    if not env.get("GRAPHOPS_MULTITENANT_CLIENT_ID", "").strip():
        raise SettingsError("GRAPHOPS_TENANTS", "needs GRAPHOPS_MULTITENANT_CLIENT_ID (the app they consent to)")
    from graphops.graph.actions import parse_enabled
    from graphops.graph.kinds import KINDS

    kinds_raw = env.get("GRAPHOPS_TRACKED_KINDS", "")
    kinds = frozenset(k.strip() for k in kinds_raw.split(",") if k.strip()) or None
    for kind in sorted(kinds or ()):
        if kind not in KINDS:
            raise SettingsError("GRAPHOPS_TRACKED_KINDS", f"{kind!r} is not an operation kind")
    return parse_tenants(raw, parse_enabled(env.get("GRAPHOPS_START_ACTIONS", "")), kinds)


def _required(env: Mapping[str, str], name: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise SettingsError(name, "not set")
    return value


def _choice(env: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = env.get(name, "").strip().lower() or choices[0]
    if value not in choices:
        raise SettingsError(name, f"must be one of {', '.join(choices)}, not {value!r}")
    return value


def _int(env: Mapping[str, str], name: str) -> int:
    bounds = WHOLE_NUMBERS[name]
    raw = env.get(name, "").strip()
    if not raw:
        return bounds.default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(name, f"must be a whole number, not {raw!r}") from None
    if not bounds.low <= value <= bounds.high:
        raise SettingsError(name, f"must be between {bounds.low} and {bounds.high}, not {value}")
    return value


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"true", "1", "yes"}:
        return True
    if raw in {"false", "0", "no"}:
        return False
    raise SettingsError(name, f"must be true or false, not {raw!r}")


def _ratio(env: Mapping[str, str], name: str, *, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(name, f"must be a number from 0 to 1, not {raw!r}") from None
    if not 0.0 <= value <= 1.0:
        raise SettingsError(name, f"must be from 0 to 1, not {value}")
    return value


def _object_ids(env: Mapping[str, str], name: str) -> frozenset[str]:
    """Entra object ids, separated by commas or blanks."""
    ids = frozenset(part.lower() for part in env.get(name, "").replace(",", " ").split())
    for value in ids:
        try:
            uuid.UUID(value)
        except ValueError:
            raise SettingsError(name, f"{value!r} is not an Entra object id (a GUID)") from None
    return ids


def _guid(env: Mapping[str, str], name: str) -> str | None:
    """An Entra id (a tenant's, an app registration's client id): a GUID, lower-case, or None when not set."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return None
    try:
        uuid.UUID(raw)
    except ValueError:
        raise SettingsError(name, f"{raw!r} is not an Entra id (a GUID)") from None
    return raw


def _queue_name(name: str, setting: str = "GRAPHOPS_QUEUE_NAME") -> str:
    # Azure queue names: 3-63 lowercase letters, digits and single dashes; "-poison" must still fit.
    ok = 3 <= len(name) <= 56 and name[0].isalnum() and name[-1].isalnum() and "--" not in name
    if not ok or any(not (c.islower() or c.isdigit() or c == "-") for c in name):
        raise SettingsError(setting, f"{name!r} is not a valid queue name (3-56 lowercase letters, digits, dashes)")
    return name


def _table_name(name: str) -> str:
    if not (3 <= len(name) <= 63 and name[0].isalpha() and name.isalnum() and name.isascii()):
        raise SettingsError("GRAPHOPS_STATE_TABLE", f"{name!r} is not a valid table name (3-63 letters and digits)")
    return name


def _origin(name: str, raw: str, default: str, *, why: str) -> str:
    """An https origin (scheme, host and port); http only for a stand-in on this machine, because ``why``."""
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise SettingsError(name, f"must be an absolute http(s) URL, not {raw!r}")
    if parts.path not in {"", "/"} or parts.query or parts.fragment or parts.username or parts.password:
        raise SettingsError(name, "must be an origin only (scheme, host and port), no path")
    if parts.scheme == "http" and parts.hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SettingsError(name, f"must be https (http only for a loopback stand-in: {why})")
    return f"{parts.scheme}://{parts.netloc.lower()}"


def _allowed_hosts(env: Mapping[str, str], name: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name, "")
    entries = tuple(entry.strip().lower().rstrip(".") for entry in raw.split(",") if entry.strip())
    for entry in entries:
        host = entry.rsplit(":", 1)[0] if entry.count(":") == 1 else entry
        if "*" in host and not (host.startswith("*.") and "*" not in host[2:] and host.count(".") >= 2):
            raise SettingsError(
                name,
                f"{entry!r}: a wildcard may only be a leading '*.' before at least two labels",
            )
    return entries or default


def _unresolved_reference(env: Mapping[str, str], name: str) -> bool:
    """Whether the setting is a Key Vault reference the platform left as it was.

    App Service replaces ``@Microsoft.KeyVault(...)`` with the secret when it can read it; on a first start
    the identity's role on the vault may be seconds old, and the literal text reaches the app.
    """
    return env.get(name, "").strip().startswith("@Microsoft.KeyVault(")


def _envelope_key(env: Mapping[str, str], name: str, *, local_default: bool = True) -> bytes | None:
    """A key of at least 32 bytes (the hooks make 32 random bytes, base64). Against Azurite's well-known
    account, which anyone can read and write anyway, a key derived from it serves when none is set."""
    raw = env.get(name, "").strip()
    if _unresolved_reference(env, name):
        return None  # not a key yet: Settings.unresolved names it, and seal_for stands in for the seal
    if raw:
        if len(raw.encode()) < 32:
            raise SettingsError(name, "must be at least 32 characters (random: the preprovision hook makes one)")
        return raw.encode()
    connection = env.get(STORAGE_SETTING, "").strip()
    if local_default and (connection == "UseDevelopmentStorage=true" or "AccountName=devstoreaccount1;" in connection):
        return hashlib.sha256(b"graphops envelopes on Azurite:" + connection.encode()).digest()
    return None


def _storage_accounts(env: Mapping[str, str], name: str) -> frozenset[str]:
    accounts = frozenset(a.strip() for a in env.get(name, "").split(",") if a.strip())
    for account in sorted(accounts):
        if not (3 <= len(account) <= 24 and account.isascii() and account.isalnum() and account.islower()):
            raise SettingsError(name, f"{account!r} is not a storage account name (3-24 lower-case letters and digits)")
    return accounts


def _secret(env: Mapping[str, str]) -> str | None:
    raw = env.get("GRAPHOPS_CALLBACK_SECRET", "").strip()
    if not raw:
        return None
    problem = "must be 'whsec_' followed by base64 of 24 to 64 random bytes"
    if not raw.startswith("whsec_"):
        raise SettingsError("GRAPHOPS_CALLBACK_SECRET", problem)
    try:
        key = base64.b64decode(raw.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise SettingsError("GRAPHOPS_CALLBACK_SECRET", problem) from None
    if not 24 <= len(key) <= 64:
        raise SettingsError("GRAPHOPS_CALLBACK_SECRET", f"{problem} (it has {len(key)} bytes)")
    return raw


def _kind_poll_delays(raw: str) -> tuple[tuple[str, int, int], ...]:
    """``kind=min:max,...`` (``*`` for every kind): seconds between polls, overriding the kinds' own."""
    if not raw.strip():
        return ()
    from graphops.graph.kinds import KINDS  # only when set: the kinds are not needed to start otherwise

    name = "GRAPHOPS_KIND_POLL_DELAYS"
    bounds = WHOLE_NUMBERS["GRAPHOPS_MAX_DELAY_SECONDS"]
    entries = []
    for entry in (e.strip() for e in raw.split(",") if e.strip()):
        kind, _, delays = entry.partition("=")
        low, _, high = delays.partition(":")
        if kind not in KINDS and kind != "*":
            raise SettingsError(name, f"{kind!r} is not an operation kind; use one of {', '.join(KINDS)} or *")
        if not (low.isdecimal() and high.isdecimal() and 1 <= int(low) <= int(high) <= bounds.high):
            raise SettingsError(name, f"{entry!r}: give kind=min:max in seconds, 1 <= min <= max <= {bounds.high}")
        entries.append((kind, int(low), int(high)))
    return tuple(entries)


def _start_actions(raw: str) -> frozenset[str]:
    if not raw.strip():
        return frozenset()
    from graphops.graph.actions import parse_enabled  # only when set, like the kinds above

    return parse_enabled(raw, "GRAPHOPS_START_ACTIONS")


def _event_grid_endpoint(raw: str) -> str | None:
    """An Event Grid topic's endpoint: https only (the token for Event Grid travels with every event)."""
    if not raw:
        return None
    parts = urlsplit(raw)
    if parts.scheme != "https" or not parts.hostname or parts.username or parts.password or parts.fragment:
        raise SettingsError("GRAPHOPS_EVENT_GRID_ENDPOINT", f"must be the topic's https endpoint, not {raw!r}")
    return raw


def _event_source(env: Mapping[str, str]) -> str:
    """CloudEvents `source`: the setting, or this Function App's name (the platform sets WEBSITE_SITE_NAME)."""
    raw = env.get("GRAPHOPS_EVENT_SOURCE", "").strip()
    if raw:
        if any(c.isspace() for c in raw) or not raw.isascii():
            raise SettingsError("GRAPHOPS_EVENT_SOURCE", "must be a URI reference (ASCII, no blanks)")
        return raw
    return f"/graphops/{env.get('WEBSITE_SITE_NAME', '').strip() or 'local'}"


def _results_queue(env: Mapping[str, str], need_storage: bool) -> str | None:
    raw = env.get("GRAPHOPS_RESULTS_QUEUE", "").strip()
    if not raw:
        return None
    name = _queue_name(raw, "GRAPHOPS_RESULTS_QUEUE")
    tracked = env.get("GRAPHOPS_QUEUE_NAME", "").strip()
    if need_storage and name in {tracked, f"{tracked}-poison"}:
        raise SettingsError("GRAPHOPS_RESULTS_QUEUE", "must not be the tracking queue or its poison queue")
    return name


def _budgets(raw: str) -> dict[str, Limit]:
    """GRAPHOPS_THROTTLE_BUDGETS: empty for Graph's documented limits, ``off`` for none, or overrides."""
    return {} if raw.lower() == "off" else parse_budgets(raw)


def seal_for(settings: Settings) -> Seal | NoKey:
    """The seal of graphops' own queue messages: no step runs without its key. While a key's Key Vault reference
    is not resolved, a stand-in that says so: the steps wait for it and the API answers 503."""
    waiting = sorted(ENVELOPE_SETTINGS & settings.unresolved)
    if waiting:
        # The previous key too: a message sealed with it must wait, not be dead-lettered as forged.
        return NoKey(Unresolved(waiting[0]))
    if settings.envelope_key is None:
        raise SettingsError(
            "GRAPHOPS_ENVELOPE_KEY",
            "not set: the key that seals graphops' own queue messages (the preprovision "
            "hook makes one and infra keeps it in Key Vault; locally, against Azurite, one is derived)",
        )
    return Seal(settings.envelope_key, settings.envelope_key_previous)


def seal_held(settings: Settings) -> Seal | None:
    """The seal where this process holds the envelope key (the app always; a workstation when it is set, or
    against Azurite); None otherwise, or while its Key Vault reference is not resolved: the poison queue's tools
    then take no dead letter as graphops' own."""
    if settings.envelope_key is None:
        return None
    seal = seal_for(settings)
    return seal if isinstance(seal, Seal) else None
