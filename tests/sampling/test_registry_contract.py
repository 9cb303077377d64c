"""The default population source against the real registry app (in-process over ASGI): a full
draw of the 2022 template on the registry's demo data, reading every page of the population."""
from __future__ import annotations

import httpx

from services.registry.app import create_app as create_registry
from services.registry.demo import load_demo
from services.sampling import population as population_module
from services.sampling.app import create_app
from services.sampling.population import RegistryClient
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running
from tests.sampling.test_draws import approved_plan, committed_draw, events_of, h


async def test_draw_from_the_real_registry(databases, nats_url, events_prefix, keys, monkeypatch):
    verifier = TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks)
    reg_url = await databases.create("registry")
    await upgrade_async("services.registry", reg_url)
    registry = create_registry(settings_for("registry", database_url=reg_url, nats_url=nats_url, events_prefix=events_prefix),
                               verifier=verifier)
    await load_demo(registry.state.ctx.db, events_prefix)
    monkeypatch.setattr(population_module, "PAGE_LIMIT", 97)  # force many pages
    client = RegistryClient(base_url="http://registry", transport=httpx.ASGITransport(app=registry))

    url = await databases.create("sampling")
    await upgrade_async("services.sampling", url)
    app = create_app(settings_for("sampling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                     population_source=client, verifier=verifier)
    async with running(registry) as reg, running(app) as c:
        expected = []
        cursor = None
        while True:
            params = {"catalogue": "2022", "licence_status": "有效", "region": "140000", "limit": 1000}
            if cursor:
                params["cursor"] = cursor
            body = (await reg.get("/population/enterprises", params=params, headers=h(keys))).json()
            expected += [e["uscc"] for e in body["items"]]
            if not (cursor := body["next_cursor"]):
                break
        assert len(expected) > 97

        plan = await approved_plan(c, keys)
        d = await committed_draw(c, keys, plan["id"])
        assert d["population_count"] == len(expected)
        assert sum(s["population"] for s in d["strata"]) == len(expected)
        [ev] = await events_of(app, "committed")
        assert ev["selected"] and all(x["uscc"] in set(expected) for x in ev["selected"])
        assert (await c.get(f"/draws/{d['id']}/verify", headers=h(keys))).json()["verified"] is True

        idraw = await committed_draw(c, keys, plan["id"], seed="98765432109876543210", kind="inspector", enterprise_draw_id=d["id"])
        ev = next(e for e in await events_of(app, "committed") if e["kind"] == "inspector")
        assert ev["pools"]["leaders"] and ev["pools"]["experts"] and ev["pools"]["officers"]
        assert any(p["id"] == "insp-0001" for p in ev["pools"]["leaders"])
        assert idraw["status"] == "committed"
