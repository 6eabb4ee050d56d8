"""Which callback answers count as delivered, which are retried and which are final: each class of status,
against a real receiver on loopback, and the documented promise read from docs/callback.md itself."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from graphops.delivery.deliverer import Deliverer, DeliveryResult
from graphops.egress.policy import CallbackPolicy
from graphops.local.receiver import CallbackReceiver
from graphops.pacing.schedule import delivery_delay

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


_RECEIVER: list[CallbackReceiver] = []


@pytest.fixture(scope="module", autouse=True)
def receiver() -> Iterator[CallbackReceiver]:
    with CallbackReceiver(secret=None) as one:
        _RECEIVER.append(one)
        yield one
        _RECEIVER.clear()


def answer_with(status: int, headers: dict[str, str] | None = None) -> DeliveryResult:
    """One POST to the receiver, which answers ``status`` (with ``headers``) this once."""
    receiver = _RECEIVER[0]
    receiver.answer("/cb", (status, headers or {}))
    policy = CallbackPolicy((f"127.0.0.1:{receiver.port}",), allow_http=True)
    return Deliverer(policy, None).deliver(f"http://127.0.0.1:{receiver.port}/cb", "t", {"outcome": "x"}, NOW)


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_every_2xx_is_delivered(status: int) -> None:
    result = answer_with(status)
    assert (result.delivered, result.status_code) == (True, status)


@pytest.mark.parametrize("status", [408, 425, 429, *range(500, 512)])
def test_timeouts_throttling_and_every_5xx_are_retried(status: int) -> None:
    result = answer_with(status)
    assert (result.delivered, result.retryable, result.status_code) == (False, True, status)


@pytest.mark.parametrize("status", [300, 301, 302, 303, 307, 308, 400, 401, 403, 404, 409, 410, 413, 422])
def test_redirects_and_other_4xx_are_final(status: int) -> None:
    result = answer_with(status, {"Location": "https://elsewhere.example/"} if status < 400 else None)
    assert (result.delivered, result.retryable) == (False, False)


def test_retry_after_in_seconds_and_as_an_http_date_is_read() -> None:
    assert answer_with(429, {"Retry-After": "120"}).retry_after == 120.0
    in_five_minutes = format_datetime(NOW.replace(minute=5), usegmt=True)
    assert answer_with(503, {"Retry-After": in_five_minutes}).retry_after == 300.0
    assert answer_with(429).retry_after is None


class NoJitter(random.Random):
    def random(self) -> float:
        return 0.0


def test_the_delivery_backoff_is_the_documented_x4_from_the_minimum_delay() -> None:
    assert [delivery_delay(n, 5, None, NoJitter()) for n in range(1, 8)] == [5, 20, 80, 320, 1280, 5120, 20480]
    assert delivery_delay(8, 5, None, NoJitter()) == 36000  # capped at 10 h
    assert delivery_delay(1, 5, 90.0, NoJitter()) == 90  # never before the receiver's Retry-After
    readme = (ROOT / "docs" / "callback.md").read_text()
    assert "5 s, 20 s, 80 s" in readme and "×4 from `GRAPHOPS_MIN_DELAY_SECONDS`" in readme


def test_the_docs_name_exactly_the_retried_statuses() -> None:
    readme = (ROOT / "docs" / "callback.md").read_text()
    promise = re.search(r"Only `2xx` counts as delivered.*?are retried", readme, re.S)
    assert promise and "`408`, `425`, `429`, every `5xx` (`500` to `599`)" in promise.group(0)
    for status in (408, 425, 429, 500, 501, 505, 511, 599):
        assert answer_with(status).retryable, status
