"""The time index over Azurite: after real runs its counts equal its rows and the state rows; transitions racing
from many threads keep them exact; a delivery that gave up counts as "delivery failed" until its dead letter is
requeued and delivered; removal and ``graphops index rebuild`` keep it in step with the state."""

from __future__ import annotations

import json
import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError
from azure.data.tables import TableClient, TableTransactionError, UpdateMode

from graphops import functions
from graphops.console.listing import Filters, list_trackings
from graphops.local import seed
from graphops.local.graph import Reply
from graphops.storage.time_index import (
    CAPACITY,
    FULL,
    PREFIX,
    Entry,
    TrackingIndex,
    Window,
    entry_of_state,
    shard_of,
    tallied,
)

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
        if name == "denied":  # refused on its beta twin too, which a 403 asks once
            h.graph.script(seed.reset_path(f"u-{name}", "op", "beta"), script)
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
    assert h.requeue().moved
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

    # An index that drifted: a state row gone without its index row, and a day indexed with no state left.
    [failed] = [r for r in table.query_entities("RowKey eq 'state' and outcome eq 'failed'")]
    table.delete_entity(failed["PartitionKey"], "state")
    long_ago = datetime(2026, 1, 2, 3, tzinfo=UTC)
    assert state.index.note(Entry(str(uuid.uuid4()), long_ago, "authenticationMethodOperation", "failed", "done"))
    assert state.rebuild_index() == sum(before.values()) - 1
    drifted_back = before - Counter({"failed": 1})
    assert counted(state.index, Window()) == {"counts": drifted_back, "rows": drifted_back}
    before = drifted_back

    removed = state.remove_finished(datetime.now(UTC) + timedelta(days=1))  # as if the retention had passed
    assert removed == 3
    left = Counter({"polling": 1})
    assert state_standings(table) == left and counted(state.index, Window()) == {"counts": left, "rows": left}


def test_a_range_that_cuts_an_hour_counts_and_lists_exactly_what_began_inside_it(make_harness: Any) -> None:
    """Trackings at known minutes of one hour, of two kinds and correlation ids: every filter's counts and rows
    against the same answer worked out from the list, over the hour's count rows and over its rows."""
    make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    table = functions.services().state._table
    table.create_table()
    index = TrackingIndex(table)
    hour = datetime(2026, 11, 30, 10, tzinfo=UTC)
    kinds = ("authenticationMethodOperation", "teamsAsyncOperation")
    made = [Entry(str(uuid.uuid4()), hour + timedelta(minutes=minute), kinds[i % 2], standing, "done", "succeeded",
                  f"wf-{i % 3}") for i, (minute, standing) in enumerate(
                      [(5, "succeeded"), (20, "failed"), (25, "succeeded"), (40, "deliveryFailed"), (44, "failed"),
                       (55, "succeeded"), (70, "timedOut"), (130, "succeeded")])]  # fmt: skip
    for entry in made:
        assert index.note(entry)
    now = hour + timedelta(days=1)
    minutes = [(15, 45), (0, 60), (30, None), (None, 41), (None, None)]
    for since, until in [tuple(None if m is None else hour + timedelta(minutes=m) for m in pair) for pair in minutes]:
        for kind, correlation in ((None, None), (kinds[1], None), (None, "wf-1"), (kinds[0], "wf-0")):
            window = Window(since, until, kind, correlation)
            inside = [e for e in made if (since is None or e.tracked_since >= since)
                      and (until is None or e.tracked_since < until) and kind in (None, e.kind)
                      and correlation in (None, e.correlation_id)]  # fmt: skip
            expected = Counter(e.standing for e in inside)
            assert +index.counts(window, now) == expected, window
            listed = index.page(window, now, 100)
            assert [e.tracking_id for e in listed] == [e.tracking_id for e in sorted(
                inside, key=lambda e: e.tracked_since, reverse=True)], window  # fmt: skip
            # A state filter narrows the rows, not the counts (the chips show every state).
            failed = Window(since, until, kind, correlation, frozenset({"failed"}))
            assert +index.counts(failed, now) == expected
            assert [e.standing for e in index.page(failed, now, 100)] == ["failed"] * expected["failed"]
    assert len(index.page(Window(), now, 3)) == 3  # no more than asked for, the newest first
    assert [e.tracked_since for e in index.page(Window(), now, 3)] == sorted(
        (e.tracked_since for e in made), reverse=True)[:3]  # fmt: skip


def test_storage_failing_twice_in_a_row_still_leaves_the_finished_tracking_indexed(
    make_harness: Any, monkeypatch: Any
) -> None:
    """The index's writes fail twice running at each transition (the SDK's retries spent): the tracking is
    delivered, and it is listed and counted as it ended - a finished one has no later transition to repair it."""
    h: Harness = make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    state = functions.services().state
    table = state._table
    calls: list[int] = []

    def failing_twice_each_time(write: Any) -> Any:
        """An index write (a row alone, or a row and its tally in a transaction) failing two times in three."""

        def written(operations: Any, **kwargs: Any) -> Any:
            first = operations[0][1] if isinstance(operations, list) else operations
            if str(first["PartitionKey"]).startswith(PREFIX):
                calls.append(1)
                if len(calls) % 3:  # the first two of every three
                    raise ServiceRequestError("connection reset by storage")
            return write(operations, **kwargs)

        return written

    monkeypatch.setattr(table, "submit_transaction", failing_twice_each_time(table.submit_transaction))
    monkeypatch.setattr(table, "upsert_entity", failing_twice_each_time(table.upsert_entity))
    path = seed.reset_path("u-flaky", "op")
    h.graph.script(path, [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))])
    tracking = h.track(path)
    h.run()
    assert h.outcomes() == {tracking: "succeeded"} and len(calls) == 6  # two transitions, three tries each
    assert counted(state.index, Window()) == {"counts": Counter({"succeeded": 1}), "rows": Counter({"succeeded": 1})}


class RefusingPastAzuresCap:
    """The state table as Azure keeps it: a write that would give an entity more than 252 properties of its own is
    refused (``TooManyProperties``). Azurite keeps any number, so this reads the count row a transaction merges into
    from Azurite and refuses as Azure would; everything else goes through to Azurite untouched."""

    def __init__(self, table: TableClient) -> None:
        self._table = table
        self.refused = 0

    def submit_transaction(self, operations: Any, **kwargs: Any) -> Any:
        for verb, entity, *options in operations:
            if verb == "upsert" and options and options[0].get("mode") == UpdateMode.MERGE:
                try:
                    stored = dict(self._table.get_entity(entity["PartitionKey"], entity["RowKey"]))
                except ResourceNotFoundError:
                    stored = {}
                own = {**stored, **entity}.keys() - {"PartitionKey", "RowKey", "Timestamp"}
                if len(own) > CAPACITY:
                    self.refused += 1
                    refusal = TableTransactionError(message="The entity contains more properties than allowed.")
                    refusal.error_code = FULL
                    raise refusal
        return self._table.submit_transaction(operations, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._table, name)


def test_a_count_row_azure_holds_full_sends_the_next_tallies_to_the_shards_next_count_row(make_harness: Any) -> None:
    """An hour with more finished trackings in one shard than a count row may hold: each tally past the cap goes to
    the shard's next count row, later transitions find it there (counted once), and forgetting and rebuilding keep
    the counts equal to the rows."""
    make_harness(GRAPHOPS_STATE_TABLE=own_state_table())
    table = functions.services().state._table
    table.create_table()
    capped = RefusingPastAzuresCap(table)
    index = TrackingIndex(capped)  # type: ignore[arg-type]
    hour = datetime(2026, 11, 30, 10, tzinfo=UTC)
    ids = (str(uuid.UUID(int=n)) for n in range(100 * CAPACITY))
    same_shard = [i for i in ids if shard_of(i, hour) == shard_of(str(uuid.UUID(int=0)), hour)][: CAPACITY + 4]
    made = [Entry(tid, hour + timedelta(seconds=n), "authenticationMethodOperation", "succeeded", "done", "succeeded")
            for n, tid in enumerate(same_shard)]  # fmt: skip
    for entry in made:
        assert index.note(entry, "polling")
    shard = made[0].count_row
    assert capped.refused == 4
    levels = {r["RowKey"]: len(list(tallied(r))) for r in table.query_entities(f"RowKey ge '{shard}' and RowKey lt "
                                                                               f"'{shard}-~'")}  # fmt: skip
    assert levels == {shard: CAPACITY, f"{shard}-1": 4}
    now = hour + timedelta(days=1)
    assert counted(index, Window()) == {"counts": Counter({"succeeded": CAPACITY + 4}),
                                        "rows": Counter({"succeeded": CAPACITY + 4})}  # fmt: skip

    late = made[-1]  # tallied in the second count row: its next transition finds it there, not a second time
    assert index.note(replace(late, standing="deliveryFailed"), "succeeded")
    expected = Counter({"succeeded": CAPACITY + 3, "deliveryFailed": 1})
    assert counted(index, Window()) == {"counts": expected, "rows": expected}
    assert index.forget(late.tracking_id, late.tracked_since) and index.forget(made[0].tracking_id, hour)
    expected = Counter({"succeeded": CAPACITY + 2})
    assert counted(index, Window()) == {"counts": expected, "rows": expected}
    assert +index.counts(Window(), now) == expected

    assert index.rebuild(made[1:-1]) == CAPACITY + 2  # written anew: the same counts, the same rows
    assert counted(index, Window()) == {"counts": expected, "rows": expected}
