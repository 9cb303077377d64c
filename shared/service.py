"""The frame every service app is built on: db, token verifier, outbox relay, consumers,
problem+json errors, request ids, and the operations endpoints (health, audit, parked events)."""
from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from . import audit
from .auth import Principal, PrincipalDep, TokenVerifier, region_level, require_roles
from .contract import (
    AuditListOut, AuditVerifyOut, ParkedListOut, ReadyOut, ReplayOut, StatusOut, docs_router, install_openapi, op,
    public_prefix,
)
from .db import Database
from .errors import install_error_handlers
from .events.bus import EventBus
from .events.consumer import Consumer, ConsumerRunner, replay_parked
from .errors import Problem, UnhandledErrorMiddleware
from .events.outbox import OutboxRelay, emit
from .observability import RequestContextMiddleware, request_id_var, setup_logging
from .pagination import INT32_MAX
from .revocation import RevocationWatcher
from .settings import ServiceSettings
from .tables import KernelTables


@dataclass
class ServiceContext:
    name: str
    settings: ServiceSettings
    kernel: KernelTables
    db: Database
    bus: EventBus
    relay: OutboxRelay
    runner: ConsumerRunner
    verifier: TokenVerifier
    extras: dict[str, Any] = field(default_factory=dict)

    async def emit(self, session: AsyncSession, entity: str, verb: str, data: dict, *, subject_id: str | None = None, request_id: str | None = None, actor: str | None = None) -> dict:
        return await emit(
            session, self.kernel, self.name, entity, verb, data,
            prefix=self.settings.events_prefix, subject_id=subject_id,
            request_id=request_id or request_id_var.get(), actor=actor,
        )

    async def audit(self, session: AsyncSession, principal: Principal | str, action: str, entity_type: str, entity_id: str, *, before: Any = None, after: Any = None, detail: dict | None = None, request_id: str | None = None) -> dict:
        actor = principal if isinstance(principal, str) else principal.sub
        return await audit.append(
            session, self.kernel, actor=actor, action=action, entity_type=entity_type, entity_id=entity_id,
            before=before, after=after, detail=detail, request_id=request_id or request_id_var.get(),
        )


def get_ctx(request: Request) -> ServiceContext:
    return request.app.state.ctx


CtxDep = Annotated[ServiceContext, Depends(get_ctx)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.ctx.db.session() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


def request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


def audit_reader(principal: PrincipalDep) -> Principal:
    """The audit trail holds every region's changes and its entries carry no region: it is read
    at province level only (省局管理员, 省级驻局纪检监察组); a city or county discipline account
    reads its region's data through the services' scoped lists instead."""
    if not principal.has("discipline", "province_admin"):
        raise Problem(403, "forbidden", "无权执行此操作", detail="需要角色：驻局纪检监察组、省局管理员")
    if region_level(principal.region) != "province":
        raise Problem(403, "out-of-jurisdiction", "超出管辖范围", detail="审计日志覆盖全省，仅限省级账号查阅")
    return principal


def ops_router(ctx_getter=get_ctx) -> APIRouter:
    router = APIRouter(tags=["运维与审计"])

    @router.get("/health", summary="存活检查", **op(StatusOut))
    async def health():
        return {"status": "ok"}

    @router.get("/ready", summary="就绪检查（数据库、NATS、待发事件）", **op(ReadyOut))
    async def ready(ctx: CtxDep):
        async with ctx.db.session() as s:
            await s.execute(text("SELECT 1"))
        out = {"status": "ok", "nats_connected": ctx.bus.connected, "outbox_pending": await ctx.relay.pending()}
        if "evidence_store" in ctx.extras:  # reported, never failing the probe: the rest of the service works without it
            out["evidence_store"] = await ctx.extras["evidence_store"].readiness()
        return out

    @router.get("/audit", summary="审计日志（哈希链）", **op(AuditListOut), dependencies=[Depends(audit_reader)])
    async def audit_list(
        ctx: CtxDep,
        after: Annotated[int, Query(ge=0, le=INT32_MAX)] = 0,  # seq is an INTEGER column
        limit: Annotated[int, Query(ge=1, le=500)] = 100,
        entity_id: Annotated[str | None, Query(max_length=200)] = None,
    ):
        async with ctx.db.session() as s:
            items = await audit.list_entries(s, ctx.kernel, after=after, limit=limit, entity_id=entity_id)
        return {"items": items, "next_after": items[-1]["seq"] if len(items) == limit else None}

    @router.get("/audit/verify", summary="校验审计哈希链", **op(AuditVerifyOut), dependencies=[Depends(audit_reader)])
    async def audit_verify(ctx: CtxDep):
        async with ctx.db.session() as s:
            return (await audit.verify(s, ctx.kernel)).as_dict()

    @router.get("/admin/parked", summary="滞留（处理失败）的事件", **op(ParkedListOut), dependencies=[require_roles("province_admin")])
    async def parked(ctx: CtxDep, limit: Annotated[int, Query(ge=1, le=500)] = 100):
        t = ctx.kernel.parked
        async with ctx.db.session() as s:
            rows = (await s.execute(select(t).order_by(t.c.id.desc()).limit(limit))).all()
            total = (await s.execute(select(func.count()).select_from(t).where(t.c.replayed_at.is_(None)))).scalar_one()
        return {"open": total, "items": [dict(r._mapping) for r in rows]}

    @router.post("/admin/parked/{parked_id}/replay", summary="重放滞留事件", **op(ReplayOut), dependencies=[require_roles("province_admin")])
    async def replay(parked_id: Annotated[int, Path(ge=1, le=INT32_MAX)], ctx: CtxDep):
        return await replay_parked(ctx.db, ctx.kernel, ctx.runner.consumers, parked_id)

    return router


def create_service_app(
    name: str,
    title: str,
    settings: ServiceSettings,
    kernel: KernelTables,
    routers: list[APIRouter],
    consumers: list[Consumer] | None = None,
    verifier: TokenVerifier | None = None,
    on_startup: Callable[[ServiceContext], Awaitable[None]] | None = None,
    description: str = "",
    start_background: bool = True,
) -> FastAPI:
    setup_logging(settings.log_level)
    db = Database(settings.resolved_database_url())
    bus = EventBus(settings.nats_url, settings.events_prefix, max_age=settings.events_max_age_seconds)
    relay = OutboxRelay(db, kernel, bus, interval=settings.relay_interval_seconds)
    runner = ConsumerRunner(db, kernel, bus, consumers or [])
    verifier = verifier or TokenVerifier(
        settings.jwt_issuer, settings.jwt_audience, jwks_file=settings.resolved_jwks_file(), jwks_url=settings.jwks_url
    )
    ctx = ServiceContext(name, settings, kernel, db, bus, relay, runner, verifier)
    watcher = RevocationWatcher(bus, verifier.revocations)
    ctx.extras["revocation_watcher"] = watcher

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        if on_startup:
            await on_startup(ctx)
        if start_background:
            relay.start()
            runner.start()
            watcher.start()
        try:
            yield
        finally:
            await watcher.stop()
            await runner.stop()
            await relay.stop()
            await bus.close()
            await db.dispose()

    app = FastAPI(title=title, description=description, lifespan=lifespan, version="0.1.0", docs_url=None, redoc_url=None)
    app.state.ctx = ctx
    app.state.public_prefix = public_prefix(name)
    app.state.verifier = verifier
    install_error_handlers(app)
    app.add_middleware(UnhandledErrorMiddleware)  # inside the request context: a 500 keeps the connection
    app.add_middleware(RequestContextMiddleware, service=name, max_body=settings.max_body_bytes, on_mutation=relay.wake,
                       max_upload=settings.max_upload_bytes)
    app.include_router(ops_router())
    for r in routers:
        app.include_router(r)
    app.include_router(docs_router(title))
    install_openapi(app)
    return app


__all__ = ["ServiceContext", "CtxDep", "SessionDep", "PrincipalDep", "create_service_app", "request_id", "get_ctx"]
