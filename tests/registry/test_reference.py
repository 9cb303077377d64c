"""Regions and the versioned product catalogue."""
from __future__ import annotations


async def test_regions_tree_has_11_cities_and_117_counties(registry):
    r = await registry.client.get("/regions")
    assert r.status_code == 200
    tree = r.json()
    assert tree["code"] == "140000" and tree["name"] == "山西省"
    assert [c["code"] for c in tree["children"]] == [f"14{n:02d}00" for n in range(1, 12)]
    counties = [k for c in tree["children"] for k in c["children"]]
    assert len(counties) == 117
    assert len({k["code"] for k in counties}) == 117
    assert all(k["code"][:4] == c["code"][:4] for c in tree["children"] for k in c["children"])
    assert {"code": "140105", "name": "小店区", "level": "county"} in tree["children"][0]["children"]


async def test_catalogues_2022_has_10_and_2024_has_14(registry):
    r = await registry.client.get("/catalogues")
    assert {i["version"]: i["count"] for i in r.json()["items"]} == {"2022": 10, "2024": 14}
    c22 = (await registry.client.get("/catalogues/2022")).json()["categories"]
    c24 = (await registry.client.get("/catalogues/2024")).json()["categories"]
    assert [c["code"] for c in c24[:10]] == [c["code"] for c in c22]
    hazardous = {c["code"] for c in c22 if c["hazardous"]}
    assert hazardous == {"hazardous_chemicals", "hazardous_chemical_packaging"}
    assert [c["code"] for c in c22 if c["food_related"]] == ["food_related"]
    added = [c for c in c24 if c["code"] not in {x["code"] for x in c22}]
    assert {c["name"] for c in added} == {"瓶装液化石油气调压器", "钢丝绳", "人造板", "安全帽"}
    # c22's ten categories are kept as they were (codes, names, flags)
    assert [(c["code"], c["name"], c["hazardous"]) for c in c24[:10]] == [(c["code"], c["name"], c["hazardous"]) for c in c22]
    cat24 = (await registry.client.get("/catalogues/2024")).json()
    assert cat24["declared_categories"] == 14 and cat24["declared_varieties"] == 27
    assert "国发〔2024〕11号" in cat24["source"] and "2024年9月25日" in cat24["source"]
    by = {c["name"]: c for c in c24}
    # 冷轧带肋钢筋 is a variety of 建筑用钢筋 (not a category); 胶合板 and 细木工板 are varieties of 人造板
    assert [v["name"] for v in by["建筑用钢筋"]["varieties"]] == ["钢筋混凝土用热轧钢筋", "冷轧带肋钢筋"]
    assert "冷轧带肋钢筋" not in by and [v["name"] for v in by["人造板"]["varieties"]] == ["胶合板", "细木工板"]
    added_varieties = {v["name"] for c in c24 for v in c["varieties"] if v["added"] == "2024"}
    assert added_varieties == {"冷轧带肋钢筋", "瓶装液化石油气调压器", "钢丝绳", "胶合板", "细木工板", "安全帽"}
    assert not any(v["added"] == "2024" for c in c22 for v in c["varieties"])
    assert by["化肥"]["approval_procedure"] == "先核后证"
    assert {c["code"]: c for c in c22}["fertilizer"]["approval_procedure"] == "告知承诺"
    assert not ({"电动自行车", "家用燃气灶具"} & set(by))
    r = await registry.client.get("/catalogues/2019")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
