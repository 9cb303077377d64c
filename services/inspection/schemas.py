"""Request bodies (unknown fields refused, sizes bounded) and the answers' shapes (``…Out``, documentation for the OpenAPI)."""
from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.schemas import IsoDate, StrictModel

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
    valid_from: IsoDate | None = None
    valid_until: IsoDate


class SummaryCreate(StrictModel):
    period: Period | None = Field(default=None, description="缺省取计划设置")
    licences: list[LicenceIn] | None = Field(default=None, max_length=20, description="缺省取登记库中该企业的有效许可证")
    products: list[str] | None = Field(default=None, max_length=30)


class Handover(StrictModel):
    enterprise: EnterpriseConfirmation
    contact: str | None = Field(default=None, max_length=100)


class ReportBody(StrictModel):
    note: str | None = Field(default=None, max_length=4000)


class HistoryProblem(StrictModel):
    item_code: str = Field(min_length=1, max_length=10, description="附件2 检查内容编号（如 4.1）")
    text: str = Field(min_length=1, max_length=2000, description="检查记录（不符合情况）")


class HistoryLicence(StrictModel):
    number: str = Field(min_length=3, max_length=60)
    category: str | None = Field(default=None, max_length=60)
    valid_until: dt.date | None = None
    licence_id: str | None = Field(default=None, max_length=32)


class HistoryHandover(StrictModel):
    uscc: str = Field(pattern=r"^[0-9A-Z]{18}$")
    enterprise_name: str = Field(min_length=1, max_length=200)
    site_id: str = Field(min_length=1, max_length=64)
    site_address: str | None = Field(default=None, max_length=500)
    region_code: str = Field(pattern=r"^14\d{4}$", description="生产场所所在县（区）代码")
    categories: list[str] = Field(default_factory=list, max_length=10)
    licences: list[HistoryLicence] = Field(default_factory=list, max_length=10)
    problems: list[HistoryProblem] = Field(min_length=1, max_length=10)
    handed_over_on: dt.date = Field(description="往期检查的移交日期（须早于今天）")
    period: Period


class HistoryBatch(StrictModel):
    batch: str = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_-]+$", description="往期批次代码（演示历史）")
    plan_name: str = Field(min_length=1, max_length=200)
    handovers: list[HistoryHandover] = Field(min_length=1, max_length=20)


# ---------------------------------------------------------------- answers (documentation: the routes' dicts are not filtered)
class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ChecklistHeadOut(_Out):
    version: str
    title: str
    source: str
    current: bool


class ChecklistListOut(_Out):
    items: list[ChecklistHeadOut]


class ChecklistSubItemOut(_Out):
    code: str
    text: str
    conclusions: list[str]
    conclusion_labels: list[str]
    rule: str
    note: str | None = None


class ChecklistItemOut(_Out):
    no: str
    name: str
    sub_items: list[ChecklistSubItemOut]


class ChecklistOut(_Out):
    version: str
    title: str
    source: str
    items: list[ChecklistItemOut]
    notes: list[str]
    conclusions: dict[str, str]
    rules: dict[str, Any]
    product_types: dict[str, str]
    production_statuses: dict[str, str]
    policy_categories: list[str]


class RecordRef(_Out):
    id: str
    state: str


class TaskOut(_Out):
    id: str
    team_id: str
    team_label: str | None = None
    plan_id: str
    uscc: str
    enterprise_name: str | None = None
    categories: list[Any]
    site_id: str
    site_address: str | None = None
    region_code: str
    city_code: str
    county_code: str | None = None
    visit_date: dt.date | None = None
    status: str = Field(description="dispatched / accepted / cancelled")
    cancel_reason: str | None = None
    record: RecordRef | None = Field(default=None, description="该任务的检查记录（未开启为 null）")


class RecordHeadOut(_Out):
    id: str
    task_id: str
    team_id: str
    plan_id: str
    uscc: str
    enterprise_name: str | None = None
    site_id: str
    site_address: str | None = None
    region_code: str
    city_code: str
    county_code: str | None = None
    categories: list[Any]
    product_type: str = Field(description="industrial 工业产品 / food_related 食品相关产品")
    product_type_label: str
    checklist_version: str
    state: str = Field(description="open / sealed / not_inspected")
    production_status: str
    arrived_at: dt.datetime
    present: list[dict[str, Any]]
    gps: dict[str, Any] | None = None
    opened_by: str
    enterprise_confirmation: dict[str, Any] | None = None
    not_inspected: dict[str, Any] | None = None
    follow_up_inspection: bool
    outcome: dict[str, Any] | None = None
    completed_on: dt.date | None = None
    sealed_at: dt.datetime | None = None
    sealed_by: str | None = None
    content_hash: str | None = None
    current_hash: str | None = None
    amendment_count: int
    version: int
    updated_at: dt.datetime


class ItemOut(_Out):
    code: str
    item_no: str
    item_name: str
    text: str
    allowed: list[str]
    rule_note: str | None = None
    conclusion: str | None = None
    conclusion_label: str | None = None
    preset: bool
    reason: str | None = None
    record: str | None = Field(default=None, description="检查记录")
    fixed_on_site: bool
    fix_note: str | None = None
    version: int
    updated_by: str | None = None
    updated_at: dt.datetime


class ItemUpdatedOut(ItemOut):
    signatures_cleared: int | None = Field(default=None, description="因结论变动而失效的签字")


class EvidenceOut(_Out):
    id: str
    item_code: str | None = None
    purpose: str
    sha256: str
    size: int
    media_type: str
    filename: str | None = None
    note: str | None = None
    uploaded_by: str
    uploaded_at: dt.datetime
    signatures_cleared: int | None = Field(default=None, description="上传后失效的成员签字（证据属于封存内容，签字后新增须重新签字）")


class SignatureOut(_Out):
    person_id: str
    name: str | None = None
    role: str | None = None
    image_sha256: str | None = None
    signed_at: dt.datetime


class AmendmentOut(_Out):
    id: str
    seq: int
    reason: str
    changes: list[dict[str, Any]]
    outcome: dict[str, Any] | None = None
    status: str = Field(description="pending / approved / rejected")
    proposed_by: str
    proposed_person_id: str
    proposed_at: dt.datetime
    decided_by: str | None = None
    decided_person_id: str | None = None
    decided_at: dt.datetime | None = None
    decision_note: str | None = None
    content_hash: str | None = None


class RecordOut(RecordHeadOut):
    items: list[ItemOut]
    evidence: list[EvidenceOut]
    signatures: list[SignatureOut]
    amendments: list[AmendmentOut]
    current_items: list[dict[str, Any]] | None = Field(default=None, description="批准的更正生效后的检查项目（有批准的更正时）")
    problem_summary: RecordRef | None = None


class SummaryOut(_Out):
    id: str
    record_id: str
    task_id: str
    team_id: str
    plan_id: str
    uscc: str
    enterprise_name: str | None = None
    site_id: str
    site_address: str | None = None
    region_code: str
    city_code: str
    county_code: str | None = None
    licences: list[dict[str, Any]]
    products: list[Any]
    problems: list[dict[str, Any]]
    period: dict[str, Any] = Field(description="整改期限 {value, unit, label}")
    state: str
    team_signatures: list[dict[str, Any]] | None = None
    enterprise_confirmation: dict[str, Any] | None = None
    handed_over_at: dt.datetime | None = None
    handed_over_by: str | None = None
    version: int
    created_by: str
    created_at: dt.datetime


class FormOut(_Out):
    id: str
    kind: str = Field(description="steel 附件3 / cement 附件4")
    task_id: str
    plan_id: str
    uscc: str
    enterprise_name: str | None = None
    region_code: str
    city_code: str
    data: dict[str, Any]
    filled_by: str
    filled_as: str
    version: int
    updated_at: dt.datetime


class TeamReportOut(_Out):
    team_id: str
    plan_id: str
    label: str | None = None
    city_code: str | None = None
    report_date: dt.date | None = None
    region: str | None = Field(default=None, description="只含该地区（代码前缀）的任务、记录和移交（市、县局查看跨地区检查组时）；空为全组")
    members: list[dict[str, Any]]
    overdue: bool
    submitted: bool
    submitted_at: dt.datetime | None = None
    counts: dict[str, int]
    inspected: list[dict[str, Any]]
    not_inspected: list[dict[str, Any]]
    pending: list[dict[str, Any]]
    not_inspected_by_reason: dict[str, int]
    findings_by_item: list[dict[str, Any]]
    findings_by_product: list[dict[str, Any]]
    handed_over: list[dict[str, Any]]


class HistoryItemOut(_Out):
    summary_id: str
    record_id: str
    uscc: str
    handed_over_on: dt.date


class HistoryOut(_Out):
    batch: str
    plan_id: str
    demo_history: bool
    items: list[HistoryItemOut]
