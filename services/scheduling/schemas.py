"""Request bodies (unknown fields refused)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.schemas import StrictModel


class AssignmentCreate(StrictModel):
    enterprise_draw_id: str = Field(min_length=1, max_length=64, description="企业抽取编号")
    inspector_draw_id: str | None = Field(default=None, min_length=1, max_length=64, description="人员抽取编号（缺省为服务于该企业抽取的人员抽取）")


class SubstitutionCreate(StrictModel):
    person_id: str = Field(min_length=1, max_length=64, description="被替换的现任成员")
    reason: str = Field(min_length=2, max_length=500, description="替换原因")


class TaskCancel(StrictModel):
    reason: str = Field(min_length=2, max_length=500, description="取消理由")
    not_inspected: Literal["停产", "转产", "关闭停业或正在组织清算", "通过登记的住所（经营场所）无法联系", "其他"] | None = Field(
        default=None, description="企业因此未实施检查时填写：列入跟踪名单，开展后续监督检查")


class AcceptBody(StrictModel):
    note: str | None = Field(default=None, max_length=500)


class MaterialList(StrictModel):
    items: list[str] = Field(min_length=1, max_length=500, description="发证时现场留存材料清单（逐项）")
    note: str | None = Field(default=None, max_length=2000, description="说明（如：加盖骑缝章）")


class BureauInfo(StrictModel):
    material_list: MaterialList
    enterprise_state: Literal["在产", "停产", "转产", "关停"] = Field(description="企业当前生产状态")
    state_note: str | None = Field(default=None, max_length=2000, description="企业基本状况说明")
    location: str = Field(min_length=2, max_length=500, description="企业准确位置")
    staff_on_duty: list[str] = Field(min_length=1, max_length=50, description="在岗执法监管人员姓名")


class ReportSubmit(StrictModel):
    summary: str = Field(min_length=2, max_length=20000, description="检查组汇总情况")


# ---------------------------------------------------------------- response bodies (documentation:
# what a generated client gets; the routes shape their dicts themselves)
import datetime as _dt  # noqa: E402
from typing import Any as _Any  # noqa: E402

from pydantic import BaseModel as _BaseModel  # noqa: E402


class VisitRef(_BaseModel):
    id: str
    date: _dt.date
    slot: int


class TaskOut(_BaseModel):
    id: str
    assignment_id: str
    plan_id: str
    team_id: str
    uscc: str
    enterprise_name: str | None = None
    site_id: str
    site_address: str | None = None
    region_code: str
    city_code: str
    county_code: str | None = None
    categories: list[_Any]
    status: str
    dispatched_at: _dt.datetime
    accept_by: _dt.date
    accepted_at: _dt.datetime | None = None
    accepted_by: str | None = None
    accepted_by_name: str | None = None
    bureau_info: dict[str, _Any] | None = None
    bureau_info_by: str | None = None
    bureau_info_at: _dt.datetime | None = None
    version: int
    overdue: bool | None = None
    visit: VisitRef | None = None


class VisitOut(_BaseModel):
    id: str
    team_id: str
    task_id: str
    plan_id: str
    date: _dt.date
    slot: int
    uscc: str
    site_id: str
    region_code: str
    categories: list[_Any]
    cancelled: bool = Field(False, description="已取消（任务取消或企业被替补）；缺省不列出，include_cancelled=true 时列出")


class AssignmentOut(_BaseModel):
    id: str
    plan_id: str
    batch: str | None = None
    enterprise_draw_id: str
    inspector_draw_id: str
    input_digest: str
    result_digest: str
    algorithm_version: str
    team_count: int
    task_count: int
    created_by: str
    created_at: _dt.datetime
    dispatch_date: _dt.date | None = None
    voided_at: _dt.datetime | None = Field(None, description="组建所依据的抽取被作废的时间（作废后不再有效）")
    void_reason: str | None = None
    voided_draw_id: str | None = Field(None, description="被作废的抽取")
    supersedes: str | None = Field(None, description="本次组建取代的已作废组建")
    superseded_by: str | None = Field(None, description="取代本组建的新组建")


class AssignmentDetailOut(AssignmentOut):
    result: dict[str, _Any] = Field(description="完整的确定性组建结果（复算时逐字节一致）")


class FormedTeamOut(_BaseModel):
    id: str
    code: str
    label: str
    city_code: str
    categories: list[_Any]
    members: list[dict[str, _Any]]
    enterprises: list[str]
    visits: int
    first_visit: str | None = None
    report_date: str
    level_shortfalls: _Any = None


class AssignmentFormedOut(AssignmentOut):
    teams: list[FormedTeamOut]
    level_shortfalls: _Any = None
    rules: _Any = None
    report_date_stated: _Any = None
    report_date: _Any = None


class VerifyOut(_BaseModel):
    assignment_id: str
    ok: bool
    input_digest: str
    stored_input_digest: str
    result_digest: str
    stored_result_digest: str
    byte_identical: bool
    algorithm_version: str
    amendments: int
    amendment_head: str
    problems: list[str]


class AmendmentOut(_BaseModel):
    id: str
    assignment_id: str
    plan_id: str
    seq: int
    kind: str
    team_id: str | None = None
    reason: str | None = None
    actor: str
    at: _dt.datetime
    data: dict[str, _Any]
    prev_hash: str
    hash: str


class NotInspectedOut(_BaseModel):
    id: str
    plan_id: str
    assignment_id: str | None = None
    uscc: str
    enterprise_name: str | None = None
    region_code: str
    reason: str
    source: str = Field(description="replacement / cancellation")
    replaced_by: str | None = None
    amendment_id: str | None = None
    follow_up: str
    recorded_at: _dt.datetime


class MemberOut(_BaseModel):
    person_id: str
    name: str | None = None
    role: str = Field(description="leader / deputy / member")
    pool: str
    ticket: str
    law_enforcement: bool
    active: bool
    kind: str | None = None
    level: _Any = None
    region_code: str | None = None
    organisation: str | None = None
    specialties: _Any = None
    left_at: _dt.datetime | None = None
    left_reason: str | None = None


class TeamOut(_BaseModel):
    id: str
    assignment_id: str
    plan_id: str
    code: str
    label: str
    city_code: str
    categories: list[_Any]
    enterprises: list[str]
    report_date: _dt.date
    report_submitted_at: _dt.datetime | None = None
    report_submitted_by: str | None = None
    version: int
    report_missing: bool | None = Field(None, description="已过汇总上报日期仍未上报")


class TeamDetailOut(TeamOut):
    members: list[MemberOut]
    former_members: list[MemberOut]
    report_summary: str | None = None


class SubstitutionOut(TeamDetailOut):
    substitution: dict[str, _Any]
    amendment: AmendmentOut


class TeamReportOut(TeamOut):
    report_summary: str
    late: bool


class TaskCancelledOut(TaskOut):
    amendment: AmendmentOut
