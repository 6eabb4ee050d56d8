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
