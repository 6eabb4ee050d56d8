"""The documentation's tables are promises: each row is read from docs/ and held against the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from graphops.common.errors import Rejected
from graphops.envelope.tracking import Outcome
from graphops.graph.clouds import CLOUDS
from graphops.intake.request import from_request
from graphops.settings import MAX_TIMEOUT_SECONDS, WHOLE_NUMBERS, Settings
from graphops.wiring import limits_for

from .test_decide import T0

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
MINIMAL = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}


def table_after(page: str, header: str) -> dict[str, list[str]]:
    """A Markdown table's rows after ``header`` in ``docs/<page>``, keyed by the first cell's code span."""
    text = (DOCS / page).read_text()
    start = text.index(header)
    rows: dict[str, list[str]] = {}
    for line in text[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        key = re.fullmatch(r"`([^`]+)`", cells[0])
        if key:
            rows[key.group(1)] = cells[1:]
    return rows


def test_the_outcomes_table_lists_every_outcome_a_callback_can_carry() -> None:
    documented = set(table_after("callback.md", "| outcome | when |"))
    assert documented == {str(o) for o in Outcome} - {"cancelled"}  # a cancelled tracking is never called back


# The attribute each documented default is read into, and how docs/settings.md writes it.
DEFAULTS = {
    "GRAPHOPS_GRAPH_CLOUD": ("cloud", lambda s: s.cloud.name),
    "GRAPHOPS_CREDENTIAL": ("credential", lambda s: s.credential),
    "GRAPHOPS_ALLOW_HTTP_CALLBACKS": ("allow_http_callbacks", lambda s: str(s.allow_http_callbacks).lower()),
    "GRAPHOPS_STATE_TABLE": ("state_table", lambda s: s.state_table),
}


def test_every_documented_default_is_the_one_the_app_uses() -> None:
    rows = table_after("settings.md", "| setting | default | meaning |")
    settings = Settings.from_env(MINIMAL)
    for name, bounds in WHOLE_NUMBERS.items():
        assert rows[name][0] == f"`{bounds.default}`", name
        attribute = name.removeprefix("GRAPHOPS_").lower()
        assert getattr(settings, attribute) == bounds.default, name
    for name, (_, read) in DEFAULTS.items():
        assert rows[name][0] == f"`{read(settings)}`", name
    assert "`*.logic.azure.com`" in rows["GRAPHOPS_CALLBACK_ALLOWED_HOSTS"][0]
    assert settings.callback_allowed_hosts == CLOUDS["global"].logic_apps_hosts == ("*.logic.azure.com",)
    documented = {name for name in rows if name.startswith("GRAPHOPS_")}
    assert set(WHOLE_NUMBERS) | set(DEFAULTS) <= documented


def test_the_longest_timeout_is_the_documented_thirty_days() -> None:
    row = table_after("message.md", "| field | rules |")["timeoutSeconds"][0]
    documented = re.search(r"1 to ([\d,]+) \(30 days\)", row)
    assert documented and int(documented.group(1).replace(",", "")) == MAX_TIMEOUT_SECONDS == 30 * 24 * 3600
    limits = limits_for(Settings.from_env(MINIMAL))
    doc = {"operationUrl": "/v1.0/users/u/authentication/operations/o", "callbackUrl": "https://a.logic.azure.com/cb"}
    assert from_request({**doc, "timeoutSeconds": MAX_TIMEOUT_SECONDS}, "t", T0, limits).deadline > T0
    with pytest.raises(Rejected, match="timeoutSeconds"):
        from_request({**doc, "timeoutSeconds": MAX_TIMEOUT_SECONDS + 1}, "t", T0, limits)


def test_the_documented_callback_headers_are_what_goes_on_the_wire() -> None:
    """A real POST to a local receiver: the Standard Webhooks headers docs/callback.md names, and the body's type."""
    import base64
    from datetime import UTC, datetime

    from graphops.delivery.deliverer import Deliverer
    from graphops.egress.policy import CallbackPolicy
    from graphops.local.receiver import CallbackReceiver

    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    with CallbackReceiver(secret=secret) as receiver:
        policy = CallbackPolicy((f"127.0.0.1:{receiver.port}",), allow_http=True)
        now = datetime.now(UTC)
        result = Deliverer(policy, secret).deliver(f"http://127.0.0.1:{receiver.port}/cb", "t-1", {"o": 1}, now)
        [sent] = receiver.received
    assert result.delivered and sent.verified  # signed as the documented verification snippet checks
    callback = (DOCS / "callback.md").read_text()
    documented = set(re.findall(r"`(webhook-[a-z]+)`", callback.split("Headers follow [Standard Webhooks]")[1][:400]))
    assert documented == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert documented <= set(sent.headers) and sent.headers["webhook-id"] == "t-1"
    assert sent.headers["content-type"] == "application/json" and "Content-Type: application/json" in callback


def test_the_start_actions_table_is_the_registry() -> None:
    from graphops.graph.actions import ACTIONS

    rows = table_after("start-actions.md", "| action | request | starts | permission it adds | harmless to repeat |")
    assert set(rows) == set(ACTIONS)
    checked = set()
    for name, (request, starts, permission, repeat) in rows.items():
        action = ACTIONS[name]
        assert request.startswith(f"`{action.method} "), name
        assert (starts, permission, repeat) == (f"`{action.kind.name}`", action.permission,
                                                "yes" if action.repeatable else "no"), name  # fmt: skip
        # Each documented path shape is one the action accepts (ids filled in, one version); the drive copy's
        # four prefixes are held by tests/unit/test_actions.py.
        for shape in re.findall(r"`[A-Z]+ ([^`]+)`", request):
            path = shape.replace("{v1.0,beta}", "v1.0" if "v1.0" in action.versions else "beta")
            path = path.replace("{id}", "x").replace("{channel-id}", "19:x@thread.tacv2")
            if path.startswith("/") and "{" not in path:
                segments = path.strip("/").split("/")
                assert action.matches(action.method, segments[0], segments[1:]), (name, shape)
                checked.add(name)
    assert checked == set(ACTIONS) - {"driveItemCopy"}
