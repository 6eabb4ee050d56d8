"""Every URL a caller gives is read by one parse (graphops.common.urls.parse_url), in the one way Python's urlsplit
and a browser's (WHATWG) parser agree on: text they would read as different hosts is refused, in every field that
takes a URL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from graphops.common.errors import Rejected
from graphops.common.urls import Url, parse_url
from graphops.egress.policy import CallbackPolicy
from graphops.graph.actions import parse_start
from graphops.graph.kinds import resolve_operation_url

from ..url_spellings import HOSTILE, spell

GRAPH = "https://graph.microsoft.com"
RESET = "/v1.0/users/u1/authentication/operations/o1"


@dataclass(frozen=True)
class Field:
    """One field that takes a URL: the host it allows, a path it takes, and how a URL is given to it."""

    name: str
    host: str
    path: str
    give: Callable[[str], object]


def storage(url: str) -> object:
    body = {"storageLocation": url}
    start = {"method": "POST", "url": "/v1.0/users/u1/exportPersonalData", "body": body}
    return parse_start(start, GRAPH, "global", {"personalDataExport"}, export_accounts=frozenset({"good"}))


def start_url(url: str) -> object:
    return parse_start({"method": "POST", "url": url}, GRAPH, "global", {"teamArchive"})


def callback(url: str) -> object:
    return CallbackPolicy(("good.logic.azure.com",)).check_syntax(url)


def operation(url: str) -> object:
    return resolve_operation_url(url, GRAPH)


def monitor(url: str) -> object:
    monitors = CallbackPolicy(("good.sharepoint.com",), field="operationUrl", setting="GRAPHOPS_MONITOR_ALLOWED_HOSTS")
    return resolve_operation_url(url, GRAPH, monitors=monitors)


FIELDS = [
    Field("start.body.storageLocation", "good.blob.core.windows.net", "/exports", storage),
    Field("start.url", "graph.microsoft.com", "/v1.0/teams/t1/archive", start_url),
    Field("callbackUrl", "good.logic.azure.com", "/workflows/1/invoke?sig=x", callback),
    Field("operationUrl", "graph.microsoft.com", RESET, operation),
    Field("operationUrl", "good.sharepoint.com", "/_api/v2.0/monitor/m1", monitor),
]


@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.name}@{f.host}")
def test_the_field_takes_its_own_host(field: Field) -> None:
    # The control: each field takes the allowed host's URL, so a refusal below is for the spelling alone.
    field.give(f"https://{field.host}{field.path}")
    field.give(f"HTTPS://{field.host.upper()}{field.path}")  # scheme and host without case, as every parser reads


@pytest.mark.parametrize("template", HOSTILE)
@pytest.mark.parametrize("field", FIELDS, ids=lambda f: f"{f.name}@{f.host}")
def test_a_url_parsers_read_differently_is_refused_naming_the_field(field: Field, template: str) -> None:
    url = spell(template, "https", field.host, field.path)
    with pytest.raises(Rejected) as raised:
        field.give(url)
    assert raised.value.field == field.name, raised.value


def test_the_storage_location_must_use_the_default_port() -> None:
    storage("https://good.blob.core.windows.net:443/exports")
    with pytest.raises(Rejected, match="allowed storage account"):
        storage("https://good.blob.core.windows.net:8443/exports")


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("https://Good.Example/a%2Fb?x=1", Url("https", "good.example", None, "/a%2Fb", "x=1")),
        ("HTTP://good.example:8080", Url("http", "good.example", 8080, "", "")),
        ("https://[2001:db8::1]:8443/p", Url("https", "2001:db8::1", 8443, "/p", "")),
        ("https://xn--bcher-kva.example/", Url("https", "xn--bcher-kva.example", None, "/", "")),
        ("https://20.38.102.5/cb", Url("https", "20.38.102.5", None, "/cb", "")),
    ],
)
def test_the_parse_returns_the_parts_every_later_check_uses(raw: str, parsed: Url) -> None:
    assert parse_url(raw, "f", 2048) == parsed


def test_a_path_is_read_on_the_base_and_spelled_back_from_its_parts() -> None:
    base = parse_url(GRAPH, "GRAPHOPS_GRAPH_ENDPOINT", 2048)
    url = parse_url(RESET + "?aadgdc=DUB02P", "operationUrl", 2048, base=base)
    assert (url.origin, url.text) == (GRAPH, GRAPH + RESET + "?aadgdc=DUB02P")
    with pytest.raises(Rejected, match="absolute URL"):
        parse_url("//evil.example" + RESET, "operationUrl", 2048, base=base)


@pytest.mark.parametrize("host", ["xn--zz.example", "a_b.example", "-a.example", "a..example", "[::ffff:zz]"])
def test_hosts_only_some_parsers_accept_are_refused(host: str) -> None:
    with pytest.raises(Rejected) as raised:
        parse_url(f"https://{host}/", "callbackUrl", 2048)
    assert raised.value.field == "callbackUrl"
