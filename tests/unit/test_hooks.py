"""The preprovision hooks as azd runs them: the environment's values handed over as environment variables,
and an `azd` on the PATH that answers as the real one does (azd's cmd/env.go and its error middleware): a
missing key is `ERROR: key not found in environment values` on stdout with exit code 1, and every call may
print an update notice on stderr. An `az` on the PATH answers from the files of a made-up subscription, with
az's own output (`-o tsv`) and errors (`ERROR: (Code) message` on stderr, exit code 1)."""

from __future__ import annotations

import base64
import json
import re
import subprocess
from pathlib import Path

import pytest

from graphops.common.errors import SettingsError
from graphops.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
HOOKS = ROOT / "infra" / "hooks"
CLIENT_ID = "6f1c2b9e-0000-4000-8000-00000000c0de"
SUBSCRIPTION = "0b5e1f2a-0000-4000-8000-000000000001"
GRANTS = json.loads((ROOT / "graphops" / "grants.json").read_text())
TENANTS = '{"4a1f0c2e-0000-4000-8000-00000000c0de": {"name": "Contoso"}}'  # customer tenants, as azd env holds them

FAKE_AZD = r"""#!/bin/sh
echo "WARNING: a newer version of azd is available" >&2
store="$AZD_TEST_ENV_FILE"
case "$1 $2" in
  "env get-value")
    line=$(grep "^$3=" "$store" 2>/dev/null | tail -n 1)
    if [ -z "$line" ]; then
      printf '\nERROR: key not found in environment values: %s\n' "'$3'"
      exit 1
    fi
    value=${line#*=}; value=${value#\"}; echo "${value%\"}" ;;
  "env set") echo "$3=\"$4\"" >> "$store" ;;
  *) echo "fake azd: unexpected call: $*" >&2; exit 2 ;;
esac
"""


# The subscription's state is files in $AZ_TEST_STATE: group (the resource group exists), provider
# (Microsoft.App's registrationState), register-refused, storage ("name sku" lines), vault (the vault's name),
# secret-<name> (a secret's value), forbidden (secrets cannot be read), signed-out. Every call is logged.
FAKE_AZ = r"""#!/bin/sh
state="$AZ_TEST_STATE"
echo "$*" >> "$state/calls"
if [ -f "$state/signed-out" ]; then
  echo "ERROR: Please run 'az login' to setup account." >&2; exit 1
fi
case "$1 $2" in
  "group exists") [ -f "$state/group" ] && echo true || echo false ;;
  "provider show") cat "$state/provider" ;;
  "provider register")
    if [ -f "$state/register-refused" ]; then
      echo "ERROR: (AuthorizationFailed) The client does not have authorization to perform action" \
        "'Microsoft.App/register/action'" >&2
      exit 1
    fi
    echo Registered > "$state/provider" ;;
  "storage account") cat "$state/storage" 2>/dev/null || true ;;
  "keyvault list") cat "$state/vault" 2>/dev/null || true ;;
  "keyvault secret")
    name=$(printf '%s\n' "$@" | sed -n '/^-n$/{n;p;}')
    if [ -f "$state/forbidden" ]; then
      echo "ERROR: (Forbidden) Caller is not authorized to perform action on resource. Code: Forbidden" >&2; exit 1
    fi
    if [ ! -f "$state/secret-$name" ]; then
      echo "ERROR: (SecretNotFound) A secret with (name/id) $name was not found in this key vault." >&2; exit 1
    fi
    cat "$state/secret-$name" ;;
  *) echo "fake az: unexpected call: $*" >&2; exit 2 ;;
esac
"""


class Environment:
    """One azd environment: its .env file, and the hook run with its values exported."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dotenv = folder / ".env"
        self.dotenv.touch()
        self.azure = folder / "subscription"
        self.azure.mkdir()
        for name, script in (("azd", FAKE_AZD), ("az", FAKE_AZ)):
            (folder / name).write_text(script)
            (folder / name).chmod(0o755)

    def given(self, **files: str) -> None:
        """The subscription's state: a file per name (dashes for underscores)."""
        for name, content in files.items():
            (self.azure / name.replace("_", "-")).write_text(content)

    def az_calls(self) -> list[str]:
        calls = self.azure / "calls"
        return calls.read_text().splitlines() if calls.exists() else []

    def values(self) -> dict[str, str]:
        found = re.findall(r'^([A-Z_]+)="(.*)"$', self.dotenv.read_text(), re.MULTILINE)
        return dict(found)

    def run(self, **settings: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.folder}:/usr/bin:/bin", "AZD_TEST_ENV_FILE": str(self.dotenv), **self.values(),
               "AZ_TEST_STATE": str(self.azure), "AZURE_ENV_NAME": "dev", "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION,
               **settings}  # fmt: skip
        return subprocess.run(["sh", str(HOOKS / "preprovision.sh")], env=env, capture_output=True, text=True,
                              check=False)  # fmt: skip


@pytest.fixture
def azd_env(tmp_path: Path) -> Environment:
    return Environment(tmp_path)


def test_a_new_environment_gets_a_signing_secret_the_app_accepts_and_keeps_it(azd_env: Environment) -> None:
    first = azd_env.run()
    assert first.returncode == 0, first.stderr
    assert "generated a callback signing secret" in first.stdout
    secret = azd_env.values()["GRAPHOPS_CALLBACK_SECRET"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    key = azd_env.values()["GRAPHOPS_ENVELOPE_KEY"]  # the key that seals graphops' own messages, likewise
    assert "generated the key that seals" in first.stdout and len(base64.b64decode(key)) == 32
    settings = Settings.from_env({"AzureWebJobsStorage__queueServiceUri": "https://a.queue.core.windows.net",
                                  "GRAPHOPS_QUEUE_NAME": "graph-operations", "GRAPHOPS_CALLBACK_SECRET": secret,
                                  "GRAPHOPS_ENVELOPE_KEY": key})  # fmt: skip
    assert settings.envelope_key == key.encode()
    again = azd_env.run()  # azd hands the stored values back as environment variables
    assert again.returncode == 0 and "generated" not in again.stdout
    assert (azd_env.values()["GRAPHOPS_CALLBACK_SECRET"], azd_env.values()["GRAPHOPS_ENVELOPE_KEY"]) == (secret, key)


def test_a_secret_set_by_the_user_is_kept(azd_env: Environment) -> None:
    done = azd_env.run(GRAPHOPS_CALLBACK_SECRET="whsec_" + base64.b64encode(b"k" * 24).decode(),
                       GRAPHOPS_ENVELOPE_KEY=base64.b64encode(b"e" * 32).decode())  # fmt: skip
    assert done.returncode == 0 and "generated" not in done.stdout
    assert {"GRAPHOPS_CALLBACK_SECRET", "GRAPHOPS_ENVELOPE_KEY"}.isdisjoint(azd_env.values())


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"GRAPHOPS_QUEUE_NAME": "Graph-Operations"}, "GRAPHOPS_QUEUE_NAME"),
        ({"GRAPHOPS_QUEUE_NAME": "graph--ops"}, "GRAPHOPS_QUEUE_NAME"),
        ({"GRAPHOPS_QUEUE_NAME": "graph-ops-"}, "GRAPHOPS_QUEUE_NAME"),
        ({"GRAPHOPS_RESULTS_QUEUE": "Results"}, "GRAPHOPS_RESULTS_QUEUE"),
        ({"GRAPHOPS_RESULTS_QUEUE": "graph-operations-poison"}, "GRAPHOPS_RESULTS_QUEUE"),
        ({"GRAPHOPS_MIN_DELAY_SECONDS": "30", "GRAPHOPS_MAX_DELAY_SECONDS": "10"}, "GRAPHOPS_MAX_DELAY_SECONDS"),
        ({"GRAPHOPS_GRANT_GRAPH_PERMISSIONS": "true", "GRAPHOPS_GRAPH_CLOUD": "usgov"}, "global cloud only"),
        ({"GRAPHOPS_MULTITENANT": "true", "GRAPHOPS_GRAPH_CLOUD": "china"}, "GRAPHOPS_MULTITENANT: graphops makes"),
        ({"GRAPHOPS_TENANTS": TENANTS}, "GRAPHOPS_TENANTS lists customer tenants"),
        ({"GRAPHOPS_MULTITENANT": "false", "GRAPHOPS_TENANTS": TENANTS}, "set GRAPHOPS_MULTITENANT to true"),
        ({"GRAPHOPS_TELEMETRY_SAMPLING_RATIO": "1.5"}, "GRAPHOPS_TELEMETRY_SAMPLING_RATIO"),
        ({"GRAPHOPS_TELEMETRY_SAMPLING_RATIO": "half"}, "GRAPHOPS_TELEMETRY_SAMPLING_RATIO"),
        ({"GRAPHOPS_START_ACTIONS": "teamClone,teamClones"}, "GRAPHOPS_START_ACTIONS: 'teamClones' is not one of"),
        ({"GRAPHOPS_START_ACTIONS": "teamClone,"}, "GRAPHOPS_START_ACTIONS has an empty name"),
        ({"GRAPHOPS_START_ACTIONS": ",teamClone"}, "GRAPHOPS_START_ACTIONS has an empty name"),
        ({"GRAPHOPS_CONSOLE_CLIENT_ID": CLIENT_ID}, "GRAPHOPS_CONSOLE_OPERATORS is empty"),
        ({"GRAPHOPS_CONSOLE_CLIENT_ID": CLIENT_ID, "GRAPHOPS_CONSOLE_OPERATORS": " "}, "GRAPHOPS_CONSOLE_OPERATORS is"),
        (
            {"GRAPHOPS_CONSOLE_CLIENT_ID": CLIENT_ID, "GRAPHOPS_CONSOLE_OPERATORS": "alice"},
            "GRAPHOPS_CONSOLE_OPERATORS",
        ),
    ],
)
def test_the_hook_refuses_what_the_app_would_refuse(azd_env: Environment, env: dict[str, str], complaint: str) -> None:
    done = azd_env.run(**env)
    assert done.returncode == 1 and complaint in done.stderr, done.stderr
    assert "GRAPHOPS_CALLBACK_SECRET" not in azd_env.values()  # refused before anything was made
    # The app itself agrees with the hook, but for what only a deployment has (grants) and stray commas, which
    # the app passes over and the hook, being where a typo is made, refuses.
    # The app's console check is its own (tests/unit/test_console.py): with no operators it lets nobody in.
    only_a_deployment_has = ("GRAPHOPS_GRANT_GRAPH_PERMISSIONS", "GRAPHOPS_CONSOLE_CLIENT_ID", "GRAPHOPS_MULTITENANT",
                             "GRAPHOPS_TENANTS")  # fmt: skip
    if not any(name in env for name in only_a_deployment_has) and "empty name" not in complaint:
        with pytest.raises(SettingsError, match=complaint.split(":", maxsplit=1)[0].split(" ", maxsplit=1)[0]):
            Settings.from_env(
                {"AzureWebJobsStorage": "UseDevelopmentStorage=true", "GRAPHOPS_QUEUE_NAME": "graph-operations", **env}
            )


@pytest.mark.parametrize(
    "kinds", ["teamsAsyncOperation,siteOperations", "roleManagementAlertRefresh,,teamsAsyncOperation", "*"]
)
def test_the_hook_refuses_kinds_that_would_grant_nothing(azd_env: Environment, kinds: str) -> None:
    done = azd_env.run(GRAPHOPS_TRACKED_KINDS=kinds)
    assert done.returncode == 1 and "GRAPHOPS_TRACKED_KINDS" in done.stderr, done.stderr


def test_the_hook_takes_names_with_spaces_and_says_what_is_granted_nothing(azd_env: Environment) -> None:
    done = azd_env.run(GRAPHOPS_TRACKED_KINDS="roleManagementAlertRefresh, onenoteOperation",
                       GRAPHOPS_START_ACTIONS=" teamClone , teamArchive")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "onenoteOperation, which is granted nothing (OneNote refuses app-only tokens" in done.stdout
    done = azd_env.run(GRAPHOPS_GRANT_GRAPH_PERMISSIONS="true", GRAPHOPS_GRAPH_CLOUD="global")
    assert done.returncode == 0, done.stderr
    operators = f"{CLIENT_ID.replace('c0de', '0001')}, {CLIENT_ID.replace('c0de', '0002')}"
    done = azd_env.run(GRAPHOPS_CONSOLE_CLIENT_ID=CLIENT_ID, GRAPHOPS_CONSOLE_OPERATORS=operators)
    assert done.returncode == 0, done.stderr
    done = azd_env.run(GRAPHOPS_MULTITENANT="true", GRAPHOPS_GRAPH_CLOUD="global", GRAPHOPS_TENANTS=TENANTS)
    assert done.returncode == 0, done.stderr


def test_every_kind_and_action_the_hook_knows_is_the_apps() -> None:
    from graphops.graph.actions import ACTIONS
    from graphops.graph.kinds import KINDS

    assert GRANTS["kinds"] == list(KINDS) and GRANTS["startActions"] == list(ACTIONS)
    raw = (ROOT / "graphops" / "grants.json").read_text()
    for name in ("kinds", "startActions"):  # the sh hook reads each list from its own line
        assert re.search(rf'^  "{name}": \[[^\n]*\],$', raw, re.MULTILINE), name


def test_the_windows_hook_reads_the_environment_and_never_asks_azd_for_a_value() -> None:
    ps1 = (HOOKS / "preprovision.ps1").read_text()
    assert not re.search(r"(^|[=(|;])\s*azd env get-value", ps1, re.MULTILINE) and "2>$null" not in ps1
    save = ps1.split("function Save-Secret", 1)[1].split("\n}\n", 1)[0]
    assert "if ([Environment]::GetEnvironmentVariable($setting)) { return }" in save and "grants.json" in ps1
    # Every rule of the sh hook has its twin: the same settings are named in both.
    sh = (HOOKS / "preprovision.sh").read_text()
    named = set(re.findall(r"GRAPHOPS_[A-Z_]+", sh))
    assert named == set(re.findall(r"GRAPHOPS_[A-Z_]+", ps1))


def test_azd_19_or_later_is_required() -> None:
    # azd 1.18 needs PowerShell 7 for `shell: pwsh`; 1.19 falls back to Windows PowerShell 5.1.
    azure_yaml = (ROOT / "azure.yaml").read_text()
    found = re.search(r'requiredVersions:\n\s+azd: ">= 1\.(\d+)\.\d+"', azure_yaml)
    assert found and int(found.group(1)) >= 19
    assert "azd 1.19" in (ROOT / "README.md").read_text()


def typed_settings(bicep_type: str) -> list[str]:
    """The azd settings mapped to main.bicep parameters of a type (main.parameters.json's ${NAME...})."""
    main = (ROOT / "infra" / "main.bicep").read_text()
    mapped = json.loads((ROOT / "infra" / "main.parameters.json").read_text())["parameters"]
    names = re.findall(rf"^param (\w+) {bicep_type}\b", main, re.MULTILINE)
    found = [re.match(r"\$\{(\w+)", mapped[name]["value"]) for name in names]
    return [match.group(1) for match in found if match and match.group(1).startswith("GRAPHOPS_")]


@pytest.mark.parametrize("setting", typed_settings("bool"))
@pytest.mark.parametrize("value", ["yes", "on", "TRue"])
def test_a_bool_azd_would_drop_is_refused_naming_the_setting(azd_env: Environment, setting: str, value: str) -> None:
    # azd reads a bool parameter with Go's strconv.ParseBool and silently deploys Bicep's default otherwise.
    done = azd_env.run(**{setting: value})
    assert done.returncode == 1 and done.stderr == f"graphops: {setting} must be true or false, not '{value}'\n"
    assert "GRAPHOPS_CALLBACK_SECRET" not in azd_env.values() and azd_env.az_calls() == []


@pytest.mark.parametrize("setting", typed_settings("int"))
@pytest.mark.parametrize("value", ["5s", "1e3", "ten"])
def test_a_number_azd_would_drop_is_refused_naming_the_setting(azd_env: Environment, setting: str, value: str) -> None:
    done = azd_env.run(**{setting: value})
    assert done.returncode == 1 and done.stderr == f"graphops: {setting} must be a whole number, not '{value}'\n"


def test_every_bool_spelling_azd_reads_is_taken() -> None:
    assert len(typed_settings("bool")) >= 8 and len(typed_settings("int")) >= 9  # the lists are found at all
    for value in ("1", "t", "T", "TRUE", "true", "True", "0", "f", "F", "FALSE", "false", "False", ""):
        env = {"PATH": "/usr/bin:/bin", "GRAPHOPS_ENABLE_EVENTS": value, "GRAPHOPS_CALLBACK_SECRET": "x",
               "GRAPHOPS_ENVELOPE_KEY": "y"}  # fmt: skip
        done = subprocess.run(["sh", str(HOOKS / "preprovision.sh")], env=env, capture_output=True, text=True,
                              check=False)  # fmt: skip
        assert done.returncode == 0, (value, done.stderr)


def test_the_private_network_registers_microsoft_app_when_the_subscription_lacks_it(azd_env: Environment) -> None:
    azd_env.given(provider="NotRegistered\n")
    done = azd_env.run(GRAPHOPS_VNET_ENABLED="true")
    assert done.returncode == 0, done.stderr
    assert f"provider register -n Microsoft.App --wait --subscription {SUBSCRIPTION} -o tsv" in azd_env.az_calls()
    assert "registering the Microsoft.App resource provider" in done.stdout
    azd_env.run(GRAPHOPS_VNET_ENABLED="True")  # registered now: asked, not registered again
    assert sum("provider register" in call for call in azd_env.az_calls()) == 1


def test_the_private_network_stops_at_once_when_microsoft_app_cannot_be_registered(azd_env: Environment) -> None:
    azd_env.given(provider="NotRegistered\n", register_refused="")
    done = azd_env.run(GRAPHOPS_VNET_ENABLED="1")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr  # one line
    assert done.stderr.startswith("graphops: GRAPHOPS_VNET_ENABLED needs the Microsoft.App resource provider")
    assert "az provider register -n Microsoft.App" in done.stderr and "AuthorizationFailed" in done.stderr
    assert "GRAPHOPS_CALLBACK_SECRET" not in azd_env.values()
    before = len(azd_env.az_calls())
    without = azd_env.run()  # no network asked for: the provider is not looked at
    assert without.returncode == 0 and not any("provider" in call for call in azd_env.az_calls()[before:])


def test_zone_redundancy_over_existing_lrs_storage_stops_with_the_migration_steps(azd_env: Environment) -> None:
    azd_env.given(group="", storage="stdev123\tStandard_LRS\n")
    done = azd_env.run(GRAPHOPS_ZONE_REDUNDANT="true")
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "GRAPHOPS_ZONE_REDUNDANT: storage account stdev123 is Standard_LRS" in done.stderr
    assert "az storage account migration start -g rg-dev -n stdev123 --sku Standard_ZRS" in done.stderr
    azd_env.given(storage="stdev123\tStandard_ZRS\n")  # converted: provisioning goes on
    assert azd_env.run(GRAPHOPS_ZONE_REDUNDANT="true").returncode == 0


def test_zone_redundancy_in_a_new_environment_needs_no_migration(azd_env: Environment) -> None:
    done = azd_env.run(GRAPHOPS_ZONE_REDUNDANT="true")  # no resource group yet
    assert done.returncode == 0, done.stderr
    assert not any(call.startswith("storage account list") for call in azd_env.az_calls())


def test_a_deployed_environment_without_its_secrets_takes_them_from_key_vault(azd_env: Environment) -> None:
    secret, key = "whsec_" + base64.b64encode(b"s" * 32).decode(), base64.b64encode(b"k" * 32).decode()
    azd_env.given(group="", vault="kv-dev123\n", secret_graphops_callback_secret=secret + "\n",
                  secret_graphops_envelope_key=key + "\n")  # fmt: skip
    done = azd_env.run()
    assert done.returncode == 0, done.stderr
    assert "generated" not in done.stdout and "took GRAPHOPS_CALLBACK_SECRET from Key Vault kv-dev123" in done.stdout
    assert azd_env.values()["GRAPHOPS_CALLBACK_SECRET"] == secret and azd_env.values()["GRAPHOPS_ENVELOPE_KEY"] == key


def test_a_secret_in_a_vault_that_cannot_be_read_is_never_replaced(azd_env: Environment) -> None:
    azd_env.given(group="", vault="kv-dev123\n", forbidden="")
    done = azd_env.run()
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("graphops: GRAPHOPS_ENVELOPE_KEY is not in this azd environment and Key Vault kv-dev")
    assert {"GRAPHOPS_CALLBACK_SECRET", "GRAPHOPS_ENVELOPE_KEY"}.isdisjoint(azd_env.values())


def test_a_vault_that_holds_no_secret_yet_gets_new_ones(azd_env: Environment) -> None:
    azd_env.given(group="", vault="kv-dev123\n")  # a first deployment that stopped before the secrets
    done = azd_env.run()
    assert done.returncode == 0 and "generated a callback signing secret" in done.stdout, done.stderr


def test_without_a_signed_in_az_no_secret_is_made_blind(azd_env: Environment) -> None:
    azd_env.given(signed_out="")
    done = azd_env.run()
    assert done.returncode == 1 and done.stderr.count("\n") == 1, done.stderr
    assert "GRAPHOPS_ENVELOPE_KEY: az group exists failed (ERROR: Please run 'az login'" in done.stderr
    assert "GRAPHOPS_CALLBACK_SECRET" not in azd_env.values()
    kept = azd_env.run(GRAPHOPS_CALLBACK_SECRET="whsec_x", GRAPHOPS_ENVELOPE_KEY="e")  # CI with its secrets
    assert kept.returncode == 0 and azd_env.az_calls() == ["group exists -n rg-dev --subscription " + SUBSCRIPTION +
                                                           " -o tsv"]  # fmt: skip


def windows_hook() -> dict[str, object]:
    import yaml

    config: dict[str, dict[str, dict[str, object]]] = yaml.safe_load((ROOT / "azure.yaml").read_text())
    return config["hooks"]["preprovision"]["windows"]  # type: ignore[return-value]


def test_windows_powershell_5_1_runs_the_hook_despite_its_restricted_default() -> None:
    # azd falls back to `powershell <script>` without pwsh (azure-dev pkg/tools/powershell), passing no
    # -ExecutionPolicy; a hook secret is set in the hook's environment, and PowerShell takes its process-scope
    # execution policy from PSExecutionPolicyPreference.
    hook = windows_hook()
    assert hook["shell"] == "pwsh" and hook["run"] == "./infra/hooks/preprovision.ps1"
    assert hook["secrets"] == {"PSExecutionPolicyPreference": "RemoteSigned"}
    ps1 = (HOOKS / "preprovision.ps1").read_bytes()
    assert ps1.isascii(), "Windows PowerShell 5.1 reads a script without a BOM in the ANSI code page"
    text = ps1.decode()
    assert "$PSVersionTable.PSVersion -lt [Version]'5.1'" in text and "install PowerShell 7" in text
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    # Syntax and parameters PowerShell 7 has and 5.1 refuses.
    for newer in ("??", "?.", "&&", "||", "-AsHashtable", "-Parallel", "$IsWindows", "Join-Path $PSScriptRoot '..' "):
        assert newer not in code, newer
    assert not re.search(r"\s\?\s[^:]+\s:\s", code), "the ternary operator is PowerShell 7's"


def test_the_windows_hook_checks_what_the_sh_hook_checks_with_az() -> None:
    ps1, sh = (HOOKS / "preprovision.ps1").read_text(), (HOOKS / "preprovision.sh").read_text()
    calls = {
        "provider show -n Microsoft.App --query registrationState": "'provider', 'show', '-n', 'Microsoft.App'",
        "provider register -n Microsoft.App --wait": "'provider', 'register', '-n', 'Microsoft.App', '--wait'",
        "group exists -n": "'group', 'exists', '-n'",
        "keyvault secret show --vault-name": "'keyvault', 'secret', 'show', '--vault-name'",
        "storage account list -g": "'storage', 'account', 'list', '-g'",
    }
    for in_sh, in_ps1 in calls.items():  # fmt: skip
        assert in_sh in sh and in_ps1 in ps1, in_sh
    for message in ("took ", "which you cannot read", "storage does not change to ZRS as a property", "SecretNotFound"):
        assert message in sh and message in ps1, message
