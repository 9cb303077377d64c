"""Names used in Chinese messages: Shanxi cities (GB/T 2260) and the product catalogue."""
from __future__ import annotations

CITY_NAMES = {
    "140100": "太原", "140200": "大同", "140300": "阳泉", "140400": "长治", "140500": "晋城", "140600": "朔州",
    "140700": "晋中", "140800": "运城", "140900": "忻州", "141000": "临汾", "141100": "吕梁",
}

CATEGORY_NAMES = {
    "rebar": "建筑用钢筋",
    "cement": "水泥",
    "broadcast_transmission": "广播电视传输设备",
    "rmb_discriminator": "人民币鉴别仪",
    "prestressed_railway_beam": "预应力混凝土铁路桥简支梁",
    "wire_cable": "电线电缆",
    "hazardous_chemicals": "危险化学品",
    "hazardous_chemical_packaging": "危险化学品包装物及容器",
    "fertilizer": "化肥",
    "food_related": "食品相关产品",
    "ebike": "电动自行车",
    "ebike_lithium_battery": "电动自行车用锂离子蓄电池",
    "ebike_charger": "电动自行车用充电器",
    "household_gas_cooker": "家用燃气灶具",
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
