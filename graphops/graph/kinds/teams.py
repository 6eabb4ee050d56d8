"""Microsoft Teams: teamsAsyncOperation (create, clone, archive, unarchive a team; chat operations), and the
telephone number operations of Teams Phone.

Teams answers `202` with a relative Location in OData key syntax and no version:
`/teams('{id}')/operations('{id}')`. Its resource page asks to "wait >30 seconds between checks": 31 s.
"""

from __future__ import annotations

from graphops.graph.kinds.base import GLOBAL_ONLY, OperationKind

TEAMS_END_FAILED = frozenset({"failed", "invalid"})


class TeamsAsyncOperation(OperationKind):
    name = "teamsAsyncOperation"
    path_template = ("teams", "{id}", "operations", "{id}")
    unversioned = True
    failed_states = TEAMS_END_FAILED
    # Graph documents no permission for GET /teams/{id}/operations/{id}; reading the team is Team.ReadBasic.All.
    permission = "Team.ReadBasic.All"
    resource_fields = ("targetResourceLocation", "targetResourceId")
    # A cloned or created team can answer 404 for minutes after the operation succeeded.
    resource_path = ("teams", "{id}")
    poll_delays = (31, 120)
    service = "teams"


class ChatAsyncOperation(OperationKind):
    """An async operation on a chat (beta)."""

    name = "chatAsyncOperation"
    path_template = ("chats", "{id}", "operations", "{id}")
    versions = frozenset({"beta"})
    failed_states = TEAMS_END_FAILED
    # The least privileged, ChatSettings.Read.Chat, is resource-specific consent: it cannot be granted tenant-wide.
    permission = "Chat.ReadBasic.All"
    resource_fields = ("targetResourceLocation", "targetResourceId")
    poll_delays = (31, 120)
    service = "teams"
    resource_budget = ("teamsChat", 0)  # one request a second per chat, beside the tenant's 30


class TelephoneNumberOperation(OperationKind):
    """A Teams Phone number assignment or unassignment (`…/numberAssignments/assignNumber`, `unassignNumber`).

    Its Location is in OData key syntax, `…/operations('QXNz…')`; each number's own result is in `numbers`.
    """

    name = "telephoneNumberOperation"
    path_template = ("admin", "teams", "telephoneNumberManagement", "operations", "{id}")
    clouds = GLOBAL_ONLY
    failed_states = frozenset({"failed", "skipped"})
    permission = "TeamsTelephoneNumber.Read.All"
    service = "teams"
    resource_fields = ()
