"""A small webhook receiver per Standard Webhooks v1, one for the demo and the tests.

The demo (``make run`` starts it next to the services) verifies every delivery (HMAC-SHA256 over
``id.timestamp.body`` with any of the secrets in ``var/webhook-receiver/secret``, timestamp within
±5 minutes), answers 204 (or 401 when the signature does not verify), and keeps what it got:

    curl -s http://127.0.0.1:8190/ | python3 -m json.tool     # the last deliveries, newest first
    tail -f var/webhook-receiver/received.jsonl               # one line per delivery

The tests run the same ``Receiver`` in their own event loop on a free port (``start``/``stop``),
verify with the ``standardwebhooks`` library (``verifier=``) and set its behaviour per test:
answer another status with headers (410, 429 + Retry-After, 503), or hold requests (slow).
"""
from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

DEFAULT_PORT = 8190
TOLERANCE = 300
MAX_BODY = 1_000_000


def receiver_dir() -> Path:
    d = Path(os.environ.get("SPOTCHECK_VAR_DIR", "var")).resolve() / "webhook-receiver"
    d.mkdir(parents=True, exist_ok=True)
    return d


def receiver_port() -> int:
    """``SPOTCHECK_WEBHOOK_RECEIVER_PORT``, else 8190 when free, else any free port."""
    env = os.environ.get("SPOTCHECK_WEBHOOK_RECEIVER_PORT")
    if env:
        return int(env)
    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1", DEFAULT_PORT)) != 0:
            return DEFAULT_PORT
    return _free_port()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def verify(secrets: list[str], headers: dict[str, str], body: bytes, now: float | None = None) -> str | None:
    """None when the delivery verifies, else why not."""
    msg_id, ts, sigs = headers.get("webhook-id"), headers.get("webhook-timestamp"), headers.get("webhook-signature")
    if not (msg_id and ts and sigs):
        return "缺少 webhook-id / webhook-timestamp / webhook-signature"
    try:
        if abs((now or time.time()) - int(ts)) > TOLERANCE:
            return "时间戳超出 ±5 分钟"
    except ValueError:
        return "时间戳无效"
    content = msg_id.encode() + b"." + ts.encode() + b"." + body
    given = [s.split(",", 1)[1] for s in sigs.split(" ") if s.startswith("v1,")]
    for secret in secrets:
        key = base64.b64decode(secret.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
        if any(hmac.compare_digest(expected, g) for g in given):
            return None
    return "签名不匹配"


class Receiver:
    """Verifies each POST (``verifier(secrets, headers, body) -> None | why not``) and records it:
    ``received`` (verified, with the status answered) and ``rejected`` (401). GET ``/health`` and
    GET anything else (the last deliveries, newest first)."""

    def __init__(self, secrets: list[str] | None = None, port: int | None = None, *, secrets_file: Path | None = None,
                 log_file: Path | None = None, keep: int | None = None, verifier: Callable[..., str | None] = verify):
        self.secrets = list(secrets or [])
        self.secrets_file = secrets_file  # read on every request (the demo writes it after subscribing)
        self.log_file = log_file
        self.keep = keep  # at most this many entries kept in memory (the demo runs for days)
        self.verifier = verifier
        self.port = port or _free_port()
        self.received: list[dict] = []
        self.rejected: list[dict] = []
        self.status = 204
        self.headers: dict[str, str] = {}
        self.hold: asyncio.Event | None = None  # when set to an unset event, requests wait on it
        self.held = 0
        self._server = None
        self._task: asyncio.Task | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def ids(self) -> set[str]:
        return {r["id"] for r in self.received if 200 <= r["answered"] < 300}

    def ok_count(self, msg_id: str) -> int:
        return sum(1 for r in self.received if r["id"] == msg_id and 200 <= r["answered"] < 300)

    def current_secrets(self) -> list[str]:
        if self.secrets_file is not None and self.secrets_file.exists():
            return [line.strip() for line in self.secrets_file.read_text().splitlines() if line.strip()]
        return self.secrets

    async def app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope["method"] == "GET":
            if scope["path"] == "/health":
                await _answer(send, 200, body={"status": "ok"})
            else:
                recent = [_summary(r) for r in reversed(self.received[-200:])]
                await _answer(send, 200, body={"received": len(recent), "deliveries": recent})
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if len(body) > MAX_BODY:
                await _answer(send, 413, body={"error": "too large"})
                return
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = self.verifier(self.current_secrets(), headers, body)
        if problem is not None:
            self.rejected.append({"headers": headers, "error": problem, "at": time.perf_counter()})
            self._trim(self.rejected)
            self._log({"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "webhook_id": headers.get("webhook-id"), "verified": False,
                       "problem": problem})
            await _answer(send, 401, body={"error": problem})
            return
        if self.hold is not None and not self.hold.is_set():
            self.held += 1
            await self.hold.wait()
        status = self.status
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {"unparsed": body[:200].decode("utf-8", "replace")}
        entry = {"id": headers["webhook-id"], "timestamp": headers["webhook-timestamp"],
                 "signatures": headers["webhook-signature"].split(" "), "body": payload, "raw": body, "headers": headers,
                 "answered": status, "at": time.perf_counter(), "received_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
        self.received.append(entry)
        self._trim(self.received)
        self._log(_summary(entry))
        await _answer(send, status, self.headers)

    def _trim(self, entries: list) -> None:
        if self.keep is not None and len(entries) > self.keep:
            del entries[: len(entries) - self.keep]

    def _log(self, line: dict) -> None:
        if self.log_file is not None:
            with self.log_file.open("a", encoding="utf-8") as f:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")

    async def start(self) -> Receiver:
        """Serve on 127.0.0.1:``port`` in the running event loop (tests)."""
        import uvicorn

        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on", interface="asgi3")
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve())
        for _ in range(200):
            if self._server.started:
                return self
            await asyncio.sleep(0.02)
        raise RuntimeError("receiver did not start")

    async def stop(self) -> None:
        if self._server is not None:
            if self.hold is not None:
                self.hold.set()
            self._server.should_exit = True
            await self._task
            self._server = None


def _summary(entry: dict) -> dict:
    body = entry.get("body") or {}
    return {"at": entry.get("received_at"), "webhook_id": entry["id"], "verified": True, "answered": entry["answered"],
            "signatures": len(entry["signatures"]), "type": body.get("type"), "data": body.get("data")}


async def _answer(send, status: int, headers: dict | None = None, body: dict | None = None) -> None:
    data = b"" if body is None or status == 204 else json.dumps(body, ensure_ascii=False, indent=1).encode()
    hs = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    if data:
        hs.append((b"content-type", b"application/json; charset=utf-8"))
    await send({"type": "http.response.start", "status": status, "headers": hs})
    await send({"type": "http.response.body", "body": data})


def create_app():
    """The demo's ASGI app (``uvicorn --factory services.disclosure.receiver:create_app``)."""
    directory = receiver_dir()
    receiver = Receiver(secrets_file=directory / "secret", log_file=directory / "received.jsonl", keep=200)

    async def app(scope, receive, send):  # a plain coroutine function: uvicorn takes a bound method for ASGI 2
        await receiver.app(scope, receive, send)

    return app
