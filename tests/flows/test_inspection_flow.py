"""From dispatch to a handed-over problem summary over real NATS: the real scheduling service forms
teams (its events go through its outbox and JetStream), the inspection service learns its work from
those events only, a member of the real team records the visit, seals it and hands the summary over;
the ``inspection.problem_summary.handed_over`` and ``record.submitted`` events reach JetStream."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
from contextlib import AsyncExitStack

import nats

from services.inspection.app import create_app as create_inspection
from services.inspection.app import inspection_settings
from services.scheduling.app import create_app as create_scheduling
from services.scheduling.consumers import DrawCommittedConsumer
from shared.auth import TokenVerifier
from shared.events.consumer import process
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import AUDIENCE, ISSUER, eventually, running
from tests.scheduling.factory import committed, enterprise, enterprise_draw, generous_pools, inspector_draw

SELECTED = [enterprise(1, "140100", "140105", ["wire_cable"]), enterprise(2, "140100", "140106", ["food_related"])]


async def test_dispatch_event_to_handed_over_summary_over_nats(databases, nats_url, events_prefix, keys, tmp_path):
    verifier = TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks)
    async with AsyncExitStack() as stack:
        sch_url = await databases.create("scheduling")
        await upgrade_async("services.scheduling", sch_url)
        sch = create_scheduling(settings_for("scheduling", database_url=sch_url, nats_url=nats_url, events_prefix=events_prefix), verifier=verifier)
        sc = await stack.enter_async_context(running(sch))
        insp_url = await databases.create("inspection")
        await upgrade_async("services.inspection", insp_url)
        insp = create_inspection(inspection_settings(database_url=insp_url, nats_url=nats_url, events_prefix=events_prefix,
                                                     storage_url=f"file://{tmp_path / 'ev'}"), verifier=verifier)
        ic = await stack.enter_async_context(running(insp))

        # scheduling receives the committed draws and forms teams; its events travel over JetStream
        ctx = sch.state.ctx
        ctx.extras["today"] = lambda: dt.date(2022, 6, 1)  # the campaign is dispatched before its window opens
        for data in (enterprise_draw("ent-1", "plan-1", SELECTED), inspector_draw("insp-1", "plan-1", "ent-1", generous_pools())):
            ev = committed(data)
            assert await process(ctx.db, ctx.kernel, DrawCommittedConsumer(), ev, f"{events_prefix}.sampling.draw.committed")
        admin = keys.headers(sub="prov", roles=["province_admin"], region="140000")
        r = await sc.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1"}, headers=admin)
        assert r.status_code == 201, r.text
        team = r.json()["teams"][0]
        leader = next(m for m in team["members"] if m["role"] == "leader")
        officers = [m["person_id"] for m in team["members"] if m["law_enforcement"]]
        L = keys.headers(sub=f"person:{leader['person_id']}", roles=["inspector"], region="140000", person_id=leader["person_id"])

        async def tasks():
            items = (await ic.get("/tasks", headers=L)).json()["items"]
            return items if len(items) == 2 else None

        got = await eventually(tasks, timeout=30)
        task = next(t for t in got if t["uscc"] == SELECTED[0]["uscc"])
        assert task["team_id"] == team["id"] and task["site_address"]

        # the team at the site
        r = await ic.post(f"/tasks/{task['id']}/record", headers=L,
                          json={"arrived_at": "2022-06-20T09:00:00+08:00", "present": officers[:3], "production_status": "producing"})
        assert r.status_code == 201, r.text
        rec = r.json()
        for i in rec["items"]:
            if i["conclusion"] is None:
                body = {"conclusion": "nonconforming", "text": "出厂检验记录缺失"} if i["code"] == "4.1" else {"conclusion": "conforming"}
                r = await ic.put(f"/records/{rec['id']}/items/{i['code']}", headers={**L, "If-Match": f'"v{i["version"]}"'}, json=body)
                assert r.status_code == 200, r.text
        for pid in officers[:3]:
            h = keys.headers(sub=f"person:{pid}", roles=["inspector"], region="140000", person_id=pid)
            assert (await ic.post(f"/records/{rec['id']}/signatures", headers=h, json={})).status_code == 201
        v = (await ic.get(f"/records/{rec['id']}", headers=L)).json()["version"]
        r = await ic.put(f"/records/{rec['id']}/enterprise-confirmation", headers={**L, "If-Match": f'"v{v}"'},
                         json={"name": "孙厂长", "role": "总经理", "refused": True, "refusal_note": "拒绝签字，两名执法人员在场见证"})
        assert r.status_code == 200, r.text
        r = await ic.post(f"/records/{rec['id']}/submit", headers={**L, "If-Match": f'"v{r.json()["version"]}"'}, json={})
        assert r.status_code == 200, r.text
        x = (await ic.post(f"/records/{rec['id']}/problem-summary", headers=L,
                           json={"licences": [{"number": "(晋)XK06-001-00001", "valid_until": "2026-01-01"}]})).json()
        r = await ic.post(f"/problem-summaries/{x['id']}/handover", headers={**L, "If-Match": '"v1"'},
                          json={"enterprise": {"name": "孙厂长", "role": "总经理", "refused": True, "refusal_note": "拒绝签字"}})
        assert r.status_code == 200, r.text

        # the events are on JetStream, for rectification and disclosure to consume
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream()
            seen = {}
            for subject in ("inspection.problem_summary.handed_over", "inspection.record.submitted"):
                sub = await js.pull_subscribe(f"{events_prefix}.{subject}", durable=None)

                async def fetch(sub=sub):
                    try:
                        msgs = await sub.fetch(1, timeout=1)
                    except (asyncio.TimeoutError, TimeoutError):
                        return None
                    return json.loads(msgs[0].data)

                seen[subject] = await eventually(fetch, timeout=30)
        finally:
            await nc.close()
        ho = seen["inspection.problem_summary.handed_over"]["data"]
        assert ho["summary_id"] == x["id"] and ho["uscc"] == SELECTED[0]["uscc"] and ho["problems"][0]["text"] == "出厂检验记录缺失"
        assert ho["period"] == {"value": 30, "unit": "days"} and ho["county_code"] == "140105"
        sub_ev = seen["inspection.record.submitted"]["data"]
        assert sub_ev["outcome"] == {"categories": ["problem_pending"], "follow_up": "order_correction"} and sub_ev["team_id"] == team["id"]
        # the enterprise's own account sees the handed-over summary
        ent = keys.headers(sub="ent", roles=["enterprise"], region="140105", uscc=SELECTED[0]["uscc"])
        assert [i["id"] for i in (await ic.get("/problem-summaries", headers=ent)).json()["items"]] == [x["id"]]
