"""The index's pure parts: where a tracking stands, how its keys sort, and the transaction each transition
makes. Over Azurite (counts equal to the rows, concurrent transitions, the list's first page):
tests/integration/test_index.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from graphops.storage.time_index import (
    COUNT_PREFIX,
    SHARDS,
    Entry,
    TrackingIndex,
    bucket_of,
    count_key,
    count_name,
    counted,
    dead_lettered,
    entry_of_state,
    phase_of_standing,
    row_key,
    row_key_bound,
    shard_of,
    split_day,
    standing_of,
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


class Read(dict[str, Any]):
    """A row as the table SDK returns it: its ETag in ``metadata``."""

    def __init__(self, etag: str, **values: Any) -> None:
        super().__init__(values)
        self.metadata = {"etag": etag}


def entry(standing: str, phase: str = "done") -> Entry:
    return Entry("t1", NOW, "teamsAsyncOperation", standing, phase)


def test_a_first_transition_creates_the_row_and_counts_it() -> None:
    ops = TrackingIndex._operations(
        entry("polling", "polling").row, None, None, "c03", "polling", "teamsAsyncOperation"
    )
    assert [op[0] for op in ops] == ["create", "create"]
    assert ops[1][1]["n_polling_teamsAsyncOperation"] == 1 and ops[1][1]["RowKey"] == "c03"


def test_a_transition_moves_one_count_from_the_rows_own_standing_conditional_on_both_etags() -> None:
    new = entry("succeeded")
    current = Read("row-etag", **{**entry("polling", "polling").row})
    counts = Read("count-etag", n_polling_teamsAsyncOperation=5, n_succeeded_teamsAsyncOperation=2)
    ops = TrackingIndex._operations(new.row, current, counts, "c03", "succeeded", "teamsAsyncOperation")
    (row_op, row, row_opts), (count_op, moved, count_opts) = ops
    assert (row_op, row["standing"], row_opts["etag"]) == ("update", "succeeded", "row-etag")
    assert (count_op, count_opts["etag"]) == ("update", "count-etag")
    assert moved["n_polling_teamsAsyncOperation"] == 4 and moved["n_succeeded_teamsAsyncOperation"] == 3


def test_a_transition_already_made_does_nothing_and_a_missed_one_is_repaired_from_the_row() -> None:
    done = entry("succeeded")
    assert TrackingIndex._operations(done.row, Read("e", **done.row), Read("c"), "c03", "succeeded", done.kind) == []
    # The row still says polling (a write that failed); the step believed it was delivering: the row is what moves.
    current = Read("e", **entry("polling", "polling").row)
    counts = Read("c", n_polling_teamsAsyncOperation=1)
    _, (_, moved, _) = TrackingIndex._operations(done.row, current, counts, "c03", "succeeded", done.kind)
    assert moved == {"PartitionKey": done.partition, "RowKey": "c03", "n_polling_teamsAsyncOperation": 0,
                     "n_succeeded_teamsAsyncOperation": 1}  # fmt: skip


def test_forgetting_deletes_the_row_and_uncounts_it() -> None:
    current = Read("e", **entry("failed").row)
    key = {"PartitionKey": current["PartitionKey"], "RowKey": current["RowKey"]}
    ops = TrackingIndex._operations(key, current, Read("c", n_failed_teamsAsyncOperation=3), "c03", None, "")
    assert [op[0] for op in ops] == ["delete", "update"] and ops[1][1]["n_failed_teamsAsyncOperation"] == 2
    assert TrackingIndex._operations(key, None, None, "c03", None, "") == []  # nothing there: nothing to do


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
