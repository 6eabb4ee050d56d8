"""The hostile URL corpus (tests/data/hostile_urls.json): every entry refused, with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from graphops.common.errors import Rejected
from graphops.delivery.deliverer import Deliverer
from graphops.egress.policy import CallbackPolicy
from graphops.graph.kinds import resolve_operation_url
from graphops.local.receiver import CallbackReceiver

CORPUS = json.loads((Path(__file__).resolve().parents[1] / "data" / "hostile_urls.json").read_text())
GRAPH = "https://graph.microsoft.com"
PUBLIC = ["20.38.102.5"]


def policy() -> CallbackPolicy:
    return CallbackPolicy(("*.logic.azure.com",), resolver=lambda host, port: CORPUS["resolver"].get(host, PUBLIC))


def test_the_corpus_is_large_enough() -> None:
    assert len(CORPUS["callbacks"]) + len(CORPUS["operations"]) >= 40


@pytest.mark.parametrize("entry", CORPUS["callbacks"], ids=lambda e: e["why"])
def test_every_hostile_callback_is_refused(entry: dict[str, str]) -> None:
    with pytest.raises(Rejected) as raised:
        policy().target(entry["url"])
    assert raised.value.field == "callbackUrl"


@pytest.mark.parametrize("entry", CORPUS["operations"], ids=lambda e: e["why"])
def test_every_hostile_operation_url_is_refused(entry: dict[str, str]) -> None:
    # As a default deployment reads them: the global Graph host, and drive-copy monitors on *.sharepoint.com.
    monitors = CallbackPolicy(("*.sharepoint.com",), field="operationUrl", setting="GRAPHOPS_MONITOR_ALLOWED_HOSTS")
    with pytest.raises(Rejected) as raised:
        resolve_operation_url(entry["url"], GRAPH, monitors=monitors)
    assert raised.value.field == "operationUrl"


@given(st.text(max_size=300))
def test_any_text_is_an_operation_url_or_a_rejection(raw: str) -> None:
    try:
        ref = resolve_operation_url(raw, GRAPH)
    except Rejected as exc:
        assert exc.field == "operationUrl"
    else:
        assert ref.url.startswith(GRAPH + "/")


@given(st.text(max_size=300) | st.from_regex(r"https://[a-z0-9.\-@:\[\]%]{1,60}/[ -~]{0,40}", fullmatch=True))
def test_any_text_is_a_callback_target_or_a_rejection(raw: str) -> None:
    try:
        target = policy().target(raw)
    except Rejected as exc:
        assert exc.field == "callbackUrl"
    else:
        assert target.host.endswith(".logic.azure.com") and target.port == 443 and target.address == PUBLIC[0]


def test_delivery_resolves_once_and_connects_to_that_address() -> None:
    """DNS rebinding cannot switch the address between the check and the connection."""
    calls: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        calls.append(host)
        return ["127.0.0.1"]

    with CallbackReceiver(secret=None) as receiver:
        allowed = f"callback.test:{receiver.port}"
        policy = CallbackPolicy((allowed,), allow_http=True, resolver=resolver, is_public=lambda address: True)
        deliverer = Deliverer(policy, None)
        from datetime import UTC, datetime

        result = deliverer.deliver(f"http://{allowed}/hook?sig=s", "t1", {"outcome": "succeeded"}, datetime.now(UTC))
    assert result.delivered and calls == ["callback.test"]
    [got] = receiver.received
    assert got.path == "/hook" and got.webhook_id == "t1"
