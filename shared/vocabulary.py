"""The vocabulary every service shares (the contract, not any service's data): product-catalogue
category codes and names, sampling flags, licence and production statuses, Shanxi city names,
and where a region code lies. The registry owns the catalogue as versioned data built from this."""
from __future__ import annotations

# code, name, food_related, hazardous — 2022 catalogue (the notice's 10 categories)
CATEGORIES_2022: list[tuple[str, str, bool, bool]] = [
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
# the 2024 State Council decision's additions (14 in all); wording to be confirmed by the bureau
CATEGORIES_ADDED_2024: list[tuple[str, str, bool, bool]] = [
    ("ebike", "电动自行车", False, False),
    ("ebike_lithium_battery", "电动自行车用锂离子蓄电池", False, False),
    ("ebike_charger", "电动自行车用充电器", False, False),
    ("household_gas_cooker", "家用燃气灶具", False, False),
]

CATALOGUE_2022: dict[str, str] = {code: name for code, name, _, _ in CATEGORIES_2022}
CATALOGUE_2024: dict[str, str] = {**CATALOGUE_2022, **{code: name for code, name, _, _ in CATEGORIES_ADDED_2024}}
CATALOGUES: dict[str, dict[str, str]] = {"2022": CATALOGUE_2022, "2024": CATALOGUE_2024}
CATEGORY_NAMES: dict[str, str] = dict(CATALOGUE_2024)

FLAGS: dict[str, str] = {
    "national_fail_5y": "近5年国家监督抽查不合格",
    "provincial_fail_2021": "2021年省级监督抽检不合格",
}
PRODUCTION_STATUSES = ("在产", "停产", "转产", "关停")
LICENCE_STATUSES = ("有效", "暂停", "撤销", "吊销", "注销")

# Team settings of a plan (notice 二（一）: teams of 5-6) — carried by draw.committed to scheduling.
TEAM_SETTING_DEFAULTS: dict[str, int | bool] = {
    "team_size_min": 5,
    "team_size_max": 6,
    "load_per_team": 12,
    "visits_per_day": 2,
    "avoid_own_county": True,
    "max_teams_per_person": 1,
    "max_teams_per_leader": 4,
    "max_teams_per_expert": 3,
    "acceptance_workdays": 3,
}

CITY_NAMES: dict[str, str] = {
    "140100": "太原", "140200": "大同", "140300": "阳泉", "140400": "长治", "140500": "晋城", "140600": "朔州",
    "140700": "晋中", "140800": "运城", "140900": "忻州", "141000": "临汾", "141100": "吕梁",
}


def city_of(region_code: str) -> str:
    """The city code (xxyy00) a region code lies in; the province code stays itself."""
    if not region_code or len(region_code) != 6:
        return region_code or ""
    if region_code.endswith("0000"):
        return region_code
    return region_code[:4] + "00"


def county_of(region_code: str) -> str | None:
    """The county-level code, or None for province/city-level codes."""
    if not region_code or len(region_code) != 6 or region_code.endswith("00"):
        return None
    return region_code


def city_name(code: str) -> str:
    return CITY_NAMES.get(code, code)


def category_name(code: str) -> str:
    return CATEGORY_NAMES.get(code, code)


def category_names(codes) -> str:
    return "、".join(category_name(c) for c in codes)
