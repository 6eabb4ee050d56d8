"""Property-based run of the HTTP API against its OpenAPI document: no 5xx, no answer that breaks it."""

from __future__ import annotations

import json
from pathlib import Path

import requests
import schemathesis
from hypothesis import HealthCheck, settings
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
