"""Over HTTP with their scoping: the visit plan (`GET /visits`) and the operations endpoints for
parked events (`GET /admin/parked`, `POST /admin/parked/{id}/replay`)."""
from __future__ import annotations

import json

from sqlalchemy import func, select

from services.scheduling.consumers import DrawCommittedConsumer
from services.scheduling.models import Task, TeamMember, Visit
from services.scheduling.schemas import TaskOut, VisitOut
from shared.db import utcnow

from .factory import committed, enterprise_draw, generous_pools, inspector_draw
from . import test_api as _api

# the scheduling tests' own service fixture and helpers
svc, ADMIN, SELECTED, H, feed, feed_draws = _api.svc, _api.ADMIN, _api.SELECTED, _api.H, _api.feed, _api.feed_draws


async def _all(c, headers, **params):
    items, cursor = [], None
    while True:
        r = await c.get("/visits", params={"limit": 2, **params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert set(page) == {"items", "next_cursor", "limit"} and page["limit"] == 2
        items += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            return items


async def test_visits_paged_and_scoped(svc, keys):
    app, c = svc
    await feed_draws(app)
    r = await c.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1"}, headers=H(keys, **ADMIN))
    assert r.status_code == 201, r.text
    async with app.state.ctx.db.session() as s:
        total = (await s.execute(select(func.count()).select_from(Visit))).scalar_one()
        tasks = (await s.execute(select(func.count()).select_from(Task))).scalar_one()
    assert total == tasks > 0

    everything = await _all(c, H(keys, **ADMIN))
    assert len(everything) == len({v["id"] for v in everything}) == total
    for v in everything:  # the documented body (openapi) is what the route answers
        VisitOut.model_validate(v)
    tasks_page = (await c.get("/tasks", headers=H(keys, **ADMIN), params={"limit": 500})).json()
    for t in tasks_page["items"]:
        TaskOut.model_validate(t)
    one = await c.get(f"/tasks/{tasks_page['items'][0]['id']}", headers=H(keys, **ADMIN))
    TaskOut.model_validate(one.json())
    assert {"id", "team_id", "task_id", "plan_id", "date", "slot", "uscc", "site_id", "region_code", "categories"} <= set(everything[0])

    xiaodian = await _all(c, H(keys, sub="xd", roles=["county_admin"], region="140105"))
    assert xiaodian and {v["region_code"] for v in xiaodian} == {"140105"}
    assert len(xiaodian) == sum(1 for v in everything if v["region_code"] == "140105")
    taiyuan = await _all(c, H(keys, sub="ty", roles=["city_admin"], region="140100"))
    assert {v["region_code"][:4] for v in taiyuan} == {"1401"}
    other_city = await _all(c, H(keys, sub="yc", roles=["city_admin"], region="140700"))  # 晋中: none drawn there
    assert other_city == []

    # an inspector sees only the visits of the teams they are in
    async with app.state.ctx.db.session() as s:
        member = (await s.execute(select(TeamMember.person_id).order_by(TeamMember.person_id).limit(1))).scalar_one()
        my_teams = set((await s.execute(select(TeamMember.team_id).where(TeamMember.person_id == member))).scalars())
    mine = await _all(c, H(keys, sub="insp", roles=["inspector"], region="140000", person_id=member))
    assert mine and {v["team_id"] for v in mine} == my_teams
    assert len(mine) == sum(1 for v in everything if v["team_id"] in my_teams)
    stranger = await _all(c, H(keys, sub="insp2", roles=["inspector"], region="140000", person_id="insp-99999"))
    assert stranger == []

    # filters narrow within the scope; an account with no reading role is refused
    one_team = everything[0]["team_id"]
    assert {v["team_id"] for v in await _all(c, H(keys, **ADMIN), team_id=one_team)} == {one_team}
    assert await _all(c, H(keys, **ADMIN), date_from="2999-01-01") == []
    assert (await c.get("/visits", params={"date_from": "not-a-date"}, headers=H(keys, **ADMIN))).status_code == 422
    ent = await c.get("/visits", headers=H(keys, sub="e", roles=["enterprise"], region="140105", uscc=SELECTED[0]["uscc"]))
    assert ent.status_code == 403 and ent.headers["content-type"] == "application/problem+json"


async def test_parked_list_and_replay_over_http(svc, keys):
    app, c = svc
    ctx = app.state.ctx
    ent = enterprise_draw("ent-9", "plan-9", SELECTED)
    event = committed(ent)
    async with ctx.db.transaction() as s:  # as the consumer runner parks a message that kept failing
        await s.execute(ctx.kernel.parked.insert().values(
            event_id=event["id"], consumer=DrawCommittedConsumer.name, subject="spotcheck.sampling.draw.committed",
            payload=json.dumps(event), error="RuntimeError: database was down", deliveries=5, parked_at=utcnow()))

    prov = H(keys, **ADMIN)
    city = H(keys, sub="ty", roles=["city_admin"], region="140100")
    assert (await c.get("/admin/parked", headers=city)).status_code == 403
    assert (await c.get("/admin/parked")).status_code == 401
    listed = await c.get("/admin/parked", headers=prov)
    assert listed.status_code == 200
    body = listed.json()
    assert body["open"] == 1 and body["items"][0]["event_id"] == event["id"] and body["items"][0]["replayed_at"] is None
    pid = body["items"][0]["id"]

    assert (await c.post(f"/admin/parked/{pid}/replay", headers=city)).status_code == 403
    assert (await c.post("/admin/parked/999999/replay", headers=prov)).status_code == 404
    done = await c.post(f"/admin/parked/{pid}/replay", headers=prov)
    assert done.status_code == 200, done.text
    assert done.json() == {"id": pid, "event_id": event["id"], "applied": True}
    again = await c.post(f"/admin/parked/{pid}/replay", headers=prov)
    assert again.status_code == 409 and again.json()["instance"] == f"/api/v1/scheduling/admin/parked/{pid}/replay"
    after = (await c.get("/admin/parked", headers=prov)).json()
    assert after["open"] == 0 and after["items"][0]["replayed_at"] is not None

    # the replayed draw is now known: formation can use it (the inspector draw arrives normally)
    insp = inspector_draw("insp-9", "plan-9", "ent-9", generous_pools())
    assert await feed(app, committed(insp), DrawCommittedConsumer())
    r = await c.post("/plans/plan-9/assignments", json={"enterprise_draw_id": "ent-9"}, headers=prov)
    assert r.status_code == 201, r.text


async def test_a_bureau_sees_only_its_own_enterprises_of_a_team(svc, keys):
    """Regression audit: a county that may see a team read its whole enterprise list, i.e. which enterprises in
    the other counties are about to be inspected. A bureau sees those with a task in its region; the province
    and the team's members see all."""
    app, c = svc
    await feed_draws(app)
    r = await c.post("/plans/plan-1/assignments", json={"enterprise_draw_id": "ent-1"}, headers=H(keys, **ADMIN))
    assert r.status_code == 201, r.text
    tasks = (await c.get("/tasks", params={"limit": 500}, headers=H(keys, **ADMIN))).json()["items"]
    counties: dict[str, set[str]] = {}
    for t in tasks:
        counties.setdefault(t["team_id"], set()).add(t["region_code"])
    team_id = next((tid for tid, cs in counties.items() if len(cs) > 1), None)
    assert team_id is not None, counties  # the draw has teams spanning counties
    full = (await c.get(f"/teams/{team_id}", headers=H(keys, **ADMIN))).json()
    county = sorted(counties[team_id])[0]
    own = {t["uscc"] for t in tasks if t["team_id"] == team_id and t["region_code"] == county}
    bureau = H(keys, sub="cb", roles=["county_admin"], region=county)
    mine = (await c.get(f"/teams/{team_id}", headers=bureau)).json()
    assert set(mine["enterprises"]) == own and set(mine["enterprises"]) < set(full["enterprises"])
    listed = next(t for t in (await c.get("/teams", params={"limit": 100}, headers=bureau)).json()["items"] if t["id"] == team_id)
    assert set(listed["enterprises"]) == own
    member = next(m for m in full["members"])
    as_member = (await c.get(f"/teams/{team_id}", headers=H(keys, sub="m", roles=["inspector"], region="140000", person_id=member["person_id"]))).json()
    assert as_member["enterprises"] == full["enterprises"]
