"""The 附件2 checklist (工业产品生产许可证获证企业"双随机、一公开"监督检查记录表) as versioned data,
with the notice's exact wording, the conclusions each sub-item allows and its applicability note
as a rule. A record is opened against one version and keeps it."""
from __future__ import annotations

CONCLUSIONS = {"conforming": "符合", "nonconforming": "不符合", "not_applicable": "不适用"}
TWO = ("conforming", "nonconforming")
THREE = ("conforming", "nonconforming", "not_applicable")

# applicability rules (the 备注 column of 附件2)
RULES = {
    "all": "",
    "food_only": "适用于食品相关产品",
    "food_and_rules": "适用于食品相关产品和细则要求产品",
    "stopped_env_na": "环保要求正常停产不适用",
    "stopped_na": "停产不适用",
    "stopped_na_verify": "(1)停产不适用 (2)原辅材料可进行验证。",
    "policy": "如果产品不涉及产业政策，则为不适用",
}
# products under national industrial policy (产能、淘汰类设备和工艺): steel and cement, also hazardous chemicals
POLICY_CATEGORIES = {"rebar", "cement", "hazardous_chemicals"}
PRODUCTION_STATUSES = {"producing": "正常生产", "stopped": "停产", "stopped_env": "环保要求正常停产"}
PRODUCT_TYPES = {"industrial": "工业产品", "food_related": "食品相关产品"}

_2022 = [
    ("1", "证照信息", [
        ("1.1", "(1) 核查企业名称,营业执照是否与生产许可证相同,是否存在擅自变更名称的行为。", TWO, "all"),
        ("1.2", "(2) 查看营业执照经营范围是否包含许可证产品。", TWO, "all"),
        ("1.3", "(3) 查看企业生产场所土地等证明材料,核实企业住所及名称是否发生改变,生产地址及名称是否发生改变。", TWO, "all"),
    ]),
    ("2", "生产设施设备", [
        ("2.1", "(1) 对照现场核查或后置现场审查时所保留的经审查组、企业签名及加盖骑缝章确认的企业基础材料《企业核查时准备书面材料清单》,"
                "逐项核查企业 是否具备满足实施细则规定的生产设施;生产工艺是否变化、有无新增或减少的关键生产设备,设备性能和精度是否满足生产要求;"
                "设备是否维护完好,运行正常,是否存在安全隐患,是否带病运行等。 检验设备是否发生变化,设备是否在检定周期内,是否满足检验和细则要求。",
         TWO, "all"),
        ("2.2", "(2) 生产车间卫生整洁，分别设置人流及物流通道，人流通道设置洗手、更衣及鞋靴消毒及除尘或风淋（浴）设施并能满足相应要求。"
                "能有效防止昆虫、动物及灰尘进入生产车间。生产车间内厨房、厕所与生产区域隔离。", THREE, "food_only"),
        ("2.3", "(3) 生产车间是否存在不同卫生要求的产品在同一生产区域进行混合生产，并存在可能对获证产品造成污染的隐患。", THREE, "food_only"),
        ("2.4", "(4) 库房是否合理有序存放物品，是否能满足特殊物品的存放要求。", THREE, "food_and_rules"),
    ]),
    ("3", "生产过程控制", [
        ("3.1", "(1) 企业是否正常生产。", THREE, "stopped_env_na"),
        ("3.2", "(2) 检查工艺文件，工艺控制及指标设置是否满足生产要求，生产过程中对关键工序（或关键质控点）是否如实进行记录", THREE, "stopped_na"),
    ]),
    ("4", "质量检验", [
        ("4.1", "(1) 是否按规定对原辅材料、过程和成品进行检验，出厂检验是否逐批检验，检验报告或检验记录中的项目、数据与实施细则及相关标准要求是否符合，"
                "是否存在不检验或无出厂检验记录等情况。", THREE, "stopped_na_verify"),
        ("4.2", "(2) 原辅料是否符合国家相关法律法规、产品标准、许可证要求及国家食品安全标准的规定，并保存相关记录。 不应使用回收料及废旧料进行生产。",
         THREE, "food_only"),
    ]),
    ("5", "标识标志", [("5", "企业获证产品是否按规定标明了生产许可证标记和编号。", TWO, "all")]),
    ("6", "产业政策", [
        ("6", "核实企业实际生产情况与国家产业政策要求的建设项目（生产线）的有效审批文件或备案文件是否一致，是否违反国家产业政策使用国家明令淘汰的设备和工艺、"
              "生产国家明令淘汰的产品，是否存在违规新增产能等情况。", THREE, "policy"),
    ]),
    ("7", "质量违法行为", [
        ("7", "查看企业库房，结合查阅化验室出厂检验报告、出库单、销售合同等，核实企业是否存在生产非许可范围的许可证产品的情况，企业有无涂改、"
              "转让生产许可证情况，以及生产假冒伪劣产品等质量违法行为。", TWO, "all"),
    ]),
    ("8", "质量抽检情况", [("8", "获证企业在各级各部门的监督检查检验中，是否有不合格的情况；企业是否有质量投诉事件，及后处理情况。", TWO, "all")]),
    ("9", "其他", [("9", "细则中其他需要检查的情况。", TWO, "all")]),
]

NOTES_2022 = [
    "(1)上述“检查内容”一栏各项目是否适用及具体要求按相应产品生产许可证实施细则的规定执行",
    "(2)企业有多个生产地址的，应分别进行检查",
    "(3)对不影响检查且可以当场整改项，允许企业当场整改。",
    "(4)本检查记录加盖骑缝章有效。",
]

TITLE_2022 = "工业产品生产许可证获证企业“双随机、一公开”监督检查记录表"


def _template(version: str, rows, notes, title) -> dict:
    items = []
    for no, name, subs in rows:
        items.append({
            "no": no, "name": name,
            "sub_items": [{"code": code, "text": text, "conclusions": list(allowed),
                           "conclusion_labels": [CONCLUSIONS[c] for c in allowed], "rule": rule, "note": RULES[rule]}
                          for code, text, allowed, rule in subs],
        })
    return {"version": version, "title": title, "source": "晋市监函〔2022〕181号 附件2", "items": items, "notes": notes,
            "conclusions": CONCLUSIONS, "rules": RULES, "product_types": PRODUCT_TYPES, "production_statuses": PRODUCTION_STATUSES,
            "policy_categories": sorted(POLICY_CATEGORIES)}


TEMPLATES: dict[str, dict] = {"2022": _template("2022", _2022, NOTES_2022, TITLE_2022)}
CURRENT = "2022"


def template(version: str) -> dict | None:
    return TEMPLATES.get(version)


def sub_items(version: str) -> list[dict]:
    t = TEMPLATES[version]
    return [{**s, "item_no": i["no"], "item_name": i["name"]} for i in t["items"] for s in i["sub_items"]]


def sub_item(version: str, code: str) -> dict | None:
    return next((s for s in sub_items(version) if s["code"] == code), None)


def product_type_of(categories: list[str]) -> str:
    """产品类别 of the record: 食品相关产品 when the site's licences include the food-related category."""
    return "food_related" if "food_related" in (categories or []) else "industrial"


def preset(sub: dict, product_type: str, production_status: str, categories: list[str]) -> str | None:
    """The reason an item cannot apply to this record (pre-set 不适用), or None when it must be answered."""
    rule = sub["rule"]
    food = product_type == "food_related"
    stopped = production_status in ("stopped", "stopped_env")
    if rule == "food_only" and not food:
        return "适用于食品相关产品；本企业产品类别为工业产品"
    if rule == "stopped_env_na" and production_status == "stopped_env":
        return "环保要求正常停产不适用"
    if rule in ("stopped_na", "stopped_na_verify") and stopped:
        return "停产不适用"
    if rule == "policy" and not (set(categories or []) & POLICY_CATEGORIES):
        return "产品不涉及产业政策，不适用"
    return None


def may_choose_na(sub: dict, product_type: str) -> bool:
    """Whether the team may itself answer 不适用 (e.g. 细则要求产品 for a non-food product)."""
    if "not_applicable" not in sub["conclusions"]:
        return False
    if sub["rule"] == "food_and_rules":
        return product_type != "food_related"
    if sub["rule"] == "food_only":
        return False  # pre-set for industrial products, must be answered for food-related ones
    return False
