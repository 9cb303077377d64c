"""Inspection tables. Own MetaData (not SQLModel's global one).

Teams and tasks are event-carried copies of scheduling's state; records, their items, evidence,
signatures, amendments, problem summaries, production-status forms and team reports are this
service's own."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Date, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class Team(Base, table=True):
    """A team as carried by ``scheduling.team.formed`` / ``.amended`` / ``.member_substituted``."""

    id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    plan_name: str | None = Field(default=None, max_length=200)
    label: str | None = Field(default=None, max_length=60)
    city_code: str | None = Field(default=None, index=True, max_length=6)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    members: list = Field(sa_column=Column(JSON, nullable=False))  # the current member list
    report_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    window: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    amendment_seq: int = 0
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Membership(Base, table=True):
    """Index of ``Team.members`` for scoping in SQL (who may see and write which records)."""

    team_id: str = Field(primary_key=True, max_length=64)
    person_id: str = Field(primary_key=True, index=True, max_length=64)
    role: str | None = Field(default=None, max_length=10)
    law_enforcement: bool = False


class Task(Base, table=True):
    """One enterprise production site to inspect (``scheduling.task.dispatched``)."""

    id: str = Field(primary_key=True, max_length=64)
    team_id: str = Field(index=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    team_label: str | None = Field(default=None, max_length=60)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str | None = Field(default=None, max_length=200)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    site_id: str = Field(max_length=64)
    site_address: str | None = Field(default=None, sa_column=Column(Text))
    region_code: str = Field(index=True, max_length=6)
    city_code: str = Field(index=True, max_length=6)
    county_code: str | None = Field(default=None, index=True, max_length=6)
    visit_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    status: str = Field(default="dispatched", max_length=20)  # dispatched | accepted | cancelled
    cancel_reason: str | None = Field(default=None, sa_column=Column(Text))
    dispatched_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Licence(Base, table=True):
    """Licences as carried by ``registry.licence.*`` (prefill of the problem summary)."""

    id: str = Field(primary_key=True, max_length=64)
    uscc: str = Field(index=True, max_length=18)
    number: str = Field(max_length=60)
    category: str | None = Field(default=None, max_length=60)
    product_description: str | None = Field(default=None, sa_column=Column(Text))
    issue_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    expiry_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    status: str | None = Field(default=None, max_length=10)


class Record(Base, table=True):
    """一企一表: the record of one task (one enterprise production site)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    task_id: str = Field(max_length=64, unique=True)
    team_id: str = Field(index=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str | None = Field(default=None, max_length=200)
    site_id: str = Field(max_length=64)
    site_address: str | None = Field(default=None, sa_column=Column(Text))
    region_code: str = Field(index=True, max_length=6)
    city_code: str = Field(index=True, max_length=6)
    county_code: str | None = Field(default=None, max_length=6)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    product_type: str = Field(max_length=20)  # industrial | food_related
    checklist_version: str = Field(max_length=10)
    state: str = Field(default="open", index=True, max_length=20)  # open | sealed | not_inspected
    production_status: str = Field(max_length=20)  # producing | stopped | stopped_env
    arrived_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    present: list = Field(sa_column=Column(JSON, nullable=False))  # member dicts present at arrival
    gps: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    opened_by: str = Field(max_length=100)
    enterprise_confirmation: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    not_inspected: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    outcome: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    completed_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    sealed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    sealed_by: str | None = Field(default=None, max_length=100)
    content_hash: str | None = Field(default=None, max_length=64)  # of the sealed original
    current_hash: str | None = Field(default=None, max_length=64)  # after the last approved amendment
    amendment_count: int = 0
    version: int = 1
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ItemAnswer(Base, table=True):
    __table_args__ = (UniqueConstraint("record_id", "code"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(index=True, max_length=32)
    code: str = Field(max_length=10)
    conclusion: str | None = Field(default=None, max_length=20)  # conforming | nonconforming | not_applicable
    preset: bool = False  # pre-set 不适用 by an applicability rule (read-only)
    reason: str | None = Field(default=None, sa_column=Column(Text))  # why 不适用
    text: str | None = Field(default=None, sa_column=Column(Text))  # 检查记录
    fixed_on_site: bool = False
    fix_note: str | None = Field(default=None, sa_column=Column(Text))
    version: int = 1
    updated_by: str | None = Field(default=None, max_length=100)
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Evidence(Base, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(index=True, max_length=32)
    item_code: str | None = Field(default=None, max_length=10)
    purpose: str = Field(max_length=20)  # item | fix | not_inspected | signature | record
    sha256: str = Field(index=True, max_length=64)
    size: int
    media_type: str = Field(max_length=60)
    filename: str | None = Field(default=None, max_length=200)
    note: str | None = Field(default=None, sa_column=Column(Text))
    uploaded_by: str = Field(max_length=100)
    uploaded_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Signature(Base, table=True):
    """A present team member's confirmation of the record (检查组成员签字)."""

    __table_args__ = (UniqueConstraint("record_id", "person_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(index=True, max_length=32)
    person_id: str = Field(max_length=64)
    name: str | None = Field(default=None, max_length=100)
    role: str | None = Field(default=None, max_length=10)
    image_sha256: str | None = Field(default=None, max_length=64)
    signed_by: str = Field(max_length=100)
    signed_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Amendment(Base, table=True):
    __table_args__ = (UniqueConstraint("record_id", "seq"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(index=True, max_length=32)
    seq: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    changes: list = Field(sa_column=Column(JSON, nullable=False))
    outcome: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    status: str = Field(default="pending", max_length=10)  # pending | approved | rejected
    proposed_by: str = Field(max_length=100)
    proposed_person_id: str = Field(max_length=64)
    proposed_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    decided_by: str | None = Field(default=None, max_length=100)
    decided_person_id: str | None = Field(default=None, max_length=64)
    decided_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    content_hash: str | None = Field(default=None, max_length=64)


class ProblemSummary(Base, table=True):
    """问题汇总表 (附件1) of one sealed record."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(max_length=32, unique=True)
    task_id: str = Field(max_length=64)
    team_id: str = Field(index=True, max_length=64)
    plan_id: str = Field(max_length=64)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str | None = Field(default=None, max_length=200)
    site_id: str = Field(max_length=64)
    site_address: str | None = Field(default=None, sa_column=Column(Text))
    region_code: str = Field(index=True, max_length=6)
    city_code: str = Field(max_length=6)
    county_code: str | None = Field(default=None, max_length=6)
    licences: list = Field(sa_column=Column(JSON, nullable=False))
    products: list = Field(sa_column=Column(JSON, nullable=False))
    problems: list = Field(sa_column=Column(JSON, nullable=False))
    period_value: int
    period_unit: str = Field(max_length=20)  # working_days | days
    state: str = Field(default="draft", max_length=20)  # draft | handed_over
    team_signatures: list = Field(sa_column=Column(JSON, nullable=False))
    enterprise_confirmation: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    handed_over_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    handed_over_by: str | None = Field(default=None, max_length=100)
    version: int = 1
    created_by: str = Field(max_length=100)
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class ProductionForm(Base, table=True):
    """附件3 (steel) / 附件4 (cement) production-status form of one task's enterprise."""

    __table_args__ = (UniqueConstraint("task_id", "kind"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    kind: str = Field(max_length=10)  # steel | cement
    task_id: str = Field(max_length=64)
    plan_id: str = Field(max_length=64)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str | None = Field(default=None, max_length=200)
    region_code: str = Field(index=True, max_length=6)
    city_code: str = Field(index=True, max_length=6)
    data: dict = Field(sa_column=Column(JSON, nullable=False))
    filled_by: str = Field(max_length=100)
    filled_as: str = Field(max_length=20)  # enterprise | team
    version: int = 1
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TeamReport(Base, table=True):
    team_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(max_length=64)
    report_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    overdue: bool
    content: dict = Field(sa_column=Column(JSON, nullable=False))
    note: str | None = Field(default=None, sa_column=Column(Text))
    submitted_by: str = Field(max_length=100)
    submitted_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


metadata = _registry.metadata
kernel = KernelTables(metadata)
