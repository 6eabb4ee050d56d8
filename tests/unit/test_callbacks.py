from __future__ import annotations

import pytest

from graphops.common.errors import Rejected
from graphops.egress.policy import CallbackPolicy, is_public_address

LOGIC = (
    "https://prod-00.westeurope.logic.azure.com/workflows/abc/triggers/manual/paths/invoke?api-version=2016-10-01&sig=s"
)
PUBLIC = ["20.38.102.5"]


def policy(*hosts: str, resolver: dict[str, list[str]] | None = None, allow_http: bool = False) -> CallbackPolicy:
    table = resolver or {}
    return CallbackPolicy(
        hosts or ("*.logic.azure.com",), allow_http=allow_http, resolver=lambda host, port: table.get(host, PUBLIC)
    )


def test_a_logic_apps_callback_is_accepted_and_pinned_to_its_resolved_address() -> None:
    target = policy().target(LOGIC)
    assert (target.host, target.port, target.address, target.scheme) == (
        "prod-00.westeurope.logic.azure.com", 443, "20.38.102.5", "https",
    )  # fmt: skip


@pytest.mark.parametrize(
    "url",
    [
        "http://prod-00.westeurope.logic.azure.com/x",  # not https
        "https://logic.azure.com.evil.example/x",
        "https://evillogic.azure.com/x",
        "https://prod-00.westeurope.logic.azure.com:8443/x",  # port not allowed
        "https://user:pw@prod-00.westeurope.logic.azure.com/x",
        "https://prod-00.westeurope.logic.azure.com./x",
        "https://prod-00.westeurope.lоgic.azure.com/x",  # Cyrillic o
        "https://2130706433/x",
        "https://0x7f.1/x",
        "https://127.1/x",
        "https://[::1]/x",
        "file:///etc/passwd",
        "/relative/path",
        LOGIC + "#fragment",
    ],
)
def test_hostile_callbacks_are_refused_naming_callback_url(url: str) -> None:
    with pytest.raises(Rejected) as raised:
        policy().target(url)
    assert raised.value.field == "callbackUrl"


@pytest.mark.parametrize(
    "address", ["127.0.0.1", "10.1.2.3", "169.254.169.254", "168.63.129.16", "::ffff:10.0.0.1", "fd00::1"]
)
def test_an_allowed_name_that_resolves_to_a_private_address_is_refused(address: str) -> None:
    p = policy(resolver={"prod-00.westeurope.logic.azure.com": ["20.38.102.5", address]})
    with pytest.raises(Rejected, match="non-public address"):
        p.target(LOGIC)


def test_a_private_host_passes_only_when_listed_literally_with_its_port() -> None:
    p = policy("127.0.0.1:7000", allow_http=True)
    assert p.target("http://127.0.0.1:7000/cb").address == "127.0.0.1"
    with pytest.raises(Rejected):
        p.target("http://127.0.0.1:7001/cb")
    with pytest.raises(Rejected, match="https"):
        policy("127.0.0.1:7000").target("http://127.0.0.1:7000/cb")


@pytest.mark.parametrize(
    ("address", "public"),
    [("20.38.102.5", True), ("0.0.0.0", False), ("100.64.0.1", False), ("::", False), ("2001:db8::1", False),
     ("::ffff:127.0.0.1", False), ("2002:7f00:1::", False), ("2603:1030::1", True), ("224.0.0.1", False)],
)  # fmt: skip
def test_public_address_rules(address: str, public: bool) -> None:
    assert is_public_address(address) is public
