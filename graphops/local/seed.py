"""The Graph documentation's own examples for reading a longRunningOperation, verbatim.

From "Get longRunningOperation" (Microsoft Graph beta reference): a role management alert
refresh running and succeeded, and a password reset whose timestamps are not valid ISO 8601.
"""

from __future__ import annotations

from typing import Any

ALERT_OPERATION_ID = "refresh:DirectoryRole_19356be4-7e93-4ed6-a7c6-0ae28454d125_StaleSignInAlert"
ALERT_OPERATION_PATH = f"/beta/identityGovernance/roleManagementAlerts/operations/{ALERT_OPERATION_ID}"
RESET_OPERATION_ID = "2d497bb-57bd-47a6-8749-5ccd0869f2bd"


def alert_refresh(status: str, operation_id: str = ALERT_OPERATION_ID) -> dict[str, Any]:
    """Examples 1 (running) and 2 (succeeded); any other status keeps example 1's shape."""
    succeeded = status == "succeeded"
    return {
        "@odata.context": "https://graph.microsoft.com/beta/$metadata#identityGovernance/roleManagementAlerts/operations/$entity",
        "id": operation_id,
        "createdDateTime": "2023-06-09T22:50:41.5414467Z",
        "lastActionDateTime": "2023-06-09T22:56:09.0296021Z" if succeeded else "2023-06-09T22:52:09.0296021Z",
        "resourceLocation": (
            "https://graph.microsoft.com/beta/identityGovernance/roleManagementAlerts/alerts/"
            + operation_id.removeprefix("refresh:")
            if succeeded
            else ""
        ),
        "status": status,
        "statusDetail": "",
    }


def password_reset(status: str, operation_id: str = RESET_OPERATION_ID) -> dict[str, Any]:
    """Example 3, odd timestamps and all (``2020-03-19T12-01-03.45Z`` is not ISO 8601)."""
    return {
        "status": status,
        "createdDateTime": "2020-03-19T12-01-03.45Z",
        "lastActionDateTime": "2020-03-19T12-01-04.23Z",
        "id": operation_id,
    }


def reset_path(user: str, operation_id: str = RESET_OPERATION_ID, version: str = "v1.0") -> str:
    return f"/{version}/users/{user}/authentication/operations/{operation_id}"


def graph_error(code: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "innerError": {"request-id": "standin"}}}


# -- The other kinds, shaped as their Graph reference pages' examples (ids from those pages) -------------

TEAM_ID, TEAM_OPERATION_ID = "dbd8de4f-5d40-4f2d-a4b3-d2a8f3b1c2ea", "3a6fdce1-7ef0-4b4c-b2b9-3ab9c8df9a2e"
TEAM_LOCATION = f"/teams('{TEAM_ID}')/operations('{TEAM_OPERATION_ID}')"  # relative, OData keys, no version
CLONE_ID = "9f7a1a41-1b1f-46d4-9c6b-7cd9cd0bd2f9"
SITE_OPERATION_PATH = "/v1.0/sites/root/operations/contentTypeCopy,0x0101"
EXPORT_ID = "e0a6bb83-4a6e-4a1f-9b45-0e3d2cdb1f94"
EXPORT_PATH = f"/v1.0/dataPolicyOperations/{EXPORT_ID}"
CASE_ID, CASE_OPERATION_ID = "b0073e4e-4184-41c6-9eb7-8c8cc3e2288b", "2ad2da7c7dbf4a0aafe5d3d1e6b2df9b"
CASE_OPERATION_PATH = f"/v1.0/security/cases/ediscoveryCases/{CASE_ID}/operations/{CASE_OPERATION_ID}"
CONNECTION_OPERATION_PATH = "/v1.0/external/connections/contosohr/operations/3ed1595a-4bae-43c2-acda-ef973e581323"
ONENOTE_OPERATION_PATH = "/v1.0/users/adele@contoso.com/onenote/operations/copy-c5a2ba4b-7e84-4b8e-a6d4-1e4e4b9e8f2d"
SIMULATION_OPERATION_PATH = "/v1.0/security/attackSimulation/operations/f1b13829-3829-f1b1-2938-b1f12938b1a"
GDAP_OPERATION_PATH = (
    "/v1.0/tenantRelationships/delegatedAdminRelationships/"
    "5d027261-d21f-4aa9-b7db-7fa1f56fb163-8777b240-c6f0-4469-9e98-a3205431b836/operations/"
    "0b1fb5c9-9f04-4c3b-8a95-79d2da4c9a1a"
)


def teams_operation(status: str) -> dict[str, Any]:
    """teamsAsyncOperation, as the clone example answers it."""
    done = status == "succeeded"
    return {
        "id": TEAM_OPERATION_ID,
        "operationType": "cloneTeam",
        "createdDateTime": "2026-11-28T21:49:12.8754862Z",
        "status": status,
        "lastActionDateTime": "2026-11-28T21:50:03.4519478Z",
        "attemptsCount": 1,
        "targetResourceId": CLONE_ID if done else None,
        "targetResourceLocation": f"/teams('{CLONE_ID}')" if done else None,
        "error": None,
    }


def rich_operation(status: str, percent: int) -> dict[str, Any]:
    """richLongRunningOperation on a site (a content type copy)."""
    done = status == "succeeded"
    return {
        "id": "contentTypeCopy,0x0101",
        "createdDateTime": "2026-11-28T21:50:00Z",
        "status": status,
        "statusDetail": "",
        "type": "contentTypeCopy",
        "percentageComplete": percent,
        "resourceId": "0x0101" if done else None,
        "resourceLocation": "https://graph.microsoft.com/v1.0/sites/root/contentTypes/0x0101" if done else None,
    }


def data_export(status: str) -> dict[str, Any]:
    """dataPolicyOperation: notStarted, running, complete, failed."""
    return {
        "id": EXPORT_ID,
        "status": status,
        "storageLocation": "https://contoso.blob.core.windows.net/exports/adele" if status == "complete" else None,
        "userId": "48d31887-5fad-4d73-a9f5-3c356e68a038",
        "submittedDateTime": "2026-11-28T21:49:00Z",
        "completedDateTime": "2026-11-28T23:10:00Z" if status in {"complete", "failed"} else None,
        "progress": 100.0 if status == "complete" else 40.0,
    }


def case_operation(status: str, percent: int) -> dict[str, Any]:
    """An eDiscovery case operation (an estimate of search statistics)."""
    return {
        "@odata.type": "#microsoft.graph.security.ediscoveryEstimateOperation",
        "id": CASE_OPERATION_ID,
        "createdDateTime": "2026-11-28T21:49:00Z",
        "completedDateTime": "2026-11-28T21:59:00Z" if status not in {"notStarted", "running"} else None,
        "percentProgress": percent,
        "status": status,
        "action": "estimateStatistics",
        "resultInfo": None,
    }


def connection_operation(status: str) -> dict[str, Any]:
    return {"id": "3ed1595a-4bae-43c2-acda-ef973e581323", "status": status, "error": None}


NOTEBOOKS = "https://graph.microsoft.com/v1.0/users/adele@contoso.com/onenote/notebooks"


def onenote_operation(status: str) -> dict[str, Any]:
    """Capitalised states: NotStarted, Running, Completed, Failed; percentComplete is a string."""
    done = status == "Completed"
    return {
        "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#users('adele%40contoso.com')/onenote/operations/$entity",
        "id": "copy-c5a2ba4b-7e84-4b8e-a6d4-1e4e4b9e8f2d",
        "status": status,
        "createdDateTime": "2026-11-28T21:49:12Z",
        "lastActionDateTime": "2026-11-28T21:49:30Z",
        "resourceLocation": "https://graph.microsoft.com/v1.0/users/adele@contoso.com/onenote/notebooks/1-f4c8"
        if done
        else None,
        "resourceId": "1-f4c8" if done else None,
        "percentComplete": "100" if done else "50",
    }
