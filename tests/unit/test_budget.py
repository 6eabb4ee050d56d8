"""The throttling budget's arithmetic: windows, slots, pauses, overrides (no storage)."""

from __future__ import annotations

from typing import Any

import pytest

from graphops.common.errors import SettingsError
from graphops.graph.kinds import KINDS
from graphops.graph.reader import tenant_of
from graphops.pacing.budget import LIMITS, MARGIN, MAX_PAUSE, Limit, Window, parse_budgets, pause_after, paused, take
from graphops.pacing.budget_store import PARTITION, Budgets

EDISCOVERY = LIMITS["ediscovery"]


def test_the_documented_limits_with_their_margin() -> None:
    budgets = {name: (limit.budget(), limit.window) for name, limit in LIMITS.items()}
    assert budgets == {"teams": (24, 1.0), "teamsChat": (1, 1.0), "ediscovery": (4, 60.0),
                       "dataExport": (8000, 3600.0), "sharepoint": (960, 60.0), "identity": (2800, 10.0),
                       "places": (2, 1.0), "auditLogQuery": (160, 86_400.0)}  # fmt: skip
    assert MARGIN == 0.8 and Limit(1, 60, 60, "").budget() == 1  # never a budget of nothing


def test_a_window_gives_its_budget_then_waits_for_the_next() -> None:
    window, now = Window(), 120.0  # the window [120, 180)
    for used in range(1, 5):
        slot = take(window, EDISCOVERY, now + used)
        assert slot.go and slot.window == Window(120.0, used, 0.0)
        window = slot.window
    spent = take(window, EDISCOVERY, 150.0)
    assert (spent.go, spent.wait) == (False, 30.0)  # until the next window
    fresh = take(window, EDISCOVERY, 181.0)
    assert fresh.go and fresh.window == Window(180.0, 1, 0.0)


def test_a_429_pauses_the_budget_until_retry_after_and_a_later_pause_wins() -> None:
    window = paused(Window(120.0, 1), 200.0)
    assert (take(window, EDISCOVERY, 150.0).go, take(window, EDISCOVERY, 150.0).wait) == (False, 50.0)
    assert paused(window, 190.0).paused_until == 200.0 and paused(window, 260.0).paused_until == 260.0
    assert take(window, EDISCOVERY, 201.0).go
    assert take(paused(Window(120.0, 1), 150.0 + MAX_PAUSE + 1), EDISCOVERY, 150.0).go  # not a pause of ours
    assert pause_after(LIMITS["dataExport"], None) == 60.0  # data exports send no Retry-After
    assert pause_after(LIMITS["dataExport"], 7.0) == 7.0 and pause_after(EDISCOVERY, 0) == 60.0
    assert pause_after(EDISCOVERY, 8 * 24 * 3600) == MAX_PAUSE  # one odd answer never stops the others for days


def test_a_deployment_overrides_a_budget_by_name() -> None:
    limits = parse_budgets("sharepoint=6000/60, ediscovery=5/2")
    assert (limits["sharepoint"].requests, limits["sharepoint"].window) == (6000, 60.0)
    assert limits["ediscovery"].window == 2.0 and limits["teams"] == LIMITS["teams"]
    for bad in ("graph=1/1", "teams=0/1", "teams=1", "teams=a/1", "teams=1/0"):
        with pytest.raises(SettingsError, match="GRAPHOPS_THROTTLE_BUDGETS"):
            parse_budgets(bad)


def test_each_budgeted_kind_names_a_service_with_a_limit() -> None:
    services = {name: kind.service for name, kind in KINDS.items() if kind.service}
    scoped = {kind.resource_budget[0] for kind in KINDS.values() if kind.resource_budget}
    # Every limit budgets some kind's polls, but the audit log queries' submissions: it counts starts.
    assert set(services.values()) | scoped == set(LIMITS) - {"auditLogQuery"}
    assert services["teamsAsyncOperation"] == "teams" and services["dataPolicyOperation"] == "dataExport"
    assert services["ediscoveryCaseOperation"] == "ediscovery" and services["siteOperation"] == "sharepoint"


def test_the_tenant_is_the_tokens_tid() -> None:
    from graphops.local.identity import jwt_shaped

    tid = "8f3c2b1a-5d4e-4c6b-9a7f-1e2d3c4b5a69"
    assert tenant_of(jwt_shaped({"tid": tid}, "sig")) == tid
    for odd in ("opaque", "a.b.c", jwt_shaped({"tid": "x|y"}, "s"), jwt_shaped({"aud": "g"}, "s"), "a.!!!.c"):
        assert tenant_of(odd) == ""


# -- The shared row, over a table that behaves as Table storage does (ETags, not-found) -------------------


class Table:
    """Rows by key with an ETag each; a write with a stale ETag is refused, as the service refuses it."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}

    def get_entity(self, partition: str, key: str) -> Any:
        from azure.core.exceptions import ResourceNotFoundError
        from azure.data.tables import TableEntity

        if (partition, key) not in self.rows:
            raise ResourceNotFoundError("not found")
        row, version = self.rows[(partition, key)]
        entity = TableEntity(row)
        entity._metadata = {"etag": str(version)}  # type: ignore[attr-defined]
        return entity

    def create_entity(self, entity: dict[str, Any]) -> None:
        from azure.core.exceptions import ResourceExistsError

        key = (entity["PartitionKey"], entity["RowKey"])
        if key in self.rows:
            raise ResourceExistsError("exists")
        self.rows[key] = (dict(entity), 1)

    def update_entity(self, entity: dict[str, Any], *, etag: str, **_: Any) -> None:
        from azure.core.exceptions import ResourceModifiedError

        key = (entity["PartitionKey"], entity["RowKey"])
        if str(self.rows[key][1]) != etag:
            raise ResourceModifiedError("changed")
        self.rows[key] = (dict(entity), self.rows[key][1] + 1)


def budgets(table: Table, now: list[float]) -> Budgets:
    return Budgets(table, {"ediscovery": LIMITS["ediscovery"]}, clock=lambda: now[0])  # type: ignore[arg-type]


def test_the_row_gives_each_tenant_its_budget_and_a_spent_one_waits() -> None:
    table, now = Table(), [1200.0]
    shared = budgets(table, now)
    assert [shared.wait_before_polling("tenant-a", "ediscovery") for _ in range(4)] == [0.0] * 4
    assert shared.wait_before_polling("tenant-a", "ediscovery") > 0  # the fifth waits for the next minute
    assert shared.wait_before_polling("tenant-b", "ediscovery") == 0.0  # another tenant's budget is its own
    other_worker = budgets(table, now)  # nothing shared but the table
    assert other_worker.wait_before_polling("tenant-a", "ediscovery") > 0
    # A read and a write per slot taken, a read for the one refused, nothing for a kind without a budget.
    assert shared.wait_before_polling("tenant-a", None) == 0.0 and shared.operations == 4 * 2 + 1 + 2
    now[0] = 1260.0
    assert other_worker.wait_before_polling("tenant-a", "ediscovery") == 0.0


def test_a_429_pauses_the_row_for_every_worker() -> None:
    table, now = Table(), [1200.0]
    one, two = budgets(table, now), budgets(table, now)
    assert one.pause("tenant-a", "ediscovery", 30.0) == 1230.0
    assert 30.0 <= two.wait_before_polling("tenant-a", "ediscovery") <= 36.0  # until then (and a little spread)
    assert two.wait_before_polling("tenant-b", "ediscovery") == 0.0
    assert one.pause("tenant-a", None, 30.0) is None  # a kind with no budget pauses nothing


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5, "many", 10**400])
def test_a_garbled_row_is_read_as_nothing_rather_than_failing_a_step(bad: object) -> None:
    table, now = Table(), [1200.0]
    key = "tenant-a|ediscovery"
    row = {"PartitionKey": PARTITION, "RowKey": key, "windowStart": bad, "used": bad, "pausedUntil": bad}
    table.rows[(PARTITION, key)] = (row, 1)
    assert budgets(table, now).wait_before_polling("tenant-a", "ediscovery") == 0.0


def test_a_worker_whose_clock_is_a_little_behind_counts_in_the_window_another_opened() -> None:
    teams = LIMITS["teams"]  # windows of a second
    window = take(Window(), teams, 100.95).window  # this worker is 0.1 s behind ...
    assert window is not None
    ahead = take(window, teams, 101.05).window  # ... another opened window 101
    assert ahead is not None and ahead.start == 101.0
    behind = take(ahead, teams, 100.96)  # the first one's next request counts there, not in a fresh 100
    assert behind.go and behind.window == Window(101.0, 2, 0.0)


def test_a_pause_ends_at_its_moment_and_one_just_within_reach_is_believed() -> None:
    ends_now = Window(120.0, 0, 150.0)
    assert take(ends_now, EDISCOVERY, 150.0).go  # the pause is over at its own moment
    at_the_limit = Window(120.0, 0, 150.0 + MAX_PAUSE)
    slot = take(at_the_limit, EDISCOVERY, 150.0)
    assert (slot.go, slot.wait) == (False, MAX_PAUSE)  # as far off as graphops ever sets one: believed


def test_going_counts_one_request_and_waits_for_nothing() -> None:
    unused = Window(120.0, 0)
    slot = take(unused, EDISCOVERY, 130.0)
    assert slot.go and slot.wait == 0.0 and slot.window == Window(120.0, 1, 0.0)


def test_a_retry_after_under_a_second_is_graphs_wait() -> None:
    assert pause_after(EDISCOVERY, 0.5) == 0.5
    assert pause_after(EDISCOVERY, 0.0) == EDISCOVERY.pause_without_retry_after


def test_budget_overrides_of_one_request_or_one_second_and_empty_items() -> None:
    limits = parse_budgets("teams=1/1,,ediscovery=3/1, ")
    assert (limits["teams"].requests, limits["teams"].window) == (1, 1.0)
    assert (limits["ediscovery"].requests, limits["ediscovery"].window) == (3, 1.0)


def test_a_wrong_budget_override_names_the_setting_and_says_what_is_expected() -> None:
    with pytest.raises(SettingsError) as unknown:
        parse_budgets("mail=5/60")
    assert unknown.value.setting == "GRAPHOPS_THROTTLE_BUDGETS"
    assert unknown.value.problem == "'mail' is not a service with a budget; use some of " + ", ".join(LIMITS)
    with pytest.raises(SettingsError) as garbled:
        parse_budgets("teams=6=1/1")
    assert garbled.value.problem == "'teams=6=1/1': expected teams=<requests>/<seconds>, both whole and positive"
    with pytest.raises(SettingsError) as elsewhere:
        parse_budgets("teams=0/1", setting="ELSEWHERE")
    assert elsewhere.value.setting == "ELSEWHERE"


def test_a_scoped_budget_has_a_row_of_its_own_whose_key_table_storage_accepts() -> None:
    from graphops.pacing.budget_store import budget_key

    assert budget_key("t", "teams") == "t|teams"
    assert budget_key("t", "teamsChat", "19:abc@thread.v2") == "t|teamsChat|19:abc@thread.v2"
    assert budget_key("t", "teamsChat", "a/b\\c#d?e\x01") == "t|teamsChat|a_b_c_d_e_"


def test_a_chats_operations_are_budgeted_per_chat_and_other_kinds_per_tenant_only() -> None:
    from graphops.graph.kinds import KINDS

    chat = KINDS["chatAsyncOperation"]
    assert chat.budget_scope("https://graph.microsoft.com/beta/chats/19%3Aabc%40thread.v2/operations/op1") == (
        "19:abc@thread.v2"
    )
    assert chat.resource_budget is not None and chat.resource_budget[0] in LIMITS
    assert KINDS["teamsAsyncOperation"].budget_scope("https://graph.microsoft.com/v1.0/teams/t1/operations/o1") == ""


def test_graphs_newest_limits_are_budgeted_with_their_source() -> None:
    from graphops.graph.kinds import KINDS

    assert (LIMITS["places"].requests, LIMITS["places"].window) == (3, 1.0) and KINDS[
        "placeOperation"
    ].service == "places"
    assert (LIMITS["teamsChat"].requests, LIMITS["teamsChat"].window) == (1, 1.0)
    assert (LIMITS["auditLogQuery"].requests, LIMITS["auditLogQuery"].window) == (200, 86_400.0)
    assert all(limit.source.startswith("learn.microsoft.com/") for limit in LIMITS.values())
