"""The learned schedule over Azurite: a kind with enough finished trackings polls by the checks learned from
them, the status view says so, and each tracking that Graph saw end adds its length, with one table operation
and never a read-modify-write of a row another step writes too."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import requests
from azure.data.tables import TableClient

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.pacing.learned import MIN_SAMPLES, Seen
from graphops.pacing.length_store import PARTITION, Learning, LengthStore, operation_key, row_key

from ..patience import patience
from .conftest import Harness, own_state_table


def length_rows(h: Harness, table: str, kind: str = "siteOperation") -> dict[str, float]:
    """The kind's rows: row key -> length."""
    client = TableClient.from_connection_string(h.stack.azurite.connection_string, table)
    rows = client.query_entities("PartitionKey eq @p", parameters={"p": PARTITION})
    return {str(r["RowKey"]): float(r["seconds"]) for r in rows if str(r["RowKey"]).rpartition(".")[0] == kind}


def operations_in_slots_of_their_own(kind: str, count: int, taken: set[str]) -> list[str]:
    """``count`` operation keys whose rows differ from each other's and from ``taken``."""
    out: list[str] = []
    for i in range(100 * count):
        key = operation_key(f"https://graph.example/op/{i}")
        row = row_key(kind, key)
        if row not in taken:
            taken.add(row)
            out.append(key)
        if len(out) == count:
            break
    return out


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
    client = TableClient.from_connection_string(h.stack.azurite.connection_string, table)
    store = LengthStore(client)
    ours = row_key("siteOperation", operation_key(h.graph_url(seed.SITE_OPERATION_PATH)))
    now = time.time()
    for i, key in enumerate(operations_in_slots_of_their_own("siteOperation", MIN_SAMPLES, {ours})):
        assert store.add("siteOperation", key, Seen(2.5 + i / MIN_SAMPLES, now - 3600 * i, f"caller{i % 5}"))
    tracking_id = track_a_site_copy(h)

    [callback] = h.receiver.delivered()
    assert callback.body["outcome"] == "succeeded"
    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["schedule"] == f"learned ({MIN_SAMPLES} lengths)"
    assert [entry.get("schedule") for entry in view["history"] if "next" in entry] == [view["schedule"]]
    rows = length_rows(h, table)
    assert len(rows) == MIN_SAMPLES + 1 and ours in rows  # its own length joined the history, in its own row


def test_a_kind_without_enough_history_polls_by_the_default_and_starts_one(make_harness: Any) -> None:
    table = own_state_table()
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=table, GRAPHOPS_KIND_POLL_DELAYS="")
    tracking_id = track_a_site_copy(h)
    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["schedule"] == "default (1–2 s)"
    assert list(length_rows(h, table)) == [
        row_key("siteOperation", operation_key(h.graph_url(seed.SITE_OPERATION_PATH)))
    ]


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
        rows = length_rows(h, table)
    except ResourceNotFoundError:
        rows = {}
    assert rows == {}, "a length was recorded with learning off"


def test_a_finished_tracking_costs_one_write_and_no_writer_waits_for_another(azurite: Any) -> None:
    """Eight writers finishing trackings of one kind at once: each length one table operation (an upsert of its
    operation's row; no read first, no retry on another's write), and every length kept."""
    client = TableClient.from_connection_string(azurite.connection_string, own_state_table())
    client.create_table()
    keys = operations_in_slots_of_their_own("teamsAsyncOperation", 80, set())
    stores = [LengthStore(client) for _ in range(8)]

    def finish(w: int) -> None:
        for i, key in enumerate(keys[w::8]):
            assert stores[w].add("teamsAsyncOperation", key, Seen(60.0 + i, time.time(), "host"))

    writers = [threading.Thread(target=finish, args=(w,)) for w in range(8)]
    for t in writers:
        t.start()
    for t in writers:
        t.join(timeout=120)
    assert sum(store.operations for store in stores) == len(keys)
    rows = list(client.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}))
    assert len(rows) == len(keys)


def test_one_operation_tracked_again_and_again_is_one_length(azurite: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = TableClient.from_connection_string(azurite.connection_string, own_state_table())
    store = LengthStore(client)
    learning = Learning(store, lambda kind: 5)
    url = "https://graph.microsoft.com/v1.0/sites/s/operations/one"
    with caplog.at_level(logging.INFO, logger="graphops.lengths"):
        for i in range(60):
            learning.record("siteOperation", url, Seen(3.0 + i, time.time(), "flood"))
    # Another process sees it again too: the same row, its first length, not another.
    assert LengthStore(client).add("siteOperation", operation_key(url), Seen(99.0, time.time(), "flood"))
    rows = list(client.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}))
    assert [(r["RowKey"], r["seconds"]) for r in rows] == [(row_key("siteOperation", operation_key(url)), 3.0)]
    assert store.operations == 3  # the first write, and the table made once on a fresh account
    assert sum("its operation has given one already" in r.getMessage() for r in caplog.records) == 59
