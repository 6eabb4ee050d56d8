"""The one rule for signed links (graphops.common.signed) and where it applies: every kind, every field that holds a
URL, in an operation body, a start request, a history entry, a dead letter and a log line."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from graphops.common.logs import event
from graphops.common.signed import WITHHELD_QUERY, withhold_signed, withhold_signed_in
from graphops.envelope.tracking import ErrorInfo, Outcome, Tracking
from graphops.graph.kinds import KINDS
from graphops.storage.poison import redact_callbacks
from graphops.storage.state_view import entity_of, public_view

KEY = "c2VjcmV0LXNhcy1zaWduYXR1cmU"
SAS = f"https://contoso.blob.core.windows.net/exports?sv=2022-11-02&se=2030-01-01&sp=rw&sig={KEY}"
BARE = "https://contoso.blob.core.windows.net/exports"


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        (SAS, BARE + WITHHELD_QUERY),
        (f"{BARE}?SIG={KEY}", BARE + WITHHELD_QUERY),
        (f"https://c.sharepoint.com/_api/v2.1/drives/d/operations/o?c=x&tempauth={KEY}",
         "https://c.sharepoint.com/_api/v2.1/drives/d/operations/o" + WITHHELD_QUERY),
        (f"/_api/v2.0/monitor/m?TempAuth={KEY}", "/_api/v2.0/monitor/m" + WITHHELD_QUERY),
        (f"/_api/v2.0/monitor/m?tempAuth={KEY}", "/_api/v2.0/monitor/m" + WITHHELD_QUERY),
        (f"https://r.example/a?next=https%3A%2F%2Fc.blob.core.windows.net%2Fx%3Fsig%3D{KEY}",
         "https://r.example/a" + WITHHELD_QUERY),
        (f"export failed writing to {SAS} (403)", f"export failed writing to {BARE}{WITHHELD_QUERY} (403)"),
        (f"https://s3.example/o?X-Amz-Signature={KEY}", "https://s3.example/o" + WITHHELD_QUERY),
        # Not signed: kept as they are.
        ("https://graph.microsoft.com/v1.0/users/u/authentication/operations/o?aadgdc=DUB02P",
         "https://graph.microsoft.com/v1.0/users/u/authentication/operations/o?aadgdc=DUB02P"),
        ("https://x.example/a?signal=1&design=2", "https://x.example/a?signal=1&design=2"),
        ("no URL here?", "no URL here?"),
    ],
)  # fmt: skip
def test_the_rule_withholds_a_signed_query_and_keeps_the_rest(text: str, kept: str) -> None:
    assert withhold_signed(text) == kept
    assert withhold_signed(kept) == kept  # applied twice, it changes nothing more


def test_the_rule_reaches_every_string_in_a_document() -> None:
    doc = {"a": [{"b": SAS}, (SAS, 1)], SAS: None, "n": 2.5}
    assert KEY not in json.dumps(withhold_signed_in(doc))
    assert KEY in json.dumps(doc)  # the document itself is left as it was


def export_tracking() -> Tracking:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    tracking = Tracking(
        "t1", "https://graph.microsoft.com/v1.0/dataPolicyOperations/e1", KINDS["dataPolicyOperation"],
        "https://a.logic.azure.com/cb?sig=cbkey", now, now + timedelta(days=1),
        operation={"status": "complete", "storageLocation": SAS}, history=({"start": "personalDataExport",
                                                                           "storageLocation": SAS},),
    )  # fmt: skip
    return tracking.finish(Outcome.SUCCEEDED, ErrorInfo("note", f"wrote to {SAS}"), now)


def test_the_state_row_and_the_status_view_keep_no_signed_link_and_the_callback_gets_it() -> None:
    tracking = export_tracking()
    entity = entity_of(tracking)
    assert KEY not in json.dumps(entity)
    assert entity["resource"] == BARE + WITHHELD_QUERY
    # A row written before the rule (Graph's body kept as it came) is shown without its link too.
    legacy = {**entity, "operation": json.dumps(tracking.operation), "resource": SAS}
    assert KEY not in json.dumps(public_view("t1", legacy))
    assert tracking.callback_body()["operation"]["storageLocation"] == SAS  # what the caller is owed


def test_a_dead_letters_start_request_and_history_are_shown_without_signed_links() -> None:
    message = {"start": {"method": "POST", "url": "/v1.0/users/u/exportPersonalData", "body": {"storageLocation": SAS}},
               "callbackUrl": "https://a.logic.azure.com/cb?sig=cbkey", "context": {"note": SAS}}  # fmt: skip
    shown = redact_callbacks(json.dumps(message))
    assert KEY not in shown and "cbkey" not in shown
    assert json.loads(shown)["start"]["body"]["storageLocation"] == BARE + WITHHELD_QUERY
    wire = export_tracking().to_wire()
    assert KEY in wire and KEY not in redact_callbacks(wire)


def test_a_log_line_holds_no_signed_link(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="graphops")
    event("started", storageLocation=SAS, answer={"operation": {"url": SAS}})
    assert "started" in caplog.text and KEY not in caplog.text


class Unwritable:
    def __str__(self) -> str:
        raise AssertionError("formatted for a line that is not written")


def test_a_log_line_below_the_level_is_not_formatted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="graphops")
    event("quiet", field=Unwritable())
    assert caplog.records == []
