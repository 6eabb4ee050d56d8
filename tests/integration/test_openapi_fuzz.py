"""schemathesis against the API as the local runner serves it (function_app.py's HTTP triggers): requests
generated from graphops/openapi.json. No answer may be a server error, and every answer must be one the
document declares, with the declared content type, headers and body schema."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from .conftest import ROOT, Harness

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]  # fmt: skip
EXAMPLES = 200  # per operation: all of them in about half a minute on two cores


def test_every_schema_valid_request_gets_a_declared_answer(make_harness: Any) -> None:
    harness: Harness = make_harness(GRAPHOPS_START_ACTIONS="teamClone,roleManagementAlertRefresh")
    base = harness.api("").rstrip("/")
    schema = schemathesis.openapi.from_path(ROOT / "graphops" / "openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 7

    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
        def answered_as_declared(case: Any) -> None:
            case.call_and_validate(base_url=base, checks=CHECKS)

        answered_as_declared()
