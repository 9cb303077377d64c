"""问题企业工作台帐: per bureau, the enterprises with class C/D, an open alert or an open matter
in another service (rectification open/overdue, failed recheck, not inspected, result not yet
disclosed), with their open issues. Scoped in SQL by the caller's region; XLSX export."""
from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from openpyxl import Workbook
from sqlalchemy import exists, or_, select

from shared.auth import Principal, region_prefix
from shared.spreadsheet import neutralise
from shared.errors import Problem
from shared.pagination import PageParams, keyset, page_of
from shared.vocabulary import city_name

from .alerts import RULES
from .models import Alert, OpenIssue, RiskClass, RiskEnterprise
from .scorecard import CLASS_NAMES, why

EXPORT_MAX = 50_000
ISSUE_NAMES = {"rectification_open": "整改中", "rectification_overdue": "整改逾期", "recheck_failed": "复查未通过",
               "not_inspected": "抽中未检查", "disclosure_overdue": "结果逾期未公示"}


def scope_prefix(p: Principal, bureau: str | None) -> str:
    if bureau is None:
        return p.prefix
    if not (bureau.isdigit() and len(bureau) == 6):
        raise Problem(422, "validation", errors=[{"field": "bureau", "message": "应为 6 位行政区划代码"}])
    if not p.covers(bureau):
        raise Problem(404, "not-found", "该局不在您的管辖范围内")
    return region_prefix(bureau)


def _query(prefix: str, classes: tuple[str, ...]):
    open_alert = exists().where(Alert.uscc == RiskEnterprise.uscc, Alert.status != "closed")
    open_issue = exists().where(OpenIssue.uscc == RiskEnterprise.uscc, OpenIssue.status == "open")
    return (select(RiskEnterprise, RiskClass)
            .outerjoin(RiskClass, RiskClass.uscc == RiskEnterprise.uscc)
            .where(RiskEnterprise.region_code.startswith(prefix))
            .where(or_(RiskClass.risk_class.in_(classes), open_alert, open_issue)))


async def _details(s, usccs: list[str]) -> tuple[dict, dict]:
    alerts, issues = defaultdict(list), defaultdict(list)
    for a in (await s.execute(select(Alert).where(Alert.uscc.in_(usccs), Alert.status != "closed").order_by(Alert.raised_at))).scalars():
        alerts[a.uscc].append({"id": a.id, "rule": a.rule, "rule_name": RULES[a.rule].name if a.rule in RULES else a.rule,
                               "status": a.status, "reason": a.reason, "raised_at": a.raised_at})
    for i in (await s.execute(select(OpenIssue).where(OpenIssue.uscc.in_(usccs), OpenIssue.status == "open").order_by(OpenIssue.since))).scalars():
        issues[i.uscc].append({"kind": i.kind, "name": ISSUE_NAMES.get(i.kind, i.kind), "ref": i.ref, "since": i.since, "summary": i.summary})
    return alerts, issues


def _row(e: RiskEnterprise, c: RiskClass | None, alerts, issues) -> dict[str, Any]:
    return {"uscc": e.uscc, "name": e.name, "region_code": e.region_code,
            "class": c.risk_class if c else None, "score": c.score if c else None, "model_version": c.model_version if c else None,
            "why": why(c.contributions) if c else [], "open_alerts": alerts.get(e.uscc, []), "open_issues": issues.get(e.uscc, [])}


async def page(ctx, p: Principal, params: PageParams, bureau: str | None, classes: tuple[str, ...] = ("C", "D")) -> dict[str, Any]:
    prefix = scope_prefix(p, bureau)
    async with ctx.db.session() as s:
        rows = (await s.execute(keyset(_query(prefix, classes), [RiskEnterprise.uscc], params))).all()
        pg = page_of(rows, params, lambda r: [r[0].uscc])
        alerts, issues = await _details(s, [r[0].uscc for r in pg["rows"]])
    return {"items": [_row(e, c, alerts, issues) for e, c in pg["rows"]], "next_cursor": pg["next_cursor"], "limit": params.limit}


async def xlsx(ctx, p: Principal, bureau: str | None) -> bytes:
    prefix = scope_prefix(p, bureau)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("问题企业工作台帐")
    ws.append(["统一社会信用代码", "企业名称", "地区代码", "所在市", "风险分类", "分类含义", "评分", "评分卡版本",
               "主要因素（前三）", "未关闭预警", "未结事项"])
    params = PageParams(cursor=None, limit=2000)
    n = 0
    async with ctx.db.session() as s:
        while True:
            rows = (await s.execute(keyset(_query(prefix, ("C", "D")), [RiskEnterprise.uscc], params))).all()
            pg = page_of(rows, params, lambda r: [r[0].uscc])
            alerts, issues = await _details(s, [r[0].uscc for r in pg["rows"]])
            for e, c in pg["rows"]:
                r = _row(e, c, alerts, issues)
                cells = [r["uscc"], r["name"], r["region_code"], city_name((r["region_code"] or "")[:4] + "00"),
                         r["class"], CLASS_NAMES.get(r["class"] or "", ""), r["score"], r["model_version"],
                         "；".join(f"{w['name']}（{w['bin']}，+{w['points']:g}）" for w in r["why"]),
                         "；".join(f"{a['rule_name']}：{a['reason']}" for a in r["open_alerts"]),
                         "；".join(f"{i['name']}：{i['summary']}" for i in r["open_issues"])]
                ws.append([neutralise(v) for v in cells])
                n += 1
            if not pg["next_cursor"] or n >= EXPORT_MAX:
                break
            params = PageParams(cursor=pg["next_cursor"], limit=2000)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
