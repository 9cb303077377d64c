"""A small local webhook receiver for the demo (``make run`` starts it next to the services): it
verifies every delivery per Standard Webhooks v1 (HMAC-SHA256 over ``id.timestamp.body`` with
any of the secrets in ``var/webhook-receiver/secret``, timestamp within ±5 minutes), answers 204
(or 401 when the signature does not verify), and keeps what it got:

    curl -s http://127.0.0.1:8190/ | python3 -m json.tool     # the last deliveries, newest first
    tail -f var/webhook-receiver/received.jsonl               # one line per delivery
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import socket
import time
from collections import deque
from pathlib import Path

DEFAULT_PORT = 8190
TOLERANCE = 300


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


def create_app():
    """ASGI app (``uvicorn --factory services.disclosure.receiver:create_app``)."""
    directory = receiver_dir()
    recent: deque = deque(maxlen=200)
    log_file = directory / "received.jsonl"

    def secrets() -> list[str]:
        f = directory / "secret"
        return [line.strip() for line in f.read_text().splitlines() if line.strip()] if f.exists() else []

    async def send_json(send, status: int, data) -> None:
        body = b"" if status == 204 else json.dumps(data, ensure_ascii=False, indent=1).encode()
        await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json; charset=utf-8")]})
        await send({"type": "http.response.body", "body": body})

    async def app(scope, receive, send):
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
                await send_json(send, 200, {"status": "ok"})
            else:
                await send_json(send, 200, {"received": len(recent), "deliveries": list(reversed(recent))})
            return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if len(body) > 1_000_000:
                await send_json(send, 413, {"error": "too large"})
                return
            if not msg.get("more_body"):
                break
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        problem = verify(secrets(), headers, body)
        entry = {"at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "webhook_id": headers.get("webhook-id"), "verified": problem is None,
                 "problem": problem, "signatures": len((headers.get("webhook-signature") or "").split())}
        try:
            payload = json.loads(body)
            entry.update(type=payload.get("type"), data=payload.get("data"))
        except ValueError:
            entry["body"] = body[:200].decode("utf-8", "replace")
        recent.append(entry)
        with log_file.open("a", encoding="utf-8") as f:
            f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        await send_json(send, 204 if problem is None else 401, {} if problem is None else {"error": problem})

    return app
