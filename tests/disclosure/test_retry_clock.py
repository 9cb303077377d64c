"""The retry schedule runs on the dispatcher's clock (``ctx.extras["webhook_clock"]``, or the
``webhook_clock_rate`` setting): with the production schedule (immediately, 5 s, 5 min, 30 min …)
each retry waits until the clock has moved by its delay, and not before."""
from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select

from services.disclosure.clock import Clock
from services.disclosure.models import Delivery, DeliveryAttempt
from services.disclosure.settings import DEFAULT_RETRY_SCHEDULE
from shared.db import utcnow
from tests.helpers import eventually, running

from .conftest import PROVINCE, make_app, publish
from .receiver import Receiver


class HandClock:
    def __init__(self):
        self.t = utcnow()

    def now(self) -> dt.datetime:
        return self.t


async def _attempts(app) -> list[DeliveryAttempt]:
    async with app.state.ctx.db.session() as s:
        return list((await s.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.attempt))).scalars())


async def test_retries_follow_the_schedule_on_the_dispatchers_clock(db_url, keys, nats_url, events_prefix):
    clock = HandClock()
    app = make_app(db_url, keys, nats_url, events_prefix, webhook_retry_schedule=DEFAULT_RETRY_SCHEDULE, webhook_poll_seconds=0.05)
    app.state.ctx.extras["webhook_clock"] = clock
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            sub = await c.post("/subscriptions", headers={**keys.headers(**PROVINCE), "Idempotency-Key": "clock"}, json={"url": rec.url})
            rec.secrets, rec.status = [sub.json()["secret"]], 503
            await publish(c, keys, app)

            async def attempts(n):
                async def check():
                    got = await _attempts(app)
                    return got if len(got) >= n else None
                return await eventually(check)

            first = (await attempts(1))[0]
            assert first.status_code == 503 and first.next_attempt_at == clock.t + dt.timedelta(seconds=5)
            await asyncio.sleep(0.5)  # ten polls: the clock has not moved, nothing is due
            assert len(await _attempts(app)) == 1
            clock.t += dt.timedelta(seconds=5)
            second = (await attempts(2))[1]
            assert second.next_attempt_at == clock.t + dt.timedelta(seconds=300)
            clock.t += dt.timedelta(seconds=299)
            await asyncio.sleep(0.5)
            assert len(await _attempts(app)) == 2  # one second early: still waiting
            rec.status = 204
            clock.t += dt.timedelta(seconds=1)
            third = (await attempts(3))[2]
            assert third.status_code == 204
            async with app.state.ctx.db.session() as s:
                d = (await s.execute(select(Delivery))).scalars().one()
            assert d.status == "succeeded" and d.attempts == 3 and d.delivered_at == third.at
        finally:
            await rec.stop()


def test_a_faster_clock_moves_by_its_rate(monkeypatch):
    import services.disclosure.clock as mod

    t = [1000.0]
    monkeypatch.setattr(mod.time, "monotonic", lambda: t[0])
    fast = Clock(rate=180)
    start = fast.now()
    t[0] += 20  # twenty real seconds ...
    assert fast.now() - start == dt.timedelta(hours=1)  # ... an hour on the schedule
