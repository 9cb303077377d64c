"""The monthly batch: indicators recomputed from facts (windows move with time), classes with
the adopted scorecard, per-enterprise alert rules (licences come due). Once per cluster: the
``batch_run`` row of the period is the lease — a replica inserts it (primary key) or takes over
one whose lease expired (conditional UPDATE); everyone else skips. The holder renews the lease
after every chunk."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket
import uuid

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from shared.db import utcnow

from . import engine
from .models import BatchRun

log = logging.getLogger("spotcheck.risk.batch")
LEASE = dt.timedelta(minutes=10)


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def period_of(day: dt.date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


async def acquire(ctx, period: str, holder: str) -> bool:
    now = utcnow()
    try:
        async with ctx.db.transaction() as s:
            s.add(BatchRun(period=period, holder=holder, status="running", lease_until=now + LEASE, started_at=now))
        return True
    except IntegrityError:
        pass
    async with ctx.db.transaction() as s:
        res = await s.execute(update(BatchRun).where(BatchRun.period == period, BatchRun.status == "running", BatchRun.lease_until < now)
                              .values(holder=holder, lease_until=now + LEASE, started_at=now))
        return res.rowcount == 1


async def run_monthly(ctx, period: str | None = None, holder: str | None = None) -> dict:
    """Run the period's batch if nobody has (or is running it). Returns what happened."""
    period = period or period_of(engine.today(ctx))
    holder = holder or ctx.extras.setdefault("holder", holder_id())
    if not await acquire(ctx, period, holder):
        async with ctx.db.session() as s:
            row = await s.get(BatchRun, period)
        return {"period": period, "ran": False, "status": row.status if row else None, "holder": row.holder if row else None}
    async with ctx.db.session() as s:
        model = await engine.adopted_model(s, ctx)
    if model is None:
        return {"period": period, "ran": False, "status": "no-model"}

    async def renew(s, done):
        res = await s.execute(update(BatchRun).where(BatchRun.period == period, BatchRun.holder == holder)
                              .values(lease_until=utcnow() + LEASE, enterprises=done))
        if res.rowcount != 1:
            raise RuntimeError(f"lease of batch {period} lost")

    result = await engine.reclassify(ctx, model, f"monthly:{period}", recompute_indicators=True, on_chunk=renew, with_alerts=True)
    async with ctx.db.transaction() as s:
        await s.execute(update(BatchRun).where(BatchRun.period == period, BatchRun.holder == holder)
                        .values(status="done", finished_at=utcnow(), enterprises=result["enterprises"], changed=result["changed"]))
        await ctx.emit(s, "batch", "completed", {"period": period, "model_version": model.version, **result})
        await ctx.audit(s, holder, "batch.monthly", "batch_run", period, after={"model_version": model.version, **result})
    return {"period": period, "ran": True, "status": "done", "holder": holder, "model_version": model.version, **result}


async def loop(ctx, interval: float) -> None:
    """Background: try the current month's batch every ``interval`` seconds (cheap when done)."""
    while True:
        try:
            await run_monthly(ctx)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - retried at the next tick
            log.warning("monthly batch failed: %s", exc)
        await asyncio.sleep(interval)


async def list_runs(ctx, limit: int = 24) -> list[dict]:
    async with ctx.db.session() as s:
        rows = (await s.execute(select(BatchRun).order_by(BatchRun.period.desc()).limit(limit))).scalars().all()
    return [{"period": r.period, "holder": r.holder, "status": r.status, "started_at": r.started_at, "finished_at": r.finished_at,
             "enterprises": r.enterprises, "changed": r.changed} for r in rows]
