"""Scheduling tables. Own MetaData (not SQLModel's global one)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Column, Date, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class Draw(Base, table=True):
    """A committed sampling draw as carried by ``sampling.draw.committed`` (never changes)."""

    draw_id: str = Field(primary_key=True, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    plan_name: str | None = Field(default=None, max_length=200)
    batch: str | None = Field(default=None, max_length=64)
    owner_region: str = Field(max_length=6)
    kind: str = Field(max_length=20)  # enterprise | inspector
    enterprise_draw_id: str | None = Field(default=None, index=True, max_length=64)
    population_digest: str | None = Field(default=None, max_length=128)
    payload_digest: str = Field(max_length=64)
    payload: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of the event data
    event_id: str = Field(max_length=64)
    received_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # sampling.draw.abandoned: the draw was declared void (reason public); no team is formed from it
    abandoned_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    abandon_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class Replacement(Base, table=True):
    """``sampling.draw.replacement_recorded``: a drawn enterprise replaced by the next ticket."""

    id: int | None = Field(default=None, primary_key=True)
    event_id: str = Field(max_length=64, unique=True)
    draw_id: str = Field(index=True, max_length=64)
    replaced_uscc: str = Field(max_length=18)
    replacement: dict = Field(sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text))
    received_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Assignment(Base, table=True):
    """One team formation for an enterprise draw; ``result`` is the pure function's canonical output.
    A formation built on a draw sampling abandoned is *voided* (kept, with when, why and which draw)
    and no longer blocks a formation of the same enterprise draw with a new inspector draw, which
    records the one it ``supersedes``; at most one effective (not voided) formation per enterprise draw."""

    __table_args__ = (
        Index("uq_assignment_effective_enterprise_draw", "enterprise_draw_id", unique=True,
              postgresql_where=text("voided_at IS NULL"), sqlite_where=text("voided_at IS NULL")),
    )

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    plan_id: str = Field(index=True, max_length=64)
    batch: str | None = Field(default=None, max_length=64)
    owner_region: str = Field(max_length=6)
    enterprise_draw_id: str = Field(max_length=64)
    inspector_draw_id: str = Field(max_length=64)
    replacement_ids: list = Field(sa_column=Column(JSON, nullable=False))
    input_digest: str = Field(max_length=64)
    result_digest: str = Field(max_length=64)
    result: str = Field(sa_column=Column(Text, nullable=False))
    algorithm_version: str = Field(max_length=16)
    team_count: int
    task_count: int
    created_by: str = Field(max_length=100)
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    # the dispatch date the visit plan counted the notice period from (an input of the pure function)
    dispatch_date: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    voided_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    void_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    voided_draw_id: str | None = Field(default=None, max_length=64)
    supersedes: str | None = Field(default=None, max_length=32)  # the voided formation this one replaces
    superseded_by: str | None = Field(default=None, max_length=32)


class Amendment(Base, table=True):
    """Every change after formation (substitution, replacement, cancellation), in order and
    hash-linked: ``hash`` = SHA-256 of the canonical JSON of {seq, kind, team_id, reason, actor, at,
    data, prev_hash}. ``verify`` replays the formation plus these against the live rows."""

    __table_args__ = (UniqueConstraint("assignment_id", "seq"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    assignment_id: str = Field(index=True, max_length=32)
    plan_id: str = Field(index=True, max_length=64)
    seq: int
    kind: str = Field(max_length=20)  # substitution | replacement | cancellation
    team_id: str | None = Field(default=None, index=True, max_length=32)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=100)
    at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    data: dict = Field(sa_column=Column(JSON, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class NotInspected(Base, table=True):
    """Drawn enterprises not inspected (停产、转产 …): 要做好详细记录，严格跟踪，并开展后续监督检查."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    plan_id: str = Field(index=True, max_length=64)
    assignment_id: str | None = Field(default=None, index=True, max_length=32)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str | None = Field(default=None, max_length=200)
    region_code: str = Field(index=True, max_length=6)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    source: str = Field(max_length=40)  # replacement | cancellation
    replaced_by: str | None = Field(default=None, max_length=18)
    amendment_id: str | None = Field(default=None, max_length=32)
    follow_up: str = Field(default="待后续监督检查", max_length=40)
    recorded_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Team(Base, table=True):
    __table_args__ = (UniqueConstraint("assignment_id", "code"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    assignment_id: str = Field(index=True, max_length=32)
    plan_id: str = Field(index=True, max_length=64)
    code: str = Field(max_length=10)
    label: str = Field(max_length=60)
    city_code: str = Field(index=True, max_length=6)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    enterprises: list = Field(sa_column=Column(JSON, nullable=False))
    report_date: dt.date = Field(sa_column=Column(Date, nullable=False))
    report_submitted_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    report_submitted_by: str | None = Field(default=None, max_length=100)
    report_summary: str | None = Field(default=None, sa_column=Column(Text))
    version: int = 1
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class TeamMember(Base, table=True):
    """A person on a team; a substituted member stays on the record with ``active`` False."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    team_id: str = Field(index=True, max_length=32)
    assignment_id: str = Field(index=True, max_length=32)
    person_id: str = Field(index=True, max_length=64)
    name: str | None = Field(default=None, max_length=100)
    role: str = Field(max_length=10)  # leader | deputy | member
    pool: str = Field(max_length=20)
    ticket: str = Field(max_length=80)
    law_enforcement: bool
    profile: dict = Field(sa_column=Column(JSON, nullable=False))  # the member dict of the assignment
    active: bool = True
    joined_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    left_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    left_reason: str | None = Field(default=None, sa_column=Column(Text))


class Substitution(Base, table=True):
    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    team_id: str = Field(index=True, max_length=32)
    replaced_person_id: str = Field(max_length=64)
    substitute_person_id: str = Field(max_length=64)
    role: str = Field(max_length=10)
    pool: str = Field(max_length=20)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(max_length=100)
    at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Task(Base, table=True):
    """One inspection task per enterprise production site, dispatched to its city/county bureau."""

    __table_args__ = (UniqueConstraint("assignment_id", "uscc", "site_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    assignment_id: str = Field(index=True, max_length=32)
    plan_id: str = Field(index=True, max_length=64)
    team_id: str = Field(index=True, max_length=32)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str | None = Field(default=None, max_length=200)
    site_id: str = Field(max_length=64)
    site_address: str | None = Field(default=None, sa_column=Column(Text))
    region_code: str = Field(index=True, max_length=6)
    city_code: str = Field(index=True, max_length=6)
    county_code: str | None = Field(default=None, index=True, max_length=6)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="dispatched", index=True, max_length=20)  # dispatched | accepted | cancelled
    cancelled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    cancel_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    amendment_id: str | None = Field(default=None, max_length=32)  # the amendment that created or cancelled it
    dispatched_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    accept_by: dt.date = Field(sa_column=Column(Date, nullable=False, index=True))
    accepted_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    accepted_by: str | None = Field(default=None, max_length=100)
    accepted_by_name: str | None = Field(default=None, max_length=100)
    accepted_by_region: str | None = Field(default=None, max_length=6)
    bureau_info: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    bureau_info_by: str | None = Field(default=None, max_length=100)
    bureau_info_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    version: int = 1


class Visit(Base, table=True):
    """A dated visit to one site ("进一次门，查多项事": all the enterprise's categories at once)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    team_id: str = Field(index=True, max_length=32)
    task_id: str = Field(index=True, max_length=32, unique=True)
    plan_id: str = Field(index=True, max_length=64)
    visit_date: dt.date = Field(sa_column=Column(Date, nullable=False, index=True))
    slot: int
    uscc: str = Field(max_length=18)
    site_id: str = Field(max_length=64)
    region_code: str = Field(index=True, max_length=6)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    cancelled: bool = Field(default=False, sa_column_kwargs={"server_default": "0"})


metadata = _registry.metadata
kernel = KernelTables(metadata)
