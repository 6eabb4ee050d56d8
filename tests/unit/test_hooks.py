"""The preprovision hooks as azd runs them: the environment's values handed over as environment variables,
and an `azd` on the PATH that answers as the real one does (azd's cmd/env.go and its error middleware): a
missing key is `ERROR: key not found in environment values` on stdout with exit code 1, and every call may
print an update notice on stderr."""

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
GRANTS = json.loads((ROOT / "graphops" / "grants.json").read_text())

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


class Environment:
    """One azd environment: its .env file, and the hook run with its values exported."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dotenv = folder / ".env"
        self.dotenv.touch()
        azd = folder / "azd"
        azd.write_text(FAKE_AZD)
        azd.chmod(0o755)

    def values(self) -> dict[str, str]:
        found = re.findall(r'^([A-Z_]+)="(.*)"$', self.dotenv.read_text(), re.MULTILINE)
        return dict(found)

    def run(self, **settings: str) -> subprocess.CompletedProcess[str]:
        env = {"PATH": f"{self.folder}:/usr/bin:/bin", "AZD_TEST_ENV_FILE": str(self.dotenv), **self.values(),
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
    only_a_deployment_has = ("GRAPHOPS_GRANT_GRAPH_PERMISSIONS", "GRAPHOPS_CONSOLE_CLIENT_ID")
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
    assert "$env:GRAPHOPS_CALLBACK_SECRET" in ps1 and "grants.json" in ps1
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
