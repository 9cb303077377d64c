"""The monthly batch: indicators recomputed from facts (windows move with time), classes with
the adopted scorecard, per-enterprise alert rules (licences come due).

Once per cluster: the timer runs in every replica, only the leader of ``risk.monthly-batch``
(``shared.leader``) tries the current month. A run itself — from the timer or from an
administrator's ``POST /batches/monthly`` on any replica — holds the exclusive
``risk.monthly-batch:<period>`` while it works, so two runs of one period never overlap; the
``batch_run(period)`` row records it (``done``: never again). A ``running`` row whose lock is
free was left by a replica that died mid-run: the next run takes it over (each chunk is its own
transaction and rewrites classes idempotently)."""
from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import uuid

from sqlalchemy import select, update

from shared.db import utcnow
from shared.leader import LeaderTimer, Leadership

from . import engine
from .models import BatchRun

log = logging.getLogger("spotcheck.risk.batch")
TIMER = "risk.monthly-batch"


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


async def _claim(ctx, period: str, holder: str) -> BatchRun | None:
    """The period's row, started (or taken over) by ``holder``; None when it is done already.
    The caller holds the period's lock, so a ``running`` row has no live runner."""
    now = utcnow()
    async with ctx.db.transaction() as s:
        row = await s.get(BatchRun, period, with_for_update=not ctx.db.sqlite)
        if row is None:
            row = BatchRun(period=period, holder=holder, status="running", started_at=now)
            s.add(row)
        elif row.status == "done":
            return None
        else:
            log.warning("monthly batch %s: taking over from %s (its run stopped midway)", period, row.holder)
            row.holder, row.started_at = holder, now
    return row


async def run_monthly(ctx, period: str | None = None, holder: str | None = None) -> dict:
    """Run the period's batch if nobody has (or is running it). Returns what happened."""
    period = period or period_of(engine.today(ctx))
    holder = holder or ctx.extras.setdefault("holder", holder_id())
    lock = Leadership(ctx.db, f"{TIMER}:{period}")
    try:
        if not await lock.held():
            return {"period": period, "ran": False, "status": "running"}
        async with ctx.db.session() as s:
            model = await engine.adopted_model(s, ctx)
        if model is None:
            return {"period": period, "ran": False, "status": "no-model"}
        claimed = await _claim(ctx, period, holder)
        if claimed is None:
            async with ctx.db.session() as s:
                row = await s.get(BatchRun, period)
            return {"period": period, "ran": False, "status": row.status, "holder": row.holder}

        async def progress(s, done):
            if not await lock.held():  # its connection dropped: another replica may take over
                raise RuntimeError(f"lock of batch {period} lost")
            await s.execute(update(BatchRun).where(BatchRun.period == period).values(enterprises=done))

        result = await engine.reclassify(ctx, model, f"monthly:{period}", recompute_indicators=True, on_chunk=progress, with_alerts=True)
        async with ctx.db.transaction() as s:
            await s.execute(update(BatchRun).where(BatchRun.period == period, BatchRun.holder == holder)
                            .values(status="done", finished_at=utcnow(), enterprises=result["enterprises"], changed=result["changed"]))
            await ctx.emit(s, "batch", "completed", {"period": period, "model_version": model.version, **result})
            await ctx.audit(s, holder, "batch.monthly", "batch_run", period, after={"model_version": model.version, **result})
        return {"period": period, "ran": True, "status": "done", "holder": holder, "model_version": model.version, **result}
    finally:
        await lock.release()


def timer(ctx, interval: float) -> LeaderTimer:
    """Background: the leader tries the current month's batch every ``interval`` seconds (cheap when done)."""
    return LeaderTimer(ctx.db, TIMER, lambda: run_monthly(ctx), interval)


async def list_runs(ctx, limit: int = 24) -> list[dict]:
    async with ctx.db.session() as s:
        rows = (await s.execute(select(BatchRun).order_by(BatchRun.period.desc()).limit(limit))).scalars().all()
    return [{"period": r.period, "holder": r.holder, "status": r.status, "started_at": r.started_at, "finished_at": r.finished_at,
             "enterprises": r.enterprises, "changed": r.changed} for r in rows]
