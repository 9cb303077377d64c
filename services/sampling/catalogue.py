"""Product-catalogue category codes (the registry owns the catalogue; these codes are the
shared contract every service uses) and the sampling flags a strata rule may match."""
from __future__ import annotations

CATALOGUE_2022: dict[str, str] = {
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
}

CATALOGUE_2024: dict[str, str] = {
    **CATALOGUE_2022,
    "ebike": "电动自行车",
    "ebike_lithium_battery": "电动自行车用锂离子蓄电池",
    "ebike_charger": "电动自行车用充电器",
    "household_gas_cooker": "家用燃气灶具",
}

CATALOGUES: dict[str, dict[str, str]] = {"2022": CATALOGUE_2022, "2024": CATALOGUE_2024}

FLAGS: dict[str, str] = {
    "national_fail_5y": "近5年国家监督抽查不合格",
    "provincial_fail_2021": "2021年省级监督抽检不合格",
}

PRODUCTION_STATUSES = ("在产", "停产", "转产", "关停")
LICENCE_STATUSES = ("有效", "暂停", "撤销", "吊销", "注销")
