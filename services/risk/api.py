"""HTTP routes of the risk service. Classes are internal (国市监信发〔2022〕6号): only province,
city and county admins and discipline read them, within their regions (SQL prefix filter,
404 outside); the lookup used by sampling at freeze time is for the province only."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy import select

from shared import idempotency
from shared.auth import Principal, bearer_token, region_prefix, require_roles
from shared.contract import op
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match, set_etag
from shared.pagination import PageParams, keyset, page_of
from shared.schemas import json_response
from shared.service import CtxDep

from . import alerts as alert_domain
from . import batch, engine, fitting, indicators, ledger, scorecard, sync, versions
from . import schemas as S
from .models import Alert, ClassChange, IndicatorValue, RiskClass, RiskEnterprise
from .schemas import AckIn, AlertNoteIn, DecisionIn, FitIn, LookupIn, ModelIn, RiskClassDetailOut, RiskClassOut

router = APIRouter(tags=["信用风险分类与预警"])
Page = Annotated[PageParams, Depends()]
READERS = ("province_admin", "city_admin", "county_admin", "discipline")
BUREAUS = ("province_admin", "city_admin", "county_admin")
Reader = require_roles(*READERS)
ProvinceAdmin = require_roles("province_admin")
ClassLetter = Annotated[str | None, Query(pattern="^[ABCD]$", alias="class")]
# a version number beyond the database integer is a 422, not an overflow in the driver
Version = Annotated[int, Path(ge=1, le=2_147_483_647, description="评分卡版本号")]


def _province(p: Principal) -> None:
    if p.level != "province" or p.prefix != "14":
        raise Problem(403, "forbidden", "无权执行此操作", detail="仅省局可执行此操作")


# ---------------------------------------------------------------- definitions as data
@router.get("/indicators", summary="指标定义（定义、来源事件、时间窗口）", **op(S.IndicatorListOut))
async def list_indicators(_: Principal = Reader):
    return {"items": indicators.catalogue()}


@router.get("/alert-rules", summary="预警规则", **op(S.AlertRuleListOut))
async def list_alert_rules(_: Principal = Reader):
    return {"items": [r.as_dict() for r in alert_domain.ALERT_RULES]}


# ---------------------------------------------------------------- classes
def _class_out(c: RiskClass, name: str | None = None) -> dict:
    return {"uscc": c.uscc, "name": name, "region_code": c.region_code, "class": c.risk_class,
            "class_name": scorecard.CLASS_NAMES[c.risk_class], "score": c.score, "model_version": c.model_version,
            "as_of": c.as_of, "computed_at": c.computed_at}


@router.get("/classes", summary="企业信用风险分类（内部使用，不公开）", **op(RiskClassOut, page=True))
async def list_classes(ctx: CtxDep, page: Page, risk_class: ClassLetter = None,
                       region: Annotated[str | None, Query(pattern=r"^\d{6}$")] = None, principal: Principal = Reader):
    q = (select(RiskClass, RiskEnterprise.name).outerjoin(RiskEnterprise, RiskEnterprise.uscc == RiskClass.uscc)
         .where(RiskClass.region_code.startswith(principal.prefix)))
    if region:
        q = q.where(RiskClass.region_code.startswith(region_prefix(region)))
    if risk_class:
        q = q.where(RiskClass.risk_class == risk_class)
    async with ctx.db.session() as s:
        rows = (await s.execute(keyset(q, [RiskClass.uscc], page))).all()
    p = page_of(rows, page, lambda r: [r[0].uscc])
    return json_response({"items": [_class_out(c, n) for c, n in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


@router.get("/classes/{uscc}", summary="企业分类及其依据（各指标贡献、前三大因素）", **op(RiskClassDetailOut))
async def get_class(uscc: str, ctx: CtxDep, principal: Principal = Reader):
    async with ctx.db.session() as s:
        row = (await s.execute(select(RiskClass, RiskEnterprise.name).outerjoin(RiskEnterprise, RiskEnterprise.uscc == RiskClass.uscc)
                               .where(RiskClass.uscc == uscc, RiskClass.region_code.startswith(principal.prefix)))).first()
        if row is None:
            raise not_found("企业分类", uscc)
        c, name = row
        iv = await s.get(IndicatorValue, uscc)
        hist = (await s.execute(select(ClassChange).where(ClassChange.uscc == uscc).order_by(ClassChange.at.desc(), ClassChange.id.desc()).limit(50))).scalars().all()
    base = None
    async with ctx.db.session() as s:
        m = await versions.get(s, c.model_version)
        base = m.definition.get("base", 0)
    return {**_class_out(c, name), "base": base, "contributions": c.contributions, "why": scorecard.why(c.contributions),
            "indicators": iv.values if iv else None,
            "history": [{"from": h.from_class, "to": h.to_class, "score": h.score, "model_version": h.model_version,
                         "cause": h.cause, "at": h.at} for h in hist]}


@router.post("/population/classes", summary="抽取冻结总体时查询企业分类（仅省局）", **op(S.ClassLookupOut))
async def lookup_classes(body: LookupIn, ctx: CtxDep, principal: Principal = ProvinceAdmin):
    """Each requested enterprise's current class. An enterprise the service has no record of gets
    the class of an enterprise without history under the adopted scorecard (``known: false``)."""
    _province(principal)
    wanted = sorted(set(body.uscc))
    found: dict[str, str] = {}
    async with ctx.db.session() as s:
        model = await engine.adopted_model(s, ctx)
        if model is None:
            raise Problem(409, "no-model", "尚无已采用的评分卡")
        for i in range(0, len(wanted), 5000):
            chunk = wanted[i:i + 5000]
            found.update((await s.execute(select(RiskClass.uscc, RiskClass.risk_class).where(RiskClass.uscc.in_(chunk)))).all())
    default = model.score(indicators.compute(None, (), engine.today(ctx)))[1]
    unknown = [u for u in wanted if u not in found]
    return json_response({"model_version": model.version, "as_of": engine.today(ctx), "default_class": default,
                          "classes": {u: found.get(u, default) for u in wanted}, "unknown": unknown})


# ---------------------------------------------------------------- model versions
@router.get("/models", summary="评分卡版本列表", **op(S.ModelListOut))
async def list_models(ctx: CtxDep, _: Principal = Reader):
    from .models import ScoreModel

    async with ctx.db.session() as s:
        rows = (await s.execute(select(ScoreModel).order_by(ScoreModel.version.desc()).limit(200))).scalars().all()
    return {"items": [versions.model_out(m, full=False) for m in rows]}


@router.get("/models/{version}", summary="评分卡版本详情（定义、拟合与回测报告）", **op(S.ModelFullOut, etag=True))
async def get_model(version: Version, ctx: CtxDep, response: Response, _: Principal = Reader):
    async with ctx.db.session() as s:
        m = await versions.get(s, version)
    set_etag(response, m.row_version)
    return versions.model_out(m)


@router.post("/models", summary="编制评分卡新版本（草稿）", **op(S.ModelFullOut, status=201, etag=True, idempotent=True))
async def create_model(body: ModelIn, request: Request, ctx: CtxDep, principal: Principal = ProvinceAdmin):
    _province(principal)

    async def run(s):
        m = await versions.create(ctx, s, principal, body.name, body.definition, body.note)
        return 201, versions.model_out(m), m.row_version

    return await idempotency.idempotent_write(ctx, request, principal.sub, "risk.model.create", body.model_dump(), run)


@router.post("/models/fit", summary="由历史检查结果拟合评分卡（逻辑回归），留出一年回测",
             **op(S.ModelFullOut, status=201, etag=True, idempotent=True))
async def fit_model(body: FitIn, request: Request, ctx: CtxDep, principal: Principal = ProvinceAdmin):
    _province(principal)
    if body.history == "demo" and ctx.settings.production:
        raise Problem(409, "demo-only", "演示历史仅在演示模式下可用")
    report = await fitting.fit_from(ctx, body.history, test_year=body.test_year, seed=body.seed, enterprises=body.enterprises)

    async def run(s):
        m = await versions.create(ctx, s, principal, body.name, report.pop("definition"), body.note, source="fitted", fit_report=report)
        return 201, versions.model_out(m), m.row_version

    return await idempotency.idempotent_write(ctx, request, principal.sub, "risk.model.fit", body.model_dump(), run)


@router.get("/models/{version}/preview", summary="采用前预览：各分类之间迁移的企业数", **op(S.PreviewOut))
async def preview_model(version: Version, ctx: CtxDep, principal: Principal = ProvinceAdmin):
    _province(principal)
    return await versions.preview(ctx, version)


async def _decide(action, version: int, body: DecisionIn | None, request: Request, ctx, principal: Principal, response: Response):
    _province(principal)
    out = await action(ctx, request, principal, version, body.note if body else None)
    m, extra = out if isinstance(out, tuple) else (out, None)
    set_etag(response, m.row_version)
    res = versions.model_out(m, full=False)
    if extra is not None:
        res["reclassified"] = extra
    return res


@router.post("/models/{version}/propose", summary="发布评分卡版本（待另一名省局管理员采用）", **op(S.ModelDecisionOut, etag=True, if_match=True))
async def propose_model(version: Version, request: Request, ctx: CtxDep, response: Response, body: DecisionIn | None = None, principal: Principal = ProvinceAdmin):
    return await _decide(versions.propose, version, body, request, ctx, principal, response)


@router.post("/models/{version}/adopt", summary="采用评分卡版本（双人复核：另一名省局管理员），并重新分类", **op(S.ModelDecisionOut, etag=True, if_match=True))
async def adopt_model(version: Version, request: Request, ctx: CtxDep, response: Response, body: DecisionIn | None = None, principal: Principal = ProvinceAdmin):
    return await _decide(versions.adopt, version, body, request, ctx, principal, response)


@router.post("/models/{version}/reject", summary="驳回评分卡版本（另一名省局管理员）", **op(S.ModelDecisionOut, etag=True, if_match=True))
async def reject_model(version: Version, request: Request, ctx: CtxDep, response: Response, body: DecisionIn | None = None, principal: Principal = ProvinceAdmin):
    return await _decide(versions.reject, version, body, request, ctx, principal, response)


# ---------------------------------------------------------------- monthly batch
@router.post("/batches/monthly", summary="执行本月批量重算（每月一次，全集群仅一个副本执行）", **op(S.BatchRunOut))
async def run_batch(ctx: CtxDep, principal: Principal = ProvinceAdmin):
    _province(principal)
    return await batch.run_monthly(ctx)


@router.post("/sync/registry", summary="从名录库总体同步企业状态（批量导入后执行；仅省局）", **op(S.SyncOut, problems=(502, 503)))
async def sync_registry(request: Request, ctx: CtxDep, principal: Principal = ProvinceAdmin):
    _province(principal)
    return await sync.sync_registry(ctx, principal, bearer_token(request))


@router.get("/batches", summary="批量重算记录", **op(S.BatchListOut))
async def list_batches(ctx: CtxDep, _: Principal = Reader):
    return {"items": await batch.list_runs(ctx)}


# ---------------------------------------------------------------- alerts
def _alert_scope(p: Principal):
    return Alert.region_code.startswith(p.prefix)


@router.get("/alerts", summary="预警列表（按管辖范围）", **op(S.AlertOut, page=True))
async def list_alerts(ctx: CtxDep, page: Page, principal: Principal = Reader,
                      status: Literal["open", "acknowledged", "closed"] | None = None, rule: str | None = None,
                      uscc: str | None = None):
    q = select(Alert).where(_alert_scope(principal))
    if status:
        q = q.where(Alert.status == status)
    if rule:
        q = q.where(Alert.rule == rule)
    if uscc:
        q = q.where(Alert.uscc == uscc)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Alert.id], page))).scalars())
    p = page_of(rows, page, lambda a: [a.id])
    return json_response({"items": [alert_domain.alert_out(a) for a in p["rows"]], "next_cursor": p["next_cursor"], "limit": page.limit})


async def _visible_alert(s, principal: Principal, alert_id: str, for_update: bool = False) -> Alert:
    q = select(Alert).where(Alert.id == alert_id, _alert_scope(principal))
    if for_update:
        q = q.with_for_update()
    a = (await s.execute(q)).scalar_one_or_none()
    if a is None:
        raise not_found("预警", alert_id)
    return a


@router.get("/alerts/{alert_id}", summary="预警详情", **op(S.AlertOut, etag=True))
async def get_alert(alert_id: str, ctx: CtxDep, response: Response, principal: Principal = Reader):
    async with ctx.db.session() as s:
        a = await _visible_alert(s, principal, alert_id)
    set_etag(response, a.version)
    return json_response(alert_domain.alert_out(a), headers={"ETag": f'"v{a.version}"'})


async def _alert_change(ctx, request: Request, principal: Principal, alert_id: str, to: str, note: str | None):
    async with ctx.db.transaction() as s:
        a = await _visible_alert(s, principal, alert_id, for_update=True)
        require_if_match(request, a.version)
        allowed = ("open",) if to == "acknowledged" else ("open", "acknowledged")
        if a.status not in allowed:
            raise Problem(409, "alert-state", "预警状态不允许此操作", detail=f"预警当前为 {a.status}")
        before = alert_domain.alert_out(a)
        now = utcnow()
        if to == "acknowledged":
            a.acknowledged_by, a.acknowledged_at, a.acknowledge_note = principal.sub, now, note
        else:
            a.closed_by, a.closed_at, a.close_note = principal.sub, now, note
            a.open_key = None  # a later trigger with new evidence raises a new alert
        a.status = to
        a.version += 1
        await s.flush()
        data = {**alert_domain._event(a), "by": principal.sub, "note": note}
        await ctx.emit(s, "alert", "acknowledged" if to == "acknowledged" else "closed", data, subject_id=a.id, actor=principal.sub)
        await ctx.audit(s, principal, f"alert.{to}", "alert", a.id, before=before, after=alert_domain.alert_out(a))
        out = alert_domain.alert_out(a)
    return json_response(out, headers={"ETag": f'"v{a.version}"'})


@router.post("/alerts/{alert_id}/acknowledge", summary="确认预警（已知悉并处理中）", **op(S.AlertOut, etag=True, if_match=True))
async def acknowledge_alert(alert_id: str, request: Request, ctx: CtxDep, body: AckIn | None = None, principal: Principal = require_roles(*BUREAUS)):
    return await _alert_change(ctx, request, principal, alert_id, "acknowledged", body.note if body else None)


@router.post("/alerts/{alert_id}/close", summary="关闭预警（须填写处理说明）", **op(S.AlertOut, etag=True, if_match=True))
async def close_alert(alert_id: str, body: AlertNoteIn, request: Request, ctx: CtxDep, principal: Principal = require_roles(*BUREAUS)):
    return await _alert_change(ctx, request, principal, alert_id, "closed", body.note)


# ---------------------------------------------------------------- 问题企业工作台帐
@router.get("/ledger", summary="问题企业工作台帐（按局，含各服务未结事项）", **op(S.LedgerRowOut, page=True, problems=(404,)))
async def get_ledger(ctx: CtxDep, page: Page, bureau: Annotated[str | None, Query(description="局的行政区划代码，默认本人所在地区")] = None,
                     principal: Principal = Reader):
    return json_response(await ledger.page(ctx, principal, page, bureau))


@router.get("/ledger.xlsx", summary="导出问题企业工作台帐（XLSX）",
            **op(None, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", problems=(404,)))
async def export_ledger(ctx: CtxDep, bureau: str | None = None, principal: Principal = Reader):
    data = await ledger.xlsx(ctx, principal, bureau)
    name = f"problem-enterprises-{bureau or principal.region}.xlsx"
    return Response(data, media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
