"""The state table as pacing's stores use it: rows of their own that a step can always do without."""

from __future__ import annotations

import logging

from azure.core.exceptions import AzureError, ResourceExistsError
from azure.data.tables import TableClient


def create_table(table: TableClient, log: logging.Logger, what: str) -> bool:
    """The table made, or already there; False when storage refused to make it (logged, naming ``what`` the
    store keeps): on a fresh account a budget or a length can come before any state row, and the step goes on
    without it rather than fail."""
    try:
        table.create_table()
    except ResourceExistsError:
        pass
    except AzureError as exc:
        log.info("the table of %s not made (%s)", what, type(exc).__name__)
        return False
    return True
