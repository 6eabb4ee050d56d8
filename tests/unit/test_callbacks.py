from __future__ import annotations

import ipaddress

import pytest

from graphops.common.errors import Rejected
from graphops.egress.policy import (
    AllowedHost,
    CallbackPolicy,
    CallbackTarget,
    embedded_ipv4,
    is_platform_address,
    is_public_address,
    system_resolver,
)

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


ALLOWING = CallbackPolicy(("*.logic.azure.com", "face.bad", "[::1]:8443", "10.0.0.5"))


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://x.logic.azure.com:99999/cb", "not a valid URL (bad host or port)"),
        ("http://x.logic.azure.com/cb", "must be an https URL"),
        ("ftp://x.logic.azure.com/cb", "must be an https URL, not ftp"),
        ("/cb", "must be an absolute URL (scheme://host/path)"),
        ("https://u:p@x.logic.azure.com/cb", "must not carry user information"),
        ("https://x.logic.azure.com/cb#top", "must not have a fragment"),
        ("https:///cb", "has no host"),
        ("https://x.logic.azure.com./cb", "host must not end with a dot"),
        ("https://0x7f.1/cb", "host '0x7f.1' is not a canonical IP address or a DNS name"),
        ("https://a_b.example.com/cb", "host 'a_b.example.com' is not a valid DNS name"),
        ("https://example.com/cb", "host example.com is not in GRAPHOPS_CALLBACK_ALLOWED_HOSTS"),
        ("https://example.com:8443/cb", "host example.com:8443 is not in GRAPHOPS_CALLBACK_ALLOWED_HOSTS"),
        ("https://[::1]:9443/cb", "host ::1:9443 is not in GRAPHOPS_CALLBACK_ALLOWED_HOSTS"),
    ],
)
def test_each_refusal_says_what_is_wrong(url: str, problem: str) -> None:
    with pytest.raises(Rejected) as rejected:
        ALLOWING.check_syntax(url)
    assert (rejected.value.field, rejected.value.problem) == ("callbackUrl", problem)


def test_names_of_hex_letters_are_names_and_bracketed_entries_carry_their_port() -> None:
    assert ALLOWING.check_syntax("https://face.bad/cb") == "https://face.bad/cb"
    assert ALLOWING.check_syntax("https://[::1]:8443/cb") == "https://[::1]:8443/cb"
    assert AllowedHost.parse("[::1]:8443") == AllowedHost("::1", 8443)
    assert AllowedHost.parse("[::1]") == AllowedHost("::1", None)


def test_the_target_is_resolved_for_its_port_and_keeps_the_url() -> None:
    asked: list[tuple[str, int]] = []

    def resolver(host: str, port: int) -> list[str]:
        asked.append((host, port))
        return ["20.1.2.3"] if host != "gone.logic.azure.com" else []

    policy = CallbackPolicy(("*.logic.azure.com", "localhost:8080"), resolver=resolver)
    url = "https://x.logic.azure.com/cb?sig=1"
    assert policy.target(url) == CallbackTarget(url, "https", "x.logic.azure.com", 443, "20.1.2.3")
    assert asked == [("x.logic.azure.com", 443)]
    with pytest.raises(OSError, match=r"^no address for gone\.logic\.azure\.com$"):
        policy.target("https://gone.logic.azure.com/cb")
    with pytest.raises(Rejected) as rejected:
        CallbackPolicy(("localhost:8443",), resolver=lambda *_: ["10.0.0.7"]).target("https://localhost:8443/cb")
    assert (rejected.value.field, rejected.value.problem) == (
        "callbackUrl",
        "localhost resolves to a non-loopback address (10.0.0.7)",
    )


def test_the_system_resolver_gives_each_address_once() -> None:
    assert system_resolver("127.0.0.1", 443) == ["127.0.0.1"]


def test_ipv4_carried_in_ipv6_and_scoped_addresses() -> None:
    assert embedded_ipv4(ipaddress.ip_address("::1")) is None and embedded_ipv4(ipaddress.ip_address("::")) is None
    assert embedded_ipv4(ipaddress.ip_address("::2")) == ipaddress.IPv4Address("0.0.0.2")
    teredo = ipaddress.ip_address("2001:0:4136:e378:8000:63bf:3fff:fdd2")
    assert embedded_ipv4(teredo) == ipaddress.IPv4Address("192.0.2.45")  # the client, not the server
    assert embedded_ipv4(ipaddress.ip_address("2001:db8::1")) is None
    assert is_platform_address("fe80::1%eth0") and not is_public_address("fe80::1%eth0")
