"""Issue 7 point 12: a 500 must not poison the keep-alive connection. Real uvicorn servers (a
service, and the gateway in front of it) on free ports; one raw connection sends a request that
fails with 500 and then an ordinary request, which must be answered on the same connection."""
from __future__ import annotations

import asyncio
import socket

import uvicorn

from tests.gateway.fake_service import fake_service


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def serve(app, port):
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.05)
    return server, task


async def two_requests_one_connection(port: int, first: str, second: str) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    try:
        for path in (first, second):
            writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n".encode())
            await writer.drain()
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
            length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
            await reader.readexactly(length)
            answers.append(head.split(b"\r\n")[0])
    finally:
        writer.close()
    return answers[0], answers[1]


async def test_a_500_keeps_the_connection_usable(databases, keys):
    service = fake_service("registry", keys.jwks, await databases.create("fake"))

    async def boom():
        raise RuntimeError("a bug")

    service.router.add_api_route("/boom", boom, methods=["GET"])
    port = free_port()
    server, task = await serve(service, port)
    try:
        first, second = await two_requests_one_connection(port, "/boom", "/health")
        assert first.endswith(b"500 Internal Server Error") and second.endswith(b"200 OK")
    finally:
        server.should_exit = True
        await task
