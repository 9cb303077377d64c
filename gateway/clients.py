"""Machine clients (other government systems, the credit-disclosure system): client id and an
argon2-hashed secret shown once. Managed by the province administration only."""
from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import PROVINCE_CODE, Principal, region_covers, region_level
from shared.db import utcnow
from shared.errors import Problem, field_error, not_found
from shared.pagination import PageParams, keyset, page_of
from shared.service import ServiceContext

from .models import MachineClient
from .passwords import generate_secret, hash_secret_async
from .schemas import ClientCreate

MACHINE_ROLES = ("gov_client", "credit_system")


def client_view(c: MachineClient) -> dict[str, Any]:
    return {
        "client_id": c.client_id,
        "name": c.name,
        "role": c.role,
        "region_code": c.region_code,
        "level": region_level(c.region_code),
        "active": c.active,
        "version": c.version,
        "created_at": c.created_at.isoformat(),
        "updated_at": c.updated_at.isoformat(),
    }


async def list_clients(session: AsyncSession, params: PageParams) -> dict:
    rows = list((await session.execute(keyset(select(MachineClient), [MachineClient.client_id], params))).scalars())
    page = page_of(rows, params, lambda c: [c.client_id])
    return {"items": [client_view(c) for c in page["rows"]], "next_cursor": page["next_cursor"], "limit": params.limit}


async def get_client(session: AsyncSession, client_id: str, for_update: bool = False) -> MachineClient:
    c = await session.get(MachineClient, client_id, with_for_update=for_update)
    if c is None:
        raise not_found("客户端", client_id)
    return c


async def insert_client(session: AsyncSession, body: ClientCreate, secret: str, created_by: str) -> MachineClient:
    if body.role not in MACHINE_ROLES:
        raise field_error("role", f"机器客户端角色应为 {' 或 '.join(MACHINE_ROLES)}")
    if not region_covers(PROVINCE_CODE, body.region_code):
        raise field_error("region_code", "行政区划代码不在本省范围内")
    from .users import username_taken  # users and clients share one namespace of token subjects

    if await username_taken(session, body.client_id):
        raise Problem(409, "client-id-taken", "客户端编号已存在", errors=[{"field": "client_id", "message": "客户端编号已被使用（用户名与客户端编号不能相同）"}])
    now = utcnow()
    c = MachineClient(client_id=body.client_id, secret_hash=await hash_secret_async(secret), name=body.name,
                      role=body.role, region_code=body.region_code, created_by=created_by, created_at=now, updated_at=now)
    session.add(c)
    await session.flush()
    return c


async def create_client(ctx: ServiceContext, session: AsyncSession, actor: Principal, body: ClientCreate, request_id: str | None) -> tuple[dict, str]:
    secret = generate_secret()
    c = await insert_client(session, body, secret, actor.sub)
    view = client_view(c)
    await ctx.audit(session, actor, "client.create", "client", c.client_id, after=view, request_id=request_id)
    await ctx.emit(session, "client", "created", view, subject_id=c.client_id, request_id=request_id, actor=actor.sub)
    return view, secret


async def set_active(ctx: ServiceContext, session: AsyncSession, actor: Principal, c: MachineClient, active: bool, request_id: str | None) -> dict:
    before = client_view(c)
    if c.active == active:
        return before
    c.active = active
    c.version += 1
    c.updated_at = utcnow()
    session.add(c)
    await session.flush()
    after = client_view(c)
    await ctx.audit(session, actor, f"client.{'activate' if active else 'deactivate'}", "client", c.client_id,
                    before=before, after=after, request_id=request_id)
    await ctx.emit(session, "client", "activated" if active else "deactivated", after, subject_id=c.client_id,
                   request_id=request_id, actor=actor.sub)
    return after


async def rotate_secret(ctx: ServiceContext, session: AsyncSession, actor: Principal, c: MachineClient, request_id: str | None) -> tuple[dict, str]:
    secret = generate_secret()
    c.secret_hash = await hash_secret_async(secret)
    c.version += 1
    c.updated_at = utcnow()
    session.add(c)
    await session.flush()
    view = client_view(c)
    await ctx.audit(session, actor, "client.rotate_secret", "client", c.client_id, after=view, request_id=request_id)
    await ctx.emit(session, "client", "secret_rotated", {"client_id": c.client_id}, subject_id=c.client_id,
                   request_id=request_id, actor=actor.sub)
    return view, secret
