"""Webhooks to real local HTTP receivers (no mock), verified with the ``standardwebhooks``
library: signatures and rotation, receiver down then up, 410 disables, Retry-After, a slow
receiver not delaying another, a restart mid-retry, replay, the feed agreeing with the webhooks,
the SSRF guard, and results arriving over JetStream."""
from __future__ import annotations

import asyncio
import datetime as dt
import json

from sqlalchemy import select
from standardwebhooks import Webhook

from services.disclosure.models import Delivery, DeliveryAttempt
from tests.helpers import eventually, running

from .conftest import CITY, CREDIT, PROVINCE, make_app, publish, record_event, result_for
from .receiver import Receiver

PATIENT = ",".join(["0"] + ["0.5"] * 59)  # 60 attempts half a second apart: never exhausted while a slow machine catches up
ALL = ["inspection_result.published", "inspection_result.corrected", "inspection_result.withdrawn"]


async def subscribe(c, keys, url, **kw) -> dict:
    r = await c.post("/subscriptions", headers={**keys.headers(**PROVINCE), "Idempotency-Key": url}, json={"url": url, **kw})
    assert r.status_code == 201, r.text
    return r.json()


async def deliveries(app, sub_id=None) -> list[Delivery]:
    async with app.state.ctx.db.session() as s:
        q = select(Delivery)
        if sub_id:
            q = q.where(Delivery.subscription_id == sub_id)
        return list((await s.execute(q)).scalars())


async def test_signed_deliveries_and_rotation_with_overlap(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            sub = await subscribe(c, keys, rec.url, description="国家企业信用信息公示系统（测试）")
            assert sub["secret"].startswith("whsec_") and sub["event_types"] == ALL
            rec.secrets = [sub["secret"]]
            got = await c.get(f"/subscriptions/{sub['id']}", headers=keys.headers(**PROVINCE))
            assert "secret" not in got.json() and sub["secret"] not in got.text  # shown once
            body = {"url": rec.url, "description": "国家企业信用信息公示系统（测试）"}
            again = await c.post("/subscriptions", headers={**keys.headers(**PROVINCE), "Idempotency-Key": rec.url}, json=body)
            assert again.json()["id"] == sub["id"] and again.headers["idempotent-replayed"] == "true"  # the same create replayed, not a second subscription

            pub = await publish(c, keys, app)
            await eventually(lambda: _n(rec, 1))
            first = rec.received[0]
            assert first["body"]["type"] == "inspection_result.published"
            assert first["body"]["data"]["id"] == pub["id"] and first["headers"]["content-type"] == "application/json"
            assert Webhook(sub["secret"]).verify(first["raw"], first["headers"])["data"]["uscc"] == pub["uscc"]
            assert rec.rejected == []

            # rotation: a new secret shown once; both sign during the overlap
            r = await c.post(f"/subscriptions/{sub['id']}/rotate-secret", headers={**keys.headers(**PROVINCE), "If-Match": got.headers["etag"]},
                             json={"overlap_hours": 24})
            assert r.status_code == 200 and r.json()["secret"] != sub["secret"] and len(r.json()["secrets"]) == 2
            new = r.json()["secret"]
            rec.secrets = [new]  # the receiver already uses the new one
            corr = await c.post(f"/results/{pub['id']}/corrections", headers={**keys.headers(**PROVINCE), "If-Match": '"v%d"' % pub["version"]},
                                json={"categories": ["problem_corrected"], "follow_up": "order_correction", "reason": "更正类别"})
            assert corr.status_code == 200, corr.text
            corr = await c.post(f"/results/{pub['id']}/corrections/review", headers={**keys.headers(**CITY), "If-Match": corr.headers["etag"]},
                                json={"decision": "approve"})  # another official approves: published as a new version
            assert corr.status_code == 200, corr.text
            await eventually(lambda: _n(rec, 2))
            second = rec.received[1]
            assert len(second["signatures"]) == 2 and second["body"]["type"] == "inspection_result.corrected"
            Webhook(sub["secret"]).verify(second["raw"], second["headers"])  # old secret still verifies
            Webhook(new).verify(second["raw"], second["headers"])
            # a forged body does not verify
            import pytest
            from standardwebhooks.webhooks import WebhookVerificationError

            with pytest.raises(WebhookVerificationError):
                Webhook(new).verify(second["raw"].replace(b"problem_corrected", b"no_problem"), second["headers"])
            # delivery log with attempts, status and latency
            await eventually(lambda: _all_succeeded(app))
            log = await c.get(f"/subscriptions/{sub['id']}/deliveries", headers=keys.headers(**PROVINCE))
            items = log.json()["items"]
            assert {i["status"] for i in items} == {"succeeded"} and len(items) == 2
            one = await c.get(f"/subscriptions/{sub['id']}/deliveries/{items[0]['id']}", headers=keys.headers(**PROVINCE))
            assert one.json()["attempt_log"][0]["status_code"] == 204 and one.json()["attempt_log"][0]["latency_ms"] >= 0
        finally:
            await rec.stop()


def _n(rec, n):
    async def check():
        return len(rec.ids()) >= n
    return check()


async def test_receiver_down_then_up_every_event_once_and_feed_agrees(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix, webhook_retry_schedule=PATIENT)
    async with running(app) as c:
        rec = Receiver()  # not started: connection refused
        sub = await subscribe(c, keys, rec.url)
        rec.secrets = [sub["secret"]]
        published = [await publish(c, keys, app) for _ in range(5)]

        async def all_retried():
            ds = await deliveries(app)
            return len(ds) == 5 and all(d.attempts >= 2 and d.status == "pending" for d in ds)

        await eventually(all_retried, timeout=30)
        await rec.start()
        try:
            await eventually(lambda: _n(rec, 5), timeout=30)
            await eventually(lambda: _all_succeeded(app))
            await asyncio.sleep(0.5)  # nothing further arrives
            ids = rec.ids()
            assert len(ids) == 5 and all(rec.ok_count(i) == 1 for i in ids)
            ds = await deliveries(app)
            assert all(d.status == "succeeded" and d.attempts <= 60 for d in ds)  # a bounded number of attempts
            # the feed returns the same set as the webhooks
            fd = (await c.get("/feed", headers=keys.headers(**CREDIT))).json()["items"]
            hooks = {(r["body"]["type"], r["body"]["data"]["id"], r["body"]["data"]["version"]) for r in rec.received}
            assert {(i["type"], i["result_id"], i["version"]) for i in fd} == hooks
            assert {p["id"] for p in published} == {h[1] for h in hooks}
        finally:
            await rec.stop()


async def test_gone_disables_and_reenabling_resumes(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            rec.status = 410
            sub = await subscribe(c, keys, rec.url)
            rec.secrets = [sub["secret"]]
            await publish(c, keys, app)

            async def disabled():
                r = await c.get(f"/subscriptions/{sub['id']}", headers=keys.headers(**PROVINCE))
                return r if not r.json()["active"] else None

            r = await eventually(disabled)
            assert "410" in r.json()["disabled_reason"]
            await publish(c, keys, app)  # no delivery for a disabled endpoint
            await asyncio.sleep(0.5)
            assert len(rec.received) == 1 and len(await deliveries(app)) == 1
            rec.status = 200
            p = await c.patch(f"/subscriptions/{sub['id']}", headers={**keys.headers(**PROVINCE), "If-Match": r.headers["etag"]}, json={"active": True})
            assert p.status_code == 200 and p.json()["active"] is True
            await eventually(lambda: _n(rec, 1))  # the held delivery goes out
            # everything since a time, including what was published while disabled
            rp = await c.post(f"/subscriptions/{sub['id']}/replay", headers=keys.headers(**PROVINCE),
                              json={"since": (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).isoformat()})
            assert rp.status_code == 200 and rp.json()["messages"] == 2
            await eventually(lambda: _n(rec, 2))
        finally:
            await rec.stop()


async def test_retry_after_is_honoured_and_replay_keeps_the_webhook_id(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            rec.status, rec.headers = 429, {"Retry-After": "2"}
            sub = await subscribe(c, keys, rec.url)
            rec.secrets = [sub["secret"]]
            await publish(c, keys, app)
            await eventually(lambda: _count(rec, 1))
            rec.status, rec.headers = 200, {}
            await eventually(lambda: _n(rec, 1), timeout=20)
            await eventually(lambda: _all_succeeded(app))  # the outcome is recorded after the receiver's answer
            async with app.state.ctx.db.session() as s:
                atts = list((await s.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.id))).scalars())
            assert atts[0].status_code == 429 and (atts[0].next_attempt_at - atts[0].at).total_seconds() >= 2  # not the 0.2 s schedule
            assert (atts[1].at - atts[0].at).total_seconds() >= 2
            d = (await deliveries(app))[0]
            r = await c.post(f"/subscriptions/{sub['id']}/deliveries/{d.id}/replay", headers=keys.headers(**PROVINCE))
            assert r.status_code == 200
            await eventually(lambda: _ok(rec, rec.received[-1]["id"], 2))
            assert len({x["id"] for x in rec.received}) == 1  # the same webhook-id every time
        finally:
            await rec.stop()


async def _all_succeeded(app):
    ds = await deliveries(app)
    return bool(ds) and all(d.status == "succeeded" for d in ds)


def _count(rec, n):
    async def check():
        return len(rec.received) >= n
    return check()


def _ok(rec, msg_id, n):
    async def check():
        return rec.ok_count(msg_id) >= n
    return check()


async def test_slow_receiver_does_not_delay_another(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        slow, fast = await Receiver().start(), await Receiver().start()
        try:
            slow.hold = asyncio.Event()  # holds every request until released
            s1 = await subscribe(c, keys, slow.url)
            s2 = await subscribe(c, keys, fast.url)
            slow.secrets, fast.secrets = [s1["secret"]], [s2["secret"]]
            for _ in range(6):
                await publish(c, keys, app)
            await eventually(lambda: _n(fast, 6), timeout=20)
            assert slow.held >= 1 and len(slow.received) == 0  # still hanging while the other got everything
            slow.hold.set()
            await eventually(lambda: _n(slow, 6), timeout=30)
        finally:
            await slow.stop()
            await fast.stop()


async def test_restart_mid_retry_loses_nothing(db_url, keys, nats_url, events_prefix):
    rec = Receiver()
    app = make_app(db_url, keys, nats_url, events_prefix, webhook_retry_schedule=PATIENT)
    async with running(app) as c:
        sub = await subscribe(c, keys, rec.url)
        rec.secrets = [sub["secret"]]
        for _ in range(4):
            await publish(c, keys, app)

        async def retried():
            ds = await deliveries(app)
            return len(ds) == 4 and all(d.attempts >= 1 for d in ds)

        await eventually(retried, timeout=20)
    # the service is down; the receiver comes up; a new process of the service takes over
    await rec.start()
    try:
        app2 = make_app(db_url, keys, nats_url, events_prefix, webhook_retry_schedule=PATIENT)
        async with running(app2):
            await eventually(lambda: _n(rec, 4), timeout=30)
            await eventually(lambda: _all_succeeded(app2))
            await asyncio.sleep(0.3)
            assert all(rec.ok_count(i) == 1 for i in rec.ids())
    finally:
        await rec.stop()


async def test_subscription_guard(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix, webhook_allow_hosts="")
    async with running(app) as c:
        h = keys.headers(**PROVINCE)
        for url in ("http://127.0.0.1:9/hooks", "http://localhost/x", "http://10.1.2.3/x", "http://169.254.169.254/latest",
                    "http://[::1]/x", "http://[::ffff:127.0.0.1]/x", "http://192.168.0.1/x"):
            r = await c.post("/subscriptions", headers=h, json={"url": url})
            assert r.status_code == 422 and r.json()["type"].endswith("webhook-url-refused"), (url, r.text)
        for url in ("ftp://example.com/x", "http://user:pw@example.com/x"):
            r = await c.post("/subscriptions", headers=h, json={"url": url})
            assert r.status_code == 422 and r.json()["errors"][0]["field"] == "url"
        r = await c.post("/subscriptions", headers=h, json={"url": "https://8.8.8.8/hooks", "event_types": ["inspection_result.deleted"]})
        assert r.status_code == 422 and "未知的事件类型" in r.text
        assert (await c.post("/subscriptions", headers=keys.headers(sub="c", roles=["city_admin"], region="140100"),
                             json={"url": "https://8.8.8.8/hooks"})).status_code == 403
        assert (await c.post("/subscriptions", headers=keys.headers(**CREDIT), json={"url": "https://8.8.8.8/hooks"})).status_code == 403
        ok = await c.post("/subscriptions", headers=h, json={"url": "https://8.8.8.8/hooks", "event_types": ["inspection_result.published"]})
        assert ok.status_code == 201
        nothing = await c.get("/subscriptions", headers=h)
        assert len(nothing.json()["items"]) == 1  # nothing half-written by the refusals


async def test_results_arrive_over_jetstream(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        ctx = app.state.ctx
        js = await ctx.bus.jetstream()
        ev = record_event()
        await js.publish(f"{events_prefix}.inspection.record.submitted", json.dumps(ev).encode(), headers={"Nats-Msg-Id": ev["id"]})

        async def arrived():
            try:
                return await result_for(c, keys, ev["data"]["record_id"])
            except AssertionError:
                return None

        res = await eventually(arrived, timeout=20)
        assert res["status"] == "pending" and res["due_on"] == "2024-10-30"
