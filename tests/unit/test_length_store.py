"""How the lengths' store bounds a kind's rows (graphops.pacing.length_store over an in-memory table): one row per
operation, its first length, and a history of the newest rows by time, so that no new operation displaces a real
length at random."""

from __future__ import annotations

import threading
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from graphops.pacing.learned import Seen, bounded
from graphops.pacing.length_store import KEPT, PARTITION, PRUNE_AFTER, Learning, LengthStore, operation_key, row_key

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
