"""function_app.py indexed by Microsoft's Python worker library (azure-functions-runtime), as the platform
indexes it at start-up: the app must load with every function, even when a setting it can live without is
not usable yet, and must refuse to load, naming the setting, when one it cannot live without is wrong."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure_functions_runtime import loader
from azure_functions_runtime.bindings import meta
from azure_functions_runtime.functions import Registry

from graphops.common.errors import SettingsError

ROOT = Path(__file__).resolve().parents[2]
# The worker passes its protobuf module; the registry reads only these enumeration values from it
# (BindingInfo.Direction and BindingInfo.DataType, as numbered in the Functions protocol).
PROTOS = SimpleNamespace(BindingInfo=SimpleNamespace(in_=0, out=1, inout=2, undefined=0, string=1, binary=2, stream=3))
SETTINGS = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}
FUNCTIONS = {"track_operation", "subscribe", "status", "cancel", "cancel_by_key", "start", "start_alert_refresh",
             "openapi", "remove_finished", "console"}  # fmt: skip


@pytest.fixture
def worker(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    monkeypatch.syspath_prepend(str(ROOT))  # the worker puts the app's folder on sys.path
    sys.modules.pop("function_app", None)
    for name, value in SETTINGS.items():
        monkeypatch.setenv(name, value)
    yield monkeypatch
    sys.modules.pop("function_app", None)


def index() -> set[str]:
    meta.load_binding_registry()  # the worker's init step: azure-functions' binding converters
    indexed = loader.index_function_app(str(ROOT / "function_app.py"))
    registry = Registry()
    for function in indexed:
        registry.add_indexed_function(function, PROTOS)  # the worker's own binding and signature checks
    return {function.get_function_name() for function in indexed}


def test_the_worker_indexes_every_function(worker: pytest.MonkeyPatch) -> None:
    assert index() == FUNCTIONS


def test_unresolved_key_vault_references_for_every_secret_do_not_stop_the_app_loading(
    worker: pytest.MonkeyPatch,
) -> None:
    # Both secrets as App Service hands them over while it cannot read the vault: the reference's own text.
    for name in ("GRAPHOPS_CALLBACK_SECRET", "GRAPHOPS_ENVELOPE_KEY", "GRAPHOPS_ENVELOPE_KEY_PREVIOUS"):
        worker.setenv(name, "@Microsoft.KeyVault(SecretUri=https://x.vault.azure.net/secrets/y/)")
    assert index() == FUNCTIONS


def test_a_wrong_setting_stops_the_app_naming_it(worker: pytest.MonkeyPatch) -> None:
    worker.setenv("GRAPHOPS_MIN_DELAY_SECONDS", "soon")
    with pytest.raises(SettingsError, match="GRAPHOPS_MIN_DELAY_SECONDS"):
        index()


def test_the_console_is_never_behind_a_function_key(worker: pytest.MonkeyPatch) -> None:
    # A key in a browser's address bar leaks (history, screenshots, proxies): App Service authentication
    # protects the console, and the app checks who the platform signed in.
    meta.load_binding_registry()
    [console] = [f for f in loader.index_function_app(str(ROOT / "function_app.py")) if f.get_function_name() ==
                 "console"]  # fmt: skip
    [trigger] = [json.loads(b) for b in console.get_raw_bindings() if json.loads(b)["type"] == "httpTrigger"]
    assert (trigger["route"], trigger["authLevel"], sorted(trigger["methods"])) == (
        "console/{*path}", "ANONYMOUS", ["GET", "POST"])  # fmt: skip
