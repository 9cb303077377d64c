"""Request bodies and the validated shape of the handed-over problem summary (bounded everywhere)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.evidence import is_sha256
from shared.schemas import StrictModel

Sha = Field(min_length=64, max_length=64, pattern=r"^[0-9a-f]{64}$")
MAX_EVIDENCE = 20


def _check_shas(v: list[str]) -> list[str]:
    for x in v:
        if not is_sha256(x):
            raise ValueError("证据应为 64 位小写十六进制 SHA-256")
    if len(set(v)) != len(v):
        raise ValueError("证据重复")
    return v


# ---------------------------------------------------------------- the event (inspection's contract)
class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class EvLicence(_Lenient):
    number: str = Field(min_length=1, max_length=40)
    category: str | None = Field(default=None, max_length=40)
    valid_until: dt.date | None = None
    licence_id: str | None = Field(default=None, max_length=32)


class EvProblem(_Lenient):
    no: int = Field(ge=1, le=1000)
    item_code: str | None = Field(default=None, max_length=40)
    text: str = Field(min_length=1, max_length=4000)
    fixed_on_site: bool = False
    evidence: list[str] = Field(default_factory=list, max_length=50)

    _shas = field_validator("evidence")(_check_shas)


class EvPeriod(_Lenient):
    value: int = Field(ge=1, le=3650)
    unit: Literal["working_days", "days"]


class HandedOver(_Lenient):
    summary_id: str = Field(min_length=1, max_length=64)
    record_id: str = Field(min_length=1, max_length=64)
    task_id: str | None = Field(default=None, max_length=64)
    plan_id: str | None = Field(default=None, max_length=64)
    uscc: str = Field(min_length=18, max_length=18)
    enterprise_name: str = Field(min_length=1, max_length=200)
    site_id: str | None = Field(default=None, max_length=64)
    site_address: str | None = Field(default=None, max_length=500)
    region_code: str = Field(pattern=r"^\d{6}$")
    city_code: str = Field(pattern=r"^\d{6}$")
    county_code: str | None = Field(default=None, pattern=r"^\d{6}$")
    licences: list[EvLicence] = Field(default_factory=list, max_length=50)
    problems: list[EvProblem] = Field(min_length=1, max_length=200)
    period: EvPeriod
    handed_over_at: dt.datetime | None = None
    handed_over_on: dt.date

    @field_validator("problems")
    @classmethod
    def _unique_no(cls, v):
        if len({p.no for p in v}) != len(v):
            raise ValueError("问题序号重复")
        return v

    @model_validator(mode="after")
    def _regions_agree(self):
        # the case's jurisdiction comes from these codes: they must describe one place
        if self.city_code.endswith("0000") or not self.city_code.endswith("00") or self.region_code[:4] != self.city_code[:4]:
            raise ValueError("region_code 与 city_code 不一致")
        if self.county_code is not None and self.county_code != self.region_code:
            raise ValueError("county_code 应与 region_code 相同")
        return self


# ---------------------------------------------------------------- requests
class ReportIn(StrictModel):
    text: str = Field(min_length=2, max_length=4000, description="整改情况说明")
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE, description="已上传到本案件的证据 SHA-256")

    _shas = field_validator("evidence")(_check_shas)


class HandlingIn(StrictModel):
    measure: Literal["order_correction", "interview", "follow_up"] = Field(description="责令改正 | 约谈 | 跟踪整改")
    on: dt.date
    text: str = Field(min_length=2, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE)

    _shas = field_validator("evidence")(_check_shas)


class RecheckIn(StrictModel):
    passed: bool
    rechecked_on: dt.date
    inspectors: list[str] = Field(min_length=1, max_length=10, description="复查人员（姓名）")
    text: str = Field(min_length=2, max_length=4000)
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE)

    _shas = field_validator("evidence")(_check_shas)

    @field_validator("inspectors")
    @classmethod
    def _names(cls, v):
        for n in v:
            if not n or len(n) > 50:
                raise ValueError("复查人员姓名应为 1-50 个字符")
        return v


class OutcomeIn(StrictModel):
    basis_code: str = Field(min_length=1, max_length=40, description="法律依据代码（GET /legal-bases）")
    facts: str = Field(min_length=4, max_length=8000, description="事实与理由（立案查处时即案件来源登记的基本情况）")
    receiving_body: str | None = Field(default=None, min_length=2, max_length=200, description="承办机构或接收部门")
    licences: list[str] | None = Field(default=None, max_length=50, description="涉及的许可证编号；省略时为案件全部许可证")
    evidence: list[str] = Field(default_factory=list, max_length=MAX_EVIDENCE)

    _shas = field_validator("evidence")(_check_shas)


class DecideIn(StrictModel):
    approve: bool
    note: str = Field(min_length=2, max_length=2000)


# ---------------------------------------------------------------- answers (documentation: shared.contract.op)
class CaseOut(BaseModel):
    id: str
    summary_id: str
    record_id: str
    task_id: str | None = None
    plan_id: str | None = None
    uscc: str
    enterprise_name: str
    site_id: str | None = None
    site_address: str | None = None
    region_code: str
    city_code: str
    county_code: str | None = None
    licences: list
    period: dict = Field(description="整改期限 {value, unit}")
    handed_over_on: dt.date
    deadline: dt.date | None = None
    deadline_problem: str | None = None
    status: str = Field(description="open | reported | closed | failed")
    status_label: str
    overdue: bool
    overdue_on: dt.date | None = None
    flags: list = Field(description="标记")
    problems_total: int
    problems_open: int
    recheck_passed: bool | None = None
    rechecked_on: dt.date | None = None
    resolution: str | None = None
    resolution_label: str | None = None
    closed_on: dt.date | None = None
    reminded_on: dt.date | None = None
    opened_at: dt.datetime
    version: int
    days_left: int | None = Field(None, description="距整改期限的天数（待整改、已报告时）")


class CaseDetailOut(CaseOut):
    problems: list[dict]
    actions: list[dict]
    outcomes: list[dict]
    evidence: list[dict]
    disclosure: dict | None = None


class EvidenceStoredOut(BaseModel):
    sha256: str
    media_type: str
    size: int
    already_present: bool = Field(description="同一内容此前已存储（对企业：此前已由本企业上传或企业可见）")


class CaseWithProblemOut(CaseOut):
    problem: dict = Field(description="刚报告整改情况的问题")


class CaseWithActionOut(CaseOut):
    action: dict = Field(description="刚录入的处理措施")


class LegalBasisOut(BaseModel):
    code: str
    kind: str
    kind_label: str
    label: str
    citation: str
    requires: list[str]
    confirmed: bool
    note: str | None = None


class LegalBasisListOut(BaseModel):
    items: list[LegalBasisOut]


class OutcomeOut(BaseModel):
    id: str
    case_id: str
    kind: str
    kind_label: str
    basis_code: str
    legal_basis: str
    facts: str
    receiving_body: str | None = None
    evidence: list
    licences: list
    status: str = Field(description="proposed | decided | rejected")
    proposed_by: str
    proposed_by_name: str | None = None
    proposed_at: dt.datetime
    decided_by: str | None = None
    decided_by_name: str | None = None
    decided_at: dt.datetime | None = None
    decision_note: str | None = None
    version: int


class OutcomeDetailOut(OutcomeOut):
    document: dict | None = Field(None, description="移送/立案文书内容（立案查处、移送司法机关、抄告时）")


class CityRollupOut(BaseModel):
    on: dt.date
    due_within_days: int
    items: list[dict] = Field(description="每市一行：city_code、city_name、各项计数与 outcomes")
    totals: dict[str, int]


class LedgerRowOut(BaseModel):
    case_id: str
    uscc: str
    enterprise_name: str
    site_address: str | None = None
    city_code: str
    city_name: str | None = None
    county_code: str | None = None
    region_code: str
    licences: list
    handed_over_on: dt.date
    period: str
    deadline: dt.date | None = None
    problems_total: int
    problems_open: int
    status: str
    status_label: str
    overdue: bool
    recheck_passed: bool | None = None
    rechecked_on: dt.date | None = None
    resolution: str | None = None
    resolution_label: str | None = None
    closed_on: dt.date | None = None
    outcomes: list[dict]
