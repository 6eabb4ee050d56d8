from __future__ import annotations

import pytest

from graphops.common.errors import SettingsError
from graphops.local.stack import new_secret
from graphops.settings import Settings
from graphops.storage.connection import AZURITE_CONNECTION_STRING

BASE = {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations"}


def settings(**extra: str) -> Settings:
    return Settings.from_env({**BASE, **extra})


def test_defaults_follow_the_documentation() -> None:
    s = settings()
    assert s.storage.connection_string == AZURITE_CONNECTION_STRING
    assert (s.queue_name, s.poison_queue_name) == ("graph-operations", "graph-operations-poison")
    assert s.graph_endpoint == "https://graph.microsoft.com"
    assert s.cloud.token_scope == "https://graph.microsoft.com/.default"
    assert s.callback_allowed_hosts == ("*.logic.azure.com",)
    assert (s.min_delay_seconds, s.max_delay_seconds, s.default_timeout_seconds) == (5, 60, 86400)
    assert (s.max_delivery_attempts, s.not_found_grace_seconds, s.allow_http_callbacks) == (12, 120, False)
    assert s.callback_secret is None


@pytest.mark.parametrize(
    ("cloud", "graph", "logic"),
    [
        ("usgov", "https://graph.microsoft.us", "*.logic.azure.us"),
        ("usgovdod", "https://dod-graph.microsoft.us", "*.logic.azure.us"),
        ("china", "https://microsoftgraph.chinacloudapi.cn", "*.logic.azure.cn"),
    ],
)
def test_national_clouds_change_graph_host_token_audience_and_callback_hosts(
    cloud: str, graph: str, logic: str
) -> None:
    s = settings(GRAPHOPS_GRAPH_CLOUD=cloud)
    assert s.graph_endpoint == graph
    assert s.cloud.token_scope == graph + "/.default"
    assert s.callback_allowed_hosts == (logic,)


def test_an_endpoint_override_keeps_the_clouds_token_audience() -> None:
    s = settings(GRAPHOPS_GRAPH_ENDPOINT="http://127.0.0.1:8080/", GRAPHOPS_GRAPH_CLOUD="usgov")
    assert s.graph_endpoint == "http://127.0.0.1:8080"
    assert s.cloud.token_scope == "https://graph.microsoft.us/.default"


def test_identity_based_storage_connection() -> None:
    s = Settings.from_env(
        {
            "GRAPHOPS_QUEUE_NAME": "graph-operations",
            "AzureWebJobsStorage__queueServiceUri": "https://acct.queue.core.usgovcloudapi.net",
            "AzureWebJobsStorage__credential": "managedidentity",
            "AzureWebJobsStorage__clientId": "1111",
            "AZURE_CLIENT_ID": "1111",
        }
    )
    assert s.storage.connection_string is None
    assert s.storage.queue_service_uri == "https://acct.queue.core.usgovcloudapi.net"
    assert s.storage.client_id == s.client_id == "1111"
    assert not s.storage.developer_credential and s.credential == "managedidentity"


def test_without_a_credential_setting_storage_uses_the_developers_sign_in() -> None:
    s = Settings.from_env(
        {"GRAPHOPS_QUEUE_NAME": "graph-operations", "AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net",
         "GRAPHOPS_CREDENTIAL": "default"}
    )  # fmt: skip
    assert s.storage.developer_credential and s.credential == "default"
    assert s.storage.table_service_uri == "https://a.table.core.windows.net"  # derived from the queue's


@pytest.mark.parametrize(
    ("env", "setting"),
    [
        ({"GRAPHOPS_MIN_DELAY_SECONDS": "soon"}, "GRAPHOPS_MIN_DELAY_SECONDS"),
        ({"GRAPHOPS_MIN_DELAY_SECONDS": "0"}, "GRAPHOPS_MIN_DELAY_SECONDS"),
        ({"GRAPHOPS_MIN_DELAY_SECONDS": "30", "GRAPHOPS_MAX_DELAY_SECONDS": "10"}, "GRAPHOPS_MAX_DELAY_SECONDS"),
        ({"GRAPHOPS_DEFAULT_TIMEOUT_SECONDS": "-1"}, "GRAPHOPS_DEFAULT_TIMEOUT_SECONDS"),
        ({"GRAPHOPS_MAX_DELIVERY_ATTEMPTS": "1e3"}, "GRAPHOPS_MAX_DELIVERY_ATTEMPTS"),
        ({"GRAPHOPS_NOT_FOUND_GRACE_SECONDS": "x"}, "GRAPHOPS_NOT_FOUND_GRACE_SECONDS"),
        ({"GRAPHOPS_GRAPH_CLOUD": "mars"}, "GRAPHOPS_GRAPH_CLOUD"),
        ({"GRAPHOPS_GRAPH_ENDPOINT": "graph.microsoft.com"}, "GRAPHOPS_GRAPH_ENDPOINT"),
        ({"GRAPHOPS_GRAPH_ENDPOINT": "https://graph.microsoft.com/v1.0"}, "GRAPHOPS_GRAPH_ENDPOINT"),
        ({"GRAPHOPS_GRAPH_ENDPOINT": "http://graph.example.com"}, "GRAPHOPS_GRAPH_ENDPOINT"),
        ({"GRAPHOPS_ALLOW_HTTP_CALLBACKS": "maybe"}, "GRAPHOPS_ALLOW_HTTP_CALLBACKS"),
        ({"GRAPHOPS_CALLBACK_SECRET": "hunter2"}, "GRAPHOPS_CALLBACK_SECRET"),
        ({"GRAPHOPS_CALLBACK_SECRET": "whsec_c2hvcnQ="}, "GRAPHOPS_CALLBACK_SECRET"),
        ({"GRAPHOPS_CALLBACK_ALLOWED_HOSTS": "evil*.com"}, "GRAPHOPS_CALLBACK_ALLOWED_HOSTS"),
        ({"GRAPHOPS_CALLBACK_ALLOWED_HOSTS": "*.com"}, "GRAPHOPS_CALLBACK_ALLOWED_HOSTS"),
        ({"GRAPHOPS_QUEUE_NAME": "Graph_Ops"}, "GRAPHOPS_QUEUE_NAME"),
        ({"GRAPHOPS_QUEUE_NAME": ""}, "GRAPHOPS_QUEUE_NAME"),
        ({"AzureWebJobsStorage": ""}, "AzureWebJobsStorage"),
        ({"GRAPHOPS_CREDENTIAL": "password"}, "GRAPHOPS_CREDENTIAL"),
        (
            {"AzureWebJobsStorage": "", "AzureWebJobsStorage__queueServiceUri": "http://a"},
            "AzureWebJobsStorage__queueServiceUri",
        ),
    ],
)
def test_a_bad_value_names_its_setting(env: dict[str, str], setting: str) -> None:
    with pytest.raises(SettingsError) as raised:
        settings(**env)
    assert raised.value.setting == setting
    assert str(raised.value).startswith(setting + ":")


def test_the_secret_never_shows_in_a_repr() -> None:
    secret = new_secret()
    assert secret not in repr(settings(GRAPHOPS_CALLBACK_SECRET=secret))
