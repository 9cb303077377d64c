"""Routing ``/api/v1/<service>/<path>`` to the services through ONE pooled httpx client:
request bodies streamed; response bodies streamed unless the service declared a small
``Content-Length`` (≤ ``SMALL_BODY``: read at once and answered as a plain response, which saves
the streaming response's task group per request — most API answers); hop-by-hop headers
stripped, request id passed on, 503 when a service cannot be reached, 504 when it does not
answer in time."""
from __future__ import annotations

import http.cookiejar
import itertools
import logging
import time

import anyio
import httpx
from fastapi import APIRouter, Request
from starlette.background import BackgroundTask
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from shared.errors import Problem

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
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
SMALL_BODY = 256 * 1024  # an upstream answer up to this declared length is read whole, not streamed


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


class Upstreams:
    """The routing table (service name → its replicas' base URLs) and the one shared client."""

    def __init__(self, connect_timeout: float, read_timeout: float,
                 transports: dict[str, httpx.AsyncBaseTransport] | None = None):
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
        # one connection pool: the proxy path calls it directly (``send``), the client wraps it for
        # the gateway's own calls (bindings, OpenAPI)
        self.transport = httpx.AsyncHTTPTransport(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30), trust_env=False)
        self.mounts = mounts
        self.client = httpx.AsyncClient(
            transport=self.transport,
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

    async def send(self, method: str, base: str, target: str, headers: list[tuple[str, str]], content) -> httpx.Response:
        """One proxied request straight to the pool's transport, answer streamed: no client-side
        cookie jar, redirects, auth or default headers to run (the caller's headers go as they are)."""
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers]  # bytes as received (obs-text allowed)
        request = httpx.Request(method, base + target, headers=raw, content=content, extensions={"timeout": self._timeouts})
        transport = self.mounts.get(base, self.transport) if self.mounts else self.transport
        response = await transport.handle_async_request(request)
        response.request = request
        return response

    async def aclose(self) -> None:
        await self.client.aclose()


def _connection_listed(headers) -> set[str]:
    listed = set()
    for value in headers.get_list("connection") if hasattr(headers, "get_list") else [headers.get("connection", "")]:
        listed |= {v.strip().lower() for v in value.split(",") if v.strip()}
    return listed


def forward_request_headers(request: Request, rid: str | None) -> list[tuple[str, str]]:
    """The headers the service gets. Values are passed on as the bytes that came in (latin-1 round trip):
    HTTP allows bytes 0x80-0xFF (obs-text) in a value, which httpx would refuse to encode as ASCII."""
    drop = REQUEST_DROP | _connection_listed(request.headers)
    out = [(k, v) for k, v in request.headers.items() if k.lower() not in drop]
    if "content-length" in request.headers:
        out.append(("content-length", request.headers["content-length"]))
    if rid:
        out.append(("x-request-id", rid))
    # only the trusted part of the chain goes on (a client's own X-Forwarded-For is dropped)
    chain = forwarded_chain(request, getattr(request.app.state, "trusted_proxies", ""))
    if chain:
        out.append(("x-forwarded-for", chain))
    out.append(("x-forwarded-proto", request.url.scheme))
    if "host" in request.headers:
        out.append(("x-forwarded-host", request.headers["host"]))
    return out


def forward_response_headers(resp: httpx.Response) -> list[tuple[str, str]]:
    drop = RESPONSE_DROP | _connection_listed(resp.headers)
    return [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in drop]


async def proxy(service: str, path: str, request: Request):
    upstreams: Upstreams = request.app.state.upstreams
    base = upstreams.base(service)
    raw_path = request.scope.get("raw_path")
    # keep the caller's percent-encoding of the path
    prefix = f"/api/v1/{service}".encode()
    tail = raw_path[len(prefix):].decode("latin-1") if raw_path and raw_path.startswith(prefix) else "/" + path
    url = tail or "/"
    query = request.url.query
    if query:
        url += "?" + query
    rid = request_id(request)
    has_body = request.method not in ("GET", "HEAD", "OPTIONS") or "content-length" in request.headers or "transfer-encoding" in request.headers
    body_failure: list[BaseException] = []

    async def body():
        # the request body as it arrives; a failure reading it (over the size limit, client gone)
        # is remembered so the gateway answers for it, whatever the service made of the cut body
        try:
            async for chunk in request.stream():
                yield chunk
        except Exception as exc:
            body_failure.append(exc)
            raise

    tried: set[str] = set()
    retried = False
    body_started: list[bool] = []

    async def tracked_body():
        body_started.append(True)
        async for chunk in body():
            yield chunk

    while True:
        try:
            try:
                resp = await upstreams.send(request.method, base, url, forward_request_headers(request, rid),
                                            tracked_body() if has_body else None)
            except Exception:
                if body_failure:
                    raise body_failure[0] from None
                raise
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            log.warning("service %s replica %s unreachable: %s", service, base, exc)
            upstreams.replicas[service].dead(base)
            tried.add(base)
            nxt = None if body_started else upstreams.base(service, exclude=tried)
            if nxt is not None:  # nothing of the request reached that replica: another one may take it
                base = nxt
                continue
            raise Problem(503, "service-unavailable", "服务暂不可用", detail=f"{service} 服务暂时无法连接，请稍后再试",
                          headers={"Retry-After": "5"}, service=service) from None
        except httpx.TimeoutException:
            raise Problem(504, "gateway-timeout", "上游服务超时", detail=f"{service} 服务未在规定时间内响应", service=service) from None
        except httpx.TransportError as exc:
            if not has_body and not retried:  # a pooled connection the service had closed: once more on a fresh one
                log.info("service %s: connection dropped (%r), retrying %s once", service, exc, request.method)
                retried = True
                continue
            log.warning("service %s transport error: %r", service, exc)
            raise Problem(502, "bad-gateway", "上游服务响应错误", detail=f"{service} 服务的响应无法读取", service=service) from None
        break
    if body_failure:
        await resp.aclose()
        raise body_failure[0]
    pairs = forward_response_headers(resp)
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) <= SMALL_BODY:
        try:
            content = b"".join([chunk async for chunk in resp.aiter_raw()])  # raw: encoded as the service sent it
        except httpx.TimeoutException:  # nothing sent yet: the caller gets a proper problem
            raise Problem(504, "gateway-timeout", "上游服务超时", detail=f"{service} 服务未在规定时间内响应", service=service) from None
        except httpx.HTTPError as exc:
            log.warning("service %s response body broke off: %r", service, exc)
            raise Problem(502, "bad-gateway", "上游服务响应错误", detail=f"{service} 服务的响应无法读取", service=service) from None
        finally:
            await resp.aclose()
        response = Response(content, status_code=resp.status_code, headers=_merge(pairs))
    else:
        response = _UpstreamResponse(
            _body(resp, service), status_code=resp.status_code, headers=_merge(pairs),
            background=BackgroundTask(resp.aclose),
        )
    response.raw_headers.extend((b"set-cookie", v.encode("latin-1")) for k, v in pairs if k.lower() == "set-cookie")
    return response


async def _endpoint(request: Request):
    return await proxy(request.path_params["service"], request.path_params["path"], request)


# A plain Starlette route, not a FastAPI one: the proxy has no parameters to validate or answer to
# serialise, and FastAPI's dependency and response machinery was a sixth of the gateway's time per
# proxied request (py-spy). Problems raised here still reach the app's exception handlers.
router = APIRouter()
router.routes.append(Route("/api/v1/{service}/{path:path}", _endpoint, methods=METHODS, include_in_schema=False))


class _UpstreamResponse(StreamingResponse):
    async def listen_for_disconnect(self, receive) -> None:
        # The service may answer before the caller finished sending (e.g. 401 on a large upload);
        # reading the rest of that body may then fail (size limit). Keep streaming the answer.
        try:
            await super().listen_for_disconnect(receive)
        except Exception:
            await anyio.sleep_forever()


def _merge(pairs: list[tuple[str, str]]):
    # StreamingResponse takes a mapping; repeated headers other than Set-Cookie are comma-joined
    merged: dict[str, str] = {}
    for k, v in pairs:
        k = k.lower()
        if k == "set-cookie":
            continue
        merged[k] = f"{merged[k]}, {v}" if k in merged else v
    return merged


async def _body(resp: httpx.Response, service: str):
    try:
        async for chunk in resp.aiter_raw():
            yield chunk
    except httpx.HTTPError as exc:
        # the status line is already sent: all we can do is cut the response short and log it
        log.error("service %s response body broke off: %s", service, exc)
        raise
