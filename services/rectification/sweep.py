"""Time passing, by itself: the periodic sweep turns cases overdue when their deadline has passed,
sends reminders before deadlines, and retries deadlines that waited for a calendar year.

- State-based, not timer-based: each run looks for what *should* have happened by today (the
  injectable clock), so a restart, a missed tick or a moved clock is caught up on the next run.
- Once per cluster, not once per replica: every replica runs the timer, only the leader of
  ``rectification.deadline-sweep`` (``shared.leader``: a PostgreSQL advisory lock; on SQLite the
  only process) sweeps. Each case is also flipped with a conditional update (``overdue = false``
  in the WHERE), so even two runners could not emit twice.
"""
from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import insert, select, update

from shared.calendar import CalendarYearMissing
from shared import audit
from shared.db import new_id, utcnow
from shared.events.outbox import emit_many
from shared.leader import LeaderTimer
from shared.observability import request_id_var

from . import deadlines
from .models import Case, CaseAction
from .scope import today

log = logging.getLogger("spotcheck.rectification.sweep")
LEADERSHIP = "rectification.deadline-sweep"


def _locked(q, ctx):
    return q.with_for_update(skip_locked=True) if not ctx.db.sqlite else q


async def _flip(s, ids: list[str], guard, values: dict) -> set[str]:
    """Conditional set-based update of the batch; the ids it really changed (another runner's
    changes are not counted twice)."""
    r = await s.execute(update(Case).where(Case.id.in_(ids), guard).values(**values).returning(Case.id)
                        .execution_options(synchronize_session=False))
    return set(r.scalars())


async def _record(ctx, s, rows, kind: str, verb: str, texts, datas, on: dt.date) -> None:
    """Timeline rows, events and audit entries of a batch: three multi-row inserts."""
    now = utcnow()
    await s.execute(insert(CaseAction), [
        {"id": new_id(), "case_id": c.id, "kind": kind, "on": on, "text": texts(c), "evidence": [], "actor": "rectification", "at": now}
        for c in rows])
    await emit_many(s, ctx.kernel, ctx.name, [("case", verb, datas(c), c.id) for c in rows], prefix=ctx.settings.events_prefix,
                    actor="rectification", request_id=request_id_var.get())
    await audit.append_many(s, ctx.kernel, [{"actor": "rectification", "action": f"case.{verb}", "entity_type": "case", "entity_id": c.id,
                                             "detail": {"deadline": c.deadline.isoformat(), "on": on.isoformat()}} for c in rows])


_SWEEP_COLS = (Case.id, Case.uscc, Case.enterprise_name, Case.region_code, Case.city_code, Case.county_code, Case.deadline, Case.problems_open)


def overdue_text(c) -> str:
    return f"整改期限 {c.deadline.isoformat()} 已届满，仍有 {c.problems_open} 项问题未报告整改"


def overdue_data(c, on: dt.date) -> dict:
    """The data of ``rectification.case.overdue`` (the sweep's and a late report's alike)."""
    return {"case_id": c.id, "uscc": c.uscc, "enterprise_name": c.enterprise_name, "region_code": c.region_code,
            "city_code": c.city_code, "county_code": c.county_code, "deadline": c.deadline, "overdue_on": on,
            "problems_open": c.problems_open}


async def mark_overdue(ctx, on: dt.date, batch: int = 500) -> int:
    """Open cases whose deadline has passed become overdue: one event each, in batches."""
    total = 0
    while True:
        async with ctx.db.transaction() as s:
            q = select(*_SWEEP_COLS).where(Case.status == "open", Case.overdue.is_(False), Case.deadline < on).order_by(Case.id).limit(batch)
            found = (await s.execute(_locked(q, ctx))).all()
            if found:
                done = await _flip(s, [c.id for c in found], Case.overdue.is_(False), {"overdue": True, "overdue_on": on, "version": Case.version + 1})
                rows = [c for c in found if c.id in done]
                await _record(ctx, s, rows, "overdue", "overdue", overdue_text, lambda c: overdue_data(c, on), on)
                total += len(rows)
        if len(found) < batch:
            return total


async def send_reminders(ctx, on: dt.date, batch: int = 500) -> int:
    """Open cases within ``REMIND_WORKDAYS`` working days of their deadline: one reminder each."""
    cal = deadlines.calendar_of(ctx)
    total = 0
    while True:
        async with ctx.db.transaction() as s:
            q = (select(*_SWEEP_COLS).where(Case.status == "open", Case.reminded_on.is_(None), Case.remind_on <= on, Case.deadline >= on)
                 .order_by(Case.id).limit(batch))
            found = (await s.execute(_locked(q, ctx))).all()
            if found:
                done = await _flip(s, [c.id for c in found], Case.reminded_on.is_(None), {"reminded_on": on})
                rows = [c for c in found if c.id in done]
                left = {c.id: cal.workdays_between(on, c.deadline) for c in rows}
                await _record(
                    ctx, s, rows, "reminder", "reminder",
                    lambda c: f"距整改期限 {c.deadline.isoformat()} 还有 {left[c.id]} 个工作日",
                    lambda c: {"case_id": c.id, "uscc": c.uscc, "enterprise_name": c.enterprise_name, "region_code": c.region_code,
                               "city_code": c.city_code, "county_code": c.county_code, "deadline": c.deadline,
                               "workdays_left": left[c.id], "problems_open": c.problems_open},
                    on)
                total += len(rows)
        if len(found) < batch:
            return total


async def retry_deadlines(ctx, batch: int = 500) -> int:
    """Cases whose deadline waited for a holiday schedule: compute it once the year is loaded."""
    cal = deadlines.calendar_of(ctx)
    done, after = 0, ""
    while True:
        async with ctx.db.transaction() as s:
            rows = list((await s.execute(select(Case).where(Case.deadline.is_(None), Case.deadline_problem.is_not(None),
                                                            Case.status.in_(("open", "reported")), Case.id > after)
                                         .order_by(Case.id).limit(batch))).scalars())
            for c in rows:
                after = c.id
                try:
                    deadline = deadlines.deadline_for(cal, c.handed_over_on, c.period_value, c.period_unit)
                    remind_on = deadlines.remind_on_for(cal, c.handed_over_on, deadline)
                except CalendarYearMissing:
                    continue
                c.deadline, c.remind_on, c.deadline_problem = deadline, remind_on, None
                c.version += 1
                await ctx.emit(s, "case", "deadline_set", {"case_id": c.id, "uscc": c.uscc, "region_code": c.region_code,
                                                          "city_code": c.city_code, "county_code": c.county_code, "deadline": deadline},
                               subject_id=c.id, actor="rectification")
                await ctx.audit(s, "rectification", "case.deadline_set", "case", c.id, detail={"deadline": deadline.isoformat()})
                done += 1
        if len(rows) < batch:
            return done


async def sweep(ctx) -> dict:
    """One pass (the caller leads). Safe to run any number of times."""
    on = today(ctx)
    out = {"on": on.isoformat(), "deadlines_set": await retry_deadlines(ctx)}
    out["overdue"] = await mark_overdue(ctx, on)
    out["reminders"] = await send_reminders(ctx, on)
    if out["overdue"] or out["reminders"] or out["deadlines_set"]:
        ctx.relay.wake()
    return out


class Sweeper(LeaderTimer):
    """Background timer of every replica; only the cluster's leader sweeps (at once on start:
    whatever fell due while the service was down is caught up)."""

    def __init__(self, ctx, interval: float = 60.0):
        super().__init__(ctx.db, LEADERSHIP, lambda: sweep(ctx), interval)
        self.ctx = ctx

    async def run_once(self) -> dict | None:
        """One tick: the sweep's figures when this replica leads, else None."""
        return await self.tick()
