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
# the 2024 State Council decision (《国务院关于调整完善工业产品生产许可证管理目录的决定》, 国发〔2024〕11号,
# reported 2024-05-09, in force for the new products from 2024-09-25) adds six products: 冷轧带肋钢筋 (a
# variety of 建筑用钢筋), 瓶装液化石油气调压器, 钢丝绳, 胶合板 and 细木工板 (人造板), 安全帽 — 14 categories,
# 27 varieties. The varieties per category are registry data (services/registry/catalogue.py).
CATEGORIES_ADDED_2024: list[tuple[str, str, bool, bool]] = [
    ("lpg_cylinder_regulator", "瓶装液化石油气调压器", False, False),
    ("steel_wire_rope", "钢丝绳", False, False),
    ("wood_based_panel", "人造板", False, False),
    ("safety_helmet", "安全帽", False, False),
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
    "notice_workdays": 3,  # visits no earlier than dispatch + this many working days
}
# 组长由省局质量监管处处级干部担任 (notice 二（一）): the unit (处室) whose 处级 cadres lead teams.
LEADER_UNIT_DEFAULT = "质量监管处"

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


# ---------------------------------------------------------------- results (一公开)
# Result categories as used on the 公示系统 / provincial 协同监管 platforms (../shared/source/legal-reference.md):
# match on the stable code, never on the label; several may apply to one result. The national data standard
# (GS52—2017) that defines the authoritative codes was not available: these codes are ours, the labels are exact.
RESULT_CATEGORIES: dict[str, str] = {
    "no_problem": "未发现问题",
    "problem_corrected": "发现问题已责令改正",
    "problem_pending": "发现问题待后续处理",
    "no_activity": "未发现开展本次抽查涉及的经营活动",
    "closed_or_liquidating": "已关闭停业或正在组织清算",
    "refused_serious": "不配合检查情节严重",
    "unreachable": "通过登记的住所（经营场所）无法联系",
    "not_publicised": "未按规定公示应当公示的信息",
    "false_publicity": "公示信息隐瞒真实情况弄虚作假",
    "deregistered": "注销",
    "licence_revoked_by_penalty": "被吊销",
    "licence_revoked": "被撤销",
    "moved_out": "迁出",
}
# 后续处置措施 (follow-up measure) options, same source.
FOLLOW_UP_MEASURES: dict[str, str] = {
    "none_needed": "未发现问题或相关问题已规范、已改正，无需后续处置",
    "refer_daily": "停止检查，反馈至日常监管部门依法依规处理",
    "order_correction": "违反本部门相关规定，责令改正；后续跟踪由日常监管部门负责",
    "case_referral": "发现案件线索，初步固定相关证据后移送办案机构依法依规处理",
    "notify_other_dept": "违反其他部门相关规定，抄告相关部门",
    "other": "其他",
}
# Why a drawn site was not inspected (notice 三（三）: 对企业因停产、转产等原因未实施检查的，要做好详细记录).
NOT_INSPECTED_REASONS: dict[str, str] = {
    "stopped": "停产",
    "changed_production": "转产",
    "closed": "关闭停业或正在组织清算",
    "unreachable": "通过登记的住所（经营场所）无法联系",
    "refused": "拒绝检查",
    "other": "其他",
}
