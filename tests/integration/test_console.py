"""The console over HTTP: the Function App's /api/console behind App Service authentication (the app verifies the
ID token the platform forwards, against a stand-in for the tenant's published keys), and the local console's
loopback rules. Pages in a browser: test_console_browser.py."""

from __future__ import annotations

import base64
import json
import re
import uuid
from typing import Any

import pytest
import requests

from graphops.local import seed
from graphops.local.graph import Reply

from ..idtokens import SigningKey
from ..patience import patience
from .conftest import ConsoleData, ConsoleSignIn, Harness, own_state_table


def get(h: Harness, path: str = "", headers: dict[str, str] | None = None) -> requests.Response:
    return requests.get(h.api(f"console/{path}"), headers=headers, timeout=patience(10), allow_redirects=False)


def test_the_console_is_off_unless_enabled(harness: Harness, sign_in: ConsoleSignIn) -> None:
    answer = get(harness, headers=sign_in.headers())
    assert answer.status_code == 404 and "GRAPHOPS_CONSOLE_ENABLED" in answer.text


def test_the_deployed_console_refuses_anyone_the_platform_did_not_sign_in(
    make_harness: Any, sign_in: ConsoleSignIn
) -> None:
    h = make_harness(**sign_in.settings(GRAPHOPS_STATE_TABLE=own_state_table()))
    h.graph.script(seed.ALERT_OPERATION_PATH, [seed_reply("succeeded")])
    tracking = h.track(seed.ALERT_OPERATION_PATH)
    h.run()

    anonymous = get(h)  # a browser with no session: to the platform's Entra ID sign-in, and back here after
    assert anonymous.status_code == 302
    assert anonymous.headers["Location"] == "/.auth/login/aad?post_login_redirect_uri=/api/console/"
    assert tracking not in anonymous.text
    assert get(h, f"trackings/{tracking}").headers["Location"].endswith(f"/api/console/trackings/{tracking}")
    posted = requests.post(h.api("console/poison/x/requeue"), headers={"HX-Request": "true"}, timeout=patience(10))
    assert posted.status_code == 401

    stranger = get(h, headers=sign_in.headers(str(uuid.uuid4())))  # signed in, but not an operator
    assert stranger.status_code == 403 and "GRAPHOPS_CONSOLE_OPERATORS" in stranger.text
    assert tracking not in stranger.text

    operator = get(h, headers=sign_in.headers())
    assert operator.status_code == 200 and tracking in operator.text and "oncall@contoso.example" in operator.text
    assert "script-src 'self'" in operator.headers["Content-Security-Policy"]
    assert operator.headers["Cache-Control"] == "no-store"

    script = get(h, "static/console.js")  # the page's own files need no sign-in: they hold no data
    assert script.status_code == 200 and script.headers["Content-Type"].startswith("text/javascript")
    assert get(h, "static/pages.py").status_code == 404  # only the files the pages use are served


def test_identity_headers_are_not_believed_without_the_platforms_authentication(
    make_harness: Any, sign_in: ConsoleSignIn
) -> None:
    # Without App Service authentication nobody signs the operator in: nothing a request carries is believed.
    h = make_harness(**sign_in.settings(WEBSITE_AUTH_ENABLED=""))
    answer = get(h, headers=sign_in.headers())
    assert answer.status_code == 403 and "WEBSITE_AUTH_ENABLED" in answer.text


# -- the sign-in the console verifies itself -----------------------------------------------------------------


def console_with_a_tracking(make_harness: Any, sign_in: ConsoleSignIn) -> tuple[Harness, str]:
    """The deployed console on, over a state table of its own with one finished tracking in it."""
    h = make_harness(**sign_in.settings(GRAPHOPS_STATE_TABLE=own_state_table()))
    h.graph.script(seed.ALERT_OPERATION_PATH, [seed_reply("succeeded")])
    tracking = h.track(seed.ALERT_OPERATION_PATH)
    h.run()
    return h, tracking


def refusals(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    lines = (
        json.loads(r.getMessage()) for r in caplog.records if r.getMessage().startswith('{"event": "consoleRefused"')
    )
    return list(lines)


def test_a_verified_token_of_an_operator_opens_the_console(make_harness: Any, sign_in: ConsoleSignIn) -> None:
    h, tracking = console_with_a_tracking(make_harness, sign_in)
    # The token alone: the principal headers are not needed, and the name shown is the token's.
    page = get(h, headers={"X-MS-TOKEN-AAD-ID-TOKEN": sign_in.token(preferred_username="ops@contoso.example")})
    assert page.status_code == 200 and tracking in page.text and "ops@contoso.example" in page.text
    assert sign_in.authority.key_set_requests == 1
    assert get(h, headers=sign_in.headers()).status_code == 200
    assert sign_in.authority.key_set_requests == 1  # the tenant's keys are kept, not fetched per page


@pytest.mark.parametrize(("case", "status", "why"), [
    ("unknown-key", 401, "signed by a key the tenant does not publish"),
    ("forged-signature", 401, "signature does not verify"),
    ("expired", 302, "sign-in has expired"),  # a browser goes through sign-in again, for a fresh token
    ("other-audience", 401, "audience is not GRAPHOPS_CONSOLE_CLIENT_ID"),
    ("other-issuer", 401, "was not issued by"),
], ids=["unknown-key", "forged-signature", "expired", "other-audience", "other-issuer"])  # fmt: skip
def test_a_token_that_does_not_verify_opens_nothing(
    make_harness: Any, sign_in: ConsoleSignIn, caplog: pytest.LogCaptureFixture, case: str, status: int, why: str
) -> None:
    h, tracking = console_with_a_tracking(make_harness, sign_in)
    tokens = {
        "unknown-key": lambda: sign_in.token(key=SigningKey.make()),
        "forged-signature": lambda: sign_in.token(key=SigningKey.make(kid=sign_in.key.kid)),
        "expired": lambda: sign_in.token(lifetime=-300),
        "other-audience": lambda: sign_in.token(audience=str(uuid.uuid4())),
        "other-issuer": lambda: sign_in.token(issuer=f"{sign_in.authority.url}/{uuid.uuid4()}/v2.0"),
    }
    caplog.clear()
    # Beside the platform's principal headers naming the operator, as a forger would send them.
    answer = get(h, headers={**sign_in.headers(), "X-MS-TOKEN-AAD-ID-TOKEN": tokens[case]()})
    assert answer.status_code == status and tracking not in answer.text
    if status == 302:
        assert answer.headers["Location"] == "/.auth/login/aad?post_login_redirect_uri=/api/console/"
    else:
        assert "Not allowed" in answer.text and why in answer.text
    [line] = refusals(caplog)  # one line, naming why (and never the token: tests/conftest.py watches the logs)
    assert line["status"] == (401 if status == 302 else status) and why in line["reason"]


def test_a_principal_header_alone_opens_nothing(
    make_harness: Any, sign_in: ConsoleSignIn, caplog: pytest.LogCaptureFixture
) -> None:
    h, tracking = console_with_a_tracking(make_harness, sign_in)
    forged = {k: v for k, v in sign_in.headers().items() if k.startswith("X-MS-CLIENT-PRINCIPAL")}
    caplog.clear()
    page = get(h, headers=forged)  # a browser: to the platform's sign-in, which forwards a token
    assert page.status_code == 302 and tracking not in page.text
    posted = requests.post(h.api("console/poison/x/discard"), headers={**forged, "HX-Request": "true"},
                           timeout=patience(10))  # fmt: skip
    assert posted.status_code == 401 and "no ID token" in posted.text
    assert [line["reason"].startswith("sign in with Entra ID") for line in refusals(caplog)] == [True, True]


def test_a_forged_principal_header_beside_another_users_valid_token_is_that_user(
    make_harness: Any, sign_in: ConsoleSignIn, caplog: pytest.LogCaptureFixture
) -> None:
    h, tracking = console_with_a_tracking(make_harness, sign_in)
    other = str(uuid.uuid4())  # signed in to the tenant, but not an operator
    caplog.clear()
    answer = get(h, headers={**sign_in.headers(), "X-MS-TOKEN-AAD-ID-TOKEN": sign_in.token(other)})
    assert answer.status_code == 403 and tracking not in answer.text
    assert f"{other} is not in GRAPHOPS_CONSOLE_OPERATORS" in answer.text
    [line] = refusals(caplog)
    assert line["status"] == 403 and other in line["reason"]


def with_a_dead_letter(make_harness: Any, sign_in: ConsoleSignIn) -> tuple[Harness, Any]:
    """The console on, and one tracking whose callback answered 410: its dead letter in the poison queue."""
    h = make_harness(**sign_in.settings())
    h.receiver.answer("/gone", 410)
    h.graph.script(seed.ALERT_OPERATION_PATH, [seed_reply("succeeded")])
    h.track(seed.ALERT_OPERATION_PATH, callback_url=h.stack.callback_url("/gone"))
    h.run()
    [entry] = _poison(h)
    return h, entry


def as_the_operator(h: Harness, sign_in: ConsoleSignIn, path: str) -> requests.Response:
    """POST a change as the console's own page does: signed in, same origin, with the page's change token."""
    host = h.api("console/").split("/")[2]
    session = {"Cookie": "AppServiceAuthSession=operator"}
    signed_in = sign_in.headers()
    page = requests.get(h.api("console/poison"), headers={**signed_in, **session}, timeout=patience(10))
    found = re.search(r'hx-headers=\'\{"X-GraphOps-Token": "([A-Za-z0-9_-]+)"\}\'', page.text)
    assert found, "the page carries no change token"
    headers = {**signed_in, **session, "HX-Request": "true", "Origin": f"http://{host}",
               "Sec-Fetch-Site": "same-origin", "X-GraphOps-Token": found.group(1)}  # fmt: skip
    return requests.post(h.api(f"console/{path}"), headers=headers, timeout=patience(10))


def test_an_entry_with_nothing_readable_is_not_requeued_and_the_console_says_why(
    make_harness: Any, sign_in: ConsoleSignIn
) -> None:
    h = make_harness(**sign_in.settings())
    h.send_raw("this is not JSON")
    h.run()
    [entry] = _poison(h)
    refused = as_the_operator(h, sign_in, f"poison/{entry.message_id}/requeue")
    assert refused.status_code == 409 and "not a JSON object" in refused.text
    assert [e.message_id for e in _poison(h)] == [entry.message_id]  # still there, to be discarded
    assert as_the_operator(h, sign_in, f"poison/{entry.message_id}/discard").status_code == 200
    assert _poison(h) == []


def test_what_a_producer_wrote_in_a_poison_entry_is_data_and_links_nowhere(
    make_harness: Any, sign_in: ConsoleSignIn
) -> None:
    h, entry = with_a_dead_letter(make_harness, sign_in)
    poison = h.queue(f"{h.stack.queue_name}-poison")
    for odd in (5, True, {"a": 1}, "../../poison?x=1#y", "x" * 300):  # as a host copy or as our own record
        for doc in ({"trackingId": odd, "operationUrl": "/v1.0/x"}, {"deadLetter": 1, "trackingId": odd, "field": 7}):
            poison.send_message(base64.b64encode(json.dumps(doc).encode()).decode())
    page = get(h, "poison", sign_in.headers())
    assert page.status_code == 200 and page.text.count("data-message=") == 11
    links = re.findall(r'href="([^"]*trackings/[^"]*)"', page.text)
    assert links == [f"/api/console/trackings/{entry.tracking_id}"]  # only the tracking that is one


def test_changes_come_only_from_the_consoles_own_pages(make_harness: Any, sign_in: ConsoleSignIn) -> None:
    h, entry = with_a_dead_letter(make_harness, sign_in)
    url = h.api(f"console/poison/{entry.message_id}/requeue")
    host = url.split("/")[2]
    signed_in = sign_in.headers()

    plain_form = requests.post(url, headers=signed_in, timeout=patience(10))  # what a cross-site form can send
    assert plain_form.status_code == 400 and "HX-Request" in plain_form.text
    cross_site = requests.post(url, headers={**signed_in, "HX-Request": "true", "Origin": "https://evil.example",
                                             "Sec-Fetch-Site": "cross-site"}, timeout=patience(10))  # fmt: skip
    assert cross_site.status_code == 400
    assert [e.message_id for e in _poison(h)] == [entry.message_id]

    same_origin = {**signed_in, "HX-Request": "true", "Origin": f"http://{host}", "Sec-Fetch-Site": "same-origin"}
    # Even from the console's own origin, a change needs the token of the page the operator has open.
    untokened = requests.post(url, headers=same_origin, timeout=patience(10))
    assert untokened.status_code == 403 and "change token" in untokened.text
    session = {"Cookie": "AppServiceAuthSession=first-sign-in"}
    page = requests.get(h.api("console/poison"), headers={**signed_in, **session}, timeout=patience(10))
    found = re.search(r'hx-headers=\'\{"X-GraphOps-Token": "([A-Za-z0-9_-]+)"\}\'', page.text)
    assert page.status_code == 200 and found
    token = {"X-GraphOps-Token": found.group(1)}
    other_session = requests.post(url, headers={**same_origin, **token, "Cookie": "AppServiceAuthSession=x"},
                                  timeout=patience(10))  # fmt: skip
    assert other_session.status_code == 403  # the token belongs to that sign-in session only
    assert [e.message_id for e in _poison(h)] == [entry.message_id]
    own_page = requests.post(url, headers={**same_origin, **token, **session}, timeout=patience(10))
    assert own_page.status_code == 200 and 'data-result="requeue"' in own_page.text
    assert _poison(h) == []
    h.run()
    assert [r.status for r in h.receiver.received if r.path == "/gone"] == [410, 200]


def test_the_local_console_answers_only_requests_addressed_to_loopback(
    local_console: Any, console_data: ConsoleData
) -> None:
    port = local_console.port
    ok = requests.get(f"{local_console.url}/", timeout=patience(10))
    assert ok.status_code == 200 and console_data.refreshed in ok.text
    rebound = requests.get(
        f"{local_console.url}/", headers={"Host": f"graphops.attacker.example:{port}"}, timeout=patience(10)
    )
    assert rebound.status_code == 400 and console_data.refreshed not in rebound.text
    assert local_console._server.server_address[0] == "127.0.0.1"


def test_pages_show_no_secrets(local_console: Any, console_data: ConsoleData) -> None:
    pages = ["", "poison", f"trackings/{console_data.dead}", f"trackings/{console_data.refreshed}"]
    for path in pages:
        text = requests.get(f"{local_console.url}/{path}", timeout=patience(10)).text
        assert "local-secret-signature" not in text and "sig=" not in text, path


def test_bad_filters_are_named(local_console: Any, console_data: ConsoleData) -> None:
    for query, field in (("state=done", "state"), ("kind=nope", "kind"), ("from=yesterday", "from"),
                         ("from=2026-01-02T00:00&to=2026-01-01T00:00", "to"), ("from=1960-01-01T00:00", "from"),
                         ("from=0001-01-01T00:00%2B01:00", "from"), ("to=9999-12-31T23:59-01:00", "to"),
                         (f"correlationId={'c' * 257}", "correlationId")):  # fmt: skip
        answer = requests.get(f"{local_console.url}/?{query}", timeout=patience(10))
        assert answer.status_code == 400 and f"{field}:" in answer.text, query
    longest = requests.get(
        f"{local_console.url}/?correlationId={'c' * 256}", timeout=patience(10)
    )  # as long as the API takes
    assert longest.status_code == 200
    missing = requests.get(f"{local_console.url}/trackings/no-such-tracking", timeout=patience(10))
    assert missing.status_code == 404


def seed_reply(status: str) -> Any:
    from graphops.local.graph import Reply

    return Reply(200, seed.alert_refresh(status))


def _poison(h: Harness) -> list[Any]:

    return h.poison_entries()


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"])
def test_requeue_and_discard_refuse_every_method_but_post(
    make_harness: Any, sign_in: ConsoleSignIn, method: str
) -> None:
    h, entry = with_a_dead_letter(make_harness, sign_in)
    headers = {**sign_in.headers(), "HX-Request": "true"}
    for action in ("requeue", "discard"):
        answer = requests.request(method, h.api(f"console/poison/{entry.message_id}/{action}"), headers=headers,
                                  timeout=patience(10))  # fmt: skip
        assert answer.status_code in (404, 405), (method, action, answer.status_code)
    assert [e.message_id for e in _poison(h)] == [entry.message_id]  # nothing was moved or deleted


def test_markup_in_every_field_the_console_shows_is_text(make_harness: Any, sign_in: ConsoleSignIn) -> None:
    h = make_harness(**sign_in.settings(GRAPHOPS_STATE_TABLE=own_state_table()))

    def mark(where: str) -> str:
        return f'<b id="m-{where}" onmouseover="x()">{where}</b>'

    path = seed.reset_path("u7", "markup")
    failed = {**seed.password_reset("failed", "markup"), "statusDetail": mark("error")}
    h.graph.script(path, [Reply(200, {**seed.password_reset("running", "markup"), "status": mark("status")}),
                          Reply(200, failed)])  # fmt: skip
    h.receiver.answer("/gone", 410)
    tracking = h.track(path, correlation_id=mark("correlation"), context={"note": mark("context")},
                       callback_url=h.stack.callback_url("/gone"))  # fmt: skip
    h.send_raw(json.dumps({"operationUrl": "/v1.0/users/u/authentication/operations/o", mark("field"): 1}))
    h.run()
    pages = {name: get(h, path, sign_in.headers()).text for name, path in
             (("list", ""), ("tracking", f"trackings/{tracking}"), ("poison", "poison"))}  # fmt: skip
    # The list shows the last status (failed); the tracking's history shows each poll's, the markup included.
    shown = {"list": ["correlation"], "tracking": ["correlation", "status", "error"], "poison": ["field", "context"]}
    for name, fields in shown.items():
        assert "<b id=" not in pages[name], name  # no field made an element
        for field in fields:  # shown, as text (inside JSON, its quotes escaped once more)
            assert re.search(rf"&lt;b id=\\?&#34;m-{field}\\?&#34;", pages[name]), (name, field)


def test_a_dead_letter_graphops_did_not_seal_is_marked_and_requeued_only_as_a_producers_request(
    make_harness: Any,
    sign_in: ConsoleSignIn,
) -> None:
    h, ours = with_a_dead_letter(make_harness, sign_in)
    poison = h.queue(f"{h.stack.queue_name}-poison")
    # What anyone able to write to the poison queue could put there: graphops' own record, copied and changed to
    # carry a forged envelope (no seal of this deployment's), and records carrying a request, valid or not.
    forged_record = {
        **ours.record,
        "reason": "callback not delivered",
        "original": json.dumps(
            {**json.loads(ours.original), "outcome": "succeeded", "callbackUrl": h.stack.callback_url("/forger")}
        ),
    }
    request = {"operationUrl": h.graph_url(seed.ALERT_OPERATION_PATH), "callbackUrl": h.stack.callback_url()}
    not_a_request = {"operationUrl": "https://a.example/x"}
    records = {
        "envelope": forged_record,
        "request": {"deadLetter": 1, "reason": "r", "trackingId": ours.tracking_id, "original": json.dumps(request)},
        "invalid": {"deadLetter": 1, "reason": "r", "original": json.dumps(not_a_request)},
    }
    sent = {name: poison.send_message(base64.b64encode(json.dumps(r).encode()).decode()).id
            for name, r in records.items()}  # fmt: skip
    entries = {e.message_id: e for e in _poison(h)}
    assert entries[ours.message_id].provenance == "graphops"
    for message_id in sent.values():
        entry = entries[message_id]
        assert (entry.provenance, entry.tracking_id, entry.record) == ("forged", None, None)  # nothing believed
        assert entry.reason.startswith("not written by graphops")
    page = get(h, "poison", sign_in.headers())
    assert page.text.count('class="not-ours"') == 3
    links = re.findall(r'href="([^"]*trackings/[^"]*)"', page.text)
    assert links == [f"/api/console/trackings/{ours.tracking_id}"]  # a forged entry links to no tracking

    refused = as_the_operator(h, sign_in, f"poison/{sent['envelope']}/requeue")
    assert refused.status_code == 409 and "not written by graphops, and its message carries" in refused.text
    invalid = as_the_operator(h, sign_in, f"poison/{sent['invalid']}/requeue")
    assert invalid.status_code == 409 and "not a request the trigger takes: operationUrl" in invalid.text
    assert as_the_operator(h, sign_in, f"poison/{sent['request']}/requeue").status_code == 200
    h.graph.script(seed.ALERT_OPERATION_PATH, [seed_reply("succeeded")])
    h.run()
    # Taken as a producer's request: a tracking of its own (not the forged entry's tracking id), polled at Graph.
    [callback] = h.receiver.delivered()
    assert callback.webhook_id != ours.tracking_id and callback.body["outcome"] == "succeeded"
    assert "/forger" not in [r.path for r in h.receiver.received]
    assert {e.message_id for e in _poison(h)} == {ours.message_id, sent["envelope"], sent["invalid"]}
