"""Registry service app."""
from __future__ import annotations

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import ServiceSettings, settings_for

from .api import router
from .consumers import OutcomeDecidedConsumer
from .models import kernel


def create_app(settings: ServiceSettings | None = None, **kwargs) -> FastAPI:
    settings = settings or settings_for("registry")
    return create_service_app(
        "registry",
        "Spotcheck 名录库服务（检查对象名录库、执法检查人员名录库）",
        settings,
        kernel,
        routers=[router],
        consumers=[OutcomeDecidedConsumer(settings.events_prefix)],
        **kwargs,
    )
