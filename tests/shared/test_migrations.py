"""Every database is made by its migrations, the migrations match the models (`alembic check`),
and they go down to nothing and up again."""
from __future__ import annotations

import asyncio

import pytest
from alembic import command

from shared.migrations import alembic_config, check, upgrade_async
from shared.topology import SERVICES, enabled_services

PACKAGES = ["gateway", *(SERVICES[name][0] for name in enabled_services())]


@pytest.mark.parametrize("package", PACKAGES)
async def test_migrations_match_models_and_round_trip(databases, package):
    url = await databases.create(package.rsplit(".", 1)[-1])
    await upgrade_async(package, url)
    await asyncio.to_thread(check, package, url)  # raises when autogenerate would find a difference
    cfg = alembic_config(package, url)
    await asyncio.to_thread(command.downgrade, cfg, "base")
    await upgrade_async(package, url)
    await asyncio.to_thread(check, package, url)
