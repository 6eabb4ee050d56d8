"""graphops/openapi.json says what the API accepts: requests it is sure to refuse are not schema-valid."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from graphops.envelope.wire import TRACEPARENT

DOC = json.loads((Path(__file__).resolve().parents[2] / "graphops" / "openapi.json").read_text())
SCHEMAS = DOC["components"]["schemas"]
REFRESH = {"scopeId": "/", "scopeType": "DirectoryRole", "callbackUrl": "https://x"}
GOOD_TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def valid(schema: str, doc: dict[str, Any]) -> bool:
    return jsonschema.Draft202012Validator(SCHEMAS[schema]).is_valid(doc)


@pytest.mark.parametrize(
    ("schema", "doc"),
    [
        ("TrackRequest", {"operationUrl": ""}),
        ("TrackRequest", {"operationUrl": "/v1.0/x", "callbackUrl": ""}),
        ("TrackRequest", {"operationUrl": "/v1.0/x", "traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"}),
        ("TrackRequest", {"operationUrl": "/v1.0/x", "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16
                                                                    + "-01"}),
        ("StartRefreshRequest", {**REFRESH, "alertId": ""}),
        ("StartRefreshRequest", {**REFRESH, "scopeId": ""}),
        ("StartRefreshRequest", {**REFRESH, "callbackUrl": ""}),
    ],
)  # fmt: skip
def test_requests_the_api_refuses_are_not_schema_valid(schema: str, doc: dict[str, Any]) -> None:
    assert not valid(schema, doc)


def test_the_schema_accepts_what_the_api_accepts() -> None:
    assert valid(
        "TrackRequest", {"operationUrl": "/v1.0/x", "callbackUrl": "https://x", "traceparent": GOOD_TRACEPARENT}
    )
    assert valid("StartRefreshRequest", {"scopeId": "/", "scopeType": "DirectoryRole", "callbackUrl": "https://x",
                                         "alertId": "TooManyGlobalAdminsAssignedToTenantAlert"})  # fmt: skip
    pattern = SCHEMAS["TrackRequest"]["properties"]["traceparent"]["pattern"]
    assert pattern == f"^{TRACEPARENT.pattern}$"  # the schema's pattern is the code's
