"""The administrative divisions every service reads (shared/regions.py, shared/data/regions.json)
and the name of a region's market-regulation bureau, as published with every result."""
from __future__ import annotations

from shared import regions


def test_the_list_has_the_province_11_cities_and_117_county_level_units():
    assert len(regions.cities()) == 11 and len(regions.counties()) == 117
    assert regions.get("140105") == {"code": "140105", "name": "小店区", "level": "county", "city_code": "140100"}
    assert regions.is_county("140105") and not regions.is_county("140100") and not regions.is_known("149901")


def test_a_bureau_is_named_as_the_bureaus_name_themselves():
    assert regions.bureau("140100", "140105") == {"region_code": "140105", "name": "太原市小店区市场监督管理局"}
    assert regions.bureau("140100", "140181")["name"] == "古交市市场监督管理局"  # a county-level city by its own name
    assert regions.bureau("141100", "141130")["name"] == "吕梁市交口县市场监督管理局"
    assert regions.bureau("140100") == {"region_code": "140100", "name": "太原市市场监督管理局"}
    # never a made-up name for a code the list does not hold
    assert regions.bureau("149900", "149901")["name"] == "149900 市149901 县（区）市场监督管理局"
    for county in regions.counties():
        name = regions.bureau(county["city_code"], county["code"])["name"]
        assert county["name"] in name and name.endswith("市场监督管理局") and not any(ch.isdigit() for ch in name)
