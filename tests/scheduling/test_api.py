"""The scheduling service end to end: draws through the consumer path, formation, dispatch,
scoping, acceptance and overdue flags, bureau info, substitution, reports, verify."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import func, select

from services.scheduling.app import create_app
from services.scheduling.assignment import TeamScope, check_team, conflicts_of, effective_settings
from services.scheduling.consumers import DrawCommittedConsumer, ReplacementRecordedConsumer
from services.scheduling.models import Task, kernel
from shared.auth import TokenVerifier
from shared.events.consumer import process
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running

from .factory import SETTINGS, committed, enterprise, enterprise_draw, generous_pools, inspector_draw, replacement

SELECTED = [
    enterprise(1, "140100", "140105", ["cement"], 2),
    enterprise(2, "140100", "140105", ["cement", "hazardous_chemicals"]),
    enterprise(3, "140100", "140106", ["wire_cable"]),
    enterprise(4, "140100", "140106", ["cement"]),
    enterprise(5, "141000", "141002", ["hazardous_chemicals"], 2),
    enterprise(6, "141000", "141021", ["fertilizer"]),
]


@pytest.fixture
async def svc(databases, keys, nats_url, events_prefix):
    url = await databases.create("scheduling")
    await upgrade_async("services.scheduling", url)
    app = create_app(settings_for("scheduling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                     verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    app.state.ctx.extras["today"] = lambda: DISPATCH_DAY  # the campaign is dispatched before its window
    async with running(app) as client:
        yield app, client


async def feed(app, event: dict, consumer) -> bool:
    ctx = app.state.ctx
    return await process(ctx.db, ctx.kernel, consumer, event, f"spotcheck.{event['type'].split('.', 1)[1]}")


async def feed_draws(app, plan="plan-1", selected=SELECTED, pools=None, suffix="1"):
    ent = enterprise_draw(f"ent-{suffix}", plan, selected)
    insp = inspector_draw(f"insp-{suffix}", plan, f"ent-{suffix}", pools or generous_pools())
    ev = committed(ent)
    assert await feed(app, ev, DrawCommittedConsumer())
    assert not await feed(app, ev, DrawCommittedConsumer())  # redelivery is harmless (inbox)
    assert await feed(app, committed(insp), DrawCommittedConsumer())
    return ent, insp


def H(keys, **kw):
    return keys.headers(**kw)


DISPATCH_DAY = dt.date(2022, 6, 1)
ADMIN = dict(sub="prov", roles=["province_admin"], region="140000")


async def test_formation_dispatch_scoping_acceptance(svc, keys):
    app, c = svc
    ent, insp = await feed_draws(app)
    # a replacement recorded by sampling before formation is applied
    repl = enterprise(7, "140100", "140106", ["rebar"])
    assert await feed(app, replacement("ent-1", SELECTED[3]["uscc"], repl), ReplacementRecordedConsumer())

    body = {"enterprise_draw_id": "ent-1"}
    r = await c.post("/plans/plan-1/assignments", json=body, headers={**H(keys, **ADMIN), "Idempotency-Key": "k1"})
    assert r.status_code == 201, r.text
    a = r.json()
    assert a["task_count"] == 8  # one task per production site (2 enterprises have 2 sites)
    again = await c.post("/plans/plan-1/assignments", json=body, headers={**H(keys, **ADMIN), "Idempotency-Key": "k1"})
    assert again.status_code == 201 and again.json()["id"] == a["id"]
    dup = await c.post("/plans/plan-1/assignments", json=body, headers=H(keys, **ADMIN))
    assert dup.status_code == 409

    full = (await c.get(f"/assignments/{a['id']}", headers=H(keys, **ADMIN))).json()["result"]
    usccs = {u for t in full["teams"] for u in t["enterprises"]}
    assert repl["uscc"] in usccs and SELECTED[3]["uscc"] not in usccs
    s = effective_settings(SETTINGS)
    by = {e["uscc"]: e for e in SELECTED + [repl]}
    for t in full["teams"]:
        assert check_team(t["members"], TeamScope([by[u] for u in t["enterprises"]]), conflicts_of(insp), s, t["label"]) == []

    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] and v["byte_identical"] and v["result_digest"] == a["result_digest"]

    # province sees all 8 tasks, paged
    seen, cursor = [], None
    while True:
        page = (await c.get("/tasks", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=H(keys, **ADMIN))).json()
        seen += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len({t["id"] for t in seen}) == 8

    xiaodian = H(keys, sub="xd", roles=["county_admin"], region="140105", name="小店区局")
    xd_tasks = (await c.get("/tasks", headers=xiaodian)).json()["items"]
    assert xd_tasks and {t["region_code"] for t in xd_tasks} == {"140105"}
    assert len(xd_tasks) == 3  # enterprise 1 (2 sites) and enterprise 2
    taiyuan = (await c.get("/tasks", headers=H(keys, sub="ty", roles=["city_admin"], region="140100"))).json()["items"]
    assert {t["city_code"] for t in taiyuan} == {"140100"} and len(taiyuan) == 5
    other = next(t for t in seen if t["region_code"] == "141002")
    assert (await c.get(f"/tasks/{other['id']}", headers=xiaodian)).status_code == 404

    # an inspector sees only their team's tasks
    team0 = full["teams"][0]
    member = next(m for m in team0["members"] if m["role"] == "member")
    mine = (await c.get("/tasks", headers=H(keys, sub="i", roles=["inspector"], region="140000", person_id=member["person_id"]))).json()["items"]
    assert mine and {t["uscc"] for t in mine} <= set(team0["enterprises"])
    assert len(mine) == sum(1 for t in seen if t["uscc"] in team0["enterprises"])

    # acceptance by the county bureau; someone else's county cannot; overdue is flagged for the rest
    task = xd_tasks[0]
    wrong = H(keys, sub="xx", roles=["county_admin"], region="140106")
    assert (await c.post(f"/tasks/{task['id']}/accept", headers=wrong)).status_code == 404
    ok = await c.post(f"/tasks/{task['id']}/accept", json={"note": "已接收"}, headers=xiaodian)
    assert ok.status_code == 200, ok.text
    assert ok.json()["accepted_by"] == "xd" and ok.json()["accepted_at"]
    assert (await c.post(f"/tasks/{task['id']}/accept", headers=xiaodian)).status_code == 409
    assert (await c.get("/tasks", params={"overdue": "true"}, headers=H(keys, **ADMIN))).json()["items"] == []
    accept_by = dt.date.fromisoformat(task["accept_by"])
    app.state.ctx.extras["today"] = lambda: accept_by + dt.timedelta(days=1)
    overdue = (await c.get("/tasks", params={"overdue": "true", "limit": 50}, headers=H(keys, **ADMIN))).json()["items"]
    assert len(overdue) == 7 and task["id"] not in {t["id"] for t in overdue} and all(t["overdue"] for t in overdue)

    # bureau info with If-Match
    info = {"material_list": {"items": ["营业执照复印件", "生产许可证副本"], "note": "加盖骑缝章"}, "enterprise_state": "在产",
            "location": "太原市小店区某路1号", "staff_on_duty": ["张三", "李四"]}
    assert (await c.put(f"/tasks/{task['id']}/bureau-info", json=info, headers=xiaodian)).status_code == 428
    cur = await c.get(f"/tasks/{task['id']}", headers=xiaodian)
    put = await c.put(f"/tasks/{task['id']}/bureau-info", json=info, headers={**xiaodian, "If-Match": cur.headers["ETag"]})
    assert put.status_code == 200 and put.json()["bureau_info"]["staff_on_duty"] == ["张三", "李四"]
    bad = await c.put(f"/tasks/{task['id']}/bureau-info", json={**info, "staff_on_duty": []}, headers={**xiaodian, "If-Match": '"v9"'})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "staff_on_duty"

    # events and audit for every step
    ctx = app.state.ctx
    async with ctx.db.session() as sess:
        subjects = [r[0].rsplit(".", 2)[-2] + "." + r[0].rsplit(".", 1)[-1] for r in (await sess.execute(select(kernel.outbox.c.subject))).all()]
    assert subjects.count("team.formed") == len(full["teams"]) and subjects.count("task.dispatched") == 8
    async with ctx.db.session() as sess:  # the plan's name travels with each team (inspection's records and the public results carry it)
        formed = [json.loads(r[1]) for r in (await sess.execute(select(kernel.outbox.c.subject, kernel.outbox.c.payload))).all()
                  if r[0].endswith("team.formed")]
    assert formed and {e["data"]["plan_name"] for e in formed} == {"2022年度工业产品生产许可证获证企业双随机抽查"}
    assert subjects.count("visit.scheduled") == 8 and subjects.count("task.accepted") == 1
    chain = (await c.get("/audit/verify", headers=H(keys, **ADMIN))).json()
    assert chain["ok"] and chain["entries"] >= 8 + len(full["teams"]) + 3
    app.state.ctx.extras["today"] = lambda: DISPATCH_DAY


async def test_thin_directory_is_refused_and_nothing_dispatched(svc, keys):
    app, c = svc
    pools = generous_pools()
    for e in pools["experts"]:
        e["specialties"] = ["cement"]
    await feed_draws(app, plan="plan-thin", pools=pools, suffix="thin")
    r = await c.post("/plans/plan-thin/assignments", json={"enterprise_draw_id": "ent-thin"}, headers=H(keys, **ADMIN))
    assert r.status_code == 422
    body = r.json()
    assert body["type"].endswith("assignment-shortfall")
    assert "临汾组缺少具备危险化学品、化肥专长的技术专家" in body["shortfalls"], body["shortfalls"]
    async with app.state.ctx.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Task))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(kernel.outbox))).scalar_one() == 0
        refused = (await s.execute(select(kernel.audit.c.action).where(kernel.audit.c.action == "assignment.refused"))).scalars().all()
        assert refused == ["assignment.refused"]  # the refusal itself is on the record
    again = await c.post("/plans/plan-thin/assignments", json={"enterprise_draw_id": "ent-thin"},
                         headers={**H(keys, **ADMIN), "Idempotency-Key": "thin-1"})
    assert again.status_code == 422 and "Idempotent-Replayed" not in again.headers  # refusals are not stored as answers
    missing = await c.post("/plans/plan-thin/assignments", json={"enterprise_draw_id": "nope"}, headers=H(keys, **ADMIN))
    assert missing.status_code == 404
    forbidden = await c.post("/plans/plan-thin/assignments", json={"enterprise_draw_id": "ent-thin"}, headers=H(keys, sub="c", roles=["city_admin"], region="140100"))
    assert forbidden.status_code == 403


async def test_substitution_and_report(svc, keys):
    app, c = svc
    _, insp = await feed_draws(app, plan="plan-sub", suffix="sub")
    a = (await c.post("/plans/plan-sub/assignments", json={"enterprise_draw_id": "ent-sub"}, headers=H(keys, **ADMIN))).json()
    team_id = a["teams"][0]["id"]
    t = await c.get(f"/teams/{team_id}", headers=H(keys, **ADMIN))
    team = t.json()
    officer = next(m for m in team["members"] if m["role"] == "member" and m["pool"] == "officers" and m["law_enforcement"])
    body = {"person_id": officer["person_id"], "reason": "因病无法参加"}
    assert (await c.post(f"/teams/{team_id}/substitutions", json=body, headers=H(keys, **ADMIN))).status_code == 428
    r = await c.post(f"/teams/{team_id}/substitutions", json=body, headers={**H(keys, **ADMIN), "If-Match": t.headers["ETag"]})
    assert r.status_code == 201, r.text
    out = r.json()
    sub = out["substitution"]
    assert sub["pool"] == "officers" and sub["substitute_person_id"] != officer["person_id"]
    assert officer["person_id"] in [m["person_id"] for m in out["former_members"]]
    assert out["former_members"][0]["left_reason"] == "因病无法参加"
    ents = {e["uscc"]: e for e in SELECTED}
    profiles = [dict(m, division_cadre=True if m["role"] == "leader" else False, business_line="产品质量安全监管") for m in out["members"]]
    scope = TeamScope([ents[u] for u in out["enterprises"]])
    assert sum(m["law_enforcement"] for m in profiles) >= 2 and len(profiles) >= 5
    assert all(m["region_code"] not in scope.counties for m in profiles)
    # the substitute was not on any other team
    all_teams = (await c.get("/teams", params={"plan_id": "plan-sub"}, headers=H(keys, **ADMIN))).json()["items"]
    others = [m["person_id"] for tm in all_teams if tm["id"] != team_id for m in (await c.get(f"/teams/{tm['id']}", headers=H(keys, **ADMIN))).json()["members"]]
    assert sub["substitute_person_id"] not in others
    stale = await c.post(f"/teams/{team_id}/substitutions", json={**body, "person_id": out["members"][-1]["person_id"]},
                         headers={**H(keys, **ADMIN), "If-Match": t.headers["ETag"]})
    assert stale.status_code == 412
    # the amendment trail covers the province's teams: province-level accounts only (audit of
    # issue 7 #1: a city 纪检 account read it); the city's discipline group reads its region's teams
    for region, status in (("140000", 200), ("140100", 403), ("141000", 403)):
        dis = H(keys, sub=f"jw-{region}", roles=["discipline"], region=region)
        r = await c.get(f"/assignments/{a['id']}/amendments", headers=dis)
        assert r.status_code == status, (region, r.text)
        assert (await c.get(f"/assignments/{a['id']}", headers=dis)).status_code == status
    city_teams = (await c.get("/teams", params={"plan_id": "plan-sub"}, headers=H(keys, sub="jw", roles=["discipline"], region="141000"))).json()["items"]
    assert city_teams and {tm["city_code"] for tm in city_teams} == {"141000"}
    # the new member now sees the team's tasks, the old one no longer
    new_h = H(keys, sub="n", roles=["inspector"], region="140000", person_id=sub["substitute_person_id"])
    old_h = H(keys, sub="o", roles=["inspector"], region="140000", person_id=officer["person_id"])
    assert (await c.get("/tasks", params={"team_id": team_id}, headers=new_h)).json()["items"]
    assert (await c.get("/tasks", params={"team_id": team_id}, headers=old_h)).json()["items"] == []

    # group report: missing after the report date, then submitted by the leader
    app.state.ctx.extras["today"] = lambda: dt.date(2022, 11, 21)
    missing = (await c.get("/teams", params={"plan_id": "plan-sub", "report_missing": "true"}, headers=H(keys, **ADMIN))).json()["items"]
    assert {tm["id"] for tm in missing} == {tm["id"] for tm in all_teams}
    leader = next(m for m in out["members"] if m["role"] == "leader")
    lh = H(keys, sub="leader", roles=["inspector"], region="140000", person_id=leader["person_id"])
    assert (await c.post(f"/teams/{team_id}/report", json={"summary": "共检查企业若干"}, headers=old_h)).status_code == 404
    rep = await c.post(f"/teams/{team_id}/report", json={"summary": "共检查企业若干，发现问题已汇总"}, headers={**lh, "Idempotency-Key": "r1"})
    assert rep.status_code == 201 and rep.json()["late"] is True
    assert (await c.post(f"/teams/{team_id}/report", json={"summary": "共检查企业若干，发现问题已汇总"}, headers={**lh, "Idempotency-Key": "r1"})).status_code == 201
    assert (await c.post(f"/teams/{team_id}/report", json={"summary": "再次提交"}, headers=lh)).status_code == 409
    missing = (await c.get("/teams", params={"plan_id": "plan-sub", "report_missing": "true"}, headers=H(keys, **ADMIN))).json()["items"]
    assert team_id not in {tm["id"] for tm in missing}
    app.state.ctx.extras["today"] = lambda: DISPATCH_DAY
    async with app.state.ctx.db.session() as s:
        rows = (await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.subject.like("%member_substituted")))).all()
    ev = json.loads(rows[0][0])["data"]
    assert ev["reason"] == "因病无法参加" and len(ev["members"]) == len(out["members"])
