"""Sampling service app: plans, frozen populations, seed ceremony, seeded draws, verification."""
from __future__ import annotations

from fastapi import FastAPI

from shared.service import create_service_app
from shared.settings import ServiceSettings, settings_for

from .api import public_router, router
from .models import kernel
from .population import PopulationSource, RegistryClient, RiskClassClient, RiskClassSource


def create_app(settings: ServiceSettings | None = None, population_source: PopulationSource | None = None,
               risk_classes: RiskClassSource | None = None, **kwargs) -> FastAPI:
    settings = settings or settings_for("sampling")
    app = create_service_app(
        "sampling",
        "Spotcheck 抽取服务（抽查计划、总体冻结、种子仪式、随机抽取与校验）",
        settings,
        kernel,
        routers=[router, public_router],
        **kwargs,
    )
    app.state.ctx.extras["population"] = population_source or RegistryClient()
    app.state.ctx.extras["risk_classes"] = risk_classes or RiskClassClient()
    return app
