"""The index's pure parts: where a tracking stands, how its keys sort, and the transaction each transition
writes. Over Azurite (counts equal to the rows, concurrent transitions, the list's first page):
tests/integration/test_index.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from azure.data.tables import UpdateMode

from graphops.storage.time_index import (
    CAPACITY,
    COUNT_PREFIX,
    NOT_INDEXED,
    SHARDS,
    Entry,
    bucket_of,
    count_key,
    count_name,
    count_rows,
    counted,
    dead_lettered,
    entry_of_state,
    forgetting,
    level_key,
    phase_of_standing,
    row_key,
    row_key_bound,
    shard_of,
    split_day,
    standing_of,
    tallied,
    tally_name,
    writes,
)

NOW = datetime(2026, 12, 4, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("phase", "outcome", "failed", "standing"),
    [("polling", None, False, "polling"), ("awaitingResource", None, False, "awaitingResource"),
     ("delivering", "succeeded", False, "delivering"), ("done", "succeeded", False, "succeeded"),
     ("done", "succeeded", True, "deliveryFailed"), ("done", "failed", True, "deliveryFailed"),
     ("done", "cancelled", False, "cancelled"), ("delivering", "forbidden", True, "deliveryFailed")],
)  # fmt: skip
def test_each_tracking_stands_in_exactly_one_place(
    phase: str, outcome: str | None, failed: bool, standing: str
) -> None:
    assert standing_of(phase, outcome, failed) == standing
    assert phase_of_standing(standing) == (
        phase if standing in ("polling", "awaitingResource", "delivering") else "done"
    )


def test_a_state_row_with_a_dead_lettered_sink_stands_as_delivery_failed() -> None:
    state = {"trackedSince": "2026-12-04T09:00:00.000Z", "phase": "done", "outcome": "succeeded", "kind": "k",
             "deliveries": '{"callback": {"state": "deadLettered", "attempts": 1, "error": "410"}}'}  # fmt: skip
    entry = entry_of_state("t1", state)
    assert entry is not None and entry.standing == "deliveryFailed" and entry.outcome == "succeeded"
    assert not dead_lettered('{"callback": {"state": "delivered"}}') and not dead_lettered("not json")
    assert entry_of_state("t2", {"phase": "done"}) is None  # no beginning: nothing to index it under


def test_rows_sort_newest_first_and_time_bounds_are_row_key_ranges() -> None:
    earlier, later = NOW - timedelta(seconds=1), NOW
    assert row_key(later, "b") < row_key(earlier, "a")  # the newest first in the partition
    assert row_key(NOW - timedelta(milliseconds=1), "z") >= row_key_bound(NOW)  # begun before NOW: at or past it
    assert row_key(NOW, "z") < row_key_bound(NOW)
    assert bucket_of(NOW) == "20261204" and bucket_of(NOW.replace(hour=23, minute=59)) == "20261204"
    assert bucket_of(NOW.replace(hour=0, minute=0)) == "20261204" and bucket_of(NOW + timedelta(days=1)) == "20261205"


def test_counts_are_named_by_standing_and_kind_and_spread_over_shards() -> None:
    assert count_name("deliveryFailed", "teamsAsyncOperation") == "n_deliveryFailed_teamsAsyncOperation"
    assert counted("n_deliveryFailed_teamsAsyncOperation") == ("deliveryFailed", "teamsAsyncOperation")
    assert counted("PartitionKey") is None and counted("Timestamp") is None
    assert count_name("polling", "odd kind!") == "n_polling_oddkind"  # a property name takes letters and digits only
    shards = {shard_of(f"tracking-{i}", NOW) for i in range(500)}
    assert shards == {f"{COUNT_PREFIX}09-{i:02d}" for i in range(SHARDS)}  # the hour's, spread over SHARDS
    assert shard_of("tracking-1", NOW.replace(hour=23)).startswith("c23-")
    # Count rows sort before the tracking rows of their day, in hour order.
    assert count_key(0) < shard_of("t", NOW) < count_key(10) < count_key(24) < row_key(NOW, "t")


def at(hour: int, minute: int = 0, day: int = 4) -> datetime:
    return datetime(2026, 12, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("since", "until", "hours", "cut"),
    [(None, None, (0, 24), []),  # the whole day: its count rows alone
     (at(8, 15), at(10), (9, 10), [(at(8, 15), at(9))]),  # from 08:15: that hour's rows, then 09:00's counts
     (at(8), at(10, 30), (8, 10), [(at(10), at(10, 30))]),
     (at(8, 15), at(8, 45), None, [(at(8, 15), at(8, 45))]),  # inside one hour: rows only
     (at(9, 30, day=3), None, (0, 24), []),  # began the day before: this whole day
     (at(23, 30), None, None, [(at(23, 30), at(0, day=5))]),
     (at(0, day=5), None, None, []),  # after the day: nothing of it
     (None, at(0), None, [])],  # before it
)  # fmt: skip
def test_a_days_whole_hours_are_answered_by_their_counts_and_the_hours_a_range_cuts_by_their_rows(
    since: datetime | None, until: datetime | None, hours: tuple[int, int] | None, cut: list[tuple[datetime, datetime]]
) -> None:
    assert split_day("20261204", since, until) == (hours, cut)


def entry(standing: str, phase: str = "done", tracking_id: str = "t1") -> Entry:
    return Entry(tracking_id, NOW, "teamsAsyncOperation", standing, phase)


def test_a_running_tracking_is_written_as_its_row_alone_and_a_finishing_one_with_its_tally_in_one_transaction() -> None:
    begun = entry("polling", "polling")
    assert writes(begun, NOT_INDEXED)("c09-03", False) == [("upsert", begun.row, {"mode": UpdateMode.REPLACE})]
    assert len(writes(entry("delivering", "delivering"), "polling")("c09-03", False)) == 1  # still running
    done = entry("succeeded")
    (row_op, row, _), (tally_op, tally, options) = writes(done, "polling")("c09-03", False)
    assert (row_op, row, tally_op, options) == ("upsert", done.row, "upsert", {"mode": UpdateMode.MERGE})
    assert tally == {"PartitionKey": done.partition, "RowKey": "c09-03",
                     tally_name("t1"): "n_succeeded_teamsAsyncOperation"}  # fmt: skip
    assert list(tallied(tally)) == [("succeeded", "teamsAsyncOperation")]


def test_a_tracking_that_may_have_been_tallied_has_its_tally_emptied_when_it_runs_again() -> None:
    for was in ("deliveryFailed", None):  # a requeued dead letter; a standing not known
        ops = writes(entry("delivering", "delivering"), was)("c09-03", False)
        assert [op[0] for op in ops] == ["upsert", "upsert"] and ops[1][1][tally_name("t1")] == ""
        assert list(tallied(ops[1][1])) == []


def test_a_transition_writes_the_same_whatever_the_index_said_so_a_missed_one_is_repaired_by_the_next() -> None:
    done = entry("succeeded")
    assert writes(done, "polling")("c09-03", False) == writes(done, None)("c09-03", False)
    assert writes(done, "succeeded")("c09-03", False) == writes(done, "failed")("c09-03", False)


def test_forgetting_deletes_the_row_and_empties_the_tally_and_empties_it_alone_when_the_row_is_gone() -> None:
    since = NOW
    ops = forgetting("~index-20261204", "t1", since)("c09-03", False)
    assert [op[0] for op in ops] == ["delete", "upsert"] and ops[0][1]["RowKey"] == row_key(since, "t1")
    assert ops[1][1][tally_name("t1")] == ""
    assert forgetting("~index-20261204", "t1", since)("c09-03", True) == ops[1:]


def test_each_tracking_has_its_own_tally_property_and_a_full_count_row_its_next_level() -> None:
    ids = ["a-b", "a_b", "a_0b", "a__b", "A-b", "-", "_"]
    names = {tally_name(i) for i in ids}
    assert len(names) == len(ids)  # one name per id: "-" and "_" escaped apart
    assert all(n.startswith("s_") and n.replace("_", "").isalnum() for n in names)
    assert level_key("c09-03", 0) == "c09-03" and level_key("c09-03", 2) == "c09-03-2"
    assert count_key(9) < level_key("c09-03", 0) < level_key("c09-03", 1) < level_key("c09-04", 0) < count_key(10)
    # A rebuild fills a shard's levels in order, CAPACITY tallies each, and tallies no running tracking.
    one_shard = [i for i in (f"t{n}" for n in range(20 * CAPACITY)) if shard_of(i, NOW) == shard_of("t0", NOW)]
    finished = [entry("failed", tracking_id=i) for i in one_shard[: CAPACITY + 3]]
    running = [entry("polling", "polling", tracking_id=f"r{i}") for i in range(5)]
    rows = count_rows("~index-20261204", [*finished, *running])
    assert [(row["RowKey"], len(list(tallied(row)))) for row in rows] == [
        (level_key(shard_of("t0", NOW), 0), CAPACITY), (level_key(shard_of("t0", NOW), 1), 3)]  # fmt: skip


def test_a_finished_trackings_row_keeps_what_the_list_shows_of_it_and_a_running_ones_does_not() -> None:
    state = {"trackedSince": "2026-12-04T09:00:00.000Z", "phase": "done", "outcome": "failed", "kind": "k",
             "polls": 7, "lastStatus": "failed", "progress": None, "lastPollAt": "2026-12-04T09:10:00.000Z",
             "deliveryAttempts": 1, "lastDeliveryError": None, "nextPollAt": ""}  # fmt: skip
    done = entry_of_state("t1", state)
    assert done is not None and done.details is not None
    assert done.details["polls"] == 7 and done.details["lastStatus"] == "failed"
    assert done.row["polls"] == 7 and done.row["progress"] == "" and "nextPollAt" not in done.row
    running = entry_of_state("t1", {**state, "phase": "polling", "outcome": None})
    assert running is not None and running.details is None and "polls" not in running.row  # read from the state
