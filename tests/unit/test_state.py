"""StateStore.gate: which step of a subscribed tracking may run, decided from the one read it makes."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError, ServiceRequestError

from graphops.envelope.tracking import Tracking, next_step
from graphops.intake.request import from_request
from graphops.storage.state import StateStore

from .test_decide import LIMITS, T0
from .test_step import CALLBACK


class Entity(dict[str, Any]):
    """What TableClient.get_entity returns: a dict with the ETag in ``metadata``."""

    def __init__(self, values: dict[str, Any], etag: str = 'W/"1"') -> None:
        super().__init__(values)
        self.metadata = {"etag": etag}


class OneRowTable:
    table_name = "graphopsstate"

    def __init__(self, row: dict[str, Any] | None = None, *, down: bool = False) -> None:
        self.row = row
        self.down = down

    def get_entity(self, partition_key: str, row_key: str) -> Entity:
        if self.down:
            raise ServiceRequestError("table down")
        if self.row is None:
            raise ResourceNotFoundError("no such entity")
        return Entity(self.row)


def subscribed() -> Tracking:
    doc = {"operationUrl": "/beta/identityGovernance/roleManagementAlerts/operations/op", "callbackUrl": CALLBACK}
    return replace(from_request(doc, "t-1", T0, LIMITS), stateful=True)


def gate(row: dict[str, Any] | None, tracking: Tracking, **table: Any) -> tuple[bool, str, str | None]:
    decision = StateStore(OneRowTable(row, **table)).gate(tracking)  # type: ignore[arg-type]
    etag = decision.etag
    return decision.go, decision.reason, etag


def test_the_live_step_runs_with_the_version_it_read() -> None:
    t = subscribed()
    assert gate({"stepId": t.step_id, "step": 0}, t) == (True, "", 'W/"1"')


def test_a_step_the_state_does_not_name_is_stale() -> None:
    t = subscribed()
    live = next_step(t)
    assert gate({"stepId": live.step_id, "step": live.step}, t)[:2] == (False, "stale")  # a duplicate of the past


def test_step_numbers_do_not_decide_only_ids_do() -> None:
    t = subscribed()
    named = next_step(read_as(t, t.step_id))
    twin = replace(named, step_id="twin-of-the-named-step", recorded_step_ids=("a-duplicate-run",))  # same number
    assert gate({"stepId": named.step_id, "step": named.step}, twin)[:2] == (False, "stale")
    ahead = replace(next_step(named), recorded_step_ids=("a-forked-chain",))  # a step number past the state's
    assert gate({"stepId": named.step_id, "step": named.step}, ahead)[:2] == (False, "stale")
    behind = replace(named, step=0)  # the named id with any number runs
    assert gate({"stepId": named.step_id, "step": named.step}, behind)[0] is True


def read_as(tracking: Tracking, live: str | None) -> Tracking:
    """The tracking as its step saw the state: naming ``live`` (None: the state could not be read)."""
    return replace(tracking, state_names=None if live is None else (live,))


@pytest.mark.parametrize("failed_writes", [1, 2, 3, 5, 40])
def test_any_run_of_failed_state_writes_keeps_the_live_message_running(failed_writes: int) -> None:
    t = subscribed()
    step, named = t, t.step_id  # the state names t; then every step's write fails
    for _ in range(failed_writes):
        assert gate({"stepId": named}, step)[0] is True
        step = next_step(read_as(step, named))
    assert gate({"stepId": named}, step)[:2] == (True, "predecessors not recorded")
    # A duplicate of any of those steps, which already went on, stays stale once a write lands again.
    recorded = next_step(read_as(step, named))
    assert gate({"stepId": recorded.step_id}, step)[:2] == (False, "stale")


@pytest.mark.parametrize("unread", [1, 2, 3, 5, 40])
def test_steps_that_could_not_read_the_state_keep_every_id_it_may_name(unread: int) -> None:
    t = subscribed()
    chain = [t]
    for _ in range(unread):  # storage down: no step reads the state, no write lands, or only some do
        chain.append(next_step(read_as(chain[-1], None)))
    last = chain[-1]
    for earlier in chain[-32:-1]:  # whichever of them the state names last, the live message runs
        assert gate({"stepId": earlier.step_id}, last)[0] is True, earlier.step
    assert len(last.recorded_step_ids) <= 32


def test_the_successor_of_the_named_step_runs_when_its_record_failed() -> None:
    t = subscribed()
    successor = next_step(read_as(t, t.step_id))  # queued by t, whose state write then failed: the state names t
    assert gate({"stepId": t.step_id, "step": t.step}, successor)[:2] == (True, "predecessors not recorded")
    grandchild = next_step(read_as(successor, t.step_id))  # and its write failed too
    assert gate({"stepId": t.step_id, "step": t.step}, grandchild)[:2] == (True, "predecessors not recorded")
    stranger = replace(grandchild, recorded_step_ids=())
    assert gate({"stepId": t.step_id, "step": t.step}, stranger)[:2] == (False, "stale")


def test_a_cancelled_tracking_stops_whatever_step_arrives() -> None:
    t = subscribed()
    assert gate({"stepId": t.step_id, "cancelled": True}, t)[:2] == (False, "cancelled")


def test_missing_or_unreadable_state_never_stops_a_step() -> None:
    t = subscribed()
    assert gate(None, t) == (True, "no state", None)
    assert gate(None, t, down=True) == (True, "state unavailable", None)


@pytest.mark.parametrize("legacy", [{}, {"stepId": None}])
def test_state_without_a_step_id_lets_the_step_run(legacy: dict[str, Any]) -> None:
    assert gate(legacy, subscribed())[0] is True


def test_the_sdks_error_code_enum_reads_as_the_service_code() -> None:
    # The SDK gives TableErrorCode.TABLE_NOT_FOUND, whose str() is not "TableNotFound": a fresh table was
    # never created on an upsert (trackings put on the queue first write their state that way).
    from azure.core.exceptions import ResourceNotFoundError
    from azure.data.tables import TableErrorCode

    from graphops.storage.time_index import error_code as _error_code

    missing = ResourceNotFoundError("The table specified does not exist.")
    missing.error_code = TableErrorCode.TABLE_NOT_FOUND  # type: ignore[attr-defined]
    assert _error_code(missing) == "TableNotFound"
