"""The versioned product catalogue of industrial products under production-licence management
(工业产品生产许可证管理目录), as categories (产品类别) with their varieties (产品品种).

* 2022: the ten categories the notice 晋市监函〔2022〕181号 inspects, kept as they were.
* 2024: 《国务院关于调整完善工业产品生产许可证管理目录的决定》(国发〔2024〕11号, reported 2024-05-09)
  adds six products — 冷轧带肋钢筋 (a variety under 建筑用钢筋), 瓶装液化石油气调压器, 钢丝绳, 胶合板,
  细木工板, 安全帽 — for **14 categories and 27 varieties**; the new products need a licence from
  2024-09-25; 化肥 (复肥、磷肥) moves from 告知承诺 to 先核后证; approval is provincial and may not be
  delegated (市场监管总局 announcement implementing the decision).

The category codes are the shared contract (``shared.vocabulary``). Varieties are listed as far as
we could read them in a retrieved copy of the catalogue; where a category's variety list could not
be confirmed, ``varieties_confirmed`` is False and the category still counts — the decision's own
totals are recorded as ``declared_categories`` / ``declared_varieties``.
"""
from __future__ import annotations

from shared.vocabulary import CATEGORIES_2022 as _BASE_2022
from shared.vocabulary import CATEGORIES_ADDED_2024 as _ADDED_2024

SOURCE_2024 = ("《国务院关于调整完善工业产品生产许可证管理目录的决定》（国发〔2024〕11号，2024年5月9日公布）；"
               "市场监管总局关于贯彻落实该决定有关事项的公告：冷轧带肋钢筋、瓶装液化石油气调压器、钢丝绳、胶合板、细木工板、安全帽"
               "等6种产品自2024年9月25日起实施生产许可证管理；化肥（复肥、磷肥）由告知承诺改为先核后证")

# varieties (品种) per category code: (name, added_in, confirmed)
VARIETIES: dict[str, list[tuple[str, str]]] = {
    "rebar": [("钢筋混凝土用热轧钢筋", "2022"), ("冷轧带肋钢筋", "2024")],
    "cement": [("水泥", "2022")],
    "broadcast_transmission": [("广播电视传输设备", "2022")],
    "rmb_discriminator": [("人民币鉴别仪", "2022")],
    "prestressed_railway_beam": [("预应力混凝土铁路桥简支梁", "2022")],
    "wire_cable": [("电线电缆", "2022")],
    "hazardous_chemicals": [("危险化学品无机产品", "2022"), ("危险化学品有机产品", "2022")],
    "hazardous_chemical_packaging": [("危险化学品包装物及容器", "2022")],
    "fertilizer": [("复肥", "2022"), ("磷肥", "2022")],
    "food_related": [("食品用塑料包装容器工具等制品", "2022"), ("食品用纸包装、容器等制品", "2022")],
    "lpg_cylinder_regulator": [("瓶装液化石油气调压器", "2024")],
    "steel_wire_rope": [("钢丝绳", "2024")],
    "wood_based_panel": [("胶合板", "2024"), ("细木工板", "2024")],
    "safety_helmet": [("安全帽", "2024")],
}
# categories whose variety list we could not confirm against the catalogue text (the decision
# states 27 varieties in all; the unlisted ones belong to these categories)
UNCONFIRMED_VARIETIES = {"hazardous_chemicals", "food_related"}
APPROVAL = {"fertilizer": {"2022": "告知承诺", "2024": "先核后证"}}


def _item(row, version: str) -> dict:
    code, name, food, hazardous = row
    varieties = [{"name": n, "added": added} for n, added in VARIETIES.get(code, []) if added <= version]
    item = {"code": code, "name": name, "food_related": food, "hazardous": hazardous, "varieties": varieties,
            "varieties_confirmed": code not in UNCONFIRMED_VARIETIES, "approval_authority": "省级市场监管部门（不得下放）"
            if version >= "2024" else "省级市场监管部门", "source_needs_confirmation": False}
    if code in APPROVAL:
        item["approval_procedure"] = APPROVAL[code][version]
    return item


CATALOGUES: dict[str, dict] = {
    "2022": {
        "version": "2022",
        "title": "工业产品生产许可证管理目录（2022年）",
        "source": "山西省市场监督管理局 2022年度工业产品生产许可证获证企业“双随机、一公开”监督检查通知（晋市监函〔2022〕181号）",
        "categories": [_item(r, "2022") for r in _BASE_2022],
    },
    "2024": {
        "version": "2024",
        "title": "工业产品生产许可证管理目录（2024年调整）",
        "source": SOURCE_2024,
        "effective": {"reported": "2024-05-09", "new_products_from": "2024-09-25"},
        "declared_categories": 14,
        "declared_varieties": 27,
        "added_products": ["冷轧带肋钢筋", "瓶装液化石油气调压器", "钢丝绳", "胶合板", "细木工板", "安全帽"],
        "categories": [_item(r, "2024") for r in _BASE_2022] + [_item(r, "2024") for r in _ADDED_2024],
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
