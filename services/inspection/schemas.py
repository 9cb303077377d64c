"""Request bodies (unknown fields refused, sizes bounded)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import AwareDatetime, Field

from shared.schemas import StrictModel

Conclusion = Literal["conforming", "nonconforming", "not_applicable"]
Sha = str


class Gps(StrictModel):
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    accuracy_m: float | None = Field(default=None, ge=0, le=100_000)


class Arrival(StrictModel):
    arrived_at: AwareDatetime = Field(description="到场时间（带时区）")
    present: list[str] = Field(min_length=1, max_length=12, description="到场的检查组成员（名录编号）")
    production_status: Literal["producing", "stopped", "stopped_env"] = Field(description="现场生产状态：正常生产 / 停产 / 环保要求正常停产")
    gps: Gps | None = None


class ItemUpdate(StrictModel):
    conclusion: Conclusion
    text: str | None = Field(default=None, max_length=4000, description="检查记录（不符合时必填）")
    fixed_on_site: bool = Field(default=False, description="当场整改（备注(3)）")
    fix_note: str | None = Field(default=None, max_length=2000)


class SignBody(StrictModel):
    image_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="手写签名图像（先上传，purpose=signature）")


class EnterpriseConfirmation(StrictModel):
    name: str = Field(min_length=1, max_length=100, description="企业负责人或相关负责人员姓名")
    role: str = Field(min_length=1, max_length=100, description="职务")
    refused: bool = Field(default=False, description="拒绝签字")
    refusal_note: str | None = Field(default=None, max_length=2000, description="拒绝签字的予以注明")
    image_sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$", description="手写签名图像或签字盖章扫描件")
    phone: str | None = Field(default=None, max_length=30)

    def model_post_init(self, _ctx) -> None:
        from shared.errors import Problem

        if self.refused and not (self.refusal_note and self.refusal_note.strip()):
            raise Problem(422, "validation", detail="refusal_note: 拒绝签字的须注明情况", errors=[{"field": "refusal_note", "message": "拒绝签字的须注明情况"}])
        if not self.refused and not self.image_sha256:
            raise Problem(422, "validation", detail="image_sha256: 须附签名图像或签字扫描件（或注明拒绝签字）",
                          errors=[{"field": "image_sha256", "message": "须附签名图像或签字扫描件，或注明拒绝签字"}])


class Outcome(StrictModel):
    categories: list[str] = Field(min_length=1, max_length=5)
    follow_up: str = Field(min_length=1, max_length=40)


class SubmitBody(StrictModel):
    outcome: Outcome | None = Field(default=None, description="公示结果（缺省按检查结论得出）")
    note: str | None = Field(default=None, max_length=2000)


class NotInspectedBody(StrictModel):
    reason: str = Field(min_length=1, max_length=40, description="stopped 停产 / changed_production 转产 / closed / unreachable / refused / other")
    detail: str = Field(min_length=2, max_length=4000, description="详细记录")
    outcome: Outcome | None = None


class AmendmentChange(StrictModel):
    code: str = Field(min_length=1, max_length=10)
    conclusion: Conclusion
    text: str | None = Field(default=None, max_length=4000)
    fixed_on_site: bool = False


class AmendmentBody(StrictModel):
    reason: str = Field(min_length=2, max_length=2000)
    changes: list[AmendmentChange] = Field(default_factory=list, max_length=20)
    outcome: Outcome | None = None


class Decision(StrictModel):
    note: str | None = Field(default=None, max_length=2000)


class Period(StrictModel):
    value: int = Field(ge=1, le=365, description="整改期限")
    unit: Literal["days", "working_days"] = Field(description="days 日 / working_days 个工作日")


class LicenceIn(StrictModel):
    number: str = Field(min_length=3, max_length=60)
    category: str | None = Field(default=None, max_length=60)
    valid_from: dt.date | None = None
    valid_until: dt.date


class SummaryCreate(StrictModel):
    period: Period | None = Field(default=None, description="缺省取计划设置")
    licences: list[LicenceIn] | None = Field(default=None, max_length=20, description="缺省取登记库中该企业的有效许可证")
    products: list[str] | None = Field(default=None, max_length=30)


class Handover(StrictModel):
    enterprise: EnterpriseConfirmation
    contact: str | None = Field(default=None, max_length=100)


class ReportBody(StrictModel):
    note: str | None = Field(default=None, max_length=4000)
