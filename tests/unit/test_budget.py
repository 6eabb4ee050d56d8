"""The throttling budget's arithmetic: windows, slots, pauses, overrides (no storage)."""

from __future__ import annotations

import json
import zlib
from collections.abc import Iterable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphops.common.errors import SettingsError
from graphops.graph.kinds import KINDS
from graphops.graph.reader import tenant_of
from graphops.pacing.budget import (
    ARRIVAL,
    LARGE_LEASE,
    LEASE_LIFE,
    LIMITS,
    MARGIN,
    MAX_LEASES,
    MAX_PAUSE,
    SMALL_BUDGET,
    Grant,
    Lease,
    Ledger,
    Limit,
    alone,
    arrival,
    believable,
    compacted,
    far_life,
    grant,
    lease_life,
    lease_size,
    least_lease,
    load,
    parse_budgets,
    pause_after,
    paused,
    peak,
    pruned,
    settled,
    shard_budget,
    shards,
    stored_leases,
    stored_number,
)
from graphops.pacing.budget_store import PARTITION, Budgets

EDISCOVERY = LIMITS["ediscovery"]


def test_the_documented_limits_with_their_margin() -> None:
    budgets = {name: (limit.budget(), limit.window) for name, limit in LIMITS.items()}
    assert budgets == {"teams": (24, 1.0), "teamsChat": (1, 1.0), "ediscovery": (4, 60.0),
                       "dataExport": (8000, 3600.0), "sharepoint": (960, 60.0), "identity": (2800, 10.0),
                       "places": (2, 1.0), "auditLogQuery": (160, 86_400.0)}  # fmt: skip
    assert MARGIN == 0.8 and Limit(1, 60, 60, "").budget() == 1  # never a budget of nothing


def leased(ledger: Ledger, now: float, want: int = 1, limit: Limit = EDISCOVERY, holder: str = "w") -> Grant:
    return grant(ledger, shard_budget(limit), limit.window, now, lease_life(limit), want, holder)


def test_a_small_budget_is_leased_one_request_at_a_time_and_holds_in_every_sliding_minute() -> None:
    ledger, life = Ledger(), lease_life(EDISCOVERY)
    for n, now in enumerate((50.0, 55.0, 58.0, 59.0)):  # four at the end of one clock minute
        offer = leased(ledger, now, want=10)
        assert offer.lease == Lease(now, now + life, 1, "w") and offer.ledger is not None, n
        ledger = offer.ledger
    # A clock window would open at 60 s: the sliding one has no room until the first lease has left every window
    # that overlaps a lease taken then (its end, a whole window on).
    spent = leased(ledger, 60.0)
    assert (spent.lease, spent.wait) == (None, 50.0 + life + 60.0 - 60.0)
    assert leased(ledger, 50.0 + life + 60.0 - 0.001).lease is None
    assert leased(ledger, 50.0 + life + 60.0).lease is not None


def test_a_large_budget_far_from_its_limit_leases_at_least_a_hundred_and_near_it_half_of_what_is_left() -> None:
    identity = LIMITS["identity"]
    assert (shards(identity), shard_budget(identity), lease_life(identity)) == (8, 350, 5.0)
    first = leased(Ledger(), 100.0, want=LARGE_LEASE // 2, limit=identity)
    assert first.lease is not None and first.lease.count == LARGE_LEASE and first.free == 350
    assert leased(Ledger(), 100.0, want=3, limit=identity).lease == Lease(100.0, 105.0, 3, "w")  # a worker asking few
    assert lease_size(700, 700, 450) == 350  # never more than half of what is free
    assert lease_size(700, 150, 3) == 3 and lease_size(700, 150, 500) == 75  # near the limit: what it asks for
    assert lease_size(700, 1, 50) == 1 and lease_size(700, 0, 50) == 0 and lease_size(700, -3, 1) == 0
    assert lease_size(SMALL_BUDGET, SMALL_BUDGET, 8) == 1 and lease_size(SMALL_BUDGET + 1, 11, 8) == 5
    assert lease_size(700, 2 * LARGE_LEASE, 50) == LARGE_LEASE and lease_size(700, 2 * LARGE_LEASE - 1, 50) == 50
    assert lease_size(700, 2 * LARGE_LEASE, 49) == 49


def test_the_shards_of_a_budget_stay_within_it_together() -> None:
    for limit in LIMITS.values():
        assert shards(limit) * shard_budget(limit) <= limit.budget() and shard_budget(limit) >= 1
    assert shards(EDISCOVERY) == 1 and shards(LIMITS["teams"]) == 1 and shards(LIMITS["dataExport"]) == 22
    assert lease_life(LIMITS["teams"]) == 0.5 and lease_life(EDISCOVERY) == LEASE_LIFE


def test_a_lease_another_worker_dated_a_little_ahead_counts_in_the_windows_it_reaches() -> None:
    """A worker whose clock is ahead writes a lease that begins after this one's now: the windows a lease taken
    now would overlap reach it, so it counts (the most is in a window that ends after its start)."""
    ahead = Ledger((Lease(103.0, 104.0, 4, "ahead"),))
    assert leased(ahead, 100.0).lease is None  # eDiscovery's four, all within the minute a lease now overlaps
    assert peak(ahead.leases, 100.0, 105.0, 60.0) == 4 and peak(ahead.leases, 100.0, 100.0, 2.0) == 0
    # A lease far from the limit lasts as long as the window, and with its arrival allowance longer: a lease dated
    # ahead by half a second still shares a window with it.
    identity = LIMITS["identity"]
    row = Ledger((Lease(100.5, 105.0, 300, "ahead"),))
    offer = grant(row, 350, identity.window, 100.0, far_life(identity), 400, "w", arrival=arrival(identity))
    assert offer.free == 50 and offer.lease is not None and offer.lease.count == 25


def test_a_handed_back_lease_counts_what_was_used_by_when_and_frees_the_rest() -> None:
    identity = LIMITS["identity"]
    offer = leased(Ledger(), 100.0, want=150, limit=identity, holder="a.1")
    assert offer.lease is not None and offer.ledger is not None and offer.lease.count == 150
    back = settled(offer.ledger, "a.1", 40, 101.5)
    assert back.leases == (Lease(100.0, 101.5, 40, "a.1"),)
    assert settled(offer.ledger, "a.1", 0, 101.5).leases == ()  # unused: gone
    assert settled(offer.ledger, "someone else", 0, 101.5) == offer.ledger
    # What it says it used is never more than it leased, nor later than the lease's end.
    assert settled(offer.ledger, "a.1", 900, 200.0).leases == (Lease(100.0, 105.0, 150, "a.1"),)
    assert leased(back, 102.0, want=1000, limit=identity).free == 350 - 40


def test_a_lease_that_may_still_count_is_kept_and_one_that_cannot_is_dropped() -> None:
    old, recent = Lease(0.0, 10.0, 3), Lease(5.0, 10.5, 2)
    assert pruned([old, recent], 70.0, 60.0) == (recent,)  # a window ending after 70 s starts after 10 s
    assert pruned([old], 69.999, 60.0) == (old,)


def test_a_row_keeps_a_few_dozen_leases_merging_the_first_without_undercounting_any_window() -> None:
    leases = [Lease(float(n), n + 0.5, 1, f"h{n}") for n in range(MAX_LEASES + 5)]
    kept = compacted(leases)
    assert len(kept) == MAX_LEASES and sum(lease.count for lease in kept) == len(leases)
    assert kept[0] == Lease(0.0, 5.5, 6) and kept[1:] == tuple(leases[6:])
    for at in range(70):
        assert load(kept, at + 0.25, 10.0) >= load(leases, at + 0.25, 10.0)


def test_a_429_pauses_every_lease_until_retry_after_and_a_later_pause_wins() -> None:
    ledger = paused(Ledger(), 200.0)
    assert (leased(ledger, 150.0).lease, leased(ledger, 150.0).wait) == (None, 50.0)
    assert paused(ledger, 190.0).paused_until == 200.0 and paused(ledger, 260.0).paused_until == 260.0
    assert leased(ledger, 200.0).lease is not None  # the pause is over at its own moment
    assert leased(paused(Ledger(), 150.0 + MAX_PAUSE + 1), 150.0).lease is not None  # not a pause of ours
    assert leased(paused(Ledger(), 150.0 + MAX_PAUSE), 150.0).wait == MAX_PAUSE  # as far as graphops sets one
    assert pause_after(LIMITS["dataExport"], None) == 60.0  # data exports send no Retry-After
    assert pause_after(LIMITS["dataExport"], 7.0) == 7.0 and pause_after(EDISCOVERY, 0) == 60.0
    assert pause_after(EDISCOVERY, 8 * 24 * 3600) == MAX_PAUSE  # one odd answer never stops the others for days


def test_only_leases_graphops_could_have_written_are_believed() -> None:
    assert believable(Lease(10.0, 15.0, 1), 60.0) and believable(Lease(10.0, 130.0, 4), 60.0)
    assert not believable(Lease(10.0, 130.1, 4), 60.0)  # longer than two windows
    assert not believable(Lease(10.0, 9.0, 4), 60.0) and not believable(Lease(10.0, 11.0, 0), 60.0)
    assert believable(Lease(10.0, 10.0, 1), 60.0)  # handed back with its one request sent as it began


def test_a_row_is_read_leaving_out_what_graphops_could_not_have_written() -> None:
    from azure.data.tables import EdmType, EntityProperty

    assert stored_leases(json.dumps([[1.0, 2.0, 3, "a"], [1.0, "x", 3, "b"], [1.0, 2.0, 1.5, "c"]]), 60.0) == (
        Lease(1.0, 2.0, 3, "a"),
    )
    assert stored_leases("5", 60.0) == () and stored_leases('{"a": 1}', 60.0) == ()
    assert stored_number(EntityProperty(1_700_000_000, EdmType.INT64)) == 1_700_000_000.0
    assert [stored_number(odd) for odd in ("12", float("nan"), float("inf"), 10**400, True, None)] == [0.0] * 6


def test_a_worker_is_alone_on_a_row_while_no_other_workers_lease_is_running() -> None:
    mine, others = Lease(0.0, 10.0, 5, "eu.host.3"), Lease(0.0, 5.0, 5, "eu.other.1")  # a name may hold dots
    assert alone(Ledger((mine, others)), "eu.host", 5.0)  # the other's lease ended: it no longer writes the row
    assert not alone(Ledger((mine, others)), "eu.host", 4.9)


def worst_window(leases: Iterable[Lease], window: float) -> int:
    """The most requests leases may put in one window of ``window`` seconds, found another way than the code's
    :func:`peak`: a window's count falls only as it passes a lease's end, so the most is in a window that starts
    at some lease's end."""
    leases = list(leases)
    return max((sum(other.count for other in leases if other.start < lease.end + window and other.end >= lease.end)
                for lease in leases), default=0)  # fmt: skip


STEPS = st.lists(
    st.tuples(st.floats(0, 30, allow_nan=False), st.booleans(), st.integers(1, 400), st.floats(0, 1)),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(budget=st.integers(1, 300), window=st.sampled_from([1.0, 10.0, 60.0]), steps=STEPS)
def test_no_sliding_window_ever_holds_more_than_the_budget(
    budget: int, window: float, steps: list[tuple[float, bool, int, float]]
) -> None:
    """Any sequence of leases and hand-backs, by any number of workers, at any (non-decreasing) times: in no
    window of the limit's length, wherever it starts, can the requests made under the leases exceed the budget."""
    life, ledger, now = min(LEASE_LIFE, window / 2), Ledger(), 1000.0
    made: dict[str, Lease] = {}  # every lease granted, as its requests were made: what Graph would count
    for n, (later, take, want, share) in enumerate(steps):
        now += later
        open_ = [lease for lease in made.values() if lease.start <= now]
        if take or not open_:
            offer = grant(ledger, budget, window, now, life, want, f"h{n}")
            assert (offer.lease is None) == (offer.wait > 0)
            if offer.lease is not None and offer.ledger is not None:
                ledger, made[offer.lease.holder] = offer.ledger, offer.lease
            else:  # it would have room when it says so
                assert grant(ledger, budget, window, now + offer.wait, life, 1, "x").lease is not None
        else:  # a worker hands back what it did not use of one of its leases, after its last use
            lease = open_[n % len(open_)]
            used, last = round(lease.count * share), min(lease.end, lease.start + share * (now - lease.start))
            ledger = settled(ledger, lease.holder, used, last)
            made[lease.holder] = Lease(lease.start, max(lease.start, last), used, lease.holder)
        assert worst_window(made.values(), window) <= budget


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

    def create_entity(self, entity: dict[str, Any]) -> dict[str, Any]:
        from azure.core.exceptions import ResourceExistsError

        key = (entity["PartitionKey"], entity["RowKey"])
        if key in self.rows:
            raise ResourceExistsError("exists")
        self.rows[key] = (dict(entity), 1)
        return {"etag": "1"}  # the written version's ETag, as the SDK answers

    def update_entity(self, entity: dict[str, Any], *, etag: str, **_: Any) -> dict[str, Any]:
        from azure.core.exceptions import ResourceModifiedError

        key = (entity["PartitionKey"], entity["RowKey"])
        if str(self.rows[key][1]) != etag:
            raise ResourceModifiedError("changed")
        self.rows[key] = (dict(entity), self.rows[key][1] + 1)
        return {"etag": str(self.rows[key][1])}


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
    # A lease of one a poll: the first read and written, the next three written on the row as this worker left it
    # (room for as much again), a read for the one refused, a read and a write for the other tenant's; nothing for
    # a kind without a budget.
    assert shared.wait_before_polling("tenant-a", None) == 0.0 and shared.operations == 2 + 3 + 1 + 2
    now[0] = 1200.0 + LEASE_LIFE + ARRIVAL + 60.0  # the first lease, with its requests' arrival, has left the minute
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


def row_leases(table: Table, key: str) -> list[list[Any]]:
    import json

    leases: list[list[Any]] = json.loads(table.rows[(PARTITION, key)][0]["leases"])
    return leases


def test_a_worker_spends_its_lease_without_the_table_and_hands_back_what_it_did_not_use() -> None:
    table, now = Table(), [1000.0]
    worker = Budgets(table, {"identity": LIMITS["identity"]}, clock=lambda: now[0], holder="w1")  # type: ignore[arg-type]
    key = worker.rows("tenant-a", "identity")[zlib.crc32(b"w1") % shards(LIMITS["identity"])]
    for _ in range(60):  # a busy worker: sixty polls in a second
        assert worker.wait_before_polling("tenant-a", "identity") == 0.0
        now[0] += 1 / 60
    # Each lease twice what the worker asked for over the last far lease's life (ten seconds), and once it has
    # asked five times its pace over that life: 2, 6, then a hundred or more. Three leases for sixty polls, the
    # later ones written on the row as the worker left it (far from its limit) after the first one's read.
    assert worker.stats.leases == 3 and worker.operations == 1 + 3
    assert sum(lease[2] for lease in row_leases(table, key)) > 60  # the last lease still holds some unused
    worker.close()
    leases = row_leases(table, key)
    # Used, by when: the last poll sent by 1001, arrived within its allowance after.
    assert sum(lease[2] for lease in leases) == 60 and max(lease[1] for lease in leases) <= 1001.0 + ARRIVAL
    other = Budgets(table, {"identity": LIMITS["identity"]}, clock=lambda: now[0], holder="w2")  # type: ignore[arg-type]
    assert other.wait_before_polling("tenant-a", "identity") == 0.0


def test_a_worker_that_dies_holding_a_lease_holds_it_back_only_until_its_windows_pass() -> None:
    table, now = Table(), [1000.0]
    ediscovery = {"ediscovery": EDISCOVERY}
    dead = Budgets(table, ediscovery, clock=lambda: now[0], holder="dead")  # type: ignore[arg-type]
    for _ in range(4):
        assert dead.wait_before_polling("tenant-a", "ediscovery") == 0.0  # four leases of one, then it dies
    alive = Budgets(table, ediscovery, clock=lambda: now[0], holder="alive")  # type: ignore[arg-type]
    wait = alive.wait_before_polling("tenant-a", "ediscovery")
    assert 60.0 <= wait <= 60.0 + LEASE_LIFE + 6.0  # until the leases' last window, and a little spread
    now[0] += 60.0 + LEASE_LIFE
    assert alive.wait_before_polling("tenant-a", "ediscovery") == 0.0


@settings(max_examples=300, deadline=None)
@given(budget=st.integers(11, 300), window=st.sampled_from([1.0, 10.0, 60.0]), steps=STEPS, delays=st.data())
def test_no_sliding_window_at_arrival_holds_more_than_the_budget(
    budget: int, window: float, steps: list[tuple[float, bool, int, float]], delays: st.DataObject
) -> None:
    """As Graph counts, at arrival: each request reaches Graph up to the arrival allowance after it is sent (the
    last of a lease at its last moment), and in no window, wherever it starts, do more than the budget arrive. A
    worker that waits for the least lease worth a write finds it when it was told it would."""
    life, allowance, ledger, now = min(LEASE_LIFE, window / 2), min(ARRIVAL, window / 4), Ledger(), 1000.0
    arrived: dict[str, Lease] = {}  # every lease granted, as its requests reached Graph
    handed: set[str] = set()  # leases handed back: a worker sends nothing more on them
    for n, (later, take, want, share) in enumerate(steps):
        now += later
        open_ = [lease for lease in arrived.values() if lease.start <= now and lease.holder not in handed]
        least = least_lease(budget, want)
        if take or not open_:
            offer = grant(ledger, budget, window, now, life, want, f"h{n}", arrival=allowance, least=least)
            if offer.lease is not None and offer.ledger is not None:
                assert offer.lease.count >= least
                # Sent by the end of its life; the last may arrive the allowance after.
                sent = Lease(now, now + life + allowance, offer.lease.count, offer.lease.holder)
                ledger, arrived[offer.lease.holder] = offer.ledger, sent
            else:
                later_offer = grant(ledger, budget, window, now + offer.wait, life, want, "x", arrival=allowance,
                                    least=least)  # fmt: skip
                assert later_offer.lease is not None
        else:  # a hand-back: the requests used were sent by ``last`` and arrive up to the allowance after it
            lease = open_[n % len(open_)]
            sent_until = lease.start + life
            used = round(lease.count * share)
            last = min(sent_until, lease.start + share * (now - lease.start))
            delay = delays.draw(st.floats(0, allowance))
            ledger = settled(ledger, lease.holder, used, last, allowance)
            arrived[lease.holder] = Lease(lease.start, max(lease.start, last) + delay, used, lease.holder)
            handed.add(lease.holder)
        assert worst_window(arrived.values(), window) <= budget


def test_a_lease_counts_its_requests_until_they_may_have_arrived_and_is_spent_only_until_its_life_ends() -> None:
    table, now = Table(), [1000.0]
    worker = Budgets(table, {"teams": LIMITS["teams"]}, clock=lambda: now[0], holder="w1")  # type: ignore[arg-type]
    assert worker.wait_before_polling("tenant-a", "teams") == 0.0
    [[start, end, count, _]] = row_leases(table, "tenant-a|teams")
    life = end - start - arrival(LIMITS["teams"])
    assert arrival(LIMITS["teams"]) == 0.25 and arrival(LIMITS["identity"]) == ARRIVAL == 1.0
    # A fresh row is far from its limit: the lease lasts up to the window (a little less, at random).
    assert 0.8 * far_life(LIMITS["teams"]) - 0.002 <= life <= far_life(LIMITS["teams"]) + 0.002 and count == 2
    now[0] = start + life + 0.01  # past its life, within its arrival allowance: not spent, a new lease is written
    writes = worker.stats.writes
    worker.wait_before_polling("tenant-a", "teams")
    assert worker.stats.writes == writes + 1
    # The first lease, handed back, still counts its one request until the allowance after it was sent.
    first = [lease for lease in row_leases(table, "tenant-a|teams") if lease[3] == "w1.1"]
    assert first and first[0][1] >= 1000.0 + arrival(LIMITS["teams"]) - 0.001


def test_near_its_limit_a_worker_waits_for_a_twentieth_of_the_row_rather_than_lease_the_last_few() -> None:
    assert least_lease(350, 40) == 17 and least_lease(350, 3) == 3 and least_lease(SMALL_BUDGET, 40) == 1
    assert lease_size(350, 20, 40, least=17) == 17 and lease_size(350, 16, 40, least=17) == 0
    assert lease_size(350, 40, 40, least=17) == 20  # room for more: half of what is free, as before
    full = Ledger((Lease(100.0, 105.0, 340, "other"),))
    offer = grant(full, 350, 10.0, 101.0, 5.0, 40, "w", least=17)
    assert offer.lease is None and offer.wait == 105.0 + 10.0 - 101.0  # until the other lease has left the window


class Losing(Table):
    """A table where the first conditional write to a budget row loses to another worker's."""

    def __init__(self) -> None:
        super().__init__()
        self.written: list[str] = []

    def update_entity(self, entity: dict[str, Any], *, etag: str, **kw: Any) -> dict[str, Any]:
        return super().update_entity(entity, etag=etag, **kw)

    def create_entity(self, entity: dict[str, Any]) -> dict[str, Any]:
        from azure.core.exceptions import ResourceExistsError

        self.written.append(entity["RowKey"])
        if len(self.written) == 1:
            raise ResourceExistsError("another worker made it first")
        return super().create_entity(entity)


def test_after_a_lost_write_a_worker_tries_another_row_of_the_budget() -> None:
    table, now = Losing(), [1000.0]
    worker = Budgets(table, {"identity": LIMITS["identity"]}, clock=lambda: now[0], holder="w1")  # type: ignore[arg-type]
    assert worker.wait_before_polling("tenant-a", "identity") == 0.0
    assert worker.stats.lost == 1 and len(table.written) == 2 and table.written[0] != table.written[1]
    assert set(table.written) <= set(worker.rows("tenant-a", "identity"))


def test_a_worker_closing_on_a_row_far_from_its_limit_hands_back_without_reading_it() -> None:
    table, now = Table(), [1000.0]
    worker = Budgets(table, {"identity": LIMITS["identity"]}, clock=lambda: now[0], holder="w1")  # type: ignore[arg-type]
    assert worker.wait_before_polling("tenant-a", "identity") == 0.0  # a read and a write
    operations = worker.operations
    worker.close()
    assert worker.operations == operations + 1  # the hand-back's write alone
    assert all(lease[2] == 1 for key in table.rows for lease in row_leases(table, key[1]))


def test_a_worker_reads_a_row_other_workers_lease_from_before_its_next_lease_rather_than_lose_a_write() -> None:
    table, now = Table(), [1000.0]
    teams = {"teams": LIMITS["teams"]}  # one row
    first, second, third = (
        Budgets(table, teams, clock=lambda: now[0], holder=name)  # type: ignore[arg-type]
        for name in ("w1", "w2", "w3")
    )
    assert first.wait_before_polling("tenant-a", "teams") == 0.0  # alone on the row
    assert second.wait_before_polling("tenant-a", "teams") == 0.0  # beside the first's running lease
    assert third.wait_before_polling("tenant-a", "teams") == 0.0  # the row changes under the second
    assert second.wait_before_polling("tenant-a", "teams") == 0.0  # the rest of its lease of two
    operations = second.operations
    assert second.wait_before_polling("tenant-a", "teams") == 0.0  # its next lease: the row read first
    assert second.stats.lost == 0 and second.operations == operations + 2
