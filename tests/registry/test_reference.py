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
    assert {c["code"] for c in added} == {"ebike", "ebike_lithium_battery", "ebike_charger", "household_gas_cooker"}
    assert all(c["source_needs_confirmation"] for c in added)
    r = await registry.client.get("/catalogues/2019")
    assert r.status_code == 404 and r.headers["content-type"].startswith("application/problem+json")
