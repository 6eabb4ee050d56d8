"""The custom connector in connector/: what `graphops connector` makes from the API document and the start actions,
valid against Microsoft's published connector schemas, and true to graphops' API in what no schema can say."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from graphops.connector.definition import (
    API_DEFINITION,
    API_PROPERTIES,
    NOTIFICATION_FIELD,
    TRIGGER,
    connector_files,
)
from graphops.graph.actions import ACTIONS

ROOT = Path(__file__).resolve().parents[2]
CONNECTOR = ROOT / "connector"
OPENAPI = json.loads((ROOT / "graphops" / "openapi.json").read_text())
SCHEMAS = {API_DEFINITION: "apiDefinition.swagger.schema.json", API_PROPERTIES: "paconn-apiProperties.schema.json"}
METHODS = ("get", "put", "post", "delete", "patch", "options", "head")


def without_comments(text: str) -> str:
    """JSON with the `//` and `/* */` comments the published schemas carry taken out (not inside strings)."""
    token = re.compile(r'"(?:\\.|[^"\\])*"|//[^\n]*|/\*.*?\*/', re.S)
    return token.sub(lambda m: m.group(0) if m.group(0).startswith('"') else "", text)


def published_schema(name: str) -> dict[str, Any]:
    return json.loads(without_comments((CONNECTOR / "schemas" / SCHEMAS[name]).read_text()))  # type: ignore[no-any-return]


def checked_in(name: str) -> dict[str, Any]:
    return json.loads((CONNECTOR / name).read_text())  # type: ignore[no-any-return]


def operations(definition: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, op) for path, item in definition["paths"].items()
            for method, op in item.items() if method in METHODS]  # fmt: skip


def test_the_checked_in_connector_is_what_graphops_connector_makes() -> None:
    made = connector_files(OPENAPI)
    stale = [name for name, text in made.items() if (CONNECTOR / name).read_text() != text]
    assert not stale, f"{stale} differ from what the API makes: run `graphops connector` and commit connector/"


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_the_connector_is_valid_against_the_published_schema(name: str) -> None:
    schema = published_schema(name)
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}" for e in validator.iter_errors(checked_in(name))
    ]
    assert not errors, errors


def test_the_published_schema_refuses_what_the_platform_refuses() -> None:
    """The kept schema is the one that checks: a trigger kind or a key location Power Platform does not know fails."""
    schema = published_schema(API_DEFINITION)
    definition = checked_in(API_DEFINITION)
    definition["paths"]["/operations"]["post"]["x-ms-trigger"] = "multiple"
    definition["securityDefinitions"]["api_key"]["in"] = "cookie"
    assert len(list(jsonschema.validators.validator_for(schema)(schema).iter_errors(definition))) == 2


def test_every_operation_id_is_unique() -> None:
    ids = [op["operationId"] for _, _, op in operations(checked_in(API_DEFINITION))]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_every_operation_reaches_a_route_graphops_serves() -> None:
    """Each operation's path and method, or the path its route policy sends it to, is one in graphops' API."""
    routes = {
        name: policy["parameters"]["x-ms-apimTemplateParameter.newPath"]
        for policy in checked_in(API_PROPERTIES)["properties"]["policyTemplateInstances"]
        if policy["templateId"] == "routerequesttoendpoint"
        for name in policy["parameters"]["x-ms-apimTemplate-operationName"]
    }
    served = {(path, method) for path, item in OPENAPI["paths"].items() for method in item if method in METHODS}
    sent = {
        (routes.get(op["operationId"], path), method) for path, method, op in operations(checked_in(API_DEFINITION))
    }
    assert sent - served == set()
    assert checked_in(API_DEFINITION)["basePath"] == "/api" == OPENAPI["servers"][0]["url"]


def test_the_trigger_sends_the_platforms_notification_url_as_the_callback() -> None:
    definition = checked_in(API_DEFINITION)
    [trigger] = [(path, op) for path, _, op in operations(definition) if "x-ms-trigger" in op]
    path, op = trigger
    assert (path, op["operationId"], op["summary"], op["x-ms-trigger"]) == (
        "/operations", TRIGGER, "When a Graph operation ends", "single")  # fmt: skip
    [body] = [p for p in op["parameters"] if p["in"] == "body"]
    marked = [name for name, field in body["schema"]["properties"].items() if field.get("x-ms-notification-url")]
    assert marked == [NOTIFICATION_FIELD] == ["callbackUrl"]
    assert body["schema"]["properties"]["callbackUrl"]["x-ms-visibility"] == "internal"
    assert {"operationUrl", "callbackUrl"} <= set(body["schema"]["required"])
    assert all("Location" in answer["headers"] for answer in op["responses"].values())  # where the DELETE goes
    assert set(op["responses"]) == {s for s in OPENAPI["paths"]["/operations"]["post"]["responses"] if s[0] == "2"}


def test_there_is_one_start_per_action_with_its_body_fields() -> None:
    starts = {op["operationId"]: op for _, _, op in operations(checked_in(API_DEFINITION))
              if op["operationId"].startswith("Start_")}  # fmt: skip
    assert sorted(starts) == sorted(f"Start_{name}" for name in ACTIONS)
    for name, action in ACTIONS.items():
        [body] = [p for p in starts[f"Start_{name}"]["parameters"] if p["in"] == "body"]
        request = body["schema"]["properties"]["request"]["properties"]
        fields = request.get("body", {}).get("properties", {})
        assert {f: s["type"] for f, s in fields.items()} == dict(action.body.fields), name
        assert set(request.get("body", {}).get("required", [])) == action.body.required, name
        assert request["method"]["enum"] == [action.method], name


def test_the_function_key_is_the_connections_api_key() -> None:
    definition, properties = checked_in(API_DEFINITION), checked_in(API_PROPERTIES)
    [(name, scheme)] = definition["securityDefinitions"].items()
    assert (name, scheme["type"], scheme["in"], scheme["name"]) == ("api_key", "apiKey", "header", "x-functions-key")
    assert definition["security"] == [{"api_key": []}]
    key = properties["properties"]["connectionParameters"]["api_key"]
    assert (key["type"], key["uiDefinition"]["displayName"]) == ("securestring", "Function key")


def test_the_designer_names_every_card_the_issue_asks_for() -> None:
    summaries = {op["summary"] for _, _, op in operations(checked_in(API_DEFINITION))}
    assert {"When a Graph operation ends", "Track an operation", "Get status", "Cancel"} <= summaries
