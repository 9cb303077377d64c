"""Every database is made by its migrations, and the migrations match the models (`alembic check`)."""
from __future__ import annotations

import asyncio

import pytest

from shared.migrations import check, upgrade_async

PACKAGES = ["gateway", "services.registry", "services.sampling", "services.scheduling"]


@pytest.mark.parametrize("package", PACKAGES)
async def test_migrations_match_models(databases, package):
    url = await databases.create(package.rsplit(".", 1)[-1])
    await upgrade_async(package, url)
    await asyncio.to_thread(check, package, url)  # raises when autogenerate would find a difference
