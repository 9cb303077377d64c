"""Publication by group commit. Every publication (审核通过 → 公示, an approved correction, a
withdrawal) takes the feed counter's row lock (the feed's total order) and the audit chain's lock
until its transaction commits, so publications are serial by nature. Instead of one transaction
each, the publications that arrive while one transaction runs wait for it and then go together in
the next one: one lock of the counter (a run of ``seq`` numbers), one read of the audit chain's
head, multi-row inserts for versions, messages, deliveries, events and audit entries.

Each request keeps its own answer: its checks (jurisdiction in SQL, If-Match, the four-eyes
rules) run on its own row and a refusal (a ``Problem``) fails that request only. An unexpected
error fails the batch's transaction, which is then retried one publication per transaction so
one bad request cannot take the others down. Rows are locked in id order (no deadlock between
replicas' batches); a result appears at most once per batch."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared import audit
from shared.auth import Principal
from shared.db import utcnow
from shared.errors import Problem, not_found
from shared.etag import require_if_match
from shared.events.outbox import emit_many
from shared.observability import request_id_var

from . import feed, tx
from .models import PlanSetting, Result

log = logging.getLogger("spotcheck.disclosure.publication")
MAX_BATCH = 64


@dataclass
class Change:
    """What a publication did to its result: the feed entry's kind, the reason, the audit action."""

    kind: str  # published | corrected | withdrawn
    action: str  # result.published | result.corrected | result.withdrawn
    reason: str | None = None
    detail: dict | None = None


@dataclass
class Job:
    """One publishing request. ``apply(session, result)`` checks (raising a ``Problem`` before it
    changes anything) and then changes the locked result; it returns the ``Change``."""

    principal: Principal
    result_id: str
    request: Any  # for If-Match
    apply: Callable[[AsyncSession, Result], Awaitable[Change]]
    request_id: str | None = None
    future: asyncio.Future = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    # filled in while the batch runs
    result: Result | None = None
    change: Change | None = None
    before: dict | None = None
    entry: feed.Entry | None = None


class Publisher:
    """One per process (``ctx.extras["publisher"]``): a leader runs a batch, the others queue."""

    def __init__(self, ctx, max_batch: int = MAX_BATCH):
        self.ctx = ctx
        self.max_batch = max_batch
        self._pending: list[Job] = []
        self._lock = asyncio.Lock()
        self.batches = 0  # batches committed (figures, tests)
        self.largest = 0

    async def submit(self, job: Job) -> Result:
        job.request_id = job.request_id or request_id_var.get()
        self._pending.append(job)
        while not job.future.done():
            async with self._lock:
                if job.future.done():
                    break
                batch = self._take()
                if batch:
                    # shielded: a leader whose request goes away does not cut the others' transaction short
                    await asyncio.shield(self._run(batch))
                    continue
            # our job is in a batch still running (its leader went away): wait for it, never spin
            await asyncio.wait({job.future})
        return job.future.result()

    def _take(self) -> list[Job]:
        batch, rest, seen = [], [], set()
        for job in self._pending:
            if len(batch) < self.max_batch and job.result_id not in seen:
                seen.add(job.result_id)
                batch.append(job)
            else:
                rest.append(job)
        self._pending = rest
        return batch

    async def _run(self, batch: list[Job]) -> None:
        try:
            async with tx.write(self.ctx) as s:
                done = await self._publish(s, batch)
        except Exception as exc:  # noqa: BLE001
            if len(batch) > 1:
                log.warning("publication batch of %d failed (%s); one by one", len(batch), exc)
                for job in batch:
                    if not job.future.done():
                        _reset(job)
                        await self._run([job])
                return
            _fail(batch[0], exc)
            return
        self.batches += 1
        self.largest = max(self.largest, len(done))
        from .results import committed

        for job in done:
            committed(self.ctx, job.result, job.entry.handed)
            if not job.future.done():
                job.future.set_result(job.result)

    async def _publish(self, s: AsyncSession, batch: list[Job]) -> list[Job]:
        from .results import public_content, result_out, scope

        clauses = []
        for job in batch:
            try:
                clauses.append((job, scope(job.principal)))
            except Problem as exc:
                _fail(job, exc)
        rows = {}
        if clauses:  # jurisdiction in SQL: each request's row only under its own principal's scope
            q = select(Result).where(or_(*[(Result.id == job.result_id) & clause for job, clause in clauses]))
            rows = {r.id: r for r in (await s.execute(q.order_by(Result.id).with_for_update())).scalars()}
        live = []
        for job, _ in clauses:
            r = rows.get(job.result_id)
            try:
                if r is None:
                    raise not_found("检查结果", job.result_id)
                require_if_match(job.request, r.version)
                job.before = result_out(r)
                job.change = await job.apply(s, r)
            except Problem as exc:
                _fail(job, exc)
                continue
            job.result = r
            live.append(job)
        if not live:
            return []
        plan_ids = {job.result.plan_id for job in live}
        plans = {p.plan_id: p for p in (await s.execute(select(PlanSetting).where(PlanSetting.plan_id.in_(plan_ids)))).scalars()}
        now = utcnow()
        for job in live:
            r, ch = job.result, job.change
            r.published_version += 1
            content = public_content(r, plans.get(r.plan_id))
            previous = r.public or {}
            content.update(version=r.published_version, status="withdrawn" if ch.kind == "withdrawn" else "published",
                           corrected=ch.kind == "corrected" or bool(previous.get("corrected")),
                           corrected_at=now.isoformat() if ch.kind == "corrected" else previous.get("corrected_at"),
                           supersedes_version=r.published_version - 1 if r.published_version > 1 else None,
                           first_published_at=(r.published_at or now).isoformat(), updated_at=now.isoformat())
            # the reason (free text people write) stays in the version history, not in what is published
            if r.published_at is None:
                r.published_at = now
            r.public = content
            job.entry = feed.Entry(r.id, r.published_version, ch.kind, content, ch.reason, job.principal.sub, now)
        await feed.append_many(self.ctx, s, [job.entry for job in live])
        await emit_many(s, self.ctx.kernel, self.ctx.name, [
            ("result", job.change.kind, _event_data(job), job.result.id, job.principal.sub, job.request_id) for job in live
        ], prefix=self.ctx.settings.events_prefix)
        await audit.append_many(s, self.ctx.kernel, [
            {"actor": job.principal.sub, "action": job.change.action, "entity_type": "result", "entity_id": job.result.id,
             "before": job.before, "after": result_out(job.result), "detail": job.change.detail, "request_id": job.request_id}
            for job in live
        ])
        return live


def _event_data(job: Job) -> dict:
    r = job.result
    return {"result_id": r.id, "version": r.published_version, "seq": job.entry.seq, "uscc": r.uscc,
            "enterprise_name": r.enterprise_name, "region_code": r.region_code, "plan_id": r.plan_id,
            "categories": list(r.categories), "follow_up": r.follow_up, "completed_on": r.completed_on.isoformat(),
            "published_at": r.published_at.isoformat(), "reason": job.change.reason}


def _fail(job: Job, exc: Exception) -> None:
    if not job.future.done():
        job.future.set_exception(exc)


def _reset(job: Job) -> None:
    job.result = job.change = job.before = job.entry = None


def publisher(ctx) -> Publisher:
    p = ctx.extras.get("publisher")
    if p is None:
        p = ctx.extras["publisher"] = Publisher(ctx)
    return p


async def publish(ctx, p: Principal, result_id: str, request, apply) -> Result:
    return await publisher(ctx).submit(Job(p, result_id, request, apply))


