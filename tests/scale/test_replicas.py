"""Replicas against one database: outbox relays never publish a row twice, and a timer has one
leader per cluster (PostgreSQL: these promises are about several processes on one database)."""
from __future__ import annotations

import asyncio
import json

import nats
import pytest

from services.registry.models import kernel
from shared.db import Database, utcnow
from shared.events.bus import EventBus
from shared.events.outbox import OutboxRelay
from shared.leader import Leadership
from shared.migrations import upgrade_async

pytestmark = pytest.mark.asyncio


def _needs_postgres(databases):
    if databases.backend != "postgresql":
        pytest.skip("several replicas on one database: PostgreSQL only (TEST_DATABASE_URL)")


class CountingBus(EventBus):
    """The real bus; counts what this relay hands to JetStream."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.calls = 0

    async def jetstream(self):
        js = await super().jetstream()
        bus = self

        class Counting:
            async def publish(self, *a, **kw):
                bus.calls += 1
                return await js.publish(*a, **kw)

        return Counting()


async def test_two_relays_publish_each_row_once(databases, nats_url, events_prefix):
    _needs_postgres(databases)
    url = await databases.create("relays")
    await upgrade_async("services.registry", url)
    db = Database(url)
    n = 600
    async with db.transaction() as s:
        for i in range(n):
            await s.execute(kernel.outbox.insert().values(
                id=f"ev-{i:05d}", seq=i, subject=f"{events_prefix}.registry.test.made",
                payload=json.dumps({"id": f"ev-{i:05d}", "data": {"i": i}}), created_at=utcnow(), attempts=0))
    buses = [CountingBus(nats_url, events_prefix) for _ in range(2)]
    relays = [OutboxRelay(Database(url), kernel, b, batch=50) for b in buses]

    async def drain(relay):
        while await relay.publish_pending():
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(drain(r) for r in relays))
        assert sum(b.calls for b in buses) == n  # no row handed to JetStream twice
        assert all(b.calls > 0 for b in buses)  # both replicas took part
        assert await relays[0].pending() == 0
        nc = await nats.connect(nats_url)
        info = await nc.jetstream().stream_info(events_prefix.upper())
        assert info.state.messages == n
        await nc.jetstream().delete_stream(events_prefix.upper())
        await nc.close()
    finally:
        for r, b in zip(relays, buses):
            await r.db.dispose()
            await b.close()
        await db.dispose()


async def test_one_leader_per_cluster_and_failover(databases):
    _needs_postgres(databases)
    url = await databases.create("leader")
    a_db, b_db = Database(url), Database(url)
    a, b = Leadership(a_db, "sweep"), Leadership(b_db, "sweep")
    other = Leadership(b_db, "another-timer")
    try:
        assert await a.held() is True
        assert await b.held() is False  # the second replica does not run the timer
        assert await a.held() is True  # and the first keeps it
        assert await other.held() is True  # a different timer has its own leader
        await a._drop()  # the leader's process dies: its connection closes
        assert await b.held() is True  # the next tick of the other replica takes over
    finally:
        await a.release()
        await a_db.dispose()
        await b.release()
        await other.release()
        await b_db.dispose()


async def test_sqlite_has_one_process_that_leads(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    assert await Leadership(db, "sweep").held() is True
    await db.dispose()
