"""Test infrastructure: real databases (PostgreSQL when TEST_DATABASE_URL is set, SQLite files
otherwise), real NATS (the machine's, or one started here), and RS256 keys minted per run."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from shared.natsproc import NatsProcess, reachable
from tests.helpers import Keys


# ---------------------------------------------------------------- databases
def _pg_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    return url.replace("postgresql+asyncpg://", "postgresql://")


class Databases:
    """Creates one fresh database per call, drops them all at the end of the run."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.pg = _pg_admin_url()
        self.created: list[str] = []

    @property
    def backend(self) -> str:
        return "postgresql" if self.pg else "sqlite"

    async def create(self, name: str) -> str:
        suffix = secrets.token_hex(4)
        if not self.pg:
            return f"sqlite+aiosqlite:///{self.tmp / f'{name}-{suffix}.db'}"
        import asyncpg

        dbname = f"sc_test_{name}_{suffix}"
        conn = await asyncpg.connect(self.pg)
        try:
            await conn.execute(f'CREATE DATABASE "{dbname}"')
        finally:
            await conn.close()
        self.created.append(dbname)
        base = self.pg.rsplit("/", 1)[0]
        return f"postgresql+asyncpg://{base.split('://', 1)[1]}/{dbname}"

    async def drop_all(self) -> None:
        if not self.pg or not self.created:
            return
        import asyncpg

        conn = await asyncpg.connect(self.pg)
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


@pytest.fixture(scope="session")
async def databases(tmp_path_factory):
    dbs = Databases(tmp_path_factory.mktemp("db"))
    yield dbs
    await dbs.drop_all()


# ---------------------------------------------------------------- NATS
@pytest.fixture(scope="session")
def nats_url(tmp_path_factory):
    url = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
    if reachable(url):
        yield url
        return
    proc = NatsProcess(tmp_path_factory.mktemp("nats")).start()
    yield proc.url
    proc.stop()


@pytest.fixture
def events_prefix():
    """A subject prefix (and so a stream) of this test's own."""
    return f"t{secrets.token_hex(5)}"


@pytest.fixture
def private_nats(tmp_path):
    """A NATS server this test may stop and start again (its store survives restarts)."""
    proc = NatsProcess(tmp_path / "nats-store").start()
    yield proc
    proc.stop()


# ---------------------------------------------------------------- tokens
@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("keys"))
