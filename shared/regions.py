"""Administrative divisions of Shanxi (GB/T 2260): the province, its 11 cities and 117
county-level units, kept as data (``shared/data/regions.json``, also read by the web app) and loaded
once; and the name of the market-regulation bureau of a city or county (``bureau``). Reference data
every service may read, like the vocabulary; the registry serves it at ``/regions``."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

PROVINCE_CODE = "140000"
PROVINCE_NAME = "山西省"
_DATA = Path(__file__).parent / "data" / "regions.json"


@lru_cache(maxsize=1)
def tree() -> dict:
    """``{"code", "name", "level", "children": [city {"code","name","level","children":[county...]}]}``."""
    return json.loads(_DATA.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _index() -> dict[str, dict]:
    root = tree()
    out = {root["code"]: {"code": root["code"], "name": root["name"], "level": "province", "city_code": None}}
    for city in root["children"]:
        out[city["code"]] = {"code": city["code"], "name": city["name"], "level": "city", "city_code": city["code"]}
        for county in city["children"]:
            out[county["code"]] = {"code": county["code"], "name": county["name"], "level": "county", "city_code": city["code"]}
    return out


def get(code: str) -> dict | None:
    return _index().get(code)


def is_county(code: str | None) -> bool:
    r = _index().get(code or "")
    return bool(r) and r["level"] == "county"


def is_known(code: str | None) -> bool:
    return (code or "") in _index()


def city_of(code: str) -> str | None:
    r = _index().get(code)
    return r["city_code"] if r else None


def cities() -> list[dict]:
    return [{"code": c["code"], "name": c["name"]} for c in tree()["children"]]


def counties(city_code: str | None = None) -> list[dict]:
    return [
        {"code": k["code"], "name": k["name"], "city_code": c["code"]}
        for c in tree()["children"]
        if city_code is None or c["code"] == city_code
        for k in c["children"]
    ]


def bureau(city_code: str, county_code: str | None = None) -> dict:
    """The 市场监督管理局 of a county (``太原市小店区市场监督管理局``; a county-level city by its own name,
    ``古交市市场监督管理局``) or of a city (``太原市市场监督管理局``): ``{"region_code", "name"}``.
    A code not in the list keeps its digits in the name rather than guessing one."""
    city = get(city_code)
    city_label = city["name"] if city else f"{city_code} 市"
    if county_code:
        county = get(county_code)
        if county is None:
            return {"region_code": county_code, "name": f"{city_label}{county_code} 县（区）市场监督管理局"}
        label = county["name"] if county["name"].endswith("市") else f"{city_label}{county['name']}"
        return {"region_code": county_code, "name": f"{label}市场监督管理局"}
    return {"region_code": city_code, "name": f"{city_label}市场监督管理局"}
