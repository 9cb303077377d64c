"""Draws, in the order that makes them fair: create → freeze the population (read once from
the registry, stored with strata, SHA-256 digest published) → seed ceremony (entered by one
official, confirmed by a second, distinct one) → commit (consistent-sampler tickets, the quota
smallest per stratum, immutable from then on) → replacements on the record.

Seed: at least 20 decimal digits (public dice rolls), nothing else. An optional public
randomness-beacon value is recorded and mixed in as text: effective seed = ``seed + "," + beacon``.
The population digest format is documented in ``verify``.
"""
from __future__ import annotations

import io
from collections import defaultdict
from typing import Any

from fastapi import Request
from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared import idempotency
from shared.auth import Principal
from shared.spreadsheet import csv_writer
from shared.canonical import canonical_json, digest
from shared.db import first_or_404, utcnow
from shared.errors import Problem, field_error, not_found
from shared.pagination import PageParams, keyset, page_of
from shared.service import ServiceContext, request_id

from . import sampler, strata, verify
from .models import Draw, DrawUnit, Replacement
from .plans import get_visible, plan_dict
from .pools import POOLS, conflicts, leader_unit_of, pools_of
from .schemas import DrawIn, ReplacementIn, SeedConfirmIn, SeedIn

MIN_SEED_DIGITS = 20


RISK_STRATUM_PUBLIC = strata.RISK_STRATUM_PUBLIC
# the one label of every selected unit in the public view of a plan with a rule by risk class
SELECTED_PUBLIC = "（本计划含按信用风险分类抽取的层，抽中企业不逐家公开所属层）"
RISK_DISCLOSURE = (
    "本计划有按信用风险分类抽取的层。信用风险分类是内部监管依据，不公开：抽中企业统一标注、按统一社会信用代码排列，"
    "不列出所属层和签号；按分类抽取的各层合为一项公开其企业数和抽取数。公众可核对：种子与信标、总体摘要、结果摘要、"
    "规则、各层（合并项）数量、抽中与替补名单；逐层名单、签号和结果摘要的重算须用内部导出文件（spotcheck verify-draw "
    "导出文件 --public 本页），由受托审计方进行。"
)


def draw_dict(d: Draw) -> dict[str, Any]:
    def iso(v):
        return v.isoformat() if v else None

    return {
        "id": d.id, "plan_id": d.plan_id, "kind": d.kind, "enterprise_draw_id": d.enterprise_draw_id,
        "owner_region": d.owner_region, "status": d.status, "strata": d.strata,
        "population_count": d.population_count, "population_digest": d.population_digest,
        "created_by": d.created_by, "created_at": iso(d.created_at),
        "frozen_by": d.frozen_by, "frozen_at": iso(d.frozen_at),
        "seed": d.seed, "beacon": d.beacon, "seed_entered_by": d.seed_entered_by, "seed_entered_at": iso(d.seed_entered_at),
        "seed_confirmed_by": d.seed_confirmed_by, "seed_confirmed_at": iso(d.seed_confirmed_at),
        "algorithm": d.algorithm, "algorithm_version": d.algorithm_version,
        "committed_by": d.committed_by, "committed_at": iso(d.committed_at), "result_digest": d.result_digest,
        "result_digest_rule": verify.RESULT_DIGEST_RULE,
        "attempt": d.attempt, "abandoned_by": d.abandoned_by, "abandoned_at": iso(d.abandoned_at),
        "abandon_reason": d.abandon_reason, "status_before_abandon": d.status_before_abandon,
        "version": d.version,
    }


async def get_visible_draw(session: AsyncSession, principal: Principal, draw_id: str, *, for_update: bool = False) -> Draw:
    q = select(Draw).where(Draw.id == draw_id, Draw.owner_region.startswith(principal.prefix))
    return (await first_or_404(session, q, "抽取", draw_id, for_update=for_update))[0]


def _require_status(d: Draw, *allowed: str, action: str) -> None:
    if d.status == "abandoned":
        raise Problem(409, "draw-abandoned", "该次抽取已作废", detail=f"抽取 {d.id} 已于 {d.abandoned_at} 作废（{d.abandon_reason}），不能{action}")
    if d.status == "committed" and "committed" not in allowed:
        raise Problem(409, "draw-committed", "抽取结果已提交，不可更改", detail=f"抽取 {d.id} 已提交，不能{action}")
    if d.status not in allowed:
        names = {"abandoned": "已作废", "created": "已创建", "frozen": "总体已冻结", "seed_entered": "种子已录入待确认", "seeded": "种子已确认", "committed": "已提交"}
        raise Problem(409, "draw-state", "抽取状态不允许此操作",
                      detail=f"当前状态为“{names.get(d.status, d.status)}”，不能{action}", status_now=d.status)


async def _record(ctx: ServiceContext, s: AsyncSession, request: Request, principal: Principal, d: Draw, action: str,
                  before: dict | None, event_verb: str, event_data: dict | None = None, detail: dict | None = None) -> None:
    after = draw_dict(d)
    rid = request_id(request)
    await ctx.audit(s, principal, f"draw.{action}", "draw", d.id, before=before, after=after, detail=detail, request_id=rid)
    await ctx.emit(s, "draw", event_verb, event_data or after, subject_id=d.id, request_id=rid, actor=principal.sub)


# ---------------------------------------------------------------- create / freeze
async def create(ctx: ServiceContext, request: Request, principal: Principal, body: DrawIn):
    raw = body.model_dump(mode="json")

    async def run(s):
        plan = await get_visible(s, principal, body.plan_id, for_update=True)  # serialises attempts of one plan
        if plan.status != "approved":
            raise field_error("plan_id", "抽查计划尚未批准，不能抽取", status=409, slug="plan-not-approved", title="计划未批准")
        if body.kind == "inspector":
            if not body.enterprise_draw_id:
                raise field_error("enterprise_draw_id", "抽取检查人员须指明所服务的企业抽取")
            ed = await get_visible_draw(s, principal, body.enterprise_draw_id)
            if ed.kind != "enterprise" or ed.status != "committed" or ed.plan_id != body.plan_id:
                raise field_error("enterprise_draw_id", "须为本计划已提交的企业抽取", status=409, slug="enterprise-draw-not-ready")
        elif body.enterprise_draw_id:
            raise field_error("enterprise_draw_id", "企业抽取不应指定 enterprise_draw_id")
        earlier = list((await s.execute(select(Draw).where(Draw.plan_id == plan.id, Draw.kind == body.kind)
                                        .order_by(Draw.attempt))).scalars())
        live = [x for x in earlier if x.status != "abandoned"]
        if live:
            raise Problem(409, "draw-exists", "本计划已有该类抽取", errors=[{"field": "kind", "message": "每个计划每类抽取只能有一次有效抽取"}],
                          detail=f"计划已有{'企业' if body.kind == 'enterprise' else '检查人员'}抽取 {live[0].id}（第 {live[0].attempt} 次，"
                                 f"状态 {live[0].status}）。如需重新抽取，须先由另一名省局工作人员说明理由将其作废，作废记录公开。")
        d = Draw(plan_id=plan.id, kind=body.kind, enterprise_draw_id=body.enterprise_draw_id, owner_region=plan.owner_region,
                 plan_snapshot=plan_dict(plan), created_by=principal.sub, attempt=len(earlier) + 1)
        s.add(d)
        await s.flush()
        await _record(ctx, s, request, principal, d, "created", None, "created")
        return 201, draw_dict(d), d.version

    return await idempotency.idempotent_write(ctx, request, principal.sub, "sampling.draw.create", raw, run,
                                              location=lambda out: f"/draws/{out['id']}")


async def _enterprise_units(ctx: ServiceContext, d: Draw, token: str | None) -> tuple[list[dict], list[dict]]:
    items = await ctx.extras["population"].enterprises(d.plan_snapshot, token)
    seen = set()
    for it in items:
        if it["uscc"] in seen:
            raise Problem(502, "registry-bad-response", "名录库返回了重复的企业", detail=f"统一社会信用代码 {it['uscc']} 重复")
        seen.add(it["uscc"])
    if strata.uses_risk_classes(d.plan_snapshot["rules"]):
        # the class of each enterprise, asked once and frozen in its record (risk service, province only)
        found = await ctx.extras["risk_classes"].classes(sorted(seen), token)
        for it in items:
            it["risk_class"], it["risk_model_version"] = found["classes"].get(it["uscc"]), found.get("model_version")
    rules = [strata.Rule.from_dict(r) for r in d.plan_snapshot["rules"]]
    units = [{"unit_id": it["uscc"], "stratum": strata.assign(rules, it), "data": it} for it in items]
    counts: dict[str, int] = defaultdict(int)
    for u in units:
        counts[u["stratum"]] += 1
    records = [strata.stratum_record(i, r, counts[r.name]) for i, r in enumerate(rules)]
    records.append({"index": None, "name": strata.OUTSIDE, "population": counts[strata.OUTSIDE], "ratio": None,
                    "count": None, "quota": 0, "rounding": None, "note": "未匹配任何分层规则，不参加抽取"})
    return units, records


async def _people_units(ctx: ServiceContext, d: Draw, token: str | None) -> tuple[list[dict], list[dict]]:
    items = await ctx.extras["population"].people(d.plan_snapshot, token)
    unit = leader_unit_of(d.plan_snapshot)
    units = [{"unit_id": p["id"], "stratum": pool, "data": p} for p in items for pool in pools_of(p, unit)]
    counts = defaultdict(int)
    for u in units:
        counts[u["stratum"]] += 1
    records = [{"index": i, "name": pool, "population": counts[pool], "ratio": None, "count": None, "quota": counts[pool],
                "rounding": "人员池全部按签序排列", "note": None} for i, pool in enumerate(POOLS)]
    return units, records


async def freeze(ctx: ServiceContext, request: Request, principal: Principal, draw_id: str, token: str | None) -> Draw:
    async with ctx.db.session() as s:
        d = await get_visible_draw(s, principal, draw_id)
        _require_status(d, "created", action="冻结总体")
    # the population is read once, outside any transaction; then everything is written at once
    units, records = await (_enterprise_units if d.kind == "enterprise" else _people_units)(ctx, d, token)
    pop_digest = verify.population_digest((u["unit_id"], u["stratum"]) for u in units)
    async with ctx.db.transaction() as s:
        d = await get_visible_draw(s, principal, draw_id, for_update=True)
        _require_status(d, "created", action="冻结总体")
        before = draw_dict(d)
        if units:
            await s.execute(DrawUnit.__table__.insert(), [{"draw_id": d.id, **u, "selected": False} for u in units])
        d.strata = records
        d.population_count = len(units)
        d.population_digest = pop_digest
        d.frozen_by, d.frozen_at = principal.sub, utcnow()
        d.status = "frozen"
        d.version += 1
        data = {"draw_id": d.id, "plan_id": d.plan_id, "kind": d.kind, "population_count": len(units),
                "population_digest": pop_digest, "digest_rule": verify.DIGEST_RULE, "strata": records}
        await _record(ctx, s, request, principal, d, "frozen", before, "population_frozen", data)
    return d


# ---------------------------------------------------------------- seed ceremony
def _check_seed(seed: str) -> None:
    if not seed.isascii() or not seed.isdigit():
        raise field_error("seed", "种子只能由十进制数字 0-9 组成")
    if len(seed) < MIN_SEED_DIGITS:
        raise field_error("seed", f"种子至少需要 {MIN_SEED_DIGITS} 位数字，实际 {len(seed)} 位")


async def enter_seed(ctx: ServiceContext, request: Request, principal: Principal, draw_id: str, body: SeedIn) -> Draw:
    async with ctx.db.transaction() as s:
        d = await get_visible_draw(s, principal, draw_id, for_update=True)
        if d.status in ("seed_entered", "seeded"):
            raise Problem(409, "seed-ceremony-done", "种子仪式已进行", detail="每次抽取只能进行一次种子仪式")
        if d.status == "created":
            raise Problem(409, "population-not-frozen", "总体尚未冻结", detail="须先冻结总体并公布摘要，才能录入种子")
        _require_status(d, "frozen", action="录入种子")
        _check_seed(body.seed)
        before = draw_dict(d)
        d.seed, d.beacon = body.seed, body.beacon or None
        d.seed_entered_by, d.seed_entered_at = principal.sub, utcnow()
        d.status = "seed_entered"
        d.version += 1
        await _record(ctx, s, request, principal, d, "seed_entered", before, "seed_entered",
                      {"draw_id": d.id, "seed": d.seed, "beacon": d.beacon, "entered_by": d.seed_entered_by})
    return d


async def confirm_seed(ctx: ServiceContext, request: Request, principal: Principal, draw_id: str, body: SeedConfirmIn) -> Draw:
    async with ctx.db.transaction() as s:
        d = await get_visible_draw(s, principal, draw_id, for_update=True)
        if d.status == "seeded":
            raise Problem(409, "seed-ceremony-done", "种子已确认", detail="种子已由第二名工作人员确认")
        _require_status(d, "seed_entered", action="确认种子")
        if principal.sub == d.seed_entered_by:
            raise Problem(409, "same-official", "须由另一名工作人员确认种子", detail="录入种子与确认种子的不能是同一人",
                          errors=[{"field": "seed", "message": "确认人须与录入人不同"}])
        if body.seed != d.seed:
            raise field_error("seed", "确认的种子与录入的种子不一致")
        before = draw_dict(d)
        d.seed_confirmed_by, d.seed_confirmed_at = principal.sub, utcnow()
        d.status = "seeded"
        d.version += 1
        await _record(ctx, s, request, principal, d, "seed_confirmed", before, "seed_confirmed",
                      {"draw_id": d.id, "seed": d.seed, "beacon": d.beacon, "confirmed_by": d.seed_confirmed_by})
    return d


# ---------------------------------------------------------------- commit
async def _units(s: AsyncSession, draw_id: str) -> list[DrawUnit]:
    return list((await s.execute(select(DrawUnit).where(DrawUnit.draw_id == draw_id))).scalars())


def _selected_item(u: DrawUnit) -> dict[str, Any]:
    e = u.data
    return {"uscc": u.unit_id, "name": e.get("name"), "region_code": e.get("region_code"), "city_code": e.get("city_code"),
            "stratum": u.stratum, "ticket": u.ticket, "categories": e.get("categories") or [], "sites": e.get("sites") or []}


async def commit(ctx: ServiceContext, request: Request, principal: Principal, draw_id: str) -> Draw:
    async with ctx.db.transaction() as s:
        d = await get_visible_draw(s, principal, draw_id, for_update=True)
        _require_status(d, "seeded", action="再次抽取")
        units = await _units(s, d.id)
        seed = sampler.effective_seed(d.seed, d.beacon)
        quotas = {st["name"]: st["quota"] for st in d.strata}
        orders = verify.order_strata([{"unit_id": u.unit_id, "stratum": u.stratum} for u in units], seed)
        ticket_of: dict[str, str] = {}
        position: dict[tuple[str, str], int] = {}
        for name, order in orders.items():
            for pos, (ticket, uid) in enumerate(order, start=1):
                position[(uid, name)] = pos
                ticket_of[uid] = ticket
        # units outside every stratum are never drawn, but get their ticket too (exported, verifiable)
        ticket_of.update({uid: t for t, uid in sampler.tickets(sorted({u.unit_id for u in units} - set(ticket_of)), seed)})
        params = []
        for u in units:
            pos = position.get((u.unit_id, u.stratum))
            params.append({"b_draw": d.id, "b_unit": u.unit_id, "b_stratum": u.stratum, "ticket": ticket_of[u.unit_id],
                           "position": pos, "selected": pos is not None and pos <= quotas.get(u.stratum, 0)})
        t = DrawUnit.__table__
        if params:
            await s.execute(
                update(t).where(t.c.draw_id == bindparam("b_draw"), t.c.unit_id == bindparam("b_unit"), t.c.stratum == bindparam("b_stratum"))
                .values(ticket=bindparam("ticket"), position=bindparam("position"), selected=bindparam("selected"))
                .execution_options(synchronize_session=False),
                params,
            )
        for u, p in zip(units, params):
            u.ticket, u.position, u.selected = p["ticket"], p["position"], p["selected"]
        before = draw_dict(d)
        d.algorithm, d.algorithm_version = sampler.ALGORITHM, sampler.ALGORITHM_VERSION
        d.committed_by, d.committed_at = principal.sub, utcnow()
        d.status = "committed"
        d.version += 1
        data = await _committed_event(s, d, units)
        d.result_digest = digest(data.get("selected") or data.get("pools"))
        await _record(ctx, s, request, principal, d, "committed", before, "committed", data)
    return d


def _in_order(units: list[DrawUnit]) -> list[DrawUnit]:
    return sorted((u for u in units if u.position is not None), key=lambda u: (u.stratum, u.position))


async def _committed_event(s: AsyncSession, d: Draw, units: list[DrawUnit]) -> dict[str, Any]:
    plan = d.plan_snapshot
    data: dict[str, Any] = {
        "draw_id": d.id, "plan_id": d.plan_id, "plan_name": plan["name"], "batch": plan["batch"],
        "owner_region": d.owner_region, "kind": d.kind, "population_digest": d.population_digest,
        "seed": sampler.effective_seed(d.seed, d.beacon), "algorithm": d.algorithm, "algorithm_version": d.algorithm_version,
        "plan_settings": plan["settings"],
    }
    if d.kind == "enterprise":
        rank = {st["name"]: st["index"] for st in d.strata}
        chosen = sorted((u for u in units if u.selected), key=lambda u: (rank[u.stratum], u.position))
        data["selected"] = [_selected_item(u) for u in chosen]
    else:
        pools = {pool: [] for pool in POOLS}
        for u in _in_order(units):
            pools[u.stratum].append({**u.data, "ticket": u.ticket})
        data["pools"] = pools
        enterprise = (await s.execute(
            select(DrawUnit.unit_id).where(DrawUnit.draw_id == d.enterprise_draw_id, DrawUnit.selected.is_(True))
        )).scalars().all()
        repl = (await s.execute(
            select(Replacement.replacement_uscc).where(Replacement.draw_id == d.enterprise_draw_id)
        )).scalars().all()
        people = list({u.unit_id: u.data for u in units}.values())
        data["excluded"] = conflicts(people, set(enterprise) | set(repl))
        data["enterprise_draw_id"] = d.enterprise_draw_id
    return data


# ---------------------------------------------------------------- replacements
async def replace(ctx: ServiceContext, request: Request, principal: Principal, draw_id: str, body: ReplacementIn):
    raw = {"draw_id": draw_id, **body.model_dump(mode="json")}

    async def run(s):
        d = await get_visible_draw(s, principal, draw_id, for_update=True)
        if d.kind != "enterprise":
            raise Problem(409, "not-enterprise-draw", "只有企业抽取可以替补")
        if d.status != "committed":
            raise Problem(409, "draw-state", "抽取尚未提交，不能替补")
        reps = list((await s.execute(select(Replacement).where(Replacement.draw_id == d.id))).scalars())
        replaced = {r.replaced_uscc for r in reps}
        unit = (await s.execute(select(DrawUnit).where(DrawUnit.draw_id == d.id, DrawUnit.unit_id == body.uscc))).scalars().first()
        in_sample = unit is not None and (unit.selected or any(r.replacement_uscc == body.uscc for r in reps))
        if not in_sample:
            raise field_error("uscc", f"企业 {body.uscc} 不在本次抽取的样本中", status=409, slug="not-drawn")
        if body.uscc in replaced:
            raise field_error("uscc", f"企业 {body.uscc} 已被替补", status=409, slug="already-replaced")
        quota = next(st["quota"] for st in d.strata if st["name"] == unit.stratum)
        next_pos = quota + sum(1 for r in reps if r.stratum == unit.stratum) + 1
        nxt = (await s.execute(select(DrawUnit).where(
            DrawUnit.draw_id == d.id, DrawUnit.stratum == unit.stratum, DrawUnit.position == next_pos))).scalars().first()
        if nxt is None:
            raise Problem(409, "stratum-exhausted", "层内已无可替补企业", detail=f"层“{unit.stratum}”的企业已全部抽中")
        rep = Replacement(draw_id=d.id, stratum=unit.stratum, replaced_uscc=body.uscc, replacement_uscc=nxt.unit_id,
                          replacement_ticket=nxt.ticket, replacement_position=next_pos, reason=body.reason,
                          recorded_by=principal.sub)
        s.add(rep)
        await s.flush()
        out = replacement_dict(rep)
        rid = request_id(request)
        await ctx.audit(s, principal, "draw.replacement_recorded", "draw", d.id, after=out, detail={"reason": body.reason}, request_id=rid)
        await ctx.emit(s, "draw", "replacement_recorded",
                       {"draw_id": d.id, "replaced_uscc": body.uscc, "replacement": _selected_item(nxt), "reason": body.reason},
                       subject_id=d.id, request_id=rid, actor=principal.sub)
        return 201, out, None

    return await idempotency.idempotent_write(ctx, request, principal.sub, "sampling.draw.replacement", raw, run)


def replacement_dict(r: Replacement) -> dict[str, Any]:
    return {"id": r.id, "draw_id": r.draw_id, "stratum": r.stratum, "replaced_uscc": r.replaced_uscc,
            "replacement_uscc": r.replacement_uscc, "replacement_ticket": r.replacement_ticket,
            "replacement_position": r.replacement_position, "reason": r.reason, "recorded_by": r.recorded_by,
            "recorded_at": r.recorded_at.isoformat()}


async def _replacements(s: AsyncSession, draw_id: str) -> list[Replacement]:
    q = select(Replacement).where(Replacement.draw_id == draw_id).order_by(Replacement.recorded_at, Replacement.id)
    return list((await s.execute(q)).scalars())


# ---------------------------------------------------------------- reads, export, verify, public
async def list_draws(ctx: ServiceContext, principal: Principal, params: PageParams, plan_id: str | None) -> dict:
    q = select(Draw).where(Draw.owner_region.startswith(principal.prefix))
    if plan_id:
        q = q.where(Draw.plan_id == plan_id)
    async with ctx.db.session() as s:
        rows = list((await s.execute(keyset(q, [Draw.id], params))).scalars())
    page = page_of(rows, params, lambda d: [d.id])
    return {"items": [draw_dict(d) for d in page["rows"]], "next_cursor": page["next_cursor"], "limit": params.limit}


async def list_units(ctx: ServiceContext, principal: Principal, draw_id: str, params: PageParams,
                     stratum: str | None, selected: bool | None) -> dict:
    async with ctx.db.session() as s:
        await get_visible_draw(s, principal, draw_id)
        q = select(DrawUnit).where(DrawUnit.draw_id == draw_id)
        if stratum:
            q = q.where(DrawUnit.stratum == stratum)
        if selected is not None:
            q = q.where(DrawUnit.selected.is_(selected))
        rows = list((await s.execute(keyset(q, [DrawUnit.stratum, DrawUnit.unit_id], params))).scalars())
    page = page_of(rows, params, lambda u: [u.stratum, u.unit_id])
    items = [{"unit_id": u.unit_id, "stratum": u.stratum, "ticket": u.ticket, "position": u.position,
              "selected": u.selected, "data": u.data} for u in page["rows"]]
    return {"items": items, "next_cursor": page["next_cursor"], "limit": params.limit}


async def build_export(s: AsyncSession, d: Draw) -> dict[str, Any]:
    """The export: deterministic content (same population + seed ⇒ same bytes) plus ``record``
    (ids, times and officials of this particular draw)."""
    units = sorted(await _units(s, d.id), key=lambda u: (u.unit_id, u.stratum))
    reps = await _replacements(s, d.id)
    plan = d.plan_snapshot
    return {
        "format": verify.EXPORT_FORMAT,
        "kind": d.kind,
        "plan": {"name": plan["name"], "batch": plan["batch"], "owner_region": plan["owner_region"],
                 "catalogue": plan["catalogue"], "licence_status": plan["licence_status"],
                 "settings": plan["settings"], "rules": plan["rules"], "source": plan.get("source"),
                 "source_statement": plan.get("source_statement"),
                 "template": plan.get("template"), "deviations": plan.get("deviations") or []},
        "strata_rules": {"first_match": strata.FIRST_MATCH_RULE, "multi_category": strata.MULTI_CATEGORY_RULE},
        "result_digest": d.result_digest,
        "result_digest_rule": verify.RESULT_DIGEST_RULE,
        "algorithm": sampler.ALGORITHM,
        "algorithm_version": sampler.ALGORITHM_VERSION,
        "digest_rule": verify.DIGEST_RULE,
        "seed_rule": verify.SEED_RULE,
        "population_digest": d.population_digest,
        "seed": d.seed,
        "beacon": d.beacon,
        "strata": d.strata,
        "population": [{"unit_id": u.unit_id, "stratum": u.stratum, "ticket": u.ticket, "position": u.position,
                        "selected": u.selected, "data": u.data} for u in units],
        "replacements": [{"stratum": r.stratum, "replaced_uscc": r.replaced_uscc, "replacement_uscc": r.replacement_uscc,
                          "replacement_ticket": r.replacement_ticket, "reason": r.reason} for r in reps],
        "record": {"draw_id": d.id, "plan_id": d.plan_id, "status": d.status, "enterprise_draw_id": d.enterprise_draw_id,
                   "plan_created_by": plan.get("created_by"), "plan_approved_by": plan.get("approved_by"),
                   "attempt": d.attempt, "abandoned_by": d.abandoned_by, "abandoned_at": _iso(d.abandoned_at),
                   "abandon_reason": d.abandon_reason,
                   "frozen_by": d.frozen_by, "frozen_at": _iso(d.frozen_at),
                   "seed_entered_by": d.seed_entered_by, "seed_entered_at": _iso(d.seed_entered_at),
                   "seed_confirmed_by": d.seed_confirmed_by, "seed_confirmed_at": _iso(d.seed_confirmed_at),
                   "committed_by": d.committed_by, "committed_at": _iso(d.committed_at),
                   "replacements": [replacement_dict(r) for r in reps]},
    }


def _iso(v) -> str | None:
    return v.isoformat() if v else None


def export_json_bytes(export: dict[str, Any]) -> bytes:
    return (canonical_json(export) + "\n").encode("utf-8")


def export_csv_bytes(export: dict[str, Any]) -> bytes:
    """CSV: one row per unit in (unit_id, stratum) order, after ``#`` lines with the digest,
    seed and algorithm. Verifiable offline from the JSON export (the CSV lacks unit records)."""
    buf = io.StringIO()
    w = csv_writer(buf, lineterminator="\n")  # cells neutralised against formula injection
    row = w.writerow
    for key in ("format", "kind", "algorithm", "algorithm_version", "population_digest", "seed", "beacon", "result_digest"):
        row([f"# {key}", export.get(key) or ""])
    row(["# plan", export["plan"]["name"]])
    row(["unit_id", "stratum", "ticket", "position", "selected", "name", "region_code"])
    for u in export["population"]:
        row([u["unit_id"], u["stratum"], u["ticket"] or "", u["position"] or "", "1" if u["selected"] else "0",
             u["data"].get("name", ""), u["data"].get("region_code", "")])
    return buf.getvalue().encode("utf-8")


async def export(ctx: ServiceContext, principal: Principal, draw_id: str) -> dict[str, Any]:
    async with ctx.db.session() as s:
        d = await get_visible_draw(s, principal, draw_id)
        if d.status == "created":
            raise Problem(409, "population-not-frozen", "总体尚未冻结，无可导出内容")
        return await build_export(s, d)


async def verify_draw(ctx: ServiceContext, principal: Principal, draw_id: str) -> dict[str, Any]:
    async with ctx.db.session() as s:
        d = await get_visible_draw(s, principal, draw_id)
        if d.status != "committed":
            raise Problem(409, "draw-state", "抽取尚未提交，无法校验")
        exp = await build_export(s, d)
    diffs = verify.verify_export(exp)
    return {"draw_id": draw_id, "verified": not diffs, "differences": diffs,
            "population_digest": d.population_digest, "units": len(exp["population"])}


def _public_draw(d: Draw) -> dict[str, Any]:
    return {"draw_id": d.id, "plan_id": d.plan_id, "kind": d.kind, "attempt": d.attempt, "status": d.status,
            "enterprise_draw_id": d.enterprise_draw_id,
            "population_count": d.population_count, "population_digest": d.population_digest,
            "seed": d.seed, "beacon": d.beacon, "frozen_at": _iso(d.frozen_at), "seed_entered_at": _iso(d.seed_entered_at),
            "committed_at": _iso(d.committed_at), "result_digest": d.result_digest,
            "abandoned": d.status == "abandoned", "abandoned_by": d.abandoned_by, "abandoned_at": _iso(d.abandoned_at),
            "abandon_reason": d.abandon_reason, "status_before_abandon": d.status_before_abandon}


async def public_view(ctx: ServiceContext, draw_id: str) -> dict[str, Any]:
    """一公开: what anyone may see of a committed draw (no token), also after it was abandoned."""
    async with ctx.db.session() as s:
        d = (await s.execute(select(Draw).where(Draw.id == draw_id, Draw.committed_at.is_not(None)))).scalar_one_or_none()
        if d is None:
            raise not_found("已提交的抽取", draw_id)
        plan = d.plan_snapshot
        out = {**_public_draw(d), "plan_name": plan["name"], "batch": plan["batch"], "owner_region": d.owner_region,
               "plan_source": plan.get("source"), "source_statement": plan.get("source_statement"),
               "deviations": plan.get("deviations") or [],
               "digest_rule": verify.DIGEST_RULE, "seed_rule": verify.SEED_RULE, "result_digest_rule": verify.RESULT_DIGEST_RULE,
               "strata_rules": {"first_match": strata.FIRST_MATCH_RULE, "multi_category": strata.MULTI_CATEGORY_RULE},
               "algorithm": d.algorithm, "algorithm_version": d.algorithm_version,
               "rules": plan["rules"], "strata_disclosure": None,
               "strata": strata.public_strata(d.strata, plan["rules"])}
        risky = strata.uses_risk_classes(plan["rules"])
        if risky:
            out["strata_disclosure"] = RISK_DISCLOSURE
        if d.kind == "enterprise":
            q = select(DrawUnit).where(DrawUnit.draw_id == d.id, DrawUnit.selected.is_(True))
            units = list((await s.execute(q.order_by(DrawUnit.unit_id) if risky else q.order_by(DrawUnit.stratum, DrawUnit.position))).scalars())
            if risky:
                # classes are internal: nothing per enterprise (label, order, ticket) tells a risk stratum's units apart
                out["selected"] = [{"uscc": u.unit_id, "name": u.data.get("name"), "region_code": u.data.get("region_code"),
                                    "stratum": SELECTED_PUBLIC} for u in units]
            else:
                out["selected"] = [{"uscc": u.unit_id, "name": u.data.get("name"), "region_code": u.data.get("region_code"),
                                    "stratum": u.stratum, "ticket": u.ticket} for u in units]
            out["replacements"] = [{"replaced_uscc": r.replaced_uscc, "replacement_uscc": r.replacement_uscc,
                                    "reason": r.reason, "recorded_at": _iso(r.recorded_at)} for r in await _replacements(s, d.id)]
        return out


async def public_plan(ctx: ServiceContext, plan_id: str) -> dict[str, Any]:
    """一公开 of an approved plan: its rules, deviations from its template, and every draw attempt
    ever frozen (seed if entered, status, abandonment with reason and official)."""
    from .models import SamplingPlan

    async with ctx.db.session() as s:
        plan = (await s.execute(select(SamplingPlan).where(SamplingPlan.id == plan_id, SamplingPlan.status == "approved"))).scalar_one_or_none()
        if plan is None:
            raise not_found("已批准的抽查计划", plan_id)
        attempts = list((await s.execute(select(Draw).where(Draw.plan_id == plan_id, Draw.frozen_at.is_not(None))
                                         .order_by(Draw.kind, Draw.attempt))).scalars())
    p = plan_dict(plan)
    keep = ("id", "name", "batch", "owner_region", "catalogue", "licence_status", "settings", "rules", "source", "source_statement", "template",
            "deviations", "strata_rules", "date_rules", "created_by", "approved_by", "approved_at")
    return {**{k: p[k] for k in keep}, "draw_attempts": [_public_draw(d) for d in attempts]}


# ---------------------------------------------------------------- abandonment
async def abandon(ctx: ServiceContext, request: Request, principal: Principal, draw_id: str, reason: str) -> Draw:
    """Declare a draw void, on the public record: a province official other than the one who ran it
    (created or committed it), with a reason. The units stay; a new draw is a new, numbered attempt."""
    async with ctx.db.transaction() as s:
        d = await get_visible_draw(s, principal, draw_id, for_update=True)
        if not principal.has("province_admin"):
            raise Problem(403, "forbidden", "只有省局工作人员可以作废抽取", detail="作废抽取须由省局管理员办理")
        if d.status == "abandoned":
            raise Problem(409, "draw-abandoned", "该次抽取已作废", detail=f"已于 {_iso(d.abandoned_at)} 由 {d.abandoned_by} 作废")
        ran = {d.created_by, d.committed_by} - {None}
        if principal.sub in ran:
            raise Problem(409, "same-official", "须由执行抽取以外的另一名省局工作人员作废",
                          detail=f"抽取由 {'、'.join(sorted(ran))} 执行，作废须由另一名工作人员决定",
                          errors=[{"field": "abandoned_by", "message": "作废人不能是执行该次抽取的人员"}])
        if d.kind == "enterprise":
            dep = (await s.execute(select(Draw.id).where(Draw.enterprise_draw_id == d.id, Draw.status != "abandoned"))).scalars().first()
            if dep:
                raise Problem(409, "dependent-draw", "须先作废依据该企业抽取的检查人员抽取",
                              detail=f"检查人员抽取 {dep} 依据本次企业抽取，须先将其作废")
        before = draw_dict(d)
        d.status_before_abandon = d.status
        d.status = "abandoned"
        d.abandoned_by, d.abandoned_at, d.abandon_reason = principal.sub, utcnow(), reason
        d.version += 1
        data = {"draw_id": d.id, "plan_id": d.plan_id, "kind": d.kind, "attempt": d.attempt, "reason": reason,
                "abandoned_by": principal.sub, "abandoned_at": _iso(d.abandoned_at), "status_before": d.status_before_abandon,
                "enterprise_draw_id": d.enterprise_draw_id, "result_digest": d.result_digest}
        await _record(ctx, s, request, principal, d, "abandoned", before, "abandoned", data, detail={"reason": reason})
    return d
