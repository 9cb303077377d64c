"""Risk service app: 信用风险分类（A/B/C/D）、风险预警、问题企业工作台帐、风险分类抽取。"""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import ServiceSettings, settings_for

from . import batch, versions
from .api import router
from .consumers import all_consumers
from .models import kernel


def create_app(settings: ServiceSettings | None = None, batch_interval: float | None = 300.0, **kwargs) -> FastAPI:
    """``batch_interval``: seconds between checks for the monthly batch (None: no background batch)."""
    settings = settings or settings_for("risk")
    consumers = all_consumers()
    app = create_service_app(
        "risk",
        "Spotcheck 信用风险服务（风险分类、预警、问题企业工作台帐）",
        settings,
        kernel,
        routers=[router],
        consumers=consumers,
        on_startup=versions.ensure_initial,
        **kwargs,
    )
    ctx = app.state.ctx
    for c in consumers:
        c.ctx = ctx
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):
        async with inner(a):
            timer = batch.timer(ctx, batch_interval) if batch_interval else None
            if timer is not None:
                timer.start()
            try:
                yield
            finally:
                if timer is not None:
                    await timer.stop()

    app.router.lifespan_context = lifespan
    return app
