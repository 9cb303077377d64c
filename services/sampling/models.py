"""Sampling tables: plans, draws (frozen population, seed ceremony, result), units, replacements."""
from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import JSON, Column, Index, Text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry, utcnow
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class SamplingPlan(Base, table=True):
    __tablename__ = "sampling_plan"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(max_length=200)
    batch: str = Field(max_length=60)
    owner_region: str = Field(max_length=6, index=True)
    catalogue: str = Field(max_length=8)
    licence_status: str = Field(default="有效", max_length=8)
    settings: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    rules: list[dict[str, Any]] = Field(sa_column=Column(JSON, nullable=False))
    source: str | None = Field(default=None, max_length=100)
    status: str = Field(default="draft", max_length=16)  # draft | approved
    version: int = Field(default=1)
    created_by: str = Field(max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    approved_by: str | None = Field(default=None, max_length=100)
    approved_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    # the template the plan came from (e.g. notice-2022-181) and its rules/settings at creation:
    # every later difference is a deviation that needs a recorded reason (deviations.py)
    template: str | None = Field(default=None, max_length=60)
    template_baseline: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    editors: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]"))
    deviation_reasons: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))


class Draw(Base, table=True):
    __tablename__ = "draw"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    plan_id: str = Field(foreign_key="sampling_plan.id", max_length=32, index=True)
    kind: str = Field(max_length=16)  # enterprise | inspector
    enterprise_draw_id: str | None = Field(default=None, max_length=32)
    owner_region: str = Field(max_length=6, index=True)
    # created -> frozen -> seed_entered -> seeded -> committed
    status: str = Field(default="created", max_length=16)
    plan_snapshot: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    strata: list[dict[str, Any]] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    population_count: int | None = Field(default=None)
    population_digest: str | None = Field(default=None, max_length=64)
    frozen_by: str | None = Field(default=None, max_length=100)
    frozen_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    seed: str | None = Field(default=None, max_length=200)
    beacon: str | None = Field(default=None, max_length=500)
    seed_entered_by: str | None = Field(default=None, max_length=100)
    seed_entered_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    seed_confirmed_by: str | None = Field(default=None, max_length=100)
    seed_confirmed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    algorithm: str | None = Field(default=None, max_length=60)
    algorithm_version: str | None = Field(default=None, max_length=120)
    committed_by: str | None = Field(default=None, max_length=100)
    committed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    result_digest: str | None = Field(default=None, max_length=64)
    # attempts: the n-th draw of this kind for the plan; at most one is not abandoned
    attempt: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    abandoned_by: str | None = Field(default=None, max_length=100)
    abandoned_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    abandon_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status_before_abandon: str | None = Field(default=None, max_length=16)
    version: int = Field(default=1)


class DrawUnit(Base, table=True):
    """One unit of a frozen population (an enterprise, or a person in one pool)."""

    __tablename__ = "draw_unit"
    __table_args__ = (Index("ix_draw_unit_order", "draw_id", "stratum", "ticket"),)

    draw_id: str = Field(foreign_key="draw.id", primary_key=True, max_length=32)
    unit_id: str = Field(primary_key=True, max_length=64)
    stratum: str = Field(primary_key=True, max_length=200)
    data: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    ticket: str | None = Field(default=None, max_length=100)
    position: int | None = Field(default=None)  # 1-based place in its stratum's ticket order
    selected: bool = Field(default=False)


class Replacement(Base, table=True):
    __tablename__ = "replacement"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    draw_id: str = Field(foreign_key="draw.id", max_length=32, index=True)
    stratum: str = Field(max_length=200)
    replaced_uscc: str = Field(max_length=64)
    replacement_uscc: str = Field(max_length=64)
    replacement_ticket: str = Field(max_length=100)
    replacement_position: int
    reason: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: str = Field(max_length=100)
    recorded_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


metadata = _registry.metadata
kernel = KernelTables(metadata)
