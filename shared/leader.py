"""Once per cluster, not once per replica: a timer (overdue sweep, webhook retries, monthly risk
batch) runs only in the replica that holds its leadership.

On PostgreSQL leadership is a session-level advisory lock (``pg_try_advisory_lock``) held on a
connection of its own: exactly one replica holds it, and when that replica dies its connection
closes and the lock is free for the next one at its next tick. No table, no clock skew, no lease
to renew. A SQLite file lives on one host with one writer, so there the only process leads — and
within it, the first ``Leadership`` object to ask (until it releases or is garbage-collected), so
two app instances in one process behave as two replicas do on PostgreSQL.

    leader = Leadership(ctx.db, "rectification.overdue-sweep")
    async def tick():
        if await leader.held():
            await sweep()
    ...
    await leader.release()   # on shutdown

or, for the usual case of a job every N seconds, ``LeaderTimer(db, name, job, interval)`` with
``start()`` / ``stop()`` / ``tick()``: every replica runs the timer, only the leader runs ``job``.
A job must still be safe to run twice (conditional updates): a leader whose connection drops in
the middle of a run loses the lock while its job goes on, and the next leader may start at once.
"""
from __future__ import annotations

import asyncio
import hashlib
import logging
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import pool, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from .db import Database

log = logging.getLogger("spotcheck.leader")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for the name (PostgreSQL advisory locks take a bigint)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# SQLite: (database url, key) → the Leadership object of this process that holds it
_LOCAL: "weakref.WeakValueDictionary[tuple[str, int], Leadership]" = weakref.WeakValueDictionary()


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
            owner = _LOCAL.setdefault((self.db.url, self.key), self)
            return owner is self
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
        if _LOCAL.get((self.db.url, self.key)) is self:
            del _LOCAL[(self.db.url, self.key)]
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


class LeaderTimer:
    """Every ``interval`` seconds, ``job()`` runs in the one replica that holds the leadership
    ``name`` (all replicas run the timer; the others only try to take the lead at each tick).
    ``first_delay``: seconds before the first tick (0: at once on start, catching up whatever
    fell due while the cluster was down). Errors of a run are logged and retried next tick."""

    def __init__(self, db: Database, name: str, job: Callable[[], Awaitable[Any]], interval: float,
                 first_delay: float = 0.0):
        self.leader = Leadership(db, name)
        self.name, self.job, self.interval, self.first_delay = name, job, interval, first_delay
        self.ticks = 0  # ticks of this replica's timer
        self.runs = 0  # of which this replica led and ran the job
        self.last: Any = None
        self._task: asyncio.Task | None = None
        self._stop = asyncio.Event()

    async def tick(self) -> Any:
        """One tick: the job's result when this replica leads, else None (without running it)."""
        self.ticks += 1
        if not await self.leader.held():
            return None
        self.last = await self.job()
        self.runs += 1
        return self.last

    def start(self) -> None:
        self._stop = asyncio.Event()
        self._task = asyncio.create_task(self._run(), name=f"timer:{self.name}")

    async def _wait(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._stop.wait(), seconds)
        except asyncio.TimeoutError:
            pass

    async def _run(self) -> None:
        if self.first_delay:
            await self._wait(self.first_delay)
        while not self._stop.is_set():
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - database busy or down: next tick
                log.warning("timer %s failed: %s", self.name, exc)
            await self._wait(self.interval)

    async def stop(self) -> None:
        """Stops the timer and hands the leadership over (another replica takes it at its next tick)."""
        self._stop.set()
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
            self._task = None
        await self.leader.release()
