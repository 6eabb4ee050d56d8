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


@pytest.mark.parametrize(("schema", "start_field", "base"), [
    ("TrackRequest", None, {"operationUrl": "https://graph.microsoft.com/beta/identityGovernance/"
                            "roleManagementAlerts/operations/refresh:x"}),
    ("StartRequest", "request", {"request": {"method": "POST", "url": "/v1.0/teams/dbd8de4f/archive"}}),
])  # fmt: skip
def test_a_field_the_api_checks_a_body_with_accepts_is_one_its_schema_declares(
    schema: str, start_field: str | None, base: dict[str, Any]
) -> None:
    """POST /operations and POST /start check their bodies with request_problems: every field it takes from a caller
    is declared, so notBefore, trackingId and startAttempts (graphops' own sealed start messages') are refused."""
    from graphops.egress.policy import CallbackPolicy
    from graphops.intake.limits import Limits
    from graphops.intake.request import REQUEST_FIELDS, SEALED_START_FIELDS, START_FIELDS, request_problems
    from graphops.storage.seal import INTERNAL_FIELDS

    limits = Limits("https://graph.microsoft.com", CallbackPolicy(("*.logic.azure.com",)), 86400, 30 * 86400,
                    start_actions=frozenset({"teamArchive"}))  # fmt: skip
    plausible = {"notBefore": "2026-01-01T00:00:00Z", "trackingId": "t-1", "startAttempts": 0, "timeoutSeconds": 60,
                 "context": {"a": 1}, "select": ["status"], "waitForResource": False, "notify": ["callback"],
                 "callbackUrl": "https://prod-00.westeurope.logic.azure.com/cb",
                 "traceparent": GOOD_TRACEPARENT}  # fmt: skip
    known = {n for s in SCHEMAS.values() for n in s.get("properties", {})}
    declared = set(SCHEMAS[schema]["properties"])
    assert set(base) <= declared
    for name in sorted(known | REQUEST_FIELDS | START_FIELDS | SEALED_START_FIELDS | INTERNAL_FIELDS | {"x"}):
        doc = {**base, name: plausible.get(name, "x"), "callbackUrl": plausible["callbackUrl"]}
        _, problems = request_problems(doc, limits, start_field)
        if name not in {p.field for p in problems}:
            assert name in declared, f"{schema}: {name!r} is accepted but not declared"
