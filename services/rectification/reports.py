"""The province's views: the roll-up per city and the 问题企业工作台帐 (ledger of problem
enterprises) with filters, cursor pages and an XLSX export. Everything is counted and filtered in SQL."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import and_, case as sql_case, func, select
from sqlalchemy.sql import Select

from shared.auth import Principal, reads_province, region_prefix
from shared.spreadsheet import xlsx_bytes
from shared.vocabulary import CITY_NAMES, city_name

from .cases import RESOLUTIONS, STATUS_LABELS
from .models import Case, Outcome
from .outcomes import KINDS
from .scope import case_filter

DUE_SOON_DAYS = 7
EXPORT_MAX_ROWS = 50_000


def _count(cond):
    return func.coalesce(func.sum(sql_case((cond, 1), else_=0)), 0)


async def rollup(s, principal: Principal, on: dt.date) -> dict:
    open_ = Case.status.in_(("open", "reported", "failed"))
    q = (select(Case.city_code,
                func.count().label("opened"),
                _count(open_).label("in_progress"),
                _count(and_(Case.status == "open", Case.deadline >= on, Case.deadline <= on + dt.timedelta(days=DUE_SOON_DAYS))).label("due"),
                _count(and_(Case.overdue.is_(True), Case.status != "closed")).label("overdue"),
                _count(Case.overdue.is_(True)).label("overdue_ever"),
                _count(Case.status == "reported").label("reported"),
                _count(Case.recheck_passed.is_(True)).label("passed"),
                _count(Case.recheck_passed.is_(False)).label("failed"),
                _count(Case.status == "closed").label("closed"),
                _count(Case.resolution.in_(("rectified", "fixed_on_site"))).label("rectified"),
                _count(Case.deadline_problem.is_not(None)).label("deadline_unknown"))
         .where(case_filter(principal)).group_by(Case.city_code).order_by(Case.city_code))
    rows = {r.city_code: dict(r._mapping) for r in (await s.execute(q)).all()}
    oq = (select(Case.city_code, Outcome.kind, Outcome.status, func.count().label("n"))
          .join(Case, Case.id == Outcome.case_id).where(case_filter(principal))
          .group_by(Case.city_code, Outcome.kind, Outcome.status))
    outcomes: dict[str, dict] = {}
    for r in (await s.execute(oq)).all():
        slot = outcomes.setdefault(r.city_code, {})
        slot.setdefault(r.kind, {"proposed": 0, "decided": 0, "rejected": 0})[r.status] = r.n
    cities = sorted(set(rows) | set(CITY_NAMES)) if reads_province(principal) else sorted(rows)
    zero = {"opened": 0, "in_progress": 0, "due": 0, "overdue": 0, "overdue_ever": 0, "reported": 0, "passed": 0, "failed": 0,
            "closed": 0, "rectified": 0, "deadline_unknown": 0}
    items = []
    for code in cities:
        r = {**zero, **{k: int(v) for k, v in rows.get(code, {}).items() if k != "city_code"}}
        items.append({"city_code": code, "city_name": city_name(code), **r, "outcomes": outcomes.get(code, {})})
    totals = {k: sum(i[k] for i in items) for k in zero}
    return {"on": on, "due_within_days": DUE_SOON_DAYS, "items": items, "totals": totals}


def ledger_query(principal: Principal, f: dict, on: dt.date) -> Select:
    q = select(Case).where(case_filter(principal))
    if f.get("region"):
        q = q.where(Case.region_code.startswith(region_prefix(f["region"])))
    if f.get("status"):
        q = q.where(Case.status == f["status"])
    if f.get("overdue") is not None:
        q = q.where(Case.overdue.is_(f["overdue"]))
    if f.get("recheck_failed"):
        q = q.where(Case.recheck_passed.is_(False))
    if f.get("uscc"):
        q = q.where(Case.uscc == f["uscc"])
    if f.get("plan_id"):
        q = q.where(Case.plan_id == f["plan_id"])
    if f.get("deadline_from"):
        q = q.where(Case.deadline >= f["deadline_from"])
    if f.get("deadline_to"):
        q = q.where(Case.deadline <= f["deadline_to"])
    if f.get("resolution"):
        q = q.where(Case.resolution == f["resolution"])
    if f.get("outcome_kind"):
        q = q.where(Case.id.in_(select(Outcome.case_id).where(Outcome.kind == f["outcome_kind"])))
    if f.get("q"):
        like = "%" + f["q"].replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        q = q.where(Case.enterprise_name.like(like, escape="\\"))
    return q


async def outcomes_of(s, case_ids: list[str]) -> dict[str, list[Outcome]]:
    out: dict[str, list[Outcome]] = {}
    if not case_ids:
        return out
    for o in (await s.execute(select(Outcome).where(Outcome.case_id.in_(case_ids)).order_by(Outcome.proposed_at))).scalars():
        out.setdefault(o.case_id, []).append(o)
    return out


def ledger_row(c: Case, outs: list[Outcome], on: dt.date) -> dict:
    return {
        "case_id": c.id, "uscc": c.uscc, "enterprise_name": c.enterprise_name, "site_address": c.site_address,
        "city_code": c.city_code, "city_name": city_name(c.city_code), "county_code": c.county_code, "region_code": c.region_code,
        "licences": [lic.get("number") for lic in c.licences], "handed_over_on": c.handed_over_on,
        "period": f"{c.period_value}{'个工作日' if c.period_unit == 'working_days' else '日'}", "deadline": c.deadline,
        "problems_total": c.problems_total, "problems_open": c.problems_open, "status": c.status,
        "status_label": STATUS_LABELS.get(c.status, c.status), "overdue": c.overdue, "recheck_passed": c.recheck_passed,
        "rechecked_on": c.rechecked_on, "resolution": c.resolution,
        "resolution_label": RESOLUTIONS[c.resolution][0] if c.resolution in RESOLUTIONS else None, "closed_on": c.closed_on,
        "outcomes": [{"id": o.id, "kind": o.kind, "kind_label": KINDS.get(o.kind, o.kind), "status": o.status,
                      "legal_basis": o.legal_basis} for o in outs],
    }


HEADERS = ["案件编号", "统一社会信用代码", "企业名称", "生产地址", "市", "县（区）", "许可证编号", "问题移交日期", "整改期限",
           "整改截止日期", "问题数", "未整改问题数", "状态", "是否逾期", "复查结论", "复查日期", "结案方式", "结案日期", "处理决定及依据"]


def ledger_cells(r: dict) -> list:
    recheck = None if r["recheck_passed"] is None else ("合格" if r["recheck_passed"] else "不合格")
    outs = "；".join(f"{o['kind_label']}（{ {'proposed': '待决定', 'decided': '已决定', 'rejected': '已驳回'}[o['status']] }）：{o['legal_basis']}"
                    for o in r["outcomes"])
    return [r["case_id"], r["uscc"], r["enterprise_name"], r["site_address"], r["city_name"], r["county_code"], r["licences"],
            r["handed_over_on"], r["period"], r["deadline"], r["problems_total"], r["problems_open"], r["status_label"], r["overdue"],
            recheck, r["rechecked_on"], r["resolution_label"], r["closed_on"], outs]


async def export_xlsx(ctx, principal: Principal, f: dict, on: dt.date) -> tuple[bytes, int]:
    """All matching rows (bounded), read in keyset batches, written by openpyxl in a worker thread."""
    import asyncio

    rows: list[list] = []
    after = ""
    async with ctx.db.session() as s:
        while len(rows) < EXPORT_MAX_ROWS:
            batch = list((await s.execute(ledger_query(principal, f, on).where(Case.id > after).order_by(Case.id).limit(1000))).scalars())
            if not batch:
                break
            outs = await outcomes_of(s, [c.id for c in batch])
            rows += [ledger_cells(ledger_row(c, outs.get(c.id, []), on)) for c in batch]
            after = batch[-1].id
    rows = rows[:EXPORT_MAX_ROWS]
    data = await asyncio.to_thread(xlsx_bytes, "问题企业工作台帐", HEADERS, rows)
    return data, len(rows)
