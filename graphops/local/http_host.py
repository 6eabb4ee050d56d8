"""HTTP triggers served on loopback the way ``func start`` serves them: ``/api/<route>``.

Function keys are not checked, as with the Core Tools; in Azure the platform checks them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import azure.functions as func

from graphops.local.httpserver import Response, StandIn, json_response

log = logging.getLogger("graphops.runner")
ROUTE_PREFIX = "/api/"


@dataclass(frozen=True)
class HttpFunction:
    name: str
    route: str
    methods: frozenset[str]
    call: Callable[[func.HttpRequest], Any]

    def match(self, path: str) -> dict[str, str] | None:
        """Route parameters when ``path`` (after /api/) fits the route template, else None."""
        want, got = self.route.strip("/").split("/"), path.strip("/").split("/")
        params: dict[str, str] = {}
        catch_all = re.fullmatch(r"\{\*(\w+)\}", want[-1])
        if catch_all:  # {*rest}: the rest of the path, empty included, as ASP.NET routing takes it
            rest = got[len(want) - 1 :]
            want, got = want[:-1], got[: len(want) - 1]
            params[catch_all.group(1)] = "/".join(rest)
        if len(want) != len(got):
            return None
        for template, segment in zip(want, got, strict=True):
            variable = re.fullmatch(r"\{(\w+)(?::\w+)?\}", template)
            if variable:
                if not segment:
                    return None
                params[variable.group(1)] = segment
            elif template.lower() != segment.lower():
                return None
        return params


class HttpHost(StandIn):
    def __init__(self, functions: list[HttpFunction], port: int = 0) -> None:
        super().__init__(port)
        self.functions = functions

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> Response:
        parts = urlsplit(path)
        if not parts.path.startswith(ROUTE_PREFIX):
            return json_response(404, {"error": "not an /api/ route"})
        route_path = parts.path[len(ROUTE_PREFIX) :]
        allowed: set[str] = set()
        for function in self.functions:
            params = function.match(route_path)
            if params is None:
                continue
            allowed |= function.methods
            if method not in function.methods:
                continue
            request = func.HttpRequest(
                method=method, url=f"{self.url}{path}", headers=headers,
                params=dict(parse_qsl(parts.query)), route_params=params, body=body,
            )  # fmt: skip
            try:
                response = function.call(request)
            except Exception:
                log.exception("function %s failed", function.name)
                return json_response(500, {"error": f"function {function.name} failed"})
            out_headers = {k: v for k, v in response.headers.items() if k.lower() not in {"content-length"}}
            if response.mimetype:
                out_headers.setdefault("Content-Type", response.mimetype)
            return response.status_code, out_headers, response.get_body()
        if allowed:
            return json_response(405, {"error": "method not allowed"}, {"Allow": ", ".join(sorted(allowed))})
        return json_response(404, {"error": "no function has this route"})
