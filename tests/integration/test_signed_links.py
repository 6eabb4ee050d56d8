"""A signed link (a SAS storageLocation a caller hands a personal data export, the one Graph answers with) reaches
the sinks, and nowhere else: not the state table, the status view, the console, the poison page, the CLI or the
logs."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
import requests
from azure.data.tables import TableClient

from graphops.local import seed
from graphops.local.graph import Reply

from ..patience import patience
from .conftest import ConsoleSignIn, Harness, own_state_table, sink_settings
from .test_cli import graphops
from .test_console import get

KEY = "c2VjcmV0LXNhcy1zaWduYXR1cmU%3D"  # the SAS's signature: it must appear nowhere but in the sinks
SAS = f"https://contoso.blob.core.windows.net/exports?sv=2022-11-02&se=2030-01-01&sr=c&sp=rw&sig={KEY}"
ANSWERED = f"https://contoso.blob.core.windows.net/exports/adele?sv=2022-11-02&sp=r&SIG={KEY}"  # Graph's, any case
EXPORT = "/v1.0/users/48d31887-5fad-4d73-a9f5-3c356e68a038/exportPersonalData"
SETTINGS = {"GRAPHOPS_START_ACTIONS": "personalDataExport", "GRAPHOPS_EXPORT_STORAGE_ACCOUNTS": "contoso"}


def cli_settings(h: Harness, tmp_path: Path) -> Path:
    path = tmp_path / "local.settings.json"
    path.write_text(json.dumps({"IsEncrypted": False, "Values": h.env}))
    return path


def test_a_sas_from_the_caller_and_from_graph_reaches_the_sinks_only(
    make_harness: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, sign_in: ConsoleSignIn
) -> None:
    caplog.set_level(logging.DEBUG)
    table = own_state_table()
    h: Harness = make_harness(**sign_in.settings(**SETTINGS, GRAPHOPS_STATE_TABLE=table))
    sent: list[Any] = []

    def start(body: Any) -> Reply:
        sent.append(body)
        return Reply(202, None, {"Location": h.graph.url + seed.EXPORT_PATH})

    h.graph.on("POST", EXPORT, start)
    done = {**seed.data_export("complete"), "storageLocation": ANSWERED}
    h.graph.script(seed.EXPORT_PATH, [Reply(200, seed.data_export("running")), Reply(200, done)])
    doc = {"request": {"method": "POST", "url": EXPORT, "body": {"storageLocation": SAS}},
           "callbackUrl": h.stack.callback_url()}  # fmt: skip
    answer = requests.post(h.api("start"), json=doc, headers={"Idempotency-Key": table}, timeout=patience(10))
    assert answer.status_code == 202, answer.text
    tracking = answer.json()["trackingId"]
    h.run()

    # The sinks get what the caller is owed: Graph's own link, as Graph sent it.
    [callback] = h.receiver.delivered()
    assert callback.body["operation"]["storageLocation"] == ANSWERED and callback.body["resource"] == ANSWERED
    assert sent == [{"storageLocation": SAS}]  # and Graph got the caller's SAS, as the caller sent it

    rows = list(TableClient.from_connection_string(h.env["AzureWebJobsStorage"], table).list_entities())
    view = requests.get(h.api(f"operations/{tracking}"), timeout=patience(10))
    page = get(h, f"trackings/{tracking}", headers=sign_in.headers())
    status = graphops(cli_settings(h, tmp_path), "status", tracking, "--json")
    h.graph.script(seed.EXPORT_PATH, [Reply(200, done)])
    watched = graphops(cli_settings(h, tmp_path), "watch", h.graph_url(seed.EXPORT_PATH), "--json")
    assert view.status_code == 200 and page.status_code == 200 and status.returncode == 0, status.stderr
    assert watched.returncode == 0, watched.stderr
    shown = {"state": json.dumps([dict(r) for r in rows], default=str), "status view": view.text, "console": page.text,
             "graphops status": status.stdout, "graphops watch": watched.stdout, "logs": caplog.text}  # fmt: skip
    assert [surface for surface, text in shown.items() if KEY in text] == []  # surfaces that show the signature
    assert "storageLocation" in view.text and "signed: withheld" in view.json()["operation"]["storageLocation"]
    assert view.json()["resource"].startswith("https://contoso.blob.core.windows.net/exports/adele?(signed")
    assert tracking in page.text and "contoso.blob.core.windows.net/exports/adele" in page.text


def test_a_dead_letters_sas_is_withheld_on_the_poison_page_and_in_the_cli(
    make_harness: Any, tmp_path: Path, sign_in: ConsoleSignIn
) -> None:
    h: Harness = make_harness(
        **sign_in.settings(**{**SETTINGS, "GRAPHOPS_START_ACTIONS": ""})
    )  # the start is refused: a dead letter
    start = {"method": "POST", "url": EXPORT, "body": {"storageLocation": SAS}}
    shown = dead_letter_as_shown(h, {"start": start, "callbackUrl": h.stack.callback_url()}, KEY, tmp_path, sign_in)
    assert "contoso.blob.core.windows.net/exports?(signed: withheld" in shown


def dead_letter_as_shown(h: Harness, message: Any, key: str, tmp_path: Path, sign_in: ConsoleSignIn) -> str:
    """Put ``message`` on the queue to be dead-lettered; check that no screen of the poison queue (the console's
    page, `graphops poison list` and `show`) shows ``key``, and return the entry's original as `list` shows it."""
    h.send_raw(json.dumps(message))
    h.run()
    [entry] = h.poison()
    assert key in entry["original"]  # the queue itself holds the message as it was sent ...
    page = get(h, "poison", headers=sign_in.headers())
    listed = graphops(cli_settings(h, tmp_path), "poison", "list", "--json")
    [shown_entry] = json.loads(listed.stdout)
    one = graphops(cli_settings(h, tmp_path), "poison", "show", shown_entry["id"])
    assert page.status_code == 200 and listed.returncode == 0 and one.returncode == 0, one.stderr
    shown = {"poison page": page.text, "poison list": listed.stdout, "poison show": one.stdout}
    assert [surface for surface, text in shown.items() if key in text] == []  # ... and no screen shows it
    return str(shown_entry["original"])


# A sensitivity label assignment's monitor, as its reference page writes it: `tempAuth=`, in camel case.
LABEL_MONITOR = "/_api/v2.0/monitor/QXNzaWduU2Vuc2l0aXZpdHlMYWJlbCxiMzc3ODY3OS04OWQ3LTRkYmYtYjg0MC1jYWM1NzRhY2FlNmE"
TEMP_AUTH = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.label-monitor-credential"  # only the monitor may ever see it


def test_a_sensitivity_label_monitors_camel_case_temp_auth_is_shown_nowhere(
    make_harness: Any, stack: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture, sign_in: ConsoleSignIn
) -> None:
    from ..conftest import SECRETS

    SECRETS.add(TEMP_AUTH)  # the session's log and span watch now fails the run if it ever appears
    caplog.set_level(logging.DEBUG)
    table = own_state_table()
    h: Harness = make_harness(**sign_in.settings(**sink_settings(stack), GRAPHOPS_STATE_TABLE=table))
    sharepoint = h.stack.sharepoint
    running, done = {"status": "inProgress", "percentageComplete": 40.0}, {"status": "completed"}
    sharepoint.script(LABEL_MONITOR, [Reply(200, running), Reply(200, done)])
    monitor = f"{sharepoint.url}{LABEL_MONITOR}?tempAuth={TEMP_AUTH}"
    doc = {"operationUrl": monitor, "callbackUrl": h.stack.callback_url()}
    answer = requests.post(h.api("operations"), json=doc, timeout=patience(10))
    assert answer.status_code == 202, answer.text
    tracking = answer.json()["trackingId"]
    h.run()

    # The monitor got its credential as Graph wrote it, and never a token.
    assert [(c.query, c.authorization) for c in sharepoint.calls] == [(f"tempAuth={TEMP_AUTH}", None)] * 2
    [callback] = h.receiver.delivered()
    assert (callback.body["kind"], callback.body["outcome"]) == ("driveItemCopy", "succeeded")
    assert callback.body["operationUrl"].startswith(sharepoint.url + LABEL_MONITOR)
    [event] = h.stack.eventgrid.events
    [queued] = h.results()
    rows = list(TableClient.from_connection_string(h.env["AzureWebJobsStorage"], table).list_entities())
    view = requests.get(h.api(f"operations/{tracking}"), timeout=patience(10))
    page = get(h, f"trackings/{tracking}", headers=sign_in.headers())
    listing = get(h, "", headers=sign_in.headers())
    settings = cli_settings(h, tmp_path)
    status, listed = graphops(settings, "status", tracking, "--json"), graphops(settings, "list", "--json")
    sharepoint.script(LABEL_MONITOR, [Reply(200, done)])
    watched = graphops(settings, "watch", monitor, "--json")
    assert [r.returncode for r in (status, listed, watched)] == [0, 0, 0], (status.stderr, listed.stderr)
    assert view.status_code == page.status_code == listing.status_code == 200
    shown = {"POST /api/operations": answer.text, "status view": view.text, "console tracking": page.text,
             "console list": listing.text, "graphops status": status.stdout, "graphops list": listed.stdout,
             "graphops watch": watched.stdout, "callback": json.dumps(callback.body), "event": json.dumps(event),
             "results queue": json.dumps(queued), "state": json.dumps([dict(r) for r in rows], default=str),
             "logs": caplog.text}  # fmt: skip
    assert [surface for surface, text in shown.items() if TEMP_AUTH in text] == []  # surfaces that show it
    assert all(tracking in text for text in (page.text, listing.text, listed.stdout))  # each shows this tracking
    assert LABEL_MONITOR in view.json()["operationUrl"] and event["subject"] == LABEL_MONITOR  # and its monitor


def test_a_dead_letters_camel_case_temp_auth_is_withheld_on_the_poison_page_and_in_the_cli(
    make_harness: Any, tmp_path: Path, sign_in: ConsoleSignIn
) -> None:
    h: Harness = make_harness(**sign_in.settings(GRAPHOPS_MONITOR_ALLOWED_HOSTS="*.sharepoint.com"))
    monitor = f"{h.stack.sharepoint.url}{LABEL_MONITOR}?tempAuth={TEMP_AUTH}"  # not an allowed host: dead-lettered
    message = {"operationUrl": monitor, "callbackUrl": h.stack.callback_url()}
    assert LABEL_MONITOR in dead_letter_as_shown(h, message, TEMP_AUTH, tmp_path, sign_in)
