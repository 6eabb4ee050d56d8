"""An `$expand` in an operation URL is refused before Graph is asked, by the API and on the queue."""

from __future__ import annotations

import json

import requests

from graphops.local import seed
from graphops.local.graph import Reply

from ..patience import patience
from .conftest import Harness

CASE_OPERATION = f"/v1.0/security/cases/ediscoveryCases/{seed.CASE_ID}/operations/op-expand"


def test_an_expand_never_reaches_graph(harness: Harness) -> None:
    harness.graph.script(CASE_OPERATION, [Reply(200, {"status": "succeeded"})])
    url = harness.graph_url(CASE_OPERATION) + "?$expand=search($expand=custodianSources)"
    request = {"operationUrl": url, "callbackUrl": harness.stack.callback_url()}
    answer = requests.post(harness.api("operations"), json=request, timeout=patience(10))
    assert answer.status_code == 400 and "operationUrl" in answer.text and "$expand is not allowed" in answer.text
    message_id = harness.send_raw(json.dumps(request))
    harness.run()
    [dead] = harness.poison()
    assert (dead["trackingId"], dead["field"]) == (message_id, "operationUrl") and "$expand" in dead["reason"]
    assert harness.graph.gets(CASE_OPERATION) == []
