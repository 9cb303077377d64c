"""Routing to the services: headers and request id pass through, bodies stream both ways,
unreachable service → 503, silent service → 504, oversized body → 413, unknown service → 404,
and the merged OpenAPI document."""
from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.gateway.conftest import auth_headers
from tests.gateway.fake_service import fake_service


@pytest.fixture
async def silent_server():
    """A TCP server that accepts and never answers (a hung service)."""
    conns = []

    async def handle(reader, writer):
        conns.append(writer)
        try:
            await reader.read(1)
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for w in conns:
        w.close()
    server.close()


@pytest.fixture
def dead_port():
    """A local port nothing listens on."""
    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}"


@pytest.fixture(params=["socket", "asgi"])
async def routed(request, make_gateway, databases, keys, monkeypatch, dead_port, silent_server):
    """The gateway in front of a fake registry: over a real socket (uvicorn on a free port, the
    gateway's own connection pool, as in production) and in-process (httpx's ASGI transport)."""
    from shared.topology import enabled_services

    for other in set(enabled_services()) - {"registry", "sampling", "scheduling"}:  # not started here, even when `make run` holds the default ports
        monkeypatch.setenv(f"SPOTCHECK_{other.upper()}_URL", dead_port)
    monkeypatch.setenv("SPOTCHECK_SAMPLING_URL", dead_port)
    monkeypatch.setenv("SPOTCHECK_SCHEDULING_URL", silent_server)
    service = fake_service("registry", keys.jwks, await databases.create("fake"))
    transports = None
    server = None
    if request.param == "socket":
        from tests.security.test_keepalive import free_port, serve

        port = free_port()
        server, task = await serve(service, port)
        monkeypatch.setenv("SPOTCHECK_REGISTRY_URL", f"http://127.0.0.1:{port}")
    else:
        transports = {"registry": httpx.ASGITransport(app=service)}
    gw = await make_gateway(transports=transports, upstream_read_timeout=0.5, openapi_fetch_timeout=0.5, max_body_bytes=10_000)
    gw.mode = request.param
    yield gw
    if server is not None:
        server.should_exit = True
        await task


async def test_headers_query_body_and_request_id_pass_through(routed):
    gw = routed
    auth = await auth_headers(gw.client, "demo_province")
    resp = await gw.client.post(
        "/api/v1/registry/echo/a%20b/c?x=1&y=%E5%A4%AA%E5%8E%9F",
        headers={**auth, "X-Request-ID": "req-test-123", "Idempotency-Key": "idem-9", "If-Match": '"v3"',
                 "Content-Type": "application/json", "Connection": "keep-alive, X-Secret-Hop", "X-Secret-Hop": "1",
                 "Keep-Alive": "timeout=5"},
        content=b'{"hello": "\xe5\xa4\xaa\xe5\x8e\x9f"}',
    )
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-request-id"] == "req-test-123"
    echoed = resp.json()
    h = echoed["headers"]
    assert echoed["method"] == "POST" and echoed["path"] == "/echo/a b/c"
    assert echoed["query"] == "x=1&y=%E5%A4%AA%E5%8E%9F"
    assert echoed["request_id"] == "req-test-123" and h["x-request-id"] == "req-test-123"
    assert h["authorization"] == auth["Authorization"]
    assert h["idempotency-key"] == "idem-9" and h["if-match"] == '"v3"' and h["content-type"] == "application/json"
    # the caller's connection-specific headers stay at the gateway (httpx sets its own Connection)
    assert "x-secret-hop" not in h and "keep-alive" not in h and "X-Secret-Hop" not in h.get("connection", "")
    assert h["x-forwarded-proto"] == "http" and "x-forwarded-for" in h
    assert echoed["body_len"] == len(b'{"hello": "\xe5\xa4\xaa\xe5\x8e\x9f"}')

    # without an id the gateway makes one and the service sees the same
    resp = await gw.client.get("/api/v1/registry/echo/x")
    assert resp.json()["request_id"] == resp.headers["x-request-id"] and len(resp.headers["x-request-id"]) >= 16


async def test_header_values_outside_ascii_pass_through_unchanged(routed):
    """HTTP allows obs-text (bytes 0x80-0xFF) in a header value; the gateway forwards such a value byte
    for byte instead of failing to encode it (schemathesis seed 7: If-Match 'áu' was a 500)."""
    gw = routed
    auth = await auth_headers(gw.client, "demo_province")
    resp = await gw.client.put("/api/v1/registry/echo/x", content=b"{}",
                               headers={**auth, "If-Match": "\xe1u".encode("latin-1"), "X-Note": b"caf\xe9 \xff",
                                        "Idempotency-Key": "k\xe4".encode("latin-1"), "Content-Type": "application/json"})
    assert resp.status_code == 200, resp.text
    h = resp.json()["headers"]
    assert h["if-match"] == "\xe1u" and h["x-note"] == "caf\xe9 \xff" and h["idempotency-key"] == "k\xe4"


async def test_status_etag_and_service_errors_pass_through_cookies_not_kept(routed):
    gw = routed
    created = await gw.client.post("/api/v1/registry/things", json={"name": "钢筋", "size": 3})
    assert created.status_code == 201 and created.json() == {"name": "钢筋", "size": 3}
    invalid = await gw.client.post("/api/v1/registry/things", json={"size": "大"})
    assert invalid.status_code == 422 and invalid.headers["content-type"].startswith("application/problem+json")
    assert {e["field"] for e in invalid.json()["errors"]} == {"name", "size"}
    missing = await gw.client.get("/api/v1/registry/no/such/path")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("application/problem+json")
    unauth = await gw.client.get("/api/v1/registry/whoami")
    assert unauth.status_code == 401 and unauth.headers["www-authenticate"] == "Bearer"

    first = await gw.client.get("/api/v1/registry/cookie")
    assert first.headers["etag"] == '"v7"' and "upstream=" in first.headers["set-cookie"]
    # the shared upstream client did not keep that caller's cookie for the next caller
    gw.client.cookies.clear()  # the test client is a browser-like caller and kept it; the gateway must not
    echo = await gw.client.get("/api/v1/registry/echo/c")
    assert "cookie" not in echo.json()["headers"]
    assert len(gw.app.state.upstreams.client.cookies.jar) == 0


async def test_large_body_streams_and_oversized_is_refused(routed):
    gw = routed
    ok = await gw.client.post("/api/v1/registry/echo/big", content=b"x" * 9_000, headers={"Content-Type": "text/csv"})
    assert ok.status_code == 200 and ok.json()["body_len"] == 9_000

    too_big = await gw.client.post("/api/v1/registry/echo/big", content=b"x" * 10_001, headers={"Content-Type": "text/csv"})
    assert too_big.status_code == 413 and too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["title"] == "请求体过大"

    async def chunks():
        for _ in range(20):
            yield b"y" * 1000

    chunked = await gw.client.post("/api/v1/registry/echo/big", content=chunks(), headers={"Content-Type": "text/csv"})
    assert chunked.status_code == 413


async def test_unknown_down_and_hung_services(routed):
    gw = routed
    unknown = await gw.client.get("/api/v1/nosuch/thing")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert unknown.json()["type"] == "urn:spotcheck:problem:unknown-service"

    down = await gw.client.get("/api/v1/sampling/plans")
    assert down.status_code == 503 and down.headers["content-type"] == "application/problem+json"
    assert down.json()["title"] == "服务暂不可用" and down.json()["service"] == "sampling"
    assert down.headers["retry-after"]

    hung = await gw.client.get("/api/v1/scheduling/teams")
    assert hung.status_code == 504 and hung.json()["type"] == "urn:spotcheck:problem:gateway-timeout"

    # a gateway API path that does not exist is a problem too (other paths belong to the web app: index.html)
    assert (await gw.client.get("/auth/nothing-here")).headers["content-type"] == "application/problem+json"
    assert (await gw.client.get("/admin/nothing-here")).headers["content-type"] == "application/problem+json"


async def test_merged_openapi(routed):
    gw = routed
    resp = await gw.client.get("/openapi.json")
    assert resp.status_code == 200
    doc = resp.json()
    paths = doc["paths"]
    assert "/auth/token" in paths and "/admin/users" in paths and "/.well-known/jwks.json" in paths
    assert "/api/v1/registry/whoami" in paths and "/api/v1/registry/things" in paths
    assert not any(p.startswith("/api/v1/{service}") for p in paths)
    schemas = doc["components"]["schemas"]
    assert "registry__Thing" in schemas and "Thing" not in schemas
    body_ref = paths["/api/v1/registry/things"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert body_ref == "#/components/schemas/registry__Thing"
    refs = _all_refs(doc)
    assert refs and all(r.split("/")[-1] in doc["components"][r.split("/")[2]] for r in refs)
    op_ids = [op["operationId"] for item in paths.values() for op in item.values() if isinstance(op, dict) and "operationId" in op]
    assert len(op_ids) == len(set(op_ids))
    from shared.topology import enabled_services

    # registry answers (in-process); sampling is a dead port, scheduling never answers, the rest are not started here
    assert set(doc["info"]["x-unavailable"]) == set(enabled_services()) - {"registry"}
    assert doc["components"]["securitySchemes"]["SpotcheckOAuth2"]["flows"]["password"]["tokenUrl"] == "/auth/token"
    docs = await gw.client.get("/docs")
    assert docs.status_code == 200 and "openapi.json" in docs.text  # relative: works under a prefix too


def _all_refs(node) -> list[str]:
    if isinstance(node, dict):
        return [v for k, v in node.items() if k == "$ref"] + [r for v in node.values() for r in _all_refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in _all_refs(v)]
    return []


@pytest.fixture
async def cut_server():
    """A service that declares a 1,000-byte JSON answer, sends 10 bytes of it and hangs up."""

    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"items\": ")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    server.close()


async def test_small_answer_cut_short_is_a_502_not_a_truncated_200(make_gateway, monkeypatch, cut_server):
    """A small answer (declared Content-Length ≤ SMALL_BODY) is read whole before anything is sent,
    so a service that breaks off mid-body gives the caller a problem instead of a cut 200."""
    monkeypatch.setenv("SPOTCHECK_RISK_URL", cut_server)
    gw = await make_gateway()
    r = await gw.client.get("/api/v1/risk/scores")
    assert r.status_code == 502 and r.headers["content-type"] == "application/problem+json"
    assert r.json()["type"] == "urn:spotcheck:problem:bad-gateway" and r.json()["service"] == "risk"


def test_httpcore_finds_sniffio():
    """httpcore imports ``sniffio`` on every pooled request (``current_async_library``); when it is
    missing, that failing import searches sys.path each time (seen in the gateway's profile)."""
    import importlib.util

    assert importlib.util.find_spec("sniffio") is not None


def test_httpx_request_lines_are_not_logged_per_proxied_request():
    """The access line already records each request; httpx's own INFO line per upstream call
    doubled the gateway's logging on the hop (warnings still pass)."""
    import logging

    from shared.observability import setup_logging

    setup_logging("INFO")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)


async def test_paths_that_would_smuggle_a_second_request_are_refused(routed):
    """Audit (2026-12-01): the target was once rebuilt from the decoded path when the raw path did
    not start with the service's prefix (``/api/v1/%72egistry/…``), so ``%0D%0A`` became a real
    CRLF on the pooled connection: headers and whole requests could be injected, and the next
    caller's request captured. The target now is always the caller's raw bytes."""
    gw = routed
    auth = await auth_headers(gw.client, "demo_province")
    for path in ("/api/v1/%72egistry/echo/x%0D%0AX-Injected:%20yes%0D%0A",
                 "/api/v1/registry%2Fecho%2Fx", "/api/v1/%72egistry/echo/%E5%A4%AA"):
        r = await gw.client.get(path, headers=auth)
        assert r.status_code == 400 and r.headers["content-type"] == "application/problem+json", (path, r.text)
        assert r.json()["title"] == "请求路径不规范"
    # with the service spelt plainly, encoded CR LF stay encoded: text in the path, never a header
    r = await gw.client.get("/api/v1/registry/echo/a%20b?q=%0D%0AX-Injected:%20yes", headers=auth)
    assert r.status_code == 200
    echoed = r.json()
    assert "x-injected" not in echoed["headers"] and echoed["query"] == "q=%0D%0AX-Injected:%20yes"
    # (a decoded CR LF in the path matches no route of the service: its own 404, one request on one line)
    r = await gw.client.get("/api/v1/registry/echo/a%0D%0AX-Injected:%20yes", headers=auth)
    assert r.status_code == 404 and r.json()["instance"].startswith("/api/v1/registry/echo/a")
    # the caller's own Forwarded / X-Real-IP claims stay at the gateway
    r = await gw.client.get("/api/v1/registry/echo/x", headers={**auth, "Forwarded": "for=6.6.6.6", "X-Real-IP": "6.6.6.6"})
    assert "forwarded" not in r.json()["headers"] and "x-real-ip" not in r.json()["headers"]


async def test_a_caller_that_stalls_its_body_gets_408_and_holds_no_connection(routed):
    """Audit: a caller that sent the head and then nothing held one of the replica's connection
    slots for good; 200 such sockets made the service unreachable for everyone (503)."""
    gw = routed
    auth = await auth_headers(gw.client, "demo_province")

    async def stalls_after_first_chunk():
        yield b"x" * 100
        await asyncio.sleep(3)  # the gateway's read timeout here is 0.5 s
        yield b"y"

    if gw.mode == "socket":  # (the in-process transport has no connections to hold)
        chunked = await gw.client.post("/api/v1/registry/echo/up", content=stalls_after_first_chunk(),
                                       headers={**auth, "Content-Type": "text/csv"})
        assert chunked.status_code == 408 and chunked.json()["title"] == "请求体接收超时"
    small = await gw.client.post("/api/v1/registry/echo/up", content=stalls_after_first_chunk(),
                                 headers={**auth, "Content-Type": "text/csv", "Content-Length": "101"})
    assert small.status_code == 408
    for pool in gw.app.state.upstreams.pools.values():
        assert pool.slots.free == pool.slots.size
    ok = await gw.client.post("/api/v1/registry/echo/up", content=b"z" * 500, headers={**auth, "Content-Type": "text/csv"})
    assert ok.status_code == 200 and ok.json()["body_len"] == 500


@pytest.fixture
async def flaky_server():
    """A service that answers GET /warm on a keep-alive connection, then closes the connection on
    the next request without answering; it counts what it received."""
    seen: list[bytes] = []

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.append(head.split(b"\r\n", 1)[0])
                if head.startswith(b"GET /warm"):
                    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
                    await writer.drain()
                    continue
                return  # hang up on anything else
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", seen
    server.close()


async def test_a_bodiless_post_is_not_sent_twice_when_its_connection_breaks(make_gateway, monkeypatch, flaky_server):
    """Audit: a POST without a body was retried on a fresh connection like a GET, so an action such as
    ``POST /admin/parked/{id}/replay`` could run twice. Only GET, HEAD and OPTIONS are sent again."""
    url, seen = flaky_server
    monkeypatch.setenv("SPOTCHECK_RISK_URL", url)
    gw = await make_gateway()
    assert (await gw.client.get("/api/v1/risk/warm")).status_code == 200
    r = await gw.client.post("/api/v1/risk/act")
    assert r.status_code == 502 and r.json()["type"] == "urn:spotcheck:problem:bad-gateway"
    assert seen.count(b"POST /act HTTP/1.1") == 1
    assert (await gw.client.get("/api/v1/risk/warm")).status_code == 200
    r = await gw.client.get("/api/v1/risk/read")
    assert r.status_code == 502 and seen.count(b"GET /read HTTP/1.1") == 2  # a GET is sent once more


async def test_a_streamed_answer_stops_when_the_caller_leaves():
    """Audit: uvicorn drops sends to a closed connection, so an abandoned download used to be pulled
    from the service to its end (50 MB in the audit's case)."""
    from types import SimpleNamespace

    from gateway.proxy import _stream

    pulled, sent, closed = [], [], []

    class Answer:
        status, headers = 200, [(b"content-type", b"text/csv")]

        async def chunks(self):
            for i in range(1000):
                pulled.append(i)
                await asyncio.sleep(0.001)
                yield b"x" * 1000

        async def aclose(self):
            closed.append(True)

    async def receive():
        await asyncio.sleep(0.02)
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message["type"])

    await _stream("inspection", SimpleNamespace(receive=receive), Answer(), [], send, timeout=5)
    assert closed == [True] and 1 < len(pulled) < 200 and sent[0] == "http.response.start"


async def test_slow_small_bodies_pass_and_dripping_callers_hold_no_connection(routed):
    """Re-audit: a body may arrive slowly as long as it keeps coming (the read timeout is between its
    pieces), and up to 64 KB of any body, chunked too, is read before a connection slot is taken, so
    callers that drip bytes cannot keep the service busy for everyone else (503)."""
    gw = routed
    auth = await auth_headers(gw.client, "demo_province")

    async def slowly(n=6, gap=0.2):  # 1.2 s in all, with the gateway's read timeout at 0.5 s
        for _ in range(n):
            await asyncio.sleep(gap)
            yield b"0123456789"

    for extra in ({"Content-Length": "60"}, {}):  # declared length, and chunked
        r = await gw.client.post("/api/v1/registry/echo/slow", content=slowly(), headers={**auth, "Content-Type": "text/csv", **extra})
        assert r.status_code == 200 and r.json()["body_len"] == 60

    drips = [asyncio.ensure_future(gw.client.post("/api/v1/registry/echo/drip", content=slowly(n=10_000, gap=0.1),
                                                  headers={**auth, "Content-Type": "text/csv"})) for _ in range(3)]
    try:
        await asyncio.sleep(0.5)
        for pool in gw.app.state.upstreams.pools.values():
            assert pool.slots.free == pool.slots.size  # nothing held for the drippers
        assert (await gw.client.get("/api/v1/registry/echo/other", headers=auth)).status_code == 200
    finally:
        for d in drips:
            d.cancel()
        await asyncio.gather(*drips, return_exceptions=True)
