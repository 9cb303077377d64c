"""Durable pull consumers with explicit ack, backoff, an inbox for idempotency, and parking.

A handler runs inside one DB transaction together with the inbox row, so a redelivered event
is recognised and skipped. A message that still fails after ``max_deliver`` attempts is parked
in ``parked_message`` where an operator can list and replay it, and is then terminated.
"""
from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from ..db import Database, utcnow
from ..errors import Problem
from ..observability import request_id_var
from ..tables import KernelTables
from .bus import EventBus

log = logging.getLogger("spotcheck.consumer")


class Consumer:
    """Subclass: set ``name`` and ``subjects`` (relative to the prefix) and write ``handle``."""

    name: str = "consumer"
    subjects: tuple[str, ...] = ()
    max_deliver: int = 5
    ack_wait: float = 30.0
    backoff: tuple[float, ...] = (0.5, 2.0, 10.0, 30.0)

    async def handle(self, session: AsyncSession, event: dict[str, Any]) -> None:  # pragma: no cover
        raise NotImplementedError

    def delay(self, delivered: int) -> float:
        return self.backoff[min(max(delivered - 1, 0), len(self.backoff) - 1)]


async def process(db: Database, kernel: KernelTables, consumer: Consumer, event: dict, subject: str) -> bool:
    """Apply ``event`` once. Returns False when it had already been processed.

    The event's request id becomes the context's, so effects (audit, further events) carry it."""
    token = request_id_var.set(event.get("requestid"))
    try:
        return await _process(db, kernel, consumer, event, subject)
    finally:
        request_id_var.reset(token)


async def _process(db: Database, kernel: KernelTables, consumer: Consumer, event: dict, subject: str) -> bool:
    inbox = kernel.inbox
    try:
        async with db.transaction() as s:
            seen = (
                await s.execute(select(inbox.c.event_id).where(inbox.c.event_id == event["id"], inbox.c.consumer == consumer.name))
            ).first()
            if seen:
                return False
            await consumer.handle(s, event)
            await s.execute(inbox.insert().values(event_id=event["id"], consumer=consumer.name, subject=subject, processed_at=utcnow()))
    except IntegrityError:
        # a concurrent delivery of the same event won the inbox row: the effect is in place once
        async with db.session() as s:
            seen = (
                await s.execute(select(inbox.c.event_id).where(inbox.c.event_id == event["id"], inbox.c.consumer == consumer.name))
            ).first()
        if seen:
            return False
        raise
    return True


async def park(db: Database, kernel: KernelTables, consumer: Consumer, payload: str, subject: str, error: str, deliveries: int, event_id: str) -> None:
    async with db.transaction() as s:
        await s.execute(
            kernel.parked.insert().values(
                event_id=event_id,
                consumer=consumer.name,
                subject=subject,
                payload=payload,
                error=error[:2000],
                deliveries=deliveries,
                parked_at=utcnow(),
            )
        )


async def replay_parked(db: Database, kernel: KernelTables, consumers: dict[str, Consumer], parked_id: int) -> dict:
    """Run a parked message through its consumer again (idempotently)."""
    t = kernel.parked
    async with db.session() as s:
        row = (await s.execute(select(t).where(t.c.id == parked_id))).first()
    if row is None:
        raise Problem(404, "not-found", "滞留消息不存在")
    if row.replayed_at is not None:
        raise Problem(409, "already-replayed", "该消息已重放")
    consumer = consumers.get(row.consumer)
    if consumer is None:
        raise Problem(409, "unknown-consumer", "消息所属的消费者不存在")
    event = json.loads(row.payload)
    applied = await process(db, kernel, consumer, event, row.subject)
    async with db.transaction() as s:
        await s.execute(update(t).where(t.c.id == parked_id).values(replayed_at=utcnow()))
    return {"id": parked_id, "event_id": row.event_id, "applied": applied}


class ConsumerRunner:
    """Runs the service's consumers against the stream in background tasks."""

    def __init__(self, db: Database, kernel: KernelTables, bus: EventBus, consumers: list[Consumer], batch: int = 50):
        self.db, self.kernel, self.bus = db, kernel, bus
        self.consumers = {c.name: c for c in consumers}
        self.batch = batch
        self._tasks: list[asyncio.Task] = []
        self._stop = asyncio.Event()

    def start(self) -> None:
        for c in self.consumers.values():
            self._tasks.append(asyncio.create_task(self._run(c), name=f"consumer-{c.name}"))

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    async def _subscribe(self, c: Consumer):
        js = await self.bus.jetstream()
        subjects = [f"{self.bus.prefix}.{s}" for s in c.subjects]
        config = ConsumerConfig(
            durable_name=c.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_deliver=c.max_deliver,
            ack_wait=c.ack_wait,
        )
        if len(subjects) == 1:
            config.filter_subject = subjects[0]
        else:
            config.filter_subjects = subjects
        await self._align_filter(js, c.name, subjects, config)
        return await js.pull_subscribe(subjects[0], durable=c.name, stream=self.bus.stream, config=config)

    async def _align_filter(self, js, durable: str, subjects: list[str], config: ConsumerConfig) -> None:
        """A durable consumer outlives the code that made it (it lives on the server): when a new
        version subscribes to other subjects, the consumer is made anew with the new filter. It then
        delivers the stream from the start again; the inbox makes every already-applied event a no-op.
        (Servers before NATS 2.10 keep no multi-subject filter at all: the guard in ``_handle`` covers that.)"""
        from nats.js.errors import NotFoundError

        try:
            info = await js.consumer_info(self.bus.stream, durable)
        except NotFoundError:
            return
        have = sorted(info.config.filter_subjects or ([info.config.filter_subject] if info.config.filter_subject else []))
        if have != sorted(subjects) and not (len(subjects) > 1 and not have):
            log.warning("consumer %s: filter %s → %s: made anew", durable, have, subjects)
            await js.delete_consumer(self.bus.stream, durable)

    async def _run(self, c: Consumer) -> None:
        sub = None
        wait = 0.5
        while not self._stop.is_set():
            try:
                if sub is None:
                    sub = await self._subscribe(c)
                    wait = 0.5
                try:
                    msgs = await sub.fetch(self.batch, timeout=1)
                except (asyncio.TimeoutError, TimeoutError):
                    continue
                except Exception as exc:
                    if type(exc).__name__ == "TimeoutError":
                        continue
                    raise
                for msg in msgs:
                    await self._handle(c, msg)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down: resubscribe once it is back
                log.warning("consumer %s: %s (retry in %.1fs)", c.name, exc, wait)
                sub = None
                await asyncio.sleep(wait)
                wait = min(wait * 2, 5.0)

    async def _handle(self, c: Consumer, msg) -> None:
        if not any(subject_matches(f"{self.bus.prefix}.{p}", msg.subject) for p in c.subjects):
            # a server without multi-filter consumers (NATS < 2.10 ignores filter_subjects) or a durable
            # consumer made by an older version delivers more than asked: not this consumer's event
            await msg.ack()
            return
        payload = msg.data.decode()
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        try:
            event = json.loads(payload)
            await process(self.db, self.kernel, c, event, msg.subject)
        except Exception as exc:  # noqa: BLE001 - any failure is retried, then parked
            log.warning("consumer %s: event on %s failed (delivery %d): %s", c.name, msg.subject, delivered, exc)
            if delivered >= c.max_deliver:
                event_id = ""
                try:
                    event_id = json.loads(payload).get("id", "")
                except Exception:  # noqa: BLE001
                    pass
                await park(self.db, self.kernel, c, payload, msg.subject, repr(exc), delivered, event_id)
                await msg.term()
            else:
                await msg.nak(delay=c.delay(delivered))
            return
        await msg.ack()


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS subject matching: ``*`` is one token, ``>`` the rest (one or more tokens)."""
    p, t = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(t) > i
        if i >= len(t) or (tok != "*" and tok != t[i]):
            return False
    return len(p) == len(t)
