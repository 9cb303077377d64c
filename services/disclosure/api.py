"""HTTP routes of the disclosure service (thin: parse, call the domain, shape the answer)."""
from __future__ import annotations

import asyncio
import hashlib
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy import select

from shared import idempotency
from shared.auth import Principal, PrincipalDep, reads_province, require_roles
from shared.contract import op
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import set_etag
from shared.pagination import PageParams, keyset, page_of
from shared.schemas import IsoDate, json_response
from shared.service import CtxDep

from . import export as export_domain
from . import feed
from . import results as rd
from . import schemas as S
from . import webhooks as wh
from .models import Delivery, DeliveryAttempt, Message, PlanSetting, Result, Subscription
from .public import client_address
from .schemas import (CityReportOut, CorrectionBody, CorrectionList, EntryBody, PlanSettingBody, ReplayBody, ResultWithCorrectionOut,
                      ReviewBody, RotateBody, SubscriptionCreate, SubscriptionPatch, WithdrawalBody)

router = APIRouter(tags=["检查结果公示"])
public_router = APIRouter(tags=["公开查询（无需令牌）"])
Page = Annotated[PageParams, Depends()]
Region = Annotated[str | None, Query(pattern=r"^\d{6}$")]
BUREAU_STAFF = ("county_admin", "city_admin")
SENIOR = ("city_admin", "province_admin")
HISTORY = ("discipline", "province_admin", "city_admin", "county_admin")


# ---------------------------------------------------------------- plan settings
@router.put("/plans/{plan_id}/settings", summary="计划的公示设置（文号、是否定向抽查）", **op(S.PlanSettingOut, etag=True, if_match="optional"))
async def put_plan_setting(plan_id: str, body: PlanSettingBody, request: Request, ctx: CtxDep,
                           response: Response, principal: Principal = require_roles("province_admin")):
    if len(plan_id) > 64:
        raise Problem(422, "validation", errors=[{"field": "plan_id", "message": "长度过长"}])
    async with ctx.db.transaction() as s:
        ps = await s.get(PlanSetting, plan_id, with_for_update=True)
        if ps is None:
            if request.headers.get("if-match") not in (None, "*"):
                raise Problem(412, detail="计划设置尚不存在")
            ps = PlanSetting(plan_id=plan_id, number=body.number, directed=body.directed, updated_by=principal.sub, updated_at=utcnow())
            s.add(ps)
            before = None
        else:
            from shared.etag import require_if_match

            require_if_match(request, ps.version)
            before = {"number": ps.number, "directed": ps.directed}
            ps.number, ps.directed, ps.version = body.number, body.directed, ps.version + 1
            ps.updated_by, ps.updated_at = principal.sub, utcnow()
        await ctx.audit(s, principal, "plan_setting.saved", "plan_setting", plan_id, before=before, after=body.model_dump())
        out = {"plan_id": ps.plan_id, "number": ps.number, "directed": ps.directed, "version": ps.version}
    set_etag(response, out["version"])
    return out


@router.get("/plans/{plan_id}/settings", summary="计划的公示设置", **op(S.PlanSettingOut, etag=True))
async def get_plan_setting(plan_id: str, ctx: CtxDep, response: Response, _: Principal = require_roles(*HISTORY)):
    async with ctx.db.session() as s:
        ps = await s.get(PlanSetting, plan_id)
    if ps is None:
        raise not_found("计划公示设置", plan_id)
    set_etag(response, ps.version)
    return {"plan_id": ps.plan_id, "number": ps.number, "directed": ps.directed, "version": ps.version}


# ---------------------------------------------------------------- results (internal)
@router.get("/results", summary="检查结果列表（按管辖范围；deadline=open|soon|overdue|unknown 为应公示、5个工作日内到期、已逾期、期限未知）",
            **op(S.ResultOut, page=True))
async def list_results(
    ctx: CtxDep, principal: PrincipalDep, page: Page,
    status: Annotated[str | None, Query(pattern="^(pending|submitted|returned|published|withdrawn)$")] = None,
    plan_id: Annotated[str | None, Query(max_length=64)] = None,
    uscc: Annotated[str | None, Query(max_length=18)] = None,
    region: Region = None,
    deadline: Annotated[Literal["open", "soon", "overdue", "unknown"] | None, Query()] = None,
    needs_correction: bool | None = None,
):
    q = rd.list_filters(select(Result).where(rd.scope(principal)), ctx, status=status, plan_id=plan_id, uscc=uscc, region=region,
                        deadline=deadline, needs_correction=needs_correction)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Result.id], page))).scalars())
    p = page_of(rows, page, lambda r: [r.id])
    on = rd.today(ctx)
    return json_response({"items": [rd.result_out(r, on) for r in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/deadlines", summary="各检查实施机关：应公示、5个工作日内到期、已逾期（20个工作日）", **op(S.DeadlinesOut))
async def deadlines(ctx: CtxDep, principal: PrincipalDep):
    rd.scope(principal)
    items, soon = await rd.deadline_summary(ctx, principal)
    out = {"today": rd.today(ctx), "soon_until": soon, "items": items}
    if soon is None:
        out["notice"] = "未来 5 个工作日跨入尚未载入节假日安排的年份，“5个工作日内到期”暂无法计算；请先导入该年安排"
    return out


@router.get("/report/cities", summary="按市汇总：已完成检查、已检查、已公示、应公示、逾期未公示（按管辖范围）", **op(CityReportOut))
async def city_report(ctx: CtxDep, principal: PrincipalDep):
    return json_response({"today": rd.today(ctx), "items": await rd.city_summary(ctx, principal)})


@router.get("/results/{result_id}", summary="检查结果详情（内部）", **op(S.ResultOut, etag=True))
async def get_result(result_id: str, ctx: CtxDep, principal: PrincipalDep, response: Response):
    async with ctx.db.session() as s:
        r = await rd.get_visible(s, principal, result_id)
    set_etag(response, r.version)
    return rd.result_out(r, rd.today(ctx))


@router.get("/results/{result_id}/versions", summary="公示版本历史（发布、更正、撤回）", **op(S.ResultVersionListOut))
async def result_versions(result_id: str, ctx: CtxDep, principal: Principal = require_roles(*HISTORY)):
    return {"items": await rd.versions(ctx, principal, result_id)}


async def _answer(r: Result, response: Response) -> dict:
    set_etag(response, r.version)
    return rd.result_out(r)


@router.put("/results/{result_id}/entry", summary="录入检查结果（县局；提交审核）", **op(S.ResultOut, etag=True, if_match=True))
async def enter_result(result_id: str, body: EntryBody, request: Request, ctx: CtxDep, response: Response,
                       principal: Principal = require_roles(*BUREAU_STAFF)):
    return await _answer(await rd.enter(ctx, principal, result_id, body, request), response)


@router.post("/results/{result_id}/review", summary="审核（本局或市局的另一名工作人员）；通过即公示", **op(S.ResultOut, etag=True, if_match=True))
async def review_result(result_id: str, body: ReviewBody, request: Request, ctx: CtxDep, response: Response,
                        principal: Principal = require_roles(*BUREAU_STAFF)):
    return await _answer(await rd.review(ctx, principal, result_id, body, request), response)


@router.post("/results/{result_id}/corrections", summary="更正已公示的结果（新版本，须说明理由）", **op(S.ResultOut, etag=True, if_match=True))
async def correct_result(result_id: str, body: CorrectionBody, request: Request, ctx: CtxDep, response: Response,
                         principal: Principal = require_roles("county_admin", *SENIOR)):
    r, c = await rd.correct(ctx, principal, result_id, body, request)
    return {**await _answer(r, response), "correction": rd.correction_out(c)}


@router.post("/results/{result_id}/corrections/review", summary="审核更正（录入人以外的本局或市局工作人员）；通过即公示为新版本",
             **op(ResultWithCorrectionOut, etag=True, if_match=True))
async def review_correction(result_id: str, body: ReviewBody, request: Request, ctx: CtxDep, response: Response,
                            principal: Principal = require_roles(*BUREAU_STAFF)):
    r, c = await rd.review_correction(ctx, principal, result_id, body, request)
    return {**await _answer(r, response), "correction": rd.correction_out(c)}


@router.get("/results/{result_id}/corrections", summary="更正记录（录入、审核、公示版本）", **op(CorrectionList))
async def list_corrections(result_id: str, ctx: CtxDep, principal: Principal = require_roles(*HISTORY)):
    return {"items": await rd.corrections(ctx, principal, result_id)}


@router.post("/results/{result_id}/withdrawal", summary="撤回已公示的结果（新版本，须说明理由）", **op(S.ResultOut, etag=True, if_match=True))
async def withdraw_result(result_id: str, body: WithdrawalBody, request: Request, ctx: CtxDep, response: Response,
                          principal: Principal = require_roles(*SENIOR)):
    return await _answer(await rd.withdraw(ctx, principal, result_id, body, request), response)


@router.get("/exports/results", summary="导出已公示的结果（CSV / XLSX，供手工上传公示系统）",
            **op(None, media_type=("text/csv", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")))
async def export_results(
    ctx: CtxDep, principal: Principal = require_roles("province_admin", "city_admin", "county_admin"),
    format: Literal["csv", "xlsx"] = "csv", plan_id: Annotated[str | None, Query(max_length=64)] = None, region: Region = None,
):
    q = rd.list_filters(select(Result.public).where(rd.scope(principal), Result.status == "published"), ctx, plan_id=plan_id, region=region)
    limit = ctx.settings.export_max_rows
    async with ctx.db.session() as s:
        contents = list((await s.execute(q.order_by(Result.completed_on, Result.id).limit(limit + 1))).scalars())
    if len(contents) > limit:
        raise Problem(422, "export-too-large", "导出范围过大", detail=f"超过 {limit} 条，请按计划或地区缩小范围")
    stamp = rd.today(ctx).strftime("%Y%m%d")
    if format == "xlsx":
        data = await asyncio.to_thread(export_domain.to_xlsx, contents)
        return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": f'attachment; filename="results-{stamp}.xlsx"'})
    data = await asyncio.to_thread(export_domain.to_csv, contents)
    return Response(data, media_type="text/csv; charset=utf-8", headers={"Content-Disposition": f'attachment; filename="results-{stamp}.csv"'})


# ---------------------------------------------------------------- pull feed (credit_system)
@router.get("/feed", summary="拉取数据流：全部发布、更正、撤回，全序，可从任一游标续取（信用公示系统）", **op(S.FeedOut))
async def pull_feed(ctx: CtxDep, after: Annotated[str | None, Query(max_length=200)] = None,
                    limit: Annotated[int, Query(ge=1, le=1000)] = 200, _: Principal = require_roles("credit_system", "province_admin")):
    return json_response(await feed.read(ctx, after, limit))


# ---------------------------------------------------------------- subscriptions (province admin)
ADMIN = require_roles("province_admin")


def _province_reader(principal: Principal = require_roles("province_admin", "discipline")) -> Principal:
    """Subscriptions and deliveries concern the whole province: province-level accounts only."""
    if not reads_province(principal):
        raise Problem(403, "out-of-jurisdiction", "超出管辖范围", detail="订阅与推送记录覆盖全省，仅限省级账号查阅")
    return principal


ProvinceReader = Annotated[Principal, Depends(_province_reader)]


@router.post("/subscriptions", summary="创建 Webhook 订阅（密钥只显示一次）",
             **op(S.SubscriptionWithSecretOut, status=201, etag=True, idempotent=True))
async def create_subscription(body: SubscriptionCreate, request: Request, ctx: CtxDep, principal: Principal = ADMIN):
    await wh.check_url(body.url, ctx.settings, wh.resolver_of(ctx))

    async def run(s):
        out = await wh.create_subscription(ctx, s, principal, body)
        return 201, out, out["version"]

    return await idempotency.idempotent_write(ctx, request, principal.sub, "subscriptions", body.model_dump(), run)


@router.get("/subscriptions", summary="Webhook 订阅列表", **op(S.SubscriptionOut, page=True))
async def list_subscriptions(ctx: CtxDep, page: Page, _: ProvinceReader):
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(select(Subscription), [Subscription.id], page))).scalars())
    p = page_of(rows, page, lambda r: [r.id])
    return {"items": [wh.subscription_out(x) for x in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit}


@router.get("/subscriptions/{sub_id}", summary="Webhook 订阅详情", **op(S.SubscriptionOut, etag=True))
async def get_subscription(sub_id: str, ctx: CtxDep, response: Response, _: ProvinceReader):
    async with ctx.db.session() as s:
        sub = await wh.get_subscription(s, sub_id)
    set_etag(response, sub.version)
    return wh.subscription_out(sub)


@router.patch("/subscriptions/{sub_id}", summary="修改订阅（地址、事件类型、说明、启用/停用）", **op(S.SubscriptionOut, etag=True, if_match=True))
async def patch_subscription(sub_id: str, body: SubscriptionPatch, request: Request, ctx: CtxDep, response: Response, principal: Principal = ADMIN):
    sub = await wh.update_subscription(ctx, principal, sub_id, body, request)
    set_etag(response, sub.version)
    return wh.subscription_out(sub)


@router.post("/subscriptions/{sub_id}/rotate-secret", summary="轮换密钥（重叠期内新旧两个签名）", **op(S.SubscriptionWithSecretOut, etag=True, if_match=True))
async def rotate_secret(sub_id: str, request: Request, ctx: CtxDep, response: Response, body: RotateBody | None = None, principal: Principal = ADMIN):
    out = await wh.rotate_secret(ctx, principal, sub_id, body.overlap_hours if body else None, request)
    set_etag(response, out["version"])
    return out


@router.get("/subscriptions/{sub_id}/deliveries", summary="投递日志", **op(S.DeliveryOut, page=True))
async def list_deliveries(sub_id: str, ctx: CtxDep, page: Page, _: ProvinceReader,
                          status: Annotated[str | None, Query(pattern="^(pending|succeeded|failed)$")] = None):
    q = select(Delivery, Message).join(Message, Message.id == Delivery.message_id).where(Delivery.subscription_id == sub_id)
    if status:
        q = q.where(Delivery.status == status)
    async with ctx.db.session() as s:
        await wh.get_subscription(s, sub_id)
        rows = list((await s.execute(keyset(q, [Delivery.id], page))).all())
    p = page_of(rows, page, lambda r: [r[0].id])
    return json_response({"items": [wh.delivery_out(d, m) for d, m in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/subscriptions/{sub_id}/deliveries/{delivery_id}", summary="一次投递及其全部尝试（状态码、耗时）", **op(S.DeliveryDetailOut))
async def get_delivery(sub_id: str, delivery_id: str, ctx: CtxDep, _: ProvinceReader):
    async with ctx.db.session() as s:
        row = (await s.execute(select(Delivery, Message).join(Message, Message.id == Delivery.message_id)
                               .where(Delivery.id == delivery_id, Delivery.subscription_id == sub_id))).first()
        if row is None:
            raise not_found("投递", delivery_id)
        attempts = (await s.execute(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)
                                    .order_by(DeliveryAttempt.id).limit(200))).scalars().all()
    return {**wh.delivery_out(*row), "attempt_log": [
        {"attempt": a.attempt, "at": a.at, "status_code": a.status_code, "latency_ms": a.latency_ms, "error": a.error,
         "next_attempt_at": a.next_attempt_at} for a in attempts]}


@router.post("/subscriptions/{sub_id}/deliveries/{delivery_id}/replay", summary="重放一次投递（同一 webhook-id）", **op(S.DeliveryOut))
async def replay_delivery(sub_id: str, delivery_id: str, ctx: CtxDep, principal: Principal = ADMIN):
    return await wh.replay_delivery(ctx, principal, sub_id, delivery_id)


@router.post("/subscriptions/{sub_id}/replay", summary="重放某时间以来的全部消息", **op(S.ReplaySinceOut))
async def replay_since(sub_id: str, body: ReplayBody, ctx: CtxDep, principal: Principal = ADMIN):
    return await wh.replay_since(ctx, principal, sub_id, body.since)


# ---------------------------------------------------------------- public (no token)
def _limited(request: Request) -> None:
    ctx = request.app.state.ctx
    ctx.extras["rate_limiter"].check(client_address(request, ctx.settings.proxies()))


def _cached(request: Request, body: bytes) -> Response:
    tag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers = {"ETag": tag, "Cache-Control": "public, max-age=60", "Vary": "Accept-Encoding"}
    inm = request.headers.get("if-none-match")
    if inm and (inm.strip() == "*" or tag in [t.strip().removeprefix("W/") for t in inm.split(",")]):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="application/json", headers=headers)


@public_router.get("/public/results", summary="公开查询抽查检查结果（无需令牌，按来源地址限流）", dependencies=[Depends(_limited)],
                   **op(S.PublicResultOut, page=True, etag=True, problems=(429,), openapi_extra={"responses": {"304": {"description": "未修改（If-None-Match 与 ETag 相同）"}}}))
async def public_results(
    request: Request, ctx: CtxDep, page: Page,
    uscc: Annotated[str | None, Query(max_length=18)] = None, region: Region = None,
    plan: Annotated[str | None, Query(max_length=64)] = None,
    date_from: IsoDate | None = None, date_to: IsoDate | None = None,
):
    from shared.auth import region_prefix

    q = select(Result.id, Result.public).where(Result.status == "published")
    if uscc:
        q = q.where(Result.uscc == uscc)
    if region:
        q = q.where(Result.region_code.startswith(region_prefix(region)))
    if plan:
        q = q.where(Result.plan_id == plan)
    if date_from:
        q = q.where(Result.completed_on >= date_from)
    if date_to:
        q = q.where(Result.completed_on <= date_to)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Result.id], page))).all())
    p = page_of(rows, page, lambda r: [r[0]])
    return _cached(request, json_response({"items": [r[1] for r in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit}).body)


@public_router.get("/public/results/{result_id}", summary="公开查询一条检查结果（当前版本；已更正的注明）", dependencies=[Depends(_limited)],
                   **op(S.PublicResultOut, etag=True, problems=(429,), openapi_extra={"responses": {"304": {"description": "未修改（If-None-Match 与 ETag 相同）"}}}))
async def public_result(result_id: str, request: Request, ctx: CtxDep):
    async with ctx.db.session() as s:
        row = (await s.execute(select(Result.public).where(Result.id == result_id[:32], Result.status.in_(("published", "withdrawn"))))).first()
    if row is None or row[0] is None:
        raise not_found("检查结果", result_id[:32])
    return _cached(request, json_response(row[0]).body)
