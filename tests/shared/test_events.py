"""Outbox + relay + consumer against a real NATS server, including NATS going away."""
from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from services.registry.models import kernel
from shared import audit
from shared.db import Database
from shared.events.bus import EventBus
from shared.events.consumer import Consumer, ConsumerRunner
from shared.events.outbox import OutboxRelay, emit
from shared.migrations import upgrade_async
from tests.conftest import delete_streams
from tests.helpers import eventually


class CountingConsumer(Consumer):
    """Its effect is one audit entry per event, written in the consumer's transaction."""

    name = "counting"
    subjects = ("registry.>",)
    fail_times: dict[str, int] = {}

    def __init__(self, fail_first: int = 0, always_fail: bool = False):
        self.fail_first = fail_first
        self.always_fail = always_fail
        self.calls = 0
        self.backoff = (0.05,)

    async def handle(self, session, event):
        self.calls += 1
        if self.always_fail or self.calls <= self.fail_first:
            raise RuntimeError("simulated failure")
        await audit.append(session, kernel, actor="consumer", action="consumed", entity_type="event", entity_id=event["id"])


async def _effects(db: Database) -> list[str]:
    t = kernel.audit
    async with db.session() as s:
        rows = (await s.execute(select(t.c.entity_id).where(t.c.action == "consumed"))).all()
    return [r.entity_id for r in rows]


async def _emit(db: Database, prefix: str, n: int) -> list[str]:
    ids = []
    for i in range(n):
        async with db.transaction() as s:
            ev = await emit(s, kernel, "registry", "enterprise", "registered", {"n": i}, prefix=prefix)
            ids.append(ev["id"])
    return ids


async def test_events_survive_nats_outage_and_restart(databases, private_nats, events_prefix):
    url = await databases.create("events")
    await upgrade_async("services.registry", url)
    db = Database(url)

    # NATS is down: changes still commit, events wait in the outbox
    private_nats.stop()
    bus = EventBus(private_nats.url, events_prefix)
    relay = OutboxRelay(db, kernel, bus, interval=0.05)
    relay.start()
    ids = await _emit(db, events_prefix, 5)
    await asyncio.sleep(0.5)
    assert await relay.pending() == 5

    # NATS returns: the relay publishes, the consumer applies each event once
    private_nats.start()
    consumer = CountingConsumer(fail_first=2)
    runner = ConsumerRunner(db, kernel, bus, [consumer])
    runner.start()
    await eventually(lambda: _check_count(db, 5), timeout=30)

    # service restart: new relay/bus/runner; more events; redelivery must not double-apply
    await runner.stop()
    await relay.stop()
    await bus.close()
    ids += await _emit(db, events_prefix, 3)
    bus2 = EventBus(private_nats.url, events_prefix)
    relay2 = OutboxRelay(db, kernel, bus2, interval=0.05)
    runner2 = ConsumerRunner(db, kernel, bus2, [CountingConsumer()])
    relay2.start()
    runner2.start()
    await eventually(lambda: _check_count(db, 8), timeout=30)
    await asyncio.sleep(0.5)
    effects = await _effects(db)
    assert sorted(effects) == sorted(ids)  # every event exactly once
    assert await relay2.pending() == 0
    # the chain the consumer wrote still verifies
    async with db.session() as s:
        assert (await audit.verify(s, kernel)).ok
    await runner2.stop()
    await relay2.stop()
    await bus2.close()
    await db.dispose()


async def _check_count(db, n):
    return len(await _effects(db)) == n


async def test_poison_message_is_parked_and_replayable(databases, nats_url, events_prefix):
    url = await databases.create("poison")
    await upgrade_async("services.registry", url)
    db = Database(url)
    bus = EventBus(nats_url, events_prefix)
    relay = OutboxRelay(db, kernel, bus, interval=0.05)
    consumer = CountingConsumer(always_fail=True)
    consumer.max_deliver = 3
    runner = ConsumerRunner(db, kernel, bus, [consumer])
    relay.start()
    runner.start()
    [event_id] = await _emit(db, events_prefix, 1)

    async def parked():
        async with db.session() as s:
            return (await s.execute(select(func.count()).select_from(kernel.parked))).scalar_one()

    await eventually(parked, timeout=30)
    assert consumer.calls == 3
    assert await _effects(db) == []

    from shared.events.consumer import replay_parked

    consumer.always_fail = False
    async with db.session() as s:
        pid = (await s.execute(select(kernel.parked.c.id))).scalar_one()
    result = await replay_parked(db, kernel, runner.consumers, pid)
    assert result["applied"] is True
    assert await _effects(db) == [event_id]
    await runner.stop()
    await relay.stop()
    await bus.close()
    await db.dispose()


class Narrowed(Consumer):
    """The same durable consumer in a later version of the code, subscribed to fewer subjects."""

    name = "refiltered"
    subjects = ("registry.licence.>",)

    def __init__(self):
        self.seen: list[str] = []
        self.backoff = (0.05,)

    async def handle(self, session, event):
        self.seen.append(event["type"])


class Wide(Narrowed):
    subjects = ("registry.enterprise.>", "registry.licence.>")


async def test_a_durable_consumer_follows_the_subjects_of_the_code(databases, nats_url, events_prefix):
    url = await databases.create("refilter")
    await upgrade_async("services.registry", url)
    db = Database(url)
    bus = EventBus(nats_url, events_prefix)
    old = ConsumerRunner(db, kernel, bus, [Wide()])
    old.start()
    await asyncio.sleep(1)  # the durable consumer now exists on the server with the wide filter
    await old.stop()
    narrowed = Narrowed()
    runner = ConsumerRunner(db, kernel, bus, [narrowed])
    runner.start()
    relay = OutboxRelay(db, kernel, bus, interval=0.05)
    relay.start()
    async with db.transaction() as s:
        await emit(s, kernel, "registry", "enterprise", "registered", {"n": 1}, prefix=events_prefix)
        await emit(s, kernel, "registry", "licence", "issued", {"n": 2}, prefix=events_prefix)

    async def got_licence():
        return narrowed.seen

    await eventually(got_licence, timeout=20)
    await asyncio.sleep(0.5)
    try:
        assert all(".licence." in t or t.endswith("licence.issued") for t in narrowed.seen), narrowed.seen
    finally:
        await runner.stop()
        await relay.stop()
        await bus.close()
        await db.dispose()


async def test_processes_creating_the_stream_at_once_with_different_settings_all_get_it(nats_url, events_prefix):
    """A service and a test (or two replicas with different retention) that first use the bus at the same
    moment: each looks, finds no stream, and creates it; the slower one is told 10058 "already in use with a
    different configuration". That answer means the stream exists, so every bus must come up."""
    for round_ in range(5):
        prefix = f"{events_prefix}r{round_}"
        buses = [EventBus(nats_url, prefix, max_age=(60.0 if i % 2 else 0)) for i in range(6)]
        try:
            results = await asyncio.gather(*(b.jetstream() for b in buses), return_exceptions=True)
            assert [r for r in results if isinstance(r, Exception)] == []
            info = await results[0].stream_info(buses[0].stream)
            assert info.config.subjects == [f"{prefix}.>"]
        finally:
            for b in buses:
                await b.close()
            await delete_streams(nats_url, prefix)


def test_subject_matching_follows_nats():
    from shared.events.consumer import subject_matches

    assert subject_matches("p.registry.>", "p.registry.licence.issued")
    assert not subject_matches("p.registry.>", "p.registry")
    assert subject_matches("p.*.licence.issued", "p.registry.licence.issued")
    assert not subject_matches("p.registry.licence.issued", "p.registry.licence.issued.x")
    assert not subject_matches("p.registry.licence.>", "p.registry.enterprise.registered")
