"""The ``graphops`` command: run the app locally, start and follow trackings, tend the index and the poison queue.

One module per command group; importing them registers their commands on :data:`graphops.cli.base.cli`.
"""

from graphops.cli import (
    budget_commands,
    connector_commands,
    consent_commands,
    index_commands,
    local_commands,
    poison_commands,
    tracking_commands,
)
from graphops.cli.base import cli, main

__all__ = [
    "budget_commands",
    "cli",
    "connector_commands",
    "consent_commands",
    "index_commands",
    "local_commands",
    "main",
    "poison_commands",
    "tracking_commands",
]
