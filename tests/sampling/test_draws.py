"""The sampling service end to end over HTTP: plan → freeze → seed ceremony → commit →
replacement → verify/export/public, with refusals, jurisdiction and the offline verifier."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from services.sampling.app import create_app
from services.sampling.population import StaticPopulation
from shared.auth import TokenVerifier
from shared.cli import main as spotcheck
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import running
from tests.sampling import population

SEED = "31415926535897932384626"


@pytest.fixture
async def make_client(databases, nats_url, events_prefix, keys):
    async def make(source=None, **kw):
        url = await databases.create("sampling")
        await upgrade_async("services.sampling", url)
        app = create_app(
            settings_for("sampling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
            population_source=source or StaticPopulation(population.enterprises(300), population.people()),
            verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks), **kw,
        )
        return app
    return make


def h(keys, sub="admin1", roles=("province_admin",), region="140000"):
    return keys.headers(sub=sub, roles=roles, region=region)


def assert_problem(resp, status, field=None):
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body = resp.json()
    if field:
        assert field in [e["field"] for e in body.get("errors", [])], body
    return body


async def approved_plan(c, keys, headers=None, approver=None, **template):
    headers = headers or h(keys)
    approver = approver or h(keys, sub="admin2")  # 四眼原则: not the author
    r = await c.post("/plans/from-template/notice-2022-181", json=template, headers={**headers, "Idempotency-Key": "tpl-1"})
    assert r.status_code == 201, r.text
    plan = r.json()
    r = await c.post(f"/plans/{plan['id']}/approve", headers={**approver, "If-Match": r.headers["ETag"]})
    assert r.status_code == 200, r.text
    return r.json()


async def committed_draw(c, keys, plan_id, seed=SEED, kind="enterprise", enterprise_draw_id=None, draw_id=None):
    body = {"plan_id": plan_id, "kind": kind}
    if enterprise_draw_id:
        body["enterprise_draw_id"] = enterprise_draw_id
    if draw_id is None:
        r = await c.post("/draws", json=body, headers=h(keys))
        assert r.status_code == 201, r.text
        draw_id = r.json()["id"]
    did = draw_id
    assert (await c.post(f"/draws/{did}/freeze", headers=h(keys))).status_code == 200
    assert (await c.post(f"/draws/{did}/seed", json={"seed": seed}, headers=h(keys, sub="official-a"))).status_code == 200
    r = await c.post(f"/draws/{did}/seed/confirm", json={"seed": seed}, headers=h(keys, sub="official-b"))
    assert r.status_code == 200, r.text
    r = await c.post(f"/draws/{did}/commit", headers=h(keys))
    assert r.status_code == 200, r.text
    return r.json()


async def events_of(app, verb):
    ctx = app.state.ctx
    t = ctx.kernel.outbox
    async with ctx.db.session() as s:
        rows = (await s.execute(select(t.c.payload).where(t.c.subject.endswith(f".sampling.draw.{verb}")))).scalars().all()
    return [json.loads(p)["data"] for p in rows]


async def test_full_enterprise_draw_with_event_replacement_verify_and_public(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        preview = (await c.get(f"/plans/{plan['id']}/preview", headers=h(keys))).json()
        assert preview["total"] == 300 and preview["outside"] == 0 and preview["frozen"] is False
        d = await committed_draw(c, keys, plan["id"])
        assert d["status"] == "committed" and d["population_count"] == 300
        assert d["seed_entered_by"] == "official-a" and d["seed_confirmed_by"] == "official-b"
        by_stratum = {s["name"]: s for s in d["strata"]}
        for s in preview["strata"]:
            assert by_stratum[s["name"]]["quota"] == s["quota"]

        # the committed event follows the contract, selected in ticket order per stratum
        [ev] = await events_of(app, "committed")
        assert ev["kind"] == "enterprise" and ev["algorithm"] == "sha256-consistent-sampler"
        assert ev["population_digest"] == d["population_digest"] and ev["seed"] == SEED
        assert ev["plan_settings"]["window_end"] == "2022-11-10"
        assert len(ev["selected"]) == sum(s["quota"] for s in d["strata"])
        first = [x for x in ev["selected"] if x["stratum"] == d["strata"][2]["name"]]
        assert [x["ticket"] for x in first] == sorted(x["ticket"] for x in first)
        assert set(first[0]) >= {"uscc", "name", "region_code", "city_code", "stratum", "ticket", "categories", "sites"}

        # replacement: the next ticket of the same stratum, on the record
        stratum = d["strata"][2]["name"]
        victim = first[0]["uscc"]
        order = (await c.get(f"/draws/{d['id']}/units", params={"stratum": stratum, "limit": 500}, headers=h(keys))).json()["items"]
        order.sort(key=lambda u: u["position"])
        expected_next = order[d["strata"][2]["quota"]]
        r = await c.post(f"/draws/{d['id']}/replacements", json={"uscc": victim, "reason": "冻结后许可证已注销"}, headers=h(keys))
        assert r.status_code == 201, r.text
        rep = r.json()
        assert rep["replacement_uscc"] == expected_next["unit_id"] and rep["stratum"] == stratum
        assert rep["recorded_by"] == "admin1" and rep["reason"] == "冻结后许可证已注销"
        [rev] = await events_of(app, "replacement_recorded")
        assert rev["replaced_uscc"] == victim and rev["replacement"]["uscc"] == expected_next["unit_id"]
        assert_problem(await c.post(f"/draws/{d['id']}/replacements", json={"uscc": victim, "reason": "再次替补"}, headers=h(keys)), 409, "uscc")

        # verify recomputes; the public view needs no token
        v = (await c.get(f"/draws/{d['id']}/verify", headers=h(keys))).json()
        assert v["verified"] is True and v["differences"] == []
        pub = await c.get(f"/public/draws/{d['id']}")
        assert pub.status_code == 200
        assert pub.json()["seed"] == SEED and pub.json()["population_digest"] == d["population_digest"]
        assert {x["uscc"] for x in pub.json()["selected"]} == {x["uscc"] for x in ev["selected"]}
        assert pub.json()["replacements"][0]["replacement_uscc"] == expected_next["unit_id"]

        # the committed draw never changes
        for path, body in (("commit", None), ("seed", {"seed": SEED}), ("freeze", None)):
            assert_problem(await c.post(f"/draws/{d['id']}/{path}", json=body, headers=h(keys)), 409)

        # audit trail of every step, chain intact
        audit = (await c.get("/audit", params={"entity_id": d["id"]}, headers=h(keys))).json()["items"]
        assert [a["action"] for a in audit] == ["draw.created", "draw.frozen", "draw.seed_entered", "draw.seed_confirmed",
                                                "draw.committed", "draw.replacement_recorded"]
        assert (await c.get("/audit/verify", headers=h(keys))).json()["ok"] is True


async def test_seed_ceremony_refusals(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        did = (await c.post("/draws", json={"plan_id": plan["id"]}, headers=h(keys))).json()["id"]
        # seed before freeze
        body = assert_problem(await c.post(f"/draws/{did}/seed", json={"seed": SEED}, headers=h(keys)), 409)
        assert "冻结" in body["title"]
        assert (await c.get(f"/public/draws/{did}")).status_code == 404
        await c.post(f"/draws/{did}/freeze", headers=h(keys))
        assert_problem(await c.post(f"/draws/{did}/seed", json={"seed": "1234567890123456789"}, headers=h(keys)), 422, "seed")
        assert_problem(await c.post(f"/draws/{did}/seed", json={"seed": "1234567890123456789x0"}, headers=h(keys)), 422, "seed")
        assert (await c.post(f"/draws/{did}/seed", json={"seed": SEED, "beacon": "nist-2022-06-01"}, headers=h(keys, sub="a"))).status_code == 200
        # second ceremony refused; confirmation by the same official refused; wrong confirmation refused
        assert_problem(await c.post(f"/draws/{did}/seed", json={"seed": SEED}, headers=h(keys, sub="b")), 409)
        assert_problem(await c.post(f"/draws/{did}/seed/confirm", json={"seed": SEED}, headers=h(keys, sub="a")), 409)
        assert_problem(await c.post(f"/draws/{did}/seed/confirm", json={"seed": SEED + "1"}, headers=h(keys, sub="b")), 422, "seed")
        # commit before confirmation refused
        assert_problem(await c.post(f"/draws/{did}/commit", headers=h(keys)), 409)
        assert (await c.post(f"/draws/{did}/seed/confirm", json={"seed": SEED}, headers=h(keys, sub="b"))).status_code == 200
        d = (await c.post(f"/draws/{did}/commit", headers=h(keys))).json()
        [ev] = await events_of(app, "committed")
        assert ev["seed"] == SEED + ",nist-2022-06-01" and d["beacon"] == "nist-2022-06-01"


async def test_plan_validation_and_etag(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        base = {"name": "2023年度抽查", "batch": "2023-1", "catalogue": "2022",
                "settings": {"window_start": "2023-06-01", "window_end": "2023-10-01", "report_date": "2023-10-20"}}
        bad = {**base, "rules": [{"name": "a", "categories": ["rebar"], "ratio": "0.2"},
                                 {"name": "b", "categories": ["rebar"], "ratio": "0.5"}]}
        assert_problem(await c.post("/plans", json=bad, headers=h(keys)), 422, "rules[1].conditions")
        assert_problem(await c.post("/plans", json={**base, "rules": [{"name": "a", "ratio": "2"}]}, headers=h(keys)), 422, "rules[0].ratio")
        assert_problem(await c.post("/plans", json={**base, "rules": [{"name": "a", "count": -3}]}, headers=h(keys)), 422, "rules[0].count")
        ok = {**base, "rules": [{"name": "全部", "ratio": "0.1"}]}
        r = await c.post("/plans", json=ok, headers={**h(keys), "Idempotency-Key": "k1"})
        r2 = await c.post("/plans", json=ok, headers={**h(keys), "Idempotency-Key": "k1"})
        assert r.status_code == r2.status_code == 201 and r.json()["id"] == r2.json()["id"]
        pid = r.json()["id"]
        assert_problem(await c.patch(f"/plans/{pid}", json={"batch": "2023-2"}, headers=h(keys)), 428)
        assert_problem(await c.patch(f"/plans/{pid}", json={"batch": "2023-2"}, headers={**h(keys), "If-Match": '"v9"'}), 412)
        r = await c.patch(f"/plans/{pid}", json={"batch": "2023-2"}, headers={**h(keys), "If-Match": r.headers["ETag"]})
        assert r.status_code == 200 and r.json()["batch"] == "2023-2"
        # a draw needs an approved plan
        assert_problem(await c.post("/draws", json={"plan_id": pid}, headers=h(keys)), 409, "plan_id")


async def test_county_admin_scoping(make_client, keys):
    app = await make_client()
    county = dict(sub="xd-admin", roles=("county_admin",), region="140105")
    other = dict(sub="jz-admin", roles=("county_admin",), region="140202")
    async with running(app) as c:
        plan = await approved_plan(c, keys, headers=h(keys, **county), approver=h(keys, **{**county, "sub": "xd-admin2"}))
        assert plan["owner_region"] == "140105" and plan["approved_by"] == "xd-admin2"
        prov = await approved_plan(c, keys)
        # another county sees nothing and cannot create plans for 140105
        assert (await c.get(f"/plans/{plan['id']}", headers=h(keys, **other))).status_code == 404
        assert (await c.get("/plans", headers=h(keys, **other))).json()["items"] == []
        assert_problem(await c.post("/plans/from-template/notice-2022-181", json={"owner_region": "140105"},
                                    headers=h(keys, **other)), 403, "owner_region")
        # the county sees its own plan only; the province sees both
        assert [p["id"] for p in (await c.get("/plans", headers=h(keys, **county))).json()["items"]] == [plan["id"]]
        assert len((await c.get("/plans", headers=h(keys))).json()["items"]) == 2
        # the county draw freezes only the county's enterprises
        r = await c.post("/draws", json={"plan_id": plan["id"]}, headers=h(keys, **county))
        did = r.json()["id"]
        d = (await c.post(f"/draws/{did}/freeze", headers=h(keys, **county))).json()
        expected = sum(1 for e in population.enterprises(300) if e["region_code"] == "140105")
        assert d["population_count"] == expected
        assert (await c.get(f"/draws/{did}", headers=h(keys, **other))).status_code == 404
        assert_problem(await c.post("/draws", json={"plan_id": prov["id"]}, headers=h(keys, **county)), 404)


async def test_same_population_and_seed_give_identical_exports_and_offline_verifier(make_client, keys, tmp_path):
    exports = []
    for _ in range(2):
        app = await make_client()
        async with running(app) as c:
            plan = await approved_plan(c, keys)
            d = await committed_draw(c, keys, plan["id"])
            j = await c.get(f"/draws/{d['id']}/export", params={"format": "json"}, headers=h(keys))
            v = await c.get(f"/draws/{d['id']}/export", params={"format": "csv"}, headers=h(keys))
            exports.append((j.content, v.content))
    (j1, c1), (j2, c2) = exports
    assert c1 == c2  # CSV: byte-identical
    e1, e2 = json.loads(j1), json.loads(j2)
    r1, r2 = e1.pop("record"), e2.pop("record")
    assert r1["draw_id"] != r2["draw_id"]
    assert json.dumps(e1, sort_keys=True, ensure_ascii=False).encode() == json.dumps(e2, sort_keys=True, ensure_ascii=False).encode()
    assert c1.decode().splitlines()[4] == f"# population_digest,{e1['population_digest']}"

    good = tmp_path / "draw.json"
    good.write_bytes(j1)
    assert spotcheck(["verify-draw", str(good)]) == 0

    # one id edited: its ticket and the digest no longer match, and it is named
    doc = json.loads(j1)
    victim = doc["population"][5]["unit_id"]
    doc["population"][5]["unit_id"] = victim[:-1] + ("9" if victim[-1] != "9" else "8")
    edited = tmp_path / "edited-id.json"
    edited.write_text(json.dumps(doc, ensure_ascii=False))
    from services.sampling.cli import verify_file
    import io
    out = io.StringIO()
    assert verify_file(str(edited), out) == 1
    assert doc["population"][5]["unit_id"] in out.getvalue() and "总体摘要不符" in out.getvalue()
    assert spotcheck(["verify-draw", str(edited)]) == 1

    # one seed digit edited: every ticket differs
    doc = json.loads(j1)
    doc["seed"] = ("4" if doc["seed"][0] != "4" else "5") + doc["seed"][1:]
    edited = tmp_path / "edited-seed.json"
    edited.write_text(json.dumps(doc, ensure_ascii=False))
    out = io.StringIO()
    assert verify_file(str(edited), out) == 1
    assert "签号不符" in out.getvalue() and "共 300 个单位" in out.getvalue()

    # a selection flipped by hand is named
    doc = json.loads(j1)
    unsel = next(u for u in doc["population"] if not u["selected"] and u["stratum"] != "（未纳入抽取）")
    unsel["selected"] = True
    edited.write_text(json.dumps(doc, ensure_ascii=False))
    out = io.StringIO()
    assert verify_file(str(edited), out) == 1
    assert unsel["unit_id"] in out.getvalue()


async def test_inspector_draw_pools_and_conflicts(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        ed = await committed_draw(c, keys, plan["id"])
        assert_problem(await c.post("/draws", json={"plan_id": plan["id"], "kind": "inspector"}, headers=h(keys)), 422, "enterprise_draw_id")
        d = await committed_draw(c, keys, plan["id"], seed="27182818284590452353602", kind="inspector", enterprise_draw_id=ed["id"])
        evs = await events_of(app, "committed")
        ev = next(e for e in evs if e["kind"] == "inspector")
        assert ev["enterprise_draw_id"] == ed["id"]
        leaders = ev["pools"]["leaders"]
        assert {p["id"] for p in leaders} == {"insp-0001", "insp-0002", "insp-0004", "insp-0005"}  # cadres of 产品质量安全监管
        assert [p["ticket"] for p in leaders] == sorted(p["ticket"] for p in leaders)
        assert {p["id"] for p in ev["pools"]["experts"]} == {f"exp-{i:04d}" for i in range(1, 11)}
        assert all(p["certificate_no"] and p["kind"] == "inspector" for p in ev["pools"]["officers"])
        assert "insp-0030" not in {p["id"] for pool in ev["pools"].values() for p in pool}  # inactive
        selected = {x["uscc"] for x in next(e for e in evs if e["kind"] == "enterprise")["selected"]}
        assert "911400000000000003" in selected
        assert ev["excluded"] == [{"person_id": "insp-0002", "uscc": "911400000000000003", "reason": "亲属在该企业任职"}]
        assert "insp-0002" in {p["id"] for p in leaders}  # flagged, not removed
        assert (await c.get(f"/draws/{d['id']}/verify", headers=h(keys))).json()["verified"] is True


async def test_registry_down_is_503(make_client, keys):
    from services.sampling.population import RegistryClient

    app = await make_client(RegistryClient(base_url="http://127.0.0.1:9"))
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        did = (await c.post("/draws", json={"plan_id": plan["id"]}, headers=h(keys))).json()["id"]
        body = assert_problem(await c.post(f"/draws/{did}/freeze", headers=h(keys)), 503)
        assert body["title"] == "名录库服务不可用，无法冻结总体"
        assert (await c.get(f"/draws/{did}", headers=h(keys))).json()["status"] == "created"


async def test_units_outside_every_rule_are_recorded_but_never_drawn(make_client, keys):
    app = await make_client()
    body = {"name": "钢筋专项抽查", "batch": "2022-钢筋", "catalogue": "2022",
            "settings": {"window_start": "2022-06-10", "window_end": "2022-11-10", "report_date": "2022-11-20"},
            "rules": [{"name": "建筑用钢筋", "categories": ["rebar"], "count": 3}]}
    async with running(app) as c:
        r = await c.post("/plans", json=body, headers=h(keys))
        plan = (await c.post(f"/plans/{r.json()['id']}/approve", headers={**h(keys, sub="admin2"), "If-Match": r.headers["ETag"]})).json()
        d = await committed_draw(c, keys, plan["id"])
        outside = next(s for s in d["strata"] if s["name"] == "（未纳入抽取）")
        rebar = sum(1 for e in population.enterprises(300) if "rebar" in e["categories"])
        assert outside["population"] == 300 - rebar > 0 and outside["quota"] == 0
        units = (await c.get(f"/draws/{d['id']}/units", params={"stratum": "（未纳入抽取）", "limit": 500}, headers=h(keys))).json()["items"]
        assert len(units) == outside["population"]
        assert all(u["ticket"].startswith("0.") and u["selected"] is False and u["position"] is None for u in units)
        chosen = (await c.get(f"/draws/{d['id']}/units", params={"selected": "true"}, headers=h(keys))).json()["items"]
        assert len(chosen) == 3 and {u["stratum"] for u in chosen} == {"建筑用钢筋"}
        assert (await c.get(f"/draws/{d['id']}/verify", headers=h(keys))).json()["verified"] is True
        # cursor pagination walks the whole frozen population exactly once
        seen, cursor = [], None
        while True:
            params = {"limit": 70, **({"cursor": cursor} if cursor else {})}
            page = (await c.get(f"/draws/{d['id']}/units", params=params, headers=h(keys))).json()
            seen += [u["unit_id"] for u in page["items"]]
            if not (cursor := page["next_cursor"]):
                break
        assert sorted(seen) == sorted(e["uscc"] for e in population.enterprises(300))


async def test_verify_names_units_tampered_in_the_database_and_idempotent_creates(make_client, keys):
    from sqlalchemy import update

    from services.sampling.models import DrawUnit

    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        hdr = {**h(keys), "Idempotency-Key": "draw-1"}
        r1 = await c.post("/draws", json={"plan_id": plan["id"]}, headers=hdr)
        r2 = await c.post("/draws", json={"plan_id": plan["id"]}, headers=hdr)
        assert r1.status_code == r2.status_code == 201 and r1.json()["id"] == r2.json()["id"]
        assert len((await c.get("/draws", headers=h(keys))).json()["items"]) == 1
        d = await committed_draw(c, keys, plan["id"], draw_id=r1.json()["id"])
        units = (await c.get(f"/draws/{d['id']}/units", params={"selected": "true", "limit": 1}, headers=h(keys))).json()["items"]
        victim = units[0]
        async with app.state.ctx.db.transaction() as s:
            await s.execute(update(DrawUnit).where(DrawUnit.draw_id == d["id"], DrawUnit.unit_id == victim["unit_id"])
                            .values(ticket="0.0000000001"))
        v = (await c.get(f"/draws/{d['id']}/verify", headers=h(keys))).json()
        assert v["verified"] is False
        assert any(victim["unit_id"] in x and "签号不符" in x for x in v["differences"])
