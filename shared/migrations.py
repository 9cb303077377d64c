"""Alembic helpers: every service keeps its migrations in ``<package>/migrations``.

Schemas are only ever made by migrations, in tests too.
"""
from __future__ import annotations

import asyncio
import importlib
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import MetaData, pool
from sqlalchemy.ext.asyncio import create_async_engine

from .db import is_sqlite, normalize_url


def alembic_config(package: str, url: str) -> Config:
    """Alembic config for the service whose python package is ``package``."""
    module = importlib.import_module(package)
    script_location = Path(module.__file__).parent / "migrations"
    cfg = Config()
    cfg.set_main_option("script_location", str(script_location))
    cfg.set_main_option("sqlalchemy.url", normalize_url(url).replace("%", "%%"))
    cfg.attributes["configure_logger"] = False
    return cfg


def upgrade(package: str, url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(package, url), revision)


async def upgrade_async(package: str, url: str, revision: str = "head") -> None:
    await asyncio.to_thread(upgrade, package, url, revision)


def check(package: str, url: str) -> None:
    """Raise if the models and the migrations disagree (``alembic check``)."""
    command.check(alembic_config(package, url))


MIGRATION_LOCK_KEY = 0x5370_6F74  # "Spot": the advisory lock every migration run holds on PostgreSQL

KERNEL_TABLE_NAMES = ("audit_entry", "idempotency_key", "inbox", "outbox", "parked_message")


def create_kernel_tables() -> None:
    """In a service's initial migration: the kernel tables (outbox, inbox, parked messages,
    audit trail, idempotency keys) exactly as ``shared.tables.KernelTables`` declares them, so
    their definition lives in one place. A later change to them ships as a new kernel function
    called from a new migration of every service."""
    from alembic import op

    from .db import new_metadata
    from .tables import KernelTables

    kernel = KernelTables(new_metadata())
    bind = op.get_bind()
    for table in (kernel.audit, kernel.idempotency, kernel.inbox, kernel.outbox, kernel.parked):
        table.create(bind)


def drop_kernel_tables() -> None:
    from alembic import op

    for name in reversed(KERNEL_TABLE_NAMES):
        op.drop_table(name)


def run_env(context, target_metadata: MetaData) -> None:
    """Body of every service's ``migrations/env.py``."""
    url = context.config.get_main_option("sqlalchemy.url")
    opts = dict(
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    if context.is_offline_mode():
        context.configure(url=url, literal_binds=True, **opts)
        with context.begin_transaction():
            context.run_migrations()
        return

    def do_run(connection):
        context.configure(connection=connection, **opts)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                # replicas (init containers) migrating at once: one at a time, the others then find it done
                connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
            context.run_migrations()

    async def run_async():
        engine = create_async_engine(url, poolclass=pool.NullPool)
        async with engine.connect() as connection:
            await connection.run_sync(do_run)
        await engine.dispose()

    asyncio.run(run_async())


__all__ = ["alembic_config", "upgrade", "upgrade_async", "check", "run_env", "is_sqlite"]
