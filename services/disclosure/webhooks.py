"""Webhooks per Standard Webhooks v1 to the credit-disclosure system: subscriptions with a
``whsec_`` secret shown once and rotated with overlap, signed deliveries with a stable
``webhook-id``, retries on a schedule honouring ``Retry-After``, 410 disables, an SSRF guard,
and a dispatcher that runs deliveries concurrently from the database (they survive restarts)."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import email.utils
import hashlib
import hmac
import ipaddress
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

import httpcore
import httpx
from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from shared.db import first_or_404, utcnow
from shared.errors import Problem
from shared.etag import require_if_match

from . import tx
from .clock import Clock
from .feed import EVENT_TYPES
from .models import Delivery, DeliveryAttempt, Message, Subscription
from .settings import _networks

log = logging.getLogger("spotcheck.disclosure.webhooks")
ALL_TYPES = tuple(EVENT_TYPES.values())
USER_AGENT = "Spotcheck-Disclosure-Webhooks/1.0"


# ---------------------------------------------------------------- secrets and signatures
def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret_list: list[str], msg_id: str, timestamp: int, body: str) -> str:
    """``webhook-signature``: one ``v1,<base64 HMAC-SHA256(id.timestamp.body)>`` per valid secret."""
    content = f"{msg_id}.{timestamp}.{body}".encode()
    parts = []
    for sec in secret_list:
        key = base64.b64decode(sec.removeprefix("whsec_"))
        parts.append("v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode())
    return " ".join(parts)


def valid_secrets(secret_list: list[dict], now: dt.datetime | None = None) -> list[str]:
    now = now or utcnow()
    out = []
    for s in secret_list or []:
        exp = s.get("expires_at")
        if exp is None or dt.datetime.fromisoformat(exp) > now:
            out.append(s["secret"])
    return out


# ---------------------------------------------------------------- SSRF guard
class Blocked(Exception):
    pass


def _allowed(settings) -> tuple[set[str], list]:
    names = set()
    for part in (settings.webhook_allow_hosts or "").split(","):
        part = part.strip().lower()
        if part:
            names.add(part)
    return names, _networks(settings.webhook_allow_hosts)


def _public_ip(ip: ipaddress._BaseAddress) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to (the system's resolver, in a worker thread, 5 s at most)."""
    try:
        infos = await asyncio.wait_for(asyncio.to_thread(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM), 5)
    except (OSError, asyncio.TimeoutError, UnicodeError):
        raise Blocked(f"无法解析主机 {host}") from None
    return list(dict.fromkeys(info[4][0].split("%", 1)[0] for info in infos))


def resolver_of(ctx) -> Resolver:
    """``ctx.extras["webhook_resolver"]`` when set (tests stub DNS), else the system's."""
    return ctx.extras.get("webhook_resolver") or system_resolver


async def checked_addresses(host: str, port: int, settings, resolver: Resolver = system_resolver) -> list[str]:
    """Resolve ``host`` once and check every address: refused when any is private, loopback,
    link-local or otherwise non-public, unless the allow-list setting names the host or a network
    containing the address. The caller connects only to the addresses returned (DNS pinning)."""
    host = host.lower().strip("[]")
    names, nets = _allowed(settings)
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    addresses = [str(literal)] if literal is not None else await resolver(host, port)
    if not addresses:
        raise Blocked(f"无法解析主机 {host}")
    if host in names:
        return addresses
    for addr in addresses:
        ip = ipaddress.ip_address(addr)
        if any(ip in n for n in nets):
            continue
        if not _public_ip(ip):
            raise Blocked(f"主机 {host} 解析为非公网地址 {ip}（内网、回环或保留地址）")
    return addresses


async def resolve_checked(url: str, settings, resolver: Resolver = system_resolver) -> list[str]:
    """The checked addresses of the URL's host (see ``checked_addresses``); when a subscription is saved."""
    parts = urlsplit(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise Blocked("端口无效") from None
    return await checked_addresses(parts.hostname or "", port, settings, resolver)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """The delivery client's network: each new connection resolves the host once, checks every
    address and connects to a checked address — never by name, so DNS cannot change between the
    check and the connect (rebinding). The URL keeps the name: ``Host`` and TLS SNI/verification
    are the subscriber's host name, as httpcore takes them from the request, not from here."""

    def __init__(self, settings, resolver: Resolver = system_resolver):
        self.settings = settings
        self.resolver = resolver
        self._inner = httpcore.AnyIOBackend()

    async def connect_tcp(self, host: str, port: int, timeout: float | None = None, local_address: str | None = None,
                          socket_options=None) -> httpcore.AsyncNetworkStream:
        last: Exception | None = None
        for addr in await checked_addresses(host, port, self.settings, self.resolver):
            try:
                return await self._inner.connect_tcp(addr, port, timeout=timeout, local_address=local_address, socket_options=socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc  # the next checked address
        raise last or httpcore.ConnectError(f"无法连接 {host}")

    async def connect_unix_socket(self, path: str, timeout: float | None = None, socket_options=None):
        raise Blocked("不允许本机套接字")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def pinned_transport(settings, resolver: Resolver = system_resolver, **kw) -> httpx.AsyncHTTPTransport:
    transport = httpx.AsyncHTTPTransport(trust_env=False, **kw)
    pool = transport._pool  # httpx builds its pool without a network-backend option: the same pool, our network
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=pool._ssl_context, max_connections=pool._max_connections,
        max_keepalive_connections=pool._max_keepalive_connections, keepalive_expiry=pool._keepalive_expiry,
        http1=pool._http1, http2=pool._http2, network_backend=PinnedBackend(settings, resolver))
    return transport


def check_url_syntax(url: str) -> None:
    parts = urlsplit(url)
    errors = []
    if parts.scheme not in ("http", "https"):
        errors.append("只接受 http 或 https 地址")
    if not parts.hostname:
        errors.append("缺少主机名")
    if parts.username or parts.password:
        errors.append("地址中不能包含用户名或密码")
    if parts.fragment:
        errors.append("地址中不能包含片段（#）")
    if errors:
        raise Problem(422, "validation", "订阅地址无效", detail="；".join(errors), errors=[{"field": "url", "message": m} for m in errors])


async def check_url(url: str, settings, resolver: Resolver = system_resolver) -> None:
    check_url_syntax(url)
    try:
        await resolve_checked(url, settings, resolver)
    except Blocked as exc:
        raise Problem(422, "webhook-url-refused", "订阅地址不被允许", detail=str(exc),
                      errors=[{"field": "url", "message": f"{exc}；如确需使用，请由运维在 webhook_allow_hosts 中列明"}]) from None


# ---------------------------------------------------------------- subscriptions
def subscription_out(sub: Subscription, now: dt.datetime | None = None) -> dict:
    now = now or utcnow()
    keys = [{"created_at": s["created_at"], "expires_at": s.get("expires_at"), "prefix": s["secret"][:10] + "…"}
            for s in sub.secrets or [] if s.get("expires_at") is None or dt.datetime.fromisoformat(s["expires_at"]) > now]
    return {"id": sub.id, "url": sub.url, "event_types": sub.event_types, "description": sub.description, "active": sub.active,
            "disabled_reason": sub.disabled_reason, "disabled_at": sub.disabled_at, "secrets": keys, "version": sub.version,
            "created_by": sub.created_by, "created_at": sub.created_at}


async def create_subscription(ctx, s: AsyncSession, p, body) -> dict:
    from sqlalchemy import func

    count = (await s.execute(select(func.count()).select_from(Subscription).where(Subscription.active.is_(True)))).scalar_one()
    if count >= ctx.settings.webhook_max_subscriptions:
        raise Problem(409, "too-many-subscriptions", "订阅数量已达上限", detail=f"最多 {ctx.settings.webhook_max_subscriptions} 个有效订阅")
    now = utcnow()
    secret = new_secret()
    sub = Subscription(url=body.url, event_types=list(body.event_types or ALL_TYPES), description=body.description,
                       secrets=[{"secret": secret, "created_at": now.isoformat(), "expires_at": None}], created_by=p.sub, created_at=now)
    s.add(sub)
    await s.flush()
    await ctx.audit(s, p, "subscription.created", "subscription", sub.id, after=subscription_out(sub, now))
    return {**subscription_out(sub, now), "secret": secret, "secret_notice": "密钥只显示这一次，请妥善保存"}


async def get_subscription(s: AsyncSession, sub_id: str, for_update: bool = False) -> Subscription:
    return (await first_or_404(s, select(Subscription).where(Subscription.id == sub_id), "订阅", sub_id, for_update=for_update))[0]


async def update_subscription(ctx, p, sub_id: str, body, request) -> Subscription:
    if body.url is not None:
        await check_url(body.url, ctx.settings, resolver_of(ctx))
    async with tx.write(ctx) as s:
        sub = await get_subscription(s, sub_id, for_update=True)
        require_if_match(request, sub.version)
        before = subscription_out(sub)
        if body.url is not None:
            sub.url = body.url
        if body.event_types is not None:
            sub.event_types = list(body.event_types)
        if body.description is not None:
            sub.description = body.description
        if body.active is not None and body.active != sub.active:
            sub.active = body.active
            sub.disabled_reason = None if body.active else "由管理员停用"
            sub.disabled_at = None if body.active else utcnow()
        sub.version += 1
        await ctx.audit(s, p, "subscription.updated", "subscription", sub.id, before=before, after=subscription_out(sub))
    _wake(ctx)
    return sub


async def rotate_secret(ctx, p, sub_id: str, overlap_hours: float | None, request) -> dict:
    """A new secret, shown once; the previous ones keep signing (two signatures) until the overlap ends."""
    hours = ctx.settings.webhook_secret_overlap_hours if overlap_hours is None else overlap_hours
    async with tx.write(ctx) as s:
        sub = await get_subscription(s, sub_id, for_update=True)
        require_if_match(request, sub.version)
        now = utcnow()
        until = (now + dt.timedelta(hours=hours)).isoformat()
        kept = []
        for old in sub.secrets or []:
            exp = old.get("expires_at")
            if exp is not None and dt.datetime.fromisoformat(exp) <= now:
                continue  # expired: dropped
            kept.append({**old, "expires_at": min(exp, until) if exp else until})
        secret = new_secret()
        sub.secrets = kept + [{"secret": secret, "created_at": now.isoformat(), "expires_at": None}]
        sub.version += 1
        await ctx.audit(s, p, "subscription.secret_rotated", "subscription", sub.id, detail={"overlap_hours": hours})
    return {**subscription_out(sub), "secret": secret, "secret_notice": "新密钥只显示这一次；旧密钥在重叠期内继续签名"}


def delivery_out(d: Delivery, m: Message | None = None) -> dict:
    out = {"id": d.id, "subscription_id": d.subscription_id, "message_id": d.message_id, "status": d.status, "attempts": d.attempts,
           "next_attempt_at": d.next_attempt_at if d.status == "pending" else None, "last_status": d.last_status,
           "last_error": d.last_error, "created_at": d.created_at, "delivered_at": d.delivered_at}
    if m is not None:
        out.update(type=m.type, seq=m.seq)
    return out


async def replay_delivery(ctx, p, sub_id: str, delivery_id: str) -> dict:
    async with tx.write(ctx) as s:
        await get_subscription(s, sub_id)
        d = (await first_or_404(s, select(Delivery).where(Delivery.id == delivery_id, Delivery.subscription_id == sub_id),
                                "投递", delivery_id, for_update=True))[0]
        d.status, d.attempts, d.next_attempt_at, d.claimed_until = "pending", 0, utcnow(), None
        await ctx.audit(s, p, "delivery.replayed", "delivery", d.id, detail={"subscription_id": sub_id, "message_id": d.message_id})
        out = delivery_out(d)
    _wake(ctx)
    return out


REPLAY_MAX = 10_000


async def replay_since(ctx, p, sub_id: str, since: dt.datetime) -> dict:
    """Send again every message since ``since`` (same ``webhook-id``), also those sent before the
    subscription existed or that it missed while disabled."""
    from sqlalchemy import func

    async with tx.write(ctx) as s:
        sub = await get_subscription(s, sub_id, for_update=True)
        total = (await s.execute(select(func.count()).select_from(Message).where(Message.created_at >= since, Message.type.in_(sub.event_types)))).scalar_one()
        if total > REPLAY_MAX:
            raise Problem(422, "replay-too-large", "重放范围过大", detail=f"{total} 条消息超过单次上限 {REPLAY_MAX}，请缩小时间范围")
        msgs = (await s.execute(select(Message.id).where(Message.created_at >= since, Message.type.in_(sub.event_types)))).scalars().all()
        existing = {d.message_id: d for d in (await s.execute(select(Delivery).where(Delivery.subscription_id == sub_id, Delivery.message_id.in_(msgs)))).scalars()} if msgs else {}
        now = utcnow()
        for mid in msgs:
            d = existing.get(mid)
            if d is None:
                s.add(Delivery(subscription_id=sub_id, message_id=mid, status="pending", next_attempt_at=now, created_at=now))
            else:
                d.status, d.attempts, d.next_attempt_at, d.claimed_until = "pending", 0, now, None
        await ctx.audit(s, p, "subscription.replayed", "subscription", sub_id, detail={"since": since.isoformat(), "messages": len(msgs)})
        active = sub.active
    _wake(ctx)
    out = {"subscription_id": sub_id, "since": since, "messages": len(msgs)}
    if not active:
        out["notice"] = "订阅已停用：重新启用后才会投递"
    return out


def _wake(ctx) -> None:
    d = ctx.extras.get("dispatcher")
    if d is not None:
        d.wake()


# ---------------------------------------------------------------- retry timing
def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, when.timestamp() - (now or time.time()))


# ---------------------------------------------------------------- the dispatcher
class Dispatcher:
    """Runs in every replica. Claims due deliveries with a conditional UPDATE (a replica that dies
    mid-attempt loses its claim when ``claimed_until`` passes), sends each in its own task, at most
    ``webhook_concurrency`` at once and ``webhook_per_endpoint`` per subscription."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.settings = ctx.settings
        self.me = f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._inflight: dict[str, asyncio.Task] = {}
        self._handed: dict[str, tuple] = {}  # delivery id -> (subscription id, what to send), claimed by us, not started
        self._poll_due = True
        self._last_poll = 0.0
        self._outcomes: list = []
        self._flusher: asyncio.Task | None = None
        self._per_sub: dict[str, int] = {}
        self.clock = ctx.extras.get("webhook_clock") or Clock(self.settings.webhook_clock_rate)  # the retry schedule's time
        # every connection resolves, checks and connects to the checked address (DNS pinning, SSRF guard)
        transport = pinned_transport(self.settings, resolver_of(ctx), limits=httpx.Limits(max_connections=self.settings.webhook_concurrency * 2))
        self.client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=self.settings.webhook_timeout_seconds,
                                        transport=transport)

    def wake(self) -> None:
        """Look in the database now (a replay, an endpoint enabled again)."""
        self._poll_due = True
        self._wake.set()

    def claim_for_handover(self, at: dt.datetime) -> dict:
        """Columns that write a new delivery as already claimed by this dispatcher."""
        if self._stop.is_set():
            return {}
        return {"claimed_by": self.me, "claimed_until": at + dt.timedelta(seconds=self.settings.webhook_timeout_seconds + 30)}

    def hand_over(self, deliveries: list[tuple[str, str]]) -> None:
        """Deliveries just committed, claimed by us: send them now (or as soon as a slot is free)."""
        for did, sid, pre in deliveries:
            self._handed[did] = (sid, pre)
        self._drain_handed()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhook-dispatcher")

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        tasks = list(self._inflight.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        if self._flusher is not None:  # outcomes of finished attempts are written before we go
            try:
                await self._flusher
            except Exception:  # noqa: BLE001
                pass
        # interrupted or not started: every claim of ours still open is handed back at once (stored, nothing lost)
        try:
            async with tx.write(self.ctx) as s:
                await s.execute(update(Delivery).where(Delivery.claimed_by == self.me, Delivery.status == "pending")
                                .values(claimed_until=None, claimed_by=None))
        except Exception as exc:  # noqa: BLE001
            log.warning("webhook dispatcher: claims not released (%s); they expire by themselves", exc)
        await self.client.aclose()

    async def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()
            try:
                await self.claim_and_send()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - DB busy or down: try again on the next tick
                log.warning("webhook dispatcher: %s", exc)
            try:
                await asyncio.wait_for(self._wake.wait(), self.settings.webhook_poll_seconds)
            except asyncio.TimeoutError:
                pass

    def _spawn(self, did: str, sid: str, pre: tuple | None = None) -> None:
        self._per_sub[sid] = self._per_sub.get(sid, 0) + 1
        self._inflight[did] = asyncio.create_task(self._attempt(did, sid, pre), name=f"webhook-{did}")

    def _drain_handed(self) -> int:
        """Start what publishing requests of this process handed over, as far as slots allow
        (synchronous: never waits behind the database, whatever queues there)."""
        started = 0
        if self._stop.is_set():
            return 0
        for did, (sid, pre) in list(self._handed.items()):
            if len(self._inflight) >= self.settings.webhook_concurrency:
                break
            if self._per_sub.get(sid, 0) >= self.settings.webhook_per_endpoint or did in self._inflight:
                continue
            del self._handed[did]
            self._spawn(did, sid, pre)
            started += 1
        return started

    async def claim_and_send(self) -> int:
        started = self._drain_handed()
        capacity = self.settings.webhook_concurrency - len(self._inflight)
        if capacity <= 0 or (not self._poll_due and time.monotonic() - self._last_poll < self.settings.webhook_poll_seconds):
            return started
        self._poll_due, self._last_poll = False, time.monotonic()
        now = utcnow()  # claims are real time
        due = and_(Delivery.status == "pending", Delivery.next_attempt_at <= self.clock.now(),
                   or_(Delivery.claimed_until.is_(None), Delivery.claimed_until < now))
        claimed: list[tuple[str, str]] = []
        async with tx.write(self.ctx) as s:
            rows = (await s.execute(select(Delivery.id, Delivery.subscription_id).join(Subscription, Subscription.id == Delivery.subscription_id)
                                    .where(due, Subscription.active.is_(True)).order_by(Delivery.next_attempt_at, Delivery.id)
                                    .limit(capacity * 4))).all()
            per_sub = dict(self._per_sub)
            until = now + dt.timedelta(seconds=self.settings.webhook_timeout_seconds + 30)
            for did, sid in rows:
                if len(claimed) >= capacity:
                    break
                if did in self._inflight or did in self._handed or per_sub.get(sid, 0) >= self.settings.webhook_per_endpoint:
                    continue
                res = await s.execute(update(Delivery).where(Delivery.id == did, due).values(claimed_by=self.me, claimed_until=until))
                if res.rowcount == 1:
                    claimed.append((did, sid))
                    per_sub[sid] = per_sub.get(sid, 0) + 1
        for did, sid in claimed:
            self._spawn(did, sid)
        return started + len(claimed)

    async def _attempt(self, did: str, sid: str, pre: tuple | None) -> None:
        try:
            await self.attempt(did, sid, pre)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the claim expires and the delivery is tried again
            log.warning("webhook delivery %s: %s", did, exc)
        finally:
            self._inflight.pop(did, None)
            self._per_sub[sid] = self._per_sub.get(sid, 1) - 1
            if self._per_sub[sid] <= 0:
                self._per_sub.pop(sid, None)
            if self._handed:
                self._drain_handed()  # a slot is free

    async def attempt(self, did: str, sid: str, pre: tuple | None = None) -> None:
        if pre is None:
            async with self.ctx.db.session() as s:
                row = (await s.execute(select(Message.id, Message.body, Subscription.url, Subscription.secrets)
                                       .join(Delivery, Delivery.message_id == Message.id)
                                       .join(Subscription, Subscription.id == Delivery.subscription_id).where(Delivery.id == did))).one()
            pre = tuple(row)
        msg_id, body, url, secret_list = pre
        status, error, retry_after = None, None, None
        ts = int(time.time())
        t0 = time.perf_counter()
        try:
            headers = {"webhook-id": msg_id, "webhook-timestamp": str(ts), "webhook-signature": sign(valid_secrets(secret_list), msg_id, ts, body),
                       "content-type": "application/json", "user-agent": USER_AGENT}
            status, ra = await asyncio.wait_for(self._post(url, body, headers), self.settings.webhook_timeout_seconds)
            retry_after = retry_after_seconds(ra) if status in (429, 503) else None
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except Blocked as exc:
            error = f"SSRF 防护拒绝：{exc}"
        except asyncio.TimeoutError:
            error = f"超时（{self.settings.webhook_timeout_seconds:g} 秒）"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500] or type(exc).__name__
        latency = int((time.perf_counter() - t0) * 1000)
        await self.record(did, sid, status, error, retry_after, latency)

    async def _post(self, url: str, body: str, headers: dict) -> tuple[int, str | None]:
        """The status and Retry-After; the receiver's answer body is never read (it could be endless)."""
        async with self.client.stream("POST", url, content=body.encode(), headers=headers) as resp:
            return resp.status_code, resp.headers.get("retry-after")

    async def record(self, did: str, sid: str, status: int | None, error: str | None, retry_after: float | None, latency: int) -> None:
        """Queue the attempt's outcome and return at once (the slot is free for the next delivery):
        outcomes are written in batches, one transaction for all that finished meanwhile. Until
        then the delivery stays claimed by us, so nobody sends it again."""
        self._outcomes.append((did, sid, status, error, retry_after, latency, self.clock.now()))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._outcomes:
            batch, self._outcomes = self._outcomes, []
            try:
                await self._write(batch)
            except Exception as exc:  # noqa: BLE001 - the claims expire and the deliveries are tried again
                log.warning("webhook dispatcher: %d outcomes not recorded (%s)", len(batch), exc)

    async def _write(self, batch: list) -> None:
        schedule = self.settings.retry_schedule()
        async with tx.write(self.ctx) as s:
            ids = [b[0] for b in batch]
            rows = {d.id: d for d in (await s.execute(select(Delivery).where(Delivery.id.in_(ids)).with_for_update())).scalars()}
            for did, sid, status, error, retry_after, latency, at in batch:
                d = rows.get(did)
                if d is None:
                    continue
                d.attempts += 1
                d.last_status, d.last_error = status, error
                d.claimed_by = d.claimed_until = None
                nxt = None
                if status is not None and 200 <= status < 300:
                    d.status, d.delivered_at, d.next_attempt_at = "succeeded", at, None
                elif status == 410:
                    sub = (await s.execute(select(Subscription).where(Subscription.id == sid).with_for_update())).scalars().one()
                    if sub.active:
                        sub.active, sub.disabled_at = False, at
                        sub.disabled_reason = "接收端返回 410 Gone，订阅已自动停用"
                        sub.version += 1
                        await self.ctx.audit(s, "system:webhooks", "subscription.disabled", "subscription", sid,
                                             detail={"delivery_id": did, "status": 410})
                    d.next_attempt_at = at  # kept pending: goes out if the subscription is enabled again
                elif d.attempts >= len(schedule):
                    d.status, d.next_attempt_at = "failed", None
                else:
                    delay = schedule[d.attempts]
                    if retry_after is not None:
                        delay = max(delay, min(retry_after, 86400.0))
                    nxt = d.next_attempt_at = at + dt.timedelta(seconds=delay)
                s.add(DeliveryAttempt(delivery_id=did, subscription_id=sid, attempt=d.attempts, at=at, status_code=status,
                                      latency_ms=latency, error=error, next_attempt_at=nxt))
