"""Population endpoints (the contract with sampling) over the demo registry, and the demo
generator itself: determinism, counts, idempotent loading."""
from __future__ import annotations

from collections import Counter

import pytest

from services.registry import catalogue, demo
from shared import regions
from services.registry.models import Enterprise, kernel
from shared.audit import verify
from shared.auth import region_prefix


@pytest.fixture(scope="module")
async def loaded(registry):
    result = await demo.load_demo(registry.ctx.db, events_prefix=registry.ctx.settings.events_prefix)
    assert result["loaded"] is True
    return registry


async def _all(reg, path, headers, **params):
    items, cursor, pages = [], None, 0
    while True:
        r = await reg.client.get(path, params={**params, **({"cursor": cursor} if cursor else {})}, headers=headers)
        assert r.status_code == 200, r.text
        doc = r.json()
        items += doc["items"]
        pages += 1
        cursor = doc["next_cursor"]
        if not cursor:
            return items, pages


# ---------------------------------------------------------------- generator
def test_demo_generator_is_deterministic_and_covers_every_city_and_category():
    rows, again = demo.enterprise_rows(), demo.enterprise_rows()
    assert rows == again
    assert demo.people_rows() == demo.people_rows()
    usccs = {r["统一社会信用代码"] for r in rows}
    assert len(usccs) == demo.N_ENTERPRISES
    from stdnum.cn import uscc
    assert all(uscc.is_valid(u) for u in usccs)
    cities = Counter(regions.city_of(r["所在地区代码"]) for r in {r["统一社会信用代码"]: r for r in rows}.values())
    assert set(cities) == {c["code"] for c in regions.cities()}
    assert cities["140100"] > cities["140300"] and cities["140800"] > cities["140600"]
    cats = {catalogue.resolve(r["产品类别"]) for r in rows}
    assert cats == set(catalogue.codes("2022"))
    per_enterprise = {r["统一社会信用代码"]: r for r in rows}.values()
    national = sum(1 for r in per_enterprise if r["国抽不合格日期"])
    provincial = sum(1 for r in per_enterprise if r["省抽不合格日期"])
    assert 0.02 * 800 <= national <= 0.09 * 800 and 0.01 * 800 <= provincial <= 0.06 * 800
    statuses = Counter(r["许可证状态"] for r in rows)
    assert statuses["有效"] > 700 and statuses["暂停"] > 0 and statuses["注销"] > 0
    people = demo.people_rows()
    assert 280 <= len(people) <= 320
    cadres = [p for p in people if p["层级"] == "省级" and p["是否处级干部"] == "是" and p["业务条线"] == "产品质量安全监管" and p["人员类别"] == "执法人员"]
    assert len(cadres) >= 12 and people[0]["编号"] == "insp-0001" and people[0] in cadres


def test_generate_csv_writes_n_rows(tmp_path):
    path = demo.generate_csv(tmp_path / "e.csv", 250)
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    assert len(lines) == 251 and lines[0].startswith("企业名称,统一社会信用代码")


async def test_load_demo_is_idempotent_and_audited(loaded):
    reg = loaded
    n = await reg.count(Enterprise)
    outbox = await reg.count(kernel.outbox)
    assert n == demo.N_ENTERPRISES
    assert (await demo.load_demo(reg.ctx.db, events_prefix=reg.ctx.settings.events_prefix)) == {"loaded": False}
    assert await reg.count(Enterprise) == n and await reg.count(kernel.outbox) == outbox
    async with reg.ctx.db.session() as s:
        report = await verify(s, kernel)
    assert report.ok and report.entries >= 3  # two imports + the conflicts


# ---------------------------------------------------------------- population of enterprises
async def test_population_order_stability_and_contract(loaded):
    reg, h = loaded, loaded.h()
    paged, pages = await _all(reg, "/population/enterprises", h, catalogue="2022", limit=97)
    assert pages > 5
    one = (await reg.client.get("/population/enterprises", params={"catalogue": "2022", "limit": 5000}, headers=h)).json()
    assert one["catalogue"] == "2022" and one["next_cursor"] is None and one["limit"] == 5000
    assert one["items"] == paged  # the same population whatever the page size
    usccs = [i["uscc"] for i in paged]
    assert usccs == sorted(usccs) and len(set(usccs)) == len(usccs)
    assert 700 < len(usccs) < 800  # enterprises with no 有效 licence are not in the population
    item = paged[0]
    assert set(item) == {"uscc", "name", "region_code", "city_code", "production_status", "categories", "licences", "flags", "sites"}
    for it in paged:
        assert it["categories"] == sorted({x["category"] for x in it["licences"]}) and it["categories"]
        assert all(x["status"] == "有效" for x in it["licences"])
        assert [s["id"] for s in it["sites"]] == sorted(s["id"] for s in it["sites"]) and it["sites"]
        assert set(it["flags"]) == {"national_fail_5y", "provincial_fail_2021"}
        assert it["city_code"] == it["region_code"][:4] + "00"
    assert any(it["flags"]["national_fail_5y"] for it in paged) and any(it["flags"]["provincial_fail_2021"] for it in paged)


async def test_population_filters_and_scope(loaded):
    reg = loaded
    prov = reg.h()
    yc, _ = await _all(reg, "/population/enterprises", prov, catalogue="2022", region="140800", limit=1000)
    assert yc and all(i["region_code"].startswith("1408") for i in yc)
    county, _ = await _all(reg, "/population/enterprises", prov, region=yc[0]["region_code"], limit=1000)
    assert county and all(i["region_code"] == yc[0]["region_code"] for i in county)
    suspended, _ = await _all(reg, "/population/enterprises", prov, licence_status="暂停", limit=1000)
    assert suspended and all(x["status"] == "暂停" for i in suspended for x in i["licences"])
    city = reg.h(roles=("city_admin",), region="140800")
    mine, _ = await _all(reg, "/population/enterprises", city, limit=1000)
    assert [i["uscc"] for i in mine] == [i["uscc"] for i in yc]
    r = await reg.client.get("/population/enterprises", params={"region": "140100"}, headers=city)
    assert r.status_code == 403 and r.json()["errors"][0]["field"] == "region"
    r = await reg.client.get("/population/enterprises", params={"catalogue": "2030"}, headers=prov)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "catalogue"
    r = await reg.client.get("/population/enterprises", params={"limit": 5001}, headers=prov)
    assert r.status_code == 422
    r = await reg.client.get("/population/enterprises", headers=reg.h(roles=("inspector",)))
    assert r.status_code == 403
    r = await reg.client.get("/population/enterprises", params={"cursor": "not-a-cursor"}, headers=prov)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "cursor"


# ---------------------------------------------------------------- population of people
async def test_population_people(loaded):
    reg, h = loaded, loaded.h()
    inspectors, _ = await _all(reg, "/population/people", h, kind="inspector", limit=50)
    ids = [p["id"] for p in inspectors]
    assert ids == sorted(ids) and all(p["active"] and p["kind"] == "inspector" for p in inspectors)
    first = inspectors[0]
    assert first["id"] == "insp-0001" and first["level"] == "province" and first["region_code"] == "140000"
    assert first["division_cadre"] is True and first["business_line"] == "产品质量安全监管" and first["certificate_no"]
    leaders = [p for p in inspectors if p["level"] == "province" and p["division_cadre"] and p["business_line"] == "产品质量安全监管"]
    assert len(leaders) >= 12
    assert {p["level"] for p in inspectors if p["certificate_no"]} == {"province", "city", "county"}
    experts, _ = await _all(reg, "/population/people", h, kind="expert", limit=1000)
    assert experts[0]["id"] == "exp-0001" and experts[0]["organisation"] == "山西省检验检测中心"
    per_cat = Counter(c for p in experts for c in p["specialties"])
    assert all(per_cat[c] >= 3 for c in catalogue.codes("2022"))
    assert sum(len(p["conflicts"]) for p in inspectors + experts) > 0
    assert all(set(c) == {"uscc", "reason"} for p in inspectors + experts for c in p["conflicts"])
    inactive, _ = await _all(reg, "/population/people", h, kind="inspector", active="false", limit=1000)
    assert inactive and not any(p["active"] for p in inactive)
    city, _ = await _all(reg, "/population/people", reg.h(roles=("city_admin",), region="140800"), kind="inspector", limit=1000)
    assert city and all(p["region_code"].startswith(region_prefix("140800")) for p in city)
