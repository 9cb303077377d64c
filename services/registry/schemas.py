"""Request bodies (unknown fields refused) with the registry's field rules."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from shared.auth import region_level
from shared.schemas import IsoDate, StrictModel

from . import validation as v

ProductionStatus = Literal["在产", "停产", "转产", "关停"]
LicenceStatus = Literal["有效", "暂停", "撤销", "吊销", "注销"]
Level = Literal["province", "city", "county"]


class SiteIn(StrictModel):
    address: str = Field(min_length=1, max_length=300)
    region_code: str

    _region = field_validator("region_code")(lambda cls, x: v.check_county(x))


class SitePatch(StrictModel):
    address: str | None = Field(default=None, min_length=1, max_length=300)
    region_code: str | None = None

    @field_validator("region_code")
    @classmethod
    def _region(cls, x):
        return None if x is None else v.check_county(x)


class FlagIn(StrictModel):
    source: str = Field(min_length=1, max_length=300, description="来源（如 国家市场监督管理总局2021年第3批国抽通报）")
    date: IsoDate


class FlagsIn(StrictModel):
    """PUT replaces both flags; null clears a flag."""

    national_fail_5y: FlagIn | None = None
    provincial_fail_2021: FlagIn | None = None


class LicenceIn(StrictModel):
    number: str
    category: str
    product_description: str | None = Field(default=None, max_length=500)
    issue_date: IsoDate
    expiry_date: IsoDate | None = None
    status: LicenceStatus = "有效"

    _number = field_validator("number")(lambda cls, x: v.check_licence_number(x))
    _category = field_validator("category")(lambda cls, x: v.check_category(x))

    @field_validator("expiry_date")
    @classmethod
    def _expiry(cls, x, info: ValidationInfo):
        issue = info.data.get("issue_date")
        if x is not None and issue is not None and x <= issue:
            raise ValueError("有效期至必须晚于发证日期")
        return x

    @model_validator(mode="after")
    def _default_expiry(self):
        if self.expiry_date is None:
            self.expiry_date = v.default_expiry(self.issue_date)
        return self


class LicencePatch(StrictModel):
    product_description: str | None = Field(default=None, max_length=500)
    expiry_date: IsoDate | None = None


class LicenceStatusIn(StrictModel):
    status: LicenceStatus
    reason: str = Field(min_length=1, max_length=500)


class EnterpriseIn(StrictModel):
    uscc: str
    name: str = Field(min_length=2, max_length=200)
    region_code: str
    address: str = Field(min_length=1, max_length=300)
    legal_representative: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = None
    production_status: ProductionStatus = "在产"
    sites: list[SiteIn] = Field(default_factory=list, max_length=50)
    licences: list[LicenceIn] = Field(default_factory=list, max_length=50)

    _uscc = field_validator("uscc")(lambda cls, x: v.check_uscc(x))
    _region = field_validator("region_code")(lambda cls, x: v.check_county(x))
    _phone = field_validator("contact_phone")(lambda cls, x: v.check_phone(x))


class EnterprisePatch(StrictModel):
    name: str | None = Field(default=None, min_length=2, max_length=200)
    region_code: str | None = None
    address: str | None = Field(default=None, min_length=1, max_length=300)
    legal_representative: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = None
    production_status: ProductionStatus | None = None

    @field_validator("region_code")
    @classmethod
    def _region(cls, x):
        return None if x is None else v.check_county(x)

    _phone = field_validator("contact_phone")(lambda cls, x: v.check_phone(x))


class PersonIn(StrictModel):
    id: str | None = Field(default=None, pattern=r"^(insp|exp)-\d{4,6}$", description="留空自动编号")
    name: str = Field(min_length=1, max_length=100)
    level: Level
    region_code: str
    organisation: str = Field(min_length=1, max_length=200)
    unit: str | None = Field(default=None, min_length=2, max_length=60, description="处室（如 质量监管处、执法稽查局）")
    business_line: str | None = Field(default=None, max_length=100)
    division_cadre: bool = False
    certificate_no: str | None = Field(default=None, max_length=60)
    specialties: list[str] = Field(default_factory=list, max_length=14)
    active: bool = True

    @field_validator("region_code")
    @classmethod
    def _region(cls, x, info: ValidationInfo):
        x = v.check_region(x)
        level = info.data.get("level")
        if level is not None and region_level(x) != level:
            raise ValueError("地区代码与层级不一致")
        return x

    @field_validator("specialties")
    @classmethod
    def _specialties(cls, xs):
        return sorted({v.check_category(x) for x in xs})


class PersonPatch(StrictModel):
    name: str | None = Field(default=None, min_length=1, max_length=100)
    organisation: str | None = Field(default=None, min_length=1, max_length=200)
    unit: str | None = Field(default=None, min_length=2, max_length=60, description="处室")
    business_line: str | None = Field(default=None, max_length=100)
    division_cadre: bool | None = None
    certificate_no: str | None = Field(default=None, max_length=60)
    specialties: list[str] | None = Field(default=None, max_length=14)
    active: bool | None = None

    @field_validator("specialties")
    @classmethod
    def _specialties(cls, xs):
        return None if xs is None else sorted({v.check_category(x) for x in xs})


class ConflictIn(StrictModel):
    person_id: str = Field(min_length=1, max_length=32)
    uscc: str
    reason: str = Field(min_length=1, max_length=500)

    _uscc = field_validator("uscc")(lambda cls, x: v.check_uscc(x))


# ---------------------------------------------------------------- response bodies (documentation:
# what a generated client gets; the routes shape their dicts themselves)
from pydantic import BaseModel, ConfigDict  # noqa: E402


class FlagsOut(BaseModel):
    national_fail_5y: bool
    provincial_fail_2021: bool


class FlagDetailOut(BaseModel):
    source: str | None = None
    date: dt.date


class FlagDetailsOut(BaseModel):
    national_fail_5y: FlagDetailOut | None = None
    provincial_fail_2021: FlagDetailOut | None = None


class SiteOut(BaseModel):
    id: str
    uscc: str
    address: str
    region_code: str
    version: int


class LicenceOut(BaseModel):
    id: str
    number: str
    uscc: str
    category: str
    category_name: str | None = None
    product_description: str | None = None
    issue_date: dt.date
    expiry_date: dt.date
    status: str
    version: int


class EnterpriseOut(BaseModel):
    uscc: str
    name: str
    region_code: str
    region_name: str | None = None
    city_code: str
    address: str | None = None
    legal_representative: str | None = None
    contact_phone: str | None = None
    production_status: str | None = None
    flags: FlagsOut
    flag_details: FlagDetailsOut
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class EnterpriseFullOut(EnterpriseOut):
    sites: list[SiteOut]
    licences: list[LicenceOut]


class SiteListOut(BaseModel):
    items: list[SiteOut]


class LicenceListOut(BaseModel):
    items: list[LicenceOut]


class ConflictOut(BaseModel):
    id: str
    person_id: str
    uscc: str
    reason: str
    declared_by: str
    declared_at: dt.datetime


class PersonConflictOut(BaseModel):
    uscc: str
    reason: str


class PersonOut(BaseModel):
    id: str
    kind: str
    name: str
    level: str
    region_code: str
    organisation: str
    business_line: str | None = None
    division_cadre: bool
    certificate_no: str | None = None
    law_enforcement_officer: bool
    specialties: list[str]
    active: bool
    version: int
    conflicts: list[PersonConflictOut] | None = Field(default=None, description="回避的企业：详情中给出；列表中省略")


class RegionNode(BaseModel):
    code: str
    name: str
    level: str = Field(description="province / city / county")
    children: list[RegionNode] | None = None
    model_config = ConfigDict(extra="allow")


class CatalogueHeadOut(BaseModel):
    version: str
    title: str
    count: int = Field(description="产品类别数")


class CatalogueListOut(BaseModel):
    latest: str
    items: list[CatalogueHeadOut]


class CatalogueItemOut(BaseModel):
    code: str
    name: str
    food_related: bool
    hazardous: bool
    varieties: list[dict]
    varieties_confirmed: bool
    approval_authority: str
    source_needs_confirmation: bool
    approval_procedure: str | None = None
    model_config = ConfigDict(extra="allow")


class CatalogueOut(BaseModel):
    version: str
    title: str
    source: str
    categories: list[CatalogueItemOut]
    model_config = ConfigDict(extra="allow")


class LicenceChangeOut(BaseModel):
    id: str
    licence_id: str
    from_: str | None = Field(default=None, alias="from")
    to: str
    reason: str | None = None
    actor: str
    at: str
    model_config = ConfigDict(populate_by_name=True)


class LicenceHistoryOut(BaseModel):
    items: list[LicenceChangeOut]


class PopulationEnterpriseOut(BaseModel):
    uscc: str
    name: str
    region_code: str
    city_code: str | None = None
    production_status: str | None = None
    categories: list[str]
    licences: list[dict]
    flags: FlagsOut
    sites: list[dict]


class PopulationEnterprisesOut(BaseModel):
    catalogue: str
    items: list[PopulationEnterpriseOut]
    next_cursor: str | None = None
    limit: int


class PopulationPersonOut(BaseModel):
    id: str
    kind: str
    name: str
    level: str
    region_code: str
    organisation: str
    unit: str | None = None
    business_line: str | None = None
    division_cadre: bool
    certificate_no: str | None = None
    specialties: list[str]
    active: bool
    conflicts: list[PersonConflictOut]


class PopulationPeopleOut(BaseModel):
    kind: str
    items: list[PopulationPersonOut]
    next_cursor: str | None = None
    limit: int


class EnterpriseImportOut(BaseModel):
    import_id: str
    source: str | None = None
    rows: int
    enterprises: int
    sites: int
    licences: int


class PeopleImportOut(BaseModel):
    import_id: str
    source: str | None = None
    rows: int
    people: int
    inspector: int
    expert: int


RegionNode.model_rebuild()
