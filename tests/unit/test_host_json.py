"""host.json, function_app.py and the code that re-enqueues must agree, or messages poison silently."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from graphops.runner import QueueOptions, load_app, queue_functions
from graphops.storage.queues import MESSAGE_ENCODING

ROOT = Path(__file__).resolve().parents[2]


def test_the_encoding_we_send_is_the_one_the_trigger_decodes() -> None:
    assert QueueOptions.from_host_json(ROOT / "host.json").message_encoding == MESSAGE_ENCODING


def test_host_json_queue_settings_are_within_the_hosts_limits() -> None:
    options = QueueOptions.from_host_json(ROOT / "host.json")
    assert 1 <= options.batch_size <= 32 and options.max_dequeue_count >= 1
    assert json.loads((ROOT / "host.json").read_text())["version"] == "2.0"


def test_function_app_binds_the_queue_trigger_to_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("GRAPHOPS_QUEUE_NAME", "graph-operations")
    app = load_app(ROOT)
    indexed = app.get_functions()
    [function] = [f for f in indexed if f.get_trigger().get_binding_name() == "queueTrigger"]
    binding = function.get_trigger().get_dict_repr()
    assert (binding["queueName"], binding["connection"]) == ("%GRAPHOPS_QUEUE_NAME%", "AzureWebJobsStorage")
    assert [q.queue_name for q in queue_functions(indexed, {"GRAPHOPS_QUEUE_NAME": "graph-operations"})] == [
        "graph-operations"
    ]


def test_a_bad_setting_fails_at_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AzureWebJobsStorage", "UseDevelopmentStorage=true")
    monkeypatch.setenv("GRAPHOPS_QUEUE_NAME", "graph-operations")
    monkeypatch.setenv("GRAPHOPS_MAX_DELAY_SECONDS", "a minute")
    with pytest.raises(Exception, match=r"^GRAPHOPS_MAX_DELAY_SECONDS: must be a whole number"):
        load_app(ROOT)
