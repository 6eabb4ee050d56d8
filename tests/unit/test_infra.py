"""Checks on infra/ in the spirit of PSRule for Azure and the Bicep linter (the Bicep CLI is not available
offline): every file parses, the app settings match what the code reads, and the security basics hold."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
import tree_sitter
import tree_sitter_bicep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Azure built-in role definition ids, from the Azure RBAC built-in roles reference.
BUILT_IN_ROLES = {
    "storageBlobDataOwner": "b7e6dc6d-f1e8-4753-8033-0f276bb0955b",
    "storageQueueDataContributor": "974c5e8b-45b9-4653-ba55-5f855dd0fb88",
    "storageTableDataContributor": "0a9a7e1f-b9d0-4cc4-a60d-0319b160aaa3",
    "storageQueueDataMessageSender": "c6a89b2d-59bc-44d0-9896-0f6e12d7b80a",
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "keyVaultSecretsUser": "4633458b-17de-408a-b874-0445c86b69e6",
    "eventGridDataSender": "d5a91429-5739-47e2-a06b-3470a27159e7",
}
# Settings the code reads that infra leaves to their defaults on purpose.
LEFT_TO_DEFAULT = {
    "GRAPHOPS_ALLOW_HTTP_CALLBACKS": "http callbacks are for local development only",
    "GRAPHOPS_GRAPH_ENDPOINT": "overrides the Graph host for local stand-ins only",
    "GRAPHOPS_EVENT_SOURCE": "defaults to /graphops/<the app's name>, which the platform sets (WEBSITE_SITE_NAME)",
    "WEBSITE_SITE_NAME": "set by the platform",
    "GRAPHOPS_LOGIN_ENDPOINT": "overrides the cloud's sign-in host for the local tenant stand-in only",
}
# Settings infra sets for the platform rather than for graphops' code.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
    "PYTHON_ENABLE_OPENTELEMETRY",  # read by the Python worker: it hands graphops the host's trace context
}


@cache
def parser() -> tree_sitter.Parser:
    return tree_sitter.Parser(tree_sitter.Language(tree_sitter_bicep.language()))


def source(path: Path) -> bytes:
    # The grammar does not know `extension` lines (Bicep extensibility); strip exactly those.
    lines = path.read_text().splitlines()
    return "\n".join("" if re.fullmatch(r"extension \w+", line.strip()) else line for line in lines).encode()


@cache
def tree(path: Path) -> tree_sitter.Tree:
    return parser().parse(source(path))


def walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    yield node
    for child in node.children:
        yield from walk(child)


def text(node: tree_sitter.Node) -> str:
    return (node.text or b"").decode()


def resources(type_prefix: str) -> list[tuple[Path, tree_sitter.Node]]:
    """Declared (not `existing`) resources whose type starts with ``type_prefix``."""
    found = []
    for path in BICEP_FILES:
        for node in walk(tree(path).root_node):
            if node.type != "resource_declaration":
                continue
            kind = next(c for c in node.children if c.type == "string")
            if text(kind).strip("'").startswith(type_prefix) and "existing" not in [text(c) for c in node.children]:
                found.append((path, node))
    return found


def prop(node: tree_sitter.Node, dotted: str) -> str | None:
    """The source text of ``a.b.c`` inside the first object under ``node``."""
    obj = next((n for n in walk(node) if n.type == "object"), None)
    for name in dotted.split("."):
        if obj is None:
            return None
        match = next((c for c in obj.children if c.type == "object_property" and text(c.children[0]) == name), None)
        if match is None:
            return None
        value = match.children[-1]
        obj = value if value.type == "object" else None
    return text(value)


def object_keys(node: tree_sitter.Node) -> set[str]:
    return {text(c.children[0]) for c in node.children if c.type == "object_property"}


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_bicep_file_parses_without_errors(path: Path) -> None:
    root = tree(path).root_node
    broken = [n for n in walk(root) if n.type == "ERROR" or n.is_missing]
    assert not broken, [f"line {n.start_point[0] + 1}: {text(n)[:60]}" for n in broken]


def settings_in_code() -> set[str]:
    code = "".join((ROOT / "graphops" / path).read_text() for path in ("settings.py", "storage/connection.py"))
    names = set(re.findall(r'"(GRAPHOPS_[A-Z_]+|AZURE_CLIENT_ID)"', code))
    names |= {f"AzureWebJobsStorage__{s}" for s in re.findall(r'f"\{prefix\}__(\w+)"', code)}
    return names


def settings_in_infra() -> set[str]:
    keys: set[str] = set()
    main = tree(INFRA / "main.bicep").root_node
    for node in walk(main):
        if node.type == "object_property" and text(node.children[0]) == "graphopsSettings":
            keys |= object_keys(node.children[-1])
    function = tree(INFRA / "app" / "function.bicep").root_node
    for node in walk(function):
        if node.type == "call_expression" and text(node).startswith("union(graphopsSettings"):
            keys |= object_keys(next(n for n in walk(node) if n.type == "object"))
    return keys


def test_the_settings_the_code_reads_are_the_settings_infra_sets() -> None:
    code, infra = settings_in_code(), settings_in_infra()
    assert infra - PLATFORM_SETTINGS <= code, (
        f"infra sets what no code reads: {sorted(infra - PLATFORM_SETTINGS - code)}"
    )
    # __accountName is the global-cloud-only shortcut; infra gives service URIs so sovereign clouds work.
    missing = code - infra - set(LEFT_TO_DEFAULT) - {"AzureWebJobsStorage__accountName"}
    assert not missing, f"code reads settings infra does not set: {sorted(missing)}"


def test_every_setting_is_documented_in_docs_settings() -> None:
    readme = (ROOT / "docs" / "settings.md").read_text()
    undocumented = [name for name in settings_in_code() if f"`{name}`" not in readme and name.startswith("GRAPHOPS_")]
    assert not undocumented


def test_storage_takes_no_shared_keys_and_only_tls_1_2() -> None:
    [(_, account)] = resources("Microsoft.Storage/storageAccounts@")
    assert prop(account, "properties.allowSharedKeyAccess") == "false"
    assert prop(account, "properties.allowBlobPublicAccess") == "false"
    assert prop(account, "properties.minimumTlsVersion") == "'TLS1_2'"
    assert prop(account, "properties.supportsHttpsTrafficOnly") == "true"


def test_the_function_app_is_locked_down_and_runs_the_apps_python() -> None:
    [(_, site)] = resources("Microsoft.Web/sites@")
    assert prop(site, "properties.httpsOnly") == "true"
    assert prop(site, "properties.siteConfig.minTlsVersion") == "'1.2'"
    assert prop(site, "properties.siteConfig.remoteDebuggingEnabled") == "false"
    assert prop(site, "identity.type") == "'UserAssigned'"
    assert prop(site, "properties.functionAppConfig.runtime.name") == "'python'"
    requires = re.search(r'requires-python = ">=(\d+\.\d+)"', (ROOT / "pyproject.toml").read_text())
    assert requires and prop(site, "properties.functionAppConfig.runtime.version") == f"'{requires.group(1)}'"
    [(_, plan)] = resources("Microsoft.Web/serverfarms@")
    assert prop(plan, "sku.name") == "'FC1'"
    nested = [n for n in walk(site) if n.type == "resource_declaration" and n != site]
    publishing = [n for n in nested if "'basicPublishingCredentialsPolicies'" in text(n)]
    assert sorted(prop(n, "name") or "" for n in publishing) == ["'ftp'", "'scm'"]
    assert all(prop(n, "properties.allow") == "false" for n in publishing)


# Site properties Flex Consumption refuses though the Bicep types allow them (its documentation's list of
# deprecated properties; ARM error 51021 names them: "Site.SiteConfig.FtpsState ... for Flex Consumption
# sites is invalid"), and the app settings it manages itself or refuses.
FLEX_REFUSED_SITE_CONFIG = frozenset({
    "ftpsState", "alwaysOn", "use32BitWorkerProcess", "linuxFxVersion", "windowsFxVersion", "javaVersion",
    "netFrameworkVersion", "nodeVersion", "phpVersion", "powerShellVersion", "pythonVersion",
    "functionAppScaleLimit", "minimumElasticInstanceCount", "preWarmedInstanceCount",
    "functionsRuntimeScaleMonitoringEnabled",
})  # fmt: skip
FLEX_REFUSED_APP_SETTINGS = frozenset({
    "FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE", "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING", "WEBSITE_NODE_DEFAULT_VERSION", "SCM_DO_BUILD_DURING_DEPLOYMENT",
    "ENABLE_ORYX_BUILD", "WEBSITE_MAX_DYNAMIC_APPLICATION_SCALE_OUT", "WEBSITE_SKIP_CONTENTSHARE_VALIDATION",
})  # fmt: skip


def test_the_site_sets_nothing_flex_consumption_refuses() -> None:
    [(path, site)] = resources("Microsoft.Web/sites@")
    config = next(n for n in walk(site) if n.type == "object_property" and text(n).startswith("siteConfig:"))
    keys = set(re.findall(r"^\s*(\w+):", text(config), re.MULTILINE)) - {"siteConfig"}
    assert keys and not keys & FLEX_REFUSED_SITE_CONFIG, f"{path.name}: Flex refuses {keys & FLEX_REFUSED_SITE_CONFIG}"
    settings = "\n".join(p.read_text() for p in (INFRA / "app").glob("*.bicep")) + (INFRA / "main.bicep").read_text()
    assert not {name for name in FLEX_REFUSED_APP_SETTINGS if re.search(rf"\b{name}:", settings)}


def test_azd_offers_only_regions_with_flex_consumption_and_docs_deploy_lists_them() -> None:
    main = (INFRA / "main.bicep").read_text()
    found = re.search(
        r"@allowed\(\[\n((?:  '[a-z0-9]+'\n)+)\]\)\n@metadata\(\{ azd: \{ type: 'location' \} \}\)\nparam location",
        main,
    )
    assert found, "location is limited to the Flex Consumption regions, with azd's location metadata"
    regions = re.findall(r"'([a-z0-9]+)'", found.group(1))
    assert {"eastus", "westeurope", "swedencentral"} <= set(regions) and "eastus2euap" not in regions
    readme = (ROOT / "docs" / "deploy.md").read_text()
    listed = re.search(r"Flex\s+Consumption\s+regions[^:]*: (`[a-z0-9]+`(?:, `[a-z0-9]+`)*)\.", readme)
    assert listed and re.findall(r"`([a-z0-9]+)`", listed.group(1)) == regions


def test_application_insights_and_key_vault_use_entra_id_only() -> None:
    [(_, insights)] = resources("Microsoft.Insights/components@")
    assert prop(insights, "properties.DisableLocalAuth") == "true"
    [(_, vault)] = resources("Microsoft.KeyVault/vaults@")
    assert prop(vault, "properties.enableRbacAuthorization") == "true"
    function = (INFRA / "app" / "function.bicep").read_text()
    assert "GRAPHOPS_CALLBACK_SECRET: '@Microsoft.KeyVault(SecretUri=${callbackSecretUri})'" in function
    assert "APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'" in function


def test_role_ids_match_their_names_and_every_assignment_uses_one() -> None:
    table = {}
    for path in (INFRA / "app" / "rbac.bicep", INFRA / "app" / "events.bicep"):
        root = tree(path).root_node
        roles_var = next(n for n in walk(root) if n.type == "variable_declaration" and text(n.children[1]) == "roles")
        table.update(
            {
                text(p.children[0]): text(p.children[-1]).strip("'")
                for p in walk(roles_var)
                if p.type == "object_property"
            }
        )
    assert table == BUILT_IN_ROLES
    assignments = resources("Microsoft.Authorization/roleAssignments@")
    assert len(assignments) == 10
    for _, node in assignments:
        definition = prop(node, "properties.roleDefinitionId") or ""
        assert re.fullmatch(
            r"subscriptionResourceId\('Microsoft.Authorization/roleDefinitions', roles\.\w+\)", definition
        )
        assert not re.search(r"[0-9a-f]{8}-[0-9a-f]{4}-", text(node)), "use the roles table, not a raw id"


def test_no_hard_coded_cloud_hosts() -> None:
    hosts = re.compile(
        r"windows\.net|microsoftonline|graph\.microsoft|azure\.(com|us|cn)|chinacloudapi|azurewebsites", re.I
    )
    for path in BICEP_FILES:
        code = "\n".join(line.split("//", 1)[0] for line in path.read_text().splitlines())
        assert not hosts.search(code), f"{path.name}: {hosts.search(code)}"


def test_no_secret_leaves_through_an_output() -> None:
    for path in BICEP_FILES:
        root = tree(path).root_node
        secure = set(re.findall(r"@secure\(\)\s*(?:@[^\n]*\n\s*)*param (\w+)", path.read_text()))
        for node in walk(root):
            if node.type != "output_declaration":
                continue
            name, value = text(node.children[1]), text(node.children[-1])
            assert not re.search(r"(secret|password|key)$", name, re.I), f"{path.name}: output {name}"
            assert not re.search(r"listKeys|listSecrets|\.value\b", value), f"{path.name}: output {name}"
            assert not any(re.search(rf"\b{s}\b", value) for s in secure), (
                f"{path.name}: output {name} uses a secure param"
            )


# How main.bicep chooses the Graph permissions a deployment needs, once, for the identity's grants and the multitenant
# app's requests alike: the rows of graphops/grants.json whose kinds it tracks or whose start actions it enables.
CHOSEN_PERMISSIONS = (
    "var grantsTable = loadJsonContent('../graphops/grants.json').permissions\n"
    "var graphPermissionRows = filter(grantsTable, row => !empty(intersection(row.kinds, trackedKindNames))"
    " || !empty(intersection(row.actions, startActionNames)))\n"
    "var graphPermissions = [for row in graphPermissionRows: row.permission]"
)


def test_graph_permissions_are_least_privilege_and_granted_by_name() -> None:
    grants = (INFRA / "app" / "graph-permissions.bicep").read_text()
    assert "extension microsoftGraphV1" in grants
    assert "Microsoft.Graph/appRoleAssignedTo@v1.0" in grants
    from graphops.graph.actions import ACTIONS
    from graphops.graph.kinds import KINDS

    main = (INFRA / "main.bicep").read_text()
    assert CHOSEN_PERMISSIONS in main and "loadJsonContent" not in grants
    # One grant per chosen permission, found by its name among Microsoft Graph's app roles.
    assert "for permission in permissions: {" in grants
    assert "appRoleId: filter(graph.appRoles, role => role.value == permission)[0].id" in grants
    assert "    permissions: graphPermissions\n" in main.split("module graphPermissions ")[1].split("\n}")[0]
    table = json.loads((ROOT / "graphops" / "grants.json").read_text())
    kinds_in_bicep: dict[str, set[str]] = {}
    actions_in_bicep: dict[str, set[str]] = {}
    for row in table["permissions"]:
        for kind in row["kinds"]:
            kinds_in_bicep.setdefault(kind, set()).add(row["permission"])
        for action in row["actions"]:
            actions_in_bicep.setdefault(action, set()).add(row["permission"])
    # Every kind that needs a token is granted its permission, but OneNote's: it refuses app-only tokens.
    granted = {name: kind for name, kind in KINDS.items() if kind.needs_token and name not in table["notGranted"]}
    in_code = {name: set(kind.permission.split(" and ")) for name, kind in granted.items()}
    assert "onenoteOperation" in table["notGranted"] and "Notes.Read.All" not in json.dumps(table)
    assert kinds_in_bicep == in_code
    # An action is granted its own write permission and the read permission of the kind it starts.
    reads = {name: in_code.get(action.kind.name, set()) for name, action in ACTIONS.items()}
    writes = {name: set(action.permission.split(" and ")) for name, action in ACTIONS.items()}
    assert actions_in_bicep == {name: reads[name] | writes[name] for name in ACTIONS}
    # Nothing widens silently: by default the grants cover today's two kinds, as before, and no action.
    main_default = default_of(main_parameters()["trackedKinds"])
    assert set(main_default.split(",")) == {"roleManagementAlertRefresh", "authenticationMethodOperation"}
    assert default_of(main_parameters()["startActions"]) == ""
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    assert "microsoftGraphV1" in config["extensions"]


def test_azd_wiring() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert "host: function" in azure_yaml and "language: python" in azure_yaml
    assert re.search(r'requiredVersions:\n\s+azd: ">= 1\.\d+\.\d+"', azure_yaml)
    assert "./infra/hooks/preprovision.sh" in azure_yaml and (INFRA / "hooks" / "preprovision.sh").exists()


def tagged_with_service_name() -> list[str]:
    """Every declared resource that carries azd's service tag, as file:line."""
    found = []
    for path in BICEP_FILES:
        for node in walk(tree(path).root_node):
            if node.type == "resource_declaration" and "azd-service-name" in (prop(node, "tags") or ""):
                found.append(f"{path.name}:{node.start_point[0] + 1}")
    return found


def test_exactly_one_resource_carries_the_azd_service_tag() -> None:
    # azd deploy refuses a service with two tagged resources ("expecting only '1' resource tagged").
    [(_, site)] = resources("Microsoft.Web/sites@")
    assert tagged_with_service_name() == [f"function.bicep:{site.start_point[0] + 1}"]
    assert prop(site, "tags") == "union(tags, { 'azd-service-name': serviceName })"
    [(_, plan)] = resources("Microsoft.Web/serverfarms@")
    assert prop(plan, "tags") == "tags"
    main = (INFRA / "main.bicep").read_text()
    assert "azd-service-name" not in main and "serviceName: 'api'" in main
    assert "union(tags" not in main


def main_parameters() -> dict[str, tree_sitter.Node]:
    root = tree(INFRA / "main.bicep").root_node
    return {text(n.children[1]): n for n in walk(root) if n.type == "parameter_declaration"}


def decorator(node: tree_sitter.Node, name: str) -> str | None:
    """The argument of ``@name(...)`` on a parameter declaration (decorators precede it in the source)."""
    source = (INFRA / "main.bicep").read_text().splitlines()
    line = node.start_point[0]
    while line > 0 and source[line - 1].startswith("@"):
        line -= 1
        match = re.fullmatch(rf"@{name}\((.*)\)", source[line])
        if match:
            return match.group(1)
    return None


def default_of(node: tree_sitter.Node) -> str:
    return text(node).split("=", 1)[1].strip().strip("'")


def test_every_parameter_reaches_azd_env_with_the_bicep_default() -> None:
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = main_parameters()
    assert set(mapped) == set(declared), "every parameter is mapped, so `azd env set` reaches it"
    for name, node in declared.items():
        value = mapped[name]["value"]
        match = re.fullmatch(r"\$\{(\w+)(?:=(.*))?\}", value)
        assert match, f"{name}: {value}"
        if name == "deployerDataAccess":  # unset, azd leaves it out and Bicep's default follows principalType
            assert match.group(2) is None and text(node).split("=", 1)[1].strip() == "principalType == 'User'"
        elif name == "tenants":  # azd reads an object's value as JSON, and leaves an unset one out: Bicep's {}
            assert match.group(2) is None and text(node) == "param tenants object = {}"
        elif "=" in text(node) and name != "principalId":  # a default: azd's fallback is the same value
            assert match.group(2) == default_of(node), f"{name}: azd default {match.group(2)!r} != {default_of(node)!r}"


def test_bicep_bounds_are_the_bounds_the_app_accepts() -> None:
    from graphops.settings import WHOLE_NUMBERS

    main = (INFRA / "main.bicep").read_text()
    declared = main_parameters()
    for setting, bounds in WHOLE_NUMBERS.items():
        param = re.search(rf"{setting}: string\((\w+)\)", main)
        assert param, f"{setting} is not set from a parameter"
        node = declared[param.group(1)]
        in_bicep = (default_of(node), decorator(node, "minValue"), decorator(node, "maxValue"))
        assert in_bicep == (str(bounds.default), str(bounds.low), str(bounds.high)), setting
    queue = declared["queueName"]
    assert (decorator(queue, "minLength"), decorator(queue, "maxLength")) == ("3", "56")


def test_key_vault_can_be_redeployed_after_azd_down() -> None:
    declared = main_parameters()
    assert default_of(declared["keyVaultPurgeProtection"]) == "false"  # azd down --purge frees the name
    assert decorator(declared["keyVaultCreateMode"], "allowed") == "['default', 'recover']"
    [(_, vault)] = resources("Microsoft.KeyVault/vaults@")
    assert prop(vault, "properties.enablePurgeProtection") == "enablePurgeProtection ? true : null"
    assert prop(vault, "properties.createMode") == "createMode"


def test_graph_grants_only_where_the_graph_extension_exists() -> None:
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    assert "experimentalFeaturesEnabled" not in config  # the retired extensibility flag
    assert config["extensions"]["microsoftGraphV1"] == "br:mcr.microsoft.com/bicep/extensions/microsoftgraph/v1.0:1.0.0"
    main = (INFRA / "main.bicep").read_text()
    assert "var graphExtensionPossible = resolvedGraphCloud == 'global' && environment().name == 'AzureCloud'" in main
    assert "= if (grantGraphPermissions && graphExtensionPossible) {" in main
    assert "= if (multitenant && graphExtensionPossible) {" in main
    assert "output GRAPHOPS_GRAPH_PERMISSIONS string" in main


def test_the_developer_role_takes_a_principal_type_and_reaches_the_state_table() -> None:
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    developer = [
        node
        for _, node in resources("Microsoft.Authorization/roleAssignments@")
        if "developerPrincipalId" in text(node)
    ]
    assert {prop(n, "properties.roleDefinitionId") for n in developer} == {
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataContributor)",
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageTableDataContributor)",
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsUser)",
    }
    assert all(prop(n, "properties.principalType") == "developerPrincipalType" for n in developer)
    assert all("if (!empty(developerPrincipalId))" in text(n) for n in developer)
    assert "@allowed(['User', 'ServicePrincipal', 'Group'])" in rbac
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert params["principalType"]["value"] == "${AZURE_PRINCIPAL_TYPE=User}"


def test_a_producer_may_send_to_the_tracking_queue_only_never_to_the_account() -> None:
    """With Message Sender on the account a producer could write results and dead letters no one could tell
    from graphops' own: the role is scoped to the tracking queue, in infra and in the documented instructions."""
    producer = [
        node for _, node in resources("Microsoft.Authorization/roleAssignments@") if "producerPrincipalId" in text(node)
    ]
    assert [prop(n, "properties.roleDefinitionId") for n in producer] == [
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageQueueDataMessageSender)"
    ]
    assert [prop(n, "scope") for n in producer] == ["trackingQueue"]
    rbac = tree(INFRA / "app" / "rbac.bicep").root_node
    [queue] = [n for n in walk(rbac) if n.type == "resource_declaration" and text(n.children[1]) == "trackingQueue"]
    assert "queueServices/queues@" in text(queue) and prop(queue, "name") == "queueName"
    main = (INFRA / "main.bicep").read_text()
    rbac_module = main.split("module rbac ", 1)[1].split("\n}\n", 1)[0]
    assert "    queueName: queueName\n" in rbac_module and "producerPrincipalId: producerPrincipalId\n" in rbac_module
    for page in (ROOT / "README.md", ROOT / "docs" / "recipes.md", ROOT / "docs" / "how-it-works.md"):
        words = " ".join(page.read_text().split())
        assert "Message Sender on the storage account" not in words, page.name
        assert "Storage Queue Data Message Sender on the tracking queue" in words, page.name


def test_the_optional_event_grid_topic_takes_cloudevents_from_the_apps_identity_only() -> None:
    [(path, topic)] = resources("Microsoft.EventGrid/topics@")
    assert path.name == "events.bicep"
    assert prop(topic, "properties.inputSchema") == "'CloudEventSchemaV1_0'"
    assert prop(topic, "properties.disableLocalAuth") == "true"  # no access keys, no SAS
    assert prop(topic, "identity") is None  # it delivers nowhere: an identity would only be one more principal
    [(_, sender)] = [
        (p, n) for p, n in resources("Microsoft.Authorization/roleAssignments@") if p.name == "events.bicep"
    ]
    assert prop(sender, "scope") == "topic" and prop(sender, "properties.principalId") == "senderPrincipalId"
    assert prop(sender, "properties.roleDefinitionId") == (
        "subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.eventGridDataSender)"
    )
    main = (INFRA / "main.bicep").read_text()
    # Off by default; when on, the app is told the topic's endpoint and the sender is graphops' identity.
    assert default_of(main_parameters()["enableEvents"]) == "false"
    assert default_of(main_parameters()["resultsQueueName"]) == ""
    assert "module events 'app/events.bicep' = if (enableEvents)" in main
    assert "senderPrincipalId: identity.outputs.principalId" in main
    assert "GRAPHOPS_EVENT_GRID_ENDPOINT: enableEvents ? events.outputs.endpoint : ''" in main
    assert "GRAPHOPS_RESULTS_QUEUE: resultsQueueName" in main
    storage = (INFRA / "core" / "storage.bicep").read_text()
    assert "if (!empty(resultsQueueName))" in storage


def test_the_console_is_behind_entra_id_sign_in_for_the_named_operators_only() -> None:
    [(path, auth)] = resources("Microsoft.Web/sites/config@")
    assert path.name == "function.bicep" and "if (!empty(consoleClientId))" in text(auth)
    assert prop(auth, "name") == "'authsettingsV2'" and prop(auth, "parent") == "app"
    assert prop(auth, "properties.platform.enabled") == "true"
    # The platform refuses first: sign-in is required everywhere but on the API's routes, which keep their
    # function keys, and openapi.json; the console is not excluded.
    assert prop(auth, "properties.globalValidation.requireAuthentication") == "true"
    assert prop(auth, "properties.globalValidation.unauthenticatedClientAction") == "'RedirectToLoginPage'"
    assert prop(auth, "properties.globalValidation.excludedPaths") == "apiPaths"
    function_bicep = (INFRA / "app" / "function.bicep").read_text()
    excluded = set(re.findall(r"^  '(/api/[^']+)'$", function_bicep.split("var apiPaths = [")[1].split("]")[0], re.M))
    app = (ROOT / "function_app.py").read_text()
    routes = set(re.findall(r'route="([^"]+)"', app))
    assert "console/{*path}" in routes
    wanted = {"/api/" + re.sub(r"\{[^}]+\}", "*", route) for route in routes if not route.startswith("console")}
    assert excluded == wanted, "every API route is excluded from sign-in, and the console is not"
    assert not any(path.startswith("/api/console") for path in excluded)
    assert prop(auth, "properties.httpSettings.requireHttps") == "true"
    assert prop(auth, "properties.httpSettings.forwardProxy.convention") == "'NoProxy'"
    entra = "properties.identityProviders.azureActiveDirectory"
    assert prop(auth, f"{entra}.registration.clientId") == "consoleClientId"
    assert prop(auth, f"{entra}.registration.openIdIssuer") == (
        "'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'")  # fmt: skip
    assert prop(auth, f"{entra}.validation.defaultAuthorizationPolicy.allowedPrincipals.identities") == (
        "consoleOperators")  # fmt: skip
    assert prop(auth, f"{entra}.registration.clientSecretSettingName") is None  # no secret to keep
    # The platform forwards the operator's ID token (which the console verifies) only with its token store on.
    assert prop(auth, "properties.login.tokenStore.enabled") == "true"
    main = (INFRA / "main.bicep").read_text()
    assert default_of(main_parameters()["consoleClientId"]) == ""  # off by default
    # The app's own check follows the same parameters: on with the sign-in, for the same operators.
    assert "GRAPHOPS_CONSOLE_ENABLED: string(!empty(consoleClientId))" in main
    assert "GRAPHOPS_CONSOLE_OPERATORS: consoleOperators" in main
    # ... and verifies the ID token the sign-in issued: same registration, same tenant, same login endpoint.
    assert "GRAPHOPS_CONSOLE_CLIENT_ID: consoleClientId" in main
    assert "GRAPHOPS_CONSOLE_TENANT_ID: tenant().tenantId" in main
    assert "GRAPHOPS_CONSOLE_LOGIN_ENDPOINT: environment().authentication.loginEndpoint" in main
    assert "consoleOperators: empty(consoleOperators) ? [] : split(replace(consoleOperators, ' ', ''), ',')" in main


def test_alert_rules_and_the_workbook_read_the_apps_own_application_insights() -> None:
    rules = [(p, n) for p, n in resources("Microsoft.Insights/scheduledQueryRules@") if p.name == "alerts.bicep"]
    [(_, rule)] = rules  # one declaration, one rule per entry of `rules`
    assert "for rule in rules" in text(rule)
    assert prop(rule, "properties.scopes") == "[appInsights.id]"
    assert prop(rule, "properties.actions.actionGroups") == "empty(alertEmail) ? [] : [oncall.id]"
    alerts = (INFRA / "app" / "alerts.bicep").read_text()
    assert (
        "resource appInsights 'Microsoft.Insights/components@2020-02-02' existing = {\n  name: appInsightsName"
        in alerts
    )
    keys = re.findall(r"^    key: '([\w-]+)'$", alerts, re.MULTILINE)
    assert keys == ["dead-letters", "callback-failures", "forbidden", "graph-throttling", "queue-lag",
                    "setting-unresolved"]  # fmt: skip
    [(_, group)] = resources("Microsoft.Insights/actionGroups@")
    assert "if (!empty(alertEmail))" in text(group)
    assert prop(group, "properties.emailReceivers") is not None
    [(_, workbook)] = resources("Microsoft.Insights/workbooks@")
    assert prop(workbook, "properties.sourceId") == "toLower(appInsights.id)"  # as the portal matches it
    # Alert rules at the API version that is generally available, not a preview.
    assert all("-preview" not in text(rule).split("'")[1] for _, rule in resources("Microsoft.Insights/scheduled"))
    assert prop(workbook, "name") == "guid(appInsights.id, 'graphops-workbook')"
    main = (INFRA / "main.bicep").read_text()
    assert "appInsightsName: monitoring.outputs.appInsightsName" in main.split("module alerts")[1].split("\n}")[0]
    assert default_of(main_parameters()["alertEmail"]) == ""


def test_zone_redundancy_and_instance_memory_are_choices_off_by_default() -> None:
    declared = main_parameters()
    assert default_of(declared["zoneRedundant"]) == "false" and default_of(declared["instanceMemoryMB"]) == "2048"
    assert "@allowed([512, 2048, 4096])\nparam instanceMemoryMB int = 2048" in (INFRA / "main.bicep").read_text()
    [(_, plan)] = resources("Microsoft.Web/serverfarms@")
    assert prop(plan, "properties.zoneRedundant") == "zoneRedundant"
    [(_, site)] = resources("Microsoft.Web/sites@")
    assert prop(site, "properties.functionAppConfig.scaleAndConcurrency.instanceMemoryMB") == "instanceMemoryMB"
    [(_, account)] = resources("Microsoft.Storage/storageAccounts@")
    assert prop(account, "sku.name") == "zoneRedundant ? 'Standard_ZRS' : 'Standard_LRS'"
    main = (INFRA / "main.bicep").read_text()
    for wiring in ("instanceMemoryMB: instanceMemoryMB", "zoneRedundant: zoneRedundant"):
        assert wiring in main.split("module app ")[1], wiring
    assert "zoneRedundant: zoneRedundant" in main.split("module storage ")[1].split("\n}")[0]


def test_the_private_network_closes_every_public_endpoint_it_replaces() -> None:
    main = (INFRA / "main.bicep").read_text()
    assert default_of(main_parameters()["vnetEnabled"]) == "false"
    assert "module network 'core/network.bicep' = if (vnetEnabled)" in main
    closed = "publicNetworkAccess: vnetEnabled ? 'Disabled' : 'Enabled'"
    for module in ("storage", "events", "vault"):
        assert closed in main.split(f"module {module} ")[1].split("\n}")[0], module
    assert "virtualNetworkSubnetId: vnetEnabled ? network.outputs.appSubnetId : ''" in main
    groups = re.findall(r"groupId: '(\w+)'", main)
    assert sorted(groups) == ["blob", "queue", "table", "topic", "vault"]
    assert "environment().suffixes.storage" in main and "environment().suffixes.keyvaultDns" in main
    [(_, site)] = resources("Microsoft.Web/sites@")
    assert prop(site, "properties.virtualNetworkSubnetId") == (
        "empty(virtualNetworkSubnetId) ? null : virtualNetworkSubnetId")  # fmt: skip
    network = (INFRA / "core" / "network.bicep").read_text()
    assert "serviceName: 'Microsoft.App/environments'" in network  # Flex Consumption's delegation
    assert "privateDnsZoneId: zones[i].id" in network and "virtualNetwork: { id: vnet.id }" in network
    for path in ("core/storage.bicep", "core/keyvault.bicep"):
        declared = (INFRA / path).read_text()
        assert "defaultAction: publicNetworkAccess == 'Enabled' ? 'Allow' : 'Deny'" in declared, path
        assert "publicNetworkAccess: publicNetworkAccess" in declared, path
    assert "publicNetworkAccess: publicNetworkAccess" in (INFRA / "app" / "events.bicep").read_text()


def test_the_site_storage_key_vault_and_topic_log_to_the_workspace_which_takes_no_keys() -> None:
    settings = resources("Microsoft.Insights/diagnosticSettings@")
    scopes = {(path.name, prop(node, "scope")) for path, node in settings}
    assert scopes == {("function.bicep", "app"), ("storage.bicep", "account::blobs"),
                      ("storage.bicep", "account::queues"), ("storage.bicep", "account::tables"),
                      ("keyvault.bicep", "vault"), ("events.bicep", "topic")}  # fmt: skip
    assert all(prop(node, "properties.workspaceId") == "workspaceId" for _, node in settings)
    main = (INFRA / "main.bicep").read_text()
    for module in ("storage", "events", "vault", "app"):
        assert "workspaceId: monitoring.outputs.workspaceId" in main.split(f"module {module} ")[1].split("\n}")[0]
    [(_, workspace)] = resources("Microsoft.OperationalInsights/workspaces@")
    assert prop(workspace, "properties.features.disableLocalAuth") == "true"


def test_the_grants_wait_for_the_slowest_part_of_the_deployment_not_the_new_identity() -> None:
    # A grant to a service principal Entra has not replicated yet fails (msgraph-bicep-types#193).
    main = (INFRA / "main.bicep").read_text()
    grants = main.split("module graphPermissions ")[1].split("\n}")[0]
    assert "dependsOn: [app]" in grants
    for page in (ROOT / "README.md", ROOT / "docs" / "deploy.md"):
        readme = page.read_text()
        assert (
            "Not a valid reference update" in readme
            and "azd provision" in readme.split("Not a valid reference update")[1][:400]
        ), page.name


def test_the_deployers_data_access_is_a_setting_on_for_a_person_and_off_for_a_pipeline() -> None:
    # azd fills principalId and principalType from whoever runs it (azure-dev bicep_provider.go loadParameters:
    # CurrentPrincipalId, CurrentPrincipalType), a CI service principal included.
    main = (INFRA / "main.bicep").read_text()
    assert "param deployerDataAccess bool = principalType == 'User'" in main
    assert "developerPrincipalId: deployerDataAccess ? principalId : ''" in main
    assert "developerPrincipalId: principalId" not in main
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["deployerDataAccess"]["value"] == "${GRAPHOPS_DEPLOYER_DATA_ACCESS}"
    assert "`GRAPHOPS_DEPLOYER_DATA_ACCESS`" in (ROOT / "docs" / "deploy.md").read_text()


def test_key_vault_secrets_user_is_granted_on_each_secret_not_the_vault() -> None:
    readers = [
        node
        for _, node in resources("Microsoft.Authorization/roleAssignments@")
        if "roles.keyVaultSecretsUser" in (prop(node, "properties.roleDefinitionId") or "")
    ]
    assert len(readers) == 2  # the app's identity, and the deployer with data access
    assert all(prop(n, "scope") == "secrets[i]" for n in readers)
    rbac = (INFRA / "app" / "rbac.bicep").read_text()
    existing = "resource secrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' existing = [for name in secretNames: {"
    assert existing in rbac
    names = re.search(r"var secretNames = concat\(\[(.*?)\], rotatingEnvelopeKey \? \[(.*?)\] : \[\]\)", rbac)
    vault = (INFRA / "core" / "keyvault.bicep").read_text()
    in_vault = set(re.findall(r"name: '(graphops-[a-z-]+)'", vault))
    assert names and set(re.findall(r"'([a-z-]+)'", names.group(1) + names.group(2))) == in_vault
    assert (
        "rotatingEnvelopeKey: !empty(envelopeKeyPrevious)"
        in (INFRA / "main.bicep").read_text().split("module rbac ")[1].split("\n}")[0]
    )


def required_parameters() -> set[str]:
    """main.bicep's parameters without a default: a deployment must give each."""
    return {name for name, node in main_parameters().items() if "=" not in text(node)}


def test_the_documented_deployment_without_azd_gives_every_required_parameter() -> None:
    readme = (ROOT / "docs" / "deploy.md").read_text()
    found = re.search(r"Without azd:.*?`(az deployment sub create [^`]+)`", readme, re.DOTALL)
    assert found, "docs/deploy.md shows the az deployment command"
    command = " ".join(found.group(1).split())
    assert "-f infra/main.bicep" in command
    given = set(re.findall(r"(?:^|\s)(\w+)=", command.split(" -p ", 1)[1]))
    assert required_parameters() == {"environmentName", "location", "callbackSecret", "envelopeKey"}
    assert required_parameters() <= given, f"missing: {sorted(required_parameters() - given)}"
    assert given <= set(main_parameters()), f"not parameters: {sorted(given - set(main_parameters()))}"


def test_azd_pipeline_config_carries_the_secrets_and_every_setting() -> None:
    import yaml

    pipeline = yaml.safe_load((ROOT / "azure.yaml").read_text())["pipeline"]
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = main_parameters()
    main = (INFRA / "main.bicep").read_text()
    secure = {name for name in declared if re.search(rf"@secure\(\)\n(?:@[^\n]*\n)*param {name} ", main)}
    setting = {name: re.match(r"\$\{(\w+)", mapped[name]["value"]).group(1) for name in declared}  # type: ignore[union-attr]
    assert sorted(pipeline["secrets"]) == sorted(setting[name] for name in secure)
    assert {"GRAPHOPS_CALLBACK_SECRET", "GRAPHOPS_ENVELOPE_KEY"} <= set(pipeline["secrets"])
    graphops = {value for name, value in setting.items() if value.startswith("GRAPHOPS_") and name not in secure}
    # The deployer's own data access is about whoever deploys: a pipeline never inherits a person's.
    assert set(pipeline["variables"]) == graphops - {"GRAPHOPS_DEPLOYER_DATA_ACCESS"}


# The token exchange audience of each cloud's identities, as Entra's federated credentials name it (Entra's "configure
# an application to trust a managed identity"; msgraph-bicep-types' msi-as-a-fic-secretless sample), by ARM cloud.
EXCHANGE_AUDIENCES = {
    "AzureCloud": "api://AzureADTokenExchange",
    "AzureUSGovernment": "api://AzureADTokenExchangeUSGov",
    "AzureChinaCloud": "api://AzureADTokenExchangeChina",
}


def variable(path: Path, name: str) -> dict[str, str]:
    """A Bicep variable that is an object of strings, as a dict."""
    root = tree(path).root_node
    node = next(n for n in walk(root) if n.type == "variable_declaration" and text(n.children[1]) == name)
    return {text(p.children[0]): text(p.children[-1]).strip("'") for p in walk(node) if p.type == "object_property"}


def test_the_multitenant_app_trusts_the_identity_as_its_only_credential_with_each_clouds_audience() -> None:
    [(path, app)] = resources("Microsoft.Graph/applications@")
    assert path.name == "multitenant-app.bicep"
    assert prop(app, "signInAudience") == "'AzureADMultipleOrgs'"
    assert prop(app, "uniqueName") == "uniqueName"
    # No secret and no certificate, anywhere: its one credential is the federated one.
    for graph_file in (p for p in BICEP_FILES if "Microsoft.Graph/" in p.read_text()):
        assert not re.search(r"passwordCredentials|keyCredentials|addPassword", graph_file.read_text()), graph_file.name
    assert prop(app, "servicePrincipalLockConfiguration.isEnabled") == "true"
    assert prop(app, "servicePrincipalLockConfiguration.allProperties") == "true"
    [(_, credential)] = resources("federatedIdentityCredentials@")
    assert credential in list(walk(app))  # declared inside the app, its parent
    assert prop(credential, "name") == "'${app.uniqueName}/graphops-identity'"
    # Issued by the home tenant through the cloud's own login endpoint, for the identity by its principal (object)
    # id, with the audience of the identity's cloud: a wrong one is saved and fails only at the token exchange.
    assert prop(credential, "issuer") == "'${environment().authentication.loginEndpoint}${tenant().tenantId}/v2.0'"
    assert prop(credential, "subject") == "identityPrincipalId"
    assert prop(credential, "audiences") == "[exchangeAudiences[environment().name]]"
    assert variable(path, "exchangeAudiences") == EXCHANGE_AUDIENCES
    assert set(EXCHANGE_AUDIENCES) == set(variable(INFRA / "main.bicep", "cloudByEnvironment"))
    main = (INFRA / "main.bicep").read_text()
    module = main.split("module multitenantApp ")[1].split("\n}")[0]
    assert "identityPrincipalId: identity.outputs.principalId\n" in module
    assert "uniqueName: 'graphops-${resourceToken}'\n" in module  # one app per deployment, as every other name
    # Its service principal in the home tenant, and nothing granted to it there: the identity reads the home tenant.
    sps = [n for p, n in resources("Microsoft.Graph/servicePrincipals@") if p == path]
    assert [prop(n, "appId") for n in sps] == ["app.appId"]
    assert {p.name for p, _ in resources("Microsoft.Graph/appRoleAssignedTo@")} == {"graph-permissions.bicep"}


def test_the_multitenant_app_asks_for_exactly_the_permissions_the_identity_is_granted() -> None:
    [(path, app)] = resources("Microsoft.Graph/applications@")
    access = prop(app, "requiredResourceAccess") or ""
    assert "resourceAppId: graph.appId" in access
    assert "for permission in permissions: {" in access
    assert "id: filter(graph.appRoles, role => role.value == permission)[0].id" in access
    assert re.findall(r"type: '(\w+)'", access) == ["Role"]  # application permissions, never a user's (Scope)
    graph = next(
        n for n in walk(tree(path).root_node) if n.type == "resource_declaration" and text(n.children[1]) == "graph"
    )
    assert "existing" in text(graph) and prop(graph, "appId") == "'00000003-0000-0000-c000-000000000000'"
    main = (INFRA / "main.bicep").read_text()
    assert CHOSEN_PERMISSIONS in main
    for module in ("multitenantApp", "graphPermissions"):
        assert "    permissions: graphPermissions\n" in main.split(f"module {module} ")[1].split("\n}")[0], module


def test_the_multitenant_app_is_off_by_default_and_its_client_id_reaches_the_app_and_azd() -> None:
    declared = main_parameters()
    assert default_of(declared["multitenant"]) == "false" and default_of(declared["tenants"]) == "{}"
    main = (INFRA / "main.bicep").read_text()
    assert "module multitenantApp 'app/multitenant-app.bicep' = if (multitenant && graphExtensionPossible) {" in main
    assert "var multitenantClientId = multitenant && graphExtensionPossible ? multitenantApp.outputs.appId : ''" in main
    assert "      GRAPHOPS_MULTITENANT_CLIENT_ID: multitenantClientId\n" in main
    assert "output GRAPHOPS_MULTITENANT_CLIENT_ID string = multitenantClientId\n" in main
    # The customer tenants go to the app as azd was given them, as JSON; none: the setting is empty.
    assert "      GRAPHOPS_TENANTS: empty(tenants) ? '' : string(tenants)\n" in main
    mapped = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    assert mapped["multitenant"]["value"] == "${GRAPHOPS_MULTITENANT=false}"
    assert mapped["tenants"]["value"] == "${GRAPHOPS_TENANTS}"


def test_every_deployment_a_module_makes_has_its_own_name() -> None:
    main = tree(INFRA / "main.bicep").root_node
    names = [prop(n, "name") for n in walk(main) if n.type == "module_declaration"]
    assert len(names) >= 10 and len(set(names)) == len(names), names


def test_the_docs_give_the_credential_the_template_makes_and_the_limits_of_many_tenants() -> None:
    tenants = " ".join((ROOT / "docs" / "tenants.md").read_text().split())
    for audience in EXCHANGE_AUDIENCES.values():
        assert f"`{audience}`" in tenants, audience
    assert "`https://login.microsoftonline.com/<home tenant id>/v2.0`" in tenants
    assert "`AzureADMultipleOrgs`" in tenants and "principal (object) id" in tenants
    journey = ("azd env set GRAPHOPS_MULTITENANT true", "graphops consent link --tenant", "GDAP",
               "/applicationconsents", "azd env set GRAPHOPS_TENANTS", "graphops consent check --tenant")  # fmt: skip
    for step in journey:
        assert step in tenants, step
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert "[Customer tenants](docs/tenants.md)" in readme
    for limit in ("a user-assigned identity only", "at most 20 federated credentials per app", "no cross-cloud",
                  "fails only at the token exchange"):  # fmt: skip
        assert limit in readme, limit
        assert limit.lower() in tenants.lower(), limit
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert all(
        f"`{name}`" in deploy for name in ("GRAPHOPS_MULTITENANT", "GRAPHOPS_MULTITENANT_CLIENT_ID", "GRAPHOPS_TENANTS")
    )
    for hook in ("preprovision.sh", "preprovision.ps1"):  # the hooks' refusals point at the page
        assert "(docs/tenants.md)" in (INFRA / "hooks" / hook).read_text(), hook
