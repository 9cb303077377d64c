"""Rectification tables. Own MetaData (not SQLModel's global one)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Date, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class Case(Base, table=True):
    """One rectification case per handed-over problem summary (one enterprise production site).

    ``status``: open (待整改) → reported (企业已报告整改) → closed (复查通过/处理决定), or failed
    (复查不合格) → closed by an outcome. ``overdue`` is set by the sweep when the deadline passes
    while the case is still open; it stays on the record."""

    __tablename__ = "rect_case"
    __table_args__ = (
        Index("ix_rect_case_sweep", "status", "overdue", "deadline"),
        Index("ix_rect_case_remind", "status", "remind_on"),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    summary_id: str = Field(max_length=64, unique=True)
    record_id: str = Field(max_length=64, index=True)
    task_id: str | None = Field(default=None, max_length=64)
    plan_id: str | None = Field(default=None, max_length=64, index=True)
    uscc: str = Field(max_length=18, index=True)
    enterprise_name: str = Field(max_length=200)
    site_id: str | None = Field(default=None, max_length=64)
    site_address: str | None = Field(default=None, sa_column=Column(Text))
    region_code: str = Field(max_length=6, index=True)
    city_code: str = Field(max_length=6, index=True)
    county_code: str | None = Field(default=None, max_length=6, index=True)
    licences: list = Field(sa_column=Column(JSON, nullable=False))
    period_value: int
    period_unit: str = Field(max_length=20)  # working_days | days
    handed_over_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    deadline: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    deadline_problem: str | None = Field(default=None, sa_column=Column(Text))  # e.g. a calendar year not loaded
    remind_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    reminded_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    status: str = Field(default="open", max_length=12)
    overdue: bool = False
    overdue_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    problems_total: int = 0
    problems_open: int = 0
    recheck_passed: bool | None = None
    rechecked_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    resolution: str | None = Field(default=None, max_length=30)
    closed_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    opened_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    event_id: str = Field(max_length=64)
    version: int = 1


class CaseProblem(Base, table=True):
    """A numbered problem of the summary. status: open | reported | fixed_on_site | accepted."""

    __tablename__ = "rect_problem"
    __table_args__ = (UniqueConstraint("case_id", "no"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(max_length=32, index=True)
    no: int
    item_code: str | None = Field(default=None, max_length=40)
    text: str = Field(sa_column=Column(Text, nullable=False))
    fixed_on_site: bool = False
    status: str = Field(default="open", max_length=16)
    evidence: list = Field(sa_column=Column(JSON, nullable=False))  # sha256 of the inspection's evidence
    report_text: str | None = Field(default=None, sa_column=Column(Text))
    report_evidence: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    reported_by: str | None = Field(default=None, max_length=100)
    reported_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class CaseAction(Base, table=True):
    """The case's timeline: enterprise reports, county handling, city rechecks, reminders, flags."""

    __tablename__ = "rect_action"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=20)  # report | handling | recheck | reminder | overdue | outcome
    problem_no: int | None = None
    measure: str | None = Field(default=None, max_length=30)  # handling: order_correction | interview | follow_up
    passed: bool | None = None
    on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    text: str | None = Field(default=None, sa_column=Column(Text))
    people: list | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    evidence: list = Field(sa_column=Column(JSON, nullable=False))
    actor: str = Field(max_length=100)
    actor_name: str | None = Field(default=None, max_length=100)
    actor_region: str | None = Field(default=None, max_length=6)
    at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class CaseEvidence(Base, table=True):
    """An evidence file uploaded to a case (the bytes live in the content-addressed store)."""

    __tablename__ = "rect_evidence"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(max_length=32, index=True)
    sha256: str = Field(max_length=64, index=True)
    media_type: str = Field(max_length=40)
    size: int
    filename: str | None = Field(default=None, max_length=200)
    uploaded_by: str = Field(max_length=100)
    # who put the file on the case: "enterprise", "bureau", or "both" (the same bytes uploaded by each side);
    # an enterprise sees its own uploads and files attached to what it can see (``cases.enterprise_visible``)
    uploaded_as: str = Field(default="bureau", max_length=10, sa_column_kwargs={"server_default": "bureau"})
    uploaded_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Outcome(Base, table=True):
    """A legal outcome: proposed, then decided (or rejected) by another official."""

    __tablename__ = "rect_outcome"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    case_id: str = Field(max_length=32, index=True)
    kind: str = Field(max_length=20)
    basis_code: str = Field(max_length=40)
    legal_basis: str = Field(sa_column=Column(Text, nullable=False))  # the articles cited, as recorded
    facts: str = Field(sa_column=Column(Text, nullable=False))
    receiving_body: str | None = Field(default=None, max_length=200)
    evidence: list = Field(sa_column=Column(JSON, nullable=False))
    licences: list = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="proposed", max_length=12)  # proposed | decided | rejected
    proposed_by: str = Field(max_length=100)
    proposed_by_name: str | None = Field(default=None, max_length=100)
    proposed_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    decided_by: str | None = Field(default=None, max_length=100)
    decided_by_name: str | None = Field(default=None, max_length=100)
    decided_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decision_note: str | None = Field(default=None, sa_column=Column(Text))
    version: int = 1


metadata = _registry.metadata
kernel = KernelTables(metadata)
