"""Enterprise, site and licence API: validation (nothing written), jurisdiction in the queries,
ETag/If-Match, Idempotency-Key, events and audit in the same transaction."""
from __future__ import annotations

import json

from sqlalchemy import select, text

from services.registry.models import Enterprise, Licence, LicenceStatusChange, kernel
from tests.registry.conftest import bad_check_digit, enterprise_body, licence_number

PROBLEM = "application/problem+json"


def _fields(r) -> set[str]:
    assert r.headers["content-type"].startswith(PROBLEM), r.text
    return {e["field"] for e in r.json().get("errors", [])}


async def _refused(registry, body: dict, field: str, status: int = 422):
    before = (await registry.count(Enterprise), await registry.count(Licence), await registry.count(kernel.outbox), await registry.count(kernel.audit))
    r = await registry.client.post("/enterprises", json=body, headers=registry.h())
    assert r.status_code == status, r.text
    assert field in _fields(r), r.json()
    after = (await registry.count(Enterprise), await registry.count(Licence), await registry.count(kernel.outbox), await registry.count(kernel.audit))
    assert after == before
    return r.json()


async def test_create_get_and_events_audit(registry):
    body = enterprise_body("140802", name="运城盐湖化工有限公司", licences=[
        {"number": "（晋）XK13-014-90001", "category": "危险化学品", "issue_date": "2020-02-29", "product_description": "工业用甲醇"},
    ], sites=[{"address": "盐湖区一厂", "region_code": "140802"}, {"address": "临猗县二厂", "region_code": "140821"}])
    created = await registry.create(body)
    assert created["city_code"] == "140800" and created["region_name"] == "盐湖区"
    lic = created["licences"][0]
    assert lic["number"] == "(晋)XK13-014-90001"  # full-width parentheses normalised
    assert lic["category"] == "hazardous_chemicals"
    assert lic["expiry_date"] == "2025-02-28"  # issue + 5 years - 1 day
    assert sorted(s["region_code"] for s in created["sites"]) == ["140802", "140821"]

    r = await registry.client.get(f"/enterprises/{body['uscc']}", headers=registry.h())
    assert r.status_code == 200 and r.headers["etag"] == '"v1"'
    assert r.json()["licences"][0]["status"] == "有效"

    async with registry.ctx.db.session() as s:
        subjects = [row.subject for row in (await s.execute(select(kernel.outbox.c.subject, kernel.outbox.c.payload))).all()
                    if body["uscc"] in row.payload]
        audit = (await s.execute(select(kernel.audit.c.action).where(kernel.audit.c.entity_id.in_([body["uscc"], lic["id"]])))).scalars().all()
    assert any(x.endswith(".registry.enterprise.registered") for x in subjects)
    assert any(x.endswith(".registry.licence.issued") for x in subjects)
    assert set(audit) == {"enterprise.register", "licence.issue"}


async def test_bad_uscc_check_digit_names_uscc_and_writes_nothing(registry):
    body = enterprise_body()
    body["uscc"] = bad_check_digit(body["uscc"])
    doc = await _refused(registry, body, "uscc")
    assert "校验位" in doc["detail"]


async def test_malformed_licence_number_names_the_field(registry):
    body = enterprise_body(licences=[{"number": "晋XK05-001-0001", "category": "rebar", "issue_date": "2021-01-01"}])
    await _refused(registry, body, "licences.0.number")


async def test_expiry_before_issue_is_refused(registry):
    body = enterprise_body(licences=[{"number": licence_number(), "category": "rebar", "issue_date": "2021-01-01", "expiry_date": "2020-12-31"}])
    doc = await _refused(registry, body, "licences.0.expiry_date")
    assert "有效期至必须晚于发证日期" in json.dumps(doc, ensure_ascii=False)


async def test_licence_dates_are_iso_text_not_numbers(registry):
    """A number in a date field was read as a Unix timestamp (0 → 1970-01-01); dates are YYYY-MM-DD."""
    for bad in (0, "0", 1700000000, "2021-01-01T00:00:00"):
        body = enterprise_body(licences=[{"number": licence_number(), "category": "rebar", "issue_date": bad}])
        doc = await _refused(registry, body, "licences.0.issue_date")
        assert "YYYY-MM-DD" in json.dumps(doc, ensure_ascii=False)


async def test_unknown_region_category_and_fields_are_refused(registry):
    await _refused(registry, enterprise_body(region_code="149999"), "region_code")
    await _refused(registry, enterprise_body(region_code="140100"), "region_code")  # a city is not a county-level unit
    await _refused(registry, enterprise_body(licences=[{"number": licence_number(), "category": "toys", "issue_date": "2021-01-01"}]), "licences.0.category")
    doc = await _refused(registry, {**enterprise_body(), "credit_rating": "A"}, "credit_rating")
    assert doc["errors"][0]["message"] == "不允许的字段"


async def test_wrong_content_type_415_and_oversized_413(registry):
    before = await registry.count(Enterprise)
    r = await registry.client.post("/enterprises", content=json.dumps(enterprise_body()), headers={**registry.h(), "Content-Type": "text/plain"})
    assert r.status_code == 415 and "Content-Type" in _fields(r)
    huge = enterprise_body(name="山" * 10, address="x" * 2_100_000)
    r = await registry.client.post("/enterprises", json=huge, headers=registry.h())
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)
    assert await registry.count(Enterprise) == before


async def test_duplicate_uscc_and_licence_number_conflict(registry):
    body = await registry.create(enterprise_body())
    r = await registry.client.post("/enterprises", json=enterprise_body(uscc=body["uscc"]), headers=registry.h())
    assert r.status_code == 409 and "uscc" in _fields(r)
    other = enterprise_body(licences=[{"number": body["licences"][0]["number"], "category": "rebar", "issue_date": "2021-01-01"}])
    before = await registry.count(Enterprise)
    r = await registry.client.post("/enterprises", json=other, headers=registry.h())
    assert r.status_code == 409 and "number" in _fields(r)
    assert await registry.count(Enterprise) == before  # the enterprise row rolled back with the licence


async def test_if_match_required_and_checked(registry):
    e = await registry.create(enterprise_body())
    path = f"/enterprises/{e['uscc']}"
    r = await registry.client.patch(path, json={"production_status": "停产"}, headers=registry.h())
    assert r.status_code == 428 and "If-Match" in _fields(r)
    r = await registry.client.patch(path, json={"production_status": "停产"}, headers={**registry.h(), "If-Match": '"v1"'})
    assert r.status_code == 200 and r.headers["etag"] == '"v2"' and r.json()["production_status"] == "停产"
    r = await registry.client.patch(path, json={"production_status": "在产"}, headers={**registry.h(), "If-Match": '"v1"'})
    assert r.status_code == 412
    assert (await registry.client.get(path, headers=registry.h())).json()["production_status"] == "停产"
    r = await registry.client.patch(path, json={"production_status": "歇业"}, headers={**registry.h(), "If-Match": '"v2"'})
    assert r.status_code == 422 and "production_status" in _fields(r)


async def test_flags_and_licence_status_history(registry):
    e = await registry.create(enterprise_body("140105"))
    uscc, lic = e["uscc"], e["licences"][0]
    r = await registry.client.put(f"/enterprises/{uscc}/flags", headers={**registry.h(), "If-Match": '"v1"'}, json={
        "national_fail_5y": {"source": "国家市场监督管理总局2021年第2批国抽通报", "date": "2021-08-01"}, "provincial_fail_2021": None})
    assert r.status_code == 200, r.text
    assert r.json()["flags"] == {"national_fail_5y": True, "provincial_fail_2021": False}
    lpath = f"/licences/{lic['id']}"
    r = await registry.client.post(f"{lpath}/status", json={"status": "暂停", "reason": "监督检查发现不符合项"}, headers=registry.h())
    assert r.status_code == 428
    r = await registry.client.post(f"{lpath}/status", json={"status": "暂停", "reason": "监督检查发现不符合项"}, headers={**registry.h(), "If-Match": '"v1"'})
    assert r.status_code == 200 and r.json()["status"] == "暂停"
    r = await registry.client.post(f"{lpath}/status", json={"status": "撤销", "reason": "逾期未整改"}, headers={**registry.h(), "If-Match": '"v2"'})
    assert r.status_code == 200
    r = await registry.client.post(f"{lpath}/status", json={"status": "有效", "reason": "误操作"}, headers={**registry.h(), "If-Match": '"v3"'})
    assert r.status_code == 409 and "status" in _fields(r)  # 撤销 is final
    hist = (await registry.client.get(f"{lpath}/history", headers=registry.h())).json()["items"]
    assert [(h["from"], h["to"]) for h in hist] == [(None, "有效"), ("有效", "暂停"), ("暂停", "撤销")]
    assert hist[1]["actor"] == "province_admin-140000" and hist[2]["reason"] == "逾期未整改"
    async with registry.ctx.db.session() as s:
        n = len((await s.execute(select(kernel.outbox.c.id).where(kernel.outbox.c.subject.like("%.licence.status_changed"), kernel.outbox.c.payload.contains(lic["id"])))).all())
        hist_rows = len((await s.execute(select(LicenceStatusChange).where(LicenceStatusChange.licence_id == lic["id"]))).all())
    assert n == 2 and hist_rows == 3


async def test_idempotency_key_replays_and_refuses_other_body(registry):
    body = enterprise_body()
    h = {**registry.h(), "Idempotency-Key": "create-" + body["uscc"]}
    r1 = await registry.client.post("/enterprises", json=body, headers=h)
    r2 = await registry.client.post("/enterprises", json=body, headers=h)
    assert r1.status_code == r2.status_code == 201
    assert r1.json() == r2.json() and r2.headers.get("idempotent-replayed") == "true"
    async with registry.ctx.db.session() as s:
        n = len((await s.execute(select(Enterprise.uscc).where(Enterprise.uscc == body["uscc"]))).all())
        events = len((await s.execute(select(kernel.outbox.c.id).where(kernel.outbox.c.subject.like("%.enterprise.registered"), kernel.outbox.c.payload.contains(body["uscc"])))).all())
    assert n == 1 and events == 1
    r3 = await registry.client.post("/enterprises", json={**body, "name": "另一家公司"}, headers=h)
    assert r3.status_code == 422 and r3.json()["type"].endswith("idempotency-key-reused")


async def test_city_admin_cannot_see_or_change_another_city(registry):
    taiyuan = await registry.create(enterprise_body("140105", name="太原本地钢铁有限公司"))
    yuncheng = await registry.create(enterprise_body("140802", name="运城外地水泥有限公司"))
    ty_admin = registry.h(roles=("city_admin",), region="140100")
    # read: single resources 404, lists filtered in SQL
    assert (await registry.client.get(f"/enterprises/{yuncheng['uscc']}", headers=ty_admin)).status_code == 404
    assert (await registry.client.get(f"/enterprises/{taiyuan['uscc']}", headers=ty_admin)).status_code == 200
    assert (await registry.client.get(f"/licences/{yuncheng['licences'][0]['id']}", headers=ty_admin)).status_code == 404
    assert (await registry.client.get(f"/sites/{yuncheng['sites'][0]['id']}", headers=ty_admin)).status_code == 404
    seen, cursor = [], None
    while True:
        page = (await registry.client.get("/enterprises", params={"limit": 3, **({"cursor": cursor} if cursor else {})}, headers=ty_admin)).json()
        seen += [i["uscc"] for i in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert taiyuan["uscc"] in seen and yuncheng["uscc"] not in seen
    assert all(u[2:6] == "1401" for u in seen)
    # change: 404 for out-of-scope, 403 for moving or creating outside the region
    r = await registry.client.patch(f"/enterprises/{yuncheng['uscc']}", json={"name": "改名"}, headers={**ty_admin, "If-Match": '"v1"'})
    assert r.status_code == 404
    r = await registry.client.post(f"/licences/{yuncheng['licences'][0]['id']}/status", json={"status": "暂停", "reason": "x"}, headers={**ty_admin, "If-Match": '"v1"'})
    assert r.status_code == 404
    r = await registry.client.post("/enterprises", json=enterprise_body("140802"), headers=ty_admin)
    assert r.status_code == 403 and "region_code" in _fields(r)
    r = await registry.client.patch(f"/enterprises/{taiyuan['uscc']}", json={"region_code": "140802"}, headers={**ty_admin, "If-Match": '"v1"'})
    assert r.status_code == 403
    r = await registry.client.get(f"/enterprises/{yuncheng['uscc']}", headers=registry.h())
    assert r.json()["name"] == "运城外地水泥有限公司" and r.headers["etag"] == '"v1"'
    # a county admin inside the city can write; an inspector can read only
    r = await registry.client.patch(f"/enterprises/{taiyuan['uscc']}", json={"contact_phone": "0351-7654321"},
                                    headers={**registry.h(roles=("county_admin",), region="140105"), "If-Match": '"v1"'})
    assert r.status_code == 200
    r = await registry.client.patch(f"/enterprises/{taiyuan['uscc']}", json={"contact_phone": "0351-1"},
                                    headers={**registry.h(roles=("inspector",), region="140000"), "If-Match": '"v2"'})
    assert r.status_code == 403


async def test_enterprise_account_sees_only_itself(registry):
    mine = await registry.create(enterprise_body("140105"))
    other = await registry.create(enterprise_body("140105"))
    h = registry.h(roles=("enterprise",), region="140105", uscc=mine["uscc"])
    assert (await registry.client.get(f"/enterprises/{mine['uscc']}", headers=h)).status_code == 200
    assert (await registry.client.get(f"/enterprises/{other['uscc']}", headers=h)).status_code == 404
    items = (await registry.client.get("/enterprises", headers=h)).json()["items"]
    assert [i["uscc"] for i in items] == [mine["uscc"]]
    assert (await registry.client.get(f"/licences/{mine['licences'][0]['id']}", headers=h)).status_code == 200
    assert (await registry.client.get(f"/licences/{other['licences'][0]['id']}", headers=h)).status_code == 404
    assert (await registry.client.get("/inspectors", headers=h)).status_code == 403


async def test_list_filters_in_sql(registry):
    a = await registry.create(enterprise_body("141002", name="临汾筛选化肥有限公司", production_status="停产",
                                              licences=[{"number": licence_number("13"), "category": "fertilizer", "issue_date": "2021-01-01"}]))
    h = registry.h()
    async def usccs(**params):
        return [i["uscc"] for i in (await registry.client.get("/enterprises", params={"limit": 500, **params}, headers=h)).json()["items"]]
    assert a["uscc"] in await usccs(region="141000", category="fertilizer", production_status="停产")
    assert a["uscc"] not in await usccs(category="rebar")
    assert a["uscc"] in await usccs(q="临汾筛选")
    assert a["uscc"] in await usccs(q=a["uscc"][:10])
    assert a["uscc"] not in await usccs(flag="national_fail_5y")
    r = await registry.client.get("/enterprises", params={"category": "toys"}, headers=h)
    assert r.status_code == 422 and "category" in _fields(r)


async def test_audit_chain_verifies_and_detects_an_edited_entry(registry):
    await registry.create(enterprise_body())
    h = registry.h(roles=("discipline",))
    r = await registry.client.get("/audit/verify", headers=h)
    assert r.status_code == 200 and r.json()["ok"] is True and r.json()["entries"] > 0
    entries = (await registry.client.get("/audit", params={"limit": 500}, headers=h)).json()["items"]
    victim = entries[len(entries) // 2]["seq"]
    async with registry.ctx.db.transaction() as s:
        await s.execute(text("UPDATE audit_entry SET actor = 'someone-else' WHERE seq = :seq"), {"seq": victim})
    doc = (await registry.client.get("/audit/verify", headers=h)).json()
    assert doc["ok"] is False and doc["first_bad_seq"] == victim
    async with registry.ctx.db.transaction() as s:  # restore so later tests in this module see a valid chain
        original = next(e for e in entries if e["seq"] == victim)["actor"]
        await s.execute(text("UPDATE audit_entry SET actor = :a WHERE seq = :seq"), {"a": original, "seq": victim})
    assert (await registry.client.get("/audit/verify", headers=h)).json()["ok"] is True
