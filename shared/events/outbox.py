"""Transactional outbox: the event row commits with the state change, a relay publishes it."""
from __future__ import annotations

import asyncio
import itertools
import json
import logging
import time
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, utcnow
from ..tables import KernelTables
from .bus import EventBus
from .envelope import make_event

log = logging.getLogger("spotcheck.outbox")
_counter = itertools.count()


def _seq() -> int:
    # nanosecond clock + in-process counter: ordered within a process, roughly across processes
    return time.time_ns() + next(_counter) % 1000


async def emit(
    session: AsyncSession,
    kernel: KernelTables,
    service: str,
    entity: str,
    verb: str,
    data: dict[str, Any],
    *,
    prefix: str = "spotcheck",
    subject_id: str | None = None,
    request_id: str | None = None,
    actor: str | None = None,
) -> dict:
    """Write an event to the outbox inside the caller's transaction."""
    event = make_event(service, entity, verb, data, subject_id=subject_id, request_id=request_id, actor=actor)
    await session.execute(
        kernel.outbox.insert().values(
            id=event["id"],
            seq=_seq(),
            subject=f"{prefix}.{service}.{entity}.{verb}",
            payload=json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str),
            created_at=utcnow(),
            attempts=0,
        )
    )
    session.info["outbox_dirty"] = True
    return event


async def emit_many(
    session: AsyncSession,
    kernel: KernelTables,
    service: str,
    events: list[tuple[str, str, dict[str, Any], str | None]],
    *,
    prefix: str = "spotcheck",
    request_id: str | None = None,
    actor: str | None = None,
) -> list[dict]:
    """Several ``(entity, verb, data, subject_id)`` events in one multi-row insert, inside the
    caller's transaction (for sweeps that change many records at once). An item may carry its own
    ``actor`` and ``request_id`` as 5th and 6th elements (a batch of several requests' changes)."""
    out, rows = [], []
    for entity, verb, data, subject_id, *own in events:
        event = make_event(service, entity, verb, data, subject_id=subject_id, request_id=own[1] if len(own) > 1 else request_id,
                           actor=own[0] if own else actor)
        out.append(event)
        rows.append({
            "id": event["id"], "seq": _seq(), "subject": f"{prefix}.{service}.{entity}.{verb}",
            "payload": json.dumps(event, ensure_ascii=False, separators=(",", ":"), default=str),
            "created_at": utcnow(), "attempts": 0,
        })
    if rows:
        await session.execute(kernel.outbox.insert(), rows)
        session.info["outbox_dirty"] = True
    return out


class OutboxRelay:
    """Publishes unsent outbox rows in order; marks a row sent only after JetStream's ack."""

    def __init__(self, db: Database, kernel: KernelTables, bus: EventBus, interval: float = 0.5, batch: int = 200):
        self.db, self.kernel, self.bus = db, kernel, bus
        self.interval, self.batch = interval, batch
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.published = 0

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="outbox-relay")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task:
            try:
                await asyncio.wait_for(self._task, 5)
            except (asyncio.TimeoutError, asyncio.CancelledError):
                self._task.cancel()

    async def pending(self) -> int:
        from sqlalchemy import func

        t = self.kernel.outbox
        async with self.db.session() as s:
            return (await s.execute(select(func.count()).select_from(t).where(t.c.sent_at.is_(None)))).scalar_one()

    async def publish_pending(self) -> int:
        """One pass: publish up to ``batch`` rows. Raises when NATS is unreachable.

        On PostgreSQL the rows are claimed with ``FOR UPDATE SKIP LOCKED`` for the pass, so the
        relays of several replicas never publish the same row concurrently (JetStream's
        ``Nats-Msg-Id`` de-duplication stays the second line of defence). A SQLite file has one
        writer host, so one relay; there the rows are read, published and marked one by one."""
        if not self.db.sqlite:
            return await self._publish_claimed()
        t = self.kernel.outbox
        async with self.db.session() as s:
            rows = (
                await s.execute(
                    select(t.c.id, t.c.subject, t.c.payload).where(t.c.sent_at.is_(None)).order_by(t.c.seq).limit(self.batch)
                )
            ).all()
        if not rows:
            return 0
        js = await self.bus.jetstream()
        sent = 0
        for row in rows:
            try:
                await js.publish(row.subject, row.payload.encode(), headers={"Nats-Msg-Id": row.id}, timeout=5)
            except Exception as exc:
                async with self.db.transaction() as s:
                    await s.execute(update(t).where(t.c.id == row.id).values(attempts=t.c.attempts + 1, last_error=str(exc)[:500]))
                raise
            async with self.db.transaction() as s:
                await s.execute(update(t).where(t.c.id == row.id).values(sent_at=utcnow(), attempts=t.c.attempts + 1))
            sent += 1
        self.published += sent
        return sent

    async def _publish_claimed(self) -> int:
        t = self.kernel.outbox
        failure: Exception | None = None
        sent = 0
        async with self.db.transaction() as s:
            rows = (
                await s.execute(
                    select(t.c.id, t.c.subject, t.c.payload).where(t.c.sent_at.is_(None)).order_by(t.c.seq)
                    .limit(self.batch).with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            js = await self.bus.jetstream()
            for row in rows:
                try:
                    await js.publish(row.subject, row.payload.encode(), headers={"Nats-Msg-Id": row.id}, timeout=5)
                except Exception as exc:  # keep what was published marked; this row is retried
                    await s.execute(update(t).where(t.c.id == row.id).values(attempts=t.c.attempts + 1, last_error=str(exc)[:500]))
                    failure = exc
                    break
                await s.execute(update(t).where(t.c.id == row.id).values(sent_at=utcnow(), attempts=t.c.attempts + 1))
                sent += 1
        self.published += sent
        if failure is not None:
            raise failure
        return sent

    async def _run(self) -> None:
        backoff = self.interval
        while not self._stop.is_set():
            try:
                sent = await self.publish_pending()
                backoff = self.interval
                if sent:
                    continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down or DB busy: wait and retry, nothing is lost
                log.warning("outbox relay: %s (retry in %.1fs)", exc, backoff)
                await self._sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            await self._sleep(self.interval)

    async def _sleep(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except asyncio.TimeoutError:
            pass
        self._wake.clear()
