"""Property-based run of the HTTP API against its OpenAPI document: no 5xx, no answer that breaks it."""

from __future__ import annotations

import json
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ..patience import patience
from .conftest import ROOT, Harness

DOCUMENT = ROOT / "graphops" / "openapi.json"
schema = schemathesis.openapi.from_path(str(DOCUMENT))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]  # fmt: skip


def test_the_served_document_is_the_one_in_the_repository(harness: Harness) -> None:
    served = requests.get(harness.api("openapi.json"), timeout=patience(10))
    assert served.status_code == 200 and served.json() == json.loads(Path(DOCUMENT).read_text())


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_keeps_to_its_document(case: schemathesis.Case, harness: Harness) -> None:
    case.call_and_validate(base_url=harness.api().rstrip("/"), checks=CHECKS, timeout=patience(10))


def _declared(name: str) -> set[str]:
    return set(json.loads(DOCUMENT.read_text())["components"]["schemas"][name]["properties"])


def _every_field_name() -> set[str]:
    """Every field name graphops knows of anywhere: each schema's, and the ones its own sealed messages carry."""
    from graphops.intake.request import REQUEST_FIELDS, START_FIELDS
    from graphops.storage.seal import INTERNAL_FIELDS

    schemas = json.loads(DOCUMENT.read_text())["components"]["schemas"].values()
    declared = {name for schema in schemas for name in schema.get("properties", {})}
    return declared | REQUEST_FIELDS | START_FIELDS | INTERNAL_FIELDS


# A value each field would take if it were accepted, so only the field's name decides.
PLAUSIBLE: dict[str, object] = {"notBefore": "2026-01-01T00:00:00Z", "trackingId": "t-chosen", "startAttempts": 0,
                                "v": 1, "timeoutSeconds": 60, "waitForResource": False, "select": ["status"],
                                "context": {"a": 1}, "correlationId": "c"}  # fmt: skip


@given(extra=st.sampled_from(sorted(_every_field_name())) | st.text(min_size=1, max_size=20))
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_field_the_api_accepts_is_one_its_document_declares(harness: Harness, extra: str) -> None:
    declared = _declared("TrackRequest")
    body = {"operationUrl": harness.graph_url("/beta/identityGovernance/roleManagementAlerts/operations/refresh:x"),
            "callbackUrl": harness.stack.callback_url()}  # fmt: skip
    if extra in body:
        return
    answer = requests.post(harness.api("operations"), json={**body, extra: PLAUSIBLE.get(extra, "x")},
                           timeout=patience(10))  # fmt: skip
    assert answer.status_code in {200, 202, 400}, answer.text
    if answer.status_code != 400:
        assert extra in declared, f"the API accepted {extra!r}, which graphops/openapi.json does not declare"
    else:
        assert extra in [e["field"] for e in answer.json()["errors"]], answer.text  # refused, naming the field
