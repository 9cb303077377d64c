"""Write transactions of this service. On SQLite (one writer at a time) every write transaction
of the process — ours, the outbox relay's, the consumers', the audit's — queues on one in-process
lock instead of meeting in SQLite's busy handler, whose sleeps grow to 100 ms and made publication
latency balloon under load. On PostgreSQL nothing changes."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import Database


def queue_sqlite_writes(db: Database) -> None:
    """Make ``db.transaction()`` wait for the process's previous write transaction (SQLite only).
    Write transactions in this service never nest, so one non-reentrant lock is enough."""
    if not db.sqlite or getattr(db, "_write_queue", None) is not None:
        return
    lock = asyncio.Lock()
    plain = db.transaction

    @asynccontextmanager
    async def transaction() -> AsyncIterator[AsyncSession]:
        async with lock:
            async with plain() as s:
                yield s

    db._write_queue = lock
    db.transaction = transaction


def write(ctx):
    return ctx.db.transaction()
