"""检查组汇总报告: each team's summary to 省局 by the plan's report date (11月20日前), built from the
records: enterprises inspected, not inspected and why, findings by checklist item and by product,
problems handed over; overdue flagged; submitted by the team leader (event
``inspection.team_report.submitted``) and exported as XLSX."""
from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Font
from sqlalchemy import exists, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, reads_province
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.spreadsheet import safe_cell
from shared.vocabulary import NOT_INSPECTED_REASONS, RESULT_CATEGORIES, category_name

from . import checklist, records
from .models import Membership, ProblemSummary, Record, Task, Team, TeamReport
from .scope import PEOPLE, REGION_READERS, member_of, today


def team_filter(p: Principal):
    if reads_province(p):
        return true()
    clauses = []
    if p.has(*REGION_READERS):
        clauses.append(exists().where(Task.team_id == Team.id, Task.region_code.startswith(p.prefix)))
    if p.has(*PEOPLE) and p.person_id:
        clauses.append(Team.id.in_(select(Membership.team_id).where(Membership.person_id == p.person_id)))
    if not clauses:
        raise Problem(403, "forbidden", "无权执行此操作", detail="检查组报告供省局、市县局和本组成员查看")
    return or_(*clauses)


async def get_team(s: AsyncSession, p: Principal, team_id: str) -> Team:
    t = (await s.execute(select(Team).where(Team.id == team_id, team_filter(p)))).scalars().first()
    if t is None:
        raise not_found("检查组", team_id)
    return t


async def region_in_view(s: AsyncSession, p: Principal, team: Team) -> str | None:
    """The region prefix a reader sees of a team's report: None (the whole team) for the province
    and the team's own members; a city or county bureau (and its discipline group) only the tasks,
    records and hand-overs in its region — a team spans counties, and seeing the team does not open
    the other counties' enterprises, findings and coming visits."""
    if reads_province(p):
        return None
    if p.has(*PEOPLE) and p.person_id and (await s.execute(
            select(Membership.team_id).where(Membership.team_id == team.id, Membership.person_id == p.person_id))).first():
        return None
    return p.prefix


async def build(ctx, s: AsyncSession, team: Team, region: str | None = None) -> dict:
    """The team's report; with ``region`` (a prefix) only what lies in that region."""
    q = select(Task).where(Task.team_id == team.id, Task.region_code != "")
    if region is not None:
        q = q.where(Task.region_code.startswith(region))
    tasks = list((await s.execute(q.order_by(Task.id))).scalars())
    recs = {r.task_id: r for r in (await s.execute(select(Record).where(Record.team_id == team.id))).scalars()}
    inspected, not_inspected, pending = [], [], []
    by_item: dict[str, int] = {}
    by_product: dict[str, int] = {}
    for t in tasks:
        r = recs.get(t.id)
        row = {"task_id": t.id, "uscc": t.uscc, "enterprise_name": t.enterprise_name, "site_address": t.site_address,
               "region_code": t.region_code, "categories": t.categories}
        if t.status == "cancelled":
            continue
        if r is None or r.state == "open":
            pending.append({**row, "record_id": r.id if r else None, "state": "open" if r else "not_started"})
            continue
        if r.state == "not_inspected":
            not_inspected.append({**row, "record_id": r.id, "reason": r.not_inspected["reason"], "reason_label": r.not_inspected["reason_label"],
                                  "detail": r.not_inspected["detail"], "completed_on": r.completed_on})
            continue
        full = await records.load(s, r)
        items = full.get("current_items") or full["items"]
        bad = [i for i in items if i["conclusion"] == "nonconforming"]
        for i in bad:
            by_item[i["code"]] = by_item.get(i["code"], 0) + 1
            for c in r.categories:
                by_product[c] = by_product.get(c, 0) + 1
        outcome = records.current_outcome(full)
        inspected.append({**row, "record_id": r.id, "completed_on": r.completed_on, "findings": len(bad),
                          "fixed_on_site": sum(1 for i in bad if i["fixed_on_site"]), "outcome": outcome,
                          "outcome_labels": [RESULT_CATEGORIES[c] for c in outcome["categories"]]})
    subs = {x["code"]: x for x in checklist.sub_items(checklist.CURRENT)}
    sq = select(ProblemSummary).where(ProblemSummary.team_id == team.id)
    if region is not None:
        sq = sq.where(ProblemSummary.region_code.startswith(region))
    summaries = list((await s.execute(sq.order_by(ProblemSummary.id))).scalars())
    handed = [{"summary_id": x.id, "uscc": x.uscc, "enterprise_name": x.enterprise_name, "problems": len(x.problems),
               "period": {"value": x.period_value, "unit": x.period_unit}, "handed_over_at": x.handed_over_at}
              for x in summaries if x.state == "handed_over"]
    on = today(ctx)
    submitted = await s.get(TeamReport, team.id)
    overdue = team.report_date is not None and (submitted.submitted_at.date() if submitted else on) > team.report_date
    return {
        "team_id": team.id, "plan_id": team.plan_id, "label": team.label, "city_code": team.city_code, "report_date": team.report_date,
        "region": region,
        "members": team.members, "overdue": overdue, "submitted": bool(submitted),
        "submitted_at": submitted.submitted_at if submitted else None,
        "counts": {"tasks": len(inspected) + len(not_inspected) + len(pending), "inspected": len(inspected), "not_inspected": len(not_inspected),
                   "pending": len(pending), "findings": sum(by_item.values()), "summaries_handed_over": len(handed),
                   "problems_handed_over": sum(h["problems"] for h in handed)},
        "inspected": inspected, "not_inspected": not_inspected, "pending": pending,
        "not_inspected_by_reason": {k: sum(1 for x in not_inspected if x["reason"] == k) for k in NOT_INSPECTED_REASONS if any(x["reason"] == k for x in not_inspected)},
        "findings_by_item": [{"code": c, "item_name": subs[c]["item_name"], "text": subs[c]["text"], "count": n}
                             for c, n in sorted(by_item.items(), key=lambda kv: [int(x) for x in kv[0].split(".")])],
        "findings_by_product": [{"category": c, "name": category_name(c), "count": n} for c, n in sorted(by_product.items())],
        "handed_over": handed,
    }


async def submit(ctx, s: AsyncSession, p: Principal, team_id: str, note: str | None, rid) -> dict:
    team = await get_team(s, p, team_id)
    me = await member_of(s, p, team.id)
    if me.get("role") != "leader":
        raise Problem(403, "leader-only", "汇总报告由组长提交", detail="检查组将监督检查情况汇总上报省局，由组长提交")
    if await s.get(TeamReport, team.id):
        raise Problem(409, "report-submitted", "本组汇总报告已提交")
    content = await build(ctx, s, team)
    if content["counts"]["pending"]:
        raise Problem(409, "records-pending", "尚有未完成的检查记录", detail=f"还有 {content['counts']['pending']} 户企业的检查记录未提交（含未开始）")
    now = utcnow()
    overdue = team.report_date is not None and today(ctx) > team.report_date
    content.update(overdue=overdue, submitted=True, submitted_at=now)
    from fastapi.encoders import jsonable_encoder

    s.add(TeamReport(team_id=team.id, plan_id=team.plan_id, report_date=team.report_date, overdue=overdue, content=jsonable_encoder(content),
                     note=note, submitted_by=p.sub, submitted_at=now))
    await s.flush()
    await ctx.emit(s, "team_report", "submitted", {"team_id": team.id, "plan_id": team.plan_id, "report_date": team.report_date, "submitted_at": now,
                                                   "overdue": overdue, "counts": content["counts"]}, subject_id=team.id, request_id=rid, actor=p.sub)
    await ctx.audit(s, p, "team_report.submitted", "team", team.id, after=content["counts"], detail={"overdue": overdue, "note": note}, request_id=rid)
    return content


def to_xlsx(rep: dict) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "汇总"
    ws.append([safe_cell(f"{rep['label'] or rep['team_id']} 监督检查情况汇总（报省局）")])
    ws["A1"].font = Font(size=14, bold=True)
    ws.append(["报告日期（计划）", str(rep["report_date"] or ""), "是否逾期", "是" if rep["overdue"] else "否"])
    for k, label in (("tasks", "任务数"), ("inspected", "已检查"), ("not_inspected", "未实施检查"), ("pending", "未完成"),
                     ("findings", "不符合项"), ("summaries_handed_over", "移交问题汇总表"), ("problems_handed_over", "移交问题数")):
        ws.append([label, rep["counts"][k]])
    s2 = wb.create_sheet("已检查企业")
    s2.append(["统一社会信用代码", "企业名称", "生产地址", "检查完成日期", "不符合项", "当场整改", "公示结果"])
    for x in rep["inspected"]:
        s2.append([safe_cell(v) for v in (x["uscc"], x["enterprise_name"], x["site_address"], str(x["completed_on"]), x["findings"],
                                          x["fixed_on_site"], "；".join(x["outcome_labels"]))])
    s3 = wb.create_sheet("未实施检查")
    s3.append(["统一社会信用代码", "企业名称", "原因", "详细记录", "日期"])
    for x in rep["not_inspected"]:
        s3.append([safe_cell(v) for v in (x["uscc"], x["enterprise_name"], x["reason_label"], x["detail"], str(x["completed_on"]))])
    s4 = wb.create_sheet("问题分布")
    s4.append(["检查项目", "检查内容", "不符合数"])
    for x in rep["findings_by_item"]:
        s4.append([safe_cell(v) for v in (f"{x['code']} {x['item_name']}", x["text"], x["count"])])
    s4.append([])
    s4.append(["产品类别", "", "不符合数"])
    for x in rep["findings_by_product"]:
        s4.append([x["name"], "", x["count"]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()



