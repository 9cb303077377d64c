"""Idempotency-Key for creates from other systems: the same key and body replay the first
answer; the same key with another body is refused. Stored in the same transaction as the effect."""
from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .canonical import digest
from .db import utcnow
from .errors import Problem
from .tables import KernelTables


def idempotency_key(request: Request) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > 200:
        raise Problem(400, "bad-idempotency-key", "Idempotency-Key 无效", errors=[{"field": "Idempotency-Key", "message": "长度应为 1-200"}])
    return key


async def lookup(session: AsyncSession, kernel: KernelTables, key: str | None, principal: str, scope: str, body: Any) -> tuple[int, Any] | None:
    if key is None:
        return None
    t = kernel.idempotency
    row = (await session.execute(select(t).where(t.c.key == key, t.c.principal == principal, t.c.scope == scope))).first()
    if row is None:
        return None
    if row.request_hash != digest(body):
        raise Problem(422, "idempotency-key-reused", "Idempotency-Key 已用于不同的请求", detail="同一 Idempotency-Key 只能用于相同的请求体")
    return row.status_code, json.loads(row.response)


async def remember(session: AsyncSession, kernel: KernelTables, key: str | None, principal: str, scope: str, body: Any, status: int, response: Any) -> None:
    if key is None:
        return
    await session.execute(
        kernel.idempotency.insert().values(
            key=key,
            principal=principal,
            scope=scope,
            request_hash=digest(body),
            status_code=status,
            response=json.dumps(response, ensure_ascii=False, default=str),
            created_at=utcnow(),
        )
    )


class Refusal(Exception):
    """Raised by domain code inside ``idempotent_write`` to commit what it recorded about a
    refusal (typically only its audit entry) and answer with ``problem``. Raise it only when
    nothing else has been written in the session."""

    def __init__(self, problem: Problem):
        self.problem = problem
        super().__init__(str(problem))


async def idempotent_write(ctx, request: Request, principal: str, scope: str, body: Any, run, *,
                           location=None, headers: dict[str, str] | None = None) -> JSONResponse:
    """Run ``run(session) -> (status, payload, version|None[, once])`` in ONE transaction together
    with the Idempotency-Key record: the same key and body replay the first answer (with
    ``Idempotent-Replayed: true``, ``ETag`` and ``Location`` as the first time), the same key with
    another body is a 422 problem. Without a key it is simply one transaction.

    ``location(payload) -> path`` (service path; the public prefix is added) sets ``Location``;
    ``once`` is a dict merged into the first answer only and never stored (a generated secret);
    ``headers`` are added to every answer (e.g. ``Cache-Control: no-store``)."""
    from fastapi.encoders import jsonable_encoder

    from .etag import set_etag

    key = idempotency_key(request)
    refusal: Problem | None = None
    once: dict | None = None
    prefix = getattr(request.app.state, "public_prefix", "")

    def finish(resp: JSONResponse, payload: Any, version: int | None) -> JSONResponse:
        if version is not None:
            set_etag(resp, version)
        if location is not None and isinstance(payload, dict):
            resp.headers["Location"] = prefix + location(payload)
        for k, v in (headers or {}).items():
            resp.headers[k] = v
        return resp

    async with ctx.db.transaction() as s:
        hit = await lookup(s, ctx.kernel, key, principal, scope, body)
        if hit is not None:
            status, payload = hit
            version = payload.get("version") if isinstance(payload, dict) and isinstance(payload.get("version"), int) else None
            return finish(JSONResponse(payload, status_code=status, headers={"Idempotent-Replayed": "true"}), payload, version)
        try:
            result = await run(s)
        except Refusal as r:
            refusal = r.problem
        else:
            status, payload, version = result[:3]
            once = result[3] if len(result) > 3 else None
            payload = jsonable_encoder(payload)
            await remember(s, ctx.kernel, key, principal, scope, body, status, payload)
    if refusal is not None:
        raise refusal
    shown = {**payload, **jsonable_encoder(once)} if once else payload
    return finish(JSONResponse(shown, status_code=status), payload, version)
