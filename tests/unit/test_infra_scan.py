"""infra/ read by an independent IaC scanner (checkov). Every finding it reports is either fixed or listed
here with the reason it is accepted; a new finding fails the suite until it is one or the other."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECKOV = ROOT / ".venv-checkov" / "bin" / "checkov"

# Findings accepted on purpose, with why. docs/deploy.md says the same to users.
ACCEPTED = {
    "CKV_AZURE_35": "storage keeps its public endpoint: Flex Consumption without a virtual network reaches it there; "
    "shared keys are off, so only Entra ID identities with a role get in",
    "CKV_AZURE_59": "as CKV_AZURE_35",
    "CKV_AZURE_206": "locally redundant storage (three copies in one datacentre) is the template's default: zone-"
    "redundant storage costs more and needs a region with availability zones",
    "CKV_AZURE_109": "Key Vault keeps its public endpoint: without a virtual network the platform resolves the app's "
    "Key Vault reference there; RBAC only, and only the app's identity may read secrets",
    "CKV_AZURE_189": "as CKV_AZURE_109",
    "CKV_AZURE_110": "purge protection is a parameter (GRAPHOPS_KEY_VAULT_PURGE_PROTECTION), off so a dev environment "
    "can be deleted and deployed again; turn it on for production",
    "CKV_AZURE_42": "as CKV_AZURE_110 (soft delete is on)",
    "CKV_AZURE_41": "the signing secret is shared with receivers and rotated on purpose; expiry would stop deliveries",
    "CKV_AZURE_225": "the plan is not zone redundant by default: that needs a region with availability zones and "
    "zone-redundant storage, a cost the user opts into",
    "CKV_AZURE_212": "the app scales to zero by design: the queue holds the work while no instance runs",
    "CKV_AZURE_222": "the HTTP API is called by Logic Apps over the internet (function keys)",
    "CKV_AZURE_17": "client certificates are not required: callers authenticate with function keys over TLS. Logic "
    "Apps' HTTP actions can present one, but requiring it would make every caller hold a certificate the app trusts",
    "CKV_AZURE_213": "no health-check path: the work is queue-triggered, and every HTTP route but the console needs "
    "a function key that a health probe does not have",
    "CKV_AZURE_193": "the (optional) Event Grid topic keeps its public endpoint, as the app does (no virtual network); "
    "local auth is off, so only the app's identity with EventGrid Data Sender publishes",
    "CKV_AZURE_191": "the Event Grid topic has no managed identity: it delivers to no destination that would use one, "
    "and an unused identity is one more principal",
    "CKV_AZURE_78": "FTPS is not set on the site: Flex Consumption refuses the setting (ARM error 51021); FTP and "
    "basic-auth publishing are closed by the site's publishing-credentials policies (tests/unit/test_infra.py)",
}


# checkov reads the console's authsettingsV2 (a Microsoft.Web/sites/config child) as if it were a whole site, and
# its site checks look for the settings of version 1 authentication: findings about a site the resource is not.
SITE_CHECKS_ON_AUTH_CONFIG = "the site's own checks applied to its authsettingsV2 child, which is not a site"
ACCEPTED_ON = {
    (check, "Microsoft.Web/sites/config.auth"): SITE_CHECKS_ON_AUTH_CONFIG
    for check in ("CKV_AZURE_13", "CKV_AZURE_63", "CKV_AZURE_65", "CKV_AZURE_66", "CKV_AZURE_80", "CKV_AZURE_88")
}
# checkov does not read the properties of a secret deployed under a condition; its contentType is set.
ACCEPTED_ON[("CKV_AZURE_114", "Microsoft.KeyVault/vaults/secrets.envelopePrevious")] = (
    "the previous envelope key's secret is conditional (only while rotating), and checkov does not read a "
    "conditional resource's contentType, which is set"
)


def scan(tmp_path: Path) -> dict[str, object]:
    assert CHECKOV.exists(), "checkov is installed by `make test` (make checkov) into .venv-checkov"
    copy = tmp_path / "infra"
    shutil.copytree(ROOT / "infra", copy)
    for path in copy.rglob("*.bicep"):  # its parser does not know extension lines; strip exactly those
        lines = path.read_text().splitlines()
        path.write_text("\n".join("" if re.fullmatch(r"extension \w+", ln.strip()) else ln for ln in lines) + "\n")
    done = subprocess.run(
        [str(CHECKOV), "-d", str(copy), "--framework", "bicep", "--skip-download", "-o", "json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    report: dict[str, object] = json.loads(done.stdout)
    return report


def test_checkov_finds_nothing_beyond_the_accepted_findings(tmp_path: Path) -> None:
    report = scan(tmp_path)
    results, summary = report["results"], report["summary"]
    assert isinstance(results, dict) and isinstance(summary, dict)
    assert summary["parsing_errors"] == 0, f"every Bicep file must be read: {results.get('parsing_errors')}"
    assert summary["resource_count"] >= 20
    findings = {(check["check_id"], check["resource"]) for check in results["failed_checks"]}
    unexplained = {f for f in findings if f[0] not in ACCEPTED and f not in ACCEPTED_ON}
    assert unexplained == set()
    failed = {check for check, _ in findings - set(ACCEPTED_ON)}
    passed = {check["check_id"] for check in results["passed_checks"]}
    # The basics we rely on are checked and hold: https only, TLS 1.2, no remote debugging, soft delete.
    assert {"CKV_AZURE_3", "CKV_AZURE_44", "CKV_AZURE_70", "CKV_AZURE_72", "CKV_AZURE_111"} <= passed
    assert "CKV_AZURE_192" in passed  # the Event Grid topic takes no access keys (local auth disabled)
    stale = set(ACCEPTED) - failed
    assert not stale, f"accepted findings that no longer occur; remove them: {sorted(stale)}"
    assert set(ACCEPTED_ON) <= findings, "accepted findings that no longer occur; remove them"
