"""The proxy hop's connection pool (gateway.upstream) against scripted raw servers: keep-alive
reuse, framing (Content-Length, chunked, end of connection, HEAD, 204, interim 100), bodies both
ways with back-pressure, and every failure as the proxy needs it told (connect, timeout, broken,
reused-and-closed), with no connection slot lost on the way."""
from __future__ import annotations

import asyncio

import pytest

from gateway import upstream


class Script:
    """A raw HTTP server: ``answer(request_head, body, conn_no)`` returns the bytes to send, or
    ``("close", bytes)`` to send them and hang up, or None to hang up at once; it records every
    request and how many connections were opened."""

    def __init__(self, answer):
        self.answer = answer
        self.connections = 0
        self.requests: list[tuple[bytes, bytes]] = []

    async def handle(self, reader, writer):
        self.connections += 1
        conn_no = self.connections
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                body = await _read_body(reader, head)
                self.requests.append((head, body))
                out = self.answer(head, body, conn_no)
                if asyncio.iscoroutine(out):
                    out = await out
                if out is None:
                    return
                close = isinstance(out, tuple)
                writer.write(out[1] if close else out)
                await writer.drain()
                if close:
                    return
        finally:
            writer.close()


async def _read_body(reader, head: bytes) -> bytes:
    lines = head.decode("latin-1").lower().split("\r\n")
    length = next((int(v.split(":", 1)[1]) for v in lines if v.startswith("content-length:")), None)
    if length is not None:
        return await reader.readexactly(length)
    if any(v.startswith("transfer-encoding:") and "chunked" in v for v in lines):
        body = b""
        while True:
            size = int((await reader.readline()).strip(), 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return body
            body += chunk[:-2]
    return b""


def ok(body: bytes = b'{"ok":true}', extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (len(body), extra, body)


@pytest.fixture
async def serve():
    servers = []

    async def start(answer, **pool_kw):
        script = Script(answer)
        server = await asyncio.start_server(script.handle, "127.0.0.1", 0)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        kw = {"connect_timeout": 1.0, "read_timeout": 1.0, "max_connections": 4, **pool_kw}
        pool = upstream.Pool("127.0.0.1", port, **kw)
        return script, pool

    yield start
    for s in servers:
        s.close()


def _slots_free(pool: upstream.Pool, total: int = 4) -> bool:
    return pool.slots.free == total


async def test_keep_alive_connection_is_reused_and_headers_go_as_bytes(serve):
    script, pool = await serve(lambda head, body, n: ok(b'{"n":%d}' % n, b"x-a: 1\r\nX-B: caf\xe9\r\n"))
    for _ in range(3):
        answer = await pool.request("GET", "/enterprises?limit=5", [(b"if-match", b"\xe1u"), (b"x-request-id", b"r1")])
        assert answer.status == 200 and await answer.read() == b'{"n":1}'
        assert answer.header(b"x-b") == b"caf\xe9" and (b"X-B", b"caf\xe9") in answer.headers
        answer.close()
    assert script.connections == 1 and len(script.requests) == 3
    head = script.requests[0][0]
    assert head.startswith(b"GET /enterprises?limit=5 HTTP/1.1\r\nhost: 127.0.0.1:") and b"if-match: \xe1u\r\n" in head
    assert _slots_free(pool)


async def test_request_bodies_with_length_and_chunked(serve):
    script, pool = await serve(lambda head, body, n: ok(b"%d" % len(body)))

    async def parts():
        for i in range(5):
            yield b"%d" % i * 1000

    answer = await pool.request("POST", "/x", [(b"content-length", b"5000")], parts())
    assert await answer.read() == b"5000"
    answer.close()
    answer = await pool.request("POST", "/x", [], parts(), chunked=True)
    assert await answer.read() == b"5000"
    answer.close()
    assert script.requests[1][1] == b"".join([b"%d" % i * 1000 for i in range(5)])
    assert b"transfer-encoding: chunked" in script.requests[1][0] and script.connections == 1


async def test_chunked_and_large_answers_stream_with_back_pressure(serve):
    big = bytes(range(256)) * 8192  # 2 MiB

    def answer(head, body, n):
        if b"/chunked" in head:
            return b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
        return ok(big)

    script, pool = await serve(answer)
    a = await pool.request("GET", "/chunked", [])
    assert await a.read() == b"hello world"
    a.close()
    a = await pool.request("GET", "/big", [])
    got = []
    async for chunk in a.chunks():
        got.append(chunk)
        await asyncio.sleep(0)  # a slow reader: the pool pauses the socket instead of buffering it all
    a.close()
    assert b"".join(got) == big
    a = await pool.request("GET", "/chunked", [])  # and the connection is still good
    assert await a.read() == b"hello world"
    a.close()
    assert script.connections == 1 and _slots_free(pool)


async def test_head_204_interim_100_and_end_of_connection_framing(serve):
    def answer(head, body, n):
        if head.startswith(b"HEAD"):
            return b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n"  # no body follows a HEAD answer
        if b"/empty" in head:
            return b"HTTP/1.1 204 No Content\r\n\r\n"
        if b"/continue" in head:
            return b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"after")
        return ok()

    script, pool = await serve(answer)
    a = await pool.request("HEAD", "/x", [])
    assert a.status == 200 and a.header(b"content-length") == b"1234" and await a.read() == b""
    a.close()
    for path, status, body in (("/empty", 204, b""), ("/continue", 200, b"after"), ("/empty", 204, b"")):
        a = await pool.request("GET", path, [])
        assert (a.status, await a.read()) == (status, body)
        a.close()
    assert script.connections == 2  # HEAD's connection is not reused (its answer's framing is unknown)
    assert _slots_free(pool)


async def test_end_of_connection_delimited_body(serve):
    script, pool = await serve(lambda head, body, n: ("close", b"HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nuntil the end"))
    a = await pool.request("GET", "/eof", [])
    assert await a.read() == b"until the end"
    a.close()
    assert not pool.idle and _slots_free(pool)


async def test_a_pooled_connection_the_service_closed_is_not_reused(serve):
    def answer(head, body, n):
        return ok(b"%d" % n, b"connection: close\r\n")

    script, pool = await serve(answer)
    for expected in (b"1", b"2"):
        a = await pool.request("GET", "/x", [])
        assert await a.read() == expected
        a.close()
    assert script.connections == 2 and not pool.idle and _slots_free(pool)


async def test_reused_connection_dropped_before_the_answer_is_broken_reused(serve):
    def answer(head, body, n):
        return ok() if b"/first" in head else None  # the second request on the pooled connection: hang up

    script, pool = await serve(answer)
    a = await pool.request("GET", "/first", [])
    await a.read()
    a.close()
    with pytest.raises(upstream.Broken) as exc:
        await pool.request("GET", "/second", [])
    assert exc.value.reused  # the proxy sends a bodiless request once more, on a fresh connection
    a = await pool.request("GET", "/first", [], fresh=True)
    assert a.status == 200
    a.close()
    assert _slots_free(pool)


async def test_idle_connections_expire_before_the_service_would_close_them(serve):
    script, pool = await serve(lambda head, body, n: ok(), idle_expiry=0.05)
    for _ in range(2):
        a = await pool.request("GET", "/x", [])
        await a.read()
        a.close()
        await asyncio.sleep(0.1)
    assert script.connections == 2


async def test_failures_connect_timeout_nonsense_and_cut_bodies(serve):
    async def answer(head, body, n):
        if b"/hang" in head:
            await asyncio.sleep(5)
        if b"/nonsense" in head:
            return b"SMTP ready\r\n\r\n"
        if b"/cut-and-close" in head:
            return ("close", b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b")
        if b"/cut" in head:
            return b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly ten b"  # and silence
        return ok()

    script, pool = await serve(answer, read_timeout=0.3)
    with pytest.raises(upstream.TimedOut):
        await pool.request("GET", "/hang", [])
    with pytest.raises(upstream.Broken):
        await pool.request("GET", "/nonsense", [])
    a = await pool.request("GET", "/cut", [])
    with pytest.raises(upstream.TimedOut):  # 10 of 100 bytes, then silence
        await a.read()
    a.close()
    a = await pool.request("GET", "/cut-and-close", [])
    with pytest.raises(upstream.Broken):  # 10 of 100 bytes, then the end of the connection
        await a.read()
    a.close()
    a = await pool.request("GET", "/fine", [])
    assert a.status == 200
    a.close()
    assert _slots_free(pool)

    import socket

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    dead = upstream.Pool("127.0.0.1", port, connect_timeout=1.0, read_timeout=1.0, max_connections=4)
    with pytest.raises(upstream.ConnectFailed):
        await dead.request("GET", "/x", [])
    assert _slots_free(dead)


async def test_the_service_answering_before_the_body_is_sent_stops_the_upload():
    """E.g. 401 or 413 on an upload: the service answers on the head alone. The rest of the body is
    not sent, the answer reaches the caller, and that connection is not reused."""
    async def handle(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 2\r\n\r\nno")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    pool = upstream.Pool("127.0.0.1", server.sockets[0].getsockname()[1], connect_timeout=1.0, read_timeout=1.0,
                         max_connections=4)
    sent = []

    async def slow_parts():
        for i in range(20):
            sent.append(i)
            yield b"x" * 10
            await asyncio.sleep(0.02)

    try:
        a = await pool.request("POST", "/upload", [(b"content-length", b"200")], slow_parts())
        assert a.status == 413 and await a.read() == b"no"
        a.close()
        assert len(sent) < 20  # the upload stopped once the answer was in
        assert not pool.idle and _slots_free(pool)
    finally:
        server.close()


async def test_connection_slots_bound_concurrency(serve):
    async def answer(head, body, n):
        await asyncio.sleep(0.05)
        return ok()

    script, pool = await serve(answer, max_connections=2, connect_timeout=2.0)

    async def one():
        a = await pool.request("GET", "/x", [])
        await a.read()
        a.close()

    await asyncio.gather(*(one() for _ in range(8)))
    assert script.connections == 2 and _slots_free(pool, 2)


async def test_an_extra_answer_is_not_mixed_into_this_one_and_the_connection_goes(serve):
    """Audit: bytes after a complete answer (a second answer the service should not have sent) were
    parsed into the first answer's header list, so one caller could get another's Set-Cookie."""
    def answer(head, body, n):
        return (b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nset-cookie: a=1\r\n\r\nfirst"
                b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\nset-cookie: session=OTHER-CALLER\r\n\r\nsecnd")

    script, pool = await serve(answer)
    a = await pool.request("GET", "/x", [])
    assert await a.read() == b"first"
    a.close()
    assert [v for k, v in a.headers if k.lower() == b"set-cookie"] == [b"a=1"]
    b = await pool.request("GET", "/x", [])
    assert await b.read() == b"first"
    b.close()
    assert script.connections == 2 and _slots_free(pool)


async def test_bad_targets_and_header_values_are_never_written():
    pool = upstream.Pool("127.0.0.1", 9, connect_timeout=0.5, read_timeout=0.5, max_connections=4)
    for target in (b"/a\r\nX: y", b"/a b", b"a", "/é".encode("utf-8"), b"/a\x00"):
        with pytest.raises(upstream.BadRequestLine):
            await pool.request("GET", target, [])
    with pytest.raises(upstream.BadRequestLine):
        await pool.request("GET", "/a", [(b"x-note", b"v\r\nx-injected: 1")])
    assert _slots_free(pool)


async def test_slots_wait_with_a_deadline_and_never_lose_a_permit():
    slots = upstream.Slots(2)
    assert await slots.acquire(0.1) and await slots.acquire(0.1)
    assert not await slots.acquire(0.05)  # full: the wait ends, nothing taken
    waiter = asyncio.ensure_future(slots.acquire(5))
    await asyncio.sleep(0)
    slots.release()  # handed straight to the waiter
    assert await waiter and slots.free == 0
    held = 2
    cancelled = asyncio.ensure_future(slots.acquire(5))
    await asyncio.sleep(0)
    slots.release()  # handed over, and the waiter is cancelled in the same moment
    held -= 1
    cancelled.cancel()
    try:
        if await cancelled:  # (Python 3.11's wait_for may let the result win over the cancel)
            held += 1
    except asyncio.CancelledError:
        pass  # then the permit was passed on, not lost
    for _ in range(held):
        slots.release()
    assert slots.free == 2 and not slots.waiters


async def test_streamed_uploads_have_their_own_smaller_share_of_connections(serve):
    """Bodies still streaming from their caller may take at most a quarter of the connections: slow
    uploaders can hold up other uploads, never the rest."""
    script, pool = await serve(lambda head, body, n: ok(), max_connections=4, connect_timeout=0.3)
    assert pool.uploads.size == 1
    gate = asyncio.Event()

    async def held_open():
        yield b"x" * 10
        await gate.wait()
        yield b"y"

    first = asyncio.ensure_future(pool.request("POST", "/up", [(b"content-length", b"11")], held_open()))
    await asyncio.sleep(0.1)
    with pytest.raises(upstream.PoolFull):
        await pool.request("POST", "/up2", [(b"content-length", b"11")], held_open())
    a = await pool.request("POST", "/small", [(b"content-length", b"3")], b"abc")  # a whole body: not an upload
    assert a.status == 200
    a.close()
    gate.set()
    answer = await first
    answer.close()
    assert pool.uploads.free == 1 and _slots_free(pool)
