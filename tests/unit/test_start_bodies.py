"""What a start may send to Graph: ids in Graph's own alphabet, and a body of the fields its reference page lists,
an export only to a storage account the deployment names."""

from __future__ import annotations

from typing import Any

import pytest

from graphops.common.errors import Rejected
from graphops.graph.actions import ACTIONS, parse_start

GRAPH = "https://graph.microsoft.com"
ALL = frozenset(ACTIONS)
TEAM = "dbd8de4f-5d40-4f2d-a4b3-d2a8f3b1c2ea"
EXPORT = "https://contoso.blob.core.windows.net/exports?sv=2024&sig=x"
CHANNEL = "19:v32db348d9264477abcf18ffa2cf76dc@thread.tacv2"


def start(url: str, body: Any = None, method: str = "POST", accounts: frozenset[str] = frozenset({"contoso"})) -> Any:
    raw: dict[str, Any] = {"method": method, "url": url}
    if body is not None:
        raw["body"] = body
    return parse_start(raw, GRAPH, "global", ALL, export_accounts=accounts)


@pytest.mark.parametrize(
    "url",
    [f"/v1.0/teams/{TEAM};x/archive", "/v1.0/teams/a:b/archive", "/v1.0/teams/$ref/archive",
     "/v1.0/teams/caf%C3%A9/archive", "/v1.0/teams/'x'/archive", "/v1.0/users/a%22b/exportPersonalData"],
)  # fmt: skip
def test_an_id_outside_graphs_alphabet_is_refused(url: str) -> None:
    with pytest.raises(Rejected) as refused:
        start(url, {"storageLocation": EXPORT} if "export" in url else None)
    assert refused.value.field == "start.url" and "not an id Graph gives" in refused.value.problem


@pytest.mark.parametrize(
    ("url", "problem"),
    [(f"/v1.0/teams/{TEAM}/channels/19:a;b@thread.tacv2/archive", "not a channel id"),
     (f"/v1.0/teams/{TEAM}/channels/a:b/archive", "not a channel id"),
     (f"/v1.0/teams/{TEAM}/channels/19:a@thread.tacv2:x/archive", "not a channel id"),
     (f"/v1.0/teams/{TEAM}/channels/$ref/unarchive", "not a channel id"),
     ("/v1.0/teams/19:a@thread.tacv2/channels/19:a@thread.tacv2/archive", "not an id Graph gives")],
)  # fmt: skip
def test_a_channel_id_is_read_by_its_own_shape_and_only_in_its_place(url: str, problem: str) -> None:
    with pytest.raises(Rejected) as refused:
        start(url)
    assert refused.value.field == "start.url" and problem in refused.value.problem


@pytest.mark.parametrize(
    "url",
    ["/v1.0/users/adele@contoso.com/exportPersonalData", "/v1.0/drives/b!x9/items/01MOWKYV/copy",
     "/v1.0/sites/contoso.sharepoint.com,2c71,9aa0/contentTypes/addCopyFromContentTypeHub"],
)  # fmt: skip
def test_graphs_own_ids_pass(url: str) -> None:
    body = {"storageLocation": EXPORT} if "export" in url else {"contentTypeId": "0x0101"} if "content" in url else None
    assert start(url, body).url.startswith(GRAPH)


@pytest.mark.parametrize(
    ("url", "body", "field", "problem"),
    [
        (f"/v1.0/teams/{TEAM}/clone", {"displayName": "c"}, "start.body.partsToClone", "required"),
        (f"/v1.0/teams/{TEAM}/clone", {"displayName": "c", "partsToClone": "apps", "owner": "x"},
         "start.body.owner", "not a field this action takes"),
        (f"/v1.0/teams/{TEAM}/clone", {"displayName": 1, "partsToClone": "apps"}, "start.body.displayName",
         "must be a JSON string"),
        (f"/v1.0/teams/{TEAM}/archive", {"shouldSetSpoSiteReadOnlyForMembers": "yes"},
         "start.body.shouldSetSpoSiteReadOnlyForMembers", "must be a JSON boolean"),
        (f"/beta/teams/{TEAM}/unarchive", {"anything": 1}, "start.body.anything", "takes no body"),
        (f"/v1.0/teams/{TEAM}/channels/{CHANNEL}/archive", {"shouldSetSpoSiteReadOnlyForMembers": 1},
         "start.body.shouldSetSpoSiteReadOnlyForMembers", "must be a JSON boolean"),
        (f"/v1.0/teams/{TEAM}/channels/{CHANNEL}/unarchive", {"x": 1}, "start.body.x", "takes no body"),
        ("/v1.0/security/cases/ediscoveryCases/c1/custodians/applyHold", {"ids": "7f69"}, "start.body.ids",
         "must be a JSON array"),
        ("/v1.0/security/cases/ediscoveryCases/c1/noncustodialDataSources/removeHold", {"id": ["7f69"]},
         "start.body.id", "not a field this action takes (it takes ids)"),
        ("/v1.0/security/cases/ediscoveryCases/c1/reviewSets/r1/export", {"description": "d"},
         "start.body.outputName", "required"),
        ("/v1.0/users/u1/exportPersonalData", {}, "start.body.storageLocation", "required"),
        ("/v1.0/users/u1/exportPersonalData", {"storageLocation": "https://evil.blob.core.windows.net/x"},
         "start.body.storageLocation", "allowed storage account (contoso)"),
        ("/v1.0/users/u1/exportPersonalData", {"storageLocation": "https://contoso.blob.core.windows.net.evil.example/x"},
         "start.body.storageLocation", "allowed storage account"),
        ("/v1.0/users/u1/exportPersonalData", {"storageLocation": "http://contoso.blob.core.windows.net/x"},
         "start.body.storageLocation", "https"),
    ],
)  # fmt: skip
def test_a_body_is_held_to_its_reference_page(url: str, body: dict[str, Any], field: str, problem: str) -> None:
    with pytest.raises(Rejected) as refused:
        start(url, body)
    assert refused.value.field == field and problem in refused.value.problem


def test_exports_are_refused_until_the_deployment_names_where_they_may_go() -> None:
    with pytest.raises(Rejected, match="GRAPHOPS_EXPORT_STORAGE_ACCOUNTS is empty"):
        start("/v1.0/users/u1/exportPersonalData", {"storageLocation": EXPORT}, accounts=frozenset())
    assert start("/v1.0/users/u1/exportPersonalData", {"storageLocation": EXPORT}).action.name == "personalDataExport"


def test_every_action_says_what_its_body_carries() -> None:
    for action in ACTIONS.values():
        assert action.body.required <= set(action.body.fields), action.name
        assert set(action.body.fields.values()) <= {"string", "boolean", "object", "array"}, action.name
