"""Compliance and security: personal data exports, eDiscovery case operations, attack simulations, retention
events."""

from __future__ import annotations

from types import MappingProxyType

from graphops.graph.kinds.base import GLOBAL_ONLY, OperationKind


class DataPolicyOperation(OperationKind):
    """An export of a user's personal data (`POST /users/{id}/exportPersonalData`): v1.0 in the global cloud,
    beta (whose examples answer with a beta Location) in every cloud."""

    name = "dataPolicyOperation"
    path_template = ("dataPolicyOperations", "{id}")
    version_clouds = MappingProxyType({"v1.0": GLOBAL_ONLY})
    succeeded_states = frozenset({"complete"})
    permission = "User.Export.All and User.Read.All"
    resource_fields = ("storageLocation",)
    progress_field = "progress"
    poll_delays = (60, 600)  # the export's 202 carries Retry-After: 60; 10,000 requests an hour per tenant
    service = "dataExport"


class EdiscoveryCaseOperation(OperationKind):
    """An eDiscovery (Premium) case operation: a search estimate, an export, a hold update..."""

    name = "ediscoveryCaseOperation"
    path_template = ("security", "cases", "ediscoveryCases", "{id}", "operations", "{id}")
    clouds = frozenset({"global", "usgov", "usgovdod"})
    partial_states = frozenset({"partiallySucceeded"})
    failed_states = frozenset({"failed", "submissionFailed"})
    permission = "eDiscovery.ReadWrite.All"  # the least privileged Graph lists for this GET
    resource_fields = ()
    progress_field = "percentProgress"
    poll_delays = (30, 300)  # eDiscovery allows a few requests a minute per app and tenant
    service = "ediscovery"


class AttackSimulationOperation(OperationKind):
    name = "attackSimulationOperation"
    path_template = ("security", "attackSimulation", "operations", "{id}")
    clouds = GLOBAL_ONLY
    permission = "AttackSimulation.Read.All"
    resource_fields = ("resourceLocation",)
    progress_field = "percentageCompleted"


class RetentionEvent(OperationKind):
    """An event-based retention trigger (`POST /security/triggers/retentionEvents` answers 201 with the event):
    Purview propagates it to the locations its query names, which starts their retention periods."""

    name = "retentionEvent"
    form = "resourceStatus"
    path_template = ("security", "triggers", "retentionEvents", "{id}")
    clouds = frozenset({"global", "usgov", "usgovdod"})
    # eventStatusType: pending, error, success, notAvaliable (so spelled). The status is inside `eventStatus`, beside
    # the propagation's error.
    status_field = "eventStatus.status"
    succeeded_states = frozenset({"success"})
    failed_states = frozenset({"error"})
    error_field = "eventStatus.error"
    permission = "RecordsManagement.Read.All"
    resource_fields = ()
