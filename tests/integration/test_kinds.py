"""Every operation kind tracked end to end: the queue trigger on Azurite, the Graph stand-in answering with
the kind's documented body, the signed callback carrying the kind, its resource and progress."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
import requests

from graphops.local import seed
from graphops.local.graph import Reply
from graphops.settings import Settings

from ..patience import patience
from .conftest import Harness, sink_settings

MINIMAL = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}
GDAP_UPDATE = "delegatedAdminAccessAssignmentUpdate"
RUNNING_THEN_END = {
    # kind: (path polled, path handed over, running body, final body, outcome, resource, progress)
    "teamsAsyncOperation": (
        "/v1.0" + seed.TEAM_LOCATION, seed.TEAM_LOCATION, seed.teams_operation("inProgress"),
        seed.teams_operation("succeeded"), "succeeded", f"/teams('{seed.CLONE_ID}')", None,
    ),
    "chatAsyncOperation": (
        "/beta/chats/19:c253a29b5f694b55a6baad8e83510af7@thread.v2/operations/2432b57b-0abd", None,
        {**seed.teams_operation("inProgress"), "operationType": "teamifyGroup"},
        {**seed.teams_operation("invalid"), "operationType": "teamifyGroup"}, "failed", None, None,
    ),
    "listOperation": (
        "/v1.0/sites/root/lists/0f3c5e3a/operations/copy,1", None, seed.rich_operation("notStarted", 0),
        seed.rich_operation("succeeded", 100), "succeeded",
        "https://graph.microsoft.com/v1.0/sites/root/contentTypes/0x0101", 100.0,
    ),
    "siteOperation": (
        seed.SITE_OPERATION_PATH, None, seed.rich_operation("running", 40), seed.rich_operation("succeeded", 100),
        "succeeded", "https://graph.microsoft.com/v1.0/sites/root/contentTypes/0x0101", 100.0,
    ),
    "dataPolicyOperation": (
        seed.EXPORT_PATH, None, seed.data_export("running"), seed.data_export("complete"), "succeeded",
        "https://contoso.blob.core.windows.net/exports/adele", 100.0,
    ),
    "ediscoveryCaseOperation": (
        seed.CASE_OPERATION_PATH, None, seed.case_operation("running", 30),
        seed.case_operation("partiallySucceeded", 100), "partiallySucceeded", None, 100.0,
    ),
    "externalConnectionOperation": (
        seed.CONNECTION_OPERATION_PATH, None, seed.connection_operation("inprogress"),
        seed.connection_operation("completed"), "succeeded", None, None,
    ),
    "onenoteOperation": (
        seed.ONENOTE_OPERATION_PATH, None, seed.onenote_operation("Running"), seed.onenote_operation("Completed"),
        "succeeded", f"{seed.NOTEBOOKS}/1-f4c8", 100.0,
    ),
    "attackSimulationOperation": (
        seed.SIMULATION_OPERATION_PATH, None, {"id": "f1b1", "status": "running", "percentageCompleted": 10},
        {"id": "f1b1", "status": "failed", "percentageCompleted": 10,
         "statusDetail": "The simulation could not be created"}, "failed", None, 10.0,
    ),
    "delegatedAdminRelationshipOperation": (
        seed.GDAP_OPERATION_PATH, None, {"id": "0b1f", "status": "running", "operationType": GDAP_UPDATE},
        {"id": "0b1f", "status": "succeeded", "operationType": GDAP_UPDATE}, "succeeded", None, None,
    ),
    "partnerBillingOperation": (
        seed.BILLING_OPERATION_PATH, None, seed.billing_operation("running"), seed.billing_operation("succeeded"),
        "succeeded", seed.BILLING_MANIFEST, None,
    ),
    "telephoneNumberOperation": (
        seed.NUMBER_OPERATION_PATH, None, seed.number_operation("running"), seed.number_operation("succeeded"),
        "succeeded", None, None,
    ),
    "engagementAsyncOperation": (
        seed.ENGAGE_OPERATION_PATH, None, seed.engagement_operation("running"),
        seed.engagement_operation("succeeded"), "succeeded", seed.COMMUNITY, None,
    ),
    "mailFolderOperation": (
        seed.MAIL_OPERATION_PATH, None, seed.mail_folder_operation("running"),
        seed.mail_folder_operation("succeeded"), "succeeded", None, None,
    ),
    "placeOperation": (
        seed.PLACE_OPERATION_PATH, None, seed.place_operation("inProgress", 3),
        seed.place_operation("partiallySucceeded", 7, 2), "partiallySucceeded", None, 100.0,
    ),
    "auditLogQuery": (
        seed.AUDIT_QUERY_PATH, None, seed.audit_query("running"), seed.audit_query("succeeded"), "succeeded",
        "{graph}" + seed.AUDIT_QUERY_PATH + "/records", None,
    ),
    "deviceManagementExportJob": (
        seed.EXPORT_JOB_PATH, None, seed.export_job("inProgress"), seed.export_job("completed"), "succeeded",
        seed.EXPORT_JOB_URL, None,
    ),
    "cloudPcExportJob": (
        seed.CLOUD_PC_EXPORT_PATH, None, seed.cloud_pc_export("inProgress"), seed.cloud_pc_export("completed"),
        "succeeded", seed.CLOUD_PC_EXPORT_URL, None,
    ),
    "accessReviewHistoryDefinition": (
        seed.HISTORY_DEFINITION_PATH, None, seed.history_definition("inProgress"), seed.history_definition("done"),
        "succeeded", "{graph}" + seed.HISTORY_DEFINITION_PATH + "/instances", None,
    ),
    "restoreSession": (
        seed.RESTORE_SESSION_PATH, None, seed.restore_session("active", 1),
        seed.restore_session("completedWithError", 1, failed=1), "partiallySucceeded", None, 100.0,
    ),
    "industryDataRun": (
        seed.INDUSTRY_RUN_PATH, None, seed.industry_run("running"),
        {**seed.industry_run("failed"), "blockingError": {"code": "sourceUnavailable",
                                                          "message": "The SIS connection was refused"}},
        "failed", None, None,
    ),
    "accessPackageAssignmentRequest": (
        seed.ACCESS_REQUEST_PATH, None, seed.access_package_request("pendingApproval"),
        seed.access_package_request("delivered"), "succeeded", None, None,
    ),
    "lifecycleWorkflowRun": (
        seed.WORKFLOW_RUN_PATH, None, seed.workflow_run("inProgress"), seed.workflow_run("completedWithErrors", 1),
        "partiallySucceeded", None, None,
    ),
    "siteCreationOperation": (
        seed.SITE_CREATION_PATH, seed.SITE_CREATION_PATH, seed.site_creation("running"),
        seed.site_creation("succeeded"), "succeeded", seed.NEW_SITE, None,
    ),
    "configurationSnapshotJob": (
        seed.SNAPSHOT_JOB_PATH, None, seed.snapshot_job("running"), seed.snapshot_job("partiallySuccessful"),
        "partiallySucceeded", None, None,
    ),
    **{kind: (
        seed.bulk_addition_path(kind), None, seed.bulk_addition_job(kind, "active"),
        seed.bulk_addition_job(kind, "CompletedWithErrors"), "partiallySucceeded", None, None,
    ) for kind in seed.BULK_FAMILIES},
    "recoveryJob": (
        seed.RECOVERY_JOB_PATH, None, seed.recovery_job("running"), seed.recovery_job("successful", 3), "succeeded",
        None, None,
    ),
    "crossTenantMigrationJob": (
        seed.MIGRATION_JOB_PATH, None, seed.migration_job("validateInProgress", "validate"),
        seed.migration_job("validateFailed", "validate"), "failed", None, None,
    ),
    "retentionEvent": (
        seed.RETENTION_EVENT_PATH, None, seed.retention_event("pending"), seed.retention_event("error"), "failed",
        None, None,
    ),
    "importedWindowsAutopilotDeviceIdentity": (
        seed.AUTOPILOT_PATH, None, seed.autopilot_import("pending"), seed.autopilot_import("complete"), "succeeded",
        None, None,
    ),
    "win32LobAppContentFile": (
        seed.WIN32_FILE_PATH, None, seed.win32_content_file("azureStorageUriRequestPending"),
        seed.win32_content_file("azureStorageUriRequestSuccess"), "succeeded", None, None,
    ),
}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(RUNNING_THEN_END))
def test_each_kind_is_tracked_to_its_documented_end(harness: Harness, kind: str) -> None:
    polled, handed, running, final, outcome, resource, progress = RUNNING_THEN_END[kind]
    harness.graph.script(polled, [Reply(200, running), Reply(200, final)])
    location = handed or harness.graph_url(polled)
    tracking_id = harness.client.track(location, harness.stack.callback_url(), correlation_id=kind)
    harness.run()

    [callback] = harness.receiver.delivered()
    body: dict[str, Any] = callback.body
    assert callback.webhook_id == tracking_id and callback.verified
    if resource is not None:
        resource = resource.replace("{graph}", harness.graph_url(""))
    assert (body["kind"], body["outcome"], body["resource"], body["progress"]) == (kind, outcome, resource, progress)
    # The operation itself, unwrapped where the page's example wraps it in "value".
    assert body["operation"] == final.get("value", final) and body["polls"] == 2
    assert body["operationUrl"] == harness.graph_url(polled)  # a relative Location, resolved once
    assert len(harness.graph.gets(polled)) == 2
    if outcome == "failed" and "statusDetail" in final:
        assert body["error"]["message"] == final["statusDetail"]
    if "blockingError" in final:
        assert body["error"] == final["blockingError"]
    # A publicError, at the top or inside the status's object: its code and message, its details left in the operation.
    error = final.get("error") or final.get("value", {}).get("eventStatus", {}).get("error")
    if isinstance(error, dict):
        assert body["error"] == {"code": error["code"], "message": error["message"]}


def test_a_workflow_run_that_failed_some_users_says_how_many_and_a_denied_request_says_it_was_denied(
    harness: Harness,
) -> None:
    harness.graph.script(seed.WORKFLOW_RUN_PATH, [Reply(200, seed.workflow_run("completedWithErrors", 1))])
    harness.graph.script(seed.ACCESS_REQUEST_PATH, [Reply(200, seed.access_package_request("denied"))])
    run = harness.track(seed.WORKFLOW_RUN_PATH)
    request = harness.track(seed.ACCESS_REQUEST_PATH)
    harness.run()

    by_id = {callback.webhook_id: callback.body for callback in harness.receiver.delivered()}
    assert by_id[run]["outcome"] == "partiallySucceeded"
    assert by_id[run]["details"] == {"totalUsersCount": 2, "successfulUsersCount": 1, "failedUsersCount": 1,
                                     "failedTasksCount": 2}  # fmt: skip
    assert (by_id[request]["outcome"], by_id[request]["error"]) == (
        "failed", {"code": "denied", "message": "Graph reports the operation was denied"},
    )  # fmt: skip


def test_a_recovery_that_could_not_apply_some_changes_still_succeeds_and_says_how_many(harness: Harness) -> None:
    harness.graph.script(seed.RECOVERY_JOB_PATH, [Reply(200, seed.recovery_job("successful", 3))])
    harness.track(seed.RECOVERY_JOB_PATH)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert (callback.body["kind"], callback.body["outcome"]) == ("recoveryJob", "succeeded")
    assert callback.body["details"] == {"totalObjectsModified": 2000, "totalLinksModified": 300,
                                        "totalFailedChanges": 3}  # fmt: skip


def test_a_forbidden_kind_names_its_permission(harness: Harness) -> None:
    denied = seed.graph_error("Authorization_RequestDenied", "Insufficient privileges to complete the operation.")
    harness.graph.script(seed.EXPORT_PATH, [Reply(403, denied)])
    harness.track(seed.EXPORT_PATH)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "forbidden" and callback.body["kind"] == "dataPolicyOperation"
    assert "User.Export.All and User.Read.All" in callback.body["error"]["message"]


def test_a_global_only_kind_is_refused_in_another_cloud(make_harness: Any) -> None:
    import json

    from graphops.common.errors import Rejected

    h: Harness = make_harness(GRAPHOPS_GRAPH_CLOUD="usgov")
    with pytest.raises(Rejected, match="not usgov"):  # graphops track refuses it before it is queued...
        h.track(seed.ONENOTE_OPERATION_PATH)
    # ...and the queue trigger refuses a message a producer put there itself.
    h.send_raw(
        json.dumps({"operationUrl": h.graph_url(seed.ONENOTE_OPERATION_PATH), "callbackUrl": h.stack.callback_url()})
    )
    h.run()
    [dead] = h.poison()
    assert dead["field"] == "operationUrl" and "only in the Graph cloud(s) global, not usgov" in dead["reason"]
    [notice] = h.receiver.delivered()
    assert notice.body["outcome"] == "rejected" and h.graph.total_calls() == 0
    from datetime import UTC, datetime

    from graphops.envelope.tracking import Outcome
    from graphops.intake.request import from_request
    from graphops.wiring import limits_for

    now = datetime.now(UTC)
    request = {"operationUrl": seed.ALERT_OPERATION_PATH, "callbackUrl": "https://a.logic.azure.com/c"}
    limits = limits_for(Settings.from_env(MINIMAL))
    ordinary = from_request(request, "t", now, limits).finish(Outcome.SUCCEEDED, None, now)
    assert set(notice.body) == set(ordinary.callback_body())  # one shape for every callback, rejected ones included


def test_wait_for_resource_waits_out_the_404s_of_a_fresh_team(harness: Harness) -> None:
    team = f"/v1.0/teams('{seed.CLONE_ID}')"
    harness.graph.script("/v1.0" + seed.TEAM_LOCATION, [Reply(200, seed.teams_operation("succeeded"))])
    not_yet = Reply(404, seed.graph_error("NotFound", "No team found with Group Id"))
    harness.graph.script(team, [not_yet, not_yet, Reply(200, {"id": seed.CLONE_ID, "displayName": "Clone"})])
    tracking_id = harness.client.track(seed.TEAM_LOCATION, harness.stack.callback_url(), wait_for_resource=True)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.webhook_id == tracking_id and callback.verified
    body = callback.body
    assert (body["outcome"], body["resourceReady"], body["resource"]) == (
        "succeeded",
        True,
        f"/teams('{seed.CLONE_ID}')",
    )
    assert [c.status for c in harness.graph.gets(team)] == [404, 404, 200]
    assert len(harness.graph.gets("/v1.0" + seed.TEAM_LOCATION)) == 1  # the operation was not asked again


def test_wait_for_resource_gives_up_at_the_deadline_and_still_says_succeeded(harness: Harness) -> None:
    team = f"/v1.0/teams('{seed.CLONE_ID}')"
    harness.graph.script("/v1.0" + seed.TEAM_LOCATION, [Reply(200, seed.teams_operation("succeeded"))])
    harness.graph.script(team, [Reply(404, seed.graph_error("NotFound", "No team found"))])
    harness.client.track(seed.TEAM_LOCATION, harness.stack.callback_url(), wait_for_resource=True, timeout_seconds=4)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["resourceReady"]) == ("succeeded", False)
    assert len(harness.graph.gets(team)) >= 1


def test_without_wait_for_resource_the_callback_says_nothing_about_it(harness: Harness) -> None:
    harness.graph.script("/v1.0" + seed.TEAM_LOCATION, [Reply(200, seed.teams_operation("succeeded"))])
    harness.client.track(seed.TEAM_LOCATION, harness.stack.callback_url())
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["resourceReady"] is None and harness.graph.gets(f"/v1.0/teams('{seed.CLONE_ID}')") == []


MONITOR_PATH = "/_api/v2.1/drives/b!x9/operations/1e5b"
MONITOR_SECRET = "tempauth=eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0-monitor-credential"


def test_a_drive_copy_is_read_from_its_monitor_without_a_token_and_never_shows_its_credential(
    harness: Harness,
) -> None:
    from ..conftest import SECRETS

    SECRETS.add(MONITOR_SECRET)
    sharepoint = harness.stack.sharepoint
    running = {"operation": "itemCopy", "percentageComplete": 37.5, "status": "inProgress"}
    done = {"operation": "itemCopy", "percentageComplete": 100.0, "resourceId": "01MOWKYVJML57KN2ANMBA3JZJS2MBGC7KM",
            "status": "completed"}  # fmt: skip
    sharepoint.script(MONITOR_PATH, [Reply(200, running), Reply(200, done)])
    monitor = f"{sharepoint.url}{MONITOR_PATH}?c=Yzpm&{MONITOR_SECRET}"
    tracking_id = harness.client.track(monitor, harness.stack.callback_url())
    harness.run()

    [callback] = harness.receiver.delivered()
    body = callback.body
    assert callback.webhook_id == tracking_id and callback.verified
    assert (body["kind"], body["outcome"], body["resource"], body["progress"]) == (
        "driveItemCopy", "succeeded", "01MOWKYVJML57KN2ANMBA3JZJS2MBGC7KM", 100.0,
    )  # fmt: skip
    assert [(c.query, c.authorization) for c in sharepoint.calls] == [(f"c=Yzpm&{MONITOR_SECRET}", None)] * 2
    assert harness.graph.total_calls() == 0  # nothing went to Graph, so no token was ever fetched for it
    assert MONITOR_SECRET not in json.dumps(body) and body["operationUrl"] == f"{sharepoint.url}{MONITOR_PATH}?…"


def test_a_monitor_redirect_is_read_as_done_and_never_followed(harness: Harness) -> None:
    sharepoint = harness.stack.sharepoint
    item = "https://contoso.sharepoint.com/sites/finance/_api/v2.0/drives/b!x9/items/01MOWKYV"
    sharepoint.script(MONITOR_PATH, [Reply(303, None, {"Location": item})])
    harness.client.track(f"{sharepoint.url}{MONITOR_PATH}", harness.stack.callback_url())
    harness.run()
    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["resource"]) == ("succeeded", item)
    assert [c.path for c in sharepoint.calls] == [MONITOR_PATH]  # the Location was not fetched


def test_a_failed_copy_carries_the_monitors_error(harness: Harness) -> None:
    sharepoint = harness.stack.sharepoint
    failed = {"status": "failed", "error": {"code": "nameAlreadyExists", "message": "The name is already used"}}
    sharepoint.script(MONITOR_PATH, [Reply(200, failed)])
    harness.client.track(f"{sharepoint.url}{MONITOR_PATH}", harness.stack.callback_url())
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "failed" and callback.body["error"]["code"] == "nameAlreadyExists"


SIGNATURE = "sig=bXlTaWduZWRLZXlWYWx1ZQ%3D%3D"


def test_a_report_exports_signed_link_reaches_its_sinks_and_nothing_else(
    make_harness: Any, stack: Any, sign_in: Any
) -> None:
    """The Intune export's download `url` is a key to the report: the callback and the results queue carry it;
    the state table, the status view, the console and the logs never do."""
    from azure.data.tables import TableClient

    from graphops.graph.kinds.base import WITHHELD

    from ..conftest import SECRETS

    SECRETS.add(SIGNATURE)  # the session's log and span watch now fails the run if it ever appears
    table = f"state{uuid.uuid4().hex[:16]}"
    harness = make_harness(**sign_in.settings(**sink_settings(stack), GRAPHOPS_STATE_TABLE=table))
    harness.graph.script(seed.EXPORT_JOB_PATH, [Reply(200, seed.export_job("inProgress")),
                                                Reply(200, seed.export_job("completed"))])  # fmt: skip
    tracking_id = harness.track(seed.EXPORT_JOB_PATH)
    harness.run()

    [callback] = harness.receiver.delivered()
    assert callback.body["resource"] == seed.EXPORT_JOB_URL and callback.body["operation"]["url"] == seed.EXPORT_JOB_URL
    [event] = harness.results(receive=True)
    assert event["data"]["resource"] == seed.EXPORT_JOB_URL
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (view["outcome"], view["resource"], view["operation"]["url"]) == ("succeeded", WITHHELD, WITHHELD)
    assert view["operation"]["expirationDateTime"] == "2026-11-29T21:50:00Z"  # the rest of the job is shown
    rows = TableClient.from_connection_string(harness.stack.azurite.connection_string, table).list_entities()
    assert all(SIGNATURE not in json.dumps(dict(row), default=str) for row in rows)
    page = requests.get(
        harness.api(f"console/trackings/{tracking_id}"), headers=sign_in.headers(), timeout=patience(10)
    )
    assert page.status_code == 200 and tracking_id in page.text and "sig=" not in page.text


def test_an_audit_query_that_hit_its_record_limit_succeeds_and_every_sink_and_view_says_so(
    make_harness: Any, stack: Any
) -> None:
    harness = make_harness(**sink_settings(stack))
    over = seed.audit_query("succeeded", over_limit=True)
    harness.graph.script(seed.AUDIT_QUERY_PATH, [Reply(200, seed.audit_query("running")), Reply(200, over)])
    tracking_id = harness.track(seed.AUDIT_QUERY_PATH)
    harness.run()

    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "succeeded" and callback.body["details"]["isRecordCountLimitExceeded"] is True
    [queued] = harness.results(receive=True)
    assert queued["data"]["details"]["isRecordCountLimitExceeded"] is True
    [published] = [event for p in harness.stack.eventgrid.publishes if p.status == 200 for event in p.events]
    assert published["data"]["details"]["isRecordCountLimitExceeded"] is True
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert (view["outcome"], view["details"]["recordCountLimit"]) == ("succeeded", 1_000_000)
    assert view["details"]["isRecordCountLimitExceeded"] is True


def test_a_v1_reset_refused_for_the_app_is_read_on_beta_once(harness: Harness) -> None:
    """v1.0 documents delegated permissions only for reading a reset; beta documents the application one."""
    v1 = seed.reset_path("adele@contoso.com")
    beta = seed.reset_path("adele@contoso.com", version="beta")
    denied = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    harness.graph.script(v1, [denied])
    harness.graph.script(
        beta, [Reply(200, seed.password_reset("running")), Reply(200, seed.password_reset("succeeded"))]
    )
    tracking_id = harness.track(v1 + "?aadgdc=DUB02P&aadgsu=ssprprod-a")
    harness.run()

    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["operationUrl"]) == (
        "succeeded", harness.graph_url(beta + "?aadgdc=DUB02P&aadgsu=ssprprod-a"),
    )  # fmt: skip
    assert len(harness.graph.gets(v1)) == 1 and len(harness.graph.gets(beta)) == 2  # v1.0 is not asked again
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert view["operationUrl"].endswith(beta + "?aadgdc=DUB02P&aadgsu=ssprprod-a")
    assert {"http": 403, "twin": "beta"}.items() <= view["history"][0].items()


def test_a_reset_refused_on_v1_and_beta_ends_forbidden_after_one_beta_ask(harness: Harness) -> None:
    v1 = seed.reset_path("adele@contoso.com")
    beta = seed.reset_path("adele@contoso.com", version="beta")
    denied = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    harness.graph.script(v1, [denied])
    harness.graph.script(beta, [denied])
    harness.track(v1)
    harness.run()
    [callback] = harness.receiver.delivered()
    # The twin did not show it either: v1.0's refusal stands, and the tracking stays on v1.0.
    assert callback.body["outcome"] == "forbidden" and callback.body["operationUrl"] == harness.graph_url(v1)
    assert "UserAuthenticationMethod.Read.All" in callback.body["error"]["message"]
    assert (len(harness.graph.gets(v1)), len(harness.graph.gets(beta))) == (1, 1)


def test_a_beta_twin_that_blips_is_asked_again_and_its_answer_ends_the_tracking(harness: Harness) -> None:
    """A 503 from the twin says nothing of the reset: the tracking polls again after its Retry-After, and the
    twin's 200 then carries it to success (a blip never ends it as forbidden)."""
    v1 = seed.reset_path("adele@contoso.com")
    beta = seed.reset_path("adele@contoso.com", version="beta")
    harness.graph.script(v1, [Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))])
    unavailable = Reply(503, seed.graph_error("ServiceUnavailable", "Try again later"), {"Retry-After": "1"})
    harness.graph.script(beta, [unavailable, Reply(200, seed.password_reset("succeeded"))])
    tracking_id = harness.track(v1)
    harness.run()

    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["operationUrl"]) == ("succeeded", harness.graph_url(beta))
    assert [c.status for c in harness.graph.gets(beta)] == [503, 200] and len(harness.graph.gets(v1)) == 2
    assert not harness.graph.violations  # the second ask waited out the 503's Retry-After
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert {"http": 503, "twin": "beta"}.items() <= view["history"][0].items()


def test_a_beta_twin_that_does_not_know_the_reset_leaves_the_v1_refusal_standing(harness: Harness) -> None:
    v1 = seed.reset_path("adele@contoso.com", "lost")
    harness.graph.script(v1, [Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))])
    tracking_id = harness.track(v1)  # its beta twin answers 404: the stand-in knows no such operation
    harness.run()
    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["operationUrl"]) == ("forbidden", harness.graph_url(v1))
    view = requests.get(harness.api(f"operations/{tracking_id}"), timeout=patience(10)).json()
    assert {"http": 404, "twin": "beta"}.items() <= view["history"][0].items()


def test_other_kinds_end_forbidden_without_asking_another_version(harness: Harness) -> None:
    denied = Reply(403, seed.graph_error("Authorization_RequestDenied", "Insufficient privileges"))
    harness.graph.script(seed.AUDIT_QUERY_PATH, [denied])
    harness.track(seed.AUDIT_QUERY_PATH)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert callback.body["outcome"] == "forbidden" and "AuditLogsQuery.Read.All" in callback.body["error"]["message"]
    assert harness.graph.total_calls() == 1


def test_a_v1_reset_is_refused_in_the_china_cloud_and_its_beta_twin_is_accepted(make_harness: Any) -> None:
    from graphops.common.errors import Rejected

    h: Harness = make_harness(GRAPHOPS_GRAPH_CLOUD="china")
    refusal = "v1.0 authenticationMethodOperation operations exist only in the Graph cloud(s) global, usgov, usgovdod"
    with pytest.raises(Rejected, match=re.escape(f"{refusal}, not china")):  # graphops track refuses it...
        h.track(seed.reset_path("adele@contoso.com"))
    h.send_raw(json.dumps({"operationUrl": h.graph_url(seed.reset_path("adele@contoso.com")),
                           "callbackUrl": h.stack.callback_url()}))  # fmt: skip
    h.run()
    [dead] = h.poison()  # ...and the queue trigger dead-letters a producer's, with the reason
    assert dead["field"] == "operationUrl" and refusal in dead["reason"] and h.graph.total_calls() == 0
    assert h.track(seed.reset_path("adele@contoso.com", version="beta"))  # beta exists there: accepted


def test_a_failed_restore_session_ends_failed_because_every_poll_asks_for_late_enum_members(harness: Harness) -> None:
    """Graph answers a restore session's `failed` only to a request with `Prefer: include-unknown-enum-members`
    (others see unknownFutureValue, which reads as running until the deadline); the stand-in does the same."""
    failed = {**seed.restore_session("failed", 0), "error": {"code": "RestoreFailed", "message": "Mailbox locked"}}
    harness.graph.script(seed.RESTORE_SESSION_PATH, [Reply(200, seed.restore_session("activating", 0)),
                                                     Reply(200, failed)])  # fmt: skip
    harness.track(seed.RESTORE_SESSION_PATH)
    harness.run()
    [callback] = harness.receiver.delivered()
    assert (callback.body["outcome"], callback.body["error"]["message"]) == ("failed", "Mailbox locked")
    polls = harness.graph.gets(seed.RESTORE_SESSION_PATH)
    assert [c.prefer for c in polls] == ["include-unknown-enum-members"] * 2
    assert all(c.priority == "low" for c in polls)
