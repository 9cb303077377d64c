"""Request bodies of the risk service (unknown fields refused) and its answers' shapes (``…Out``)."""
from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.schemas import StrictModel

MAX_LOOKUP = 50_000  # per request (≈ 1 MB); callers send larger populations in chunks


class ModelIn(StrictModel):
    name: str = Field(min_length=2, max_length=200)
    definition: dict[str, Any] = Field(description="评分卡定义：base、indicators（每个指标的分箱与分值）、thresholds（B/C/D 分界）")
    note: str | None = Field(None, max_length=2000)


class FitIn(StrictModel):
    name: str = Field(min_length=2, max_length=200)
    history: Literal["stored", "demo"] = Field("stored", description="stored：本服务记录的历史；demo：带已知植入效应的演示历史（非生产模式）")
    test_year: int | None = Field(None, ge=2000, le=2100, description="留出回测的年份（默认历史的最后一年）")
    seed: int = Field(2022, ge=0, le=2**31, description="演示历史的随机种子")
    enterprises: int = Field(3000, ge=200, le=20000, description="演示历史的企业数")
    note: str | None = Field(None, max_length=2000)


class DecisionIn(StrictModel):
    note: str | None = Field(None, max_length=2000)


class LookupIn(StrictModel):
    uscc: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(max_length=MAX_LOOKUP, description="统一社会信用代码（每次至多 50,000 个，更多请分批）")


class AlertNoteIn(StrictModel):
    note: str = Field(min_length=2, max_length=2000)


class AckIn(StrictModel):
    note: str | None = Field(None, max_length=2000)


# ---------------------------------------------------------------- answers (documentation: shared.contract.op)
class RiskClassOut(BaseModel):
    uscc: str
    name: str | None = None
    region_code: str | None = None
    risk_class: str = Field(alias="class", description="信用风险分类 A/B/C/D")
    class_name: str
    score: float
    model_version: int
    as_of: dt.date
    computed_at: dt.datetime
    model_config = ConfigDict(populate_by_name=True)


class RiskClassDetailOut(RiskClassOut):
    base: Any = None
    contributions: list[dict[str, Any]] = Field(description="各指标的贡献")
    why: Any = Field(None, description="前三大因素")
    indicators: Any = Field(None, description="指标值")
    history: list[dict[str, Any]] = Field(description="分类变化（最近 50 次）")


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class IndicatorOut(_Out):
    code: str
    name: str
    definition: str
    sources: list[str]
    window_days: int | None = None
    kind: str
    fact: str | None = None


class IndicatorListOut(_Out):
    items: list[IndicatorOut]


class AlertRuleOut(_Out):
    code: str
    name: str
    kind: str = Field(description="fact_count / open_issue / renewal_due / cluster")
    fact: str | None = None
    issue: str | None = None
    window_days: int | None = None
    threshold: int
    rate: float | None = None


class AlertRuleListOut(_Out):
    items: list[AlertRuleOut]


class ClassLookupOut(_Out):
    model_version: int
    as_of: dt.date
    default_class: str = Field(description="无记录企业（无历史）在已采用评分卡下的分类")
    classes: dict[str, str] = Field(description="统一社会信用代码 → 分类")
    unknown: list[str] = Field(description="本服务无记录的企业")


class ModelOut(_Out):
    version: int
    name: str
    status: str = Field(description="draft / proposed / adopted / rejected / retired")
    source: str = Field(description="expert / fitted")
    note: str | None = None
    created_by: str
    created_at: dt.datetime
    proposed_by: str | None = None
    proposed_at: dt.datetime | None = None
    decided_by: str | None = None
    decided_at: dt.datetime | None = None
    decision_note: str | None = None
    row_version: int = Field(description="If-Match 所用的版本")


class ModelFullOut(ModelOut):
    definition: dict[str, Any]
    fit_report: dict[str, Any] | None = None


class ModelListOut(_Out):
    items: list[ModelOut]


class ModelDecisionOut(ModelOut):
    reclassified: dict[str, Any] | None = Field(None, description="采用时：重新分类的企业数")


class PreviewOut(_Out):
    version: int
    enterprises: int
    moved: int
    matrix: Any = Field(description="分类迁移矩阵")
    before: Any
    after: Any


class BatchRunOut(_Out):
    period: str
    ran: bool
    status: str | None = None
    holder: str | None = None
    model_version: int | None = None


class BatchRowOut(_Out):
    period: str
    holder: str | None = None
    status: str
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    enterprises: int | None = None
    changed: int | None = None


class BatchListOut(_Out):
    items: list[BatchRowOut]


class SyncOut(_Out):
    enterprises: int
    created: int
    updated: int
    reclassified: dict[str, Any] | None = None


class AlertOut(_Out):
    id: str
    rule: str
    rule_name: str
    uscc: str | None = None
    enterprise_name: str | None = None
    region_code: str
    bureau_code: str
    reason: str
    evidence: dict[str, Any]
    occurrences: int
    status: str = Field(description="open / acknowledged / closed")
    raised_at: dt.datetime
    last_seen_at: dt.datetime
    acknowledged_by: str | None = None
    acknowledged_at: dt.datetime | None = None
    acknowledge_note: str | None = None
    closed_by: str | None = None
    closed_at: dt.datetime | None = None
    close_note: str | None = None
    version: int


class LedgerRowOut(_Out):
    uscc: str
    name: str | None = None
    region_code: str | None = None
    risk_class: str | None = Field(None, alias="class")
    score: float | None = None
    model_version: int | None = None
    why: list[Any]
    open_alerts: list[dict[str, Any]]
    open_issues: list[dict[str, Any]]
    model_config = ConfigDict(extra="allow", populate_by_name=True)
