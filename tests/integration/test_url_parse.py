"""Through the HTTP API, every field that takes a URL refuses text URL parsers read as different hosts, naming the
field, and nothing is queued or sent to Graph: the storage location of a personal data export, a start's URL, a
callback URL, an operation URL on the Graph host and a drive-copy monitor URL."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests

from graphops.local import seed

from ..patience import patience
from ..url_spellings import HOSTILE, spell
from .conftest import Harness

EXPORT = "/v1.0/users/u1/exportPersonalData"
MONITOR_PATH = "/_api/v2.0/monitor/4A3407B5-88FC-4504-8B21-0AABD3412717"


def hostile(origin: str, path: str) -> list[str]:
    """Each hostile spelling around ``origin``'s host (scheme, host and port of a stand-in, or a real host)."""
    parts = urlsplit(origin)
    return [spell(template, parts.scheme, parts.netloc, path) for template in HOSTILE]


def refused(h: Harness, route: str, doc: dict[str, Any], field: str, key: str) -> None:
    answer = requests.post(h.api(route), json=doc, headers={"Idempotency-Key": key}, timeout=patience(10))
    assert answer.status_code == 400, (doc, answer.text)
    assert [e["field"] for e in answer.json()["errors"]] == [field], (doc, answer.text)


def test_every_url_field_of_the_api_refuses_what_parsers_read_differently(make_harness: Any) -> None:
    h: Harness = make_harness(
        GRAPHOPS_START_ACTIONS="personalDataExport,teamArchive", GRAPHOPS_EXPORT_STORAGE_ACCOUNTS="good"
    )
    operation, callback = h.graph_url(seed.ALERT_OPERATION_PATH), h.stack.callback_url()
    # The control: the same routes take the fields' own hosts.
    taken = requests.post(h.api("operations"), json={"operationUrl": operation, "callbackUrl": callback},
                          timeout=patience(10))  # fmt: skip
    assert taken.status_code == 202, taken.text
    queued = h.host.pending()

    for n, url in enumerate(hostile("https://good.blob.core.windows.net", "/exports")):
        start = {"method": "POST", "url": EXPORT, "body": {"storageLocation": url}}
        refused(h, "start", {"request": start, "callbackUrl": callback}, "request.body.storageLocation", f"s{n}")
    for n, url in enumerate(hostile(h.graph.url, f"/v1.0/teams/{seed.TEAM_ID}/archive")):
        refused(
            h, "start", {"request": {"method": "POST", "url": url}, "callbackUrl": callback}, "request.url", f"u{n}"
        )
    callback_path = urlsplit(callback).path + "?" + urlsplit(callback).query
    for n, url in enumerate(hostile(h.stack.receiver.url, callback_path)):
        refused(h, "operations", {"operationUrl": operation, "callbackUrl": url}, "callbackUrl", f"c{n}")
    for n, url in enumerate(hostile(h.graph.url, seed.ALERT_OPERATION_PATH) + hostile(h.stack.sharepoint.url,
                                                                                        MONITOR_PATH)):  # fmt: skip
        refused(h, "operations", {"operationUrl": url, "callbackUrl": callback}, "operationUrl", f"o{n}")

    assert h.host.pending() == queued  # nothing refused was queued ...
    assert h.graph.total_calls() == 0  # ... nor sent to Graph
