"""Routing ``/api/v1/<service>/<path>`` to the services through keep-alive connection pools
(``gateway.upstream``, one per replica): request bodies streamed; response bodies streamed unless
the service declared a small ``Content-Length`` (≤ ``SMALL_BODY``: read at once, so a service that
breaks off still gets the caller a proper 502/504 problem); header values passed on as the bytes
that came in; hop-by-hop headers stripped, request id passed on, 503 when a service cannot be
reached, 504 when it does not answer in time."""
from __future__ import annotations

import asyncio
import http.cookiejar
import itertools
import logging
import time

from urllib.parse import quote, urlsplit

import httpx
from fastapi import APIRouter, Request
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from shared.errors import Problem, problem_response

from . import upstream
from .forwarded import forwarded_chain
from shared.service import request_id
from shared.topology import SERVICES, service_urls

log = logging.getLogger("spotcheck.gateway.proxy")

# RFC 9110 §7.6.1 connection-specific headers, never forwarded
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "trailers", "transfer-encoding", "upgrade",
}
# set by the gateway itself
REQUEST_DROP = HOP_BY_HOP | {"host", "x-request-id", "content-length", "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
RESPONSE_DROP = HOP_BY_HOP | {"x-request-id", "server", "date"}
# 100-continue is between the caller and the gateway; Forwarded / X-Real-IP are the caller's claims
REQUEST_DROP_B = {h.encode() for h in REQUEST_DROP} | {b"expect", b"forwarded", b"x-real-ip"}
RESPONSE_DROP_B = {h.encode() for h in RESPONSE_DROP}
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SMALL_BODY = 256 * 1024  # an upstream answer up to this declared length is read whole, not streamed
SMALL_REQUEST = 64 * 1024  # a request body up to this declared length is read from the caller first
RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS"})  # sent again after a pooled connection broke


class _NoCookies(http.cookiejar.DefaultCookiePolicy):
    """The shared client serves every caller: it must never keep one caller's cookies."""

    def set_ok(self, cookie, request):
        return False

    def return_ok(self, cookie, request):
        return False


class Replicas:
    """The base URLs of one service's replicas: round robin over the live ones; a replica that
    refused a connection is left out for ``cooldown`` seconds (then tried again)."""

    def __init__(self, urls: list[str], cooldown: float = 5.0):
        self.urls = urls
        self.cooldown = cooldown
        self._next = itertools.cycle(range(len(urls)))
        self._dead_until: dict[str, float] = {}

    def pick(self, exclude: set[str] = frozenset()) -> str | None:
        now = time.monotonic()
        for _ in range(len(self.urls)):
            url = self.urls[next(self._next)]
            if url not in exclude and self._dead_until.get(url, 0) <= now:
                return url
        alive = [u for u in self.urls if u not in exclude]
        return alive[0] if alive and len(exclude) == 0 else None  # all cooling down: try one anyway

    def dead(self, url: str) -> None:
        self._dead_until[url] = time.monotonic() + self.cooldown


class _HttpxAnswer:
    """An httpx answer seen as an ``upstream.Answer`` (the test transports of ``create_app``)."""

    def __init__(self, resp: httpx.Response):
        self.status, self.headers, self._resp = resp.status_code, resp.headers.raw, resp

    async def chunks(self):
        try:
            async for chunk in self._resp.aiter_raw():
                yield chunk
        except httpx.TimeoutException:
            raise upstream.TimedOut("the service did not answer in time") from None
        except httpx.HTTPError as exc:
            raise upstream.Broken(repr(exc)) from None

    async def read(self) -> bytes:
        return b"".join([c async for c in self.chunks()])

    async def aclose(self) -> None:
        await self._resp.aclose()


class _PooledAnswer:
    __slots__ = ("status", "headers", "_answer", "chunks", "read")

    def __init__(self, answer: upstream.Answer):
        self.status, self.headers, self._answer = answer.status, answer.headers, answer
        self.chunks, self.read = answer.chunks, answer.read

    async def aclose(self) -> None:
        self._answer.close()


class Upstreams:
    """The routing table (service name → its replicas' base URLs), one connection pool per replica
    for the proxy hop (``gateway.upstream``) and an httpx client for the gateway's own calls
    (bindings, OpenAPI)."""

    def __init__(self, connect_timeout: float, read_timeout: float,
                 transports: dict[str, httpx.AsyncBaseTransport] | None = None, max_connections: int = 200):
        self.max_connections = max_connections
        self.replicas = {name: Replicas(service_urls(name)) for name in SERVICES}
        self.urls = {name: r.urls[0] for name, r in self.replicas.items()}
        mounts = {}
        for name, transport in (transports or {}).items():
            if name not in self.urls:
                raise ValueError(f"unknown service {name}")
            for url in self.replicas[name].urls:
                mounts[url] = transport
        self.timeout = httpx.Timeout(connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout)
        self._timeouts = self.timeout.as_dict()
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.mounts = mounts
        self.pools: dict[str, upstream.Pool] = {}
        self.client = httpx.AsyncClient(
            mounts=mounts or None,
            timeout=self.timeout,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30),
            cookies=http.cookiejar.CookieJar(policy=_NoCookies()),
            follow_redirects=False,
            trust_env=False,
        )

    def base(self, service: str, exclude: set[str] = frozenset()) -> str | None:
        replicas = self.replicas.get(service)
        if replicas is None:
            raise Problem(404, "unknown-service", "服务不存在", detail=f"没有名为 {service} 的服务",
                          errors=[{"field": "service", "message": f"可用的服务：{'、'.join(self.urls)}"}])
        return replicas.pick(exclude)

    def _pool(self, base: str) -> upstream.Pool | None:
        pool = self.pools.get(base)
        if pool is None:
            url = urlsplit(base)
            if url.scheme != "http" or not url.hostname:
                return None  # (https to a service: through httpx)
            pool = upstream.Pool(url.hostname, url.port or 80, self.connect_timeout, self.read_timeout,
                                 max_connections=self.max_connections)
            self.pools[base] = pool
        return pool

    async def send(self, method: str, base: str, target: bytes | str, headers: list[tuple[bytes, bytes]], body,
                   chunked: bool = False, fresh: bool = False):
        """One proxied request; the answer's body is not read yet. Raises ``upstream.ConnectFailed``,
        ``TimedOut`` or ``Broken`` whatever carries it."""
        pool = None if base in self.mounts else self._pool(base)
        if isinstance(target, str):
            target = target.encode("latin-1")
        if pool is not None:
            prefix = urlsplit(base).path.rstrip("/").encode("latin-1")
            return _PooledAnswer(await pool.request(method, prefix + target, headers, body, chunked=chunked, fresh=fresh))
        request = httpx.Request(method, base + target.decode("latin-1"), headers=headers, content=body,
                                extensions={"timeout": self._timeouts})
        transport = self.mounts.get(base) or self.client._transport
        try:
            response = await transport.handle_async_request(request)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise upstream.ConnectFailed(repr(exc)) from None
        except httpx.TimeoutException:
            raise upstream.TimedOut("the service did not answer in time") from None
        except httpx.TransportError as exc:
            raise upstream.Broken(repr(exc), reused=True) from None
        response.request = request
        return _HttpxAnswer(response)

    async def aclose(self) -> None:
        for pool in self.pools.values():
            await pool.aclose()
        await self.client.aclose()


def _connection_listed(headers: list[tuple[bytes, bytes]]) -> set[bytes]:
    listed: set[bytes] = set()
    for k, v in headers:
        if k.lower() == b"connection":
            listed |= {t.strip().lower() for t in v.split(b",") if t.strip()}
    return listed


def forward_request_headers(request: Request, rid: str | None) -> list[tuple[bytes, bytes]]:
    """The headers the service gets, as the bytes that came in (HTTP allows bytes 0x80-0xFF, obs-text,
    in a value). Framing (Content-Length, Transfer-Encoding) is decided by the caller of ``send``."""
    raw = request.scope["headers"]
    drop = REQUEST_DROP_B | _connection_listed(raw) if any(k == b"connection" for k, _ in raw) else REQUEST_DROP_B
    out = [(k, v) for k, v in raw if k not in drop]
    if rid:
        out.append((b"x-request-id", rid.encode("latin-1")))
    # only the trusted part of the chain goes on (a client's own X-Forwarded-For is dropped)
    chain = forwarded_chain(request, getattr(request.app.state, "trusted_proxies", ""))
    if chain:
        out.append((b"x-forwarded-for", chain.encode("latin-1")))
    out.append((b"x-forwarded-proto", request.scope.get("scheme", "http").encode("latin-1")))
    for k, v in raw:
        if k == b"host":
            out.append((b"x-forwarded-host", v))
            break
    return out


def forward_response_headers(headers: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    drop = RESPONSE_DROP_B | _connection_listed(headers)
    return [(k.lower(), v) for k, v in headers if k.lower() not in drop]


def _header(raw: list[tuple[bytes, bytes]], name: bytes) -> bytes | None:
    for k, v in raw:
        if k == name:
            return v
    return None


def upstream_target(service: str, path: str, scope) -> bytes:
    """The request target the service gets: the caller's own bytes after ``/api/v1/<service>``
    (percent-encoding kept: ``%2F`` stays ``%2F``, ``%0D%0A`` stays text), and the raw query. Never
    the decoded path, whose bytes could end the request line. A raw path that does not spell the
    service plainly (``/api/v1/%72egistry/…``) is refused rather than guessed at."""
    raw_path = scope.get("raw_path")
    prefix = b"/api/v1/" + service.encode("ascii", "replace") + b"/"
    if raw_path is None:  # (a server that gives no raw path: encode the decoded one ourselves)
        raw_path = b"/api/v1/" + quote(f"{service}/{path}", safe="/:@!$&'()*+,;=-._~").encode("ascii")
    if not raw_path.startswith(prefix):
        raise Problem(400, "bad-path", "请求路径不规范", detail="服务名与路径须按原样书写（不得对服务名或分隔符作百分号编码）")
    target = raw_path[len(prefix) - 1:]
    query = scope.get("query_string")
    return target + b"?" + query if query else target


async def proxy(service: str, path: str, request: Request, send_asgi) -> None:
    """Forwards the request and sends the service's answer on ``send_asgi``; a problem raised
    before the answer starts is answered by the app's handlers (503, 504, 502, 413, 408, 400 …)."""
    upstreams: Upstreams = request.app.state.upstreams
    scope = request.scope
    url = upstream_target(service, path, scope)
    base = upstreams.base(service)
    rid = request_id(request)
    method = scope["method"]
    headers = forward_request_headers(request, rid)
    length = _header(scope["headers"], b"content-length")
    chunked = length is None and _header(scope["headers"], b"transfer-encoding") is not None
    has_body = length is not None or chunked
    if length is not None:
        headers.append((b"content-length", length))
    elif not chunked and method in ("POST", "PUT", "PATCH", "DELETE"):
        headers.append((b"content-length", b"0"))
    body_failure: list[BaseException] = []
    body_started: list[bool] = []
    # Up to SMALL_REQUEST bytes of any body (most API calls: all of it) are read from the caller before a
    # connection to the service is taken, with the read timeout between its pieces: a caller that stalls
    # or drips holds nothing there, and a whole body goes in one write with the head, with its length.
    whole: bytes | None = None
    prefix: list[bytes] = []
    stream = request.stream() if has_body else None
    if stream is not None:
        size = 0
        try:
            while size <= SMALL_REQUEST:
                chunk = await asyncio.wait_for(stream.__anext__(), upstreams.read_timeout)
                prefix.append(chunk)
                size += len(chunk)
        except StopAsyncIteration:
            whole = b"".join(prefix)
        except asyncio.TimeoutError:
            raise Problem(408, "request-timeout", "请求体接收超时", detail="未在规定时间内收到完整的请求体") from None
        if whole is not None and chunked:  # known now: sent with its length, not chunked
            chunked = False
            headers.append((b"content-length", str(len(whole)).encode()))

    async def body():
        # the rest of a large body as it arrives; a failure reading it (over the size limit, client
        # gone) is remembered so the gateway answers for it, whatever the service made of the cut body
        body_started.append(True)
        try:
            for chunk in prefix:
                yield chunk
            async for chunk in stream:
                yield chunk
        except Exception as exc:
            body_failure.append(exc)
            raise

    tried: set[str] = set()
    retried = False
    while True:
        try:
            try:
                content = whole if whole is not None else (body() if has_body else None)
                answer = await upstreams.send(method, base, url, headers, content, chunked=chunked, fresh=retried)
            except Exception:
                if body_failure:
                    raise body_failure[0] from None
                raise
        except upstream.ConnectFailed as exc:
            log.warning("service %s replica %s unreachable: %s", service, base, exc)
            if not isinstance(exc, upstream.PoolFull):  # a saturated replica is not a dead one
                upstreams.replicas[service].dead(base)
            tried.add(base)
            nxt = None if body_started else upstreams.base(service, exclude=tried)
            if nxt is not None:  # nothing of the request reached that replica: another one may take it
                base = nxt
                continue
            raise Problem(503, "service-unavailable", "服务暂不可用", detail=f"{service} 服务暂时无法连接，请稍后再试",
                          headers={"Retry-After": "5"}, service=service) from None
        except upstream.CallerStalled:
            raise Problem(408, "request-timeout", "请求体接收超时", detail="未在规定时间内收到完整的请求体") from None
        except upstream.BadRequestLine:
            raise Problem(400, "bad-request", "请求不规范", detail="请求路径或请求头含有不允许的字符") from None
        except upstream.TimedOut:
            raise Problem(504, "gateway-timeout", "上游服务超时", detail=f"{service} 服务未在规定时间内响应", service=service) from None
        except upstream.Broken as exc:
            if method in RETRYABLE and not has_body and not retried and exc.reused:
                # a pooled connection the service had closed: once more on a fresh one (safe methods only:
                # a POST may have been acted on before the connection broke)
                log.info("service %s: connection dropped (%s), retrying %s once", service, exc, method)
                retried = True
                continue
            log.warning("service %s transport error: %s", service, exc)
            raise Problem(502, "bad-gateway", "上游服务响应错误", detail=f"{service} 服务的响应无法读取", service=service) from None
        break
    if body_failure:
        await answer.aclose()
        raise body_failure[0]
    out_headers = forward_response_headers(answer.headers)
    declared = _header(out_headers, b"content-length")
    if declared is not None and declared.isdigit() and int(declared) <= SMALL_BODY:
        try:
            content = await answer.read()  # raw: encoded as the service sent it
        except upstream.TimedOut:  # nothing sent yet: the caller gets a proper problem
            raise Problem(504, "gateway-timeout", "上游服务超时", detail=f"{service} 服务未在规定时间内响应", service=service) from None
        except upstream.UpstreamError as exc:
            log.warning("service %s response body broke off: %s", service, exc)
            raise Problem(502, "bad-gateway", "上游服务响应错误", detail=f"{service} 服务的响应无法读取", service=service) from None
        finally:
            await answer.aclose()
        await send_asgi({"type": "http.response.start", "status": answer.status, "headers": out_headers})
        await send_asgi({"type": "http.response.body", "body": content})
        return
    await _stream(service, request, answer, out_headers, send_asgi, upstreams.read_timeout)


async def _stream(service: str, request: Request, answer, out_headers, send_asgi, timeout: float) -> None:
    """A large or open-ended answer, chunk by chunk. It stops when the caller goes away (uvicorn
    drops sends to a closed connection, so without this the whole answer would still be pulled from
    the service) or stops reading for ``timeout`` seconds."""
    gone = asyncio.Event()

    async def watch() -> None:
        try:
            while (await request.receive())["type"] != "http.disconnect":
                pass  # the rest of a request body the service did not want
        except Exception:  # noqa: BLE001 - e.g. that rest is over the size limit: stop watching
            return
        gone.set()

    watcher = asyncio.ensure_future(watch())
    try:
        await send_asgi({"type": "http.response.start", "status": answer.status, "headers": out_headers})
        async for chunk in answer.chunks():
            if gone.is_set():
                log.info("service %s: the caller left during a streamed answer; stopped reading it", service)
                return
            try:
                await asyncio.wait_for(send_asgi({"type": "http.response.body", "body": chunk, "more_body": True}), timeout)
            except asyncio.TimeoutError:
                # returning with the answer unfinished makes uvicorn close the caller's connection
                log.warning("service %s: the caller stopped reading a streamed answer for %ss; cut off", service, timeout)
                return
        await send_asgi({"type": "http.response.body", "body": b""})
    except upstream.UpstreamError as exc:
        # the status line is already sent: all we can do is cut the response short (the connection is
        # closed on the unfinished answer) and log it
        log.error("service %s response body broke off: %s", service, exc)
    finally:
        watcher.cancel()
        await answer.aclose()


class _ProxyEndpoint:
    """The proxy as a plain ASGI endpoint: no FastAPI dependency or response machinery (a sixth
    of the gateway's time per proxied request once, py-spy), no Starlette response object; the
    answer goes out as ASGI messages. Problems raised here still reach the app's exception
    handlers (before the answer starts)."""

    async def __call__(self, scope, receive, send) -> None:
        request = Request(scope, receive)
        params = scope["path_params"]
        try:
            await proxy(params["service"], params["path"], request, send)
        except ClientDisconnect:  # the caller left while sending its body: nobody to answer
            log.info("caller left during the request body: %s %s", scope["method"], scope["path"])


router = APIRouter()
router.routes.append(Route("/api/v1/{service}/{path:path}", _ProxyEndpoint(), methods=METHODS, include_in_schema=False))


class ProxyFastPath:
    """ASGI middleware, innermost of the gateway's own (inside the request id, body-size and
    content-type checks and the access log): ``/api/v1/<service>/<path>`` goes straight to the
    proxy, without the exception middleware and FastAPI's route matching over every gateway route
    (about a tenth of the gateway's time per proxied request, py-spy). What the route above would
    answer differently (another method: 405) still goes through the router."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/") and scope["method"] in _METHODS:
            service, sep, path = scope["path"][8:].partition("/")
            if service and sep:
                request = Request(scope, receive)
                try:
                    await proxy(service, path, request, send)
                except Problem as problem:
                    await problem_response(problem, request)(scope, receive, send)
                except ClientDisconnect:  # the caller left while sending its body: nobody to answer
                    log.info("caller left during the request body: %s %s", scope["method"], scope["path"])
                return
        await self.app(scope, receive, send)


_METHODS = frozenset(METHODS)
