"""The test infrastructure's own shortcuts keep what they stand for: a database copied from a
package's migrated template has the schema and rows the migrations make; Alembic still runs for
other revisions and for databases migrated already; the second backend's pass keeps exactly the
tests that can reach the database; in-process argon2 is cheap but still argon2id."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
from sqlalchemy import inspect, text

from shared.db import make_engine
from shared.migrations import upgrade_async
from tests import conftest
from tests.conftest import Databases

PACKAGE = "services.registry"


async def _schema(url: str) -> dict:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            def read(sync_conn):
                insp = inspect(sync_conn)
                return {t: sorted((c["name"], str(c["type"])) for c in insp.get_columns(t)) for t in insp.get_table_names()}
            tables = await conn.run_sync(read)
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        return {"tables": tables, "version": version}
    finally:
        await engine.dispose()


@pytest.mark.both_backends  # its own Databases follows TEST_DATABASE_URL
async def test_a_copied_template_equals_a_migrated_database(tmp_path):
    dbs = Databases(tmp_path)
    try:
        first = await dbs.create("tmpl-a")
        await upgrade_async(PACKAGE, first)  # Alembic, from empty: becomes the template
        assert dbs.stats == {"migrated": 1, "copied": 0}
        second = await dbs.create("tmpl-b")
        await upgrade_async(PACKAGE, second)
        assert dbs.stats == {"migrated": 1, "copied": 1}
        migrated, copied = await _schema(first), await _schema(second)
        assert migrated["tables"] and "enterprise" in migrated["tables"]
        assert copied == migrated
        # a database migrated already goes through Alembic again (a no-op at head), not the template
        await upgrade_async(PACKAGE, second)
        assert dbs.stats == {"migrated": 1, "copied": 1}
        # so does any revision but head
        third = await dbs.create("tmpl-c")
        await upgrade_async(PACKAGE, third, "base")
        assert dbs.stats == {"migrated": 1, "copied": 1}
        assert "enterprise" not in (await _schema_tables(third))
    finally:
        await dbs.drop_all()


async def _schema_tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(lambda c: inspect(c).get_table_names())
    finally:
        await engine.dispose()


def _item(name, fixtures, marker=None):
    return SimpleNamespace(name=name, fixturenames=fixtures, get_closest_marker=lambda m: marker if m == "both_backends" else None)


@pytest.mark.parametrize("flag", ["1", None])
def test_second_pass_keeps_only_database_tests(monkeypatch, flag):
    if flag:
        monkeypatch.setenv("SPOTCHECK_DB_TESTS_ONLY", flag)
    else:
        monkeypatch.delenv("SPOTCHECK_DB_TESTS_ONLY", raising=False)
    items = [_item("pure", ["tmp_path"]), _item("db", ["databases", "nats_url"]), _item("live", ["nats_url"]),
             _item("marked", [], marker=object())]
    deselected = []
    config = SimpleNamespace(hook=SimpleNamespace(pytest_deselected=lambda items: deselected.extend(items)))
    conftest.pytest_collection_modifyitems(config, items)
    if flag:
        assert [i.name for i in items] == ["db", "marked"]
        assert [i.name for i in deselected] == ["pure", "live"]
    else:
        assert len(items) == 4 and not deselected


def test_argon2_in_process_is_cheap_argon2id():
    from argon2 import PasswordHasher

    from gateway.passwords import hash_secret, verify_secret_sync

    h = hash_secret("Geheim-2024")
    assert h.startswith("$argon2id$") and ",t=1," in h
    assert verify_secret_sync(h, "Geheim-2024") and not verify_secret_sync(h, "Geheim-2025")
    assert not verify_secret_sync(None, "Geheim-2024")
    production = PasswordHasher().hash("Geheim-2024")  # hashes carry their parameters
    assert verify_secret_sync(production, "Geheim-2024")
