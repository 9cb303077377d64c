"""Strata rules of a sampling plan: matching, validation, quotas, and the notice's 2022 template.

A plan's rules are ordered; **the first rule that matches a unit wins** and names its stratum.
A rule matches a unit (an enterprise of the registry population) when every condition it
states holds (a condition left empty matches everything):

* ``categories`` — any of the unit's licensed product categories is listed (any-of);
* ``flags`` — any listed sampling flag (``national_fail_5y``, ``provincial_fail_2021``) is true;
* ``region_prefix`` — the unit's ``region_code`` starts with it;
* ``licence_statuses`` — any of the unit's licences has a listed status;
* ``production_statuses`` — the unit's ``production_status`` is listed;
* ``risk_classes`` — the unit's credit-risk class (A/B/C/D) is listed. The class is asked of the
  risk service once, at freeze time, and frozen in the unit's record (``risk_class``), so the
  stratum re-derives from the export like every other condition (internal: see ``public_view``).

Each rule takes either a ``ratio`` in [0, 1] or a fixed ``count`` ≥ 0. The quota of a stratum
of N units is ``ceil(ratio × N)`` computed exactly (``Fraction`` of the decimal ratio, never a
float), or ``min(count, N)``; the rounding is written on each stratum record ("向上取整").

A unit no rule matches is **outside the draw**: it stays in the frozen population with the
stratum label ``OUTSIDE`` and is never selected. Add a rule without conditions as catch-all.

Refused (422, naming ``rules[i].<field>``): ratio outside [0, 1], count < 0, both or neither of
ratio/count, unknown category/flag/status codes, duplicate stratum names, a rule with the same
match conditions as an earlier one (whatever the quotas), and a rule that an earlier rule fully
shadows — every unit it could match is already taken by the earlier rule, so it can never match.
Overlap that is not full shadowing is allowed and resolved by order.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Any

from shared.errors import Problem
from shared.vocabulary import LEADER_UNIT_DEFAULT, TEAM_SETTING_DEFAULTS

from .catalogue import CATALOGUES, FLAGS, LICENCE_STATUSES, PRODUCTION_STATUSES

OUTSIDE = "（未纳入抽取）"
# Written into every plan, export and public view (not only here): how a unit finds its stratum.
FIRST_MATCH_RULE = (
    "分层规则按顺序逐条比对，企业归入第一条匹配的规则所对应的层（先匹配者优先）；每家企业只属于一个层，只抽取一次；"
    "未匹配任何规则的企业列为“（未纳入抽取）”，不参加抽取。每层抽取数 = ceil(比例 × 层内企业数)（按精确分数向上取整）。"
)
MULTI_CATEGORY_RULE = (
    "持有多个产品类别许可证的企业：按上一条规则归入其所持类别中排在最前的规则对应的层。"
    "通知模板按“每个产品类别单独成层”设置，规则顺序为：100%的不合格企业层在先，其后各类别按抽取比例从高到低排列，"
    "同一比例按通知列举的顺序（危险化学品包装物及容器；危险化学品、电线电缆、化肥；食品相关产品、建筑用钢筋、水泥；其他）——"
    "因此多类别企业归入其所持类别中比例最高的那一层，不会因持有多个类别而被重复抽取或降低比例。"
)
RISK_CLASSES = ("A", "B", "C", "D")
# the public name of the strata chosen by risk class, folded into one entry (``public_strata``)
RISK_STRATUM_PUBLIC = "（按信用风险分类抽取的层，分类不公开）"
ROUNDING = "向上取整（ceil），按精确分数计算"
CONDITIONS = ("categories", "flags", "region_prefix", "licence_statuses", "production_statuses", "risk_classes")


@dataclass(frozen=True)
class Rule:
    name: str
    categories: frozenset[str] | None = None
    flags: frozenset[str] | None = None
    region_prefix: str | None = None
    licence_statuses: frozenset[str] | None = None
    production_statuses: frozenset[str] | None = None
    risk_classes: frozenset[str] | None = None
    ratio: Decimal | None = None
    count: int | None = None
    note: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Rule:
        def fs(key):
            v = d.get(key)
            return frozenset(v) if v else None

        ratio = d.get("ratio")
        return cls(
            name=d["name"],
            categories=fs("categories"),
            flags=fs("flags"),
            region_prefix=d.get("region_prefix") or None,
            licence_statuses=fs("licence_statuses"),
            production_statuses=fs("production_statuses"),
            risk_classes=fs("risk_classes"),
            ratio=Decimal(str(ratio)) if ratio is not None else None,
            count=d.get("count"),
            note=d.get("note"),
        )

    def conditions(self) -> tuple:
        return tuple(getattr(self, c) for c in CONDITIONS)

    def matches(self, unit: dict[str, Any]) -> bool:
        if self.categories is not None and not self.categories.intersection(unit.get("categories") or ()):
            return False
        if self.flags is not None and not any((unit.get("flags") or {}).get(f) for f in self.flags):
            return False
        if self.region_prefix is not None and not str(unit.get("region_code") or "").startswith(self.region_prefix):
            return False
        if self.licence_statuses is not None and not any(
            lic.get("status") in self.licence_statuses for lic in unit.get("licences") or ()
        ):
            return False
        if self.production_statuses is not None and unit.get("production_status") not in self.production_statuses:
            return False
        if self.risk_classes is not None and unit.get("risk_class") not in self.risk_classes:
            return False
        return True

    def covers(self, other: Rule) -> bool:
        """True when every unit ``other`` can match is also matched by ``self``."""
        for attr in ("categories", "flags", "licence_statuses", "production_statuses", "risk_classes"):
            mine, theirs = getattr(self, attr), getattr(other, attr)
            if mine is not None and (theirs is None or not theirs <= mine):
                return False
        if self.region_prefix is not None and (
            other.region_prefix is None or not other.region_prefix.startswith(self.region_prefix)
        ):
            return False
        return True

    def quota(self, n: int) -> int:
        if self.count is not None:
            return min(self.count, n)
        return math.ceil(Fraction(self.ratio) * n)

    def to_dict(self) -> dict[str, Any]:
        def ls(v):
            return sorted(v) if v is not None else None

        return {
            "name": self.name,
            "categories": ls(self.categories),
            "flags": ls(self.flags),
            "region_prefix": self.region_prefix,
            "licence_statuses": ls(self.licence_statuses),
            "production_statuses": ls(self.production_statuses),
            "risk_classes": ls(self.risk_classes),
            "ratio": str(self.ratio) if self.ratio is not None else None,
            "count": self.count,
            "note": self.note,
        }


def _err(i: int, field: str, message: str) -> dict[str, str]:
    return {"field": f"rules[{i}].{field}", "message": message}


def validate_rules(raw_rules: list[dict[str, Any]], catalogue: str, owner_region: str) -> list[Rule]:
    """Parse and check the rules; raise one 422 listing every problem found."""
    errors: list[dict[str, str]] = []
    codes = CATALOGUES.get(catalogue, {})
    if not raw_rules:
        errors.append({"field": "rules", "message": "至少需要一条分层规则"})
    rules: list[Rule] = []
    for i, raw in enumerate(raw_rules):
        ratio, count = raw.get("ratio"), raw.get("count")
        if (ratio is None) == (count is None):
            errors.append(_err(i, "ratio", "比例（ratio）与固定数量（count）须且只能填写一项"))
        if ratio is not None:
            try:
                r = Decimal(str(ratio))
                if not r.is_finite() or r < 0 or r > 1:
                    errors.append(_err(i, "ratio", f"抽取比例应在 0 到 1 之间，实际为 {ratio}"))
            except InvalidOperation:
                errors.append(_err(i, "ratio", "抽取比例应为小数，如 0.3"))
        if count is not None and (not isinstance(count, int) or count < 0):
            errors.append(_err(i, "count", f"固定抽取数量不能为负数，实际为 {count}"))
        for c in raw.get("categories") or ():
            if c not in codes:
                errors.append(_err(i, "categories", f"产品类别 {c} 不在 {catalogue} 版目录中"))
        for f in raw.get("flags") or ():
            if f not in FLAGS:
                errors.append(_err(i, "flags", f"未知的抽取标记 {f}"))
        for s in raw.get("licence_statuses") or ():
            if s not in LICENCE_STATUSES:
                errors.append(_err(i, "licence_statuses", f"未知的许可证状态 {s}"))
        for s in raw.get("production_statuses") or ():
            if s not in PRODUCTION_STATUSES:
                errors.append(_err(i, "production_statuses", f"未知的生产状态 {s}"))
        for c in raw.get("risk_classes") or ():
            if c not in RISK_CLASSES:
                errors.append(_err(i, "risk_classes", f"未知的信用风险分类 {c}（应为 A、B、C、D）"))
        prefix = raw.get("region_prefix")
        if prefix and not (prefix.isdigit() and len(prefix) <= 6):
            errors.append(_err(i, "region_prefix", "地区前缀应为行政区划代码的前若干位数字"))
        if not raw.get("name"):
            errors.append(_err(i, "name", "层名称不能为空"))
        elif raw["name"] == OUTSIDE or any(r.get("name") == raw["name"] for r in raw_rules[:i]):
            errors.append(_err(i, "name", f"层名称“{raw['name']}”重复或为保留名称"))
    if errors:
        raise Problem(422, "invalid-strata", "分层规则无效", detail=errors[0]["field"] + ": " + errors[0]["message"], errors=errors)
    rules = [Rule.from_dict(r) for r in raw_rules]
    for j, later in enumerate(rules):
        for i in range(j):
            if rules[i].conditions() == later.conditions():
                same = rules[i].ratio == later.ratio and rules[i].count == later.count
                what = "且配额相同（重复规则）" if same else "但配额不同（规则矛盾）"
                errors.append(_err(j, "conditions", f"与第 {i} 条规则匹配条件完全相同{what}"))
                break
            if rules[i].covers(later):
                errors.append(_err(j, "conditions", f"被第 {i} 条规则完全覆盖，永远不会匹配任何企业"))
                break
    if errors:
        raise Problem(422, "invalid-strata", "分层规则相互矛盾", detail=errors[0]["field"] + ": " + errors[0]["message"], errors=errors)
    return rules


def uses_risk_classes(rules: list[dict[str, Any]]) -> bool:
    return any(r.get("risk_classes") for r in rules)


PUBLIC_STRATUM_KEYS = ("index", "name", "population", "quota", "ratio", "count", "rounding", "note")


def public_strata(strata_list: list[dict[str, Any]], rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The strata as published: every stratum chosen by risk class folded into one entry (``RISK_STRATUM_PUBLIC``,
    at the place of the first of them) with the summed population and quota; the other strata as they are."""
    hidden = {r["name"] for r in rules if r.get("risk_classes")}
    out: list[dict[str, Any]] = []
    combined: dict[str, Any] | None = None
    for st in strata_list:
        if st.get("name") not in hidden:
            out.append({k: st.get(k) for k in PUBLIC_STRATUM_KEYS})
            continue
        if combined is None:
            combined = {"index": None, "name": RISK_STRATUM_PUBLIC, "population": 0, "quota": 0, "ratio": None, "count": None,
                        "rounding": "各层按其规则计算后合计", "note": None}
            out.append(combined)
        combined["population"] += st.get("population") or 0
        combined["quota"] += st.get("quota") or 0
    if combined is not None:
        combined["note"] = "按信用风险分类抽取的各层合为一项公开（规则见 rules）；企业的分类不公开"
    return out


def assign(rules: list[Rule], unit: dict[str, Any]) -> str:
    for rule in rules:
        if rule.matches(unit):
            return rule.name
    return OUTSIDE


def preview(rules: list[Rule], units: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Counts per stratum (N and quota) for a population, before anything is frozen."""
    counts = {r.name: 0 for r in rules}
    counts[OUTSIDE] = 0
    for u in units:
        counts[assign(rules, u)] += 1
    strata = [stratum_record(i, r, counts[r.name]) for i, r in enumerate(rules)]
    return {"strata": strata, "outside": counts[OUTSIDE], "total": sum(counts.values())}


def stratum_record(index: int, rule: Rule, n: int) -> dict[str, Any]:
    return {
        "index": index,
        "name": rule.name,
        "population": n,
        "ratio": str(rule.ratio) if rule.ratio is not None else None,
        "count": rule.count,
        "quota": rule.quota(n),
        "rounding": ROUNDING if rule.ratio is not None else "固定数量，不超过层内企业数",
        "note": rule.note,
    }


# ---------------------------------------------------------------- the notice's 2022 template
NOTICE_2022_181 = {
    "name": "2022年度工业产品生产许可证获证企业双随机抽查",
    "batch": "2022-1",
    "catalogue": "2022",
    "licence_status": "有效",
    "source": "晋市监函〔2022〕181号",
    "template": "notice-2022-181",
    "settings": {
        "window_start": "2022-06-10",
        "window_end": "2022-11-10",
        "report_date": "2022-11-20",
        **TEAM_SETTING_DEFAULTS,
        "leader_unit": LEADER_UNIT_DEFAULT,
    },
    "rules": [
        {"name": "近5年国抽不合格及2021年省抽不合格企业", "flags": ["national_fail_5y", "provincial_fail_2021"],
         "ratio": "1", "note": "通知第一（四）1项：按照100%比例抽取"},
        {"name": "危险化学品包装物及容器", "categories": ["hazardous_chemical_packaging"],
         "ratio": "1", "note": "通知第一（四）2项：按照100%比例抽取"},
        {"name": "危险化学品", "categories": ["hazardous_chemicals"], "ratio": "0.3", "note": "通知第一（四）3项：按照30%比例抽取"},
        {"name": "电线电缆", "categories": ["wire_cable"], "ratio": "0.3", "note": "通知第一（四）3项：按照30%比例抽取"},
        {"name": "化肥", "categories": ["fertilizer"], "ratio": "0.3", "note": "通知第一（四）3项：按照30%比例抽取"},
        {"name": "食品相关产品", "categories": ["food_related"], "ratio": "0.2", "note": "通知第一（四）4项：按照20%比例抽取"},
        {"name": "建筑用钢筋", "categories": ["rebar"], "ratio": "0.2", "note": "通知第一（四）4项：按照20%比例抽取"},
        {"name": "水泥", "categories": ["cement"], "ratio": "0.2", "note": "通知第一（四）4项：按照20%比例抽取"},
        {"name": "广播电视传输设备", "categories": ["broadcast_transmission"], "ratio": "0.2", "note": "通知未规定比例，为计划设定"},
        {"name": "人民币鉴别仪", "categories": ["rmb_discriminator"], "ratio": "0.2", "note": "通知未规定比例，为计划设定"},
        {"name": "预应力混凝土铁路桥简支梁", "categories": ["prestressed_railway_beam"], "ratio": "0.2", "note": "通知未规定比例，为计划设定"},
    ],
}
