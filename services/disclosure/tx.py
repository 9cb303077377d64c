"""Write transactions of this service. On SQLite (one writer at a time) they queue on an
in-process lock instead of meeting in SQLite's busy handler, whose sleeps grow to 100 ms and made
publication latency balloon under load; on PostgreSQL it is simply ``ctx.db.transaction()``."""
from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncSession


@asynccontextmanager
async def write(ctx) -> AsyncIterator[AsyncSession]:
    lock = ctx.extras.get("write_lock") if ctx.db.sqlite else None
    if lock is None:
        async with ctx.db.transaction() as s:
            yield s
        return
    async with lock:
        async with ctx.db.transaction() as s:
            yield s
