"""Sampling plans: create (free-form or from the notice's template), read within jurisdiction,
edit while draft (If-Match), preview strata counts, approve.

Approval: a province admin (province_admin) may approve any plan; a city or county plan may
also be approved by the admin of that same level and region (city_admin of the owning city,
county_admin of the owning county). 四眼原则: the approver must be another official than the
plan's author and than anyone who edited it (``editors``). A plan made from a template records
every deviation from it with a required reason (``deviations``). Plans are visible to admins whose region covers the
plan's owner region (a county admin sees only its own county's plans).
"""
from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared import idempotency
from shared.auth import Principal, region_level
from shared.db import first_or_404, utcnow
from shared.errors import Problem, field_error
from shared.etag import require_if_match
from shared.pagination import PageParams, keyset, page_of
from shared.service import ServiceContext, request_id

from . import deviations, strata
from .models import SamplingPlan
from .schemas import PlanIn, PlanPatch, TemplateIn

ADMIN_ROLES = ("province_admin", "city_admin", "county_admin")
READ_ROLES = (*ADMIN_ROLES, "discipline")


def plan_dict(plan: SamplingPlan) -> dict[str, Any]:
    devs = deviations.with_reasons(deviations.compute(plan.template_baseline, plan.rules, plan.settings), plan.deviation_reasons or {})
    return {
        "id": plan.id,
        "name": plan.name,
        "batch": plan.batch,
        "owner_region": plan.owner_region,
        "catalogue": plan.catalogue,
        "licence_status": plan.licence_status,
        "settings": plan.settings,
        "rules": plan.rules,
        "source": plan.source,
        "status": plan.status,
        "version": plan.version,
        "created_by": plan.created_by,
        "created_at": plan.created_at.isoformat(),
        "approved_by": plan.approved_by,
        "approved_at": plan.approved_at.isoformat() if plan.approved_at else None,
        "editors": list(plan.editors or []),
        "template": plan.template,
        "deviations": devs,
        "source_statement": (f"依据{plan.source}模板建立，有 {len(devs)} 处偏离模板（逐项理由见 deviations）" if devs
                             else f"依据{plan.source}" if plan.source else None),
        "strata_rules": {"first_match": strata.FIRST_MATCH_RULE, "multi_category": strata.MULTI_CATEGORY_RULE},
        "date_rules": DATE_RULES,
    }


# How scheduling reads the plan's dates (stated in the plan, applied in scheduling/assignment.py).
DATE_RULES = {
    "report_date": "汇总上报日期：计划所写日期（如通知“11月20日前”）若为工作日即为该日，否则取其前最后一个工作日（法定节假日与调休按国务院安排）。",
    "visit_start": "检查日期不早于任务派发日加计划的告知期（notice_workdays 个工作日），且不早于检查开始日期（window_start）。",
}


def _owner_region(principal: Principal, requested: str | None) -> str:
    region = requested or principal.region
    if not principal.covers(region):
        raise field_error("owner_region", f"地区 {region} 不在您的管辖范围内", status=403, slug="out-of-jurisdiction", title="超出管辖范围")
    return region


def _rules_json(raw: list[dict[str, Any]], catalogue: str, owner_region: str) -> list[dict[str, Any]]:
    return [r.to_dict() for r in strata.validate_rules(raw, catalogue, owner_region)]


async def get_visible(session: AsyncSession, principal: Principal, plan_id: str, *, for_update: bool = False) -> SamplingPlan:
    q = select(SamplingPlan).where(SamplingPlan.id == plan_id, SamplingPlan.owner_region.startswith(principal.prefix))
    return (await first_or_404(session, q, "抽查计划", plan_id, for_update=for_update))[0]


async def _create(ctx: ServiceContext, request: Request, principal: Principal, scope: str, body: dict, build):
    async def run(s):
        plan = build()
        s.add(plan)
        await s.flush()
        out = plan_dict(plan)
        await ctx.audit(s, principal, "plan.created", "sampling_plan", plan.id, after=out, request_id=request_id(request))
        await ctx.emit(s, "plan", "created", out, subject_id=plan.id, request_id=request_id(request), actor=principal.sub)
        return 201, out, out["version"]

    return await idempotency.idempotent_write(ctx, request, principal.sub, scope, body, run,
                                              location=lambda out: f"/plans/{out['id']}")


async def create(ctx: ServiceContext, request: Request, principal: Principal, body: PlanIn):
    raw = body.model_dump(mode="json")
    owner = _owner_region(principal, body.owner_region)
    rules = _rules_json([r.model_dump(mode="json") for r in body.rules], body.catalogue, owner)

    def build():
        return SamplingPlan(
            name=body.name, batch=body.batch, owner_region=owner, catalogue=body.catalogue,
            licence_status=body.licence_status, settings=body.settings.model_dump(mode="json"), rules=rules,
            created_by=principal.sub, deviation_reasons={}, editors=[],
        )

    return await _create(ctx, request, principal, "sampling.plan.create", raw, build)


def template_2022(other_ratio: Decimal | None) -> dict[str, Any]:
    tpl = copy.deepcopy(strata.NOTICE_2022_181)
    if other_ratio is not None:
        for r in tpl["rules"]:
            if r["note"] == "通知未规定比例，为计划设定":
                r["ratio"] = str(other_ratio)
    return tpl


async def create_from_template(ctx: ServiceContext, request: Request, principal: Principal, body: TemplateIn):
    raw = {"template": "notice-2022-181", **body.model_dump(mode="json")}
    owner = _owner_region(principal, body.owner_region)
    tpl = template_2022(body.other_ratio)
    rules = _rules_json(tpl["rules"], tpl["catalogue"], owner)

    def build():
        return SamplingPlan(
            name=tpl["name"], batch=body.batch or tpl["batch"], owner_region=owner, catalogue=tpl["catalogue"],
            licence_status=tpl["licence_status"], settings=tpl["settings"], rules=rules, source=tpl["source"],
            created_by=principal.sub, template=tpl["template"],
            template_baseline={"rules": rules, "settings": tpl["settings"]}, deviation_reasons={}, editors=[],
        )

    return await _create(ctx, request, principal, "sampling.plan.template", raw, build)


async def list_plans(ctx: ServiceContext, principal: Principal, params: PageParams, status: str | None) -> dict:
    q = select(SamplingPlan).where(SamplingPlan.owner_region.startswith(principal.prefix))
    if status:
        q = q.where(SamplingPlan.status == status)
    q = keyset(q, [SamplingPlan.id], params)
    async with ctx.db.session() as s:
        rows = list((await s.execute(q)).scalars())
    page = page_of(rows, params, lambda p: [p.id])
    return {"items": [plan_dict(p) for p in page["rows"]], "next_cursor": page["next_cursor"], "limit": params.limit}


async def update(ctx: ServiceContext, request: Request, principal: Principal, plan_id: str, body: PlanPatch) -> SamplingPlan:
    async with ctx.db.transaction() as s:
        plan = await get_visible(s, principal, plan_id, for_update=True)
        require_if_match(request, plan.version)
        if plan.status != "draft":
            raise Problem(409, "plan-approved", "计划已批准，不能修改", detail="已批准的抽查计划不可修改，请新建计划")
        before = plan_dict(plan)
        if body.name is not None:
            plan.name = body.name
        if body.batch is not None:
            plan.batch = body.batch
        if body.settings is not None:
            plan.settings = body.settings.model_dump(mode="json")
        if body.rules is not None:
            plan.rules = _rules_json([r.model_dump(mode="json") for r in body.rules], plan.catalogue, plan.owner_region)
        if plan.template_baseline:
            reasons = {**(plan.deviation_reasons or {}), **{k: v.strip() for k, v in (body.deviation_reasons or {}).items()}}
            devs = deviations.compute(plan.template_baseline, plan.rules, plan.settings)
            missing = deviations.missing_reasons(devs, reasons)
            if missing:
                raise Problem(422, "deviation-reason-required", "偏离模板须说明理由",
                              detail=f"本计划依据 {plan.source} 模板建立，以下修改偏离模板，须逐项填写理由：" + missing[0]["field"],
                              errors=missing)
            plan.deviation_reasons = {d["key"]: reasons[d["key"]] for d in devs}
        elif body.deviation_reasons:
            raise field_error("deviation_reasons", "本计划不是依据模板建立的，无需填写偏离理由")
        if principal.sub not in (plan.editors or []) and principal.sub != plan.created_by:
            plan.editors = [*(plan.editors or []), principal.sub]
        plan.version += 1
        plan.updated_at = utcnow()
        after = plan_dict(plan)
        await ctx.audit(s, principal, "plan.updated", "sampling_plan", plan.id, before=before, after=after, request_id=request_id(request))
        await ctx.emit(s, "plan", "updated", after, subject_id=plan.id, request_id=request_id(request), actor=principal.sub)
    return plan


def may_approve(principal: Principal, plan: SamplingPlan) -> bool:
    if principal.has("province_admin"):
        return True
    level = region_level(plan.owner_region)
    role = {"city": "city_admin", "county": "county_admin"}.get(level)
    return role is not None and principal.has(role) and principal.region == plan.owner_region


async def approve(ctx: ServiceContext, request: Request, principal: Principal, plan_id: str) -> SamplingPlan:
    async with ctx.db.transaction() as s:
        plan = await get_visible(s, principal, plan_id, for_update=True)
        require_if_match(request, plan.version)
        if plan.status != "draft":
            raise Problem(409, "plan-approved", "计划已批准", detail="该抽查计划已经批准")
        if not may_approve(principal, plan):
            raise Problem(403, "forbidden", "无权批准该计划", detail="省级计划须由省局管理员批准；市、县计划由本级或省局管理员批准")
        if principal.sub == plan.created_by or principal.sub in (plan.editors or []):
            raise Problem(409, "four-eyes", "须由起草、修改人以外的另一名工作人员批准（四眼原则）",
                          detail=f"计划由 {plan.created_by} 起草" + (f"，经 {'、'.join(plan.editors)} 修改" if plan.editors else "")
                          + "，批准人须为另一名工作人员", errors=[{"field": "approved_by", "message": "批准人不能是计划的起草人或修改人"}])
        missing = deviations.missing_reasons(deviations.compute(plan.template_baseline, plan.rules, plan.settings),
                                             plan.deviation_reasons or {})
        if missing:
            raise Problem(409, "deviation-reason-required", "偏离模板须说明理由", detail=missing[0]["message"], errors=missing)
        before = plan_dict(plan)
        plan.status = "approved"
        plan.approved_by = principal.sub
        plan.approved_at = utcnow()
        plan.version += 1
        plan.updated_at = plan.approved_at
        after = plan_dict(plan)
        await ctx.audit(s, principal, "plan.approved", "sampling_plan", plan.id, before=before, after=after, request_id=request_id(request))
        await ctx.emit(s, "plan", "approved", after, subject_id=plan.id, request_id=request_id(request), actor=principal.sub)
    return plan


async def preview(ctx: ServiceContext, principal: Principal, plan_id: str, token: str | None) -> dict:
    async with ctx.db.session() as s:
        plan = await get_visible(s, principal, plan_id)
    units = await ctx.extras["population"].enterprises(plan_dict(plan), token)
    rules = [strata.Rule.from_dict(r) for r in plan.rules]
    return {"plan_id": plan.id, "frozen": False, **strata.preview(rules, units)}
