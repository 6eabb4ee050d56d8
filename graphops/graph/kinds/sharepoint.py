"""SharePoint: richLongRunningOperation on a site or a list (a content type hub copy can take 70 minutes)."""

from __future__ import annotations

from graphops.graph.kinds.base import OperationKind


class SiteOperation(OperationKind):
    name = "siteOperation"
    service = "sharepoint"
    path_template = ("sites", "{id}", "operations", "{id}")
    permission = "Sites.Read.All"
    resource_fields = ("resourceLocation", "resourceId")
    progress_field = "percentageComplete"


class ListOperation(OperationKind):
    name = "listOperation"
    service = "sharepoint"
    path_template = ("sites", "{id}", "lists", "{id}", "operations", "{id}")
    permission = "Sites.Read.All"
    resource_fields = ("resourceLocation", "resourceId")
    progress_field = "percentageComplete"
