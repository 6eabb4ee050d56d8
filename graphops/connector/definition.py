"""The connector's two files, apiDefinition.swagger.json (Swagger 2.0, as Power Platform requires) and
apiProperties.json, built from graphops' OpenAPI 3 document and its start actions. Pure: no I/O here.

The designer shows one card per operation, so operations the API serves at one path get a path of their own in
the connector ("Track an operation" at /operations/track, each start action at /start/{name}), and the
connector's route policy (``routerequesttoendpoint``) sends them to graphops' path.
"""

from __future__ import annotations

import copy
import json
import re
from typing import Any

from graphops.graph.actions import ACTIONS, StartAction

API_DEFINITION = "apiDefinition.swagger.json"
API_PROPERTIES = "apiProperties.json"
#: A placeholder: the function app's host is set on import (docs/connector.md).
HOST = "your-function-app.azurewebsites.net"
TRIGGER = "WhenAGraphOperationEnds"
NOTIFICATION_FIELD = "callbackUrl"
# How the designer names graphops' fields (otherwise their names, split at capitals).
SUMMARIES = {
    "operationUrl": "Operation URL",
    "callbackUrl": "Callback URL",
    "correlationId": "Correlation ID",
    "timeoutSeconds": "Timeout (seconds)",
    "waitForResource": "Wait for the created resource",
    "traceparent": "Trace parent (W3C)",
    "trackingId": "Tracking ID",
    "statusUrl": "Status URL",
}
# Fields a flow author sets on a card; the rest are under "Show advanced options".
IMPORTANT = frozenset({"operationUrl", "url", "body"})


def connector_files(openapi: dict[str, Any]) -> dict[str, str]:
    """Each file's name and text, as `graphops connector` writes it and the tests compare it."""
    definition, routes = api_definition(openapi)
    return {API_DEFINITION: _text(definition), API_PROPERTIES: _text(api_properties(routes))}


def api_definition(openapi: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """The Swagger 2.0 definition, and the routes: each connector operation id whose path is not graphops' own,
    with graphops' path (under /api) it is sent to."""
    schemas = openapi["components"]["schemas"]
    operations = {op["operationId"]: op for path in openapi["paths"].values() for op in path.values()
                  if isinstance(op, dict)}  # fmt: skip
    routes: dict[str, str] = {}
    accepted = _accepted_responses(operations["subscribe"]["responses"], openapi)
    paths: dict[str, Any] = {
        "/operations": {
            "post": _trigger(schemas["TrackRequest"], accepted),
            "x-ms-notification-content": {
                "description": "The tracking's outcome, as graphops' signed callback carries it",
                "schema": {"$ref": "#/definitions/Callback"},
            },
        },
        "/operations/track": {"post": _track(schemas["TrackRequest"], operations["subscribe"], accepted)},
        "/operations/{trackingId}": {
            "get": _by_id(operations["status"], "GetStatus", "Get status", {"$ref": "#/definitions/TrackingState"}),
            "delete": _by_id(operations["cancel"], "Cancel", "Cancel", {"$ref": "#/definitions/TrackingState"}),
        },
    }
    routes["TrackAnOperation"] = "/operations"
    for action in ACTIONS.values():
        operation_id = f"Start_{action.name}"
        paths[f"/start/{action.name}"] = {"post": _start(action, operation_id, schemas["StartRequest"], accepted)}
        routes[operation_id] = "/start"
    definition: dict[str, Any] = {
        "swagger": "2.0",
        "info": {
            "title": "graphops",
            "description": "Wait on Microsoft Graph long-running operations, and get called back when they end.",
            "version": openapi["info"]["version"],
        },
        "host": HOST,
        "basePath": "/api",
        "schemes": ["https"],
        "consumes": ["application/json"],
        "produces": ["application/json"],
        "paths": paths,
        "definitions": {name: _swagger_schema(schemas[name]) for name in ("Accepted", "TrackingState", "Problem")}
        | {"Callback": _callback_schema(schemas["TrackingState"])},
        "securityDefinitions": {
            "api_key": {
                "type": "apiKey",
                "in": "header",
                "name": "x-functions-key",
                "description": "The graphops function key",
            },
        },
        "security": [{"api_key": []}],
        "tags": [],
    }
    return definition, routes


def api_properties(routes: dict[str, str]) -> dict[str, Any]:
    """apiProperties.json: the function key as the connection's one parameter, and the routes as policies."""
    return {
        "properties": {
            "connectionParameters": {
                "api_key": {
                    "type": "securestring",
                    "uiDefinition": {
                        "displayName": "Function key",
                        "description": "The graphops function app's key (App keys in the Azure portal)",
                        "tooltip": "Provide the function key: az functionapp keys list",
                        "constraints": {"tabIndex": 2, "clearText": False, "required": "true"},
                    },
                }
            },
            "iconBrandColor": "#0078D4",
            "capabilities": [],
            "policyTemplateInstances": [
                {
                    "templateId": "routerequesttoendpoint",
                    "title": f"Send {operation_id} to {path}",
                    "parameters": {
                        "x-ms-apimTemplate-operationName": [operation_id],
                        "x-ms-apimTemplateParameter.newPath": path,
                        "x-ms-apimTemplateParameter.httpMethod": "@Request.OriginalHTTPMethod",
                    },
                }
                for operation_id, path in routes.items()
            ],
            "publisher": "graphops",
            "stackOwner": "graphops",
        }
    }


def _trigger(track: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    body = _body_schema(track, internal={NOTIFICATION_FIELD})
    body["properties"][NOTIFICATION_FIELD]["x-ms-notification-url"] = True
    body["properties"].pop("notify")  # the flow is always called back (beside the deployment's sinks)
    body["required"] = sorted({*body.get("required", []), NOTIFICATION_FIELD})
    return {
        "operationId": TRIGGER,
        "summary": "When a Graph operation ends",
        "description": "Runs the flow once, when the Graph operation at the Operation URL ends (succeeded, failed, "
        "timed out...). Removing the trigger cancels the tracking.",
        "x-ms-trigger": "single",
        "x-ms-visibility": "important",
        "parameters": [_body_parameter(body)],
        "responses": accepted,
    }


def _track(track: dict[str, Any], subscribe: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": "TrackAnOperation",
        "summary": "Track an operation",
        "description": "Tracks a Graph operation; its outcome goes to the callback URL or the deployment's other "
        "sinks (events, a results queue).",
        "x-ms-visibility": "important",
        "parameters": [_idempotency_key(subscribe, required=False), _body_parameter(_body_schema(track))],
        "responses": accepted,
    }


def _start(action: StartAction, operation_id: str, start: dict[str, Any], accepted: dict[str, Any]) -> dict[str, Any]:
    body = _body_schema(start)
    request = body["properties"]["request"]
    request["x-ms-visibility"] = "important"
    fields = request["properties"]
    fields["method"] = {"type": "string", "enum": [action.method], "default": action.method,
                        "x-ms-visibility": "internal", "x-ms-summary": "Method"}  # fmt: skip
    version = "v1.0" if "v1.0" in action.versions else "beta"
    shapes = [f"/{version}/" + "/".join(path) for path in action.paths]
    fields["url"] = {
        "type": "string",
        "x-ms-summary": "Graph URL",
        "x-ms-visibility": "important",
        "description": "The path to send it to, its ids filled in: " + " or ".join(shapes),
    }
    if action.body.fields:
        fields["body"] = {
            "type": "object",
            "x-ms-summary": "Body",
            "x-ms-visibility": "important",
            "description": f"The request body, as Graph's {action.reference} page lists it",
            "properties": {
                name: {"type": kind, "x-ms-summary": _summary(name)} for name, kind in action.body.fields.items()
            },
        }
        if action.body.required:
            fields["body"]["required"] = sorted(action.body.required)
            request["required"] = sorted({*request["required"], "body"})
    else:
        fields.pop("body")  # it takes none: a body would be refused
    return {
        "operationId": operation_id,
        "summary": f"Start and track: {action.name}",
        "description": f"Sends {action.method} {shapes[0]} with graphops' identity (it needs {action.permission}, "
        f"and GRAPHOPS_START_ACTIONS must name {action.name}), then tracks the operation it starts. "
        f"https://learn.microsoft.com/graph/api/{action.reference}",
        "x-ms-visibility": "important",
        "parameters": [_idempotency_key(None, required=True), _body_parameter(body)],
        "responses": accepted,
    }


def _by_id(operation: dict[str, Any], operation_id: str, summary: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": operation["summary"],
        "parameters": [{"name": "trackingId", "in": "path", "required": True, "type": "string",
                        "x-ms-summary": "Tracking ID", "description": "The tracking id a subscribe or start answered"}],
        "responses": {"200": {"description": "The tracking", "schema": schema},
                      "404": {"description": "No such tracking", "schema": {"$ref": "#/definitions/Problem"}}},
    }  # fmt: skip


def _idempotency_key(operation: dict[str, Any] | None, required: bool) -> dict[str, Any]:
    described = next((p["description"] for p in (operation or {}).get("parameters", [])
                      if p["name"] == "Idempotency-Key"), None)  # fmt: skip
    return {
        "name": "Idempotency-Key",
        "in": "header",
        "required": required,
        "type": "string",
        "maxLength": 200,
        "x-ms-summary": "Idempotency key",
        "x-ms-visibility": "important" if required else "advanced",
        "description": described or "One key per start, e.g. the run's id: a retry with it never starts twice",
    }


def _body_parameter(schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": "body", "in": "body", "required": True, "schema": schema}


def _body_schema(schema: dict[str, Any], internal: frozenset[str] | set[str] = frozenset()) -> dict[str, Any]:
    """A request body from graphops' schema, each field named as the designer shows it."""
    body: dict[str, Any] = _swagger_schema(schema)
    for name, field in body["properties"].items():
        field["x-ms-summary"] = _summary(name)
        field["x-ms-visibility"] = "internal" if name in internal else "important" if name in IMPORTANT else "advanced"
    return body


def _accepted_responses(responses: dict[str, Any], openapi: dict[str, Any]) -> dict[str, Any]:
    """The subscribe's answers that start a tracking, with its Location: where the platform sends its DELETE."""
    shared = openapi["components"]["responses"]["Accepted"]
    location = {"type": "string", "description": "The tracking's URL: DELETE it to cancel (unsubscribe)"}
    return {
        status: {"description": shared["description"], "headers": {"Location": location},
                 "schema": {"$ref": "#/definitions/Accepted"}}
        for status in sorted(responses) if status.startswith("2")
    }  # fmt: skip


def _callback_schema(state: dict[str, Any]) -> dict[str, Any]:
    """The callback's body: the tracking's state fields it carries (docs/callback.md), named for the designer."""
    schema = _swagger_schema(state)
    carried = ("trackingId", "outcome", "kind", "operationUrl", "resource", "progress", "details", "resourceReady",
               "operation", "error", "correlationId", "context", "polls")  # fmt: skip
    properties = {name: schema["properties"].get(name, {"type": "object"}) for name in carried}
    for name, field in properties.items():
        field["x-ms-summary"] = _summary(name)
    return {"type": "object", "properties": properties}


def _swagger_schema(schema: Any) -> Any:
    """An OpenAPI 3 schema as Swagger 2.0 writes it: no ``nullable`` (nor null in an enum), refs to definitions."""
    if isinstance(schema, list):
        return [_swagger_schema(item) for item in schema if item is not None]
    if not isinstance(schema, dict):
        return schema
    converted = {key: _swagger_schema(value) for key, value in copy.deepcopy(schema).items() if key != "nullable"}
    if isinstance(converted.get("$ref"), str):
        converted["$ref"] = converted["$ref"].replace("#/components/schemas/", "#/definitions/")
    return converted


def _summary(name: str) -> str:
    if name in SUMMARIES:
        return SUMMARIES[name]
    words = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", name.split("@", 1)[0]).split()
    return " ".join([words[0].capitalize(), *(w.lower() for w in words[1:])]) if words else name


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
