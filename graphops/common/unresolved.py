"""A secret setting whose Key Vault reference the platform has not resolved: the app runs without it.

App Service puts the secret in place of ``@Microsoft.KeyVault(...)`` when the app's identity can read it, and
the reference's own text when it cannot (a role assignment still propagating on a first deploy, a secret
missing). Stopping the app for that would stop every function, the ones that never need the secret too; so
graphops starts whatever the settings hold, and only the work that needs the secret waits for it: on the
queue, as a new message, so the wait costs no message its dequeue budget.
"""

from __future__ import annotations

import logging

from graphops.common.logs import event

# App Service re-reads Key Vault references when the app's configuration changes (a restart follows) and once a
# day; this request makes it read them now (learn.microsoft.com/azure/app-service/app-service-key-vault-references).
REFRESH_COMMAND = (
    "az rest --method post --url https://management.azure.com/subscriptions/<subscription>/resourceGroups/"
    "<group>/providers/Microsoft.Web/sites/<app>/config/configreferences/appsettings/refresh?api-version=2022-03-01"
)
EVENT = "settingUnresolved"  # the log line infra/app/alerts.bicep alerts on


class Unresolved:
    """One secret setting this process cannot read. Its text names the setting, never the reference's value."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    @property
    def problem(self) -> str:
        return (
            f"{self.setting} is a Key Vault reference the platform has not resolved: the app's identity cannot "
            "read the secret (its Key Vault Secrets User role may still be propagating), or the secret is missing"
        )

    @property
    def waiting(self) -> str:
        """What a step that needed it says: short, for every step's log line and the status view."""
        return f"waiting for {self.setting} (a Key Vault reference not resolved yet)"

    def announce(self) -> None:
        """The one line a process logs for it, when it builds its parts."""
        event(
            EVENT,
            level=logging.ERROR,
            setting=self.setting,
            problem=self.problem,
            effect="the work that needs it waits on the queue; the API answers 503 where it needs it",
            fix=f"once the identity can read the secret: {REFRESH_COMMAND}, then restart the app",
        )
