"""Fault suite (`make test-faults`): under steady load through the gateway, one fault at a time,
on a private PostgreSQL and a private NATS. Each reports requests answered and failed (by status),
500s, events produced vs reaching the stream vs applied by the consuming service (lost,
duplicated), and the time to recover; figures go to bench-results/faults.json.

Goal for each: lost 0, duplicated 0, 500s 0, every failure a 503/504 problem+json.
``SPOTCHECK_FAULT_SECONDS`` sets how long an outage lasts (the issue's 60 s by default)."""
from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.topology import enabled_services
from tests.faults.load import LoadResult, run_load
from tests.faults.stack import Stack

OUTAGE = float(os.environ.get("SPOTCHECK_FAULT_SECONDS", "60"))
RESULTS = Path(__file__).resolve().parents[2] / "bench-results" / "faults.json"
# the service consuming registry events whose applied effects are counted (risk keeps indicators per enterprise)
CONSUMER = "risk" if "risk" in enabled_services() else None

pytestmark = [pytest.mark.asyncio]


def record(name: str, figures: dict) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data[name] = figures
    RESULTS.write_text(json.dumps(data, ensure_ascii=False, indent=1))
    print(f"\n[{name}] " + json.dumps(figures, ensure_ascii=False))


async def scalar(url: str, sql: str, **params):
    engine = create_async_engine(url)
    try:
        async with engine.connect() as c:
            return (await c.execute(text(sql), params)).scalar_one()
    finally:
        await engine.dispose()


async def produced_ids(stack: Stack) -> set[str]:
    engine = create_async_engine(stack.db_urls["registry"])
    try:
        async with engine.connect() as c:
            rows = await c.execute(text("SELECT id FROM outbox WHERE subject = :s"), {"s": f"{stack.prefix}.registry.enterprise.registered"})
            return {r[0] for r in rows}
    finally:
        await engine.dispose()


async def stream_ids(stack: Stack) -> list[str]:
    """Every registry.enterprise.registered message in the stream, by its Nats-Msg-Id (duplicates kept)."""
    nc = await nats.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        sub = await js.pull_subscribe(f"{stack.prefix}.registry.enterprise.registered", durable=None,
                                      stream=stack.prefix.upper())
        ids = []
        while True:
            try:
                msgs = await sub.fetch(500, timeout=1)
            except (nats.errors.TimeoutError, asyncio.TimeoutError):
                break
            ids += [m.headers.get("Nats-Msg-Id") if m.headers else None for m in msgs]
            for m in msgs:  # an ephemeral pull consumer stops handing out messages at 1,000 unacknowledged ones
                await m.ack()
            if len(msgs) < 500:
                break
        await sub.unsubscribe()
        return ids
    finally:
        await nc.close()


async def applied_ids(stack: Stack) -> list[str]:
    if CONSUMER is None:
        return []
    engine = create_async_engine(stack.db_urls[CONSUMER])
    try:
        async with engine.connect() as c:
            return [r[0] for r in await c.execute(text("SELECT event_id FROM inbox"))]
    finally:
        await engine.dispose()


async def accounting(stack: Stack, load: LoadResult, settle: float = 120) -> dict:
    """Wait until every produced event reached the stream and the consumer (or ``settle`` passes)."""
    t0 = time.monotonic()
    while True:
        produced = await produced_ids(stack)
        in_stream = await stream_ids(stack)
        applied = [i for i in await applied_ids(stack) if i in produced]
        done = produced <= set(in_stream) and (CONSUMER is None or produced <= set(applied))
        if done or time.monotonic() - t0 > settle:
            break
        await asyncio.sleep(1)
    return {
        "events_produced": len(produced),
        "events_in_stream": len(set(in_stream) & produced),
        "duplicated_in_stream": len(in_stream) - len(set(in_stream)),
        "consumer": CONSUMER,
        "effects_applied": len(set(applied)) if CONSUMER else None,
        "effects_duplicated": (len(applied) - len(set(applied))) if CONSUMER else None,
        "lost": len(produced - set(in_stream)) + (len(produced - set(applied)) if CONSUMER else 0),
        "created_confirmed": len(load.created),
        "settle_s": round(time.monotonic() - t0, 1),
    }


async def _stack(tmp_path, name: str, replicas: int = 1) -> Stack:
    services = ["registry", *([CONSUMER] if CONSUMER else [])]
    return await Stack(tmp_path, services, replicas=replicas, prefix=f"f{name}{os.getpid()}").start()


async def _token(stack: Stack) -> dict:
    async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as c:
        r = await c.post("/auth/token", data={"grant_type": "password", "username": "demo_province", "password": "spotcheck-demo"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _under_load(stack: Stack, fault, warmup: float = 3, after: float = 8) -> tuple[LoadResult, dict]:
    headers = await _token(stack)
    stop, load = asyncio.Event(), LoadResult()
    task = asyncio.create_task(run_load(stack.gateway, headers, stop, load))
    await asyncio.sleep(warmup)
    timings = await fault()
    await asyncio.sleep(after)
    stop.set()
    await asyncio.wait_for(task, 200)
    return load, timings


def _assert_promises(name: str, load: LoadResult, acc: dict, timings: dict) -> None:
    figures = {**load.summary(), **acc, **timings}
    record(name, figures)
    assert load.bad_failures == [], load.bad_failures[:5]
    assert load.fives == 0
    assert acc["lost"] == 0 and acc["duplicated_in_stream"] == 0
    if CONSUMER:
        assert acc["effects_duplicated"] == 0


async def test_nats_stopped_under_load(tmp_path):
    stack = await _stack(tmp_path, "nats")
    try:
        async def fault():
            stack.nats.stop()
            await asyncio.sleep(OUTAGE)
            back = time.monotonic()
            stack.nats.start()
            return {"outage_s": OUTAGE, "_back": back}

        load, timings = await _under_load(stack, fault)
        back = timings.pop("_back")
        acc = await accounting(stack, load)
        # from NATS back to every event (the outage's backlog and what the load made after) delivered
        timings["recovery_s"] = round(time.monotonic() - back, 1)
        assert load.failed == 0  # the registry answers without NATS: events wait in the outbox
        _assert_promises("nats_stopped", load, acc, timings)
    finally:
        await stack.stop()


@pytest.mark.skipif(CONSUMER is None, reason="no service consuming registry events is installed")
async def test_consumer_killed_mid_stream(tmp_path):
    stack = await _stack(tmp_path, "kill")
    try:
        async def fault():
            stack.kill(CONSUMER)  # SIGKILL: no clean shutdown, messages in flight unacked
            await asyncio.sleep(5)
            t = time.monotonic()
            await stack.restart(CONSUMER)
            return {"killed": CONSUMER, "restart_s": round(time.monotonic() - t, 1)}

        load, timings = await _under_load(stack, fault)
        acc = await accounting(stack, load)
        timings["settle_after_load_s"] = acc["settle_s"]
        assert load.failed == 0
        _assert_promises("consumer_sigkill", load, acc, timings)
    finally:
        await stack.stop()


async def test_postgres_restarted_under_load(tmp_path):
    stack = await _stack(tmp_path, "pg")
    try:
        async def fault():
            stack.pg.stop("fast")
            await asyncio.sleep(min(OUTAGE, 10))
            stack.pg.start()
            back = time.monotonic()
            # time until the registry answers through the gateway again
            headers = await _token_retry(stack)
            async with httpx.AsyncClient(base_url=stack.gateway, timeout=5) as c:
                while (await c.get("/api/v1/registry/enterprises", params={"limit": 1}, headers=headers)).status_code != 200:
                    await asyncio.sleep(0.2)
            return {"outage_s": min(OUTAGE, 10), "recovery_s": round(time.monotonic() - back, 2)}

        load, timings = await _under_load(stack, fault)
        acc = await accounting(stack, load)
        assert load.failed > 0  # the outage was felt ...
        _assert_promises("postgres_restart", load, acc, timings)  # ... as 503 problems only, nothing lost
    finally:
        await stack.stop()


async def _token_retry(stack: Stack) -> dict:
    for _ in range(100):
        try:
            return await _token(stack)
        except AssertionError:
            await asyncio.sleep(0.3)
    return await _token(stack)
