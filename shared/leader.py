"""Once per cluster, not once per replica: a timer (overdue sweep, webhook retries, monthly risk
batch) runs only in the replica that holds its leadership.

On PostgreSQL leadership is a session-level advisory lock (``pg_try_advisory_lock``) held on a
connection of its own: exactly one replica holds it, and when that replica dies its connection
closes and the lock is free for the next one at its next tick. No table, no clock skew, no lease
to renew. A SQLite file lives on one host with one writer, so there the only process leads.

    leader = Leadership(ctx.db, "rectification.overdue-sweep")
    async def tick():
        if await leader.held():
            await sweep()
    ...
    await leader.release()   # on shutdown
"""
from __future__ import annotations

import hashlib
import logging

from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .db import Database

log = logging.getLogger("spotcheck.leader")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for the name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


class Leadership:
    def __init__(self, db: Database, name: str):
        self.db, self.name, self.key = db, name, lock_key(name)
        self._conn: AsyncConnection | None = None
        self._engine: AsyncEngine | None = None

    def _connections(self) -> AsyncEngine:
        # no pool: closing the connection really ends the session, and the session's lock with it
        if self._engine is None:
            self._engine = create_async_engine(self.db.url, poolclass=pool.NullPool)
        return self._engine

    async def held(self) -> bool:
        """True when this process leads now (acquiring it if it is free)."""
        if self.db.sqlite:
            return True
        if self._conn is not None:
            try:  # still ours? (a dropped connection lost the lock with it)
                await self._conn.execute(text("SELECT 1"))
                return True
            except Exception:  # noqa: BLE001 - the connection died: lost
                log.warning("leadership %s lost with its connection", self.name)
                await self._drop()
        conn = await self._connections().connect()
        try:
            got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key})).scalar_one()
            await conn.commit()  # the lock is session-level: it outlives this transaction
        except Exception:
            await conn.close()
            raise
        if got:
            self._conn = conn
            log.info("leadership %s taken", self.name)
            return True
        await conn.close()
        return False

    async def release(self) -> None:
        if self._conn is not None:
            try:
                await self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self.key})
                await self._conn.commit()
            except Exception:  # noqa: BLE001 - closing releases it anyway
                pass
            await self._drop()
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                await conn.close()
            except Exception:  # noqa: BLE001
                pass
