"""Same population and seed → the same draw, byte for byte, on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import os
import socket

import pytest

from services.sampling.app import create_app
from services.sampling.population import StaticPopulation
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.conftest import Databases
from tests.helpers import running
from tests.sampling import population
from tests.sampling.test_draws import approved_plan, committed_draw, h

PG = os.environ.get("TEST_DATABASE_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"


def _pg_reachable() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL") or not _pg_reachable(),
                    reason="cross-backend check runs only with TEST_DATABASE_URL (the SQLite run leaves PostgreSQL alone)")
async def test_draw_is_byte_identical_on_sqlite_and_postgresql(tmp_path, nats_url, events_prefix, keys, monkeypatch):
    exports = {}
    for backend in ("sqlite", "postgresql"):
        if backend == "sqlite":
            monkeypatch.delenv("TEST_DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("TEST_DATABASE_URL", PG)
        dbs = Databases(tmp_path)
        url = await dbs.create("sampling")
        assert url.startswith(backend)
        try:
            await upgrade_async("services.sampling", url)
            app = create_app(
                settings_for("sampling", database_url=url, nats_url=nats_url, events_prefix=events_prefix),
                population_source=StaticPopulation(population.enterprises(300), population.people()),
                verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks),
            )
            async with running(app) as c:
                plan = await approved_plan(c, keys)
                d = await committed_draw(c, keys, plan["id"])
                j = await c.get(f"/draws/{d['id']}/export", params={"format": "json"}, headers=h(keys))
                v = await c.get(f"/draws/{d['id']}/export", params={"format": "csv"}, headers=h(keys))
                exports[backend] = (j.json(), v.content)
        finally:
            await dbs.drop_all()
    (js, cs), (jp, cp) = exports["sqlite"], exports["postgresql"]
    assert cs == cp  # the CSV export, byte for byte
    js.pop("record"), jp.pop("record")  # ids and times of the two runs
    assert json.dumps(js, sort_keys=True, ensure_ascii=False) == json.dumps(jp, sort_keys=True, ensure_ascii=False)
    assert sum(1 for u in js["population"] if u["selected"]) > 0
