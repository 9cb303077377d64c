"""Dispatched tasks: acceptance (接收) by the city/county bureau, bureau-supplied information, overdue flags."""
from __future__ import annotations

from sqlalchemy import select

from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match

from .models import Task, Visit
from .scope import task_filter, today


def task_out(t: Task, on: object | None = None, visit: Visit | None = None) -> dict:
    out = {
        "id": t.id, "assignment_id": t.assignment_id, "plan_id": t.plan_id, "team_id": t.team_id,
        "uscc": t.uscc, "enterprise_name": t.enterprise_name, "site_id": t.site_id, "site_address": t.site_address,
        "region_code": t.region_code, "city_code": t.city_code, "county_code": t.county_code, "categories": t.categories,
        "status": t.status, "dispatched_at": t.dispatched_at, "accept_by": t.accept_by,
        "accepted_at": t.accepted_at, "accepted_by": t.accepted_by, "accepted_by_name": t.accepted_by_name,
        "bureau_info": t.bureau_info, "bureau_info_by": t.bureau_info_by, "bureau_info_at": t.bureau_info_at,
        "cancelled_at": t.cancelled_at, "cancel_reason": t.cancel_reason, "amendment_id": t.amendment_id,
        "version": t.version,
    }
    if on is not None:
        out["overdue"] = t.status == "dispatched" and on > t.accept_by
    if visit is not None:
        out["visit"] = {"id": visit.id, "date": visit.visit_date, "slot": visit.slot}
    return out


def overdue_clause(on):
    return (Task.status == "dispatched") & (Task.accept_by < on)


async def get_task(s, principal: Principal, task_id: str) -> Task:
    t = (await s.execute(select(Task).where(Task.id == task_id, task_filter(principal)))).scalars().first()
    if t is None:
        raise not_found("检查任务", task_id)
    return t


def _ensure_bureau_of(principal: Principal, t: Task, what: str) -> None:
    """Only the county bureau of the site's county or the city bureau of its city may act."""
    ok = (principal.has("county_admin") and t.county_code is not None and principal.region == t.county_code) or (
        principal.has("city_admin") and principal.region == t.city_code)
    if not ok:
        raise Problem(403, "forbidden", "无权执行此操作", detail=f"{what}须由任务所在县（区）局或市局办理")


async def accept(ctx, principal: Principal, task_id: str, note: str | None, rid: str | None) -> Task:
    async with ctx.db.transaction() as s:
        t = await get_task(s, principal, task_id)
        _ensure_bureau_of(principal, t, "接收任务")
        if t.status != "dispatched":
            raise Problem(409, "task-accepted", "任务已接收", detail=f"该任务已于 {t.accepted_at.isoformat()} 由 {t.accepted_by} 接收")
        before = task_out(t)
        now = utcnow()
        t.status, t.accepted_at, t.accepted_by = "accepted", now, principal.sub
        t.accepted_by_name, t.accepted_by_region = principal.name, principal.region
        late = today(ctx) > t.accept_by
        t.version += 1
        await s.flush()
        data = {"task_id": t.id, "team_id": t.team_id, "plan_id": t.plan_id, "uscc": t.uscc, "site_id": t.site_id,
                "accepted_by": principal.sub, "accepted_by_name": principal.name, "accepted_by_region": principal.region,
                "accepted_at": now, "late": late, "note": note}
        await ctx.emit(s, "task", "accepted", data, subject_id=t.id, request_id=rid, actor=principal.sub)
        await ctx.audit(s, principal, "task.accepted", "task", t.id, before=before, after=task_out(t), detail={"note": note, "late": late}, request_id=rid)
        return t


async def supply_bureau_info(ctx, principal: Principal, task_id: str, info: dict, request, rid: str | None) -> Task:
    async with ctx.db.transaction() as s:
        t = await get_task(s, principal, task_id)
        _ensure_bureau_of(principal, t, "提供企业材料与现场信息")
        require_if_match(request, t.version)
        if t.status != "accepted":
            raise Problem(409, "task-not-accepted", "任务尚未接收", detail="请先接收任务，再提供发证时现场留存材料清单等信息")
        before = task_out(t)
        now = utcnow()
        t.bureau_info, t.bureau_info_by, t.bureau_info_at = info, principal.sub, now
        t.version += 1
        await s.flush()
        data = {"task_id": t.id, "team_id": t.team_id, "plan_id": t.plan_id, "uscc": t.uscc, "site_id": t.site_id,
                "bureau_info": info, "supplied_by": principal.sub, "supplied_at": now}
        await ctx.emit(s, "task", "bureau_info_supplied", data, subject_id=t.id, request_id=rid, actor=principal.sub)
        await ctx.audit(s, principal, "task.bureau_info_supplied", "task", t.id, before=before, after=task_out(t), request_id=rid)
        return t
