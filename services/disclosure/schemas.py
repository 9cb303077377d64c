"""Request bodies of the disclosure service (unknown fields refused, sizes bounded)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from shared.schemas import StrictModel

from .feed import EVENT_TYPES

class EntryBody(StrictModel):
    """录入: the result categories (one or more) and the follow-up measure, as codes."""

    categories: list[str] = Field(min_length=1, max_length=7)
    follow_up: str = Field(min_length=1, max_length=40)
    remark: str | None = Field(default=None, max_length=500)


class ReviewBody(StrictModel):
    decision: Literal["approve", "return"]
    note: str | None = Field(default=None, max_length=500)


class CorrectionBody(StrictModel):
    categories: list[str] = Field(min_length=1, max_length=7)
    follow_up: str = Field(min_length=1, max_length=40)
    reason: str = Field(min_length=2, max_length=500)


class WithdrawalBody(StrictModel):
    reason: str = Field(min_length=2, max_length=500)


class PlanSettingBody(StrictModel):
    number: str | None = Field(default=None, max_length=100, description="计划文号，如 晋市监〔2022〕181号")
    directed: bool = Field(False, description="定向抽查")


def _types(v):
    if v is None:
        return v
    bad = [t for t in v if t not in EVENT_TYPES.values()]
    if bad:
        raise ValueError(f"未知的事件类型：{'、'.join(bad)}；可选 {'、'.join(EVENT_TYPES.values())}")
    if len(set(v)) != len(v):
        raise ValueError("事件类型重复")
    return v


class SubscriptionCreate(StrictModel):
    url: str = Field(min_length=8, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=3)
    description: str | None = Field(default=None, max_length=500)

    _check_types = field_validator("event_types")(classmethod(lambda cls, v: _types(v)))


class SubscriptionPatch(StrictModel):
    url: str | None = Field(default=None, min_length=8, max_length=2000)
    event_types: list[str] | None = Field(default=None, min_length=1, max_length=3)
    description: str | None = Field(default=None, max_length=500)
    active: bool | None = None

    _check_types = field_validator("event_types")(classmethod(lambda cls, v: _types(v)))


class RotateBody(StrictModel):
    overlap_hours: float | None = Field(default=None, ge=0, le=168)


class ReplayBody(StrictModel):
    since: dt.datetime

    @field_validator("since")
    @classmethod
    def _aware(cls, v: dt.datetime) -> dt.datetime:
        if v.tzinfo is None:
            raise ValueError("时间须带时区，如 2026-01-01T00:00:00+08:00")
        return v


# ---------------------------------------------------------------- answers (documentation: shared.contract.op)
class CityCountsOut(BaseModel):
    city_code: str
    city_name: str
    results: int = Field(description="已完成的检查（结果条数）")
    inspected: int = Field(description="已实施检查")
    published: int = Field(description="已公示")
    open: int = Field(description="应公示（待录入、待审核、退回）")
    overdue: int = Field(description="超过 20 个工作日未公示")


class CityReportOut(BaseModel):
    today: dt.date
    items: list[CityCountsOut]
