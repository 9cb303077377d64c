"""The gateway balances over a list of replica URLs per service and drops a dead one."""
from __future__ import annotations

import httpx

from tests.gateway.fake_service import fake_service


class Replicas(httpx.AsyncBaseTransport):
    """Routes by host to in-process replicas; a host listed as dead refuses the connection."""

    def __init__(self, apps: dict[str, object], dead: set[str]):
        self.apps = {h: httpx.ASGITransport(app=a) for h, a in apps.items()}
        self.dead = dead
        self.calls: dict[str, int] = {h: 0 for h in [*apps, *dead]}

    async def handle_async_request(self, request):
        host = request.url.host
        self.calls[host] += 1
        if host in self.dead:
            raise httpx.ConnectError("connection refused", request=request)
        return await self.apps[host].handle_async_request(request)


async def test_round_robin_over_replicas_and_a_dead_one_is_skipped(make_gateway, databases, keys, monkeypatch):
    a = fake_service("registry", keys.jwks, await databases.create("fake-a"))
    b = fake_service("registry", keys.jwks, await databases.create("fake-b"))
    monkeypatch.setenv("SPOTCHECK_REGISTRY_URL", "http://replica-a:8101, http://replica-dead:8101,http://replica-b:8101")
    transport = Replicas({"replica-a": a, "replica-b": b}, dead={"replica-dead"})
    gw = await make_gateway(transports={"registry": transport})
    statuses = [(await gw.client.post("/api/v1/registry/things", json={"name": f"件{i}", "size": i})).status_code for i in range(12)]
    assert statuses == [201] * 12  # the dead replica never cost a request (a refused connection is retried elsewhere)
    assert transport.calls["replica-a"] >= 5 and transport.calls["replica-b"] >= 5  # both live replicas share the load
    assert transport.calls["replica-dead"] == 1  # tried once, then left out for its cooldown
    assert gw.app.state.upstreams.replicas["registry"].urls == ["http://replica-a:8101", "http://replica-dead:8101", "http://replica-b:8101"]


async def test_all_replicas_dead_is_a_503_problem(make_gateway, monkeypatch):
    monkeypatch.setenv("SPOTCHECK_SAMPLING_URL", "http://dead-1:8102,http://dead-2:8102")
    transport = Replicas({}, dead={"dead-1", "dead-2"})
    gw = await make_gateway(transports={"sampling": transport})
    r = await gw.client.get("/api/v1/sampling/plans")
    assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
    assert transport.calls == {"dead-1": 1, "dead-2": 1}
