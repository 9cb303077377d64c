"""The versioned product catalogue of industrial products under production-licence management
(工业产品生产许可证管理目录). 2022: 10 categories; 2024 (State Council decision): 14.

The codes are the shared contract every service uses. The 2024 additions are recorded with
``source_needs_confirmation`` because the bureau has not yet confirmed the exact wording."""
from __future__ import annotations

_BASE_2022 = [
    # code, name, food_related, hazardous
    ("rebar", "建筑用钢筋", False, False),
    ("cement", "水泥", False, False),
    ("broadcast_transmission", "广播电视传输设备", False, False),
    ("rmb_discriminator", "人民币鉴别仪", False, False),
    ("prestressed_railway_beam", "预应力混凝土铁路桥简支梁", False, False),
    ("wire_cable", "电线电缆", False, False),
    ("hazardous_chemicals", "危险化学品", False, True),
    ("hazardous_chemical_packaging", "危险化学品包装物及容器", False, True),
    ("fertilizer", "化肥", False, False),
    ("food_related", "食品相关产品", True, False),
]
_ADDED_2024 = [
    ("ebike", "电动自行车", False, False),
    ("ebike_lithium_battery", "电动自行车用锂离子蓄电池", False, False),
    ("ebike_charger", "电动自行车用充电器", False, False),
    ("household_gas_cooker", "家用燃气灶具", False, False),
]


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
