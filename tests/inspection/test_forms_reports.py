"""附件3/4 forms (validated columns, filled by the enterprise or the team, per-city XLSX in the notice's
layout), printable 附件2/附件1 (PDF with a CJK font, XLSX), the team report."""
from __future__ import annotations

import io

from openpyxl import load_workbook

from . import factory as f
from .test_records import arrive, fill_all, seal, sign_all

STEEL = {"address": "太原市钢铁路1号", "licence_no": "(晋)XK05-001-00011", "valid_until": "2026-05-31", "output_total": 120.5,
         "output_rebar": 80, "output_bearing": 0, "products": ["棒材产品", "线材产品"], "blast_furnaces": 2, "converters": 2,
         "electric_furnaces": 0, "rolling_lines": 3, "bar_lines": 2, "wire_lines": 1, "tensile_testers": "1000kN×2",
         "status": "在产", "sampling": {"national": "1次，合格", "provincial": "2次，合格"}, "obsolete_equipment": False,
         "unlicensed_production": False, "keeps_conditions": True, "illegal_capacity": False,
         "signer": {"contact": "=HYPERLINK(\"http://evil\")", "phone": "0351-7654321", "signed_on": "2022-06-20"}}
CEMENT = {"address": "太原市水泥路8号", "county": "小店区", "production_type": "粉磨站", "licence_no": "(晋)XK08-001-00021",
          "valid_until": "2025-12-31", "illegal_capacity": False, "output_total": 60, "output_general": 55, "output_clinker": 0,
          "output_special": "", "unlicensed_production": False, "status": "在产", "raw_mills": 0, "kilns": 0, "cement_mills": 2,
          "cement_mill_models": "Φ4.2×13m", "clinker_source": "山西某熟料有限公司", "clinker_purchase_2021": 45.2,
          "obsolete_equipment": False, "keeps_conditions": True, "signer": {"contact": "孙厂长", "phone": "0351-1234567", "signed_on": "2022-06-21"}}


async def test_cement_form_by_enterprise_and_team_with_per_city_export(svc):
    ent = svc.enterprise(f.USCC_CEMENT)
    r = await svc.client.put("/tasks/t-cement/forms/cement", headers=ent, json={**CEMENT, "production_type": "搅拌站"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "production_type"
    r = await svc.client.put("/tasks/t-cement/forms/cement", headers=ent, json={**CEMENT, "output_general": 70})
    assert r.status_code == 422 and "总产量" in r.json()["detail"]
    r = await svc.client.put("/tasks/t-cement/forms/cement", headers=ent, json={**CEMENT, "cement_mills": -1})
    assert r.status_code == 422
    r = await svc.client.put("/tasks/t-cement/forms/cement", headers={**ent, "Idempotency-Key": "k1"}, json=CEMENT)
    assert r.status_code == 201, r.text
    assert r.json()["filled_as"] == "enterprise"
    again = await svc.client.put("/tasks/t-cement/forms/cement", headers={**ent, "Idempotency-Key": "k1"}, json=CEMENT)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    # an update needs If-Match; the team corrects it
    team = svc.person(f.LEADER)
    assert (await svc.client.put("/tasks/t-cement/forms/cement", headers=team, json=CEMENT)).status_code == 428
    r = await svc.client.put("/tasks/t-cement/forms/cement", headers={**team, "If-Match": '"v1"'}, json={**CEMENT, "output_total": 61})
    assert r.status_code == 200 and r.json()["filled_as"] == "team" and r.json()["version"] == 2
    # another enterprise, a non-member, a province admin: no
    assert (await svc.client.put("/tasks/t-cement/forms/cement", headers=svc.enterprise(f.USCC_OTHER), json=CEMENT)).status_code == 404
    assert (await svc.client.put("/tasks/t-cement/forms/cement", headers={**svc.admin(), "If-Match": '"v2"'}, json=CEMENT)).status_code == 403
    assert (await svc.client.get("/tasks/t-cement/forms/cement", headers=svc.enterprise(f.USCC_OTHER))).status_code == 404
    # steel on a cement enterprise: not its form
    assert (await svc.client.put("/tasks/t-cement/forms/steel", headers=ent, json=STEEL)).status_code == 422
    # per-city export with the notice's two header rows
    r = await svc.client.get("/forms/cement/export.xlsx", headers=svc.admin("city_admin", "140100"), params={"city_code": "140100"})
    assert r.status_code == 200
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws["A2"].value == "山西省水泥获证企业生产状况登记表"
    row4 = [c.value for c in ws[4]]
    row5 = [c.value for c in ws[5]]
    assert row4[:3] == ["序号", "企业名称", "生产地址"] and "2021年水泥产量(万吨)" in row4 and "生料磨" in row4 and "粉磨站" in row4
    assert row5[row4.index("2021年水泥产量(万吨)")] == "总产量" and row5[row4.index("生料磨") + 1] == "设备型号"
    merged = {str(m) for m in ws.merged_cells.ranges}
    assert "A4:A5" in merged
    data = [c.value for c in ws[6]]
    assert data[0] == 1 and data[4] == "粉磨站" and data[row4.index("2021年水泥产量(万吨)")] == 61
    assert (await svc.client.get("/forms/cement/export.xlsx", headers=svc.admin("city_admin", "140200"), params={"city_code": "140100"})).status_code == 403
    assert (await svc.client.get("/forms/cement/export.xlsx", headers=ent, params={"city_code": "140100"})).status_code == 403
    assert (await svc.client.get("/forms/cement/export.xlsx", headers=svc.admin(), params={"city_code": "=1+1"})).status_code == 422


async def test_steel_form_cells_are_neutralised(svc):
    await svc.feed(f.dispatched("t-steel", "91140100MA0000004X", ["rebar"]))
    ent = svc.enterprise("91140100MA0000004X")
    r = await svc.client.put("/tasks/t-steel/forms/steel", headers=ent, json={**STEEL, "status": "停产"})
    assert r.status_code == 422 and "停产" in r.json()["detail"]
    r = await svc.client.put("/tasks/t-steel/forms/steel", headers=ent, json=STEEL)
    assert r.status_code == 201, r.text
    r = await svc.client.get("/forms/steel/export.xlsx", headers=svc.admin(), params={"city_code": "140100"})
    ws = load_workbook(io.BytesIO(r.content)).active
    row4 = [c.value for c in ws[4]]
    assert "获证产品" in row4 and "主要生产设备" in row4 and "2021-2022年质量监督抽查情况" in row4
    last = [c.value for c in ws[6]]
    assert last[-1].startswith("'=HYPERLINK")  # a formula typed by a user stays text
    assert last[row4.index("获证产品")] == "√"


async def test_printable_forms_and_team_report(svc, tmp_path):
    rec = (await arrive(svc)).json()
    await fill_all(svc, rec["id"], bad={"7": ("库房发现超许可范围产品", False)})
    await sign_all(svc, rec["id"])
    sealed = (await seal(svc, rec["id"])).json()
    x = (await svc.client.post(f"/records/{rec['id']}/problem-summary", headers=svc.person(f.LEADER),
                               json={"period": {"value": 20, "unit": "working_days"}, "licences": [{"number": "(晋)XK06-001-00009", "valid_until": "2026-01-01"}]})).json()
    r = await svc.client.get(f"/records/{rec['id']}/form.pdf", headers=svc.admin("county_admin", "140105"))
    assert r.status_code == 200 and r.content.startswith(b"%PDF") and r.headers["content-type"] == "application/pdf"
    assert b"/FontFile2" in r.content  # a TrueType (the CJK font) is embedded
    (tmp_path / "record.pdf").write_bytes(r.content)
    import os
    if os.environ.get("INSPECTION_PDF_DIR"):
        (__import__("pathlib").Path(os.environ["INSPECTION_PDF_DIR"]) / "record.pdf").write_bytes(r.content)
    r = await svc.client.get(f"/problem-summaries/{x['id']}/form.pdf", headers=svc.person(f.LEADER))
    assert r.status_code == 200 and r.content.startswith(b"%PDF")
    (tmp_path / "summary.pdf").write_bytes(r.content)
    if os.environ.get("INSPECTION_PDF_DIR"):
        (__import__("pathlib").Path(os.environ["INSPECTION_PDF_DIR"]) / "summary.pdf").write_bytes(r.content)
    r = await svc.client.get(f"/records/{rec['id']}/form.xlsx", headers=svc.person(f.LEADER))
    ws = load_workbook(io.BytesIO(r.content)).active
    assert ws["A5"].value == "序号" and any(c.value == sealed["content_hash"] for row in ws.iter_rows() for c in row)
    r = await svc.client.get(f"/problem-summaries/{x['id']}/form.xlsx", headers=svc.person(f.LEADER))
    ws = load_workbook(io.BytesIO(r.content)).active
    assert any("20个工作日" in str(c.value) for row in ws.iter_rows() for c in row)
    assert (await svc.client.get(f"/records/{rec['id']}/form.pdf", headers=svc.admin("city_admin", "140200"))).status_code == 404
    # the team report: one inspected with a finding, two not yet done; only the leader submits, and not while records are pending
    rep = (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.person(f.OFFICER1))).json()
    assert rep["counts"] == {"tasks": 3, "inspected": 1, "not_inspected": 0, "pending": 2, "findings": 1, "summaries_handed_over": 0, "problems_handed_over": 0}
    assert rep["findings_by_item"] == [{"code": "7", "item_name": "质量违法行为", "text": rep["findings_by_item"][0]["text"], "count": 1}]
    assert rep["findings_by_product"] == [{"category": "wire_cable", "name": "电线电缆", "count": 1}]
    assert (await svc.client.post(f"/teams/{f.TEAM}/report", headers=svc.person(f.OFFICER1), json={})).status_code == 403
    assert (await svc.client.post(f"/teams/{f.TEAM}/report", headers=svc.person(f.LEADER), json={})).status_code == 409
    assert (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.admin("city_admin", "140200"))).status_code == 404
    r = await svc.client.get(f"/teams/{f.TEAM}/report.xlsx", headers=svc.admin())
    assert r.status_code == 200 and load_workbook(io.BytesIO(r.content)).sheetnames == ["汇总", "已检查企业", "未实施检查", "问题分布"]


async def test_team_report_submitted_by_the_leader_flags_overdue(svc):
    import datetime as dt

    from .test_records import outbox, upload

    for task in ("t-wire", "t-cement"):
        rec = (await arrive(svc, task=task)).json()
        await fill_all(svc, rec["id"], bad={"9": ("细则要求的型式检验报告过期", False)} if task == "t-wire" else None)
        await sign_all(svc, rec["id"])
        assert (await seal(svc, rec["id"])).status_code == 200
    rec = (await arrive(svc, task="t-food", status="stopped")).json()
    await upload(svc, rec["id"], f.JPEG, "停产.jpg", purpose="not_inspected")
    rec = (await svc.client.get(f"/records/{rec['id']}", headers=svc.person(f.LEADER))).json()
    r = await svc.client.post(f"/records/{rec['id']}/not-inspected", headers={**svc.person(f.LEADER), "If-Match": f'"v{rec["version"]}"'},
                              json={"reason": "changed_production", "detail": "企业已转产日用塑料制品"})
    assert r.status_code == 200, r.text
    svc.app.state.ctx.extras["today"] = lambda: dt.date(2022, 11, 21)  # a day after the report date
    try:
        r = await svc.client.post(f"/teams/{f.TEAM}/report", headers=svc.person(f.LEADER), json={"note": "按期完成"})
    finally:
        svc.app.state.ctx.extras.pop("today")
    assert r.status_code == 201, r.text
    rep = r.json()
    assert rep["overdue"] is True and rep["counts"]["inspected"] == 2 and rep["counts"]["not_inspected"] == 1
    assert rep["not_inspected_by_reason"] == {"changed_production": 1}
    assert rep["findings_by_item"][0]["code"] == "9"
    ev = (await outbox(svc, "team_report.submitted"))[-1]["data"]
    assert ev["team_id"] == f.TEAM and ev["overdue"] is True and ev["counts"]["tasks"] == 3
    assert (await svc.client.post(f"/teams/{f.TEAM}/report", headers=svc.person(f.LEADER), json={})).status_code == 409
    assert (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.enterprise(f.USCC_WIRE))).status_code == 403


async def test_only_upload_paths_take_large_or_non_json_bodies(svc):
    rec = (await arrive(svc)).json()
    h = {**svc.person(f.LEADER), "If-Match": '"v1"'}
    r = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**h, "Content-Type": "application/octet-stream"}, content=b"{}")
    assert r.status_code == 415
    r = await svc.client.put(f"/records/{rec['id']}/items/1.1", headers={**h, "Content-Type": "application/json"},
                             content=b'{"conclusion": "conforming", "text": "' + b"x" * 2_100_000 + b'"}')
    assert r.status_code == 413


async def test_a_bureau_sees_only_its_own_region_of_a_team_report(svc):
    """A team spans counties: a county bureau that may see the team reads only the tasks, records and
    hand-overs in its county (an audit read another county's enterprises, not-inspected details and
    coming visits); the team's members and the province read all of it."""
    assert await svc.feed(f.dispatched("t-yingze", "91140106MA0TEAM0XX", ["cement"], county="140106"))
    full = (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.person(f.OFFICER1))).json()
    assert full["region"] is None and {x["uscc"] for x in full["pending"]} >= {"91140106MA0TEAM0XX", f.USCC_FOOD}
    assert (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.admin())).json()["counts"]["tasks"] == full["counts"]["tasks"] == 4
    yingze = (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.admin("county_admin", "140106"))).json()
    assert yingze["region"] == "140106" and [x["uscc"] for x in yingze["pending"]] == ["91140106MA0TEAM0XX"]
    assert yingze["counts"]["tasks"] == 1 and not yingze["inspected"] and not yingze["not_inspected"] and not yingze["handed_over"]
    xiaodian = (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.admin("county_admin", "140105"))).json()
    assert xiaodian["counts"]["tasks"] == 3 and "91140106MA0TEAM0XX" not in {x["uscc"] for x in xiaodian["pending"]}
    city = (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.admin("city_admin", "140100"))).json()
    assert city["region"] == "1401" and city["counts"]["tasks"] == 4
    r = await svc.client.get(f"/teams/{f.TEAM}/report.xlsx", headers=svc.admin("county_admin", "140106"))
    rows = [c.value for row in load_workbook(io.BytesIO(r.content))["已检查企业"].iter_rows() for c in row] if r.status_code == 200 else None
    assert r.status_code == 200 and f.USCC_FOOD not in str(rows)
    assert (await svc.client.get(f"/teams/{f.TEAM}/report", headers=svc.admin("county_admin", "140107"))).status_code == 404
