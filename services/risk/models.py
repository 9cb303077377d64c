"""Risk tables. Own MetaData (not SQLModel's global one).

Everything here is learnt from events (event-carried state): enterprises and licences from the
registry, facts (dated observations) from inspection, rectification, disclosure and the registry.
Indicators are computed from facts, classes from indicators with a versioned scorecard."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Date, Index, Text, text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry, utcnow
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class RiskEnterprise(Base, table=True):
    """An enterprise as the registry's events describe it (the fields indicators need)."""

    __tablename__ = "risk_enterprise"

    uscc: str = Field(primary_key=True, max_length=64)
    name: str | None = Field(default=None, max_length=200)
    region_code: str | None = Field(default=None, max_length=6, index=True)
    production_status: str | None = Field(default=None, max_length=8)
    flags: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    flag_dates: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # licence id -> {number, category, issue_date, expiry_date, status}
    licences: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RiskFact(Base, table=True):
    """One dated observation taken from an event; indicators count/sum facts in their window.

    ``ref`` names what the fact is about (a record, case or result id): an amended record or a
    corrected result replaces the facts of the same ``ref`` and ``source``."""

    __tablename__ = "risk_fact"
    __table_args__ = (Index("ix_risk_fact_uscc_kind", "uscc", "kind", "occurred_on"), Index("ix_risk_fact_ref", "source", "ref"))

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    uscc: str = Field(max_length=64)
    kind: str = Field(max_length=40)
    occurred_on: dt.date = Field(sa_column=Column(Date, nullable=False))
    value: float = Field(default=1.0)
    source: str = Field(max_length=80)  # event type that produced it
    ref: str = Field(max_length=64)
    region_code: str | None = Field(default=None, max_length=6)
    category: str | None = Field(default=None, max_length=60)
    item_code: str | None = Field(default=None, max_length=60)
    event_id: str = Field(max_length=64)


class IndicatorValue(Base, table=True):
    """The stored indicator values of an enterprise (what the scorecard reads)."""

    __tablename__ = "indicator_value"

    uscc: str = Field(primary_key=True, max_length=64)
    region_code: str | None = Field(default=None, max_length=6, index=True)
    values: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    as_of: dt.date = Field(sa_column=Column(Date, nullable=False))
    computed_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ScoreModel(Base, table=True):
    """A scorecard version: draft → proposed (published by one province admin) → adopted (by a
    second one) → superseded; or rejected. Exactly one adopted model at a time."""

    __tablename__ = "score_model"
    __table_args__ = (Index("uq_score_model_one_adopted", "status", unique=True,
                            postgresql_where=text("status = 'adopted'"), sqlite_where=text("status = 'adopted'")),)

    version: int = Field(primary_key=True)
    name: str = Field(max_length=200)
    status: str = Field(default="draft", max_length=16, index=True)
    source: str = Field(default="expert", max_length=16)  # expert | fitted
    definition: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    fit_report: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_by: str = Field(max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    proposed_by: str | None = Field(default=None, max_length=100)
    proposed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decided_by: str | None = Field(default=None, max_length=100)
    decided_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    decision_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    row_version: int = Field(default=1)


class RiskClass(Base, table=True):
    """The current class of an enterprise with the contributions that produced it."""

    __tablename__ = "risk_class"
    __table_args__ = (Index("ix_risk_class_region_class", "region_code", "risk_class"),)

    uscc: str = Field(primary_key=True, max_length=64)
    region_code: str | None = Field(default=None, max_length=6)
    risk_class: str = Field(max_length=1)
    score: float
    model_version: int
    contributions: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    as_of: dt.date = Field(sa_column=Column(Date, nullable=False))
    computed_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class ClassChange(Base, table=True):
    """Every class change, with the model version that made it and why it was recomputed."""

    __tablename__ = "class_change"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    uscc: str = Field(max_length=64, index=True)
    region_code: str | None = Field(default=None, max_length=6)
    from_class: str | None = Field(default=None, max_length=1)
    to_class: str = Field(max_length=1)
    score: float
    model_version: int
    cause: str = Field(max_length=120)  # event type, "monthly:2026-11", "model:3"
    at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class Alert(Base, table=True):
    """An early-warning alert. ``open_key`` (rule + subject) is set while the alert is open and
    unique, so a repeated trigger merges into the open alert instead of raising a duplicate."""

    __tablename__ = "risk_alert"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    rule: str = Field(max_length=40, index=True)
    open_key: str | None = Field(default=None, max_length=200, unique=True)
    subject_key: str = Field(max_length=200, index=True)  # rule + subject, kept after closing
    evidence_digest: str = Field(max_length=64)
    uscc: str | None = Field(default=None, max_length=64, index=True)
    enterprise_name: str | None = Field(default=None, max_length=200)
    region_code: str = Field(max_length=6, index=True)
    bureau_code: str = Field(max_length=6, index=True)  # responsible bureau (county, else city)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    evidence: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    occurrences: int = Field(default=1)
    status: str = Field(default="open", max_length=16, index=True)  # open | acknowledged | closed
    raised_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    last_seen_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    acknowledged_by: str | None = Field(default=None, max_length=100)
    acknowledged_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    acknowledge_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    closed_by: str | None = Field(default=None, max_length=100)
    closed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    close_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    version: int = Field(default=1)


class OpenIssue(Base, table=True):
    """An open matter of an enterprise in another service (for the 问题企业工作台帐)."""

    __tablename__ = "open_issue"
    __table_args__ = (Index("ix_open_issue_uscc", "uscc", "status"),)

    kind: str = Field(primary_key=True, max_length=40)
    ref: str = Field(primary_key=True, max_length=64)
    uscc: str = Field(max_length=64)
    region_code: str | None = Field(default=None, max_length=6, index=True)
    status: str = Field(default="open", max_length=16)  # open | closed
    summary: str = Field(sa_column=Column(Text, nullable=False))
    since: dt.date = Field(sa_column=Column(Date, nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class BatchRun(Base, table=True):
    """The monthly recomputation of a period: who ran it, when, how far (once per cluster: services.risk.batch)."""

    __tablename__ = "batch_run"

    period: str = Field(primary_key=True, max_length=16)
    holder: str = Field(max_length=100)
    status: str = Field(default="running", max_length=16)  # running | done
    started_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    enterprises: int = Field(default=0)
    changed: int = Field(default=0)
    alerts: int = Field(default=0)


metadata = _registry.metadata
kernel = KernelTables(metadata)
