"""Login throttling shared by every gateway replica, in the gateway's database.

Each login request *reserves* an attempt before the password is checked: one atomic upsert per
key (``INSERT … ON CONFLICT DO UPDATE … WHERE attempts < limit RETURNING``, on PostgreSQL and on
SQLite alike) adds one to the key's count in its current window, or refuses when the count is at
the limit. The keys of a request (account and client address) are reserved in one transaction,
so a refusal on one consumes nothing on the other. Because the count rises *before* the check
and under the row's lock, N replicas receiving a burst at once let through at most ``limit``
attempts in total, not ``limit`` each. A successful login gives its attempt back (the account's
count is cleared; the address's count goes down by one), so only failures stay counted.

Windows are fixed: they start at a key's first attempt and last ``window_seconds``; a key at its
limit is locked out until its window ends (``Retry-After``). Expired rows are purged by the
gateway's leader (``gateway.app``)."""
from __future__ import annotations

import datetime as dt
import hashlib
import math
from collections.abc import Callable

from sqlalchemy import case, delete, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite

from shared.db import Database, UTCDateTime, utcnow
from shared.errors import Problem

from .models import LoginThrottleRow

T = LoginThrottleRow.__table__


def throttle_key(kind: str, value: str) -> str:
    key = f"{kind}:{value}"
    return key if len(key) <= 120 else f"{kind}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"


class Throttled(Exception):
    def __init__(self, retry_after: int):
        self.retry_after = retry_after


class LoginThrottle:
    """Attempts counted per account (``user:<name>`` / ``client:<id>``) and per client IP."""

    def __init__(self, db: Database, per_account: int, per_ip: int, window_seconds: float,
                 clock: Callable[[], dt.datetime] = utcnow):
        self.db, self.per_account, self.per_ip = db, per_account, per_ip
        self.window = dt.timedelta(seconds=window_seconds)
        self.clock = clock

    def _keys(self, account: str | None, ip: str | None) -> list[tuple[str, int]]:
        keys = []
        if account:
            keys.append((throttle_key(*account.split(":", 1)) if ":" in account else throttle_key("account", account), self.per_account))
        if ip:
            keys.append((throttle_key("ip", ip), self.per_ip))
        return sorted(keys)  # one lock order for every replica: no deadlock between two requests

    def _upsert(self, key: str, limit: int, now: dt.datetime):
        fresh = T.c.expires_at <= literal(now, UTCDateTime())
        ins = (postgresql.insert(T) if not self.db.sqlite else sqlite.insert(T)).values(
            key=key, attempts=1, window_start=now, expires_at=now + self.window)
        return ins.on_conflict_do_update(
            index_elements=[T.c.key],
            set_={
                "attempts": case((fresh, 1), else_=T.c.attempts + 1),
                "window_start": case((fresh, literal(now, UTCDateTime())), else_=T.c.window_start),
                "expires_at": case((fresh, literal(now + self.window, UTCDateTime())), else_=T.c.expires_at),
            },
            where=fresh | (T.c.attempts < limit),
        ).returning(T.c.attempts)

    async def admit(self, account: str | None, ip: str | None) -> None:
        """Reserve one attempt on every key, or raise 429 (nothing reserved) when one is at its limit."""
        now = self.clock()
        try:
            async with self.db.transaction() as s:
                for key, limit in self._keys(account, ip):
                    if (await s.execute(self._upsert(key, limit, now))).first() is None:
                        until = (await s.execute(select(T.c.expires_at).where(T.c.key == key))).scalar_one()
                        raise Throttled(max(1, math.ceil((until - now).total_seconds())))
        except Throttled as t:
            raise Problem(
                429, "too-many-login-attempts", "登录尝试过于频繁，请稍后再试",
                detail=f"失败次数过多，请 {t.retry_after} 秒后再试",
                headers={"Retry-After": str(t.retry_after)},
                error="slow_down",
            ) from None

    async def succeeded(self, account: str | None, ip: str | None) -> None:
        """A successful login: the account starts afresh, the address gets its attempt back."""
        now = self.clock()
        async with self.db.transaction() as s:
            if account:
                key = self._keys(account, None)[0][0]
                await s.execute(delete(T).where(T.c.key == key))
            if ip:
                await s.execute(update(T).where(T.c.key == throttle_key("ip", ip), T.c.attempts > 0, T.c.expires_at > now)
                                .values(attempts=T.c.attempts - 1))

    async def purge(self) -> int:
        """Delete the rows whose window has ended (they count for nothing any more)."""
        async with self.db.transaction() as s:
            r = await s.execute(delete(T).where(T.c.expires_at <= self.clock()))
        return r.rowcount or 0
