"""Timers that must run once per cluster, not once per replica: a lease row in the database
(taken when free or expired, renewed by its holder) decides which replica runs them."""
from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import secrets
import socket

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError

from shared.db import utcnow

from . import results
from .models import Lease

log = logging.getLogger("spotcheck.disclosure.timers")


async def acquire(db, name: str, holder: str, ttl: float) -> bool:
    """True when ``holder`` holds the lease ``name`` for the next ``ttl`` seconds."""
    now = utcnow()
    until = now + dt.timedelta(seconds=ttl)
    async with db.transaction() as s:
        res = await s.execute(update(Lease).where(Lease.name == name, or_(Lease.holder == holder, Lease.expires_at < now))
                              .values(holder=holder, expires_at=until))
        if res.rowcount == 1:
            return True
    try:
        async with db.transaction() as s:
            s.add(Lease(name=name, holder=holder, expires_at=until))
        return True
    except IntegrityError:
        return False  # another replica holds it


class DeadlineTimer:
    """Flags overdue results (``disclosure.result.overdue``) and fills in due dates of newly
    loaded years, every ``timer_interval_seconds``, on the one replica holding the lease."""

    lease_name = "deadline-timer"

    def __init__(self, ctx):
        self.ctx = ctx
        self.holder = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._task: asyncio.Task | None = None
        self.runs = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="deadline-timer")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass

    async def tick(self) -> int | None:
        interval = self.ctx.settings.timer_interval_seconds
        if not await acquire(self.ctx.db, self.lease_name, self.holder, ttl=max(interval * 3, 30)):
            return None
        self.runs += 1
        return await results.flag_overdue(self.ctx)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.settings.timer_interval_seconds)
            try:
                await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - try again next interval
                log.warning("deadline timer: %s", exc)
