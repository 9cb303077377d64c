"""The proxy hop's HTTP/1.1 client: keep-alive connections pooled per service replica, requests
written as bytes, answers parsed by httptools (llhttp, the parser uvicorn itself uses).

Why not httpx here: per proxied request httpx/httpcore cost about a fifth of the gateway's time
(pure-Python h11 header handling, anyio streams, its request/response models). This client does
only what a reverse proxy needs: bytes in, bytes out, the caller's header values untouched.

Errors, as the proxy answers them:

* ``ConnectFailed``: the replica could not be reached (refused, unreachable, connect timeout);
  nothing of the request was sent, so another replica may take it (503 when none can).
* ``TimedOut``: no byte of the answer (or of its next part) within the read timeout (504).
* ``Broken``: the connection closed or spoke nonsense before the answer was complete (502);
  ``reused`` says whether it was a pooled connection, which the service may have closed just
  as we reused it (a request without a body is then sent once more on a fresh connection).
"""
from __future__ import annotations

import asyncio
import collections
import re
import time
from collections.abc import AsyncIterator

import httptools

READ_CHUNK_LIMIT = 256 * 1024  # answer bytes buffered before the service is asked to pause


class UpstreamError(Exception):
    pass


class ConnectFailed(UpstreamError):
    pass


class PoolFull(ConnectFailed):
    """Every connection to the replica is busy (it is saturated, not down)."""


class CallerStalled(UpstreamError):
    """The caller stopped sending its request body (nothing for ``read_timeout`` seconds)."""


class BadRequestLine(UpstreamError, ValueError):
    """A request target or header that cannot be written as HTTP/1.1 (control bytes, CR/LF)."""


class TimedOut(UpstreamError):
    pass


class Broken(UpstreamError):
    def __init__(self, message: str, reused: bool = False):
        super().__init__(message)
        self.reused = reused


class Answer:
    """The service's answer: ``status``, ``headers`` (raw byte pairs as sent), then the body by
    ``read()`` (whole) or ``chunks()`` (as it arrives). ``close()`` when done, always."""

    __slots__ = ("status", "headers", "_conn")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], conn: "_Connection"):
        self.status, self.headers, self._conn = status, headers, conn

    def header(self, name: bytes) -> bytes | None:
        for k, v in self.headers:
            if k.lower() == name:
                return v
        return None

    async def chunks(self) -> AsyncIterator[bytes]:
        conn = self._conn
        while True:
            chunk = await conn.next_chunk()
            if chunk is None:
                return
            yield chunk

    async def read(self) -> bytes:
        return b"".join([c async for c in self.chunks()])

    def close(self) -> None:
        self._conn.finished()


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, pool: "Pool"):
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.uses = 0
        self.idle_since = 0.0
        self.closed = False
        self.holds_slot = False  # one of the pool's connection slots is taken by the request on it
        self.holds_upload = False  # and one of its upload slots (a body still streaming from the caller)
        self._reset()

    def _reset(self) -> None:
        self.head: asyncio.Future | None = None  # resolves to (status, headers) once the head is in
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: collections.deque[bytes] = collections.deque()
        self.buffered = 0
        self.complete = False
        self.waiter: asyncio.Future | None = None
        self.error: UpstreamError | None = None
        self.keep_alive = True
        self.head_only = False
        self.paused_reading = False
        self.has_length = True
        self.timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol
    def connection_made(self, transport) -> None:
        self.transport = transport
        self.can_write = asyncio.Event()
        self.can_write.set()

    def pause_writing(self) -> None:
        self.can_write.clear()

    def resume_writing(self) -> None:
        self.can_write.set()

    def data_received(self, data: bytes) -> None:
        if self.head is None or self.complete:
            # bytes nobody asked for (an idle connection, or after a complete answer): this connection's
            # framing can no longer be trusted, so it is closed and never reused
            self.keep_alive = False
            self.closed = True
            self.transport.close()
            return
        if self.timer is not None:
            self._arm()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(Broken("the service switched protocols"))
        except httptools.HttpParserError as exc:
            self._fail(Broken(f"unreadable answer from the service: {exc}"))

    def connection_lost(self, exc) -> None:
        self.closed = True
        self.can_write.set()
        self._disarm()
        if self.head is not None and not self.complete:
            if self.head.done() and not self.has_length:
                self.on_message_complete()  # an answer delimited by the end of the connection
            else:
                self._fail(Broken("the service closed the connection", reused=self.uses > 1 and not self.head.done()))

    # -- httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        if self.complete:  # a second answer in the same bytes: not this request's
            self.keep_alive = False
            return
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.complete:
            self.keep_alive = False
            return
        status = self.parser.get_status_code()
        if 100 <= status < 200:  # an interim answer (100 Continue): the real one follows
            self.headers = []
            return
        self.status = status
        self.keep_alive = self.parser.should_keep_alive()
        lowered = {k.lower() for k, _ in self.headers}
        self.has_length = b"content-length" in lowered or b"transfer-encoding" in lowered or status in (204, 304)
        if self.head is not None and not self.head.done():
            self.head.set_result(None)
        if self.head_only:  # the answer to HEAD has no body whatever it declares
            self.keep_alive = False
            self.on_message_complete()

    def on_body(self, body: bytes) -> None:
        if self.complete:
            return
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > READ_CHUNK_LIMIT and not self.paused_reading and self.transport is not None:
            self.paused_reading = True
            self.transport.pause_reading()
            self._disarm()  # the wait is ours now, not the service's
        self._wake()

    def on_message_complete(self) -> None:
        if self.status == 0 or self.complete:
            return  # the end of an interim answer
        self.complete = True
        self._disarm()
        self._wake()

    # -- the request
    def _arm(self) -> None:
        self._disarm()
        self.timer = asyncio.get_running_loop().call_later(self.pool.read_timeout, self._timed_out)

    def _disarm(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def _timed_out(self) -> None:
        self.timer = None
        self._fail(TimedOut("the service did not answer in time"))

    def _fail(self, error: UpstreamError) -> None:
        if self.error is None and not self.complete:
            self.error = error
        self.keep_alive = False
        self._disarm()
        if self.transport is not None and not self.closed:
            self.transport.close()
        if self.head is not None and not self.head.done():
            self.head.set_exception(self.error or error)
            self.head.exception()  # retrieved: the request may have left already (no "never retrieved" log)
        self._wake()

    def _wake(self) -> None:
        w = self.waiter
        if w is not None and not w.done():
            w.set_result(None)

    async def send(self, method: bytes, head: bytes, body: AsyncIterator[bytes] | None, chunked: bool) -> Answer:
        self._reset()
        self.uses += 1
        if self.closed:
            raise Broken("the service had closed the connection", reused=self.uses > 1)
        self.head_only = method == b"HEAD"
        loop = asyncio.get_running_loop()
        self.head = loop.create_future()
        if isinstance(body, bytes) and not chunked:
            self.transport.write(head + body)  # a body read whole: one write with the head
        else:
            self.transport.write(head)
            if body is not None:
                await self._send_body(body, chunked)
        if not self.head.done():
            self._arm()
        try:
            await self.head
        except asyncio.CancelledError:
            self._fail(Broken("the request was cancelled"))
            raise
        return Answer(self.status, list(self.headers), self)

    async def _send_body(self, body, chunked: bool) -> None:
        """The request body: bytes at once, or chunks as the caller sends them. Each wait for the
        next chunk races the service's answer (an early 401/413 is taken as it comes, the rest of the
        body is dropped and the connection not reused) and the read timeout (a caller that stops
        sending holds a connection slot: ``CallerStalled``)."""
        write = self.transport.write
        if isinstance(body, bytes):
            if body:
                write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body)
            return
        it = body.__aiter__()
        while True:
            nxt = asyncio.ensure_future(it.__anext__())
            done, _ = await asyncio.wait((nxt, self.head), timeout=self.pool.read_timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                try:
                    await nxt
                except BaseException:  # noqa: BLE001 - the caller's body is abandoned either way
                    pass
                self.keep_alive = False
                if self.head.done():  # the service answered before the body was all sent
                    return
                self._fail(CallerStalled("the caller stopped sending its request body"))
                raise CallerStalled("the caller stopped sending its request body")
            try:
                chunk = nxt.result()
            except StopAsyncIteration:
                break
            if self.head.done() or self.closed:
                self.keep_alive = False
                return
            if chunk:
                if chunked:
                    write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    write(chunk)
            if not self.can_write.is_set():
                self._arm()
                await self.can_write.wait()
                self._disarm()
        if chunked and not self.closed:
            write(b"0\r\n\r\n")

    async def next_chunk(self) -> bytes | None:
        while True:
            if self.body:
                chunk = self.body.popleft()
                self.buffered -= len(chunk)
                if self.paused_reading and self.buffered <= READ_CHUNK_LIMIT // 2 and not self.closed:
                    self.paused_reading = False
                    self.transport.resume_reading()
                    if not self.complete:
                        self._arm()
                return chunk
            if self.complete:
                return None
            if self.error is not None:
                raise self.error
            if self.timer is None and not self.paused_reading:
                self._arm()
            self.waiter = asyncio.get_running_loop().create_future()
            try:
                await self.waiter
            finally:
                self.waiter = None

    def finished(self) -> None:
        """The caller is done with the answer (or the request failed): the connection goes back to
        the pool if its answer was read to the end, else it is closed. Its slot is freed either way."""
        if not self.holds_slot:
            return
        self.holds_slot = False
        self._disarm()
        self.pool.slots.release()
        if self.holds_upload:
            self.holds_upload = False
            self.pool.uploads.release()
        if self.complete and self.keep_alive and self.error is None and not self.closed:
            self.head = None
            self.pool.release(self)
        else:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool.open.discard(self)


class Slots:
    """A counting semaphore for the pool's connections whose waits have a deadline and never lose a
    permit (a released permit goes straight to the oldest waiter; a waiter that times out just as it
    is handed one gives it back)."""

    def __init__(self, size: int):
        self.size, self.taken = size, 0
        self.waiters: collections.deque[asyncio.Future] = collections.deque()

    @property
    def free(self) -> int:
        return self.size - self.taken

    async def acquire(self, timeout: float) -> bool:
        if self.taken < self.size and not self.waiters:
            self.taken += 1
            return True
        fut = asyncio.get_running_loop().create_future()
        self.waiters.append(fut)
        try:
            await asyncio.wait_for(asyncio.shield(fut), timeout)
            return True
        except (asyncio.TimeoutError, asyncio.CancelledError) as exc:
            if fut.done() and not fut.cancelled():
                self.release()  # handed a permit just as the wait ended: give it on
            else:
                fut.cancel()
                try:
                    self.waiters.remove(fut)
                except ValueError:
                    pass
            if isinstance(exc, asyncio.CancelledError):
                raise
            return False

    def release(self) -> None:
        while self.waiters:
            fut = self.waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the permit passes on: ``taken`` stays
                return
        self.taken -= 1


_UNSAFE_TARGET = re.compile(rb"[^\x21-\x7e]")  # request target: visible ASCII only (RFC 9112 §3.2)


class Pool:
    """Keep-alive connections to one replica (``host:port``). Idle connections older than
    ``idle_expiry`` are not reused: the services' uvicorn closes them after 5 s idle, and a request
    sent just as the service closes one is lost (bodiless requests are retried once for that)."""

    def __init__(self, host: str, port: int, connect_timeout: float, read_timeout: float,
                 max_connections: int = 200, max_idle: int = 50, idle_expiry: float = 4.0):
        self.host, self.port = host, port
        self.host_header = host.encode("idna") + (b"" if port == 80 else b":%d" % port)
        self.connect_timeout, self.read_timeout = connect_timeout, read_timeout
        self.max_idle, self.idle_expiry = max_idle, idle_expiry
        self.idle: list[_Connection] = []
        self.slots = Slots(max_connections)
        # requests whose body is still streaming from the caller (the proxy reads up to 64 KB first, so
        # these are large uploads): at most a quarter of the connections, so that callers sending slowly
        # can hold up other uploads but never the rest of the traffic
        self.uploads = Slots(max(1, max_connections // 4))
        self.open: set[_Connection] = set()

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        try:
            _, conn = await asyncio.wait_for(
                loop.create_connection(lambda: _Connection(self), self.host, self.port), self.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise ConnectFailed(f"{self.host}:{self.port}: {exc!r}") from None
        self.open.add(conn)
        return conn

    def _idle_connection(self) -> _Connection | None:
        now = time.monotonic()
        while self.idle:
            conn = self.idle.pop()
            if not conn.closed and now - conn.idle_since < self.idle_expiry:
                return conn
            conn.closed = True
            conn.transport.close()
            self.open.discard(conn)
        return None

    async def request(self, method: str, target: str, headers: list[tuple[bytes, bytes]],
                      body: AsyncIterator[bytes] | None = None, chunked: bool = False,
                      fresh: bool = False) -> Answer:
        """``target`` is the path and query as they go on the request line; ``headers`` exclude
        Host (set here) and any framing header but a Content-Length that ``body`` honours; with
        ``chunked`` the body is sent in chunked transfer coding. ``fresh``: not on a pooled connection."""
        m = method.encode("ascii")
        t = target.encode("latin-1") if isinstance(target, str) else target
        if not t.startswith(b"/") or _UNSAFE_TARGET.search(t):
            raise BadRequestLine(f"request target not sendable: {t[:80]!r}")
        lines = [b"%s %s HTTP/1.1\r\nhost: %s\r\n" % (m, t, self.host_header)]
        lines += [b"%s: %s\r\n" % (k, v) for k, v in headers]
        if chunked:
            lines.append(b"transfer-encoding: chunked\r\n")
        lines.append(b"\r\n")
        head = b"".join(lines)
        # one line per header and no stray CR, LF or NUL: a value can never start a header or a request of its own
        if head.count(b"\n") != len(lines) + 1 or head.count(b"\r") != len(lines) + 1 or b"\0" in head:
            raise BadRequestLine("a header holds CR, LF or NUL")
        streamed = body is not None and not isinstance(body, bytes)
        if streamed and not await self.uploads.acquire(self.connect_timeout):
            raise PoolFull(f"{self.host}:{self.port}: all {self.uploads.size} upload connections busy")
        if not await self.slots.acquire(self.connect_timeout):
            if streamed:
                self.uploads.release()
            raise PoolFull(f"{self.host}:{self.port}: all {self.slots.size} connections busy")
        conn = None
        try:
            conn = None if fresh else self._idle_connection()
            if conn is None:
                conn = await self._connect()
        except BaseException:
            self.slots.release()
            if streamed:
                self.uploads.release()
            raise
        conn.holds_slot = True
        conn.holds_upload = streamed
        try:
            return await conn.send(m, head, body, chunked)
        except BaseException:
            conn.finished()
            raise

    def release(self, conn: _Connection) -> None:
        """An idle connection, ready for the next request."""
        if len(self.idle) < self.max_idle:
            conn.idle_since = time.monotonic()
            self.idle.append(conn)
        else:
            conn.closed = True
            conn.transport.close()
            self.open.discard(conn)

    async def aclose(self) -> None:
        for conn in list(self.open):
            if conn.transport is not None:
                conn.transport.close()
        self.open.clear()
        self.idle.clear()
