"""The public side: client address (``X-Forwarded-For`` believed only from configured proxies)
and a per-address token bucket (429 with ``Retry-After``)."""
from __future__ import annotations

import ipaddress
import math
import time
from collections import OrderedDict

from fastapi import Request

from shared.errors import Problem


def client_address(request: Request, proxies: list) -> str:
    """The peer's address; when the peer is a trusted proxy, the right-most address in
    ``X-Forwarded-For`` that is not itself a trusted proxy (what the nearest proxy saw)."""
    peer = request.client.host if request.client else "unknown"
    if not proxies or not _trusted(peer, proxies):
        return peer
    chain = [a.strip() for h in request.headers.getlist("x-forwarded-for") for a in h.split(",") if a.strip()]
    for addr in reversed(chain):
        try:
            ipaddress.ip_address(addr)
        except ValueError:
            return peer  # garbage in the header: do not let it pick a bucket
        if not _trusted(addr, proxies):
            return addr
    return chain[0] if chain else peer


def _trusted(addr: str, proxies: list) -> bool:
    try:
        ip = ipaddress.ip_address(addr)
    except ValueError:
        return False
    return any(ip in n for n in proxies)


class RateLimiter:
    """Token bucket per client address, in memory per replica (bounded: oldest buckets evicted)."""

    def __init__(self, per_minute: int, burst: int, max_clients: int = 100_000, clock=time.monotonic):
        self.rate = per_minute / 60.0
        self.burst = float(max(burst, 1))
        self.max_clients = max_clients
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds until a token is available."""
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        wait = 0.0
        if tokens >= 1:
            tokens -= 1
        else:
            wait = (1 - tokens) / self.rate if self.rate > 0 else 3600.0
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        return wait

    def check(self, key: str) -> None:
        wait = self.take(key)
        if wait > 0:
            secs = max(1, math.ceil(wait))
            raise Problem(429, "too-many-requests", "请求过于频繁，请稍后再试", detail=f"请 {secs} 秒后再试",
                          headers={"Retry-After": str(secs)})
