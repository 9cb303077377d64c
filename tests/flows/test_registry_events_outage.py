"""With NATS stopped, registry changes still commit; once NATS is back every event reaches a
downstream consumer exactly once — also across a restart of the registry service."""
from __future__ import annotations

import asyncio

from sqlalchemy import select

from services.registry.app import create_app as create_registry
from services.registry.models import kernel
from shared import audit
from shared.auth import TokenVerifier
from shared.db import Database
from shared.events.bus import EventBus
from shared.events.consumer import Consumer, ConsumerRunner
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import AUDIENCE, ISSUER, eventually, running
from tests.registry.conftest import enterprise_body


class Downstream(Consumer):
    """A stand-in downstream service: records each registry event it applies as an audit entry
    in its own database (the effect and the inbox row commit together)."""

    name = "downstream"
    subjects = ("registry.>",)
    backoff = (0.1,)

    async def handle(self, session, event):
        await audit.append(session, kernel, actor="downstream", action="applied", entity_type=event["type"], entity_id=event["id"])


async def _applied(db: Database) -> list[str]:
    async with db.session() as s:
        return list((await s.execute(select(kernel.audit.c.entity_id).where(kernel.audit.c.action == "applied"))).scalars())


async def _sent_ids(app) -> list[str]:
    async with app.state.ctx.db.session() as s:
        return list((await s.execute(select(kernel.outbox.c.id))).scalars())


async def test_registry_events_survive_nats_outage_and_restart(databases, private_nats, events_prefix, keys):
    reg_url = await databases.create("registry")
    await upgrade_async("services.registry", reg_url)
    down_url = await databases.create("downstream")
    await upgrade_async("services.registry", down_url)  # any kernel-bearing schema serves as the downstream's
    settings = settings_for("registry", database_url=reg_url, nats_url=private_nats.url, events_prefix=events_prefix,
                            relay_interval_seconds=0.1)
    verifier = TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks)
    admin = keys.headers(roles=["province_admin"], region="140000")

    private_nats.stop()
    app = create_registry(settings, verifier=verifier)
    async with running(app) as client:
        for _ in range(3):
            r = await client.post("/enterprises", json=enterprise_body(), headers=admin)
            assert r.status_code == 201, r.text  # NATS is down: the change still commits
        await asyncio.sleep(0.5)
        assert await app.state.ctx.relay.pending() >= 3
        ready = (await client.get("/ready")).json()
        assert ready["nats_connected"] is False and ready["outbox_pending"] >= 3

    # NATS returns while the registry is stopped; the registry restarts and catches up
    private_nats.start()
    down_db = Database(down_url)
    bus = EventBus(private_nats.url, events_prefix)
    runner = ConsumerRunner(down_db, kernel, bus, [Downstream()])
    runner.start()
    app2 = create_registry(settings, verifier=verifier)
    async with running(app2) as client:
        r = await client.post("/enterprises", json=enterprise_body(county="140212"), headers=admin)
        assert r.status_code == 201
        expected = await _sent_ids(app2)
        await eventually(lambda: _count_is(down_db, len(expected)), timeout=60)
        assert await app2.state.ctx.relay.pending() == 0

    # the consumer restarts too: nothing is applied twice
    await runner.stop()
    await bus.close()
    bus2 = EventBus(private_nats.url, events_prefix)
    runner2 = ConsumerRunner(down_db, kernel, bus2, [Downstream()])
    runner2.start()
    await asyncio.sleep(1.0)
    applied = await _applied(down_db)
    assert sorted(applied) == sorted(expected)  # every event exactly once
    await runner2.stop()
    await bus2.close()
    await down_db.dispose()


async def _count_is(db, n):
    return len(await _applied(db)) == n
