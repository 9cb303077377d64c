"""HTTP routes of the scheduling service (thin: parse, call the domain, shape the answer)."""
from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from shared import idempotency
from shared.auth import Principal, PrincipalDep, require_roles
from shared.contract import op
from shared.errors import Problem, not_found
from shared.etag import set_etag
from shared.schemas import IsoDate, json_response
from shared.pagination import PageParams, keyset, page_of
from shared.service import CtxDep, request_id

from . import tasks as task_domain
from . import teams as team_domain
from . import amendments as amendment_domain
from . import schemas as S
from .models import Amendment, Assignment, NotInspected, Task, Team, Visit
from .schemas import AcceptBody, AssignmentCreate, BureauInfo, ReportSubmit, SubstitutionCreate, TaskCancel, TaskOut, VisitOut
from .scope import enterprises_in_view, reads_all, task_filter, team_filter, today

router = APIRouter(tags=["检查组与任务派发"])
Page = Annotated[PageParams, Depends()]
ADMIN = ("province_admin",)
READERS = ("province_admin", "discipline")


def assignment_reader(principal: PrincipalDep) -> Principal:
    """An assignment holds every region's teams: the province administration and a province-level
    discipline account only (a city's discipline group reads its region's teams and tasks)."""
    if not principal.has(*READERS):
        raise Problem(403, "forbidden", "无权执行此操作", detail="需要角色：省局管理员、驻局纪检监察组")
    if not reads_all(principal):
        raise Problem(403, "out-of-jurisdiction", "超出管辖范围", detail="检查组组建结果覆盖全省，仅限省级账号查阅")
    return principal


# ---------------------------------------------------------------- assignments
@router.post("/plans/{plan_id}/assignments", summary="组建检查组并派发任务（按抽取结果）", **op(S.AssignmentFormedOut, status=201, idempotent=True))
async def create_assignment(plan_id: str, body: AssignmentCreate, request: Request, ctx: CtxDep, principal: Principal = require_roles(*ADMIN)):
    async def run(s):
        out = await team_domain.form(ctx, s, principal, plan_id, body.enterprise_draw_id, body.inspector_draw_id, request_id(request))
        return 201, out, None

    return await idempotency.idempotent_write(ctx, request, principal.sub, f"assignments:{plan_id}", body.model_dump(), run)


@router.get("/assignments", summary="检查组组建结果列表", **op(S.AssignmentOut, page=True))
async def list_assignments(ctx: CtxDep, page: Page, plan_id: str | None = None, _: Principal = Depends(assignment_reader)):
    q = select(Assignment)
    if plan_id:
        q = q.where(Assignment.plan_id == plan_id)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Assignment.id], page))).scalars())
    p = page_of(rows, page, lambda a: [a.id])
    return {"items": [team_domain.assignment_out(a) for a in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit}


@router.get("/assignments/{assignment_id}", summary="检查组组建结果（含完整确定性结果）", **op(S.AssignmentDetailOut))
async def get_assignment(assignment_id: str, ctx: CtxDep, _: Principal = Depends(assignment_reader)):
    import json

    async with ctx.db.session() as s:
        a = await s.get(Assignment, assignment_id)
    if a is None:
        raise not_found("检查组组建结果", assignment_id)
    return {**team_domain.assignment_out(a), "result": json.loads(a.result)}


@router.get("/assignments/{assignment_id}/verify", summary="复算并验证组建结果（逐字节一致）", **op(S.VerifyOut))
async def verify_assignment(assignment_id: str, ctx: CtxDep, _: Principal = Depends(assignment_reader)):
    return await team_domain.verify(ctx, assignment_id)


@router.get("/assignments/{assignment_id}/amendments", summary="组建后的变更记录（有序、哈希链接）", **op(S.AmendmentOut, page=True))
async def list_amendments(assignment_id: str, ctx: CtxDep, page: Page, _: Principal = Depends(assignment_reader)):
    q = select(Amendment).where(Amendment.assignment_id == assignment_id)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Amendment.seq], page))).scalars())
    p = page_of(rows, page, lambda a: [a.seq])
    return json_response({"items": [amendment_domain.amendment_out(a) for a in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/not-inspected", summary="因停产、转产等原因未实施检查的企业（跟踪名单）", **op(S.NotInspectedOut, page=True))
async def list_not_inspected(ctx: CtxDep, page: Page, plan_id: str | None = None,
                             principal: Principal = require_roles("province_admin", "city_admin", "county_admin", "discipline")):
    q = select(NotInspected).where(NotInspected.region_code.startswith(principal.prefix))
    if plan_id:
        q = q.where(NotInspected.plan_id == plan_id)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [NotInspected.id], page))).scalars())
    p = page_of(rows, page, lambda r: [r.id])
    items = [{"id": r.id, "plan_id": r.plan_id, "assignment_id": r.assignment_id, "uscc": r.uscc, "enterprise_name": r.enterprise_name,
              "region_code": r.region_code, "reason": r.reason, "source": r.source, "replaced_by": r.replaced_by,
              "amendment_id": r.amendment_id, "follow_up": r.follow_up, "recorded_at": r.recorded_at} for r in p["rows"]]
    return json_response({"items": items, "next_cursor": p["next_cursor"], "limit": page.limit})


# ---------------------------------------------------------------- teams
@router.get("/teams", summary="检查组列表", **op(S.TeamOut, page=True))
async def list_teams(
    ctx: CtxDep, principal: PrincipalDep, page: Page,
    plan_id: str | None = None, assignment_id: str | None = None, city_code: str | None = None,
    report_missing: Annotated[bool | None, Query(description="true：已过汇总上报日期仍未上报")] = None,
):
    q = select(Team).where(team_filter(principal))
    if plan_id:
        q = q.where(Team.plan_id == plan_id)
    if assignment_id:
        q = q.where(Team.assignment_id == assignment_id)
    if city_code:
        q = q.where(Team.city_code == city_code)
    on = today(ctx)
    if report_missing is True:
        q = q.where(Team.report_submitted_at.is_(None), Team.report_date < on)
    elif report_missing is False:
        q = q.where(~(Team.report_submitted_at.is_(None) & (Team.report_date < on)))
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Team.id], page))).scalars())
        p = page_of(rows, page, lambda t: [t.id])
        visible = await enterprises_in_view(s, principal, p["rows"])
    items = [{**team_domain.team_out(t), "enterprises": visible[t.id], "report_missing": t.report_submitted_at is None and on > t.report_date}
             for t in p["rows"]]
    return json_response({"items": items, "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/teams/{team_id}", summary="检查组详情（成员及角色）", **op(S.TeamDetailOut, etag=True))
async def get_team(team_id: str, ctx: CtxDep, principal: PrincipalDep, response: Response):
    async with ctx.db.session() as s:
        team, members = await team_domain.get_team(s, principal, team_id)
        visible = await enterprises_in_view(s, principal, [team])
    set_etag(response, team.version)
    on = today(ctx)
    return {**team_domain.team_out(team, members), "enterprises": visible[team.id], "report_summary": team.report_summary,
            "report_missing": team.report_submitted_at is None and on > team.report_date}


@router.post("/teams/{team_id}/substitutions", summary="替换检查组成员（同一人员库下一位符合条件者）", **op(S.SubstitutionOut, status=201, etag=True, idempotent=True, if_match=True))
async def substitute_member(team_id: str, body: SubstitutionCreate, request: Request, ctx: CtxDep, principal: Principal = require_roles(*ADMIN)):
    async def run(s):
        out, version = await team_domain.substitute(ctx, s, principal, team_id, body.person_id, body.reason, request, request_id(request))
        return 201, out, version

    return await idempotency.idempotent_write(ctx, request, principal.sub, f"substitution:{team_id}", body.model_dump(), run)


@router.post("/teams/{team_id}/report", summary="提交检查组汇总报告", **op(S.TeamReportOut, status=201, etag=True, idempotent=True))
async def submit_report(team_id: str, body: ReportSubmit, request: Request, ctx: CtxDep, principal: PrincipalDep):
    async def run(s):
        out, version = await team_domain.submit_report(ctx, s, principal, team_id, body.summary, request_id(request))
        return 201, out, version

    return await idempotency.idempotent_write(ctx, request, principal.sub, f"report:{team_id}", body.model_dump(), run)


# ---------------------------------------------------------------- tasks
@router.get("/tasks", summary="检查任务列表（按管辖范围）", **op(TaskOut, page=True))
async def list_tasks(
    ctx: CtxDep, principal: PrincipalDep, page: Page,
    plan_id: str | None = None, team_id: str | None = None, uscc: str | None = None,
    status: Annotated[str | None, Query(pattern="^(dispatched|accepted|cancelled)$")] = None,
    region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None,
    overdue: Annotated[bool | None, Query(description="true：超过接收期限仍未接收")] = None,
):
    from shared.auth import region_prefix

    q = select(Task).where(task_filter(principal))
    if plan_id:
        q = q.where(Task.plan_id == plan_id)
    if team_id:
        q = q.where(Task.team_id == team_id)
    if uscc:
        q = q.where(Task.uscc == uscc)
    if status:
        q = q.where(Task.status == status)
    if region:
        q = q.where(Task.region_code.startswith(region_prefix(region)))
    on = today(ctx)
    if overdue is True:
        q = q.where(task_domain.overdue_clause(on))
    elif overdue is False:
        q = q.where(~task_domain.overdue_clause(on))
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Task.id], page))).scalars())
    p = page_of(rows, page, lambda t: [t.id])
    return json_response({"items": [task_domain.task_out(t, on) for t in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/tasks/{task_id}", summary="检查任务详情", **op(TaskOut, etag=True))
async def get_task(task_id: str, ctx: CtxDep, principal: PrincipalDep, response: Response):
    async with ctx.db.session() as s:
        t = await task_domain.get_task(s, principal, task_id)
        visit = (await s.execute(select(Visit).where(Visit.task_id == t.id))).scalars().first()
    set_etag(response, t.version)
    return task_domain.task_out(t, today(ctx), visit)


@router.post("/tasks/{task_id}/accept", summary="市、县（区）局接收检查任务", **op(TaskOut, etag=True))
async def accept_task(task_id: str, request: Request, ctx: CtxDep, response: Response, body: AcceptBody | None = None,
                      principal: Principal = require_roles("city_admin", "county_admin")):
    t = await task_domain.accept(ctx, principal, task_id, body.note if body else None, request_id(request))
    set_etag(response, t.version)
    return task_domain.task_out(t, today(ctx))


@router.post("/tasks/{task_id}/cancel", summary="取消检查任务（须说明理由，记入变更记录；可列入未检查跟踪名单）",
             **op(S.TaskCancelledOut, etag=True, if_match=True))
async def cancel_task(task_id: str, body: TaskCancel, request: Request, ctx: CtxDep,
                      principal: Principal = require_roles(*ADMIN)):
    from shared.errors import Problem
    from shared.etag import require_if_match

    async with ctx.db.transaction() as s:
        t = await task_domain.get_task(s, principal, task_id)
        require_if_match(request, t.version)
        if t.status == "cancelled":
            raise Problem(409, "task-cancelled", "任务已取消", detail=f"该任务已于 {t.cancelled_at.isoformat()} 取消：{t.cancel_reason}")
        am = await amendment_domain.cancel_task(ctx, s, principal, t, body.reason, body.not_inspected, request_id(request))
        out = {**task_domain.task_out(t, today(ctx)), "amendment": amendment_domain.amendment_out(am)}
    resp = json_response(out)
    set_etag(resp, t.version)
    return resp


@router.put("/tasks/{task_id}/bureau-info", summary="提供发证时现场留存材料清单、企业状况、准确位置和在岗人员", **op(TaskOut, etag=True, if_match=True))
async def put_bureau_info(task_id: str, body: BureauInfo, request: Request, ctx: CtxDep, response: Response,
                          principal: Principal = require_roles("city_admin", "county_admin")):
    t = await task_domain.supply_bureau_info(ctx, principal, task_id, body.model_dump(), request, request_id(request))
    set_etag(response, t.version)
    return task_domain.task_out(t, today(ctx))


# ---------------------------------------------------------------- visits
@router.get("/visits", summary="检查日程（按管辖范围）", **op(VisitOut, page=True))
async def list_visits(
    ctx: CtxDep, principal: PrincipalDep, page: Page,
    plan_id: str | None = None, team_id: str | None = None,
    date_from: IsoDate | None = None, date_to: IsoDate | None = None,
    include_cancelled: Annotated[bool, Query(description="同时列出已取消的检查（任务取消或企业被替补）")] = False,
):
    q = select(Visit).where(task_filter(principal, Visit.region_code, Visit.team_id))
    if not include_cancelled:
        q = q.where(Visit.cancelled.is_(False))
    if plan_id:
        q = q.where(Visit.plan_id == plan_id)
    if team_id:
        q = q.where(Visit.team_id == team_id)
    if date_from:
        q = q.where(Visit.visit_date >= date_from)
    if date_to:
        q = q.where(Visit.visit_date <= date_to)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Visit.id], page))).scalars())
    p = page_of(rows, page, lambda v: [v.id])
    items = [{"id": v.id, "team_id": v.team_id, "task_id": v.task_id, "plan_id": v.plan_id, "date": v.visit_date, "slot": v.slot,
              "uscc": v.uscc, "site_id": v.site_id, "region_code": v.region_code, "categories": v.categories, "cancelled": v.cancelled}
             for v in p["rows"]]
    return json_response({"items": items, "next_cursor": p["next_cursor"], "limit": page.limit})
