"""Disclosure tables (一公开). Own MetaData (not SQLModel's global one)."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, BigInteger, Column, Date, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class PlanSetting(Base, table=True):
    """Per plan: its document number (晋市监〔2022〕… style) and whether it is a 定向 spot check."""

    plan_id: str = Field(primary_key=True, max_length=64)
    number: str | None = Field(default=None, max_length=100)
    directed: bool = False
    version: int = 1
    updated_by: str = Field(max_length=100)
    updated_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Result(Base, table=True):
    """One result per inspected enterprise site (one inspection record).

    status: pending 待录入 → submitted 待审核 → (returned 审核退回 → submitted …) → published 已公示
    → withdrawn 已撤回. ``public`` is the current published content (what anyone may read)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    record_id: str = Field(max_length=64, unique=True)
    task_id: str | None = Field(default=None, max_length=64)
    plan_id: str = Field(index=True, max_length=64)
    plan_name: str | None = Field(default=None, max_length=200)
    uscc: str = Field(index=True, max_length=18)
    enterprise_name: str = Field(max_length=200)
    site_id: str | None = Field(default=None, max_length=64)
    region_code: str = Field(index=True, max_length=6)
    city_code: str = Field(index=True, max_length=6)
    county_code: str | None = Field(default=None, index=True, max_length=6)
    bureau_code: str = Field(index=True, max_length=6)
    bureau_name: str = Field(max_length=100)
    completed_on: dt.date = Field(sa_column=Column(Date, nullable=False, index=True))
    due_on: dt.date | None = Field(default=None, sa_column=Column(Date, nullable=True, index=True))
    due_problem: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    inspected: bool = True
    # what the inspection (or a closed rectification case) says the result should be
    suggested: dict = Field(sa_column=Column(JSON, nullable=False))
    suggestion_source: str = Field(max_length=100)
    needs_correction: bool = False
    # the entry (录入) and the review (审核)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    follow_up: str | None = Field(default=None, max_length=40)
    remark: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    status: str = Field(default="pending", index=True, max_length=12)
    entered_by: str | None = Field(default=None, max_length=100)
    entered_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    reviewed_by: str | None = Field(default=None, max_length=100)
    reviewed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    published_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True))
    published_version: int = 0
    public: dict | None = Field(default=None, sa_column=Column(JSON, nullable=True))
    overdue_flagged_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    correction_pending: bool = False  # a correction entered and waiting for its review (at most one at a time)
    version: int = 1
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Correction(Base, table=True):
    """A correction of a published result, four eyes like the original: entered (录入) by one
    official, reviewed (审核) by another; approval publishes it as a new version that supersedes
    the previous one. status: submitted 待审核 → approved 已公示 | returned 审核退回."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    result_id: str = Field(index=True, max_length=32)
    categories: list = Field(sa_column=Column(JSON, nullable=False))
    follow_up: str = Field(max_length=40)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="submitted", index=True, max_length=12)
    entered_by: str = Field(max_length=100)
    entered_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    reviewed_by: str | None = Field(default=None, max_length=100)
    reviewed_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    review_note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    published_version: int | None = None  # the result's version this correction became


class ResultVersion(Base, table=True):
    """Every publication, correction and withdrawal: a new version, never an edit. ``seq`` is the
    feed's total order (assigned under the feed counter's row lock, so commits follow seq)."""

    __table_args__ = (UniqueConstraint("result_id", "version"),)

    seq: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    result_id: str = Field(index=True, max_length=32)
    version: int
    kind: str = Field(max_length=12)  # published | corrected | withdrawn
    content: dict = Field(sa_column=Column(JSON, nullable=False))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    actor: str = Field(max_length=100)
    at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class FeedCounter(Base, table=True):
    id: int = Field(primary_key=True)
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))


class Subscription(Base, table=True):
    """A webhook endpoint of the credit-disclosure system (Standard Webhooks v1)."""

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    url: str = Field(sa_column=Column(Text, nullable=False))
    event_types: list = Field(sa_column=Column(JSON, nullable=False))
    description: str | None = Field(default=None, max_length=500)
    # [{"secret": "whsec_…", "created_at": iso, "expires_at": iso|None}] — signing needs them in clear
    secrets: list = Field(sa_column=Column(JSON, nullable=False))
    active: bool = True
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    disabled_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    version: int = 1
    created_by: str = Field(max_length=100)
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))


class Message(Base, table=True):
    """One webhook message: its id is the ``webhook-id`` (stable across retries and replays)."""

    id: str = Field(primary_key=True, max_length=40)
    seq: int = Field(sa_column=Column(BigInteger, nullable=False, index=True))  # the feed entry it carries
    type: str = Field(max_length=60)
    body: str = Field(sa_column=Column(Text, nullable=False))  # the exact bytes signed and sent
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class Delivery(Base, table=True):
    """A message to one subscription. status: pending | succeeded | failed (retries exhausted)."""

    __table_args__ = (UniqueConstraint("subscription_id", "message_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    subscription_id: str = Field(index=True, max_length=32)
    message_id: str = Field(index=True, max_length=40)
    status: str = Field(default="pending", index=True, max_length=12)
    attempts: int = 0
    next_attempt_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True))
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_until: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    last_status: int | None = None
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    delivered_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class DeliveryAttempt(Base, table=True):
    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(index=True, max_length=32)
    subscription_id: str = Field(index=True, max_length=32)
    attempt: int
    at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    status_code: int | None = None
    latency_ms: int
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    next_attempt_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))


metadata = _registry.metadata
kernel = KernelTables(metadata)
