"""Idempotency-Key for creates from other systems: the same key and body replay the first
answer; the same key with another body is refused. Stored in the same transaction as the effect."""
from __future__ import annotations

import json
from typing import Any

from fastapi import Request
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
