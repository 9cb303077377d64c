"""Gateway app: identity (tokens, JWKS, users, machine clients), routing to the services and the
merged OpenAPI, on the common service frame (health, audit, request ids, problem+json, outbox)."""
from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.middleware import Middleware

from shared.auth import TokenVerifier
from shared.keys import load_or_create
from shared.leader import LeaderTimer
from shared.service import ServiceContext, create_service_app
from shared.settings import var_dir

from . import api, proxy, web
from .demo import demo_secrets_in_use, seed_demo
from .identity import TokenContext
from .models import kernel
from .openapi import MergedOpenAPI
from .settings import GatewaySettings, gateway_settings
from .throttle import LoginThrottle
from .tokens import Signer

log = logging.getLogger("spotcheck.gateway")


def _private_key(settings: GatewaySettings, private_pem: bytes | None) -> bytes:
    if private_pem is not None:
        return private_pem
    if settings.private_key_file:
        return Path(settings.private_key_file).read_bytes()
    if settings.production:
        raise RuntimeError("生产模式必须配置 SPOTCHECK_GATEWAY_PRIVATE_KEY_FILE")
    pem, _ = load_or_create(var_dir() / "keys")  # demo: also writes var/keys/jwks.json for the services
    return pem


def create_app(
    settings: GatewaySettings | None = None,
    *,
    private_pem: bytes | None = None,
    transports: dict[str, httpx.AsyncBaseTransport] | None = None,
    seed: bool | None = None,
    **kwargs,
) -> FastAPI:
    """``private_pem`` and ``transports`` (service name → transport, e.g. httpx.ASGITransport)
    are for tests; ``seed`` defaults to seeding the demo accounts in demo mode."""
    settings = settings or gateway_settings()
    if not isinstance(settings, GatewaySettings):
        raise TypeError("gateway settings must be GatewaySettings (use gateway.settings.gateway_settings)")
    signer = Signer(_private_key(settings, private_pem), settings.jwt_issuer, settings.jwt_audience, settings.access_ttl_seconds)
    verifier = kwargs.pop("verifier", None) or TokenVerifier(settings.jwt_issuer, settings.jwt_audience, jwks=signer.jwks())
    do_seed = (not settings.production) if seed is None else seed
    if do_seed and settings.production:
        raise RuntimeError("生产模式不加载演示账号")

    async def on_startup(ctx: ServiceContext) -> None:
        if do_seed:
            created = await seed_demo(ctx.db)
            if created:
                log.info("demo accounts created: %s", ", ".join(created))
        if settings.production:
            leftover = await demo_secrets_in_use(ctx.db)
            if leftover:
                raise RuntimeError(f"生产模式下以下账号仍使用演示口令，拒绝启动：{', '.join(leftover)}")

    app = create_service_app(
        "gateway",
        "Spotcheck API 网关（双随机、一公开）",
        settings,
        kernel,
        routers=[api.auth_router, web.web_router, api.users_router, api.clients_router, proxy.router],
        verifier=verifier,
        on_startup=on_startup,
        description="统一认证（OAuth2 令牌、JWKS）、用户与客户端管理、各服务路由 `/api/v1/<服务>/...`。",
        **kwargs,
    )
    app.state.tokens = TokenContext(
        ctx=app.state.ctx,
        signer=signer,
        throttle=LoginThrottle(app.state.ctx.db, settings.login_attempts_per_user, settings.login_attempts_per_ip,
                               settings.login_window_seconds),
        refresh_ttl=settings.refresh_ttl_seconds,
    )
    app.state.trusted_proxies = settings.trusted_proxies
    app.state.upstreams = proxy.Upstreams(settings.upstream_connect_timeout, settings.upstream_read_timeout, transports,
                                          max_connections=settings.upstream_max_connections)
    app.user_middleware.append(Middleware(proxy.ProxyFastPath))  # innermost: after request ids, limits, the access log

    # the merged document replaces FastAPI's own /openapi.json (Swagger UI at /docs reads it)
    app.router.routes[:] = [r for r in app.router.routes if getattr(r, "path", None) != app.openapi_url]
    merged = MergedOpenAPI(app, settings.openapi_cache_seconds, settings.openapi_fetch_timeout)
    app.state.merged_openapi = merged

    @app.get(app.openapi_url, include_in_schema=False)
    async def openapi_json():
        return JSONResponse(await merged.get())

    # expired throttle rows go, once per cluster (the gateway replica leading this timer)
    purge = LeaderTimer(app.state.ctx.db, "gateway.login-throttle-purge", app.state.tokens.throttle.purge,
                        max(60.0, settings.login_window_seconds), first_delay=60.0)
    app.state.throttle_purge = purge
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):
        async with inner(a):
            purge.start()
            try:
                yield
            finally:
                await purge.stop()
                await a.state.upstreams.aclose()

    app.router.lifespan_context = lifespan
    if settings.serve_web:
        web.mount_spa(app, Path(settings.web_dist) if settings.web_dist else None)  # last: the API routes win
    return app
