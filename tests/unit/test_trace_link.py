"""A tracking's link to its trace in the portal: built from the deployment's settings and a checked trace id only."""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from graphops.console.trace import trace_url
from graphops.storage.state_view import trace_id_of

RESOURCE = "/subscriptions/00000000-1111-2222-3333-444444444444/resourceGroups/rg-graphops/providers/microsoft.insights/components/appi-x1"  # noqa: E501
TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"


def test_the_link_opens_the_trace_in_the_portals_transaction_view() -> None:
    url = trace_url(RESOURCE, TRACE)
    assert url is not None and url.startswith(
        "https://portal.azure.com/#blade/AppInsightsExtension/TransactionDetailsV2Blade/ComponentId/"
    )
    component, model = url.split("/ComponentId/")[1].split("/DataModel/")
    assert unquote(component) == RESOURCE and "/" not in component  # one path part, encoded
    assert unquote(model) == '{"eventId":"4bf92f3577b34da6a3ce929d0e0e4736"}'
    assert trace_url(
        RESOURCE,
        TRACE,
        "usgov",
    ).startswith("https://portal.azure.us/")  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "trace",
    [None, "", "0" * 32, TRACE.upper(), TRACE[:-1], TRACE + "0", '4bf92f3577b34da6a3ce929d0e0e473"',
     "javascript:alert(1)", 12345],
)  # fmt: skip
def test_no_link_without_a_trace_id_of_32_hex_digits(trace: object) -> None:
    assert trace_url(RESOURCE, trace) is None


@pytest.mark.parametrize(
    "resource",
    [None, "", "appi-x1", RESOURCE + "/../../evil", RESOURCE.replace("microsoft.insights", "microsoft.web"),
     "https://evil.example" + RESOURCE, RESOURCE + "?x=1"],
)  # fmt: skip
def test_no_link_without_an_application_insights_resource_id(resource: str | None) -> None:
    assert trace_url(resource, TRACE) is None


def test_the_trace_id_is_read_from_the_trackings_traceparent() -> None:
    assert trace_id_of(f"00-{TRACE}-00f067aa0ba902b7-01") == TRACE
    assert trace_id_of(None) is None and trace_id_of("00-" + "0" * 32 + "-00f067aa0ba902b7-01") is None
    assert trace_id_of(f"01-{TRACE}-00f067aa0ba902b7-01") is None
