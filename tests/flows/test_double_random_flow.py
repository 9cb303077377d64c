"""The whole "双随机" flow through the gateway, with the services talking over real NATS:
demo registry → plan from the notice's template → frozen population → seed ceremony by two
officials → committed enterprise and inspector draws → (draw.committed events over JetStream) →
scheduling forms teams and dispatches tasks → each bureau sees only its own tasks."""
from __future__ import annotations

import datetime as dt
from collections import Counter
from contextlib import AsyncExitStack

import httpx

from gateway.app import create_app as create_gateway
from gateway.settings import gateway_settings
from services.registry.app import create_app as create_registry
from services.registry.demo import load_demo
from services.sampling.app import create_app as create_sampling
from services.sampling.population import RegistryClient
from services.scheduling.app import create_app as create_scheduling
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import AUDIENCE, ISSUER, eventually, running


async def _login(client, username):
    r = await client.post("/auth/token", data={"grant_type": "password", "username": username, "password": "spotcheck-demo"})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _all(client, path, headers, **params):
    items, cursor = [], None
    while True:
        r = await client.get(path, headers=headers, params={**params, "limit": 500, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        page = r.json()
        items += page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def test_double_random_flow_through_gateway(databases, nats_url, events_prefix, keys):
    async with AsyncExitStack() as stack:
        verifier = TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks)
        apps = {}
        for name in ("registry", "sampling", "scheduling"):
            url = await databases.create(name)
            await upgrade_async(f"services.{name}", url)
            settings = settings_for(name, database_url=url, nats_url=nats_url, events_prefix=events_prefix)
            if name == "registry":
                apps[name] = create_registry(settings, verifier=verifier)
                await load_demo(apps[name].state.ctx.db)
            elif name == "sampling":
                source = RegistryClient("http://registry", transport=httpx.ASGITransport(app=apps["registry"]))
                apps[name] = create_sampling(settings, population_source=source, verifier=verifier)
            else:
                apps[name] = create_scheduling(settings, verifier=verifier)
                apps[name].state.ctx.extras["today"] = lambda: dt.date(2022, 6, 1)  # dispatched before the 2022 window
            await stack.enter_async_context(running(apps[name]))
        gw_url = await databases.create("gateway")
        await upgrade_async("gateway", gw_url)
        gateway = create_gateway(
            gateway_settings(database_url=gw_url, nats_url=nats_url, events_prefix=events_prefix),
            private_pem=keys.private_pem,
            transports={n: httpx.ASGITransport(app=a) for n, a in apps.items()},
        )
        gw = await stack.enter_async_context(running(gateway))

        P, P2 = await _login(gw, "demo_province"), await _login(gw, "demo_province2")
        api = "/api/v1"

        # the registry answers a city admin with its own city only, and hides other cities' enterprises
        TY = await _login(gw, "demo_taiyuan")
        taiyuan = await _all(gw, f"{api}/registry/enterprises", TY)
        assert taiyuan and all(e["region_code"].startswith("1401") for e in taiyuan)
        DT = await _login(gw, "demo_datong")
        datong_one = (await gw.get(f"{api}/registry/enterprises", headers=DT, params={"limit": 1})).json()["items"][0]
        assert (await gw.get(f"{api}/registry/enterprises/{datong_one['uscc']}", headers=TY)).status_code == 404

        # plan from the notice's template, previewed and approved
        plan = (await gw.post(f"{api}/sampling/plans/from-template/notice-2022-181", headers=P, json={})).json()
        preview = (await gw.get(f"{api}/sampling/plans/{plan['id']}/preview", headers=P)).json()
        assert preview["outside"] == 0 and sum(s["population"] for s in preview["strata"]) == preview["total"]
        etag = (await gw.get(f"{api}/sampling/plans/{plan['id']}", headers=P)).headers["etag"]
        assert (await gw.post(f"{api}/sampling/plans/{plan['id']}/approve", headers={**P2, "If-Match": etag})).status_code == 200  # 四眼原则

        async def ceremony(kind, seed, **extra):
            d = (await gw.post(f"{api}/sampling/draws", headers=P, json={"plan_id": plan["id"], "kind": kind, **extra})).json()
            early = await gw.post(f"{api}/sampling/draws/{d['id']}/seed", headers=P, json={"seed": seed})
            assert early.status_code == 409  # no seed before the population is frozen
            assert (await gw.post(f"{api}/sampling/draws/{d['id']}/freeze", headers=P)).status_code == 200
            assert (await gw.post(f"{api}/sampling/draws/{d['id']}/seed", headers=P, json={"seed": seed})).status_code == 200
            same = await gw.post(f"{api}/sampling/draws/{d['id']}/seed/confirm", headers=P, json={"seed": seed})
            assert same.status_code == 409  # the same official cannot confirm
            assert (await gw.post(f"{api}/sampling/draws/{d['id']}/seed/confirm", headers=P2, json={"seed": seed})).status_code == 200
            committed = await gw.post(f"{api}/sampling/draws/{d['id']}/commit", headers=P)
            assert committed.status_code == 200, committed.text
            return committed.json()

        ent = await ceremony("enterprise", "31415926535897932384626")
        insp = await ceremony("inspector", "27182818284590452353602", enterprise_draw_id=ent["id"])
        verify = (await gw.get(f"{api}/sampling/draws/{ent['id']}/verify", headers=P)).json()
        assert verify["verified"] is True and verify["differences"] == []
        public = await gw.get(f"{api}/sampling/public/draws/{ent['id']}")  # no token: 一公开
        assert public.status_code == 200 and public.json()["population_digest"] == ent["population_digest"]
        selected = [u for u in await _all(gw, f"{api}/sampling/draws/{ent['id']}/units", P, selected="true")]

        # scheduling learns both draws from JetStream, then forms the teams
        async def formed():
            r = await gw.post(f"{api}/scheduling/plans/{plan['id']}/assignments", headers=P,
                              json={"enterprise_draw_id": ent["id"], "inspector_draw_id": insp["id"]})
            waiting = r.status_code == 404 or r.json().get("type", "").endswith("draw-missing")
            return None if waiting else r  # a draw's event has not arrived yet

        r = await eventually(formed, timeout=60, interval=0.5)
        assert r.status_code == 201, r.text
        assignment = r.json()
        proof = (await gw.get(f"{api}/scheduling/assignments/{assignment['id']}/verify", headers=P)).json()
        assert proof["ok"] is True and proof["byte_identical"] is True

        # issue 8 points 3-4 on the demo directory: leaders are 处级 cadres of 质量监管处, leadership is spread
        # evenly, and every team has 省、市、县 members or names its shortfall
        leaders = [m for t in assignment["teams"] for m in t["members"] if m["role"] == "leader"]
        full = (await gw.get(f"{api}/scheduling/assignments/{assignment['id']}", headers=P)).json()["result"]
        assert all(m["unit"] == "质量监管处" and m["division_cadre"] for t in full["teams"] for m in t["members"] if m["role"] == "leader")
        counts = Counter(m["person_id"] for m in leaders)
        assert max(counts.values()) - min(counts.values()) <= 1, counts
        for t in full["teams"]:
            levels = {m["level"] for m in t["members"]}
            assert levels >= {"province", "city", "county"} or t["level_shortfalls"], t["label"]
        assert assignment["report_date"] == "2022-11-18"

        # every drawn enterprise is in exactly one team
        in_teams = [u for t in assignment["teams"] for u in t["enterprises"]]
        assert sorted(in_teams) == sorted(u["unit_id"] if "unit_id" in u else u["uscc"] for u in selected)

        # each bureau sees only its own tasks
        all_tasks = await _all(gw, f"{api}/scheduling/tasks", P)
        assert len(all_tasks) == assignment["task_count"]
        XD = await _login(gw, "demo_xiaodian")
        xiaodian = await _all(gw, f"{api}/scheduling/tasks", XD)
        assert all(t["county_code"] == "140105" for t in xiaodian)
        assert len(xiaodian) == sum(1 for t in all_tasks if t["county_code"] == "140105")
        taiyuan_tasks = await _all(gw, f"{api}/scheduling/tasks", TY)
        assert all(t["city_code"] == "140100" for t in taiyuan_tasks)
