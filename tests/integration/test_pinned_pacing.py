"""Pacing and sealing promises over Azurite and the stand-ins, on the app's real path: the budget row a poll spends
is its token's tenant's and its kind's service's, a 429's shared pause (the service's usual wait without
Retry-After, 600 s at most), a kind GRAPHOPS_KIND_POLL_DELAYS names keeping its delays though it has learned,
and a message sealed with the previous envelope key opening while the key rotates."""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from azure.data.tables import TableClient

from graphops.intake.request import from_request
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.pacing import budget_store, length_store
from graphops.pacing.learned import MIN_SAMPLES
from graphops.settings import Settings
from graphops.storage.seal import Seal
from graphops.wiring import limits_for

from .conftest import Harness, own_state_table

TOO_MANY = seed.graph_error("TooManyRequests", "Too many requests")


def state_table(h: Harness) -> TableClient:
    client = TableClient.from_connection_string(h.stack.azurite.connection_string, h.env["GRAPHOPS_STATE_TABLE"])
    client.create_table()
    return client


def budget_rows(table: TableClient) -> dict[str, dict[str, Any]]:
    """Each budget's rows as one, by its key: every worker's leases, and the latest pause."""
    query = "PartitionKey gt @low and PartitionKey lt @high"
    merged: dict[str, dict[str, Any]] = {}
    for row in table.query_entities(query, parameters={"low": "~budget|", "high": "~budget}"}):
        budget = merged.setdefault(str(row["PartitionKey"])[len("~budget|") :], {"leases": [], "pausedUntil": 0.0})
        budget["leases"] += json.loads(row["leases"])
        budget["pausedUntil"] = max(budget["pausedUntil"], row.get("pausedUntil", 0.0))
    return merged


def serve_until(h: Harness, done: Callable[[], bool], timeout: float = 60) -> None:
    """Run the app's queue triggers until ``done`` (without waiting out the trackings' later steps)."""
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the step did not happen in time"
        if not h.host.poll_once():
            time.sleep(0.05)
    h.host.drain()


def test_a_poll_spends_its_tokens_tenants_row_of_its_service_and_no_other(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    tenant = h.stack.identity.tenant  # the tid of the tokens the identity stand-in issues
    table = state_table(h)
    paused_until = time.time() + 300  # a pause any of these rows would make a poll wait out
    others = {f"{uuid.uuid4()}|ediscovery", f"{tenant}|teams", f"{tenant}|sharepoint", "|ediscovery"}
    for key in others:
        table.create_entity({"PartitionKey": f"{budget_store.PARTITION}|{key}", "RowKey": "other", "leases": "[]",
                             "pausedUntil": paused_until})  # fmt: skip
    h.graph.script(seed.CASE_OPERATION_PATH, [Reply(200, seed.case_operation("running", 10)),
                                              Reply(200, seed.case_operation("succeeded", 100))])  # fmt: skip
    h.track(seed.CASE_OPERATION_PATH)
    h.run(timeout=30)  # none of those pauses held it

    assert [c.body["outcome"] for c in h.receiver.delivered()] == ["succeeded"]
    assert len(h.graph.gets(seed.CASE_OPERATION_PATH)) == 2
    rows = budget_rows(table)
    assert set(rows) == {*others, f"{tenant}|ediscovery"}
    # Its lease (eDiscovery sped up locally to 300 a minute, so not a request at a time): a first lease of 100 a
    # minute (LARGE_LEASE), far from the limit, so living 30 s: it covers both polls.
    assert [lease[2] for lease in rows[f"{tenant}|ediscovery"]["leases"]] == [100]
    assert all((rows[key]["leases"], rows[key]["pausedUntil"]) == ([], paused_until) for key in others)


@pytest.mark.parametrize(
    ("path", "running", "headers", "service", "pause"),
    [
        (seed.EXPORT_PATH, seed.data_export("running"), {}, "dataExport", 60),  # their 429 has no Retry-After
        (seed.CASE_OPERATION_PATH, seed.case_operation("running", 10), {"Retry-After": "3600"}, "ediscovery", 600),
    ],
    ids=["no Retry-After: the service's usual wait", "Retry-After 3600: 600 s at most"],
)
def test_a_429_pauses_the_tenants_budget_of_the_service(
    make_harness: Any, path: str, running: dict[str, Any], headers: dict[str, str], service: str, pause: int
) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    table = state_table(h)
    key = f"{h.stack.identity.tenant}|{service}"
    h.graph.script(path, [Reply(200, running), Reply(429, TOO_MANY, headers), Reply(200, running)])
    h.track(path)
    serve_until(h, lambda: budget_rows(table).get(key, {}).get("pausedUntil", 0) > 0)

    [throttled] = [call for call in h.graph.gets(path) if call.status == 429]
    paused_for = budget_rows(table)[key]["pausedUntil"] - throttled.wall
    # Set when the step had Graph's answer: the pause, plus however long that answer took to reach the step.
    assert pause <= paused_for <= pause + 30, paused_for


def seeded_lengths(h: Harness, kinds: list[str]) -> None:
    """Enough finished trackings of each kind, all of about 3 s, for it to learn."""
    table, rng, now = state_table(h), random.Random(5), time.time()
    for kind in kinds:
        for i in range(MIN_SAMPLES):  # a row each, from callers of their own an hour apart: each counts one
            row = {"seconds": rng.uniform(2.5, 3.5), "at": now - 3600 * i, "source": f"caller{i}"}
            table.create_entity({"PartitionKey": length_store.PARTITION, "RowKey": f"{kind}.{i:03d}", **row})


def test_a_kind_named_in_the_poll_delays_setting_keeps_them_though_it_has_learned(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table(), GRAPHOPS_KIND_POLL_DELAYS="siteOperation=1:2")
    seeded_lengths(h, ["siteOperation", "roleManagementAlertRefresh"])
    h.graph.script(seed.SITE_OPERATION_PATH, [Reply(200, seed.rich_operation("running", 30)),
                                              Reply(200, seed.rich_operation("succeeded", 100))])  # fmt: skip
    h.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("running")),
                                               Reply(200, seed.alert_refresh("succeeded"))])  # fmt: skip
    site, alert = h.track(seed.SITE_OPERATION_PATH), h.track(seed.ALERT_OPERATION_PATH)
    h.run()

    assert sorted(c.body["outcome"] for c in h.receiver.delivered()) == ["succeeded", "succeeded"]
    views = {name: requests.get(h.api(f"operations/{tracking}"), timeout=10).json()
             for name, tracking in (("site", site), ("alert", alert))}  # fmt: skip
    assert views["site"]["schedule"] == "default (1–2 s)"  # the setting's delays
    assert [e.get("schedule") for e in views["site"]["history"] if "next" in e] == ["default (1–2 s)"]
    assert views["alert"]["schedule"] == f"learned ({MIN_SAMPLES} lengths)"  # a kind it does not name learns


OLD_KEY = "the envelope key before its rotation: 0f4c2a9e7b1d"
NEW_KEY = "the envelope key after its rotation: 6a3d8e0b5c2f"


def test_a_message_sealed_with_the_previous_key_is_acted_on_while_the_key_rotates(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_ENVELOPE_KEY=NEW_KEY, GRAPHOPS_ENVELOPE_KEY_PREVIOUS=OLD_KEY)
    limits = limits_for(Settings.from_env(h.env))
    h.graph.script(seed.ALERT_OPERATION_PATH, [Reply(200, seed.alert_refresh("succeeded"))])
    h.graph.script(seed.reset_path("u1"), [Reply(200, seed.password_reset("succeeded"))])

    def step_sealed_with(key: str, path: str, tracking_id: str) -> None:
        """A tracking's next step as the deployment queued it before (or, with a stranger's key, a forgery)."""
        doc = {"operationUrl": h.graph_url(path), "callbackUrl": h.stack.callback_url()}
        tracking = from_request(doc, tracking_id, datetime.now(UTC), limits)
        h.send_raw(Seal(key.encode()).seal(tracking.to_wire()))

    step_sealed_with(OLD_KEY, seed.ALERT_OPERATION_PATH, "sealed-before-rotation")
    step_sealed_with("a key this deployment never held: 9d2e4f6a8c0b", seed.reset_path("u1"), "forged")
    h.run()

    assert h.outcomes() == {"sealed-before-rotation": "succeeded"}
    assert len(h.graph.gets(seed.ALERT_OPERATION_PATH)) == 1 and h.graph.gets(seed.reset_path("u1")) == []
    [refused] = [entry for entry in h.poison() if "seal" in json.dumps(entry)]
    assert "forged" in json.dumps(refused)
