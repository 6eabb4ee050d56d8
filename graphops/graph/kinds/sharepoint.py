"""SharePoint: richLongRunningOperation on a site or a list (a content type hub copy can take 70 minutes), and a
site's creation."""

from __future__ import annotations

from graphops.graph.kinds.base import GLOBAL_ONLY, OperationKind


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


class SiteCreationOperation(OperationKind):
    """A SharePoint site's creation (beta `POST /sites`): its 202's Location is
    `/sites/getOperationStatus(operationId='…')`, a richLongRunningOperation whose resource is the new site."""

    name = "siteCreationOperation"
    service = "sharepoint"
    path_template = ("sites", "getOperationStatus(operationId=)", "{id}")  # only as Graph writes it
    versions = frozenset({"beta"})
    clouds = GLOBAL_ONLY
    # The page's permission table has named Sites.Read.All and, since, Sites.Create.All: the newer one is asked for.
    permission = "Sites.Create.All"
    resource_fields = ("resourceLocation", "resourceId")
    progress_field = "percentageComplete"
