"""Async database access: one database per service, SQLite by default, PostgreSQL by URL."""
from __future__ import annotations

import datetime as dt
import os
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData, event, text, types
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import registry as sa_registry

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def new_metadata() -> MetaData:
    return MetaData(naming_convention=NAMING_CONVENTION)


def new_registry() -> sa_registry:
    """A SQLAlchemy registry with its own MetaData, so each service's tables stay apart."""
    return sa_registry(metadata=new_metadata())


def new_id() -> str:
    """Time-ordered 26-char id (ms timestamp + randomness), sortable as a string."""
    ms = int(time.time() * 1000)
    return f"{ms:012x}{secrets.token_hex(7)}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(types.TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = types.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(dt.UTC)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


def normalize_url(url: str) -> str:
    """Accept plain driver URLs and pick the async driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url[len("postgresql://"):]
    if url.startswith("postgresql+psycopg2://"):
        return "postgresql+asyncpg://" + url[len("postgresql+psycopg2://"):]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def is_sqlite(url: str) -> bool:
    return normalize_url(url).startswith("sqlite")


def _wal(cur, attempts: int = 300) -> None:
    """WAL mode, set once per database file (it persists). Switching needs a moment alone with the
    file and SQLite answers "database is locked" at once instead of waiting when another connection
    is busy (seen with two replicas opening one fresh file together), so wait and try again; a file
    already in WAL mode (every one after its first connection) is not switched again."""
    for attempt in range(attempts):
        try:
            cur.execute("PRAGMA journal_mode")
            if str(cur.fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except Exception as exc:  # sqlite3's OperationalError, or the same through the aiosqlite adapter
            if "locked" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.1)


def make_engine(url: str, **kwargs) -> AsyncEngine:
    url = normalize_url(url)
    if is_sqlite(url):
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA busy_timeout=30000")
            _wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.close()

        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 10)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """Engine + session factory of one service."""

    def __init__(self, url: str):
        self.url = normalize_url(url)
        self.engine = make_engine(self.url)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        async with self.sessionmaker() as session:
            yield session

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session inside one transaction: commit on success, roll back on any error.

        On SQLite the transaction takes the database's write lock when it starts (``BEGIN IMMEDIATE``).
        The driver would otherwise begin it only at the first write, so the reads before it ran outside
        the transaction: two requests could both read version N, both pass their ``If-Match`` check and
        both write, the second overwriting the first (``FOR UPDATE`` does nothing on SQLite). Writers
        wait for each other (``busy_timeout``) instead; readers are not held up (WAL)."""
        async with self.sessionmaker() as session:
            async with session.begin():
                if self.sqlite:
                    await session.execute(text("BEGIN IMMEDIATE"))
                yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


async def insert_missing(session: AsyncSession, table, values: dict) -> None:
    """``INSERT … ON CONFLICT DO NOTHING`` (PostgreSQL and SQLite): the row exists afterwards, whoever
    inserted it. Two transactions adding the same new key both succeed; on PostgreSQL the second
    waits for the first to commit (the unique index), so a ``FOR UPDATE`` read after it sees that row."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    await session.execute(insert(table).values(**values).on_conflict_do_nothing())


async def first_or_404(session: AsyncSession, query, what: str, ident: str, *, for_update: bool = False):
    """The first row of a query already scoped to the caller (jurisdiction in its WHERE), else a
    404 problem — a resource outside the caller's region is not revealed to exist."""
    from .errors import not_found

    if for_update:
        query = query.with_for_update()
    row = (await session.execute(query)).first()
    if row is None:
        raise not_found(what, ident)
    return row
