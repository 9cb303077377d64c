"""Risk-driven draws: a sampling plan selects by class (D 100 %, C 50 %, others 5 %); sampling asks
the risk service (its real HTTP endpoint, in-process) once at freeze time with the caller's token;
the class is frozen in each unit's record so the export re-derives the draw; the public view shows
the rules but no enterprise's class; a city bureau's freeze of such a plan is refused."""
from __future__ import annotations

import json

import httpx

from services.risk.consumers import InspectionConsumer, RegistryConsumer
from services.sampling.app import create_app as create_sampling
from services.sampling.population import RiskClassClient, StaticPopulation
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running
from tests.sampling import population

from .conftest import record, registered
from .test_risk import feed

SEED = "31415926535897932384626"
RULES = [
    {"name": "高风险企业（D类）", "risk_classes": ["D"], "ratio": "1"},
    {"name": "较高风险企业（C类）", "risk_classes": ["C"], "ratio": "0.5"},
    {"name": "其他获证企业", "ratio": "0.05"},
]
SETTINGS = {"window_start": "2026-06-10", "window_end": "2026-11-10", "report_date": "2026-11-20"}


def h(keys, sub="prov1", roles=("province_admin",), region="140000"):
    return keys.headers(sub=sub, roles=roles, region=region)


async def test_draw_by_risk_class_frozen_verifiable_and_private(make_risk, databases, nats_url, events_prefix, keys):
    ents = population.enterprises(120)
    d_class = [e["uscc"] for e in ents[:5]]
    c_class = [e["uscc"] for e in ents[5:10]]
    risk_app, _ = await make_risk()
    async with running(risk_app):
        for u in d_class + c_class:
            region = next(e["region_code"] for e in ents if e["uscc"] == u)
            await feed(risk_app, registered(u, region, national=True), RegistryConsumer)
            await feed(risk_app, record(u, region, f"R1-{u}", "2026-03-01", items=["A1"]), InspectionConsumer)
            if u in d_class:
                await feed(risk_app, record(u, region, f"R2-{u}", "2026-06-01", items=["A1"]), InspectionConsumer)
        risk = RiskClassClient(base_url="http://risk", transport=httpx.ASGITransport(app=risk_app))
        url = await databases.create("sampling")
        await upgrade_async("services.sampling", url)
        app = create_sampling(settings_for("sampling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                              population_source=StaticPopulation(ents, population.people()), risk_classes=risk,
                              verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
        async with running(app) as c:
            # a rule naming an unknown class is refused
            bad = {"name": "错误计划", "batch": "2026-R", "catalogue": "2022", "settings": SETTINGS, "rules": [{"name": "x", "risk_classes": ["E"], "ratio": "1"}]}
            r = await c.post("/plans", json=bad, headers=h(keys))
            assert r.status_code == 422 and "rules[0].risk_classes" in [e["field"] for e in r.json()["errors"]]
            plan = {"name": "2026年风险分类抽查", "batch": "2026-R", "catalogue": "2022", "settings": SETTINGS, "rules": RULES}
            r = await c.post("/plans", json=plan, headers=h(keys))
            assert r.status_code == 201, r.text
            pid = r.json()["id"]
            assert (await c.post(f"/plans/{pid}/approve", headers={**h(keys, sub="prov2"), "If-Match": r.headers["etag"]})).status_code == 200
            did = (await c.post("/draws", json={"plan_id": pid, "kind": "enterprise"}, headers=h(keys))).json()["id"]
            r = await c.post(f"/draws/{did}/freeze", headers=h(keys))
            assert r.status_code == 200, r.text
            strata = {s["name"]: s for s in r.json()["strata"]}
            assert strata["高风险企业（D类）"]["population"] == 5 and strata["较高风险企业（C类）"]["population"] == 5
            assert (await c.post(f"/draws/{did}/seed", json={"seed": SEED}, headers=h(keys, sub="a"))).status_code == 200
            assert (await c.post(f"/draws/{did}/seed/confirm", json={"seed": SEED}, headers=h(keys, sub="b"))).status_code == 200
            assert (await c.post(f"/draws/{did}/commit", headers=h(keys))).status_code == 200
            exp = (await c.get(f"/draws/{did}/export", headers=h(keys))).json()
            units = {u["unit_id"]: u for u in exp["population"]}
            assert all(units[u]["data"]["risk_class"] == "D" and units[u]["selected"] for u in d_class)
            assert sum(units[u]["selected"] for u in c_class) == 3  # ceil(0.5 × 5)
            assert {units[u]["data"]["risk_class"] for u in units if u not in d_class + c_class} == {"A"}
            v = (await c.get(f"/draws/{did}/verify", headers=h(keys))).json()
            assert v["verified"] is True, v
            pub = await c.get(f"/public/draws/{did}")
            assert pub.status_code == 200
            # the rule, not the class: no unit's class, stratum or ticket; the risk strata are one figure
            body = pub.json()
            assert "高风险企业（D类）" in [r["name"] for r in body["rules"]]
            assert "risk_class" not in json.dumps(body["selected"]) + json.dumps(body["strata"])
            assert len({s["stratum"] for s in body["selected"]}) == 1 and all("ticket" not in s for s in body["selected"])
            assert "高风险企业（D类）" not in [s["name"] for s in body["strata"]]
            # a city bureau's plan using classes: the risk service refuses the lookup, nothing is frozen
            city = h(keys, sub="ty", roles=("city_admin",), region="140100")
            r = await c.post("/plans", json={**plan, "batch": "2026-C"}, headers=city)
            assert r.status_code == 201, r.text
            cpid = r.json()["id"]
            assert (await c.post(f"/plans/{cpid}/approve", headers={**h(keys, sub="ty2", roles=("city_admin",), region="140100"), "If-Match": r.headers["etag"]})).status_code == 200
            cdid = (await c.post("/draws", json={"plan_id": cpid, "kind": "enterprise"}, headers=city)).json()["id"]
            r = await c.post(f"/draws/{cdid}/freeze", headers=city)
            assert r.status_code == 403 and r.json()["type"].endswith("risk-refused")
            assert (await c.get(f"/draws/{cdid}", headers=city)).json()["status"] == "created"
