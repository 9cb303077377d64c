"""Request bodies of the risk service (unknown fields refused)."""
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
