"""HTTP routes of the sampling service (thin: parse, call the domain, shape the response)."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from shared.schemas import json_response
from shared.auth import bearer_token, require_roles
from shared.contract import op
from shared.etag import set_etag
from shared.pagination import PageParams
from shared.service import CtxDep

from . import draws, plans
from . import schemas as S
from .plans import ADMIN_ROLES, READ_ROLES
from .schemas import AbandonIn, DrawIn, DrawOut, PlanIn, PlanOut, PlanPatch, ReplacementIn, ReplacementOut, SeedConfirmIn, SeedIn, TemplateIn

router = APIRouter(tags=["抽查计划与抽取"])
public_router = APIRouter(tags=["公开（一公开）"])
Admin = require_roles(*ADMIN_ROLES)
Reader = require_roles(*READ_ROLES)
PageDep = Annotated[PageParams, Depends()]


def _plan_response(plan, status: int = 200) -> JSONResponse:
    resp = JSONResponse(plans.plan_dict(plan), status_code=status)
    set_etag(resp, plan.version)
    return resp


def _draw_response(d, status: int = 200) -> JSONResponse:
    resp = JSONResponse(draws.draw_dict(d), status_code=status)
    set_etag(resp, d.version)
    return resp


@router.post("/plans", summary="新建抽查计划", **op(PlanOut, status=201, etag=True, location=True, idempotent=True))
async def create_plan(body: PlanIn, request: Request, ctx: CtxDep, principal=Admin):
    return await plans.create(ctx, request, principal, body)


@router.post("/plans/from-template/notice-2022-181", summary="按晋市监函〔2022〕181号模板新建计划", **op(PlanOut, status=201, etag=True, location=True, idempotent=True))
async def create_plan_from_template(request: Request, ctx: CtxDep, principal=Admin, body: TemplateIn | None = None):
    return await plans.create_from_template(ctx, request, principal, body or TemplateIn())


@router.get("/plans", summary="抽查计划列表", **op(PlanOut, page=True))
async def list_plans(ctx: CtxDep, page: PageDep, principal=Reader, status: Literal["draft", "approved"] | None = None):
    return await plans.list_plans(ctx, principal, page, status)


@router.get("/plans/{plan_id}", summary="抽查计划详情", **op(PlanOut, etag=True))
async def get_plan(plan_id: str, ctx: CtxDep, principal=Reader):
    async with ctx.db.session() as s:
        return _plan_response(await plans.get_visible(s, principal, plan_id))


@router.patch("/plans/{plan_id}", summary="修改草稿计划（需 If-Match）", **op(PlanOut, etag=True, if_match=True))
async def patch_plan(plan_id: str, body: PlanPatch, request: Request, ctx: CtxDep, principal=Admin):
    return _plan_response(await plans.update(ctx, request, principal, plan_id, body))


@router.post("/plans/{plan_id}/approve", summary="批准计划（需 If-Match）", **op(PlanOut, etag=True, if_match=True))
async def approve_plan(plan_id: str, request: Request, ctx: CtxDep, principal=Admin):
    return _plan_response(await plans.approve(ctx, request, principal, plan_id))


@router.get("/plans/{plan_id}/preview", summary="预览各层企业数与抽取数（不冻结）", **op(S.PreviewOut, problems=(502, 503)))
async def preview_plan(plan_id: str, request: Request, ctx: CtxDep, principal=Admin):
    return await plans.preview(ctx, principal, plan_id, bearer_token(request))


@router.post("/draws", summary="新建抽取（企业或检查人员）", **op(DrawOut, status=201, etag=True, location=True, idempotent=True))
async def create_draw(body: DrawIn, request: Request, ctx: CtxDep, principal=Admin):
    return await draws.create(ctx, request, principal, body)


@router.get("/draws", summary="抽取列表", **op(DrawOut, page=True))
async def list_draws(ctx: CtxDep, page: PageDep, principal=Reader, plan_id: str | None = None):
    return await draws.list_draws(ctx, principal, page, plan_id)


@router.get("/draws/{draw_id}", summary="抽取详情", **op(DrawOut, etag=True))
async def get_draw(draw_id: str, ctx: CtxDep, principal=Reader):
    async with ctx.db.session() as s:
        return _draw_response(await draws.get_visible_draw(s, principal, draw_id))


@router.get("/draws/{draw_id}/units", summary="冻结总体名单（分页）", **op(S.UnitOut, page=True))
async def list_units(draw_id: str, ctx: CtxDep, page: PageDep, principal=Reader, stratum: str | None = None, selected: bool | None = None):
    return json_response(await draws.list_units(ctx, principal, draw_id, page, stratum, selected))


@router.post("/draws/{draw_id}/freeze", summary="冻结总体（从名录库读取一次，公布摘要）", **op(DrawOut, etag=True, problems=(502, 503)))
async def freeze(draw_id: str, request: Request, ctx: CtxDep, principal=Admin):
    return _draw_response(await draws.freeze(ctx, request, principal, draw_id, bearer_token(request)))


@router.post("/draws/{draw_id}/seed", summary="种子仪式：录入种子", **op(DrawOut, etag=True))
async def enter_seed(draw_id: str, body: SeedIn, request: Request, ctx: CtxDep, principal=Admin):
    return _draw_response(await draws.enter_seed(ctx, request, principal, draw_id, body))


@router.post("/draws/{draw_id}/seed/confirm", summary="种子仪式：第二名工作人员确认", **op(DrawOut, etag=True))
async def confirm_seed(draw_id: str, body: SeedConfirmIn, request: Request, ctx: CtxDep, principal=Admin):
    return _draw_response(await draws.confirm_seed(ctx, request, principal, draw_id, body))


@router.post("/draws/{draw_id}/commit", summary="执行抽取并提交（不可更改）", **op(DrawOut, etag=True))
async def commit(draw_id: str, request: Request, ctx: CtxDep, principal=Admin):
    return _draw_response(await draws.commit(ctx, request, principal, draw_id))


@router.post("/draws/{draw_id}/replacements", summary="记录替补（按签序取下一家）", **op(ReplacementOut, status=201, idempotent=True))
async def replace(draw_id: str, body: ReplacementIn, request: Request, ctx: CtxDep, principal=Admin):
    return await draws.replace(ctx, request, principal, draw_id, body)


@router.post("/draws/{draw_id}/abandon", summary="作废抽取（另一名省局工作人员，须说明理由，公开）", **op(DrawOut, etag=True))
async def abandon(draw_id: str, body: AbandonIn, request: Request, ctx: CtxDep, principal=Admin):
    return _draw_response(await draws.abandon(ctx, request, principal, draw_id, body.reason))


@router.get("/draws/{draw_id}/verify", summary="按冻结总体与种子重新计算并比对", **op(S.VerifyOut))
async def verify(draw_id: str, ctx: CtxDep, principal=Reader):
    return await draws.verify_draw(ctx, principal, draw_id)


@router.get("/draws/{draw_id}/export", summary="导出抽取（总体、摘要、种子、参数、结果）",
            **op(None, media_type=("application/json", "text/csv")))
async def export(draw_id: str, ctx: CtxDep, principal=Reader, format: Literal["json", "csv"] = Query("json")):
    exp = await draws.export(ctx, principal, draw_id)
    name = f"draw-{draw_id}.{format}"
    if format == "csv":
        return Response(draws.export_csv_bytes(exp), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})
    return Response(draws.export_json_bytes(exp), media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@public_router.get("/public/draws/{draw_id}", summary="公开抽取结果（无需令牌）", **op(S.PublicDrawOut))
async def public_draw(draw_id: str, ctx: CtxDep):
    return await draws.public_view(ctx, draw_id)


@public_router.get("/public/plans/{plan_id}", summary="公开抽查计划（规则、偏离模板之处、全部抽取记录，无需令牌）", **op(S.PublicPlanOut))
async def public_plan(plan_id: str, ctx: CtxDep):
    return await draws.public_plan(ctx, plan_id)
