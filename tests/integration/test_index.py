"""The time index over Azurite: after real runs its counts equal its rows and the state rows; transitions racing
from many threads keep them exact; a delivery that gave up counts as "delivery failed" until its dead letter is
requeued and delivered; removal and ``graphops index rebuild`` keep it in step with the state."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.data.tables import TableClient

from graphops import functions
from graphops.console.listing import Filters, list_trackings
from graphops.index import Entry, TrackingIndex, Window, entry_of_state
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.poison import requeue

from .conftest import Harness, own_state_table
from .test_cli import graphops


def counted(index: TrackingIndex, window: Window) -> dict[str, Counter[str]]:
    """What the index says three ways: its count rows (whole hours), its rows scanned (an hour the window cuts),
    and its rows listed."""
    now = datetime.now(UTC)
    return {
        "counts": +index.counts(window, now),
        "rows": Counter(e.standing for e in index.page(window, now, 10_000)),
    }


def state_standings(table: TableClient) -> Counter[str]:
    """Where each tracking stands by its state row: the truth the index is derived from."""
    rows = table.query_entities("RowKey eq 'state'")
    return Counter(entry.standing for r in rows if (entry := entry_of_state(str(r["PartitionKey"]), r)))


def a_run_in_every_end(h: Harness) -> dict[str, str]:
    h.receiver.answer("/gone", 410)
    replies = {"ok": [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))],
               "failed": [Reply(200, seed.password_reset("failed"))],
               "denied": [Reply(403, seed.graph_error("Authorization_RequestDenied", "no"))],
               "gone": [Reply(200, seed.password_reset("succeeded"))]}  # fmt: skip
    ids = {}
    for name, script in replies.items():
        path = seed.reset_path(f"u-{name}", "op")
        h.graph.script(path, script)
        ids[name] = h.track(path, callback_url=h.stack.callback_url("/gone" if name == "gone" else "/"))
    h.run()
    return ids


def test_after_a_run_the_counts_equal_the_rows_and_the_state_and_a_requeue_moves_them(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    ids = a_run_in_every_end(h)
    state = functions.services().state
    table = state._table
    expected = Counter({"succeeded": 1, "failed": 1, "forbidden": 1, "deliveryFailed": 1})
    assert state_standings(table) == expected
    # The whole of time (count rows) and the last two hours (the current hour is cut: its rows are counted).
    for window in (Window(), Window(since=datetime.now(UTC) - timedelta(hours=2))):
        assert counted(state.index, window) == {"counts": expected, "rows": expected}, window
    dead = state.read(ids["gone"]) or {}
    assert (dead["phase"], dead["outcome"]) == ("done", "succeeded")  # done: nothing more happens by itself
    # A finished tracking's index row keeps what the list shows of it: the same as its state says.
    listed = {row.tracking_id: row for row in list_trackings(table, Filters(), datetime.now(UTC)).rows}
    for name in ids:
        kept = state.read(ids[name]) or {}
        row = listed[ids[name]]
        assert (row.polls, row.last_status, row.delivery_attempts, row.last_delivery_error) == (
            kept["polls"],
            kept["lastStatus"] or None,
            kept["deliveryAttempts"],
            kept["lastDeliveryError"] or None,
        ), name
    assert listed[ids["ok"]].polls == 2 and listed[ids["gone"]].last_delivery_error.startswith("dead-lettered")

    h.receiver.answer("/gone", 200)  # the receiver is fixed; the operator requeues the dead letter
    poison, main = h.queue(f"{h.stack.queue_name}-poison"), h.queue(h.stack.queue_name)
    assert requeue(poison, main, None).moved
    h.run()
    delivered = Counter({"succeeded": 2, "failed": 1, "forbidden": 1})
    assert state_standings(table) == delivered
    assert counted(state.index, Window()) == {"counts": delivered, "rows": delivered}


def test_transitions_racing_from_many_threads_keep_the_counts_exact(make_harness: Any) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    table = functions.services().state._table
    table.create_table()
    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    entries = [Entry(str(uuid.uuid4()), hour + timedelta(seconds=i), "authenticationMethodOperation", "polling",
                     "polling") for i in range(64)]  # fmt: skip
    ends = ["succeeded", "failed", "deliveryFailed", "timedOut"]
    finished = [Entry(e.tracking_id, e.tracked_since, e.kind, ends[i % 4], "done", "succeeded")
                for i, e in enumerate(entries)]  # fmt: skip
    local = threading.local()

    def note(entry: Entry) -> bool:
        if not hasattr(local, "index"):
            local.index = TrackingIndex(TableClient.from_connection_string(h.env["AzureWebJobsStorage"],
                                                                            table.table_name))  # fmt: skip
        return bool(local.index.note(entry))

    with ThreadPoolExecutor(12) as pool:  # twelve workers, sixteen count rows: some meet on one
        assert all(pool.map(note, entries))
        assert all(pool.map(note, finished + finished[:8]))  # eight of them twice at once: a step run twice
    index = TrackingIndex(table)
    expected = Counter({"succeeded": 16, "failed": 16, "deliveryFailed": 16, "timedOut": 16})
    assert counted(index, Window()) == {"counts": expected, "rows": expected}


def test_removal_forgets_and_a_rebuild_restores_an_index_that_was_never_written(
    make_harness: Any, tmp_path: Path
) -> None:
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    a_run_in_every_end(h)
    h.graph.script(seed.reset_path("u-slow", "op"), [Reply(200, seed.password_reset("running"))])
    h.track(seed.reset_path("u-slow", "op"))  # still running when the rest is removed
    h.host.poll_once()
    h.host.drain()
    state = functions.services().state
    table = state._table
    before = state_standings(table)
    assert before["polling"] == 1

    # An index that was never written, as after an upgrade from a version without one: the list is empty ...
    for row in list(table.query_entities("PartitionKey ge '~'")):
        table.delete_entity(row["PartitionKey"], row["RowKey"])
    assert counted(state.index, Window()) == {"counts": Counter(), "rows": Counter()}
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps({"IsEncrypted": False, "Values": h.env}))
    rebuilt = graphops(settings, "index", "rebuild", "--json")  # ... until the operator rebuilds it
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert json.loads(rebuilt.stdout) == {"indexed": sum(before.values())}
    assert counted(state.index, Window()) == {"counts": before, "rows": before}

    removed = state.remove_finished(datetime.now(UTC) + timedelta(days=1))  # as if the retention had passed
    assert removed == 4
    left = Counter({"polling": 1})
    assert state_standings(table) == left and counted(state.index, Window()) == {"counts": left, "rows": left}
