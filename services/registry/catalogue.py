"""The versioned product catalogue of industrial products under production-licence management
(工业产品生产许可证管理目录). 2022: 10 categories; 2024 (State Council decision): 14.

The codes are the shared contract every service uses. The 2024 additions are recorded with
``source_needs_confirmation`` because the bureau has not yet confirmed the exact wording."""
from __future__ import annotations

from shared.vocabulary import CATEGORIES_2022 as _BASE_2022
from shared.vocabulary import CATEGORIES_ADDED_2024 as _ADDED_2024


def _item(row, needs_confirmation=False) -> dict:
    code, name, food, hazardous = row
    return {"code": code, "name": name, "food_related": food, "hazardous": hazardous, "source_needs_confirmation": needs_confirmation}


CATALOGUES: dict[str, dict] = {
    "2022": {
        "version": "2022",
        "title": "工业产品生产许可证管理目录（2022年）",
        "source": "山西省市场监督管理局 2022年度工业产品生产许可证获证企业“双随机、一公开”监督检查通知",
        "categories": [_item(r) for r in _BASE_2022],
    },
    "2024": {
        "version": "2024",
        "title": "工业产品生产许可证管理目录（2024年）",
        "source": "国务院2024年关于调整工业产品生产许可证管理目录的决定（新增4类，待确认）",
        "categories": [_item(r) for r in _BASE_2022] + [_item(r, True) for r in _ADDED_2024],
    },
}
LATEST = "2024"
ALL_CODES: dict[str, dict] = {c["code"]: c for cat in CATALOGUES.values() for c in cat["categories"]}
_BY_NAME = {c["name"]: c["code"] for c in ALL_CODES.values()}


def get(version: str) -> dict | None:
    return CATALOGUES.get(version)


def codes(version: str) -> list[str]:
    return [c["code"] for c in CATALOGUES[version]["categories"]]


def is_code(code: str | None) -> bool:
    return (code or "") in ALL_CODES


def resolve(value: str) -> str | None:
    """A category given as a code or as its Chinese name (as city bureaus write it) -> code."""
    value = (value or "").strip()
    if value in ALL_CODES:
        return value
    return _BY_NAME.get(value)


def name_of(code: str) -> str:
    return ALL_CODES[code]["name"]
