"""Scorecard versions: draft → proposed (published by a province admin) → adopted by a *second*
province admin (four eyes: neither its author nor its proposer), or rejected. Adopting makes
the previous adopted version ``superseded`` and reclassifies every enterprise from stored
indicators; the effect can be seen before (``preview``: class migration matrix)."""
from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match

from . import engine, scorecard
from .models import ScoreModel


def model_out(m: ScoreModel, full: bool = True) -> dict[str, Any]:
    out = {"version": m.version, "name": m.name, "status": m.status, "source": m.source, "note": m.note,
           "created_by": m.created_by, "created_at": m.created_at, "proposed_by": m.proposed_by, "proposed_at": m.proposed_at,
           "decided_by": m.decided_by, "decided_at": m.decided_at, "decision_note": m.decision_note, "row_version": m.row_version}
    if full:
        out["definition"] = m.definition
        out["fit_report"] = m.fit_report
    return out


async def next_version(s: AsyncSession) -> int:
    return ((await s.execute(select(func.max(ScoreModel.version)))).scalar() or 0) + 1


async def create(ctx, s: AsyncSession, principal: Principal, name: str, definition: dict, note: str | None,
                 source: str = "expert", fit_report: dict | None = None) -> ScoreModel:
    defn = scorecard.validate(definition)
    m = ScoreModel(version=await next_version(s), name=name, definition=defn, note=note, source=source,
                   fit_report=fit_report, created_by=principal.sub)
    s.add(m)
    await s.flush()
    await ctx.audit(s, principal, "model.create", "score_model", str(m.version), after=model_out(m, full=False))
    return m


async def ensure_initial(ctx) -> None:
    """Version 1 (the expert scorecard) adopted when the database has no model at all. Replicas
    starting together: one installs it, the others' primary-key conflict means it is there."""
    try:
        await _install_initial(ctx)
    except IntegrityError:
        pass


async def _install_initial(ctx) -> None:
    async with ctx.db.transaction() as s:
        if (await s.execute(select(func.count()).select_from(ScoreModel))).scalar_one():
            return
        now = utcnow()
        m = ScoreModel(version=1, name="专家评分卡 v1（初始）", definition=scorecard.validate(scorecard.EXPERT_V1), source="expert",
                       status="adopted", created_by="system", proposed_by="system", proposed_at=now, decided_by="system",
                       decided_at=now, note="服务首次启动时安装的专家设定评分卡；后续版本须经两名省局管理员发布与采用")
        s.add(m)
        await s.flush()
        await ctx.audit(s, "system", "model.install", "score_model", "1", after=model_out(m, full=False))


async def get(s: AsyncSession, version: int, for_update: bool = False) -> ScoreModel:
    q = select(ScoreModel).where(ScoreModel.version == version)
    if for_update:
        q = q.with_for_update()
    m = (await s.execute(q)).scalar_one_or_none()
    if m is None:
        raise not_found("评分卡版本", str(version))
    return m


async def _transition(ctx, request: Request, principal: Principal, version: int, allowed: str, to: str, note: str | None) -> ScoreModel:
    async with ctx.db.transaction() as s:
        m = await get(s, version, for_update=True)
        require_if_match(request, m.row_version)
        if m.status != allowed:
            raise Problem(409, "model-state", "评分卡版本状态不允许此操作", detail=f"版本 {version} 当前为 {m.status}，此操作要求 {allowed}")
        before = model_out(m, full=False)
        now = utcnow()
        if to == "proposed":
            m.proposed_by, m.proposed_at = principal.sub, now
        else:
            if principal.sub in (m.created_by, m.proposed_by):
                raise Problem(403, "four-eyes", "须由另一名省局管理员决定",
                              detail="评分卡版本的采用或驳回须由其编制人和发布人以外的另一名省局管理员进行（双人复核）")
            m.decided_by, m.decided_at, m.decision_note = principal.sub, now, note
            if to == "adopted":
                # Exactly one adopted version. PostgreSQL (READ COMMITTED): lock the adopted row first, so a concurrent
                # adoption waits here; the UPDATE below is a new statement that then sees the version the other one
                # adopted and supersedes it (an UPDATE alone would re-check only the rows it had found, and both would
                # end adopted). SQLite runs one writer at a time and the UPDATE is its first write. The partial unique
                # index ``uq_score_model_one_adopted`` is the last line on both.
                await s.execute(select(ScoreModel.version).where(ScoreModel.status == "adopted").with_for_update())
                await s.execute(update(ScoreModel).where(ScoreModel.status == "adopted").values(status="superseded"))
        m.status = to
        m.row_version += 1
        try:
            await s.flush()
        except IntegrityError:
            raise Problem(409, "model-adopt-conflict", "另一评分卡版本正在被采用",
                          detail="同一时间只能有一个评分卡版本处于采用状态，请刷新后重试") from None
        data = {"version": m.version, "name": m.name, "status": m.status, "by": principal.sub, "note": note}
        await ctx.emit(s, "model", to, data, subject_id=str(m.version), actor=principal.sub)
        await ctx.audit(s, principal, f"model.{to}", "score_model", str(m.version), before=before, after=model_out(m, full=False),
                        detail={"note": note} if note else None)
    return m


async def propose(ctx, request, principal, version: int, note: str | None) -> ScoreModel:
    return await _transition(ctx, request, principal, version, "draft", "proposed", note)


async def reject(ctx, request, principal, version: int, note: str | None) -> ScoreModel:
    return await _transition(ctx, request, principal, version, "proposed", "rejected", note)


async def adopt(ctx, request, principal, version: int, note: str | None) -> tuple[ScoreModel, dict]:
    m = await _transition(ctx, request, principal, version, "proposed", "adopted", note)
    compiled = scorecard.compile_definition(m.definition, m.version)
    result = await engine.reclassify(ctx, compiled, f"model:{m.version}", recompute_indicators=False)
    return m, result


async def preview(ctx, version: int) -> dict[str, Any]:
    async with ctx.db.session() as s:
        m = await get(s, version)
    out = await engine.migration_matrix(ctx, scorecard.compile_definition(m.definition, m.version))
    return {"version": version, **out}
