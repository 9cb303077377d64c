"""Request bodies of the disclosure service (unknown fields refused, sizes bounded) and its answers' shapes (``…Out``)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

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
class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class PlanSettingOut(_Out):
    plan_id: str
    number: str | None = None
    directed: bool
    version: int


class CodeName(_Out):
    code: str | None = None
    name: str | None = None


class ResultOut(_Out):
    id: str
    record_id: str
    task_id: str | None = None
    plan_id: str
    plan_name: str | None = None
    uscc: str
    enterprise_name: str
    site_id: str | None = None
    region_code: str
    city_code: str
    county_code: str | None = None
    bureau: CodeName = Field(description="检查实施机关")
    completed_on: dt.date
    due_on: dt.date | None = Field(None, description="公示期限（检查完成后 20 个工作日）")
    due_problem: str | None = None
    inspected: bool
    suggested: dict[str, Any]
    suggestion_source: str
    needs_correction: bool
    categories: list[dict[str, Any]]
    follow_up: str | None = None
    follow_up_label: str | None = None
    remark: str | None = None
    status: str = Field(description="pending / submitted / returned / published / withdrawn")
    status_label: str
    entered_by: str | None = None
    entered_at: dt.datetime | None = None
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    review_note: str | None = None
    published_at: dt.datetime | None = None
    published_version: int
    overdue_flagged_at: dt.datetime | None = None
    version: int
    overdue: bool | None = Field(None, description="列表中未公示且期限已知时给出")


class DeadlineRowOut(_Out):
    bureau: CodeName
    city_code: str | None = None
    open: int
    due_within_5_workdays: int
    overdue: int
    due_unknown: int
    published: int


class DeadlinesOut(_Out):
    today: dt.date
    soon_until: dt.date | None = None
    items: list[DeadlineRowOut]
    notice: str | None = None


class ResultVersionOut(_Out):
    version: int
    kind: str
    seq: int
    reason: str | None = None
    actor: str | None = None
    at: dt.datetime
    content: dict[str, Any] | None = None


class ResultVersionListOut(_Out):
    items: list[ResultVersionOut]


class FeedEntryOut(_Out):
    seq: int
    cursor: str
    type: str
    result_id: str
    version: int
    occurred_at: dt.datetime
    data: dict[str, Any] | None = None


class FeedOut(_Out):
    items: list[FeedEntryOut]
    next_cursor: str = Field(description="从此续取（空页也给出）")
    has_more: bool
    limit: int


class SecretOut(_Out):
    created_at: str
    expires_at: str | None = None
    prefix: str


class SubscriptionOut(_Out):
    id: str
    url: str
    event_types: list[str]
    description: str | None = None
    active: bool
    disabled_reason: str | None = None
    disabled_at: dt.datetime | None = None
    secrets: list[SecretOut]
    version: int
    created_by: str
    created_at: dt.datetime


class SubscriptionWithSecretOut(SubscriptionOut):
    secret: str = Field(description="签名密钥（只显示这一次）")
    secret_notice: str


class DeliveryOut(_Out):
    id: str
    subscription_id: str
    message_id: str
    status: str
    attempts: int
    next_attempt_at: dt.datetime | None = None
    last_status: int | None = None
    last_error: str | None = None
    created_at: dt.datetime
    delivered_at: dt.datetime | None = None
    type: str | None = None
    seq: int | None = None


class AttemptOut(_Out):
    attempt: int
    at: dt.datetime
    status_code: int | None = None
    latency_ms: float | None = None
    error: str | None = None
    next_attempt_at: dt.datetime | None = None


class DeliveryDetailOut(DeliveryOut):
    attempt_log: list[AttemptOut]


class ReplaySinceOut(_Out):
    subscription_id: str
    since: dt.datetime
    messages: int
    notice: str | None = None


class PublicResultOut(_Out):
    id: str
    uscc: str
    enterprise_name: str
    region_code: str
    authority: CodeName = Field(description="检查实施机关")
    type: dict[str, Any] = Field(description="抽查类型 {code: random|directed, label}")
    plan: dict[str, Any] = Field(description="{id, name, number}")
    completed_on: str
    categories: list[dict[str, Any]]
    follow_up: dict[str, Any] | None = None
    version: int | None = None
    status: str | None = None
    corrected: bool | None = None
    first_published_at: str | None = None
    updated_at: str | None = None


class CorrectionOut(BaseModel):
    """A correction of a published result (录入 → 审核; approval publishes it as a new version)."""

    id: str
    result_id: str
    categories: list[dict]
    follow_up: str
    follow_up_label: str | None = None
    reason: str
    status: Literal["submitted", "approved", "returned"]
    status_label: str
    entered_by: str
    entered_at: dt.datetime
    reviewed_by: str | None = None
    reviewed_at: dt.datetime | None = None
    review_note: str | None = None
    published_version: int | None = Field(None, description="批准后成为的公示版本号")


class CorrectionList(BaseModel):
    items: list[CorrectionOut]


class ResultWithCorrectionOut(BaseModel):
    """The result after a correction step (the other fields of the internal result view come with it)."""

    id: str
    status: str
    status_label: str
    categories: list[dict]
    follow_up: str | None = None
    needs_correction: bool
    correction_pending: bool
    published_version: int
    version: int
    correction: CorrectionOut


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
