"""Disclosure service app (一公开): results within 20 working days, public API, pull feed, webhooks."""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import ServiceSettings

from .api import public_router, router
from .consumers import CaseClosedConsumer, RecordAmendedConsumer, RecordConsumer
from .models import kernel
from .public import RateLimiter
from .settings import DisclosureSettings, disclosure_settings
from .timers import DeadlineTimer
from .tx import queue_sqlite_writes
from .webhooks import Dispatcher


def create_app(settings: ServiceSettings | None = None, *, start_workers: bool = True, **kwargs) -> FastAPI:
    settings = settings or disclosure_settings()
    if not isinstance(settings, DisclosureSettings):  # plain settings_for("disclosure", ...) from a caller
        settings = disclosure_settings(**{k: getattr(settings, k) for k in type(settings).model_fields})
    consumers = [RecordConsumer(), RecordAmendedConsumer(), CaseClosedConsumer()]
    app = create_service_app(
        "disclosure",
        "Spotcheck 公示服务（检查结果公示、公开查询、拉取数据流、Webhook）",
        settings,
        kernel,
        routers=[router, public_router],
        consumers=consumers,
        **kwargs,
    )
    ctx = app.state.ctx
    for c in consumers:
        c.ctx = ctx
    queue_sqlite_writes(ctx.db)
    ctx.extras["rate_limiter"] = RateLimiter(settings.public_rate_per_minute, settings.public_burst)
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: FastAPI):
        async with inner(app_):
            dispatcher = Dispatcher(ctx)
            timer = DeadlineTimer(ctx)
            ctx.extras["dispatcher"], ctx.extras["deadline_timer"] = dispatcher, timer
            if start_workers:
                dispatcher.start()
                timer.start()
            try:
                yield
            finally:
                await timer.stop()
                await dispatcher.stop()
                ctx.extras.pop("dispatcher", None)

    app.router.lifespan_context = lifespan
    return app
