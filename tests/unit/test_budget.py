"""The throttling budget's arithmetic and its store over a table that behaves as Table storage does: limits, rate
leases, fair shares, claims that stand or not, a worker's own log of sends, pauses, overrides."""

from __future__ import annotations

import bisect
import json
import random
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
    FAR_LEASE_LIFE,
    GARBAGE_AFTER,
    LEASE_LIFE,
    LIMITS,
    MARGIN,
    MAX_PAUSE,
    NOTE_GRACE,
    Demand,
    Lease,
    Limit,
    Row,
    arrival,
    counting,
    decide,
    fair_shares,
    far_life,
    first_lease,
    garbage,
    handed_back,
    load,
    parse_budgets,
    pause_after,
    peak,
    send_wait,
    stands,
    stored_json,
    stored_leases,
    stored_row,
    wanted,
)
from graphops.pacing.budget_store import Budgets, budget_partition

EDISCOVERY = LIMITS["ediscovery"]
IDENTITY = LIMITS["identity"]


def test_the_documented_limits_with_their_margin() -> None:
    budgets = {name: (limit.budget(), limit.window) for name, limit in LIMITS.items()}
    assert budgets == {"teams": (24, 1.0), "teamsChat": (1, 1.0), "ediscovery": (4, 60.0),
                       "dataExport": (8000, 3600.0), "sharepoint": (960, 60.0), "identity": (2800, 10.0),
                       "places": (2, 1.0), "auditLogQuery": (160, 86_400.0)}  # fmt: skip
    assert MARGIN == 0.8 and Limit(1, 60, 60, "").budget() == 1  # never a budget of nothing


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


# -- Rate leases, counted per worker --------------------------------------------------------------------------


def test_a_workers_leases_count_their_most_in_a_window_and_different_workers_their_sum() -> None:
    first, extended = Lease(0.0, 6.0, 28, "w1"), Lease(5.0, 11.0, 28, "w1")
    other = Lease(0.0, 6.0, 30, "w2")
    assert load([first, extended], 5.5, 10.0) == 28  # an extension at the same rate is not a second share
    assert load([first, extended, other], 5.5, 10.0) == 58
    assert load([first, Lease(5.0, 11.0, 40, "w1")], 5.5, 10.0) == 40  # a grown one counts its new rate
    assert load([Lease(0.0, 6.0, 3), Lease(0.0, 6.0, 4)], 1.0, 10.0) == 7  # leases naming no worker: each its own
    # A lease counts from its start to a window after its end, and the most is at a lease's start.
    assert load([first], 16.0, 10.0) == 0 and load([first], 15.999, 10.0) == 28 and load([extended], 4.999, 10) == 0
    assert peak([first, other, Lease(20.0, 21.0, 5, "w3")], 0.0, 12.0, 10.0) == 58


def test_a_worker_sends_while_its_trailing_window_and_arrival_hold_fewer_than_its_lease() -> None:
    sent = [100.0, 100.5, 101.0]
    assert send_wait(sent, 4, 10.0, 1.0, 101.5) == 0.0
    # Three a window of 11 s (the window and the arrival allowance): the fourth waits for the first to leave it.
    assert send_wait(sent, 3, 10.0, 1.0, 101.5) == pytest.approx(100.0 + 11.0 - 101.5)
    assert send_wait(sent, 3, 10.0, 1.0, 111.0) == 0.0 and send_wait(sent, 3, 10.0, 1.0, 110.999) > 0
    assert send_wait([], 0, 10.0, 1.0, 0.0) == float("inf")


def test_fair_shares_give_no_worker_more_than_it_wants_and_the_rest_to_the_longest_waiters() -> None:
    shares = fair_shares(100, [Demand("a", 10), Demand("b", 80), Demand("c", 80)])
    assert shares == {"a": 10, "b": 45, "c": 45}
    # Four requests a minute among a hundred waiters: one each to the four that have waited longest.
    waiters = [Demand(f"w{n:02d}", 1, since=1000.0 - n) for n in range(100)]
    shares = fair_shares(4, waiters)
    assert sorted(holder for holder, share in shares.items() if share) == ["w96", "w97", "w98", "w99"]
    # Left over from the division: to a waiter before a lease holder.
    assert fair_shares(5, [Demand("holder", 9), Demand("waiter", 9, since=5.0)]) == {"holder": 2, "waiter": 3}


@settings(max_examples=200, deadline=None)
@given(budget=st.integers(1, 3000), wants=st.lists(st.tuples(st.integers(1, 500), st.booleans()), max_size=30))
def test_fair_shares_never_exceed_the_budget_or_a_want_and_leave_nothing_wanted_unused(
    budget: int, wants: list[tuple[int, bool]]
) -> None:
    demands = [
        Demand(f"w{n}", want, since=float(n) if waits else float("inf")) for n, (want, waits) in enumerate(wants)
    ]
    shares = fair_shares(budget, demands)
    assert sum(shares.values()) <= budget and all(0 <= shares[d.holder] <= d.want for d in demands)
    assert sum(shares.values()) == min(budget, sum(d.want for d in demands))
    # Max-min: a worker short of its want gets no less than any other's share, but one.
    short = [shares[d.holder] for d in demands if shares[d.holder] < d.want]
    assert not short or min(short) >= max(shares.values()) - 1


def row(holder: str, *leases: tuple[float, float, int], want: int = 0, since: float = 0.0, until: float = 0.0,
        paused: float = 0.0) -> Row:  # fmt: skip
    return Row(holder, tuple(Lease(*lease, holder) for lease in leases), want, since, until, paused)


def test_at_the_limit_the_freed_request_goes_to_the_longest_waiter_and_the_others_wait_their_turn() -> None:
    now, span = 1000.0, LEASE_LIFE + ARRIVAL
    held = [row(f"h{n}", (now - 50.0 + n, now - 44.0 + n, 1)) for n in range(4)]  # four requests in the minute
    waiters = [row(f"w{n}", want=1, since=900.0 + n, until=now + 30) for n in range(6)]
    rows = [*held, *waiters]
    # Nobody may lease while the minute is full; the first waiter is told when the first request leaves it.
    first = decide(rows, "w0", 1, 900.0, 0, 4, 60.0, now, span)
    assert first.count == 0 and first.wait == pytest.approx(now - 44.0 + 60.0 - now)
    later = now + 16.001  # h0's request has left every window a lease now would overlap
    assert decide(rows, "w0", 1, 900.0, 0, 4, 60.0, later, span).count == 1
    assert decide(rows, "w1", 1, 901.0, 0, 4, 60.0, later, span).count == 0  # not its turn: w0's request
    newcomer = decide(rows, "new", 1, later, 0, 4, 60.0, later, span)
    assert newcomer.count == 0 and newcomer.wait >= 60.0  # behind six waiters, a budget of four a minute
    # A waiter whose note has lapsed (it did not come back) holds no place: the next one's turn.
    lapsed = [row("w0", want=1, since=900.0, until=later - 1), *rows[5:]]
    assert decide([*held, *lapsed], "w1", 1, 901.0, 0, 4, 60.0, later, span).count == 1


def test_a_lease_holder_keeps_its_share_shrinks_to_a_fairer_one_and_grows_only_into_room_no_waiter_is_owed() -> None:
    now, span = 1000.0, LEASE_LIFE + ARRIVAL
    incumbents = [row(f"h{n:02d}", (now - 4, now + 2, 28), want=80) for n in range(100)]
    assert decide(incumbents, "h00", 80, float("inf"), 28, 2800, 10.0, now, span).count == 28
    newcomer = row("new", want=80, since=now - 1, until=now + 10)
    rows = [*incumbents, newcomer]
    # A hundred and one workers: 2,800 // 101 = 27 each and 73 left over, the first of them to the waiter.
    assert decide(rows, "new", 80, now - 1, 0, 2800, 10.0, now, span).count == 0  # no room yet
    assert decide(rows, "h99", 80, float("inf"), 28, 2800, 10.0, now, span).count == 27  # above its share: shrinks
    assert decide(rows, "h00", 80, float("inf"), 28, 2800, 10.0, now, span).count == 28
    alone = decide([row("h00", (now - 4, now + 2, 28), want=80)], "h00", 400, float("inf"), 28, 2800, 10.0, now, span)
    assert (alone.count, alone.far) == (400, True)  # nobody else: what it asks for, far from the limit
    ahead = decide([], "h00", 6, float("inf"), 0, 2800, 10.0, now, span, least=350)
    assert (ahead.count, ahead.far) == (350, True)  # nobody waits: ahead of its pace, up to the least asked
    waited = decide([newcomer], "h00", 6, float("inf"), 0, 2800, 10.0, now, span, least=350)
    assert (waited.count, waited.far) == (6, False)  # a waiter: its own want, no more
    # Room beside a waiter: the waiter's share first.
    half = [row("h", (now - 4, now + 2, 1400), want=1400), row("w", want=1400, since=now - 1, until=now + 10)]
    assert decide(half, "h", 2800, float("inf"), 1400, 2800, 10.0, now, span).count == 1400
    assert decide(half, "w", 1400, now - 1, 0, 2800, 10.0, now, span).count == 1400


def test_a_429_pause_in_any_row_holds_every_worker_unless_further_off_than_graphops_sets() -> None:
    now = 1000.0
    rows = [row("a", paused=now + 30), row("b", paused=now + 10)]
    assert decide(rows, "c", 1, now, 0, 4, 60.0, now, 6.0) == decide(rows, "c", 1, now, 0, 4, 60.0, now, 6.0)
    assert decide(rows, "c", 1, now, 0, 4, 60.0, now, 6.0).wait == 30.0
    assert decide([row("a", paused=now + MAX_PAUSE + 1)], "c", 1, now, 0, 4, 60.0, now, 6.0).count == 1
    assert pause_after(EDISCOVERY, 3600.0) == MAX_PAUSE


def test_a_claim_stands_only_when_every_window_it_overlaps_holds_counting_every_lease_read() -> None:
    now = 1000.0
    others = [row("a", (now - 9.5, now - 8.0, 2000)), row("b", (now - 1, now + 5, 700))]
    assert stands(others, Lease(now, now + 6, 100, "c"), 2800, 10.0)
    assert not stands(others, Lease(now, now + 6, 101, "c"), 2800, 10.0)
    # Its own earlier lease counts as much as it did (its most), not beside the claim.
    mine = [*others, row("c", (now - 5, now + 1, 100))]
    assert stands(mine, Lease(now, now + 6, 100, "c"), 2800, 10.0)
    # A moment later a's lease has left the window: room for 2,000 more.
    assert stands(others, Lease(now + 2.001, now + 8, 2100, "c"), 2800, 10.0)


def test_a_handed_back_lease_counts_until_its_last_request_arrived_and_is_gone_when_none_was_sent() -> None:
    lease, earlier = Lease(100.0, 106.0, 28, "w"), Lease(90.0, 96.0, 28, "w")
    assert handed_back((earlier, lease), lease, 101.5, 1.0) == (earlier, Lease(100.0, 102.5, 28, "w"))
    assert handed_back((earlier, lease), lease, None, 1.0) == (earlier,)
    assert handed_back((lease,), lease, 120.0, 1.0) == (lease,)  # never longer than it was


def test_a_row_keeps_a_lease_a_whole_window_after_it_ended_while_its_arrivals_still_count() -> None:
    ended = Lease(1000.0, 1002.0, 3, "w")  # handed back: its last request arrived by 1002
    assert counting([ended], 1061.999, 60.0) == (ended,) and counting([ended], 1062.0, 60.0) == ()


def test_a_gone_workers_row_is_garbage_once_nothing_in_it_has_counted_for_a_while() -> None:
    quiet = row("w", (100.0, 106.0, 5), until=110.0, paused=112.0)
    assert not garbage(quiet, 10.0, 116.0 + GARBAGE_AFTER - 0.001) and garbage(quiet, 10.0, 116.0 + GARBAGE_AFTER)
    assert garbage(row("empty"), 10.0, GARBAGE_AFTER)


def test_a_lease_lives_a_few_seconds_near_the_limit_and_up_to_three_windows_far_from_it() -> None:
    assert far_life(IDENTITY) == FAR_LEASE_LIFE == 30.0 and far_life(LIMITS["teams"]) == LEASE_LIFE
    assert far_life(EDISCOVERY) == FAR_LEASE_LIFE and arrival(LIMITS["teams"]) == 0.5 and arrival(IDENTITY) == ARRIVAL
    assert wanted(2800, 3, 0) == 6 and wanted(2800, 300, 0) == 600 and wanted(24, 50, 0) == 24  # never more
    assert first_lease(2800) == 350 and first_lease(960) == 120 and first_lease(24) == 12  # half at most
    assert wanted(4, 50, 0) == 1 and wanted(4, 50, 2) == 3 and wanted(4, 50, 9) == 4  # a request at a time


def test_a_row_is_read_leaving_out_what_graphops_could_not_have_written() -> None:
    good = [1000.0, 1006.0, 3]
    raw = json.dumps([good, [1000.0, 1000.0 + FAR_LEASE_LIFE + ARRIVAL + 1, 3], [1, 2, 0], [1, 2, 1.5], [1, 2],
                      ["a", 2, 3], [1, 2, 3, "old holder"], "lease"])  # fmt: skip
    assert stored_leases(raw, 10.0, "w") == (Lease(1000.0, 1006.0, 3, "w"),)
    for bad in ("not json", "{}", None, 5, "[[1e400, 2, 3]]", "[[NaN, 2, 3]]"):
        assert stored_leases(bad, 10.0) == ()
    entity = {"leases": json.dumps([good]), "want": 12.5, "waitingSince": "soon", "noteUntil": float("inf"),
              "pausedUntil": 2000.0}  # fmt: skip
    assert stored_row("w", entity, 10.0) == Row("w", (Lease(1000.0, 1006.0, 3, "w"),), 0, 0.0, 0.0, 2000.0)
    assert stored_json([Lease(1.0001, 2.0001, 3, "w")]) == "[[1.0,2.001,3]]"  # a lease read back covers as much


# -- Any interleaving of workers claiming, checking, sending, shrinking, withdrawing and dying ---------------


class Worker:
    """A worker as the store runs one, in steps another worker's may come between: its row's leases, the lease it
    sends under, a claim written and not yet checked, its sends."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.leases: tuple[Lease, ...] = ()
        self.current: Lease | None = None
        self.last: float | None = None  # its last send under ``current``
        self.pending: Lease | None = None
        self.sent: list[float] = []
        self.alive = True

    def stop_sending(self, allowance: float) -> None:
        if self.current is not None:
            self.leases = handed_back(self.leases, self.current, self.last, allowance)
            self.current, self.last = None, None


def most_in_any_window(times: Iterable[float], window: float) -> int:
    """The most of ``times`` in one window [a, a + window), wherever it starts (another way than the code's)."""
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, at + window) - n for n, at in enumerate(ordered)), default=0)


ACTIONS = ["claim", "check", "send", "send", "send", "send", "shrink", "die", "sweep"]


@settings(max_examples=200, deadline=None)
@given(budget=st.integers(1, 12), window=st.sampled_from([1.0, 2.0, 10.0]), rng=st.randoms(use_true_random=False))
def test_no_window_at_arrival_ever_holds_more_than_the_budget_whatever_the_interleaving(
    budget: int, window: float, rng: random.Random
) -> None:
    """Four workers on one budget, 120 of their steps interleaved at random: a claim (of any size, or of what the
    worker's last read decides) written, and checked against a later read of every row; bursts of sends under a
    standing lease as the worker's log allows, each reaching Graph up to the arrival allowance later; shrinks to a
    lower rate without a check; deaths (the row stays, a claim is never checked); readers deleting the rows
    :func:`garbage` names. No window of the limit's length, wherever it starts, ever receives more than the
    budget. (Steps drawn from a seeded random rather than a list hypothesis shrinks: its small examples seldom put
    two workers' claims between each other's.)"""
    allowance, life, now = min(ARRIVAL, window / 2), min(LEASE_LIFE, window), 1000.0
    workers = [Worker(f"w{n}") for n in range(4)]
    table: dict[str, Row] = {}
    arrived: list[float] = []

    def write(worker: Worker) -> None:  # as the store writes a row (the leases that still count) and reads it back
        worker.leases = counting(worker.leases, now, window)
        if worker.current is not None and worker.current not in worker.leases:
            worker.leases = (*worker.leases, worker.current)
        table[worker.name] = stored_row(worker.name, {"leases": stored_json(worker.leases), "want": 1}, window)

    for _ in range(120):
        later, which, action = rng.uniform(0, 0.2), rng.randrange(4), rng.choice(ACTIONS)
        size, delay = rng.random(), rng.random()
        now += later
        worker = workers[which]
        if not worker.alive:
            continue
        if action == "claim" and worker.pending is None:
            worker.stop_sending(allowance)
            asked = decide(list(table.values()), worker.name, budget, now, 0, budget, window, now, life + allowance)
            count = asked.count if size < 0.5 and asked.count else 1 + int(size * budget * 1.5)
            worker.pending = Lease(now, now + life + allowance, count, worker.name)
            worker.leases = (*worker.leases, worker.pending)
            write(worker)
        elif action == "check" and worker.pending is not None:
            if stands(table.values(), worker.pending, budget, window):
                worker.current = worker.pending
            else:  # withdrawn
                worker.leases = tuple(lease for lease in worker.leases if lease != worker.pending)
                write(worker)
            worker.pending = None
        elif action == "send" and worker.current is not None and now < worker.current.end - allowance:
            for _ in range(1 + int(size * 4)):  # a burst: as many as the log allows
                if send_wait(worker.sent, worker.current.count, window, allowance, now) == 0.0:
                    worker.sent.append(now)
                    worker.last = now
                    arrived.append(now + delay * allowance)
        elif action == "shrink" and worker.current is not None and worker.pending is None:
            lower = Lease(now, worker.current.end, max(1, int(worker.current.count * size)), worker.name)
            worker.stop_sending(allowance)
            worker.leases, worker.current = (*worker.leases, lower), lower
            write(worker)
        elif action == "die" and size < 0.1:  # now and then (a worker dead early would leave little to test)
            worker.alive = False
        elif action == "sweep":
            for name in [name for name, kept in table.items() if garbage(kept, window, now)]:
                del table[name]
        assert most_in_any_window(arrived, window) <= budget


# -- The store, over a table that behaves as Table storage does (upserts, a partition's query, ETags) ---------


class Table:
    """Rows by partition and key with an ETag each; a write or a delete on a stale ETag is refused, as the service
    refuses it.
    ``between`` runs one each before the next queries (another worker's write landing between a claim and its read)."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], tuple[dict[str, Any], int]] = {}
        self.between: list[Any] = []
        self.version = 0

    def upsert_entity(self, entity: dict[str, Any], **_: Any) -> dict[str, Any]:
        self.version += 1
        self.rows[(entity["PartitionKey"], entity["RowKey"])] = (dict(entity), self.version)
        return {"etag": str(self.version)}

    def query_entities(self, query: str, *, parameters: dict[str, str], **_: Any) -> list[Any]:
        from azure.data.tables import TableEntity

        if self.between:
            self.between.pop(0)()
        found = []
        for (partition, _key), (row, version) in sorted(self.rows.items()):
            if partition == parameters["p"]:
                entity = TableEntity(row)
                entity._metadata = {"etag": str(version)}  # type: ignore[attr-defined]
                found.append(entity)
        return found

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

        if (entity["PartitionKey"], entity["RowKey"]) in self.rows:
            raise ResourceExistsError("exists")
        return self.upsert_entity(entity)

    def update_entity(self, entity: dict[str, Any], *, etag: str, **_: Any) -> dict[str, Any]:
        from azure.core.exceptions import ResourceModifiedError

        if str(self.rows[(entity["PartitionKey"], entity["RowKey"])][1]) != etag:
            raise ResourceModifiedError("changed")
        return self.upsert_entity(entity)

    def delete_entity(self, entity: Any, *, etag: str, **_: Any) -> None:
        from azure.core.exceptions import ResourceModifiedError

        key = (entity["PartitionKey"], entity["RowKey"])
        if key in self.rows and str(self.rows[key][1]) != etag:
            raise ResourceModifiedError("changed")
        self.rows.pop(key, None)

    def create_table(self) -> None:
        pass

    def leases(self, partition: str, holder: str) -> list[list[Any]]:
        leases: list[list[Any]] = json.loads(self.rows[(partition, holder)][0]["leases"])
        return leases


def store(table: Table, now: list[float], holder: str, limits: dict[str, Limit] | None = None) -> Budgets:
    return Budgets(table, limits or {"ediscovery": EDISCOVERY, "identity": IDENTITY}, clock=lambda: now[0],  # type: ignore[arg-type]
                   holder=holder)  # fmt: skip


def test_a_busy_worker_far_from_the_limit_leases_once_and_spends_without_the_table() -> None:
    table, now = Table(), [1000.0]
    worker = store(table, now, "w1")
    for _ in range(600):  # twenty polls a second for thirty seconds
        assert worker.wait_before_polling("tenant-a", "identity") == 0.0
        now[0] += 1 / 20
    # Its row announcing it, a read; the claim, a read: one lease of an eighth of the budget for three windows.
    assert (worker.stats.claims, worker.stats.writes, worker.stats.reads, worker.operations) == (1, 2, 2, 4)
    partition = budget_partition("tenant-a", "identity")
    [[start, end, count]] = table.leases(partition, "w1")
    assert (count, end - start) == (350, pytest.approx(FAR_LEASE_LIFE + ARRIVAL, abs=0.002))
    worker.close()  # the hand-back: a write; the lease counts until its last request arrived
    [[_, end, _]] = table.leases(partition, "w1")
    assert worker.operations == 5 and end == pytest.approx(now[0] - 1 / 20 + ARRIVAL, abs=0.002)


def test_a_far_lease_larger_than_the_workers_pace_shrinks_once_its_pace_is_known() -> None:
    table, now = Table(), [1000.0]
    worker = store(table, now, "w1")
    for _ in range(60):  # four polls a second for 15 s
        assert worker.wait_before_polling("tenant-a", "identity") == 0.0
        now[0] += 0.25
    # Past a window and its arrival: 44 asked in it, the lease shrunk to 88 a window, in a write without a read.
    leases = table.leases(budget_partition("tenant-a", "identity"), "w1")
    assert [lease[2] for lease in leases] == [350, 88] and worker.stats.reads == 2 and worker.stats.writes == 3
    assert leases[0][1] == pytest.approx(1010.75 + ARRIVAL, abs=0.01)  # the first ends at its last send's arrival


def test_each_tenant_has_its_budget_and_a_spent_one_waits_its_turn() -> None:
    table, now = Table(), [1200.0]
    one, two = store(table, now, "w1"), store(table, now, "w2")
    polls = []
    for _ in range(6):  # a request a time: four of them in the minute, by either worker
        polls += [one.wait_before_polling("tenant-a", "ediscovery"), two.wait_before_polling("tenant-a", "ediscovery")]
        now[0] += LEASE_LIFE + ARRIVAL  # each lease over before the next is asked for
    assert polls.count(0.0) == 4 and all(wait > 0 for wait in polls[4:])
    assert one.wait_before_polling("tenant-b", "ediscovery") == 0.0  # another tenant's budget is its own
    assert one.wait_before_polling("tenant-a", None) == 0.0  # a kind without a budget: no table operation
    assert one.stats.refused == two.stats.refused == 0


def test_a_429_pauses_the_budget_for_every_worker_that_reads_it() -> None:
    table, now = Table(), [1200.0]
    one, two = store(table, now, "w1"), store(table, now, "w2")
    assert one.pause("tenant-a", "ediscovery", 30.0) == 1230.0
    assert 30.0 <= one.wait_before_polling("tenant-a", "ediscovery") <= 36.0  # its own at once, no table operation
    assert 30.0 <= two.wait_before_polling("tenant-a", "ediscovery") <= 36.0  # until then (and a little spread)
    assert two.wait_before_polling("tenant-b", "ediscovery") == 0.0
    assert one.pause("tenant-a", None, 30.0) is None  # a kind with no budget pauses nothing


def test_a_claim_another_worker_met_at_the_same_moment_is_withdrawn_and_the_worker_waits() -> None:
    table, now = Table(), [1000.0]
    worker = store(table, now, "w1")
    partition = budget_partition("tenant-a", "ediscovery")
    others = [(partition, f"o{n}") for n in range(4)]
    # Between the worker's first read and its claim's read, four others claim the minute's four requests.
    table.between += [lambda: None, lambda: [table.upsert_entity({"PartitionKey": p, "RowKey": k, "leases":
                      stored_json([Lease(now[0], now[0] + 6, 1)]), "want": 1}) for p, k in others]]  # fmt: skip
    assert worker.wait_before_polling("tenant-a", "ediscovery") > 0
    assert (worker.stats.claims, worker.stats.refused, worker.stats.leases) == (1, 1, 0)
    mine = table.rows[(partition, "w1")][0]
    assert mine["leases"] == "[]" and mine["waitingSince"] == 1000.0  # withdrawn; its place in the queue kept


def test_a_worker_that_dies_holding_a_lease_holds_it_back_only_until_its_windows_pass() -> None:
    table, now = Table(), [1000.0]
    dead = store(table, now, "dead")
    for _ in range(4):
        assert dead.wait_before_polling("tenant-a", "ediscovery") == 0.0  # a request at a time, then it dies
        now[0] += LEASE_LIFE + ARRIVAL
    [*_, [start, end, count]] = table.leases(budget_partition("tenant-a", "ediscovery"), "dead")
    assert (start, count) == (1000.0 + 3 * (LEASE_LIFE + ARRIVAL), 4)  # its last lease: four a minute
    alive = store(table, now, "alive")
    wait = alive.wait_before_polling("tenant-a", "ediscovery")
    assert end + 60.0 - now[0] <= wait <= end + 60.0 - now[0] + 6.0  # until it has left the minute (and a spread)
    now[0] = end + 60.0
    assert alive.wait_before_polling("tenant-a", "ediscovery") == 0.0
    now[0] += GARBAGE_AFTER + 60.0  # long after: its row is deleted by a reader
    assert alive.wait_before_polling("tenant-a", "ediscovery") == 0.0 and alive.stats.deletes == 1
    assert {key for _, key in table.rows} == {"alive"}


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -5, "many", 10**400])
def test_a_garbled_row_is_read_as_nothing_rather_than_failing_a_step(bad: object) -> None:
    table, now = Table(), [1200.0]
    partition = budget_partition("tenant-a", "ediscovery")
    table.upsert_entity({"PartitionKey": partition, "RowKey": "x", "leases": json.dumps([[bad, bad, bad]]),
                         "want": bad, "waitingSince": bad, "noteUntil": bad, "pausedUntil": bad})  # fmt: skip
    assert store(table, now, "w").wait_before_polling("tenant-a", "ediscovery") == 0.0


def spent(table: Table, tenant: str, service: str) -> str:
    """The partition of a budget whose four requests of the minute four other workers hold."""
    full = budget_partition(tenant, service)
    for n in range(4):
        table.upsert_entity({"PartitionKey": full, "RowKey": f"o{n}", "leases": stored_json([Lease(999.0, 1005.0, 1)])})
    return full


def test_a_waiter_keeps_its_place_with_a_note_that_lapses_if_it_does_not_come_back() -> None:
    table, now = Table(), [1000.0]
    full = spent(table, "tenant-a", "ediscovery")
    waiter = store(table, now, "w")
    wait = waiter.wait_before_polling("tenant-a", "ediscovery")
    note = table.rows[(full, "w")][0]
    assert note["waitingSince"] == 1000.0 and note["noteUntil"] >= 1000.0 + wait + NOTE_GRACE
    now[0] += wait
    assert waiter.wait_before_polling("tenant-a", "ediscovery") == 0.0  # its turn: the room was kept for it
    assert table.rows[(full, "w")][0]["waitingSince"] == 0.0  # out of the queue


# -- Storage failing in the middle of a claim, a wait or a shrink ------------------------------------------------


class Down(Table):
    """A table whose writes fail once ``down`` is set (storage out of reach after the reads that came before)."""

    down = False

    def upsert_entity(self, entity: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        from azure.core.exceptions import ServiceRequestError

        if self.down:
            raise ServiceRequestError("unreachable")
        return super().upsert_entity(entity, **kwargs)


def test_a_wait_note_not_written_still_waits_for_the_room_the_read_found_spent() -> None:
    table, now = Down(), [1000.0]
    full = spent(table, "tenant-a", "ediscovery")
    waiter = store(table, now, "w")
    table.between.append(lambda: setattr(table, "down", True))  # the row announced, then writes fail
    assert waiter.wait_before_polling("tenant-a", "ediscovery") > 0
    assert waiter.stats.uncounted == 0 and waiter.stats.leases == 0
    table.down = False
    wait = waiter.wait_before_polling("tenant-a", "ediscovery")  # its note written at its next wait
    assert table.rows[(full, "w")][0]["noteUntil"] >= now[0] + wait + NOTE_GRACE


def test_a_refused_claim_whose_withdrawal_fails_still_waits_and_its_row_counts_the_claim() -> None:
    table, now = Down(), [1000.0]
    worker = store(table, now, "w1")
    partition = budget_partition("tenant-a", "ediscovery")

    def crowd() -> None:  # four others claim the minute's four requests, then storage goes out of reach
        for n in range(4):
            table.upsert_entity({"PartitionKey": partition, "RowKey": f"o{n}",
                                 "leases": stored_json([Lease(now[0], now[0] + 6, 1)]), "want": 1})  # fmt: skip
        table.down = True

    table.between += [lambda: None, crowd]
    assert worker.wait_before_polling("tenant-a", "ediscovery") > 0
    assert (worker.stats.refused, worker.stats.uncounted) == (1, 0)
    assert len(table.leases(partition, "w1")) == 1  # not withdrawn: others count it until its next write


def test_a_far_lease_not_shrunk_in_its_row_goes_on_at_the_workers_pace_without_failing_the_step() -> None:
    table, now = Down(), [1000.0]
    worker = store(table, now, "w1")
    partition = budget_partition("tenant-a", "identity")
    for _ in range(44):  # four polls a second, a window and its arrival allowance
        assert worker.wait_before_polling("tenant-a", "identity") == 0.0
        now[0] += 0.25
    table.down = True
    assert worker.wait_before_polling("tenant-a", "identity") == 0.0  # shrunk locally; its row keeps the larger
    assert [lease[2] for lease in table.leases(partition, "w1")] == [350] and worker.stats.uncounted == 0


def test_polls_let_through_uncounted_still_fill_the_workers_own_log() -> None:
    table, now = Down(), [1000.0]
    worker = store(table, now, "w1")
    table.down = True
    for _ in range(4):  # storage out of reach: four polls of the minute go uncounted
        assert worker.wait_before_polling("tenant-a", "ediscovery") == 0.0
        now[0] += 1.0
    table.down = False
    assert worker.stats.uncounted == 4 and worker.wait_before_polling("tenant-a", "ediscovery") > 0
    now[0] = 1000.0 + 60.0 + ARRIVAL
    assert worker.wait_before_polling("tenant-a", "ediscovery") == 0.0  # the first has left the minute


def test_a_claim_counts_a_lease_another_worker_began_after_it() -> None:
    # Another worker's claim, written between this one's write and its read, began a little later: the windows that
    # end after it began hold both, so this claim does not stand when the two together pass the budget.
    mine, theirs = Lease(1000.0, 1005.0, 8, "a"), Lease(1000.5, 1005.5, 8, "b")
    rows = [Row("a", (mine,)), Row("b", (theirs,))]
    assert not stands(rows, mine, 10, 10.0)
    assert stands(rows, mine, 16, 10.0)
