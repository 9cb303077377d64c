"""Login throttling: an in-memory sliding window of failed attempts per key (username, client
id, client IP). One gateway process keeps its own counts; behind several replicas each counts
its share, which still bounds guessing per replica."""
from __future__ import annotations

import math
import time
from collections import deque

from shared.errors import Problem


class SlidingWindow:
    def __init__(self, limit: int, window_seconds: float, clock=time.monotonic, max_keys: int = 100_000):
        self.limit = limit
        self.window = window_seconds
        self.clock = clock
        self.max_keys = max_keys
        self._hits: dict[str, deque[float]] = {}

    def _prune(self, key: str, now: float) -> deque[float] | None:
        hits = self._hits.get(key)
        if hits is None:
            return None
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if not hits:
            del self._hits[key]
            return None
        return hits

    def retry_after(self, key: str) -> int | None:
        """Seconds until ``key`` may try again, or None if it is under the limit."""
        now = self.clock()
        hits = self._prune(key, now)
        if hits is None or len(hits) < self.limit:
            return None
        return max(1, math.ceil(hits[0] + self.window - now))

    def hit(self, key: str) -> None:
        now = self.clock()
        if key not in self._hits and len(self._hits) >= self.max_keys:
            for k in list(self._hits)[: self.max_keys // 10]:
                self._prune(k, now)
        self._hits.setdefault(key, deque()).append(now)

    def reset(self, key: str) -> None:
        self._hits.pop(key, None)


class LoginThrottle:
    """Failed attempts are counted per account (username or client id) and per client IP."""

    def __init__(self, per_account: int, per_ip: int, window_seconds: float, clock=time.monotonic):
        self.accounts = SlidingWindow(per_account, window_seconds, clock)
        self.ips = SlidingWindow(per_ip, window_seconds, clock)

    def check(self, account: str | None, ip: str | None) -> None:
        waits = []
        if account:
            waits.append(self.accounts.retry_after(account))
        if ip:
            waits.append(self.ips.retry_after(ip))
        waits = [w for w in waits if w is not None]
        if waits:
            wait = max(waits)
            raise Problem(
                429, "too-many-login-attempts", "登录尝试过于频繁，请稍后再试",
                detail=f"失败次数过多，请 {wait} 秒后再试",
                headers={"Retry-After": str(wait)},
                error="slow_down",
            )

    def failed(self, account: str | None, ip: str | None) -> None:
        if account:
            self.accounts.hit(account)
        if ip:
            self.ips.hit(ip)

    def succeeded(self, account: str | None) -> None:
        if account:
            self.accounts.reset(account)
