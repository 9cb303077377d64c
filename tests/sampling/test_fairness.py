"""Issue 8 (sampling side), through the HTTP API: one effective draw of each kind per plan with
public, reasoned abandonment by another official; four eyes on plans; deviations from the notice's
template recorded with reasons and shown; strata per category with the written rules; result
digest and its rule in export and public view; the offline verifier against the public view."""
from __future__ import annotations

import io
import json
import math
from fractions import Fraction

from services.sampling.cli import verify_file
from shared.cli import main as spotcheck
from tests.helpers import running
from services.sampling.population import StaticPopulation
from tests.sampling import population
from tests.sampling import test_draws
from tests.sampling.test_draws import SEED, approved_plan, assert_problem, committed_draw, h

make_client = test_draws.make_client  # the same fixture

OTHER_SEED = "99999999998888888888777"


async def test_second_draw_refused_abandonment_by_another_official_is_public(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        first = await committed_draw(c, keys, plan["id"])
        assert first["attempt"] == 1
        # a silent second committed draw of the same kind is impossible
        body = assert_problem(await c.post("/draws", json={"plan_id": plan["id"]}, headers=h(keys)), 409, "kind")
        assert "作废" in body["detail"]
        # abandonment: not by the official who ran it, not without a reason
        assert_problem(await c.post(f"/draws/{first['id']}/abandon", json={"reason": "结果不理想"}, headers=h(keys)), 409, "abandoned_by")
        assert_problem(await c.post(f"/draws/{first['id']}/abandon", json={}, headers=h(keys, sub="admin3")), 422)
        county = h(keys, sub="xd", roles=("county_admin",), region="140105")
        assert (await c.post(f"/draws/{first['id']}/abandon", json={"reason": "冻结的总体漏掉了一个县的企业"}, headers=county)).status_code == 404
        r = await c.post(f"/draws/{first['id']}/abandon", json={"reason": "冻结的总体漏掉了一个县的企业"}, headers=h(keys, sub="admin3"))
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "abandoned" and r.json()["abandoned_by"] == "admin3"
        # an abandoned draw is closed for good
        assert_problem(await c.post(f"/draws/{first['id']}/replacements", json={"uscc": "x", "reason": "停产停业"}, headers=h(keys)), 409)
        # the next draw is a new attempt on the record
        second = await committed_draw(c, keys, plan["id"], seed=OTHER_SEED)
        assert second["attempt"] == 2
        pub = (await c.get(f"/public/plans/{plan['id']}")).json()
        attempts = [(a["kind"], a["attempt"], a["status"], a["seed"]) for a in pub["draw_attempts"]]
        assert attempts == [("enterprise", 1, "abandoned", SEED), ("enterprise", 2, "committed", OTHER_SEED)]
        ab = pub["draw_attempts"][0]
        assert ab["abandon_reason"] == "冻结的总体漏掉了一个县的企业" and ab["abandoned_by"] == "admin3"
        assert ab["result_digest"] == first["result_digest"] and ab["status_before_abandon"] == "committed"
        # the abandoned draw's own public page stays, marked
        old = (await c.get(f"/public/draws/{first['id']}")).json()
        assert old["abandoned"] is True and old["status"] == "abandoned"


async def test_inspector_draw_blocks_abandoning_its_enterprise_draw(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        ent = await committed_draw(c, keys, plan["id"])
        insp = await committed_draw(c, keys, plan["id"], kind="inspector", enterprise_draw_id=ent["id"])
        assert_problem(await c.post(f"/draws/{ent['id']}/abandon", json={"reason": "重新冻结总体"}, headers=h(keys, sub="admin3")), 409)
        assert (await c.post(f"/draws/{insp['id']}/abandon", json={"reason": "人员名录有误"}, headers=h(keys, sub="admin3"))).status_code == 200
        assert (await c.post(f"/draws/{ent['id']}/abandon", json={"reason": "重新冻结总体"}, headers=h(keys, sub="admin3"))).status_code == 200


async def test_four_eyes_and_template_deviations_with_reasons_in_plan_export_and_public(make_client, keys):
    app = await make_client()
    async with running(app) as c:
        r = await c.post("/plans/from-template/notice-2022-181", json={}, headers=h(keys))
        plan = r.json()
        assert plan["template"] == "notice-2022-181" and plan["deviations"] == []
        # the author cannot approve his own plan
        body = assert_problem(await c.post(f"/plans/{plan['id']}/approve", headers={**h(keys), "If-Match": r.headers["ETag"]}), 409, "approved_by")
        assert "四眼" in body["title"]
        # editing 30 % → 10 % without a reason is refused, naming the deviation
        rules = plan["rules"]
        changed = [dict(x, ratio="0.1") if x["name"] == "危险化学品" else x for x in rules]
        body = assert_problem(await c.patch(f"/plans/{plan['id']}", json={"rules": changed},
                                            headers={**h(keys, sub="editor"), "If-Match": r.headers["ETag"]}),
                              422, "deviation_reasons.rules.危险化学品.ratio")
        r = await c.patch(f"/plans/{plan['id']}", json={"rules": changed, "deviation_reasons": {"rules.危险化学品.ratio": "本年度危化品已专项检查全覆盖"}},
                          headers={**h(keys, sub="editor"), "If-Match": r.headers["ETag"]})
        assert r.status_code == 200, r.text
        [dev] = r.json()["deviations"]
        assert dev == {**dev, "key": "rules.危险化学品.ratio", "template_value": "0.3", "plan_value": "0.1",
                       "reason": "本年度危化品已专项检查全覆盖", "template_note": "通知第一（四）3项：按照30%比例抽取"}
        # the editor cannot approve either; a third official can
        assert_problem(await c.post(f"/plans/{plan['id']}/approve", headers={**h(keys, sub="editor"), "If-Match": r.headers["ETag"]}), 409)
        r = await c.post(f"/plans/{plan['id']}/approve", headers={**h(keys, sub="approver"), "If-Match": r.headers["ETag"]})
        assert r.status_code == 200 and r.json()["approved_by"] == "approver"
        d = await committed_draw(c, keys, plan["id"])
        exp = (await c.get(f"/draws/{d['id']}/export", headers=h(keys))).json()
        assert exp["plan"]["deviations"][0]["key"] == "rules.危险化学品.ratio"
        assert exp["plan"]["deviations"][0]["reason"] == "本年度危化品已专项检查全覆盖"
        pub = (await c.get(f"/public/plans/{plan['id']}")).json()
        assert pub["deviations"][0]["plan_value"] == "0.1" and pub["source"] == "晋市监函〔2022〕181号"
        assert "有 1 处偏离模板" in pub["source_statement"] and "有 1 处偏离模板" in exp["plan"]["source_statement"]
        assert (await c.get(f"/public/draws/{d['id']}")).json()["deviations"][0]["reason"] == "本年度危化品已专项检查全覆盖"


async def test_strata_per_category_with_written_rules_and_result_digest(make_client, keys):
    app = await make_client()
    units = population.enterprises(300)
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        d = await committed_draw(c, keys, plan["id"])
        by = {s["name"]: s for s in d["strata"]}
        # one stratum per category, each at the notice's ratio, ceil-rounded
        for name, ratio in (("危险化学品", "0.3"), ("电线电缆", "0.3"), ("化肥", "0.3"), ("食品相关产品", "0.2"),
                            ("建筑用钢筋", "0.2"), ("水泥", "0.2")):
            st = by[name]
            assert st["ratio"] == ratio and st["quota"] == math.ceil(Fraction(ratio) * st["population"]) > 0
        # a multi-category enterprise sits in the stratum of its highest-ratio category (first match)
        multi = next(u for u in units if set(u["categories"]) >= {"cement"} and len(u["categories"]) == 2
                     and not any(u["flags"].values()) and "hazardous_chemical_packaging" not in u["categories"])
        unit = (await c.get(f"/draws/{d['id']}/units", params={"limit": 500}, headers=h(keys))).json()["items"]
        got = next(x["stratum"] for x in unit if x["unit_id"] == multi["uscc"])
        order = [r["name"] for r in plan["rules"]]
        names = {"cement": "水泥", "rebar": "建筑用钢筋", "food_related": "食品相关产品", "fertilizer": "化肥", "wire_cable": "电线电缆",
                 "hazardous_chemicals": "危险化学品", "broadcast_transmission": "广播电视传输设备", "rmb_discriminator": "人民币鉴别仪",
                 "prestressed_railway_beam": "预应力混凝土铁路桥简支梁"}
        assert got == min((names[x] for x in multi["categories"]), key=order.index)
        exp = (await c.get(f"/draws/{d['id']}/export", headers=h(keys))).json()
        pub = (await c.get(f"/public/draws/{d['id']}")).json()
        for doc in (exp, pub):
            assert "先匹配" in doc["strata_rules"]["first_match"] and "多个产品类别" in doc["strata_rules"]["multi_category"]
            assert doc["result_digest"] == d["result_digest"] and doc["result_digest_rule"].startswith("结果摘要 = SHA-256")
        assert (await c.get(f"/public/plans/{plan['id']}")).json()["strata_rules"]["multi_category"]


async def test_offline_verifier_prints_seed_digests_and_compares_with_public_view(make_client, keys, tmp_path):
    app = await make_client()
    async with running(app) as c:
        plan = await approved_plan(c, keys)
        first = await committed_draw(c, keys, plan["id"])
        exp1 = (await c.get(f"/draws/{first['id']}/export", headers=h(keys))).content
        pub1 = (await c.get(f"/public/draws/{first['id']}")).content
        # the official abandons and re-draws with another seed: internally consistent
        assert (await c.post(f"/draws/{first['id']}/abandon", json={"reason": "演示：重新抽取"}, headers=h(keys, sub="admin3"))).status_code == 200
        second = await committed_draw(c, keys, plan["id"], seed=OTHER_SEED)
        exp2 = (await c.get(f"/draws/{second['id']}/export", headers=h(keys))).content
    f1, f2, p1 = tmp_path / "e1.json", tmp_path / "e2.json", tmp_path / "p1.json"
    f1.write_bytes(exp1)
    f2.write_bytes(exp2)
    p1.write_bytes(pub1)
    out = io.StringIO()
    assert verify_file(str(f1), out, public=str(p1)) == 0
    text = out.getvalue()
    assert f"种子：{SEED}" in text and first["population_digest"] in text and first["result_digest"] in text
    assert "与公开结果一致" in text
    # the re-draw passes alone, but not against what was published for the first draw
    assert verify_file(str(f2), io.StringIO()) == 0
    out = io.StringIO()
    assert verify_file(str(f2), out, public=str(p1)) == 1
    assert "种子不符" in out.getvalue() and "结果摘要不符" in out.getvalue()
    assert spotcheck(["verify-draw", str(f2), "--public", str(p1)]) == 1
    # a tampered selection in the export no longer matches its own result digest
    e = json.loads(exp1)
    sel = next(u for u in e["population"] if u["selected"])
    sel["data"]["name"] = "改过的名字"
    f3 = tmp_path / "e3.json"
    f3.write_text(json.dumps(e, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    assert verify_file(str(f3), out) == 1 and "结果摘要不符" in out.getvalue()


async def test_public_view_of_a_risk_driven_draw_does_not_tell_risk_units_apart(make_client, keys, tmp_path):
    """With a rule by risk class, every selected unit carries one label, the risk strata are one figure and no
    ticket is listed; the export still verifies against that public view, and a changed figure is caught."""
    from services.sampling.population import StaticRiskClasses

    ents = population.enterprises(300)
    d_class = {e["uscc"] for e in ents[:6]}
    risk = StaticRiskClasses({e["uscc"]: ("D" if e["uscc"] in d_class else "A") for e in ents})
    app = await make_client(StaticPopulation(ents, population.people()), risk_classes=risk)
    rules = [{"name": "高风险企业（D类）", "risk_classes": ["D"], "ratio": "1"}, {"name": "其他", "ratio": "0.05"}]
    settings = {"window_start": "2026-06-10", "window_end": "2026-11-10", "report_date": "2026-11-20"}
    async with running(app) as c:
        r = await c.post("/plans", json={"name": "2026年风险分类抽查", "batch": "2026-R", "catalogue": "2022", "settings": settings,
                                         "rules": rules}, headers=h(keys))
        assert r.status_code == 201, r.text
        pid = r.json()["id"]
        assert (await c.post(f"/plans/{pid}/approve", headers={**h(keys, sub="admin2"), "If-Match": r.headers["etag"]})).status_code == 200
        d = await committed_draw(c, keys, pid)
        exp = (await c.get(f"/draws/{d['id']}/export", headers=h(keys))).content
        raw = await c.get(f"/public/draws/{d['id']}")
    pub = raw.json()
    assert {u["unit_id"] for u in json.loads(exp)["population"] if u["selected"]} >= d_class
    labels = {x["stratum"] for x in pub["selected"]}
    assert len(labels) == 1 and "高风险" not in next(iter(labels)) and "其他" != next(iter(labels))
    assert all("ticket" not in x for x in pub["selected"])
    assert [x["uscc"] for x in pub["selected"]] == sorted(x["uscc"] for x in pub["selected"])
    names = [st["name"] for st in pub["strata"] if st["name"] != "（未纳入抽取）"]
    assert "高风险企业（D类）" not in names and "其他" in names and len(names) == 2
    combined = next(st for st in pub["strata"] if st["name"] != "其他")
    other = next(st for st in pub["strata"] if st["name"] == "其他")
    assert combined["population"] == 6 and combined["quota"] == 6 and combined["ratio"] is None
    assert other["population"] == 294 and other["quota"] == 15
    assert len(pub["selected"]) == combined["quota"] + other["quota"]
    assert [r["name"] for r in pub["rules"]] == ["高风险企业（D类）", "其他"]  # the rule is public, no unit's class
    assert "risk_class" not in json.dumps(pub["selected"]) + json.dumps(pub["strata"]) and pub["strata_disclosure"]
    # an outside auditor holding the export re-derives the draw and matches it with the public view
    fe, fp = tmp_path / "e.json", tmp_path / "p.json"
    fe.write_bytes(exp)
    fp.write_bytes(raw.content)
    out = io.StringIO()
    assert verify_file(str(fe), out, public=str(fp)) == 0, out.getvalue()
    assert "与公开结果一致" in out.getvalue()
    combined["population"] = 7
    fp.write_text(json.dumps(pub, ensure_ascii=False), encoding="utf-8")
    out = io.StringIO()
    assert verify_file(str(fe), out, public=str(fp)) == 1 and "信用风险" in out.getvalue()


def test_csv_export_neutralises_formula_cells():
    from services.sampling.draws import export_csv_bytes

    exp = {"format": "f", "kind": "enterprise", "plan": {"name": "=HYPERLINK(\"x\")"},
           "population": [{"unit_id": "u1", "stratum": "@s", "ticket": "0.1", "position": 1, "selected": True,
                           "data": {"name": "+cmd|' /C calc'!A0", "region_code": "140105"}}]}
    text = export_csv_bytes(exp).decode()
    assert "'=HYPERLINK" in text and "'+cmd" in text and "'@s" in text
    assert ",=" not in text and ",+" not in text


def test_leader_pool_is_the_plan_unit_not_the_business_line():
    from services.sampling.pools import pools_of

    base = {"kind": "inspector", "level": "province", "division_cadre": True, "active": True, "certificate_no": "C1",
            "business_line": "产品质量安全监管"}
    assert "leaders" in pools_of({**base, "unit": "质量监管处"})
    assert "leaders" not in pools_of({**base, "unit": "执法稽查局"})  # same business line, other unit
    assert "leaders" in pools_of({**base, "unit": "执法稽查局"}, "执法稽查局")
    assert "leaders" not in pools_of({**base, "unit": "质量监管处", "division_cadre": False})
