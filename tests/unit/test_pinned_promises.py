"""README promises that a deliberate bug in the code once passed every test: each is held here."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from graphops.common.errors import SettingsError
from graphops.console.access import Operator, Refusal, platform_operator
from graphops.console.signin import Authority, check_id_token
from graphops.envelope.tracking import MAX_HISTORY, Tracking
from graphops.intake.request import from_request
from graphops.settings import Settings

from ..idtokens import SigningKey, id_token
from .test_decide import LIMITS


def test_an_empty_operator_list_lets_nobody_into_the_console() -> None:
    key, operator = SigningKey.make(), "0c6e4f86-9d3a-4a5e-9f2c-4b1d2e3f4a5b"
    authority = Authority(
        "https://login.microsoftonline.com",
        "5f2b6c1e-9a7d-4e3b-8c1a-2d4e6f8a0b1c",
        "c0ffee00-1234-4abc-9def-00000000c0de",
    )
    signed_in = {"x-ms-token-aad-id-token": id_token(key, issuer=authority.issuer, audience=authority.client_id,
                                                     oid=operator)}  # fmt: skip

    def deployed(operators: frozenset[str]) -> Operator | Refusal:
        return platform_operator(signed_in, auth_enabled=True, operators=operators,
                                 verify=lambda token: check_id_token(token, key.public, authority))  # fmt: skip

    refused = deployed(frozenset())
    assert isinstance(refused, Refusal) and refused.status == 403
    assert isinstance(deployed(frozenset({operator})), Operator)


def test_the_history_keeps_the_newest_hundred_steps() -> None:
    t: Tracking = from_request({"operationUrl": "/beta/identityGovernance/roleManagementAlerts/operations/op",
                                "callbackUrl": "https://x.logic.azure.com/c"}, "t", datetime(2026, 1, 1, tzinfo=UTC),
                               LIMITS)  # fmt: skip
    t = replace(t, history=())  # a stateful tracking keeps a history
    for step in range(150):
        t = t.noted(step=step)
    assert MAX_HISTORY == 100 and t.history is not None and len(t.history) == 100
    assert [entry["step"] for entry in t.history] == list(range(50, 150))  # the newest, in order


def secret(size: int) -> str:
    return "whsec_" + base64.b64encode(bytes(range(size))).decode()


@pytest.mark.parametrize(("size", "accepted"), [(23, False), (24, True), (64, True), (65, False)])
def test_a_signing_secret_of_24_to_64_bytes_is_accepted_and_one_past_either_bound_refused(
    size: int, accepted: bool
) -> None:
    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations",
           "GRAPHOPS_CALLBACK_SECRET": secret(size)}  # fmt: skip
    if accepted:
        assert Settings.from_env(env).callback_secret == secret(size)
    else:
        with pytest.raises(SettingsError, match="GRAPHOPS_CALLBACK_SECRET"):
            Settings.from_env(env)


OLD_ENVELOPE_KEY = "the envelope key before its rotation: 7c1f0e9a4b2d"
NEW_ENVELOPE_KEY = "the envelope key after its rotation: 3e8b5a6f1c0d"


def deployment(**keys: str) -> Any:
    """The seal a deployment with these settings runs with, built as the app builds it (wiring.build_services)."""
    from graphops.wiring import build_services

    env = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations", **keys}
    return build_services(Settings.from_env(env), credential=object()).seal  # type: ignore[arg-type]


def test_a_message_sealed_with_the_previous_envelope_key_opens_while_the_key_rotates() -> None:
    from graphops.common.errors import Rejected

    message = json.dumps({"v": 1, "trackingId": "t-1", "operationUrl": "https://graph.microsoft.com/v1.0/x"})
    before = deployment(GRAPHOPS_ENVELOPE_KEY=OLD_ENVELOPE_KEY)
    rotating = deployment(GRAPHOPS_ENVELOPE_KEY=NEW_ENVELOPE_KEY, GRAPHOPS_ENVELOPE_KEY_PREVIOUS=OLD_ENVELOPE_KEY)
    after = deployment(GRAPHOPS_ENVELOPE_KEY=NEW_ENVELOPE_KEY)
    sealed_before = json.loads(before.seal(message))
    assert rotating.open(dict(sealed_before)) == json.loads(message)  # the old key's message opens
    with pytest.raises(Rejected, match="seal"):
        after.open(dict(sealed_before))  # once the previous key is gone, it does not
    sealed_rotating = json.loads(rotating.seal(message))  # new messages carry the new key's seal
    assert after.open(dict(sealed_rotating)) == json.loads(message)
    with pytest.raises(Rejected, match="seal"):
        before.open(dict(sealed_rotating))
