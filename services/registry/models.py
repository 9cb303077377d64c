"""Registry tables. Own MetaData (not SQLModel's global one) so each service's schema stays apart.

检查对象名录库: ``enterprise`` (natural key 统一社会信用代码), ``production_site``, ``licence`` and
``licence_status_change`` (history). 执法检查人员名录库 and the expert directory share ``person``
(``kind`` inspector/expert) with ``person_specialty``; ``conflict`` holds declared conflicts of
interest. The two sampling flags of the notice live on the enterprise row (source + date each),
so the population query filters them without a join."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_registry, utcnow
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


PRODUCTION_STATUSES = ("在产", "停产", "转产", "关停")
LICENCE_STATUSES = ("有效", "暂停", "撤销", "吊销", "注销")
PERSON_KINDS = ("inspector", "expert")
LEVELS = ("province", "city", "county")


class Enterprise(Base, table=True):
    __tablename__ = "enterprise"

    uscc: str = Field(sa_column=Column(String(18), primary_key=True))
    name: str = Field(max_length=200, index=True)
    region_code: str = Field(max_length=6, index=True)
    city_code: str = Field(max_length=6, index=True)
    address: str = Field(max_length=300)
    legal_representative: str | None = Field(default=None, max_length=100)
    contact_phone: str | None = Field(default=None, max_length=40)
    production_status: str = Field(max_length=8, default="在产", index=True)
    national_fail_source: str | None = Field(default=None, max_length=300)
    national_fail_date: dt.date | None = Field(default=None)
    provincial_fail_2021_source: str | None = Field(default=None, max_length=300)
    provincial_fail_2021_date: dt.date | None = Field(default=None)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ProductionSite(Base, table=True):
    __tablename__ = "production_site"

    id: str = Field(primary_key=True, max_length=32)
    uscc: str = Field(foreign_key="enterprise.uscc", max_length=18, index=True)
    address: str = Field(max_length=300)
    region_code: str = Field(max_length=6, index=True)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Licence(Base, table=True):
    __tablename__ = "licence"
    __table_args__ = (Index("ix_licence_category_status_uscc", "category", "status", "uscc"),)

    id: str = Field(primary_key=True, max_length=32)
    number: str = Field(sa_column=Column(String(40), nullable=False, unique=True))
    uscc: str = Field(foreign_key="enterprise.uscc", max_length=18, index=True)
    category: str = Field(max_length=40)
    product_description: str | None = Field(default=None, max_length=500)
    issue_date: dt.date
    expiry_date: dt.date
    status: str = Field(max_length=4, default="有效")
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class LicenceStatusChange(Base, table=True):
    __tablename__ = "licence_status_change"

    id: str = Field(primary_key=True, max_length=32)
    licence_id: str = Field(foreign_key="licence.id", max_length=32, index=True)
    from_status: str | None = Field(default=None, max_length=4)
    to_status: str = Field(max_length=4)
    reason: str = Field(max_length=500)
    actor: str = Field(max_length=100)
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Person(Base, table=True):
    """An entry of 执法检查人员名录库 (kind inspector) or of the expert directory (kind expert)."""

    __tablename__ = "person"

    id: str = Field(primary_key=True, max_length=32)  # insp-0001 / exp-0001
    kind: str = Field(max_length=10, index=True)
    name: str = Field(max_length=100)
    level: str = Field(max_length=10)
    region_code: str = Field(max_length=6, index=True)
    organisation: str = Field(max_length=200)
    business_line: str | None = Field(default=None, max_length=100)
    unit: str | None = Field(default=None, max_length=60)  # 处室 (质量监管处, 执法稽查局 …); team leaders come from one unit
    division_cadre: bool = Field(default=False)
    certificate_no: str | None = Field(default=None, max_length=60)
    active: bool = Field(default=True, index=True)
    version: int = Field(default=1)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class PersonSpecialty(Base, table=True):
    __tablename__ = "person_specialty"

    person_id: str = Field(foreign_key="person.id", primary_key=True, max_length=32)
    category: str = Field(primary_key=True, max_length=40, index=True)


class Conflict(Base, table=True):
    """A declared conflict of interest (回避): person <-> enterprise."""

    __tablename__ = "conflict"
    __table_args__ = (UniqueConstraint("person_id", "uscc"),)

    id: str = Field(primary_key=True, max_length=32)
    person_id: str = Field(foreign_key="person.id", max_length=32, index=True)
    uscc: str = Field(max_length=18, index=True)
    reason: str = Field(max_length=500)
    declared_by: str = Field(max_length=100)
    declared_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


metadata = _registry.metadata
kernel = KernelTables(metadata)
