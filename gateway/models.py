"""Gateway tables: people's accounts, their roles, machine clients and refresh tokens.
Own MetaData (not SQLModel's global one); migrations are the only schema source."""
from __future__ import annotations

import datetime as dt

from sqlalchemy import Column, Index, text
from sqlmodel import Field, SQLModel

from shared.db import UTCDateTime, new_id, new_registry, utcnow
from shared.tables import KernelTables

_registry = new_registry()


class Base(SQLModel, registry=_registry):
    pass


class User(Base, table=True):
    """A person's account (省/市/县局 staff, 执法人员, 技术专家, 纪检监察, 企业)."""

    __tablename__ = "user_account"
    # one active account per directory person (the gateway checks first; this holds under concurrency)
    __table_args__ = (Index("uq_user_account_active_person", "person_id", unique=True,
                            postgresql_where=text("active AND person_id IS NOT NULL"),
                            sqlite_where=text("active AND person_id IS NOT NULL")),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    username: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    password_hash: str = Field(max_length=200)
    display_name: str = Field(max_length=100)
    region_code: str = Field(max_length=6, index=True)
    level: str = Field(max_length=10)
    organisation: str | None = Field(default=None, max_length=200)
    uscc: str | None = Field(default=None, max_length=18)
    person_id: str | None = Field(default=None, max_length=64)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_by: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    password_changed_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class UserRole(Base, table=True):
    """One row per role a user holds (a user may hold several)."""

    __tablename__ = "user_role"

    user_id: str = Field(foreign_key="user_account.id", primary_key=True, max_length=32)
    role: str = Field(primary_key=True, max_length=32)


class MachineClient(Base, table=True):
    """Another system calling with client credentials (政府系统、信用公示系统)."""

    __tablename__ = "machine_client"

    client_id: str = Field(primary_key=True, max_length=64)
    secret_hash: str = Field(max_length=200)
    name: str = Field(max_length=100)
    role: str = Field(max_length=32)
    region_code: str = Field(default="140000", max_length=6)
    active: bool = Field(default=True)
    version: int = Field(default=1)
    created_by: str | None = Field(default=None, max_length=100)
    created_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))


class RefreshToken(Base, table=True):
    """Opaque refresh tokens, stored as SHA-256 of the token. Rotated on each use; all tokens
    descending from one login share a ``family_id`` so reuse of a rotated one revokes them all."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_family", "family_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(max_length=64, sa_column_kwargs={"unique": True}, nullable=False)
    family_id: str = Field(max_length=32)
    user_id: str = Field(foreign_key="user_account.id", max_length=32, index=True)
    issued_at: dt.datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    rotated_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_at: dt.datetime | None = Field(default=None, sa_column=Column(UTCDateTime(), nullable=True))
    revoked_reason: str | None = Field(default=None, max_length=100)


class LoginThrottleRow(Base, table=True):
    """Login attempts of one key (``user:<name>``, ``client:<id>``, ``ip:<address>``) in its
    current window, shared by every gateway replica (gateway.throttle). A key with ``attempts``
    at the limit is locked out until ``expires_at``; expired rows are purged."""

    __tablename__ = "login_throttle"

    key: str = Field(primary_key=True, max_length=200)
    attempts: int = Field(default=0)
    window_start: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False))
    expires_at: dt.datetime = Field(sa_column=Column(UTCDateTime(), nullable=False, index=True))


metadata = _registry.metadata
kernel = KernelTables(metadata)
