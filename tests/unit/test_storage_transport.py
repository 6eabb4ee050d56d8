"""The storage clients' one transport reads the environment on every request only when it names a proxy: otherwise
requests would scan all of it on every table and queue request (a fourth of their CPU). A CA bundle it names is read
once, when the transport is built, and every request verifies with it as requests would have."""

from __future__ import annotations

import pytest

from graphops.wiring import ca_bundle, names_a_proxy, storage_transport

URL = "https://account.table.core.windows.net/state"


@pytest.mark.parametrize(
    ("environ", "reads"),
    [({}, False), ({"PATH": "/usr/bin", "FUNCTIONS_WORKER_RUNTIME": "python"}, False), ({"HTTPS_PROXY": ""}, False),
     ({"HTTPS_PROXY": "http://proxy:3128"}, True), ({"https_proxy": "http://proxy:3128"}, True),
     ({"NO_PROXY": "localhost"}, True), ({"ALL_PROXY": "socks5://p"}, True), ({"REQUESTS_CA_BUNDLE": "/ca.pem"}, False),
     ({"CURL_CA_BUNDLE": "/ca.pem"}, False)],
)  # fmt: skip
def test_the_environment_is_read_on_each_request_only_when_it_names_a_proxy(
    environ: dict[str, str], reads: bool
) -> None:
    assert names_a_proxy(environ) is reads
    assert storage_transport(environ=environ).session.trust_env is reads


@pytest.mark.parametrize(
    ("environ", "bundle"),
    [({}, None), ({"REQUESTS_CA_BUNDLE": "/requests.pem"}, "/requests.pem"),
     ({"CURL_CA_BUNDLE": "/curl.pem"}, "/curl.pem"),
     ({"REQUESTS_CA_BUNDLE": "/requests.pem", "CURL_CA_BUNDLE": "/curl.pem"}, "/requests.pem"),
     ({"REQUESTS_CA_BUNDLE": "", "CURL_CA_BUNDLE": "/curl.pem"}, "/curl.pem"),
     ({"requests_ca_bundle": "/x.pem"}, None)],  # requests reads these two names as they are spelled
)  # fmt: skip
def test_a_ca_bundle_is_the_one_requests_would_take_from_the_environment(
    environ: dict[str, str], bundle: str | None
) -> None:
    assert ca_bundle(environ) == bundle
    assert storage_transport(environ=environ).connection_config.verify == (bundle or True)


def test_without_a_proxy_a_request_takes_nothing_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    transport = storage_transport(environ={"REQUESTS_CA_BUNDLE": "/ca.pem"})
    monkeypatch.setenv("HTTP_PROXY", "http://set-after-start:3128")  # what a request would otherwise read
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/set-after-start.pem")
    verify = transport.connection_config.verify
    settings = transport.session.merge_environment_settings(URL, {}, None, verify, None)
    assert settings["proxies"] == {} and settings["verify"] == "/ca.pem"
    configured = storage_transport(environ={"HTTP_PROXY": "http://proxy:3128"}).session
    settings = configured.merge_environment_settings("http://127.0.0.1:10002/devstoreaccount1", {}, None, None, None)
    assert settings["proxies"] == {"http": "http://set-after-start:3128"}  # a process configured with one reads it
