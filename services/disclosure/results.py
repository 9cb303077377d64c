"""Results to publish (一公开): one per inspected site, from the inspection's events; entry by the
county (录入), review by another official of that bureau or the city (审核), publication; the
20-working-day deadline; corrections and withdrawals as new versions."""
from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, false, func, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import ColumnElement

from shared import audit
from shared.auth import Principal, reads_province, region_prefix
from shared.calendar import CalendarYearMissing, WorkCalendar, default_calendar
from shared.db import first_or_404, utcnow
from shared.errors import Problem
from shared.etag import require_if_match
from shared.vocabulary import FOLLOW_UP_MEASURES, RESULT_CATEGORIES, city_name, city_of, county_of

from . import publication, tx
from .models import Correction, PlanSetting, Result, ResultVersion, kernel

DUE_WORKDAYS = 20
SOON_WORKDAYS = 5
CHINA = ZoneInfo("Asia/Shanghai")
OPEN = ("pending", "submitted", "returned")
STATUS_LABELS = {"pending": "待录入", "submitted": "待审核", "returned": "审核退回", "published": "已公示", "withdrawn": "已撤回"}
TYPE_LABELS = {"random": "双随机抽查", "directed": "定向抽查"}
BUREAUS = ("city_admin", "county_admin")


# ---------------------------------------------------------------- calendar, today
def calendar(ctx) -> WorkCalendar:
    return ctx.extras.get("calendar") or default_calendar


def today(ctx) -> dt.date:
    fn = ctx.extras.get("today")
    return fn() if fn else dt.datetime.now(CHINA).date()


def due_date(cal: WorkCalendar, completed_on: dt.date) -> tuple[dt.date | None, str | None]:
    """completion + 20 working days, or (None, why) when the calendar lacks a year: said, not guessed."""
    try:
        return cal.add_workdays(completed_on, DUE_WORKDAYS), None
    except CalendarYearMissing as exc:
        return None, exc.detail


def soon_limit(ctx) -> dt.date:
    return calendar(ctx).add_workdays(today(ctx), SOON_WORKDAYS)


# ---------------------------------------------------------------- vocabulary checks
def check_outcome(categories: list[str], follow_up: str | None, field: str = "") -> None:
    errors = []
    for i, code in enumerate(categories):
        if code not in RESULT_CATEGORIES:
            errors.append({"field": f"{field}categories.{i}", "message": f"未知的检查结果类别代码 {code}"})
    if len(set(categories)) != len(categories):
        errors.append({"field": f"{field}categories", "message": "检查结果类别重复"})
    if "no_problem" in categories and len(categories) > 1:
        errors.append({"field": f"{field}categories", "message": "“未发现问题”不能与其他类别同时选择"})
    if follow_up is not None and follow_up not in FOLLOW_UP_MEASURES:
        errors.append({"field": f"{field}follow_up", "message": f"未知的后续处置措施代码 {follow_up}"})
    if errors:
        raise Problem(422, "validation", "输入数据校验失败", detail="；".join(e["message"] for e in errors), errors=errors)


def labelled(categories: list[str]) -> list[dict]:
    return [{"code": c, "label": RESULT_CATEGORIES.get(c, c)} for c in categories]


def _known(codes) -> list[str]:
    return [c for c in (codes or []) if c in RESULT_CATEGORIES]


# ---------------------------------------------------------------- public content (no personal data)
def public_content(r: Result, plan: PlanSetting | None) -> dict[str, Any]:
    """What anyone may read: the enterprise, the authority, type, plan, date, result. Never the
    names of officials or enterprise staff, nor free text written by people."""
    kind = "directed" if plan and plan.directed else "random"
    return {
        "id": r.id,
        "uscc": r.uscc,
        "enterprise_name": r.enterprise_name,
        "region_code": r.region_code,
        "authority": {"code": r.bureau_code, "name": r.bureau_name},
        "type": {"code": kind, "label": TYPE_LABELS[kind]},
        "plan": {"id": r.plan_id, "name": r.plan_name, "number": plan.number if plan else None},
        "completed_on": r.completed_on.isoformat(),
        "categories": labelled(r.categories),
        "follow_up": {"code": r.follow_up, "label": FOLLOW_UP_MEASURES.get(r.follow_up)} if r.follow_up else None,
    }


def result_out(r: Result, on: dt.date | None = None) -> dict[str, Any]:
    out = {
        "id": r.id, "record_id": r.record_id, "task_id": r.task_id, "plan_id": r.plan_id, "plan_name": r.plan_name,
        "uscc": r.uscc, "enterprise_name": r.enterprise_name, "site_id": r.site_id, "region_code": r.region_code,
        "city_code": r.city_code, "county_code": r.county_code, "bureau": {"code": r.bureau_code, "name": r.bureau_name},
        "completed_on": r.completed_on, "due_on": r.due_on, "due_problem": r.due_problem, "inspected": r.inspected,
        "suggested": r.suggested, "suggestion_source": r.suggestion_source, "needs_correction": r.needs_correction,
        "categories": labelled(r.categories), "follow_up": r.follow_up,
        "follow_up_label": FOLLOW_UP_MEASURES.get(r.follow_up) if r.follow_up else None, "remark": r.remark,
        "status": r.status, "status_label": STATUS_LABELS.get(r.status, r.status),
        "entered_by": r.entered_by, "entered_at": r.entered_at, "reviewed_by": r.reviewed_by, "reviewed_at": r.reviewed_at,
        "review_note": r.review_note, "published_at": r.published_at, "published_version": r.published_version,
        "overdue_flagged_at": r.overdue_flagged_at, "correction_pending": r.correction_pending, "version": r.version,
    }
    if on is not None and r.status in OPEN and r.due_on is not None:
        out["overdue"] = r.due_on < on
    return out


# ---------------------------------------------------------------- jurisdiction in SQL
def scope(p: Principal) -> ColumnElement:
    """Province administration and province discipline: all; bureaus and city/county discipline
    groups: their region."""
    if reads_province(p):
        return true()
    if p.has(*BUREAUS, "discipline"):
        return Result.region_code.startswith(p.prefix)
    raise Problem(403, "forbidden", "无权执行此操作", detail="需要角色：省局管理员、市局管理员、县局管理员或驻局纪检监察组")


async def get_visible(s: AsyncSession, p: Principal, result_id: str, *, for_update: bool = False) -> Result:
    row = await first_or_404(s, select(Result).where(Result.id == result_id, scope(p)), "检查结果", result_id, for_update=for_update)
    return row[0]


def deadline_clause(ctx, which: str) -> ColumnElement:
    on = today(ctx)
    open_ = Result.status.in_(OPEN)
    if which == "open":
        return open_
    if which == "overdue":
        return and_(open_, Result.due_on < on)
    if which == "soon":
        return and_(open_, Result.due_on >= on, Result.due_on <= soon_limit(ctx))
    if which == "unknown":
        return and_(open_, Result.due_on.is_(None))
    raise Problem(422, "validation", errors=[{"field": "deadline", "message": "取值应为 open、soon、overdue 或 unknown"}])


async def deadline_summary(ctx, p: Principal) -> tuple[list[dict], dt.date | None]:
    """Per bureau: results still to publish, due within 5 working days, overdue, due date unknown."""
    on = today(ctx)
    try:
        soon = soon_limit(ctx)
    except CalendarYearMissing:  # the next 5 working days reach an unloaded year: that column is unknown, the rest stands
        soon = None
    open_ = Result.status.in_(OPEN)

    def count(cond):
        return func.sum(case((and_(open_, cond), 1), else_=0))

    q = (select(Result.bureau_code, func.max(Result.bureau_name), func.max(Result.city_code),
                count(true()), count(and_(Result.due_on >= on, Result.due_on <= soon) if soon else false()), count(Result.due_on < on),
                count(Result.due_on.is_(None)), func.sum(case((Result.status == "published", 1), else_=0)))
         .where(scope(p)).group_by(Result.bureau_code).order_by(Result.bureau_code))
    async with ctx.db.session() as s:
        rows = (await s.execute(q)).all()
    return [{"bureau": {"code": b, "name": n}, "city_code": c, "open": int(o or 0), "due_within_5_workdays": int(sn or 0),
             "overdue": int(od or 0), "due_unknown": int(u or 0), "published": int(pb or 0)} for b, n, c, o, sn, od, u, pb in rows], soon


async def city_summary(ctx, p: Principal) -> list[dict]:
    """Per city, in the caller's jurisdiction: completed inspections (records), inspected sites, published
    results, results still to publish and those past the 20-working-day deadline."""
    on = today(ctx)
    open_ = Result.status.in_(OPEN)

    def count(cond):
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    q = (select(Result.city_code, func.count(), count(Result.inspected.is_(True)), count(Result.status == "published"),
                count(open_), count(and_(open_, Result.due_on < on)))
         .where(scope(p)).group_by(Result.city_code).order_by(Result.city_code))
    async with ctx.db.session() as s:
        rows = (await s.execute(q)).all()
    return [{"city_code": c, "city_name": city_name(c), "results": int(n), "inspected": int(i), "published": int(pb), "open": int(o),
             "overdue": int(od)} for c, n, i, pb, o, od in rows]


# ---------------------------------------------------------------- from events
REQUIRED = ("record_id", "plan_id", "uscc", "enterprise_name", "region_code", "completed_on")


def _parse(data: dict) -> dict:
    missing = [k for k in REQUIRED if not data.get(k)]
    if missing:
        raise ValueError(f"事件缺少字段: {', '.join(missing)}")
    region = str(data["region_code"])
    bureau = data.get("bureau") or {}
    county = data.get("county_code") or county_of(region)
    city = data.get("city_code") or city_of(region)
    bureau_code = bureau.get("region_code") or county or city
    outcome = data.get("outcome") or {}
    follow = outcome.get("follow_up")
    return {
        "record_id": str(data["record_id"])[:64], "task_id": data.get("task_id"), "plan_id": str(data["plan_id"])[:64],
        "plan_name": (data.get("plan_name") or None) and str(data["plan_name"])[:200],
        "uscc": str(data["uscc"])[:18], "enterprise_name": str(data["enterprise_name"])[:200],
        "site_id": data.get("site_id"), "region_code": region[:6], "city_code": str(city)[:6],
        "county_code": county, "bureau_code": str(bureau_code)[:6],
        "bureau_name": str(bureau.get("name") or f"{bureau_code} 市场监督管理局")[:100],
        "completed_on": dt.date.fromisoformat(str(data["completed_on"])[:10]),
        "inspected": bool(data.get("inspected", True)),
        "suggested": {"categories": _known(outcome.get("categories")), "follow_up": follow if follow in FOLLOW_UP_MEASURES else None},
    }


async def ingest_record(s: AsyncSession, cal: WorkCalendar, data: dict, source: str, actor: str) -> Result:
    """``inspection.record.submitted`` / ``.amended``: create the result or take the new outcome."""
    f = _parse(data)
    r = (await s.execute(select(Result).where(Result.record_id == f["record_id"]))).scalars().first()
    now = utcnow()
    if r is None:
        due, why = due_date(cal, f["completed_on"])
        r = Result(**f, categories=list(f["suggested"]["categories"]), follow_up=f["suggested"]["follow_up"],
                   suggestion_source=source, due_on=due, due_problem=why, created_at=now)
        s.add(r)
        await s.flush()
        await audit.append(s, kernel, actor=actor, action="result.received", entity_type="result", entity_id=r.id,
                           after=f, detail={"source": source, "due_on": due.isoformat() if due else None, "due_problem": why})
        return r
    before = result_out(r)
    _take_suggestion(r, f["suggested"], source)
    if r.status in OPEN:  # facts of the inspection follow the amended record until publication
        for k in ("enterprise_name", "plan_name", "site_id", "inspected", "bureau_name"):
            setattr(r, k, f[k])
        if f["completed_on"] != r.completed_on:
            r.completed_on = f["completed_on"]
            r.due_on, r.due_problem = due_date(cal, r.completed_on)
    r.version += 1
    await audit.append(s, kernel, actor=actor, action="result.source_changed", entity_type="result", entity_id=r.id,
                       before=before, after=result_out(r), detail={"source": source, "needs_correction": r.needs_correction})
    return r


async def take_case_closed(s: AsyncSession, data: dict, actor: str) -> Result:
    """``rectification.case.closed``: what the published result should now say."""
    record_id = data.get("record_id")
    if not record_id:
        raise ValueError("事件缺少 record_id")
    r = (await s.execute(select(Result).where(Result.record_id == record_id))).scalars().first()
    if r is None:  # the record's event has not arrived yet: retried, then parked for replay
        raise LookupError(f"检查记录 {record_id} 的结果尚未收到")
    disc = data.get("disclosure") or {}
    follow = disc.get("follow_up")
    before = result_out(r)
    _take_suggestion(r, {"categories": _known(disc.get("categories")), "follow_up": follow if follow in FOLLOW_UP_MEASURES else None},
                     f"rectification case {data.get('case_id')}")
    r.version += 1
    await audit.append(s, kernel, actor=actor, action="result.source_changed", entity_type="result", entity_id=r.id,
                       before=before, after=result_out(r), detail={"source": "rectification.case.closed", "case_id": data.get("case_id")})
    return r


def _take_suggestion(r: Result, suggested: dict, source: str) -> None:
    r.suggested, r.suggestion_source = suggested, source[:100]
    if r.status == "pending":  # nothing entered yet: the form starts from the new outcome
        r.categories, r.follow_up = list(suggested["categories"]), suggested["follow_up"]
    elif (list(r.categories), r.follow_up) != (list(suggested["categories"]), suggested["follow_up"]):
        r.needs_correction = True  # entered or published: a person decides (a correction is a new version)


def check_against_record(categories: list[str], suggested: dict | None) -> None:
    """What the sealed record (as amended, and as its rectification case closed) says bounds what may be
    published: no 未发现问题 for a record with findings or an enterprise not inspected (the rule
    inspection applies to a record's own outcome), no 未发现经营活动 for a record with findings; checked at
    entry and again at approval (the record may be amended in between). The bureau chooses among the rest; a wrong record is
    corrected by the team's amendment, not over it here."""
    known = set((suggested or {}).get("categories") or [])
    message = None
    if known and "no_problem" in categories and known != {"no_problem"}:
        message = "检查记录有问题或未实施检查，不能公示为未发现问题；记录有误请由检查组提出更正"
    elif known & {"problem_pending", "problem_corrected"} and "no_activity" in categories:
        message = "检查记录发现了问题，不能公示为未发现开展本次抽查涉及的经营活动"
    if message:
        raise Problem(422, "outcome-contradicts-record", "检查结果与检查记录不符", detail=message,
                      errors=[{"field": "categories", "message": message}])


# ---------------------------------------------------------------- 录入 → 审核 → 公示
async def enter(ctx, p: Principal, result_id: str, body, request) -> Result:
    check_outcome(body.categories, body.follow_up)
    async with tx.write(ctx) as s:
        r = await get_visible(s, p, result_id, for_update=True)
        require_if_match(request, r.version)
        check_against_record(list(body.categories), r.suggested)
        if r.status not in ("pending", "returned", "submitted"):
            raise Problem(409, "result-not-editable", "结果已公示，不能再录入", detail="已公示的结果只能更正或撤回（形成新版本）")
        before = result_out(r)
        r.categories, r.follow_up, r.remark = list(body.categories), body.follow_up, body.remark
        r.status, r.entered_by, r.entered_at = "submitted", p.sub, utcnow()
        r.reviewed_by = r.reviewed_at = r.review_note = None
        r.version += 1
        await ctx.audit(s, p, "result.entered", "result", r.id, before=before, after=result_out(r))
    return r


async def review(ctx, p: Principal, result_id: str, body, request) -> Result:
    """审核: return to the enterer, or approve, which publishes (by group commit, see ``publication``)."""
    if body.decision == "return":
        async with tx.write(ctx) as s:
            r = await get_visible(s, p, result_id, for_update=True)
            require_if_match(request, r.version)
            _check_review(p, r)
            before = result_out(r)
            r.reviewed_by, r.reviewed_at, r.review_note = p.sub, utcnow(), body.note
            r.status = "returned"
            r.version += 1
            await ctx.audit(s, p, "result.returned", "result", r.id, before=before, after=result_out(r))
        return r

    async def approve(s: AsyncSession, r: Result) -> publication.Change:
        _check_review(p, r)
        check_outcome(r.categories, r.follow_up)
        if not r.categories or not r.follow_up:
            raise Problem(422, "validation", "结果不完整", errors=[{"field": "categories", "message": "公示前须录入检查结果和后续处置措施"}])
        check_against_record(list(r.categories), r.suggested)  # the record may have changed since the entry (an amendment)
        r.reviewed_by, r.reviewed_at, r.review_note = p.sub, utcnow(), body.note
        r.status, r.needs_correction = "published", False
        r.version += 1
        return publication.Change("published", "result.published")

    return await publication.publish(ctx, p, result_id, request, approve)


def _check_review(p: Principal, r: Result) -> None:
    if r.status != "submitted":
        raise Problem(409, "result-not-submitted", "结果尚未提交审核", detail=f"当前状态：{STATUS_LABELS.get(r.status, r.status)}")
    _four_eyes(p, r, r.entered_by)


def _four_eyes(p: Principal, r: Result, entered_by: str | None) -> None:
    """Review by another official: never the one who entered; a county reviewer only of his own bureau, or the city."""
    if entered_by == p.sub:
        raise Problem(403, "reviewer-is-enterer", "审核人不能是录入人", detail="须由本局或市局的另一名工作人员审核")
    if p.has("county_admin") and not p.has("city_admin") and p.region != r.bureau_code:
        raise Problem(403, "reviewer-not-of-bureau", "审核人不属于该检查实施机关", detail="须由本局或市局的工作人员审核")


# ---------------------------------------------------------------- corrections after publication (four eyes)
CORRECTION_LABELS = {"submitted": "待审核", "approved": "已公示", "returned": "审核退回"}


def correction_out(c: Correction) -> dict[str, Any]:
    return {"id": c.id, "result_id": c.result_id, "categories": labelled(c.categories), "follow_up": c.follow_up,
            "follow_up_label": FOLLOW_UP_MEASURES.get(c.follow_up), "reason": c.reason, "status": c.status,
            "status_label": CORRECTION_LABELS.get(c.status, c.status), "entered_by": c.entered_by, "entered_at": c.entered_at,
            "reviewed_by": c.reviewed_by, "reviewed_at": c.reviewed_at, "review_note": c.review_note,
            "published_version": c.published_version}


async def _open_correction(s: AsyncSession, result_id: str) -> Correction | None:
    q = select(Correction).where(Correction.result_id == result_id, Correction.status == "submitted").with_for_update()
    return (await s.execute(q)).scalars().first()


async def correct(ctx, p: Principal, result_id: str, body, request) -> tuple[Result, Correction]:
    """更正录入: a correction of a published result, with its reason; published only when another
    official approves it (``review_correction``). One correction waits at a time."""
    check_outcome(body.categories, body.follow_up)
    async with tx.write(ctx) as s:
        r = await get_visible(s, p, result_id, for_update=True)
        require_if_match(request, r.version)
        if r.status != "published":
            raise Problem(409, "result-not-published", "只有已公示的结果可以更正", detail=f"当前状态：{STATUS_LABELS.get(r.status, r.status)}")
        if r.correction_pending or await _open_correction(s, r.id) is not None:
            raise Problem(409, "correction-pending", "已有一项更正待审核", detail="请先审核或退回待审核的更正")
        if (list(body.categories), body.follow_up) == (list(r.categories), r.follow_up):
            raise Problem(422, "correction-unchanged", "更正内容与当前公示内容相同")
        check_against_record(list(body.categories), r.suggested)
        before = result_out(r)
        c = Correction(result_id=r.id, categories=list(body.categories), follow_up=body.follow_up, reason=body.reason,
                       entered_by=p.sub, entered_at=utcnow())
        s.add(c)
        r.correction_pending = True
        r.version += 1
        await s.flush()
        await ctx.audit(s, p, "result.correction_entered", "result", r.id, before=before, after=result_out(r),
                        detail={"correction_id": c.id, "reason": body.reason, "categories": c.categories, "follow_up": c.follow_up})
    return r, c


async def review_correction(ctx, p: Principal, result_id: str, body, request) -> tuple[Result, Correction]:
    """更正审核: another official than the one who entered it (same rule as the original review).
    Approval publishes the correction as a new version superseding the previous one
    (``inspection_result.corrected`` on the feed and by webhook); return sends it back."""
    found: dict[str, Correction] = {}

    async def pending(s: AsyncSession, r: Result) -> Correction:
        c = await _open_correction(s, r.id)
        if c is None or r.status != "published":
            raise Problem(409, "no-correction-pending", "没有待审核的更正", detail=f"当前状态：{STATUS_LABELS.get(r.status, r.status)}")
        _four_eyes(p, r, c.entered_by)
        return c

    if body.decision == "return":
        async with tx.write(ctx) as s:
            r = await get_visible(s, p, result_id, for_update=True)
            require_if_match(request, r.version)
            c = await pending(s, r)
            before = result_out(r)
            c.status, c.reviewed_by, c.reviewed_at, c.review_note = "returned", p.sub, utcnow(), body.note
            r.correction_pending = False
            r.version += 1
            await ctx.audit(s, p, "result.correction_returned", "result", r.id, before=before, after=result_out(r),
                            detail={"correction_id": c.id, "note": body.note})
        return r, c

    async def approve(s: AsyncSession, r: Result) -> publication.Change:
        c = found["c"] = await pending(s, r)
        check_against_record(list(c.categories), r.suggested)  # as at its entry: the record may have changed since
        c.status, c.reviewed_by, c.reviewed_at, c.review_note = "approved", p.sub, utcnow(), body.note
        c.published_version = r.published_version + 1
        r.categories, r.follow_up = list(c.categories), c.follow_up
        r.needs_correction = r.correction_pending = False
        r.version += 1
        return publication.Change("corrected", "result.corrected", c.reason,
                                  {"correction_id": c.id, "reason": c.reason, "entered_by": c.entered_by})

    r = await publication.publish(ctx, p, result_id, request, approve)
    return r, found["c"]


async def corrections(ctx, p: Principal, result_id: str) -> list[dict]:
    async with ctx.db.session() as s:
        await get_visible(s, p, result_id)
        rows = (await s.execute(select(Correction).where(Correction.result_id == result_id).order_by(Correction.entered_at, Correction.id))).scalars()
        return [correction_out(c) for c in rows]


async def withdraw(ctx, p: Principal, result_id: str, body, request) -> Result:
    async def apply(s: AsyncSession, r: Result) -> publication.Change:
        if r.status != "published":
            raise Problem(409, "result-not-published", "只有已公示的结果可以撤回", detail=f"当前状态：{STATUS_LABELS.get(r.status, r.status)}")
        r.status = "withdrawn"
        r.version += 1
        return publication.Change("withdrawn", "result.withdrawn", body.reason, {"reason": body.reason})

    return await publication.publish(ctx, p, result_id, request, apply)


def committed(ctx, r: Result, handed: list) -> None:
    hook = ctx.extras.get("on_publish_commit")
    if hook:
        hook(r.id)
    dispatcher = ctx.extras.get("dispatcher")
    if dispatcher is not None:
        dispatcher.hand_over(handed)


async def versions(ctx, p: Principal, result_id: str) -> list[dict]:
    async with ctx.db.session() as s:
        await get_visible(s, p, result_id)
        rows = (await s.execute(select(ResultVersion).where(ResultVersion.result_id == result_id).order_by(ResultVersion.version))).scalars()
        return [{"version": v.version, "kind": v.kind, "seq": v.seq, "reason": v.reason, "actor": v.actor, "at": v.at,
                 "content": v.content} for v in rows]


def list_filters(q, ctx, *, status=None, plan_id=None, uscc=None, region=None, deadline=None, needs_correction=None):
    if status:
        q = q.where(Result.status == status)
    if plan_id:
        q = q.where(Result.plan_id == plan_id)
    if uscc:
        q = q.where(Result.uscc == uscc)
    if region:
        q = q.where(Result.region_code.startswith(region_prefix(region)))
    if deadline:
        q = q.where(deadline_clause(ctx, deadline))
    if needs_correction is not None:
        q = q.where(Result.needs_correction.is_(needs_correction))
    return q


# ---------------------------------------------------------------- timer work (one replica at a time)
async def flag_overdue(ctx, limit: int = 500) -> int:
    """Emit ``disclosure.result.overdue`` once per result past its due date and not published
    (the city and the province consume it), and fill in due dates of years loaded since."""
    on = today(ctx)
    cal = calendar(ctx)
    n = 0
    async with tx.write(ctx) as s:
        missing = (await s.execute(select(Result).where(Result.due_on.is_(None), Result.status.in_(OPEN)).limit(limit))).scalars().all()
        for r in missing:
            due, why = due_date(cal, r.completed_on)
            if due is not None:
                r.due_on, r.due_problem = due, None
                await ctx.audit(s, "system:deadline-timer", "result.due_computed", "result", r.id, detail={"due_on": due.isoformat()})
        rows = (await s.execute(select(Result).where(Result.status.in_(OPEN), Result.due_on < on, Result.overdue_flagged_at.is_(None))
                                .order_by(Result.due_on, Result.id).limit(limit).with_for_update())).scalars().all()
        for r in rows:
            r.overdue_flagged_at = utcnow()
            await ctx.emit(s, "result", "overdue", {"result_id": r.id, "uscc": r.uscc, "enterprise_name": r.enterprise_name,
                                                   "region_code": r.region_code, "city_code": r.city_code, "bureau_code": r.bureau_code,
                                                   "plan_id": r.plan_id, "completed_on": r.completed_on.isoformat(),
                                                   "due_on": r.due_on.isoformat(), "status": r.status}, subject_id=r.id)
            await ctx.audit(s, "system:deadline-timer", "result.overdue_flagged", "result", r.id, detail={"due_on": r.due_on.isoformat()})
            n += 1
    return n

