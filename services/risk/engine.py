"""Recomputation: indicators from facts, classes from indicators with the adopted scorecard,
class-change history and ``risk.class.changed`` events; alerts after every refresh.

* ``refresh`` — one enterprise, inside a consumer's transaction (event-driven);
* ``reclassify`` — every enterprise in chunks (monthly batch, model adoption), each chunk one
  transaction; reads stored indicators (``recompute_indicators=False``) or facts."""
from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import new_id, utcnow
from shared.events.envelope import make_event
from shared.events.outbox import _seq
from shared.observability import request_id_var

from . import alerts, indicators
from .models import ClassChange, IndicatorValue, RiskClass, RiskEnterprise, RiskFact, ScoreModel
from .scorecard import Compiled, compile_definition

CHINA = ZoneInfo("Asia/Shanghai")
CHUNK = 2000


def today(ctx) -> dt.date:
    fn = ctx.extras.get("today")
    return fn() if fn else dt.datetime.now(CHINA).date()


async def adopted_model(session: AsyncSession, ctx) -> Compiled | None:
    row = (await session.execute(select(ScoreModel.version, ScoreModel.definition).where(ScoreModel.status == "adopted"))).first()
    if row is None:
        return None
    cache = ctx.extras.setdefault("compiled", {})
    if row.version not in cache:
        cache.clear()
        cache[row.version] = compile_definition(row.definition, row.version)
    return cache[row.version]


async def emit_many(session: AsyncSession, ctx, entity: str, verb: str, items: list[tuple[str, dict]], actor: str | None = None) -> None:
    """Outbox rows for many events in one statement (same envelope and subject as ``ctx.emit``)."""
    if not items:
        return
    rid = request_id_var.get()
    rows = []
    for subject_id, data in items:
        ev = make_event(ctx.name, entity, verb, data, subject_id=subject_id, request_id=rid, actor=actor)
        rows.append({"id": ev["id"], "seq": _seq(), "subject": f"{ctx.settings.events_prefix}.{ctx.name}.{entity}.{verb}",
                     "payload": json.dumps(ev, ensure_ascii=False, separators=(",", ":"), default=str),
                     "created_at": utcnow(), "attempts": 0})
    await session.execute(ctx.kernel.outbox.insert(), rows)
    session.info["outbox_dirty"] = True


def enterprise_state(ent: RiskEnterprise | None) -> dict[str, Any]:
    if ent is None:
        return {}
    return {"flags": ent.flags or {}, "flag_dates": ent.flag_dates or {}, "licences": ent.licences or {}}


async def _facts(session: AsyncSession, usccs: list[str]) -> dict[str, list[tuple[str, dt.date, float]]]:
    out: dict[str, list] = defaultdict(list)
    rows = await session.execute(select(RiskFact.uscc, RiskFact.kind, RiskFact.occurred_on, RiskFact.value).where(RiskFact.uscc.in_(usccs)))
    for u, k, on, v in rows:
        out[u].append((k, on, v))
    return out


def _class_row(uscc, region, model: Compiled, values, as_of):
    score, cls, contribs = model.score(values)
    return {"uscc": uscc, "region_code": region, "risk_class": cls, "score": score, "model_version": model.version,
            "contributions": contribs, "as_of": as_of, "computed_at": utcnow()}


async def _write_classes(session: AsyncSession, ctx, new: list[dict], cause: str) -> int:
    """Upsert class rows; history + events for the ones whose class changed. Returns #changed."""
    if not new:
        return 0
    current = {r.uscc: r for r in (await session.execute(
        select(RiskClass.uscc, RiskClass.risk_class).where(RiskClass.uscc.in_([n["uscc"] for n in new])))).all()}
    inserts, updates, changes, events = [], [], [], []
    for n in new:
        old = current.get(n["uscc"])
        (updates if old is not None else inserts).append(n)
        prev = old.risk_class if old is not None else None
        if prev != n["risk_class"]:
            changes.append({"id": new_id(), "uscc": n["uscc"], "region_code": n["region_code"], "from_class": prev,
                            "to_class": n["risk_class"], "score": n["score"], "model_version": n["model_version"],
                            "cause": cause[:120], "at": n["computed_at"]})
            events.append((n["uscc"], {"uscc": n["uscc"], "region_code": n["region_code"], "class": n["risk_class"],
                                       "previous": prev, "score": n["score"], "model_version": n["model_version"], "cause": cause[:120]}))
    if inserts:
        await session.execute(RiskClass.__table__.insert(), inserts)
    if updates:
        t = RiskClass.__table__
        await session.execute(
            update(t).where(t.c.uscc == bindparam("b_uscc")).values(
                region_code=bindparam("region_code"), risk_class=bindparam("risk_class"), score=bindparam("score"),
                model_version=bindparam("model_version"), contributions=bindparam("contributions"),
                as_of=bindparam("as_of"), computed_at=bindparam("computed_at")),
            [{**u, "b_uscc": u["uscc"]} for u in updates],
            execution_options={"synchronize_session": False},
        )
    if changes:
        await session.execute(ClassChange.__table__.insert(), changes)
        await emit_many(session, ctx, "class", "changed", events)
    return len(changes)


async def _write_indicators(session: AsyncSession, rows: list[dict]) -> None:
    if not rows:
        return
    t = IndicatorValue.__table__
    have = set((await session.execute(select(t.c.uscc).where(t.c.uscc.in_([r["uscc"] for r in rows])))).scalars())
    ins = [r for r in rows if r["uscc"] not in have]
    upd = [{**r, "b_uscc": r["uscc"]} for r in rows if r["uscc"] in have]
    if ins:
        await session.execute(t.insert(), ins)
    if upd:
        await session.execute(update(t).where(t.c.uscc == bindparam("b_uscc")).values(
            region_code=bindparam("region_code"), values=bindparam("values"), as_of=bindparam("as_of"),
            computed_at=bindparam("computed_at")), upd, execution_options={"synchronize_session": False})


async def refresh(session: AsyncSession, ctx, usccs: set[str], cause: str, event_data: dict | None = None) -> None:
    """Recompute indicators, class and alerts of ``usccs`` (inside the caller's transaction)."""
    as_of = today(ctx)
    model = await adopted_model(session, ctx)
    usccs = sorted(u for u in usccs if u)
    if not usccs:
        return
    ents = {e.uscc: e for e in (await session.execute(select(RiskEnterprise).where(RiskEnterprise.uscc.in_(usccs)))).scalars()}
    facts = await _facts(session, usccs)
    ind_rows, class_rows = [], []
    for u in usccs:
        ent = ents.get(u)
        values = indicators.compute(enterprise_state(ent), facts.get(u, ()), as_of)
        region = ent.region_code if ent else None
        ind_rows.append({"uscc": u, "region_code": region, "values": values, "as_of": as_of, "computed_at": utcnow()})
        if model is not None:
            class_rows.append(_class_row(u, region, model, values, as_of))
    await _write_indicators(session, ind_rows)
    await _write_classes(session, ctx, class_rows, cause)
    for u in usccs:
        if ents.get(u) is not None and ents[u].region_code:
            await alerts.evaluate_enterprise(session, ctx, ents[u], facts.get(u, ()), as_of)
    if event_data is not None:
        await alerts.evaluate_cluster(session, ctx, event_data, as_of)


async def reclassify(ctx, model: Compiled, cause: str, *, recompute_indicators: bool, on_chunk=None, with_alerts: bool = False) -> dict[str, int]:
    """Every enterprise, in chunks of ``CHUNK`` (keyset on uscc), one transaction per chunk."""
    as_of = today(ctx)
    total = changed = 0
    last = ""
    while True:
        async with ctx.db.transaction() as s:
            if recompute_indicators:
                ents = list((await s.execute(select(RiskEnterprise).where(RiskEnterprise.uscc > last)
                                             .order_by(RiskEnterprise.uscc).limit(CHUNK))).scalars())
                if not ents:
                    break
                usccs = [e.uscc for e in ents]
                facts = await _facts(s, usccs)
                ind_rows = [{"uscc": e.uscc, "region_code": e.region_code, "values": indicators.compute(enterprise_state(e), facts.get(e.uscc, ()), as_of),
                             "as_of": as_of, "computed_at": utcnow()} for e in ents]
                await _write_indicators(s, ind_rows)
                pairs = [(r["uscc"], r["region_code"], r["values"]) for r in ind_rows]
                if with_alerts:
                    for e in ents:
                        if e.region_code:
                            await alerts.evaluate_enterprise(s, ctx, e, facts.get(e.uscc, ()), as_of)
            else:
                t = IndicatorValue.__table__
                rows = (await s.execute(select(t.c.uscc, t.c.region_code, t.c["values"]).where(t.c.uscc > last)
                                        .order_by(t.c.uscc).limit(CHUNK))).all()
                if not rows:
                    break
                pairs = [(r[0], r[1], r[2]) for r in rows]
            changed += await _write_classes(s, ctx, [_class_row(u, reg, model, v, as_of) for u, reg, v in pairs], cause)
            total += len(pairs)
            last = pairs[-1][0]
            if on_chunk is not None:
                await on_chunk(s, total)
    return {"enterprises": total, "changed": changed}


async def migration_matrix(ctx, proposed: Compiled) -> dict[str, Any]:
    """How many enterprises would move from their current class to each class under ``proposed``
    (from stored indicators; nothing is written)."""
    classes = ("A", "B", "C", "D")
    matrix = {f: {t: 0 for t in classes} for f in (*classes, "未分类")}
    last = ""
    total = 0
    t = IndicatorValue.__table__
    while True:
        async with ctx.db.session() as s:
            rows = (await s.execute(select(t.c.uscc, t.c["values"], RiskClass.risk_class)
                                    .select_from(t.outerjoin(RiskClass.__table__, RiskClass.uscc == t.c.uscc))
                                    .where(t.c.uscc > last).order_by(t.c.uscc).limit(CHUNK))).all()
        if not rows:
            break
        for uscc, values, cur in rows:
            _, new_cls, _ = proposed.score(values)
            matrix[cur or "未分类"][new_cls] += 1
        total += len(rows)
        last = rows[-1][0]
    moved = sum(n for f, row in matrix.items() for to, n in row.items() if f != to)
    after = {c: sum(matrix[f][c] for f in matrix) for c in classes}
    before = {c: sum(matrix[c].values()) for c in classes}
    return {"enterprises": total, "moved": moved, "matrix": matrix, "before": before, "after": after}
