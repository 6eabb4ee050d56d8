"""The storage clients' one transport reads the environment only when it names a proxy or a CA bundle: otherwise
requests would scan all of it on every table and queue request (a tenth of their CPU)."""

from __future__ import annotations

import pytest

from graphops.wiring import reads_environment, storage_transport


@pytest.mark.parametrize(
    ("environ", "reads"),
    [({}, False), ({"PATH": "/usr/bin", "FUNCTIONS_WORKER_RUNTIME": "python"}, False), ({"HTTPS_PROXY": ""}, False),
     ({"HTTPS_PROXY": "http://proxy:3128"}, True), ({"https_proxy": "http://proxy:3128"}, True),
     ({"NO_PROXY": "localhost"}, True), ({"ALL_PROXY": "socks5://p"}, True), ({"REQUESTS_CA_BUNDLE": "/ca.pem"}, True),
     ({"CURL_CA_BUNDLE": "/ca.pem"}, True)],
)  # fmt: skip
def test_the_environment_is_read_only_when_it_names_a_proxy_or_a_ca_bundle(
    environ: dict[str, str], reads: bool
) -> None:
    assert reads_environment(environ) is reads
    assert storage_transport(environ=environ).session.trust_env is reads


def test_without_one_a_request_takes_nothing_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    session = storage_transport(environ={}).session
    monkeypatch.setenv("HTTP_PROXY", "http://set-after-start:3128")  # what a request would otherwise read
    settings = session.merge_environment_settings("http://127.0.0.1:10002/devstoreaccount1", {}, None, None, None)
    assert settings["proxies"] == {} and settings["verify"] is True
    configured = storage_transport(environ={"HTTP_PROXY": "http://proxy:3128"}).session
    settings = configured.merge_environment_settings("http://127.0.0.1:10002/devstoreaccount1", {}, None, None, None)
    assert settings["proxies"] == {"http": "http://set-after-start:3128"}  # a process configured with one reads it
