"""Exchange Online: mail folder operations and Places bulk updates (both beta)."""

from __future__ import annotations

from graphops.graph.kinds.base import GLOBAL_ONLY, OperationKind


class MailFolderOperation(OperationKind):
    """An operation on a mail folder (marking all its messages read): its start answers 204 without a Location, so
    the operation is found by listing the folder's operations and handed over by its URL."""

    name = "mailFolderOperation"
    path_template = ("users", "{id}", "mailFolders", "{id}", "operations", "{id}")
    versions = frozenset({"beta"})
    clouds = GLOBAL_ONLY
    permission = "Mail.Read"  # the only application permission its page lists: every mailbox's mail
    resource_fields = ()


class PlaceOperation(OperationKind):
    """A bulk update of buildings, floors and rooms (`PATCH /places`, beta): `/places/getOperation(id='…')`."""

    name = "placeOperation"
    path_template = ("places", "getOperation(id=)", "{id}")  # only as Graph writes it: getOperation(id='…')
    versions = frozenset({"beta"})
    clouds = GLOBAL_ONLY
    # placeOperationStatus: created, inProgress, succeeded, partiallySucceeded, failed, expired
    partial_states = frozenset({"partiallySucceeded"})
    failed_states = frozenset({"failed", "expired"})
    permission = "Place.Read.All"
    resource_fields = ()
    progress_counts = ("progress", "totalPlaceCount", ("succeededPlaceCount", "failedPlaceCount"))
    poll_delays = (30, 300)  # "you shouldn't retrieve an operation more frequently than once every 30 seconds"
    service = "places"  # get operation: three calls a second
