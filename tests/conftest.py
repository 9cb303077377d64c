"""Test infrastructure: real databases (PostgreSQL when TEST_DATABASE_URL is set, SQLite files
otherwise), real NATS (the machine's, or one started here), and RS256 keys minted per run."""
from __future__ import annotations

import os
import secrets
from pathlib import Path

import pytest

from shared.natsproc import NatsProcess, reachable
from tests.helpers import Keys

# test streams expire on their own if a run is cut short (teardown deletes them otherwise)
os.environ.setdefault("SPOTCHECK_EVENTS_MAX_AGE_SECONDS", "3600")


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


async def delete_streams(nats_url: str, *prefixes: str) -> None:
    """Delete the JetStream streams of these event prefixes (a test's own), if they exist."""
    import nats
    from nats.js.errors import NotFoundError

    from shared.events.envelope import stream_name

    try:
        nc = await nats.connect(nats_url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False)
    except Exception:
        return
    try:
        js = nc.jetstream(timeout=5)
        for prefix in prefixes:
            try:
                await js.delete_stream(stream_name(prefix))
            except NotFoundError:
                pass
    finally:
        await nc.close()


@pytest.fixture
async def events_prefix(nats_url):
    """A subject prefix (and so a stream) of this test's own, deleted at teardown."""
    prefix = f"t{secrets.token_hex(5)}"
    yield prefix
    await delete_streams(nats_url, prefix)


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
