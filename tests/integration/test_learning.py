"""The learned schedule over Azurite: a kind with enough finished trackings polls by the checks learned from
them, the status view says so, and each tracking that Graph saw end adds its length."""

from __future__ import annotations

import random
from typing import Any

import requests
from azure.data.tables import TableClient

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.pacing.learned import MIN_SAMPLES, Lengths
from graphops.pacing.length_store import PARTITION

from ..patience import patience
from .conftest import Harness, own_state_table


def lengths_row(h: Harness, table: str) -> Lengths:
    client = TableClient.from_connection_string(h.stack.azurite.connection_string, table)
    return Lengths.from_json(client.get_entity(PARTITION, "siteOperation")["counts"])


def track_a_site_copy(h: Harness) -> str:
    h.graph.script(seed.SITE_OPERATION_PATH, [Reply(200, seed.rich_operation("running", 30)),
                                              Reply(200, seed.rich_operation("succeeded", 100))])  # fmt: skip
    tracking_id = h.track(seed.SITE_OPERATION_PATH)
    h.run()
    return tracking_id


def test_a_kind_with_enough_history_polls_by_its_learned_schedule_and_adds_to_it(make_harness: Any) -> None:
    table = own_state_table()
    # Every kind at its own pace (not the local 1-2 s override, which a learned schedule never replaces).
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=table, GRAPHOPS_KIND_POLL_DELAYS="")
    rng = random.Random(4)
    history = Lengths()
    for _ in range(MIN_SAMPLES):
        history = history.add(rng.uniform(2.5, 3.5))
    client = TableClient.from_connection_string(h.stack.azurite.connection_string, table)
    client.create_table()
    client.create_entity({"PartitionKey": PARTITION, "RowKey": "siteOperation", "counts": history.to_json()})
    tracking_id = track_a_site_copy(h)

    [callback] = h.receiver.delivered()
    assert callback.body["outcome"] == "succeeded"
    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["schedule"] == f"learned ({MIN_SAMPLES} lengths)"
    assert [entry.get("schedule") for entry in view["history"] if "next" in entry] == [view["schedule"]]
    assert lengths_row(h, table).samples == MIN_SAMPLES + 1  # its own length joined the history


def test_a_kind_without_enough_history_polls_by_the_default_and_starts_one(make_harness: Any) -> None:
    table = own_state_table()
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=table, GRAPHOPS_KIND_POLL_DELAYS="")
    tracking_id = track_a_site_copy(h)
    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["schedule"] == "default (1–2 s)"
    assert lengths_row(h, table).samples == 1


def test_learning_off_keeps_the_default_and_records_nothing(make_harness: Any) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    table = own_state_table()
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=table, GRAPHOPS_KIND_POLL_DELAYS="",
                              GRAPHOPS_LEARNED_SCHEDULE="false")  # fmt: skip
    tracking_id = track_a_site_copy(h)
    assert (
        requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()["schedule"] == "default (1–2 s)"
    )
    try:
        lengths_row(h, table)
        raise AssertionError("a length was recorded with learning off")
    except ResourceNotFoundError:
        pass
