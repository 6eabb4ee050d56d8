"""The budgets as the console and `graphops budgets` show them: used in the window ending now (over every worker's
row), paused until when, and by which tracking's 429."""

from __future__ import annotations

import json

from graphops.pacing.budget import LIMITS, MAX_PAUSE, Lease, Limit, stored_leases
from graphops.pacing.budget_view import BudgetRow, Cause, belongs, read_views, split_key, views

NOW = 1_000_000.0
IDENTITY = LIMITS["identity"]  # 2,800 per 10 s
TENANT = "11111111-2222-3333-4444-555555555555"


def test_used_counts_only_the_leases_in_the_window_ending_now() -> None:
    edisc = Limit(5, 60.0, 60.0, "")
    leases = (Lease(NOW - 90, NOW - 61, 3, "gone"),  # ended more than a window ago: out
              Lease(NOW - 59, NOW - 58, 1, "old"),  # ended within the window: in
              Lease(NOW - 2, NOW + 3, 2, "now"),  # running: in
              Lease(NOW + 1, NOW + 5, 7, "later"))  # not begun by now: out  # fmt: skip
    [view] = views([BudgetRow(f"{TENANT}|ediscovery", leases, 0.0)], {}, {"ediscovery": edisc}, NOW)
    assert (view.used, view.limit, view.window) == (3, 4, 60.0)  # 80% of five


def test_the_workers_rows_of_a_budget_count_each_workers_most_and_are_summed_into_one() -> None:
    key = f"{TENANT}|identity"
    rows = [BudgetRow(key, (Lease(NOW - 1, NOW + 4, 10 + n, f"w{n}"),), 0.0) for n in range(3)]
    rows.append(BudgetRow(key, (Lease(NOW - 9, NOW - 3, 5, "w0"),), 0.0))  # w0's earlier lease: its most counts
    rows.append(BudgetRow(f"{TENANT}|identityX", (Lease(NOW - 1, NOW + 4, 99, "w"),), 0.0))  # another service
    shown = views(rows, {}, {"identity": IDENTITY}, NOW)
    [identity] = [v for v in shown if v.service == "identity"]
    assert (identity.used, identity.rows, identity.limit) == (33, 4, 2800)
    assert identity.tenant == TENANT and identity.scope == ""


def test_a_scoped_budget_is_its_own_and_names_its_scope() -> None:
    chat = Limit(1, 1.0, 30.0, "")
    rows = [BudgetRow(f"{TENANT}|teamsChat|19:abc@thread.v2", (Lease(NOW - 0.5, NOW, 1, "w"),), 0.0),
            BudgetRow(f"{TENANT}|teamsChat", (), 0.0)]  # fmt: skip
    shown = views(rows, {}, {"teamsChat": chat}, NOW)
    assert [(v.scope, v.used) for v in shown] == [("", 0), ("19:abc@thread.v2", 1)]


def test_paused_until_the_latest_pause_of_its_rows_and_named_by_the_429_that_set_it() -> None:
    key = f"{TENANT}|identity"
    rows = [BudgetRow(key, (), NOW + 300), BudgetRow(key, (), NOW + 600), BudgetRow(key, (), 0.0)]
    [view] = views(rows, {key: Cause("tracking-a", NOW + 600)}, {"identity": IDENTITY}, NOW)
    assert (view.paused_until, view.cause) == (NOW + 600, "tracking-a")
    # A note of an earlier, shorter pause does not name the pause in force.
    [view] = views(rows, {key: Cause("tracking-b", NOW + 300)}, {"identity": IDENTITY}, NOW)
    assert (view.paused_until, view.cause) == (NOW + 600, None)


def test_a_pause_past_or_further_off_than_graphops_sets_is_not_a_pause() -> None:
    key = f"{TENANT}|identity"
    for until in (NOW - 1, NOW + MAX_PAUSE + 60):
        [view] = views([BudgetRow(key, (), until)], {key: Cause("t", until)}, {"identity": IDENTITY}, NOW)
        assert (view.paused_until, view.cause) == (None, None)


def test_a_service_no_longer_budgeted_shows_its_rows_without_a_limit() -> None:
    [view] = views([BudgetRow(f"{TENANT}|places", (Lease(NOW, NOW + 1, 1, "w"),), 0.0)], {}, {}, NOW)
    assert (view.service, view.limit, view.used) == ("places", None, 0)


def test_budget_keys_and_what_a_reset_takes() -> None:
    assert split_key(f"{TENANT}|identity||3") == (TENANT, "identity", "")  # a row from before: its shard
    assert split_key(f"{TENANT}|teamsChat|chat-1") == (TENANT, "teamsChat", "chat-1")
    assert split_key("nonsense") is None
    assert belongs(f"{TENANT}|identity||3", "identity", TENANT)
    assert not belongs(f"{TENANT}|teamsChat", "teams", TENANT)  # "teams" is not a prefix of its chat budgets
    assert not belongs("other|identity", "identity", TENANT)
    assert belongs(f"{TENANT}|teamsChat|chat-1", "teamsChat", TENANT)
    assert not belongs(f"{TENANT}|teamsChat|chat-1", "teamsChat", TENANT, scope="")


def test_leases_that_are_not_leases_are_left_out() -> None:
    raw = json.dumps([[1.0, 2.0, 3], ["x", 2.0, 3], [1.0, 2.0], "text", [1.0, 2.0, 1], [1.0, 2.0, 1, "old"]])
    assert stored_leases(raw, 60.0, "w") == (Lease(1.0, 2.0, 3, "w"), Lease(1.0, 2.0, 1, "w"))
    assert stored_leases("not json", 60.0) == () and stored_leases(None, 60.0) == ()


class Rows:
    """A table whose budgets' partitions hold the given rows (the pause notes' partition is empty)."""

    def __init__(self, rows: list[dict[str, object]]) -> None:
        self.rows = rows

    def query_entities(self, query: str, *, parameters: dict[str, str], select: list[str]) -> list[dict[str, object]]:
        return self.rows if parameters.get("low") == "~budget|" else []


def test_the_view_reads_a_row_as_the_workers_do_leaving_out_leases_they_do_not_believe() -> None:
    leases = [[NOW - 1, NOW + 4, 10], [NOW - 1, NOW + 3 * 60, 500], [NOW - 1, NOW + 4, 2.5]]
    table = Rows([{"PartitionKey": f"~budget|{TENANT}|identity", "RowKey": "w", "leases": json.dumps(leases),
                   "pausedUntil": 0.0}, {"PartitionKey": "~budget|", "RowKey": "w", "leases": "[]"}])  # fmt: skip
    [view] = read_views(table, {"identity": IDENTITY}, NOW)  # type: ignore[arg-type]
    assert view.used == 10  # a lease longer than a far lease and a count not whole are not read
