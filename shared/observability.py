"""Request ids (gateway -> service -> event) and structured JSON logs."""
from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid

from starlette.types import ASGIApp, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
_VALID_RID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = request_id_var.get()
        if rid:
            doc["request_id"] = rid
        for key in ("service", "method", "path", "status", "duration_ms"):
            if hasattr(record, key):
                doc[key] = getattr(record, key)
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


def setup_logging(level: str = "INFO") -> None:
    root = logging.getLogger()
    if any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
    # httpx logs every request at INFO: at the gateway that is a second line per proxied request
    # (the access line above already has it) — measurable on the hop; warnings still show
    logging.getLogger("httpx").setLevel(logging.WARNING)


UPLOAD_SUFFIXES = ("/upload", "/evidence")


def is_streamed_upload(method: str, path: str) -> bool:
    """A file upload (``POST …/upload`` raw bytes, ``POST …/evidence`` multipart): any declared type,
    checked by the endpoint itself from its bytes, under ``max_upload`` instead of ``max_body`` (the
    gateway applies the same rule, so evidence larger than the JSON limit passes it)."""
    return method in ("POST", "PUT") and path.endswith(UPLOAD_SUFFIXES)


class RequestContextMiddleware:
    """Takes X-Request-ID from the caller (or makes one), echoes it, logs one line per request,
    and refuses bodies over ``max_body`` bytes (``max_upload`` for streamed uploads) with a 413 problem."""

    def __init__(self, app: ASGIApp, service: str, max_body: int = 2_000_000, on_mutation=None, max_upload: int | None = None):
        self.app, self.service, self.max_body, self.on_mutation = app, service, max_body, on_mutation
        self.max_upload = max_upload or max_body
        self.log = logging.getLogger(f"spotcheck.{service}.access")

    def _instance(self, scope: Scope) -> str:
        prefix = "" if self.service == "gateway" else f"/api/v1/{self.service}"
        return prefix + scope.get("path", "")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")
        if not _VALID_RID.match(rid or ""):
            rid = uuid.uuid4().hex
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        start = time.perf_counter()
        status = {"code": 500}

        upload = is_streamed_upload(scope["method"], scope["path"])
        max_body = self.max_upload if upload else self.max_body
        length = headers.get(b"content-length")
        if length is not None and length.isdigit() and int(length) > max_body:
            await _send_problem(send, 413, "payload-too-large", "请求体过大", f"请求体不得超过 {max_body} 字节", rid, instance=self._instance(scope))
            request_id_var.reset(token)
            return

        if not upload and scope["method"] in ("POST", "PUT", "PATCH") and (length not in (None, b"0") or b"transfer-encoding" in headers):
            ctype = headers.get(b"content-type", b"").decode("latin-1").split(";")[0].strip().lower()
            if ctype and not _allowed_content_type(ctype):
                await _send_problem(
                    send, 415, "unsupported-media-type", "不支持的内容类型",
                    f"Content-Type {ctype} 不受支持，请使用 application/json", rid,
                    errors=[{"field": "Content-Type", "message": "应为 application/json（导入接口可用 multipart/form-data）"}],
                    instance=self._instance(scope),
                )
                request_id_var.reset(token)
                return

        received = 0

        async def limited_receive():
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > max_body:
                    raise _TooLarge()
            return message

        async def send_wrapper(message):
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                status["started"] = True
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [(b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, limited_receive, send_wrapper)
            if not status.get("started"):
                status["code"] = 499  # no answer and no error: the caller left first (nginx's "client closed request")
        except _TooLarge:
            if status.get("started"):
                raise  # the answer is already on its way; the connection is cut instead
            status["code"] = 413
            await _send_problem(send, 413, "payload-too-large", "请求体过大", f"请求体不得超过 {max_body} 字节", rid, instance=self._instance(scope))
        finally:
            request_id_var.reset(token)
            if scope["method"] in ("POST", "PUT", "PATCH", "DELETE") and self.on_mutation:
                self.on_mutation()
            self.log.info(
                "%s %s %s",
                scope["method"],
                scope["path"],
                status["code"],
                extra={
                    "service": self.service,
                    "method": scope["method"],
                    "path": scope["path"],
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - start) * 1000, 1),
                },
            )


class _TooLarge(Exception):
    pass


ALLOWED_CONTENT_TYPES = {"application/json", "multipart/form-data", "application/x-www-form-urlencoded", "text/csv"}


def _allowed_content_type(ctype: str) -> bool:
    return ctype in ALLOWED_CONTENT_TYPES or ctype.endswith("+json")


async def _send_problem(send: Send, status: int, slug: str, title: str, detail: str, rid: str, errors: list | None = None, instance: str | None = None) -> None:
    doc = {"type": f"urn:spotcheck:problem:{slug}", "title": title, "status": status, "detail": detail, "request_id": rid}
    if instance:
        doc["instance"] = instance
    if errors:
        doc["errors"] = errors
    body = json.dumps(doc, ensure_ascii=False).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()), (b"x-request-id", rid.encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
