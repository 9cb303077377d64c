"""Fault: the credit system's webhook receiver is down for an hour (issue 14, point 3), on an
accelerated clock — the disclosure service runs with ``webhook_clock_rate`` so its real retry
schedule (immediately, 5 s, 5 min, 30 min, 2 h, …) plays an hour in ``HOUR_S`` real seconds.

Under steady load through the gateway (a county official approving results, i.e. publishing them,
and the public reading them), the receiver first answers nothing within the delivery timeout
(held, then 503), then refuses connections (stopped), then comes back. Reported: publications,
webhook messages, delivery attempts and failed attempts, lost (messages never acknowledged),
duplicated (2xx answers beyond one per ``webhook-id`` at the receiver, which deduplicates by it),
500s, and the time to recover (the last delivery after the receiver is back, real and simulated).
Goal: lost 0, duplicated 0, 500s 0."""
from __future__ import annotations

import asyncio
import datetime as dt
import os
import time

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from services.disclosure.models import Delivery, DeliveryAttempt, Message, Result
from shared.db import new_id, utcnow
from tests.disclosure.receiver import Receiver
from tests.faults.load import LoadResult
from tests.faults.stack import Stack
from tests.faults.test_faults import record

pytestmark = [pytest.mark.asyncio]

RATE = float(os.environ.get("SPOTCHECK_FAULT_CLOCK_RATE", "180"))  # an hour in 20 s
HOUR_S = 3600 / RATE
RESULTS = 400  # submitted results the load approves (more than it gets through)


async def _seed(url: str, n: int) -> list[str]:
    engine = create_async_engine(url)
    ids = []
    try:
        async with AsyncSession(engine) as s:
            now = utcnow()
            for i in range(n):
                rid = new_id()
                ids.append(rid)
                s.add(Result(id=rid, record_id=f"fault-{i}", plan_id="fault-plan", plan_name="故障测试计划", uscc=f"91140105FAULT{i:05d}",
                             enterprise_name=f"故障测试企业{i}", region_code="140105", city_code="140100", county_code="140105",
                             bureau_code="140105", bureau_name="小店区市场监督管理局", completed_on=dt.date(2024, 9, 27),
                             due_on=dt.date(2024, 10, 30), suggested={"categories": ["no_problem"], "follow_up": "none_needed"},
                             suggestion_source="fault", categories=["no_problem"], follow_up="none_needed", status="submitted",
                             entered_by="fault-enterer", entered_at=now, version=2, created_at=now))
            await s.commit()
    finally:
        await engine.dispose()
    return ids


async def _login(base: str, username: str) -> dict:
    async with httpx.AsyncClient(base_url=base, timeout=10) as c:
        r = await c.post("/auth/token", data={"grant_type": "password", "username": username, "password": "spotcheck-demo"})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


async def _load(base: str, headers: dict, ids: list[str], stop: asyncio.Event, load: LoadResult, published: dict) -> None:
    """Approve results one after another (each retried on 503/504 until it lands), read the public list."""

    async def approver(client: httpx.AsyncClient):
        for rid in ids:
            if stop.is_set():
                return
            while not stop.is_set():
                t0 = time.monotonic()
                try:
                    r = await client.post(f"/api/v1/disclosure/results/{rid}/review", json={"decision": "approve"},
                                          headers={**headers, "If-Match": '"v2"'})
                except httpx.HTTPError as exc:
                    load.note(None, exc)
                    await asyncio.sleep(0.5)
                    continue
                load.latencies.append(time.monotonic() - t0)
                load.note(r)
                if r.status_code == 200:
                    published[rid] = time.perf_counter()
                    break
                if r.status_code in (502, 503, 504):
                    await asyncio.sleep(0.5)
                    continue
                break
            await asyncio.sleep(0.1)

    async def reader(client: httpx.AsyncClient):
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = await client.get("/api/v1/disclosure/public/results", params={"limit": 20})
            except httpx.HTTPError as exc:
                load.note(None, exc)
            else:
                load.latencies.append(time.monotonic() - t0)
                load.note(r)
            await asyncio.sleep(0.2)

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(approver(client), reader(client))


async def _delivery_figures(url: str, sub_id: str) -> dict:
    engine = create_async_engine(url)
    try:
        async with AsyncSession(engine) as s:
            messages = (await s.execute(select(func.count()).select_from(Message))).scalar_one()
            succeeded = (await s.execute(select(func.count()).select_from(Delivery)
                                         .where(Delivery.subscription_id == sub_id, Delivery.status == "succeeded"))).scalar_one()
            attempts = (await s.execute(select(func.count()).select_from(DeliveryAttempt))).scalar_one()
            failed = (await s.execute(select(func.count()).select_from(DeliveryAttempt).where(
                (DeliveryAttempt.status_code.is_(None)) | (DeliveryAttempt.status_code < 200) | (DeliveryAttempt.status_code >= 300)))).scalar_one()
            most = (await s.execute(select(func.max(Delivery.attempts)))).scalar_one()
            spread = dict((await s.execute(select(Delivery.attempts, func.count()).group_by(Delivery.attempts))).all())
            message_ids = set((await s.execute(select(Message.id))).scalars())
    finally:
        await engine.dispose()
    return {"messages": messages, "deliveries_succeeded": succeeded, "delivery_attempts": attempts, "failed_attempts": failed,
            "most_attempts_for_one_delivery": most, "deliveries_by_attempts": {str(k): v for k, v in sorted(spread.items())}, "_message_ids": message_ids}


async def test_webhook_receiver_down_for_an_hour(tmp_path, monkeypatch):
    monkeypatch.setenv("SPOTCHECK_DISCLOSURE_WEBHOOK_ALLOW_HOSTS", "127.0.0.1")
    monkeypatch.setenv("SPOTCHECK_DISCLOSURE_WEBHOOK_CLOCK_RATE", str(RATE))
    monkeypatch.setenv("SPOTCHECK_DISCLOSURE_WEBHOOK_POLL_SECONDS", "0.5")
    monkeypatch.setenv("SPOTCHECK_DISCLOSURE_WEBHOOK_TIMEOUT_SECONDS", "5")
    monkeypatch.setenv("SPOTCHECK_DISCLOSURE_PUBLIC_RATE_PER_MINUTE", "100000")
    monkeypatch.setenv("SPOTCHECK_DISCLOSURE_PUBLIC_BURST", "10000")
    stack = await Stack(tmp_path, ["disclosure"], prefix=f"fwh{os.getpid()}").start()
    rec = await Receiver().start()
    try:
        url = stack.db_urls["disclosure"]
        ids = await _seed(url, RESULTS)
        province = await _login(stack.gateway, "demo_province")
        async with httpx.AsyncClient(base_url=stack.gateway, timeout=10) as c:
            r = await c.post("/api/v1/disclosure/subscriptions", headers={**province, "Idempotency-Key": "fault-receiver"},
                             json={"url": rec.url, "description": "信用公示系统（故障测试）"})
            assert r.status_code == 201, r.text
            sub_id, rec.secrets = r.json()["id"], [r.json()["secret"]]

        reviewer = await _login(stack.gateway, "demo_xiaodian")
        stop, load, published = asyncio.Event(), LoadResult(), {}
        task = asyncio.create_task(_load(stack.gateway, reviewer, ids, stop, load, published))
        await asyncio.sleep(3)
        # the outage, an hour on the delivery clock: first no answer within the timeout (then 503), then refused
        rec.status, rec.hold = 503, asyncio.Event()
        down = time.perf_counter()
        await asyncio.sleep(HOUR_S / 2)
        await rec.stop()  # held requests are answered 503; connections refused from now on
        await asyncio.sleep(HOUR_S / 2)
        rec.status, rec.hold = 204, None
        await rec.start()
        back = time.perf_counter()
        await asyncio.sleep(5)
        stop.set()
        await asyncio.wait_for(task, 120)

        # settle: until every message is acknowledged (the oldest wait for the 2 h retry), bounded
        settle_limit = time.monotonic() + max(120, 3 * HOUR_S)
        while True:
            figures = await _delivery_figures(url, sub_id)
            if figures["deliveries_succeeded"] >= figures["messages"] or time.monotonic() > settle_limit:
                break
            await asyncio.sleep(1)
        message_ids = figures.pop("_message_ids")
        ok = [x for x in rec.received if 200 <= x["answered"] < 300]
        distinct = {x["id"] for x in ok}
        last_after_back = max((x["at"] for x in ok), default=back) - back
        out = {
            "clock_rate": RATE, "outage_real_s": round(HOUR_S, 1), "outage_simulated_min": 60,
            **load.summary(), "published": len(published), "published_during_outage": sum(1 for t in published.values() if down <= t < back),
            **figures,
            "received_2xx_total": len(ok), "received_2xx_distinct": len(distinct),
            "lost": len(message_ids - distinct), "duplicated": len(ok) - len(distinct),
            "recovery_real_s": round(last_after_back, 1), "recovery_simulated_min": round(last_after_back * RATE / 60, 1),
            "signature_rejections": len(rec.rejected),
        }
        record("webhook_receiver_down_1h", out)
        assert out["published"] > 0 and out["messages"] == out["published"]
        assert out["failed_attempts"] > 0  # the outage was felt ...
        assert out["lost"] == 0 and out["duplicated"] == 0 and out["http_500"] == 0 and load.bad_failures == []  # ... and nothing lost
        assert rec.rejected == []
    finally:
        await rec.stop()
        await stack.stop()
