"""Inspection service app: 现场检查记录（一企一表）、证据、签字、问题汇总表、钢铁/水泥生产状况登记表、检查组报告。"""
from __future__ import annotations

from fastapi import FastAPI
from pydantic import Field

from shared.evidence import EvidenceSettings, attach
from shared.service import ServiceContext, create_service_app
from shared.settings import ServiceSettings, settings_for, var_dir

from . import api
from .consumers import CONSUMERS
from .models import kernel
from .storage import make_store


class InspectionSettings(EvidenceSettings):
    storage_url: str | None = Field(None, description="证据存储（evidence_url 的旧名）：目录、file:///目录（缺省 var/evidence）或 s3://桶/前缀")
    rectification_period_value: int = Field(30, ge=1, le=365, description="问题汇总表整改期限的缺省值（计划设置）")
    rectification_period_unit: str = Field("days", pattern="^(days|working_days)$")


def inspection_settings(**overrides) -> InspectionSettings:
    return settings_for("inspection", InspectionSettings, **overrides)  # type: ignore[return-value]


def create_app(settings: ServiceSettings | None = None, **kwargs) -> FastAPI:
    settings = settings or inspection_settings()
    store = make_store(settings, var_dir() / "evidence")
    app = create_service_app(
        "inspection",
        "Spotcheck 检查服务（一企一表、证据、签字、问题汇总表、附件3/4）",
        settings,
        kernel,
        routers=[api.router],
        consumers=[c() for c in CONSUMERS],
        description="检查组到场开启记录，逐项填写附件2检查结论，上传证据，签字封存，生成并现场移交问题汇总表（附件1）。",
        **kwargs,
    )
    ctx: ServiceContext = app.state.ctx
    ctx.extras["store"] = attach(app, store)
    ctx.extras["default_period"] = {"value": getattr(settings, "rectification_period_value", 30),
                                    "unit": getattr(settings, "rectification_period_unit", "days")}
    return app
