"""Audit log query starts within Graph's tenant limits: 200 submissions a rolling day, 50 running at once."""

from __future__ import annotations

from graphops.pacing.audit_queries import AT_ONCE_WAIT, Ledger, admit, released
from graphops.pacing.audit_query_store import AuditQueries
from graphops.pacing.budget import LIMITS, Limit

from .test_budget import Table

DAY = 86_400.0
NOW = 1_000_000.0


def test_a_start_is_counted_as_submitted_and_running_until_its_deadline() -> None:
    admission = admit(Ledger(), "t-1", NOW + 3600, NOW)
    assert admission.go and admission.ledger == Ledger((NOW,), {"t-1": NOW + 3600})


def test_the_rolling_day_refuses_the_160th_start_until_the_oldest_counted_one_is_a_day_old() -> None:
    budget = LIMITS["auditLogQuery"].budget()  # 200, less the margin
    ledger = Ledger(tuple(NOW - DAY + 100 + n for n in range(budget)))
    refused = admit(ledger, "t-new", NOW + 3600, NOW)
    assert not refused.go and refused.wait == 100 and "200 audit log query submissions a day" in refused.limit
    later = admit(ledger, "t-new", NOW + 3600, NOW + 100.5)  # the oldest has aged out of the 24 hours
    assert later.go and later.ledger is not None and len(later.ledger.submitted) == budget


def test_the_queries_running_at_once_refuse_a_start_until_one_ends() -> None:
    running = {f"t-{n}": NOW + 3600 for n in range(40)}  # 50, less the margin
    refused = admit(Ledger(running=running), "t-new", NOW + 3600, NOW)
    assert (refused.go, refused.wait) == (False, AT_ONCE_WAIT) and "50 audit log queries queued or running" in (
        refused.limit
    )
    assert admit(released(Ledger(running=running), "t-3"), "t-new", NOW + 3600, NOW).go
    expired = {**running, "t-0": NOW - 1}  # a tracking past its deadline frees its place
    assert admit(Ledger(running=expired), "t-new", NOW + 3600, NOW).go


def test_a_retried_start_of_a_counted_tracking_is_not_counted_twice() -> None:
    first = admit(Ledger(), "t-1", NOW + 3600, NOW)
    assert first.ledger is not None
    again = admit(first.ledger, "t-1", NOW + 3600, NOW + 5)
    assert again.go and again.ledger == first.ledger


def test_a_deployment_with_a_larger_allocation_sets_it() -> None:
    assert admit(Ledger((NOW,)), "t", NOW + 1, NOW, daily=Limit(1, DAY, 60.0, ""), margin=1.0).go is False


def test_the_ledger_is_one_row_per_tenant_shared_by_every_worker() -> None:
    table = Table()
    one, other = AuditQueries(table), AuditQueries(table)  # type: ignore[arg-type]
    assert one.admit("tenant-a", "t-1", NOW + 3600, NOW).go and other.admit("tenant-a", "t-2", NOW + 3600, NOW).go
    other.release("tenant-a", "t-1")
    admission = one.admit("tenant-a", "t-3", NOW + 3600, NOW)
    assert admission.ledger == Ledger((NOW, NOW, NOW), {"t-2": NOW + 3600, "t-3": NOW + 3600})
    assert one.admit("tenant-b", "t-1", NOW + 3600, NOW).ledger == Ledger((NOW,), {"t-1": NOW + 3600})
