"""Indicators, written as data: each has a definition, the event types it is learnt from and a
time window. Values are computed from the facts (dated observations) that the consumers store
(``facts.py``) — never from another service's database.

Kinds of indicator:
* ``count`` / ``sum`` — number (or sum of values) of facts of ``fact`` dated in (as_of − window, as_of];
* ``flag`` — a registry sampling flag, counted only when its date lies in the window (no date: counted);
* ``licence_age`` — years since the earliest issue date of a licence still valid at ``as_of``;
* ``renewal_due`` — valid licences expiring within ``window`` days with no later licence of the same category;
* ``hazard`` — 1 when a licensed category is hazardous or food-related (product hazard of the category).
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from shared.vocabulary import CATEGORIES_2022

HAZARDOUS = frozenset(code for code, _, food, hazardous in CATEGORIES_2022 if food or hazardous)
LIVE = ("有效", "暂停")


@dataclass(frozen=True)
class Indicator:
    code: str
    name: str
    definition: str
    sources: tuple[str, ...]
    window_days: int | None
    kind: str
    fact: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


REG_ENT = ("registry.enterprise.registered", "registry.enterprise.updated")
REG_LIC = ("registry.licence.issued", "registry.licence.updated", "registry.licence.status_changed")
RECORD = ("inspection.record.submitted", "inspection.record.amended")

INDICATORS: tuple[Indicator, ...] = (
    Indicator("national_fail_5y", "近5年国家监督抽查不合格", "名录库标记：近5年国家监督抽查不合格（按标记日期计窗口）", REG_ENT, 1825, "flag", "national_fail_5y"),
    Indicator("provincial_fail", "省级监督抽检不合格", "名录库标记：省级监督抽检不合格（2021年省抽）", REG_ENT, 1825, "flag", "provincial_fail_2021"),
    Indicator("hazard", "产品危害程度", "持有危险化学品、危险化学品包装物及容器或食品相关产品许可证（1=是）", REG_ENT + REG_LIC, None, "hazard"),
    Indicator("licence_age_years", "持证年限（年）", "仍有效的许可证中最早发证日至评估日的年数", REG_ENT + REG_LIC, None, "licence_age"),
    Indicator("renewal_due", "临期未换证许可证数", "180日内到期、且无同类别更晚到期许可证的有效许可证数", REG_ENT + REG_LIC, 180, "renewal_due"),
    Indicator("licence_actions_3y", "近3年许可证暂停/撤销/吊销次数", "许可证状态变为暂停、撤销、吊销的次数", ("registry.licence.status_changed",), 1095, "count", "licence_action"),
    Indicator("failed_inspections_2y", "近2年检查发现问题次数", "检查记录中有不符合项的次数", RECORD, 730, "count", "failed_inspection"),
    Indicator("nonconformities_2y", "近2年不符合项数", "检查记录中不符合项的条数", RECORD, 730, "count", "nonconformity"),
    Indicator("refusals_3y", "近3年拒绝或不配合检查次数", "检查记录结论为不配合检查或拒绝检查的次数", RECORD, 1095, "count", "refusal"),
    Indicator("not_inspected_2y", "近2年未能实施检查次数", "因停产、转产、无法联系等未实施检查的次数", RECORD, 730, "count", "not_inspected"),
    Indicator("rectification_overdue_2y", "近2年整改逾期次数", "整改案件逾期的次数", ("rectification.case.overdue",), 730, "count", "rect_overdue"),
    Indicator("recheck_failed_2y", "近2年复查不合格次数", "整改复查未通过的次数", ("rectification.case.rechecked",), 730, "count", "recheck_failed"),
    Indicator("enforcement_3y", "近3年处置次数", "撤销、吊销、注销、立案查处、移送司法机关、抄告的决定次数", ("rectification.outcome.decided",), 1095, "count", "enforcement"),
    Indicator("disclosed_problems_3y", "近3年公示结果为发现问题次数", "公示结果类别为发现问题、不配合检查情节严重或无法联系的次数", ("disclosure.result.published", "disclosure.result.corrected", "disclosure.result.withdrawn"), 1095, "count", "disclosed_problem"),
)
BY_CODE: dict[str, Indicator] = {i.code: i for i in INDICATORS}
FACT_KINDS = frozenset(i.fact for i in INDICATORS if i.kind in ("count", "sum"))


def _date(v: Any) -> dt.date | None:
    if v is None or isinstance(v, dt.date):
        return v
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def _in_window(d: dt.date, as_of: dt.date, days: int | None) -> bool:
    return d <= as_of and (days is None or (as_of - d).days < days)


def compute(enterprise: dict[str, Any] | None, facts: Iterable[tuple[str, dt.date, float]], as_of: dt.date) -> dict[str, float]:
    """Indicator values of one enterprise at ``as_of``. ``enterprise``: flags, flag_dates,
    licences (id -> licence); ``facts``: (kind, occurred_on, value)."""
    ent = enterprise or {}
    by_kind: dict[str, list[tuple[dt.date, float]]] = {}
    for kind, on, value in facts:
        by_kind.setdefault(kind, []).append((on, value))
    licences = [lic for lic in (ent.get("licences") or {}).values() if (_date(lic.get("issue_date")) or as_of) <= as_of]
    out: dict[str, float] = {}
    for ind in INDICATORS:
        if ind.kind == "count":
            out[ind.code] = float(sum(1 for on, _ in by_kind.get(ind.fact, ()) if _in_window(on, as_of, ind.window_days)))
        elif ind.kind == "sum":
            out[ind.code] = float(sum(v for on, v in by_kind.get(ind.fact, ()) if _in_window(on, as_of, ind.window_days)))
        elif ind.kind == "flag":
            on = (ent.get("flags") or {}).get(ind.fact)
            when = _date((ent.get("flag_dates") or {}).get(ind.fact))
            out[ind.code] = 1.0 if on and (when is None or _in_window(when, as_of, ind.window_days)) else 0.0
        elif ind.kind == "hazard":
            out[ind.code] = 1.0 if any(lic.get("category") in HAZARDOUS and lic.get("status") in LIVE for lic in licences) else 0.0
        elif ind.kind == "licence_age":
            issued = [_date(lic.get("issue_date")) for lic in licences if lic.get("status") in LIVE]
            issued = [d for d in issued if d is not None]
            out[ind.code] = round((as_of - min(issued)).days / 365.25, 2) if issued else 0.0
        elif ind.kind == "renewal_due":
            out[ind.code] = float(len(renewals_due(licences, as_of, ind.window_days or 180)))
    return out


def renewals_due(licences: Iterable[dict[str, Any]], as_of: dt.date, days: int) -> list[dict[str, Any]]:
    """Live licences expiring within ``days`` of ``as_of`` with no later-expiring live licence of
    the same category (that would be the renewal)."""
    live = [lic for lic in licences if lic.get("status") in LIVE and _date(lic.get("expiry_date"))]
    out = []
    for lic in live:
        exp = _date(lic["expiry_date"])
        if not (as_of <= exp <= as_of + dt.timedelta(days=days)):
            continue
        if any(o is not lic and o.get("category") == lic.get("category") and _date(o["expiry_date"]) > exp for o in live):
            continue
        out.append(lic)
    return out


def catalogue() -> list[dict[str, Any]]:
    return [i.as_dict() for i in INDICATORS]
