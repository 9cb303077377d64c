"""Administrative divisions of Shanxi (GB/T 2260): the province, its 11 cities and 117
county-level units, kept as data (``data/regions.json``) and loaded once."""
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
