"""Test infrastructure: real databases (PostgreSQL when TEST_DATABASE_URL is set, SQLite files
otherwise), real NATS (the machine's, or one started here), and RS256 keys minted per run."""
from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import threading
import weakref
from pathlib import Path
from types import SimpleNamespace

import pytest

import shared.migrations as _migrations
from shared.db import normalize_url
from shared.natsproc import NatsProcess, free_port, reachable
from shared.topology import enabled_services
from tests.helpers import Keys, ProcessOutput

ROOT = Path(__file__).resolve().parents[1]
# the users of the ``demo_stack`` fixture, in the order they run at the end of the session
LIVE_STACK_TESTS = ("tests/flows/test_make_run.py", "tests/web/test_browser.py", "tests/contract/")

# test streams expire on their own if a run is cut short (teardown deletes them otherwise)
os.environ.setdefault("SPOTCHECK_EVENTS_MAX_AGE_SECONDS", "3600")


# ---------------------------------------------------------------- argon2 cost
def _cheap_argon2() -> None:
    """Argon2id with the cheapest parameters in the test process: every in-process gateway seeds
    nine demo accounts and each login verifies one, at about a second apiece on a loaded CI machine
    with the production parameters (64 MiB, 3 passes). Same algorithm and code path; hashes made
    with other parameters still verify (they carry theirs). Stacks started as subprocesses
    (`spotcheck run`) keep the production parameters."""
    from argon2 import PasswordHasher

    import gateway.passwords as passwords

    assert isinstance(passwords._hasher, PasswordHasher) and passwords._DUMMY_HASH  # renamed? adapt this
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=256, parallelism=1)  # KiB; salt and hash lengths as before
    passwords._DUMMY_HASH = passwords._hasher.hash(secrets.token_urlsafe(16))


_cheap_argon2()


# ---------------------------------------------------------------- order and selection
def pytest_collection_modifyitems(config, items):
    """1. The tests on the shared live stack (``demo_stack``) run last, so that its processes do not
    run beside the rest of the suite, in the order of LIVE_STACK_TESTS: test_make_run's read-only
    checks, then the browser walk, then the contract tests (schemathesis writes what it likes).
    2. ``SPOTCHECK_DB_TESTS_ONLY=1`` (the second pass of .ci/run, on SQLite after PostgreSQL) keeps
    only the tests that can reach the database backend: those using the ``databases`` fixture
    (directly or through another fixture), or marked ``both_backends``. Every other test (pure rules,
    documents, live stacks that always run on SQLite) runs on the first pass only."""
    def stack_rank(item) -> int:
        path = Path(str(getattr(item, "path", ""))).resolve()
        for rank, prefix in enumerate(LIVE_STACK_TESTS, start=1):
            if str(path).startswith(str(ROOT / prefix)):
                return rank
        return 1 if "demo_stack" in getattr(item, "fixturenames", ()) else 0

    items.sort(key=stack_rank)  # stable: collection order otherwise
    if os.environ.get("SPOTCHECK_DB_TESTS_ONLY") != "1":
        return
    keep, once = [], []
    for item in items:
        uses_db = "databases" in getattr(item, "fixturenames", ()) or item.get_closest_marker("both_backends")
        (keep if uses_db else once).append(item)
    if once:
        config.hook.pytest_deselected(items=once)
        items[:] = keep


# ---------------------------------------------------------------- databases
def _pg_admin_url() -> str | None:
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    return url.replace("postgresql+asyncpg://", "postgresql://")


def _run(coro):
    """Run a coroutine to completion from sync code (migrations run in a worker thread; if called
    on a thread with a running loop, use a thread of its own)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class Databases:
    """Creates one fresh database per call, drops them all at the end of the run.

    Migrated templates: the first ``upgrade_async(package, url)`` to head of a fresh database made
    here runs Alembic for real (from empty) and keeps the result as that package's template; every
    later one of a fresh database copies the template instead (``CREATE DATABASE … TEMPLATE`` on
    PostgreSQL, SQLite's backup API): the very schema and rows the migrations made, without
    running them again (seconds per test). Other revisions, and databases already migrated, go
    through Alembic (tests/shared/test_migrations.py downgrades and upgrades for real)."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.pg = _pg_admin_url()
        self.created: list[str] = []
        self.fresh: set[str] = set()  # URLs made here that no migration has touched yet
        self.templates: dict[str, str] = {}  # package -> template database (PostgreSQL name or SQLite path)
        self.stats = {"migrated": 0, "copied": 0}
        self._lock = threading.Lock()
        _ALL_DATABASES.add(self)

    @property
    def backend(self) -> str:
        return "postgresql" if self.pg else "sqlite"

    async def create(self, name: str) -> str:
        suffix = secrets.token_hex(4)
        if not self.pg:
            url = f"sqlite+aiosqlite:///{self.tmp / f'{name}-{suffix}.db'}"
            self.fresh.add(normalize_url(url))
            return url
        dbname = f"sc_test_{name}_{suffix}"
        await self._pg_execute(f'CREATE DATABASE "{dbname}"')
        self.created.append(dbname)
        base = self.pg.rsplit("/", 1)[0]
        url = f"postgresql+asyncpg://{base.split('://', 1)[1]}/{dbname}"
        self.fresh.add(normalize_url(url))
        return url

    async def _pg_execute(self, *statements: str) -> None:
        import asyncpg

        conn = await asyncpg.connect(self.pg)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    # --- migrations (called by shared.migrations.upgrade, in a worker thread)
    def upgrade(self, package: str, url: str, revision: str) -> bool:
        """Bring a fresh database made here to head; False when it is not ours to do."""
        key = normalize_url(url)
        if revision != "head" or key not in self.fresh:
            return False
        with self._lock:
            self.fresh.discard(key)
            template = self.templates.get(package)
            if template is None:
                _alembic_upgrade(package, url, revision)
                self.stats["migrated"] += 1
                self.templates[package] = self._keep_as_template(package, key)
                return True
        if self._copy_template(template, key):
            self.stats["copied"] += 1
        else:
            _alembic_upgrade(package, url, revision)
            self.stats["migrated"] += 1
        return True

    def _keep_as_template(self, package: str, key: str) -> str:
        name = f"tmpl_{package.rsplit('.', 1)[-1]}_{secrets.token_hex(4)}"
        if not self.pg:
            path = str(self.tmp / f"{name}.db")
            _sqlite_copy(key.split(":///", 1)[1], path)
            return path
        dbname = f"sc_test_{name}"
        _run(self._pg_execute(f'CREATE DATABASE "{dbname}" TEMPLATE "{key.rsplit("/", 1)[1]}"'))
        self.created.append(dbname)
        return dbname

    def _copy_template(self, template: str, key: str) -> bool:
        if not self.pg:
            _sqlite_copy(template, key.split(":///", 1)[1])
            return True
        dbname = key.rsplit("/", 1)[1]
        try:
            _run(self._pg_execute(f'DROP DATABASE "{dbname}"', f'CREATE DATABASE "{dbname}" TEMPLATE "{template}"'))
            return True
        except Exception:  # e.g. someone connected already: Alembic then, on the database as it is
            if not _run(self._pg_exists(dbname)):
                _run(self._pg_execute(f'CREATE DATABASE "{dbname}"'))
            return False

    async def _pg_exists(self, dbname: str) -> bool:
        import asyncpg

        conn = await asyncpg.connect(self.pg)
        try:
            return bool(await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname))
        finally:
            await conn.close()

    async def drop_all(self) -> None:
        _ALL_DATABASES.discard(self)
        if not self.pg or not self.created:
            return
        import asyncpg

        conn = await asyncpg.connect(self.pg)
        try:
            for name in self.created:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def _sqlite_copy(src: str, dst: str) -> None:
    """A consistent copy of a SQLite database file (the backup API, not a file copy)."""
    with contextlib.closing(sqlite3.connect(src)) as s, contextlib.closing(sqlite3.connect(dst)) as d:
        s.backup(d)


_ALL_DATABASES: weakref.WeakSet[Databases] = weakref.WeakSet()
_alembic_upgrade = _migrations.upgrade


def _upgrade(package: str, url: str, revision: str = "head") -> None:
    for dbs in list(_ALL_DATABASES):
        if dbs.upgrade(package, url, revision):
            return
    _alembic_upgrade(package, url, revision)


# upgrade_async looks ``upgrade`` up at each call: every test's migration goes through the templates
_migrations.upgrade = _upgrade


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


# ---------------------------------------------------------------- the live stack
@pytest.fixture(scope="session")
def demo_stack(tmp_path_factory, nats_url):
    """`spotcheck run` as `make run` starts it, with the demo campaign: always SQLite (its own data
    directory), free ports, its own event stream. Started once per run and shared by test_make_run,
    the browser test and the contract tests (ordered last, see pytest_collection_modifyitems).
    At the end one Ctrl-C must stop it with exit status 0 (an error at teardown otherwise)."""
    tmp = tmp_path_factory.mktemp("demo-stack")
    env = dict(os.environ)
    env.pop("TEST_DATABASE_URL", None)
    port = free_port()
    prefix = f"demo{os.getpid()}"
    env.update(SPOTCHECK_VAR_DIR=str(tmp / "var"), NATS_URL=nats_url, GATEWAY_PORT=str(port),
               SPOTCHECK_EVENTS_PREFIX=prefix, PYTHONUNBUFFERED="1", SPOTCHECK_GATEWAY_WEB_DIST=str(ROOT / "web" / "dist"))
    for name in enabled_services():
        env[f"SPOTCHECK_{name.upper()}_PORT"] = str(free_port())
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run"], env=env, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = ProcessOutput(proc).wait_for(proc, "按 Ctrl-C", timeout=600)  # after the whole demo campaign
        yield SimpleNamespace(base=f"http://127.0.0.1:{port}", port=port, tmp=tmp, lines=lines, proc=proc, env=env)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
        asyncio.run(delete_streams(nats_url, prefix))
    assert proc.returncode == 0, f"`spotcheck run` exited {proc.returncode} after one Ctrl-C"


# ---------------------------------------------------------------- tokens
@pytest.fixture(scope="session")
def keys(tmp_path_factory):
    return Keys(tmp_path_factory.mktemp("keys"))
