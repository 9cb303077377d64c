"""Rectification service app: 整改案件、整改期限、复查、处理决定（撤销/吊销/注销/立案/移送/抄告）。"""
from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from shared.evidence import EvidenceSettings, attach, store_from_settings
from shared.service import create_service_app
from shared.settings import ServiceSettings, settings_for, var_dir

from .api import router
from .consumers import ProblemSummaryConsumer
from .models import kernel
from .sweep import Sweeper


class RectificationSettings(EvidenceSettings):
    # evidence (multipart POST …/evidence) is an upload path: it alone may carry up to 20 MB; JSON keeps the 2 MB default
    max_upload_bytes: int = 20_000_000
    evidence_dir: str | None = None  # older name of evidence_url for a directory
    evidence_max_bytes: int = 15_000_000
    sweep_interval_seconds: float = 60.0


def rectification_settings(**overrides) -> RectificationSettings:
    return settings_for("rectification", base=RectificationSettings, **overrides)


def create_app(settings: ServiceSettings | None = None, *, clock=None, calendar=None, **kwargs) -> FastAPI:
    """``clock`` (a callable returning an aware datetime) and ``calendar`` (a WorkCalendar) are
    injectable for tests and the demo; otherwise the wall clock and the shared calendar."""
    if settings is None:
        settings = rectification_settings()
    elif not isinstance(settings, RectificationSettings):
        settings = rectification_settings(**settings.model_dump(exclude_unset=True))
    consumer = ProblemSummaryConsumer()
    app = create_service_app(
        "rectification",
        "Spotcheck 整改服务（整改案件、期限、复查、处理决定）",
        settings,
        kernel,
        routers=[router],
        consumers=[consumer],
        **kwargs,
    )
    ctx = app.state.ctx
    consumer.ctx = ctx
    if clock is not None:
        ctx.extras["clock"] = clock
    if calendar is not None:
        ctx.extras["calendar"] = calendar
    store = store_from_settings(settings, var_dir() / "evidence" / "rectification", url=settings.evidence_dir or settings.evidence_url,
                                max_bytes=settings.evidence_max_bytes)
    ctx.extras["evidence"] = attach(app, store)
    sweeper = Sweeper(ctx, settings.sweep_interval_seconds)
    ctx.extras["sweeper"] = sweeper
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: FastAPI):
        async with inner(a) as state:
            sweeper.start()  # runs at once on start: whatever fell due while the service was down is caught up
            try:
                yield state
            finally:
                await sweeper.stop()

    app.router.lifespan_context = lifespan
    return app
