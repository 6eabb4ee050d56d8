"""The console's list at scale: the first page of "last 24 hours" and its counts, over a state table holding
100,000 trackings in Azurite, read from the time index; and, for comparison, what one scan of the state
table (how the list was read before the index) takes.

    python bench/console.py [--trackings 100000] [--days 7] [--runs 7] [--no-scan] [--keep DIR]

The trackings begin evenly over the last ``--days`` days, in a mix of states; each has its state row (what
the list's details are read from) and its index row and counts, written as graphops writes them on an upgrade
(``TrackingIndex.rebuild``). Seeding 100,000 takes a few minutes (``--keep DIR`` keeps Azurite's data there and
reuses it on the next run); the timings are each a median of ``--runs``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from azure.data.tables import TableClient, TableServiceClient

from graphops.console.listing import Filters, list_trackings
from graphops.envelope.tracking import iso
from graphops.local.azurite import Azurite
from graphops.storage.state import StateStore
from graphops.storage.time_index import TrackingIndex, Window, partition_of, row_key_bound

KINDS = ("authenticationMethodOperation", "unifiedRoleManagementAlertRefresh", "teamsAsyncOperation")
# (phase, outcome, a delivery dead-lettered), by share: most trackings have finished well.
MIX = [("done", "succeeded", False)] * 14 + [("done", "failed", False), ("done", "timedOut", False),
       ("done", "succeeded", True), ("polling", None, False), ("done", "forbidden", False)]  # fmt: skip
GOAL_SECONDS = 1.0


def seeded(number: int, days: int, now: datetime) -> list[dict[str, Any]]:
    """The trackings' state rows, as steps leave them."""
    span = timedelta(days=days).total_seconds()
    made = []
    for i in range(number):
        since = now - timedelta(seconds=span * (i + 0.5) / number)
        phase, outcome, dead = MIX[i % len(MIX)]
        tracking_id, kind = str(uuid.uuid4()), KINDS[i % len(KINDS)]
        finished = iso(since + timedelta(minutes=3)) if phase == "done" else ""
        delivery = "deadLettered" if dead else ("delivered" if phase == "done" else "pending")
        made.append({"PartitionKey": tracking_id, "RowKey": "state", "phase": phase, "outcome": outcome or "",
                     "kind": kind, "trackedSince": iso(since), "finishedAt": finished, "correlationId": f"wf-{i % 977}",
                     "operationUrl": f"https://graph.microsoft.com/v1.0/users/u{i}/authentication/operations/{i}",
                     "polls": 4, "lastStatus": outcome or "running", "lastPollAt": iso(since + timedelta(minutes=2)),
                     "deliveryAttempts": 1 if phase == "done" else 0,
                     "lastDeliveryError": "dead-lettered: callback answered 410" if dead else "",
                     "deliveries": json.dumps({"callback": {"state": delivery, "attempts": 1}})})  # fmt: skip
    return made


def seed(table: TableClient, number: int, days: int, now: datetime) -> None:
    """State rows as a deployment's steps write them, then the index as `graphops index rebuild` writes it."""
    start = time.perf_counter()
    table.create_table()
    with ThreadPoolExecutor(32) as pool:
        list(pool.map(table.create_entity, seeded(number, days, now), chunksize=256))
    print(f"seeded {number:,} trackings' state over {days} days in {time.perf_counter() - start:.0f} s")
    rebuild(table)


def rebuild(table: TableClient) -> None:
    start = time.perf_counter()
    indexed = StateStore(table).rebuild_index()
    print(f"graphops index rebuild: {indexed:,} trackings indexed in {time.perf_counter() - start:.0f} s")


def counts_from_rows(table: TableClient, since: datetime, now: datetime) -> Counter[str]:
    """The window's counts as an index without count rows would read them: every tracking's row, its standing
    (a finished tracking's tally kept in its own row, its finish a single-entity write)."""
    total: Counter[str] = Counter()
    for bucket in TrackingIndex(table).buckets(Window(since=since), now):
        bounds = {"p": partition_of(bucket), "low": row_key_bound(now), "high": row_key_bound(since)}
        rows = table.query_entities("PartitionKey eq @p and RowKey ge @low and RowKey lt @high", parameters=bounds,
                                    select=["standing"])  # fmt: skip
        total.update(str(row["standing"]) for row in rows)
    return total


def timed(action: Callable[[], Any], runs: int) -> tuple[float, Any]:
    took, result = [], None
    for _ in range(runs):
        start = time.perf_counter()
        result = action()
        took.append(time.perf_counter() - start)
    return statistics.median(took), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trackings", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-scan", action="store_true", help="skip timing a scan of the whole state table")
    parser.add_argument("--keep", type=Path, help="keep Azurite's data in this folder, and reuse what is there")
    parser.add_argument("--rebuild", action="store_true", help="with --keep: write the kept index anew first")
    args = parser.parse_args()
    with Azurite(args.keep) as azurite:
        service = TableServiceClient.from_connection_string(azurite.connection_string)
        table: TableClient = service.get_table_client("graphopsstate")
        saved = args.keep / "seeded.json" if args.keep else None
        if saved and saved.exists():
            now = datetime.fromisoformat(json.loads(saved.read_text())["now"])
            if args.rebuild:
                rebuild(table)
        else:
            now = datetime.now(UTC)
            seed(table, args.trackings, args.days, now)
            if saved:
                saved.write_text(json.dumps({"now": now.isoformat(), "trackings": args.trackings, "days": args.days}))
        span = timedelta(days=args.days).total_seconds()  # as seeded: tracking i began span * (i + .5) / n ago
        expected = sum(1 for i in range(args.trackings) if span * (i + 0.5) / args.trackings <= 86400)

        filters = Filters.from_query({}, now, KINDS)  # what the console opens on: the last 24 hours
        first_page, listing = timed(lambda: list_trackings(table, filters, now), args.runs)
        index = TrackingIndex(table)
        counts_only, counts = timed(lambda: index.counts(Window(since=filters.since), now), args.runs)
        assert listing.matching == expected == sum(counts.values()), (listing.matching, expected)
        print(f'first page of "last 24 hours" ({len(listing.rows)} rows of {listing.matching:,}, with counts): '
              f"{first_page * 1000:6.0f} ms (median of {args.runs})")  # fmt: skip
        print(f"its counts alone:                                               {counts_only * 1000:6.0f} ms")
        since = filters.since
        assert since is not None
        from_rows, recounted = timed(lambda: counts_from_rows(table, since, now), args.runs)
        assert recounted == counts, (recounted, counts)
        print(f"its counts read from every tracking's row instead (no count rows): {from_rows * 1000:6.0f} ms")
        one_state = Filters.from_query({"state": "deliveryFailed"}, now, KINDS)
        filtered, _ = timed(lambda: list_trackings(table, one_state, now), args.runs)
        print(f'"last 24 hours", delivery failed only:                         {filtered * 1000:6.0f} ms')
        if not args.no_scan:
            scan, rows = timed(lambda: sum(1 for _ in table.query_entities("RowKey eq 'state'", select=["phase"])), 1)
            print(f"for comparison, one scan of the {rows:,} state rows:                {scan * 1000:6.0f} ms")
        print(f"{'PASS' if first_page < GOAL_SECONDS else 'FAIL'}  the first page and its counts in under 1 s")


if __name__ == "__main__":
    main()
