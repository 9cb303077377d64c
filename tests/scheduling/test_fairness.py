"""Issue 8 (scheduling side): one formation per plan, leaders from the plan's unit spread evenly,
three levels, visit and report dates, amendments (substitution, replacement after dispatch,
cancellation) as a hash-linked record that ``verify`` replays against the live rows."""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter

from sqlalchemy import select, update

from services.scheduling.assignment import assign
from services.scheduling.consumers import DrawAbandonedConsumer, DrawCommittedConsumer
from services.scheduling.models import Task, TeamMember, Visit, kernel
from shared.calendar import default_calendar
from shared.events.envelope import make_event

from . import test_api
from .factory import COUNTIES, SETTINGS, committed, enterprise, enterprise_draw, generous_pools, inspector_draw, person, replacement
from .test_api import ADMIN, SELECTED, H, feed, feed_draws

svc = test_api.svc  # the same fixture


async def _events(app, suffix):
    async with app.state.ctx.db.session() as s:
        rows = (await s.execute(select(kernel.outbox.c.payload).where(kernel.outbox.c.subject.endswith(suffix)))).scalars().all()
    return [json.loads(p)["data"] for p in rows]


async def _form(c, keys, plan="plan-1", ent="ent-1"):
    r = await c.post(f"/plans/{plan}/assignments", json={"enterprise_draw_id": ent}, headers=H(keys, **ADMIN))
    assert r.status_code == 201, r.text
    return r.json()


async def test_one_formation_per_plan_and_none_from_an_abandoned_draw(svc, keys):
    app, c = svc
    await feed_draws(app)
    a = await _form(c, keys)
    # a second enterprise draw of the same plan (e.g. a re-draw) cannot get a second formation
    await feed_draws(app, suffix="2")
    r = await c.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-2"}, headers=H(keys, **ADMIN))
    assert r.status_code == 409 and r.json()["type"].endswith("plan-already-formed") and a["id"] in r.json()["detail"]
    # an abandoned draw never yields teams
    await feed_draws(app, plan="plan-9", suffix="9")
    ev = make_event("sampling", "draw", "abandoned", {"draw_id": "ent-9", "plan_id": "plan-9", "reason": "总体漏县"}, subject_id="ent-9")
    assert await feed(app, ev, DrawAbandonedConsumer())
    r = await c.post("/plans/plan-9/assignments", json={"enterprise_draw_id": "ent-9"}, headers=H(keys, **ADMIN))
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "enterprise_draw_id"
    # sampling abandons the first attempt after formation: its open tasks are cancelled with the reason,
    # on the amendment record, and the plan's next attempt can be formed
    consumer = app.state.ctx.runner.consumers["scheduling-draw-abandoned"]
    ev = make_event("sampling", "draw", "abandoned", {"draw_id": "ent-1", "plan_id": "plan-1", "reason": "冻结总体有误"}, subject_id="ent-1")
    assert await feed(app, ev, consumer)
    tasks = (await c.get("/tasks", params={"plan_id": "plan-1", "limit": 200}, headers=H(keys, **ADMIN))).json()["items"]
    assert tasks and {t["status"] for t in tasks} == {"cancelled"} and all("冻结总体有误" in t["cancel_reason"] for t in tasks)
    assert len(await _events(app, ".scheduling.task.cancelled")) == len(tasks)
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is True and v["amendments"] == 1
    second = await _form(c, keys, ent="ent-2")
    assert second["id"] != a["id"]



async def test_inspector_redraw_forms_again_and_records_the_superseded_formation(svc, keys):
    """Audit of issue 8 #1: after sampling abandons only the inspector draw and draws inspectors
    again, the same enterprise draw is formed with the new inspector draw (no 409 assignment-exists);
    the old formation is voided (when, why, which draw) and superseded, both public on the record."""
    app, c = svc
    await feed_draws(app)
    a = await _form(c, keys)
    consumer = app.state.ctx.runner.consumers["scheduling-draw-abandoned"]
    ev = make_event("sampling", "draw", "abandoned", {"draw_id": "insp-1", "plan_id": "plan-1", "reason": "人员名录有误"}, subject_id="insp-1")
    assert await feed(app, ev, consumer)
    old = (await c.get(f"/assignments/{a['id']}", headers=H(keys, **ADMIN))).json()
    assert old["voided_at"] and old["void_reason"] == "人员名录有误" and old["voided_draw_id"] == "insp-1" and old["superseded_by"] is None
    voided = await _events(app, ".scheduling.assignment.voided")
    assert [(e["assignment_id"], e["abandoned_draw_id"]) for e in voided] == [(a["id"], "insp-1")]
    # the abandoned inspector draw itself is refused; the new one forms
    r = await c.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1", "inspector_draw_id": "insp-1"}, headers=H(keys, **ADMIN))
    assert r.status_code == 409 and r.json()["type"].endswith("draw-abandoned")
    assert await feed(app, committed(inspector_draw("insp-2", "plan-1", "ent-1", generous_pools())), DrawCommittedConsumer())
    r = await c.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1", "inspector_draw_id": "insp-2"}, headers=H(keys, **ADMIN))
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["supersedes"] == a["id"] and new["inspector_draw_id"] == "insp-2" and new["voided_at"] is None
    assert (await c.get(f"/assignments/{a['id']}", headers=H(keys, **ADMIN))).json()["superseded_by"] == new["id"]
    listed = {x["id"]: x for x in (await c.get("/assignments", params={"plan_id": "plan-1"}, headers=H(keys, **ADMIN))).json()["items"]}
    assert set(listed) == {a["id"], new["id"]} and listed[a["id"]]["voided_at"] and not listed[new["id"]]["voided_at"]
    # still one effective formation: the same pair again is a 409, and both formations verify
    r = await c.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1", "inspector_draw_id": "insp-2"}, headers=H(keys, **ADMIN))
    assert r.status_code == 409 and r.json()["type"].endswith("assignment-exists")
    for x in (a, new):
        assert (await c.get(f"/assignments/{x['id']}/verify", headers=H(keys, **ADMIN))).json()["ok"] is True
    live = (await c.get("/tasks", params={"plan_id": "plan-1", "limit": 200}, headers=H(keys, **ADMIN))).json()["items"]
    assert {t["status"] for t in live if t["assignment_id"] == new["id"]} == {"dispatched"}
    assert {t["status"] for t in live if t["assignment_id"] == a["id"]} == {"cancelled"}

def _many(n_ent=40):
    cats = ["cement", "wire_cable", "hazardous_chemicals", "food_related"]
    out, i = [], 0
    for city, counties in COUNTIES.items():
        for k in range(n_ent // len(COUNTIES)):
            i += 1
            out.append(enterprise(i, city, counties[k % len(counties)], [cats[i % 4]]))
    return out


def _pools(with_county=True):
    pools = generous_pools(n_leaders=0, n_experts=30, n_officers=0)
    # 执法稽查局 cadres hold the best tickets but must never lead; 5 质量监管处 cadres do
    pools["leaders"] = [person(f"insp-{i:04d}", "inspector", "province", "140000", i, cadre=True, unit="执法稽查局") for i in range(1, 4)]
    pools["leaders"] += [person(f"insp-{i:04d}", "inspector", "province", "140000", 10 + i, cadre=True) for i in range(4, 9)]
    officers = []
    for i in range(60):
        level = ["province", "city", "county"][i % 3]
        if level == "county" and not with_county:
            level = "province"
        city = sorted(COUNTIES)[(i // 3) % 3]
        region = {"province": "140000", "city": city, "county": COUNTIES[city][i % 2]}[level]
        officers.append(person(f"insp-{100 + i:04d}", "inspector", level, region, 100 + i))
    pools["officers"] = officers
    return pools


def test_leaders_from_the_plan_unit_spread_evenly_and_three_levels():
    settings = dict(SETTINGS, load_per_team=4, max_teams_per_leader=4, max_teams_per_person=1)
    ent = enterprise_draw("e", "p", _many())
    out = assign(ent, inspector_draw("i", "p", "e", _pools()), settings, default_calendar)
    assert out["ok"], out["shortfalls"]
    leaders = [next(m for m in t["members"] if m["role"] == "leader") for t in out["teams"]]
    assert all(m["unit"] == "质量监管处" and m["level"] == "province" for m in leaders)
    counts = Counter(m["person_id"] for m in leaders)
    assert len(out["teams"]) == 12 and len(counts) == 5 and max(counts.values()) - min(counts.values()) <= 1
    for t in out["teams"]:
        assert {m["level"] for m in t["members"]} >= {"province", "city", "county"}, t["label"]
        assert t["level_shortfalls"] == []
    assert "质量监管处" in out["rules"]["leader"]
    # a plan naming another unit takes its cadres
    other = assign(ent, inspector_draw("i", "p", "e", _pools()), dict(settings, leader_unit="执法稽查局"), default_calendar)
    assert {m["unit"] for t in other["teams"] for m in t["members"] if m["role"] == "leader"} == {"执法稽查局"}
    # no county officer at all: the teams still form, and each names its shortfall
    out = assign(ent, inspector_draw("i", "p", "e", _pools(with_county=False)), settings, default_calendar)
    assert out["ok"] and len(out["level_shortfalls"]) == len(out["teams"])
    assert all("县级" in t["level_shortfalls"][0] for t in out["teams"])


async def test_visit_dates_after_dispatch_plus_notice_and_report_date_rule(svc, keys):
    app, c = svc
    app.state.ctx.extras["today"] = lambda: dt.date(2022, 6, 9)  # dispatched the day before the window opens
    await feed_draws(app)
    a = await _form(c, keys)
    earliest = default_calendar.add_workdays(dt.date(2022, 6, 9), SETTINGS.get("notice_workdays", 3))
    assert earliest == dt.date(2022, 6, 14)
    visits = (await c.get("/visits", params={"limit": 200}, headers=H(keys, **ADMIN))).json()["items"]
    assert visits and min(dt.date.fromisoformat(v["date"]) for v in visits) == earliest
    # 2022-11-20 is a Sunday: the report date is Friday 2022-11-18, and the rule is stated
    assert a["report_date_stated"] == "2022-11-20" and a["report_date"] == "2022-11-18"
    assert "最后一个工作日" in a["rules"]["report_date"] and "告知期" in a["rules"]["visit_start"]
    teams = (await c.get("/teams", headers=H(keys, **ADMIN))).json()["items"]
    assert {t["report_date"] for t in teams} == {"2022-11-18"}


async def test_substitution_is_an_amendment_and_verify_replays_live_rows(svc, keys):
    app, c = svc
    await feed_draws(app)
    a = await _form(c, keys)
    team = (await c.get("/teams", params={"assignment_id": a["id"]}, headers=H(keys, **ADMIN))).json()["items"][0]
    t = await c.get(f"/teams/{team['id']}", headers=H(keys, **ADMIN))
    leader = next(m for m in t.json()["members"] if m["role"] == "leader")
    r = await c.post(f"/teams/{team['id']}/substitutions", json={"person_id": leader["person_id"], "reason": "组长病休"},
                     headers={**H(keys, **ADMIN), "If-Match": t.headers["ETag"]})
    assert r.status_code == 201, r.text
    am = r.json()["amendment"]
    assert am["seq"] == 1 and am["kind"] == "substitution" and am["prev_hash"] == "0" * 64 and am["reason"] == "组长病休"
    [ev] = await _events(app, ".scheduling.team.amended")
    assert ev["amendment_id"] == am["id"] and ev["kind"] == "substitution"
    assert {m["person_id"] for m in ev["members"]} == {m["person_id"] for m in r.json()["members"]}
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is True and v["amendments"] == 1 and v["problems"] == [] and v["amendment_head"] == am["hash"]
    listed = (await c.get(f"/assignments/{a['id']}/amendments", headers=H(keys, **ADMIN))).json()["items"]
    assert [x["hash"] for x in listed] == [am["hash"]]
    # a team-member row edited in the database makes verify fail
    async with app.state.ctx.db.transaction() as s:
        await s.execute(update(TeamMember).where(TeamMember.team_id == team["id"], TeamMember.role == "member", TeamMember.active.is_(True))
                        .values(person_id="insp-9999"))
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is False and any("insp-9999" in p for p in v["problems"])


async def test_substitute_leader_is_never_double_booked(svc, keys):
    """Two teams in one city, visiting on the same days, led by the only two cadres. Substituting the
    first team's leader may not pick the second team's leader (booked the same days), although the
    per-leader limit (4) would allow it: with nobody free the substitution is refused, naming why."""
    app, c = svc
    pools = generous_pools(n_leaders=2)
    settings = dict(SETTINGS, max_teams_per_leader=4, max_teams_per_expert=1, load_per_team=3)
    sel = [enterprise(i, "140100", "140105" if i % 2 else "140106", ["cement"]) for i in range(1, 7)]
    assert await feed(app, committed(enterprise_draw("ent-1", "plan-1", sel, settings)), DrawCommittedConsumer())
    assert await feed(app, committed(inspector_draw("insp-1", "plan-1", "ent-1", pools, settings=settings)), DrawCommittedConsumer())
    a = await _form(c, keys)
    teams = (await c.get("/teams", params={"assignment_id": a["id"]}, headers=H(keys, **ADMIN))).json()["items"]
    assert len(teams) == 2
    async with app.state.ctx.db.session() as s:
        d0 = set((await s.execute(select(Visit.visit_date).where(Visit.team_id == teams[0]["id"]))).scalars())
        d1 = set((await s.execute(select(Visit.visit_date).where(Visit.team_id == teams[1]["id"]))).scalars())
    assert d0 & d1  # the two teams work on the same days
    t0 = await c.get(f"/teams/{teams[0]['id']}", headers=H(keys, **ADMIN))
    lead0 = next(m for m in t0.json()["members"] if m["role"] == "leader")
    r = await c.post(f"/teams/{teams[0]['id']}/substitutions", json={"person_id": lead0["person_id"], "reason": "回避：近亲属任职"},
                     headers={**H(keys, **ADMIN), "If-Match": t0.headers["ETag"]})
    assert r.status_code == 422, r.text
    assert "组长" in r.json()["detail"]
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is True and v["amendments"] == 0


async def test_replacement_after_dispatch_cancels_dispatches_and_tracks(svc, keys):
    app, c = svc
    await feed_draws(app)
    a = await _form(c, keys)
    victim = SELECTED[4]  # 临汾, two sites
    before = (await c.get("/tasks", params={"uscc": victim["uscc"]}, headers=H(keys, **ADMIN))).json()["items"]
    assert len(before) == 2
    repl = enterprise(77, "141000", "141021", ["hazardous_chemicals"], 1)
    consumer = app.state.ctx.runner.consumers["scheduling-draw-replacement"]
    ev = replacement("ent-1", victim["uscc"], repl)
    assert await feed(app, ev, consumer)
    assert not await feed(app, ev, consumer)  # redelivery is harmless
    after = (await c.get("/tasks", params={"uscc": victim["uscc"]}, headers=H(keys, **ADMIN))).json()["items"]
    assert {t["status"] for t in after} == {"cancelled"} and {t["cancel_reason"] for t in after} == {"企业已停产"}
    new = (await c.get("/tasks", params={"uscc": repl["uscc"]}, headers=H(keys, **ADMIN))).json()["items"]
    assert len(new) == 1 and new[0]["status"] == "dispatched" and new[0]["amendment_id"]
    task = (await c.get(f"/tasks/{new[0]['id']}", headers=H(keys, **ADMIN))).json()
    assert task["visit"]["date"] >= "2022-06-10"
    # the team passes 回避 and composition with the replacement (verify re-checks the live rows)
    team = (await c.get(f"/teams/{new[0]['team_id']}", headers=H(keys, **ADMIN))).json()
    assert repl["uscc"] in team["enterprises"] and victim["uscc"] not in team["enterprises"]
    cancelled = await _events(app, ".scheduling.task.cancelled")
    assert sorted(x["task_id"] for x in cancelled) == sorted(t["id"] for t in after) and cancelled[0]["reason"] == "企业已停产"
    dispatched = [x for x in await _events(app, ".scheduling.task.dispatched") if x["enterprise"]["uscc"] == repl["uscc"]]
    assert len(dispatched) == 1 and dispatched[0]["members"]
    amended = await _events(app, ".scheduling.team.amended")
    assert amended[-1]["kind"] == "replacement" and amended[-1]["members"]
    # the schedule: the replaced enterprise's visits are gone from it (listed, flagged, only on request), no live slot twice
    live = (await c.get("/visits", params={"limit": 500}, headers=H(keys, **ADMIN))).json()["items"]
    assert victim["uscc"] not in {v["uscc"] for v in live} and repl["uscc"] in {v["uscc"] for v in live}
    assert not any(v["cancelled"] for v in live)
    slots = [(v["team_id"], v["date"], v["slot"]) for v in live]
    assert len(slots) == len(set(slots))
    every = (await c.get("/visits", params={"limit": 500, "include_cancelled": "true"}, headers=H(keys, **ADMIN))).json()["items"]
    gone = [v for v in every if v["uscc"] == victim["uscc"]]
    assert len(gone) == 2 and all(v["cancelled"] for v in gone) and len(every) == len(live) + 2
    tracked = (await c.get("/not-inspected", headers=H(keys, **ADMIN))).json()["items"]
    assert [(x["uscc"], x["replaced_by"], x["reason"]) for x in tracked] == [(victim["uscc"], repl["uscc"], "企业已停产")]
    # a city bureau sees its own city's tracked enterprises only
    assert (await c.get("/not-inspected", headers=H(keys, sub="ty", roles=["city_admin"], region="140100"))).json()["items"] == []
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is True and v["amendments"] == 1, v
    # an edited task row is caught by the replay
    async with app.state.ctx.db.transaction() as s:
        await s.execute(update(Task).where(Task.id == after[0]["id"]).values(status="dispatched"))
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is False and any("检查任务" in p for p in v["problems"])


async def test_cancel_task_with_reason_puts_it_on_the_tracked_list(svc, keys):
    app, c = svc
    await feed_draws(app)
    a = await _form(c, keys)
    t = (await c.get("/tasks", params={"limit": 1}, headers=H(keys, **ADMIN))).json()["items"][0]
    r = await c.get(f"/tasks/{t['id']}", headers=H(keys, **ADMIN))
    body = {"reason": "企业已转产", "not_inspected": "转产"}
    assert (await c.post(f"/tasks/{t['id']}/cancel", json=body, headers=H(keys, **ADMIN))).status_code == 428
    bureau = H(keys, sub="xd", roles=["county_admin"], region=t["region_code"])
    assert (await c.post(f"/tasks/{t['id']}/cancel", json=body, headers={**bureau, "If-Match": r.headers["ETag"]})).status_code == 403
    assert (await c.post(f"/tasks/{t['id']}/cancel", json={"reason": ""}, headers={**H(keys, **ADMIN), "If-Match": r.headers["ETag"]})).status_code == 422
    r = await c.post(f"/tasks/{t['id']}/cancel", json=body, headers={**H(keys, **ADMIN), "If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled" and r.json()["amendment"]["kind"] == "cancellation"
    tracked = (await c.get("/not-inspected", params={"plan_id": "plan-1"}, headers=H(keys, **ADMIN))).json()["items"]
    assert tracked[0]["uscc"] == t["uscc"] and tracked[0]["reason"].startswith("转产")
    v = (await c.get(f"/assignments/{a['id']}/verify", headers=H(keys, **ADMIN))).json()
    assert v["ok"] is True and v["amendments"] == 1


def test_new_visits_take_the_lowest_free_slot_of_a_day():
    """A replacement's visit on a day whose slot 2 was cancelled takes slot 2, not 'live visits + 1' (= 3,
    which a live visit holds); a full day is skipped; days a member is busy elsewhere too."""
    import datetime as dt

    from services.scheduling.amendments import _visit_dates
    from shared.calendar import default_calendar

    d1, d2, d3 = dt.date(2022, 6, 13), dt.date(2022, 6, 14), dt.date(2022, 6, 15)  # Monday to Wednesday, working days
    settings = {"window_end": "2022-06-17", "visits_per_day": 3}
    taken = {d1: {1, 3}, d2: {1, 2, 3}}
    out = _visit_dates(3, ["p1"], {"p1": set(), "p2": {d3}}, taken, settings, d1, default_calendar)
    assert out == [(d1, 2), (dt.date(2022, 6, 15), 1), (dt.date(2022, 6, 15), 2)]
    assert taken[d1] == {1, 2, 3}
    busy = _visit_dates(2, ["p1", "p2"], {"p2": {d3}}, {d1: {1, 2, 3}, d2: {1, 2, 3}}, settings, d1, default_calendar)
    assert busy == [(dt.date(2022, 6, 16), 1), (dt.date(2022, 6, 16), 2)]
    none_left = _visit_dates(1, ["p1"], {}, {d: {1, 2, 3} for d in default_calendar.workdays_in(d1, dt.date(2022, 6, 17))}, settings, d1, default_calendar)
    assert none_left == [(None, 0)]


def test_substitute_keeps_the_leaving_members_level():
    from services.scheduling.assignment import effective_settings, find_substitute

    pools = _pools()
    settings = effective_settings(dict(SETTINGS, load_per_team=4))
    ents = _many(12)[:4]
    out = assign(enterprise_draw("e", "p", ents), inspector_draw("i", "p", "e", pools), settings, default_calendar)
    team = out["teams"][0]
    county = next(m for m in team["members"] if m["level"] == "county")
    usage = Counter(m["person_id"] for t in out["teams"] for m in t["members"])
    new, why = find_substitute(inspector_draw("i", "p", "e", pools), settings, [e for e in ents if e["uscc"] in team["enterprises"]],
                               team["members"], dict(usage), county, team["label"])
    assert why is None and new["level"] == "county" and new["person_id"] != county["person_id"]
