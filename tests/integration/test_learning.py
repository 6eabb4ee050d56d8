"""The learned schedule over Azurite: a kind with enough finished trackings polls by the checks learned from
them, the status view says so, and each tracking that Graph saw end adds its length: buffered by its process,
which writes a kind's lengths in one row a minute (and when its parts are closed), never a read-modify-write of a
row another step writes too."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
import requests
from azure.data.tables import TableClient

from graphops import functions
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.pacing.learned import MIN_SAMPLES, Seen
from graphops.pacing.length_store import PARTITION, Learning, LengthStore, operation_key, row_key

from ..patience import patience
from .conftest import Harness, own_state_table


def length_rows(h: Harness, table: str, kind: str = "siteOperation") -> dict[str, float]:
    """The kind's lengths, as the read adds up its rows: operation key -> length."""
    client = TableClient.from_connection_string(h.stack.azurite.connection_string, table)
    stored = LengthStore(client).all().get(kind)
    return {} if stored is None else {operation: seen.seconds for operation, seen in stored.lengths.items()}


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
    ours = operation_key(h.graph_url(seed.SITE_OPERATION_PATH))
    now = time.time()
    taken = {row_key("siteOperation", ours)}
    for i, key in enumerate(operations_in_slots_of_their_own("siteOperation", MIN_SAMPLES, taken)):
        assert store.add("siteOperation", key, Seen(2.5 + i / MIN_SAMPLES, now - 3600 * i, f"caller{i % 5}"))
    tracking_id = track_a_site_copy(h)

    [callback] = h.receiver.delivered()
    assert callback.body["outcome"] == "succeeded"
    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["schedule"] == f"learned ({MIN_SAMPLES} lengths)"
    assert [entry.get("schedule") for entry in view["history"] if "next" in entry] == [view["schedule"]]
    assert ours not in length_rows(h, table)  # buffered: the step wrote no length
    functions.reset()  # the process's parts closed: what they buffered is written
    rows = length_rows(h, table)
    assert len(rows) == MIN_SAMPLES + 1 and ours in rows  # its own length joined the history


def test_a_kind_without_enough_history_polls_by_the_default_and_starts_one(make_harness: Any) -> None:
    table = own_state_table()
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=table, GRAPHOPS_KIND_POLL_DELAYS="")
    tracking_id = track_a_site_copy(h)
    view = requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["schedule"] == "default (1–2 s)"
    functions.reset()
    assert list(length_rows(h, table)) == [operation_key(h.graph_url(seed.SITE_OPERATION_PATH))]


def test_learning_off_keeps_the_default_and_records_nothing(make_harness: Any) -> None:
    from azure.core.exceptions import ResourceNotFoundError

    table = own_state_table()
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=table, GRAPHOPS_KIND_POLL_DELAYS="",
                              GRAPHOPS_LEARNED_SCHEDULE="false")  # fmt: skip
    tracking_id = track_a_site_copy(h)
    assert (
        requests.get(h.api(f"operations/{tracking_id}"), timeout=patience(10)).json()["schedule"] == "default (1–2 s)"
    )
    functions.reset()
    try:
        rows = length_rows(h, table)
    except ResourceNotFoundError:
        rows = {}
    assert rows == {}, "a length was recorded with learning off"


def test_a_process_writes_a_kinds_lengths_in_one_row_and_no_writer_waits_for_another(azurite: Any) -> None:
    """Eight processes finishing trackings of one kind at once: each writes its buffered lengths in one table
    operation (an insert of a row of its own; no read first, no retry on another's write), and every length is
    read back."""
    client = TableClient.from_connection_string(azurite.connection_string, own_state_table())
    client.create_table()
    keys = operations_in_slots_of_their_own("teamsAsyncOperation", 80, set())
    stores = [LengthStore(client) for _ in range(8)]
    for w, store in enumerate(stores):
        for i, key in enumerate(keys[w::8]):
            store.buffer("teamsAsyncOperation", key, Seen(60.0 + i, time.time(), "host"))
    flushes = [threading.Thread(target=store.flush) for store in stores]
    for t in flushes:
        t.start()
    for t in flushes:
        t.join(timeout=patience(60))
    assert [store.operations for store in stores] == [1] * 8
    assert len(list(client.query_entities("PartitionKey eq @p", parameters={"p": PARTITION}))) == 8
    assert set(LengthStore(client).all()["teamsAsyncOperation"].lengths) == set(keys)


def test_one_operation_tracked_again_and_again_is_one_length(azurite: Any, caplog: pytest.LogCaptureFixture) -> None:
    client = TableClient.from_connection_string(azurite.connection_string, own_state_table())
    store = LengthStore(client)
    learning = Learning(store, lambda kind: 5)
    url = "https://graph.microsoft.com/v1.0/sites/s/operations/one"
    with caplog.at_level(logging.INFO, logger="graphops.lengths"):
        for i in range(60):
            learning.record("siteOperation", url, Seen(3.0 + i, time.time(), "flood"))
    assert store.flush() == 1
    # Another process sees it again too, later: its own row, but the read counts the operation once, by its first.
    other = LengthStore(client)
    other.buffer("siteOperation", operation_key(url), Seen(99.0, time.time() + 1, "flood"))
    assert other.flush() == 1
    lengths = LengthStore(client).all()["siteOperation"].lengths
    assert {operation: seen.seconds for operation, seen in lengths.items()} == {operation_key(url): 3.0}
    assert store.operations == 3  # the first write, and the table made once on a fresh account
    assert sum("its operation has given one already" in r.getMessage() for r in caplog.records) == 59
