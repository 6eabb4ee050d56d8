"""The one URL parse (graphops.common.urls), refusal by refusal, in its own words and naming the field: what a
caller reads in a 400, a dead letter or the CLI is exactly this."""

from __future__ import annotations

import pytest

from graphops.common.errors import Rejected, SettingsError
from graphops.common.urls import Url, check_host_spelling, parse_url, require_https, url_text

LONGEST = 64


REFUSED_TEXT = "contains a character that is not allowed in a URL (non-ASCII, blank, control or '\\')"


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (None, "required, a string"),
        ("", "required, a string"),
        (7, "required, a string"),
        ("https://a.example/" + "p" * LONGEST, f"longer than {LONGEST} characters"),
        ("https://a.example/ä", REFUSED_TEXT),
        ("https://a.example/p q", REFUSED_TEXT),
        ("https://a.example/p\x01q", REFUSED_TEXT),
        ("https://a.example/p\\q", REFUSED_TEXT),
    ],
)
def test_the_text_of_a_url_is_refused_in_these_words(raw: object, problem: str) -> None:
    with pytest.raises(Rejected) as refused:
        url_text(raw, "callbackUrl", LONGEST)
    assert (refused.value.field, refused.value.problem) == ("callbackUrl", problem)


def test_a_url_exactly_as_long_as_allowed_is_taken() -> None:
    raw = "https://a.example/" + "p" * (LONGEST - len("https://a.example/"))
    assert url_text(raw, "callbackUrl", LONGEST) == raw


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("a.example/p", "must be an absolute URL (scheme://host/path)"),
        ("https://a.example/p#top", "must not have a fragment"),
        ("https://[::1/p", "not a valid URL (bad host or port)"),
        ("https://u@a.example/p", "must not carry user information"),
        ("https://a.example:0/p", "not a valid URL (bad host or port)"),
        ("https://a.example:65536/p", "not a valid URL (bad host or port)"),
        ("https://a.example:/p", "not a valid URL (bad host or port)"),
        ("https://:443/p", "has no host"),
        ("https://[fe80::1%25eth0]/p", "host '[fe80::1%25eth0]' names a zone, which is not allowed"),
        ("https://a.example./p", "host must not end with a dot"),
        ("https://127.1/p", "host '127.1' is not a canonical IP address or a DNS name"),
        ("https://a_b.example/p", "host 'a_b.example' is not a valid DNS name"),
        ("https://xn--ab-9999999.example/p", "host 'xn--ab-9999999.example' is not a valid DNS name"),  # no punycode
        ("https://a.example/p%zz", "malformed percent-encoding in the path"),
    ],
)  # fmt: skip
def test_a_url_is_refused_in_these_words(raw: str, problem: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_url(raw, "operationUrl", 2048)
    assert (refused.value.field, refused.value.problem) == ("operationUrl", problem)


def test_the_parts_are_read_once_and_spelled_back() -> None:
    url = parse_url("HTTPS://A.Example:8443/p/q?x=1", "callbackUrl", 2048)
    assert url == Url("https", "a.example", 8443, "/p/q", "x=1")
    assert parse_url("https://[2001:db8::1]/p", "callbackUrl", 2048).host == "2001:db8::1"
    assert parse_url("https://xn--bcher-kva.example/p", "callbackUrl", 2048).host == "xn--bcher-kva.example"
    base = parse_url("https://graph.microsoft.com/v1.0", "operationUrl", 2048)
    assert parse_url("/v1.0/x", "operationUrl", 2048, base=base).text == "https://graph.microsoft.com/v1.0/x"
    with pytest.raises(Rejected, match="must be an absolute URL"):
        parse_url("//evil.example/x", "operationUrl", 2048, base=base)  # a network path is no path on the base


def test_a_canonical_ipv4_address_and_a_dns_name_pass() -> None:
    check_host_spelling("20.38.102.5", "callbackUrl")
    check_host_spelling("prod-01.westeurope.logic.azure.com", "callbackUrl")


def test_a_setting_that_must_be_https_names_itself_and_what_it_was() -> None:
    require_https("AzureWebJobsStorage__queueServiceUri", "https://a.queue.core.windows.net")
    with pytest.raises(SettingsError) as refused:
        require_https("AzureWebJobsStorage__queueServiceUri", "http://a.queue.core.windows.net")
    assert str(refused.value) == (
        "AzureWebJobsStorage__queueServiceUri: must be an https URL, not 'http://a.queue.core.windows.net'"
    )
