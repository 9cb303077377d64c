"""A real local HTTP webhook receiver for the tests (uvicorn on a free port, in the test's loop):
it verifies every request with the ``standardwebhooks`` library and records what it got. Its
behaviour is set per test: answer 2xx, 410, 429 with Retry-After, or hold requests (slow)."""
from __future__ import annotations

import asyncio
import json
import time

import uvicorn
from standardwebhooks import Webhook

from shared.natsproc import free_port


class Receiver:
    def __init__(self, secrets: list[str] | None = None, port: int | None = None):
        self.secrets = list(secrets or [])
        self.port = port or free_port()
        self.received: list[dict] = []  # verified requests, in arrival order
        self.rejected: list[dict] = []  # requests whose signature did not verify
        self.status = 204
        self.headers: dict[str, str] = {}
        self.hold: asyncio.Event | None = None  # when set to an unset event, requests wait on it
        self.held = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def ids(self) -> set[str]:
        return {r["id"] for r in self.received if 200 <= r["answered"] < 300}

    def ok_count(self, msg_id: str) -> int:
        return sum(1 for r in self.received if r["id"] == msg_id and 200 <= r["answered"] < 300)

    async def app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        verified, error = None, None
        for secret in self.secrets:
            try:
                verified = Webhook(secret).verify(body, headers)
                break
            except Exception as exc:  # noqa: BLE001
                error = repr(exc)
        if verified is None:
            self.rejected.append({"headers": headers, "error": error})
            await self._answer(send, 400)
            return
        if self.hold is not None and not self.hold.is_set():
            self.held += 1
            await self.hold.wait()
        status = self.status
        self.received.append({"id": headers["webhook-id"], "timestamp": headers["webhook-timestamp"],
                              "signatures": headers["webhook-signature"].split(" "), "body": json.loads(body),
                              "raw": body, "headers": headers,
                              "answered": status, "at": time.perf_counter()})
        await self._answer(send, status, self.headers)

    async def _answer(self, send, status: int, headers: dict | None = None):
        hs = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
        await send({"type": "http.response.start", "status": status, "headers": hs})
        await send({"type": "http.response.body", "body": b""})

    async def start(self):
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(200):
            if self._server.started:
                return self
            await asyncio.sleep(0.02)
        raise RuntimeError("receiver did not start")

    async def stop(self):
        if self._server is not None:
            if self.hold is not None:
                self.hold.set()
            self._server.should_exit = True
            await self._task
            self._server = None
