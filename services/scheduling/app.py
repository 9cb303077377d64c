"""Scheduling service app: 检查组组建、任务派发与接收、检查日程。"""
from __future__ import annotations

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import ServiceSettings, settings_for

from .api import router
from .consumers import DrawAbandonedConsumer, DrawCommittedConsumer, ReplacementRecordedConsumer
from .models import kernel


def create_app(settings: ServiceSettings | None = None, **kwargs) -> FastAPI:
    settings = settings or settings_for("scheduling")
    replacements, abandoned = ReplacementRecordedConsumer(), DrawAbandonedConsumer()
    app = create_service_app(
        "scheduling",
        "Spotcheck 调度服务（检查组、任务派发与接收、检查日程）",
        settings,
        kernel,
        routers=[router],
        consumers=[DrawCommittedConsumer(), replacements, abandoned],
        **kwargs,
    )
    replacements.ctx = abandoned.ctx = app.state.ctx
    return app
