"""Request bodies of the sampling service (unknown fields refused)."""
from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field, model_validator

from shared.schemas import StrictModel
from shared.vocabulary import LEADER_UNIT_DEFAULT, TEAM_SETTING_DEFAULTS


class RuleIn(StrictModel):
    name: str = Field(min_length=1, max_length=200, description="层名称")
    categories: list[str] | None = Field(None, description="产品类别（任一匹配）")
    flags: list[str] | None = Field(None, description="抽取标记（任一为真即匹配）")
    region_prefix: str | None = Field(None, description="地区代码前缀")
    licence_statuses: list[str] | None = None
    production_statuses: list[str] | None = None
    risk_classes: list[str] | None = Field(None, description="信用风险分类（A/B/C/D，冻结总体时向风险服务查询并随总体冻结；仅省局）")
    ratio: Decimal | None = Field(None, description="抽取比例 [0,1]")
    count: int | None = Field(None, description="固定抽取数量")
    note: str | None = Field(None, max_length=500)


_T = TEAM_SETTING_DEFAULTS


class PlanSettings(StrictModel):
    window_start: dt.date
    window_end: dt.date
    report_date: dt.date
    team_size_min: int = Field(_T["team_size_min"], ge=1, le=50)
    team_size_max: int = Field(_T["team_size_max"], ge=1, le=50)
    load_per_team: int = Field(_T["load_per_team"], ge=1)
    visits_per_day: int = Field(_T["visits_per_day"], ge=1)
    avoid_own_county: bool = _T["avoid_own_county"]
    max_teams_per_person: int = Field(_T["max_teams_per_person"], ge=1)
    max_teams_per_leader: int = Field(_T["max_teams_per_leader"], ge=1, description="一名组长（省局处级干部）先后带领的检查组上限")
    max_teams_per_expert: int = Field(_T["max_teams_per_expert"], ge=1, description="一名技术专家先后参加的检查组上限（省局总体调配）")
    acceptance_workdays: int = Field(_T["acceptance_workdays"], ge=0, le=60)
    notice_workdays: int = Field(_T["notice_workdays"], ge=0, le=60, description="告知期：检查日期不早于派发日加该数个工作日")
    leader_unit: str = Field(LEADER_UNIT_DEFAULT, min_length=2, max_length=60, description="组长所在处室（通知：省局质量监管处处级干部）")

    @model_validator(mode="after")
    def _order(self):
        if self.window_end < self.window_start:
            raise ValueError("window_end: 检查结束日期不能早于开始日期")
        if self.report_date < self.window_end:
            raise ValueError("report_date: 汇总上报日期不能早于检查结束日期")
        if self.team_size_max < self.team_size_min:
            raise ValueError("team_size_max: 每组人数上限不能小于下限")
        return self


class PlanIn(StrictModel):
    name: str = Field(min_length=2, max_length=200)
    batch: str = Field(min_length=1, max_length=60)
    owner_region: str | None = Field(None, pattern=r"^\d{6}$", description="默认为本人所在地区")
    catalogue: Literal["2022", "2024"]
    licence_status: Literal["有效", "暂停", "撤销", "吊销", "注销"] = "有效"
    settings: PlanSettings
    rules: list[RuleIn] = Field(min_length=1, max_length=100)


class PlanPatch(StrictModel):
    name: str | None = Field(None, min_length=2, max_length=200)
    batch: str | None = Field(None, min_length=1, max_length=60)
    settings: PlanSettings | None = None
    rules: list[RuleIn] | None = Field(None, min_length=1, max_length=100)
    deviation_reasons: dict[str, Annotated[str, Field(min_length=2, max_length=500)]] | None = Field(
        None, max_length=100, description="偏离模板的理由：键为偏离项（如 rules.危险化学品.ratio、settings.window_start）")


class TemplateIn(StrictModel):
    owner_region: str | None = Field(None, pattern=r"^\d{6}$")
    batch: str | None = Field(None, min_length=1, max_length=60)
    other_ratio: Decimal | None = Field(None, description="通知未规定比例的其他产品的抽取比例，默认 0.2")


class DrawIn(StrictModel):
    plan_id: str
    kind: Literal["enterprise", "inspector"] = "enterprise"
    enterprise_draw_id: str | None = None


class SeedIn(StrictModel):
    seed: str = Field(description="不少于 20 位十进制数字（公开掷骰）")
    beacon: str | None = Field(None, max_length=500, description="公开随机信标值（可选）")


class SeedConfirmIn(StrictModel):
    seed: str


class ReplacementIn(StrictModel):
    uscc: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=2, max_length=1000)


class AbandonIn(StrictModel):
    reason: str = Field(min_length=5, max_length=1000, description="作废理由（公开）")
# ---------------------------------------------------------------- response bodies (documentation:
# what a generated client gets; the routes shape their dicts themselves). JSON columns stay open.
import datetime as _dt  # noqa: E402
from typing import Any as _Any  # noqa: E402

from pydantic import BaseModel as _BaseModel, ConfigDict as _ConfigDict  # noqa: E402


class PlanOut(_BaseModel):
    model_config = _ConfigDict(extra="allow")
    id: str
    name: str
    batch: str
    owner_region: str
    catalogue: str
    licence_status: str
    settings: dict[str, _Any]
    rules: list[dict[str, _Any]]
    source: str | None = None
    status: str
    version: int
    created_by: str
    created_at: _dt.datetime
    approved_by: str | None = None
    approved_at: _dt.datetime | None = None


class DrawOut(_BaseModel):
    id: str
    plan_id: str
    kind: str
    enterprise_draw_id: str | None = None
    owner_region: str
    status: str
    strata: list[dict[str, _Any]]
    population_count: int | None = None
    population_digest: str | None = None
    created_by: str
    created_at: _dt.datetime | None = None
    frozen_by: str | None = None
    frozen_at: _dt.datetime | None = None
    seed: str | None = None
    beacon: str | None = None
    seed_entered_by: str | None = None
    seed_entered_at: _dt.datetime | None = None
    seed_confirmed_by: str | None = None
    seed_confirmed_at: _dt.datetime | None = None
    algorithm: str | None = None
    algorithm_version: str | None = None
    committed_by: str | None = None
    committed_at: _dt.datetime | None = None
    result_digest: str | None = None
    version: int


class ReplacementOut(_BaseModel):
    id: str
    draw_id: str
    stratum: str
    replaced_uscc: str
    replacement_uscc: str
    replacement_ticket: str
    replacement_position: int
    reason: str
    recorded_by: str
    recorded_at: _dt.datetime


class _Open(_BaseModel):
    model_config = _ConfigDict(extra="allow")


class PreviewOut(_Open):
    plan_id: str
    frozen: bool = Field(description="预览不冻结总体：始终为 false")
    strata: list[dict[str, _Any]]
    outside: int = Field(description="不属于任何层的企业数")
    total: int


class UnitOut(_BaseModel):
    unit_id: str
    stratum: str
    ticket: str | None = None
    position: int | None = Field(None, description="在本层签序中的位置（从 1 起）")
    selected: bool
    data: dict[str, _Any]


class VerifyOut(_Open):
    draw_id: str
    verified: bool
    differences: list[_Any]
    population_digest: str | None = None
    units: int


class PublicDrawAttemptOut(_Open):
    draw_id: str
    plan_id: str
    kind: str
    attempt: int
    status: str
    enterprise_draw_id: str | None = None
    population_count: int | None = None
    population_digest: str | None = None
    seed: str | None = None
    beacon: str | None = None
    frozen_at: str | None = None
    seed_entered_at: str | None = None
    committed_at: str | None = None
    result_digest: str | None = None
    abandoned: bool
    abandoned_by: str | None = None
    abandoned_at: str | None = None
    abandon_reason: str | None = None
    status_before_abandon: str | None = None


class PublicDrawOut(PublicDrawAttemptOut):
    plan_name: str
    batch: str
    owner_region: str
    plan_source: _Any = None
    source_statement: _Any = None
    deviations: list[_Any]
    digest_rule: str
    seed_rule: str
    result_digest_rule: str
    strata_rules: dict[str, _Any]
    algorithm: str | None = None
    algorithm_version: str | None = None
    rules: list[dict[str, _Any]] = Field(description="计划的分层规则（公开）")
    strata_disclosure: str | None = Field(None, description="计划含按信用风险分类的规则时：本页公开什么、不公开什么")
    strata: list[dict[str, _Any]] = Field(description="各层数量；按信用风险分类抽取的层合为一项")
    selected: list[dict[str, _Any]] | None = Field(None, description="企业抽取：抽中的企业（含信用风险分层时统一标注、无签号）")
    replacements: list[dict[str, _Any]] | None = Field(None, description="企业抽取：替补记录")


class PublicPlanOut(_Open):
    id: str
    name: str
    batch: str
    owner_region: str
    catalogue: str
    licence_status: str
    settings: dict[str, _Any]
    rules: list[dict[str, _Any]]
    source: _Any = None
    source_statement: _Any = None
    template: _Any = None
    deviations: _Any = None
    strata_rules: _Any = None
    date_rules: _Any = None
    created_by: str
    approved_by: str | None = None
    approved_at: _Any = None
    draw_attempts: list[PublicDrawAttemptOut]
