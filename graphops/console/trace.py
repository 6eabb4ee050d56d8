"""A tracking's trace in the Azure portal: its Application Insights operation (the W3C trace id every step's span
carries) in the end-to-end transaction view. Pure: built from settings and the trace id alone, never from what a
caller or Graph wrote, so the link can point nowhere but the deployment's own Application Insights resource.

The portal's deep link to a transaction by operation id is
``https://<portal>/#blade/AppInsightsExtension/TransactionDetailsV2Blade/ComponentId/<resource id>/DataModel/
{"eventId":"<operation id>"}``, path parts URL-encoded: the portal documents no link of its own, and this is the
form its own links to a transaction take.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

# The portal of each cloud graphops runs in (graphops.graph.clouds).
PORTALS = {"global": "portal.azure.com", "usgov": "portal.azure.us", "usgovdod": "portal.azure.us",
           "china": "portal.azure.cn"}  # fmt: skip
SETTING = "GRAPHOPS_APPINSIGHTS_RESOURCE_ID"
TRACE_ID = re.compile(r"[0-9a-f]{32}")
# An Application Insights component's resource id, as ARM writes it (the provider's case varies).
RESOURCE_ID = re.compile(
    r"/subscriptions/[0-9a-fA-F-]{36}/resourceGroups/[-\w.()]{1,90}/providers/microsoft\.insights/components/[-\w.()]{1,260}",
    re.IGNORECASE,
)


def trace_url(resource_id: str | None, trace_id: object, cloud: str = "global") -> str | None:
    """The portal's end-to-end view of a trace, or None when the resource or the trace id is not one."""
    if not isinstance(trace_id, str) or not TRACE_ID.fullmatch(trace_id) or trace_id == "0" * 32:
        return None
    if resource_id is None or not RESOURCE_ID.fullmatch(resource_id):
        return None
    model = json.dumps({"eventId": trace_id}, separators=(",", ":"))
    return (
        f"https://{PORTALS.get(cloud, PORTALS['global'])}/#blade/AppInsightsExtension/TransactionDetailsV2Blade"
        f"/ComponentId/{quote(resource_id, safe='')}/DataModel/{quote(model, safe='')}"
    )
