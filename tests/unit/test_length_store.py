"""How the lengths' store bounds a kind's rows (graphops.pacing.length_store over an in-memory table): one row per
operation, its first length, and a history of the newest rows by time, so that no new operation displaces a real
length at random."""

from __future__ import annotations

import threading
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from graphops.pacing.learned import Seen, bounded
from graphops.pacing.length_store import (
    KEPT,
    PARTITION,
    PRUNE_AFTER,
    ROW_CHARS,
    Learning,
    LengthStore,
    operation_key,
    packed,
    row_key,
    unpacked,
)

from ..patience import patience

NOW = 1_800_000_000.0
KIND = "siteOperation"


class Table:
    """The lengths' partition as Table storage keeps it: insert refuses a taken row, delete a missing one."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.deleted: list[str] = []

    def create_entity(self, entity: dict[str, Any]) -> None:
        if entity["RowKey"] in self.rows:
            raise ResourceExistsError("EntityAlreadyExists")
        self.rows[entity["RowKey"]] = dict(entity)

    def delete_entity(self, partition: str, key: str) -> None:
        assert partition == PARTITION
        if self.rows.pop(key, None) is None:
            raise ResourceNotFoundError("ResourceNotFound")
        self.deleted.append(key)

    def query_entities(self, query: str, **_: Any) -> list[dict[str, Any]]:
        return list(self.rows.values())


def store_of(table: Table) -> LengthStore:
    return LengthStore(table)  # type: ignore[arg-type]


def test_an_operation_tracked_again_keeps_its_first_length_and_takes_no_other_row() -> None:
    table = Table()
    store = store_of(table)
    for i in range(300):
        assert store.add(KIND, operation_key(f"op/{i}"), Seen(300.0 + i, NOW - 3600 * (300 - i), "caller"))
    for i in range(60):  # a retry loop: one operation, again and again, in another process each time
        assert store_of(table).add(KIND, operation_key("op/flooded"), Seen(3.0 + i, NOW - 60 + i, "retry-loop"))
    assert len(table.rows) == 301  # every operation its own row: none replaced
    assert table.rows[row_key(KIND, operation_key("op/flooded"))]["seconds"] == 3.0
    assert store.operations == 300


def test_a_kinds_history_is_its_newest_rows_and_a_new_one_displaces_only_the_oldest() -> None:
    rows = {f"{KIND}.{i:04d}": Seen(300.0, NOW - 3600 * i, "caller") for i in range(KEPT + 10)}
    kept, older = bounded(rows, KEPT)
    assert kept == [f"{KIND}.{i:04d}" for i in range(KEPT)] and older == [
        f"{KIND}.{i:04d}" for i in range(KEPT, KEPT + 10)
    ]
    rows[f"{KIND}.new"] = Seen(3.0, NOW + 1, "retry-loop")
    now_kept, now_older = bounded(rows, KEPT)
    assert now_kept == [f"{KIND}.new", *kept[:-1]] and now_older == [kept[-1], *older]
    # Two rows that finished together go by key: every process keeps the same ones.
    tied = {"b": Seen(1.0, NOW, "x"), "a": Seen(2.0, NOW, "y")}
    assert bounded(tied, 1) == (["a"], ["b"])


def test_a_reading_process_deletes_a_kinds_oldest_rows_once_they_pass_the_slack() -> None:
    table = Table()
    store = store_of(table)
    for i in range(KEPT + PRUNE_AFTER - 1):
        store.add(KIND, operation_key(f"op/{i}"), Seen(300.0, NOW - 3600 * i, f"caller{i % 5}"))
    learning = Learning(store, lambda kind: 5, wall=lambda: NOW)
    schedules = learning.schedules()
    assert table.deleted == []  # below the slack: nothing deleted, and the history reads the newest KEPT
    assert schedules[KIND].samples == KEPT
    store.add(KIND, operation_key("op/last"), Seen(300.0, NOW + 1, "caller"))
    learning.refresh = 0.0
    learning.schedules()
    oldest = [row_key(KIND, operation_key(f"op/{i}")) for i in range(KEPT + PRUNE_AFTER - 2, KEPT - 2, -1)]
    assert sorted(table.deleted) == sorted(oldest) and len(table.rows) == KEPT


class SlowTable(Table):
    """A read that takes a while: it returns once the test lets it."""

    def __init__(self) -> None:
        super().__init__()
        self.reading, self.go = threading.Event(), threading.Event()

    def query_entities(self, query: str, **kw: Any) -> list[dict[str, Any]]:
        self.reading.set()
        assert self.go.wait(10)
        return super().query_entities(query, **kw)


def test_a_step_that_comes_during_the_processs_first_read_waits_for_its_schedules() -> None:
    table = SlowTable()
    store = store_of(table)
    for i in range(60):
        store.add(KIND, operation_key(f"op/{i}"), Seen(300.0, NOW - 3600 * i, f"caller{i}"))
    learning = Learning(store, lambda kind: 5, wall=lambda: NOW)
    seen: dict[str, Any] = {}
    first = threading.Thread(target=lambda: seen.update(first=learning.schedules()))
    second = threading.Thread(target=lambda: seen.update(second=learning.schedules()))
    first.start()
    assert table.reading.wait(10)  # the first step is reading; the second comes now
    second.start()
    second.join(0.2)
    assert second.is_alive()  # it waits for the read rather than go on with nothing learned
    table.go.set()
    first.join(10)
    second.join(10)
    assert KIND in seen["first"] and seen["second"] == seen["first"]


def test_a_step_waits_for_a_first_read_only_so_long() -> None:
    table = SlowTable()
    learning = Learning(store_of(table), lambda kind: 5, wall=lambda: NOW, first_read_wait=0.05)
    first = threading.Thread(target=learning.schedules)
    first.start()
    assert table.reading.wait(10)
    assert learning.schedules() == {}  # past its wait, the step goes on by the default
    table.go.set()
    first.join(10)


# -- buffered lengths: a flush a minute per kind, several lengths a row ------------------------------------------


def test_a_finished_trackings_length_costs_no_table_operation_until_the_flush_writes_a_row_per_kind() -> None:
    table = Table()
    store = store_of(table)
    learning = Learning(store, lambda kind: 5, wall=lambda: NOW)
    for i in range(40):
        learning.record(KIND, f"https://graph.example/op/{i}", Seen(300.0 + i, NOW - i, f"caller{i % 3}"))
    learning.record("teamsAsyncOperation", "https://graph.example/team/1", Seen(60.0, NOW, "caller"))
    assert table.rows == {} and store.operations == 0 and store.buffered() == 41
    assert store.flush() == 2  # one row for each kind
    assert store.operations == 2 and store.buffered() == 0
    assert sorted(key.rpartition(".")[0] for key in table.rows) == sorted([KIND, "teamsAsyncOperation"])
    read = store.all()
    assert {operation_key(f"https://graph.example/op/{i}"): Seen(300.0 + i, NOW - i, f"caller{i % 3}")
            for i in range(40)} == read[KIND].lengths  # fmt: skip
    assert store.flush() == 0 and store.operations == 3  # nothing buffered: nothing written (the read counted)


def test_an_operation_recorded_by_two_processes_counts_once_by_its_earliest_length() -> None:
    table = Table()
    first, second = store_of(table), store_of(table)
    operation = operation_key("https://graph.example/op/again")
    second.buffer(KIND, operation, Seen(30.0, NOW, "later"))
    first.buffer(KIND, operation, Seen(300.0, NOW - 600, "first"))
    first.buffer(KIND, operation, Seen(3.0, NOW - 900, "buffered twice"))  # its first length in this buffer stands
    second.flush()
    first.flush()
    assert len(table.rows) == 2
    assert store_of(table).all()[KIND].lengths == {operation: Seen(300.0, NOW - 600, "first")}


def test_rows_of_one_length_and_of_many_read_as_one_history() -> None:
    table = Table()
    store = store_of(table)
    store.add(KIND, operation_key("op/old"), Seen(100.0, NOW - 7200, "caller"))
    store.buffer(KIND, operation_key("op/new"), Seen(200.0, NOW, "caller"))
    store.flush()
    assert set(store.all()[KIND].lengths) == {operation_key("op/old"), operation_key("op/new")}


def test_a_reading_process_deletes_the_rows_that_supply_none_of_the_kept_lengths() -> None:
    table = Table()
    minutes = (KEPT + PRUNE_AFTER) // 10 + 1  # ten lengths a flush, the older minutes first
    flushed_at = iter(NOW - 60 * (minutes - minute) + 30 for minute in range(minutes))
    store = LengthStore(table, clock=lambda: next(flushed_at))  # type: ignore[arg-type]
    for minute in range(minutes):
        for i in range(10):
            at = NOW - 60 * (minutes - minute) + i
            store.buffer(KIND, operation_key(f"op/{minute}/{i}"), Seen(300.0, at, f"caller{minute}"))
        store.flush()
    rows_by_minute = sorted(table.rows)  # batch keys begin with the flush's moment: oldest first
    assert len(rows_by_minute) == minutes
    learning = Learning(store, lambda kind: 5, wall=lambda: NOW)
    assert learning.schedules()[KIND].samples == KEPT
    # KEPT newest lengths: the newest KEPT // 10 minutes whole, and the newest of the minute before them.
    whole, part = divmod(KEPT, 10)
    supplying = minutes - whole - (1 if part else 0)
    assert sorted(table.deleted) == rows_by_minute[:supplying]
    assert sorted(table.rows) == rows_by_minute[supplying:]
    assert len(store_of(table).all()[KIND].lengths) >= KEPT  # every kept length still read


def test_lengths_that_do_not_fit_one_row_go_to_as_many_as_they_need() -> None:
    lengths = [(operation_key(f"op/{i}"), Seen(1.5 * i, NOW + i, "h" * 300)) for i in range(250)]
    texts = packed(lengths)
    assert len(texts) > 1 and all(len(text) <= ROW_CHARS for text in texts)
    back = [item for text in texts for item in unpacked(text)]
    assert back == [(operation, Seen(seen.seconds, seen.at, seen.source[:256])) for operation, seen in lengths]
    assert packed(lengths[:1], limit=10) == [texts[0][: texts[0].index("]") + 1] + "]"]  # one alone, whatever fits
    assert packed([(operation_key("op/nan"), Seen(float("nan"), NOW, "x"))]) == []
    assert unpacked("not json") == [] and unpacked('[["op", "x", 1, "s"], ["op2", 2, 3, "s"]]') == [
        ("op2", Seen(2.0, 3.0, "s"))
    ]


def test_the_stores_own_thread_flushes_what_was_buffered_and_ends_when_nothing_is() -> None:
    table = Table()
    store = LengthStore(table, flush_every=0.01)  # type: ignore[arg-type]
    store.buffer(KIND, operation_key("op/1"), Seen(10.0, NOW, "caller"))
    flusher = store._flusher
    assert flusher is not None
    flusher.join(patience(10))
    assert not flusher.is_alive() and store._flusher is None
    assert [row.get("lengths") for row in table.rows.values()] == packed([(operation_key("op/1"),
                                                                          Seen(10.0, NOW, "caller"))])  # fmt: skip
    store.buffer(KIND, operation_key("op/2"), Seen(20.0, NOW, "caller"))  # a later length starts it again
    assert store._flusher is not None and store._flusher is not flusher
    store._flusher.join(patience(10))
    assert len(table.rows) == 2
