"""An operation URL's query: what Graph puts in the kind's Location is kept, `$select` is allowed, and nothing
else reaches Graph: an `$expand` would have graphops read and deliver more than the operation."""

from __future__ import annotations

import pytest

from graphops.common.errors import Rejected
from graphops.graph.kinds import resolve_operation_url

GRAPH = "https://graph.microsoft.com"
RESET = "/v1.0/users/u1/authentication/operations/op1"
CASE = "/v1.0/security/cases/ediscoveryCases/c1/operations/op1"


def test_the_query_graph_puts_in_a_reset_location_is_kept() -> None:
    ref = resolve_operation_url(f"{RESET}?aadgdc=DUB02P&aadgsu=ssprprod-a", GRAPH)
    assert ref.url == f"{GRAPH}{RESET}?aadgdc=DUB02P&aadgsu=ssprprod-a"
    assert resolve_operation_url(f"{RESET}?$select=status", GRAPH).url.endswith("?$select=status")


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (f"{CASE}?$expand=search($expand=custodianSources)", "the OData option $expand is not allowed"),
        (f"{CASE}?%24expand=search", "the OData option $expand is not allowed"),
        (f"{RESET}?aadgdc=DUB02P&$filter=id%20eq%20'x'", "the OData option $filter is not allowed"),
        (f"{RESET}?$top=1", "the OData option $top is not allowed"),
        (f"{CASE}?aadgdc=DUB02P", "the query parameter 'aadgdc' is not one Graph puts in a ediscoveryCaseOperation"),
        (f"{RESET}?api-version=2", "the query parameter 'api-version' is not one Graph puts"),
    ],
)  # fmt: skip
def test_anything_else_in_the_query_is_refused_naming_the_operation_url(url: str, problem: str) -> None:
    with pytest.raises(Rejected) as refused:
        resolve_operation_url(url, GRAPH)
    assert refused.value.field == "operationUrl" and problem in refused.value.problem
