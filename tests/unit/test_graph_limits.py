"""The Graph stand-in throttles as Graph does: a service's limit per tenant holds in every window of the limit's
length, wherever it starts (not per clock minute), and a 429 says when the oldest request counted leaves it."""

from __future__ import annotations

from graphops.local import seed
from graphops.local.graph import GraphStandIn, Reply
from graphops.local.identity import jwt_shaped
from graphops.pacing.budget import Limit

AUDIENCE = "https://graph.microsoft.com"
TENANTS = ("8f3c2b1a-5d4e-4c6b-9a7f-1e2d3c4b5a69", "0b6e3d2c-4a5f-4e7d-8c9b-2f3e4d5c6b7a")


def test_a_limit_holds_in_every_sliding_minute_and_each_tenant_has_its_own() -> None:
    with GraphStandIn(lambda token: AUDIENCE, AUDIENCE + "/.default") as graph:
        graph.enforce({"ediscovery": Limit(5, 60.0, 60.0, "eDiscovery")})
        graph.script(seed.CASE_OPERATION_PATH, [Reply(200, seed.case_operation("running", 10))])
        now = [0.0]
        graph.wall = lambda: now[0]

        def poll(at: float, tenant: str = TENANTS[0]) -> tuple[int, dict[str, str]]:
            """A GET as the stand-in's server hands it over (the token is read, not sent anywhere)."""
            now[0] = at
            token = jwt_shaped({"tid": tenant, "aud": AUDIENCE}, "sig")
            status, headers, _ = graph.handle(
                "GET", seed.CASE_OPERATION_PATH, {"Authorization": f"Bearer {token}"}, b""
            )
            return status, headers

        assert [poll(at)[0] for at in (50.0, 55.0, 58.0, 59.0, 61.0)] == [200] * 5
        # A new clock minute began at 60 s, but the minute that ends now already holds five.
        status, headers = poll(62.0)
        assert (status, headers["Retry-After"]) == (429, "48")  # the request at 50 s leaves the window at 110 s
        assert poll(62.0, TENANTS[1])[0] == 200  # another tenant's limit is its own
        assert poll(109.9)[0] == 429
        assert poll(110.0)[0] == 200  # the request at 50 s is out of the window [50, 110)
        assert poll(110.5)[0] == 429
        assert len(graph.throttled) == 3
