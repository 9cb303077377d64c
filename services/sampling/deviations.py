"""Deviations of a plan from the template it was created from (e.g. 晋市监函〔2022〕181号).

A plan made from a template keeps the template's rules and settings as they were at creation
(``template_baseline``). Every difference of the plan from that baseline is a *deviation* and
needs a written reason before the plan can be saved or approved:

* a template rule removed (``rules.<name>``) or a rule added that the template lacks (same key);
* a field of a template rule changed (``rules.<name>.<field>``: ratio, count, categories, flags,
  region_prefix, licence_statuses, production_statuses, note);
* the rules' order changed (``rules.order``: first match wins, so order decides strata);
* a plan setting changed (``settings.<key>``: window, report date, team settings …).

Each deviation is shown as {key, rule, field, template_value, plan_value, reason} in the plan,
in every draw export and in the public view of the plan and its draws.
"""
from __future__ import annotations

from typing import Any

RULE_FIELDS = ("categories", "flags", "region_prefix", "licence_statuses", "production_statuses", "risk_classes", "ratio", "count", "note")
MAX_REASONS = 100


def _norm(v: Any) -> Any:
    if isinstance(v, list):
        return sorted(v)
    return v


def compute(baseline: dict[str, Any] | None, rules: list[dict[str, Any]], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The deviations of (rules, settings) from ``baseline`` (without reasons)."""
    if not baseline:
        return []
    out: list[dict[str, Any]] = []
    base_rules = {r["name"]: r for r in baseline.get("rules") or []}
    plan_rules = {r["name"]: r for r in rules}
    for name, br in base_rules.items():
        pr = plan_rules.get(name)
        if pr is None:
            out.append({"key": f"rules.{name}", "rule": name, "field": None, "what": "删除了模板规则",
                        "template_value": br, "plan_value": None})
            continue
        for f in RULE_FIELDS:
            tv, pv = _norm(br.get(f)), _norm(pr.get(f))
            if f == "ratio" and tv is not None and pv is not None:
                from decimal import Decimal
                if Decimal(str(tv)) == Decimal(str(pv)):
                    continue
            if tv != pv:
                out.append({"key": f"rules.{name}.{f}", "rule": name, "field": f, "what": "修改了模板规则",
                            "template_value": tv, "plan_value": pv, "template_note": br.get("note")})
    for name, pr in plan_rules.items():
        if name not in base_rules:
            out.append({"key": f"rules.{name}", "rule": name, "field": None, "what": "新增了模板没有的规则",
                        "template_value": None, "plan_value": pr})
    common_base = [n for n in base_rules if n in plan_rules]
    common_plan = [r["name"] for r in rules if r["name"] in base_rules]
    if common_base != common_plan:
        out.append({"key": "rules.order", "rule": None, "field": "order", "what": "改变了规则顺序（先匹配者优先）",
                    "template_value": common_base, "plan_value": common_plan})
    bs = baseline.get("settings") or {}
    for k in sorted(set(bs) | set(settings)):
        if bs.get(k) != settings.get(k):
            out.append({"key": f"settings.{k}", "rule": None, "field": k, "what": "修改了模板设置",
                        "template_value": bs.get(k), "plan_value": settings.get(k)})
    return out


def with_reasons(devs: list[dict[str, Any]], reasons: dict[str, str]) -> list[dict[str, Any]]:
    return [{**d, "reason": reasons.get(d["key"])} for d in devs]


def missing_reasons(devs: list[dict[str, Any]], reasons: dict[str, str]) -> list[dict[str, str]]:
    return [{"field": f"deviation_reasons.{d['key']}",
             "message": f"偏离模板（{d['what']}：模板为 {d['template_value']!s:.80}，计划为 {d['plan_value']!s:.80}），须填写理由"}
            for d in devs if not (reasons.get(d["key"]) or "").strip()]
