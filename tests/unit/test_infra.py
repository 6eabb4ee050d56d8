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
    "monitoringMetricsPublisher": "3913510d-42f4-4e42-8a64-420c390055eb",
    "keyVaultSecretsUser": "4633458b-17de-408a-b874-0445c86b69e6",
}
# Settings the code reads that infra leaves to their defaults on purpose.
LEFT_TO_DEFAULT = {
    "GRAPHOPS_ALLOW_HTTP_CALLBACKS": "http callbacks are for local development only",
    "GRAPHOPS_GRAPH_ENDPOINT": "overrides the Graph host for local stand-ins only",
}
# Settings infra sets for the platform rather than for graphops' code.
PLATFORM_SETTINGS = {
    "AzureWebJobsStorage__blobServiceUri",
    "APPLICATIONINSIGHTS_CONNECTION_STRING",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING",
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
    code = (ROOT / "graphops" / "settings.py").read_text()
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


def test_every_setting_is_documented_in_the_readme() -> None:
    readme = (ROOT / "README.md").read_text()
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
    assert prop(site, "properties.siteConfig.ftpsState") == "'Disabled'"
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


def test_application_insights_and_key_vault_use_entra_id_only() -> None:
    [(_, insights)] = resources("Microsoft.Insights/components@")
    assert prop(insights, "properties.DisableLocalAuth") == "true"
    [(_, vault)] = resources("Microsoft.KeyVault/vaults@")
    assert prop(vault, "properties.enableRbacAuthorization") == "true"
    assert prop(vault, "properties.enablePurgeProtection") == "true"
    function = (INFRA / "app" / "function.bicep").read_text()
    assert "GRAPHOPS_CALLBACK_SECRET: '@Microsoft.KeyVault(SecretUri=${callbackSecretUri})'" in function
    assert "APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=${identityClientId};Authorization=AAD'" in function


def test_role_ids_match_their_names_and_every_assignment_uses_one() -> None:
    rbac = tree(INFRA / "app" / "rbac.bicep").root_node
    roles_var = next(n for n in walk(rbac) if n.type == "variable_declaration" and text(n.children[1]) == "roles")
    table = {
        text(p.children[0]): text(p.children[-1]).strip("'") for p in walk(roles_var) if p.type == "object_property"
    }
    assert table == BUILT_IN_ROLES
    assignments = resources("Microsoft.Authorization/roleAssignments@")
    assert len(assignments) == 6
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


def test_graph_permissions_are_least_privilege_and_granted_by_name() -> None:
    grants = (INFRA / "app" / "graph-permissions.bicep").read_text()
    assert "extension microsoftGraphV1" in grants
    assert "Microsoft.Graph/appRoleAssignedTo@v1.0" in grants
    granted = set(re.findall(r"'([A-Za-z]+\.[A-Za-z.]+)'", grants))
    assert granted == {"RoleManagementAlert.Read.Directory", "UserAuthenticationMethod.Read.All",
                       "RoleManagementAlert.ReadWrite.Directory"}  # fmt: skip
    from graphops.kinds import KINDS

    assert {kind.permission for kind in KINDS.values()} <= granted
    config = json.loads((INFRA / "bicepconfig.json").read_text())
    assert "microsoftGraphV1" in config["extensions"]


def test_azd_wiring() -> None:
    azure_yaml = (ROOT / "azure.yaml").read_text()
    assert "host: function" in azure_yaml and "language: python" in azure_yaml
    params = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = {
        text(n.children[1]) for n in walk(tree(INFRA / "main.bicep").root_node) if n.type == "parameter_declaration"
    }
    assert set(params) <= declared
    assert "'azd-service-name': 'api'" in (INFRA / "main.bicep").read_text()
