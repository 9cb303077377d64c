"""A revocation decided in the rectification service changes the licence in the registry exactly
once, over real NATS JetStream: the hand-over event arrives on the stream, the decision travels back,
a failed first delivery is redelivered, the same event and a copy under a new id are published again,
and the registry's consumer restarts — one history row pointing at the case, one licence event."""
from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import func, select

from services.registry.app import create_app as create_registry
from services.registry.models import LicenceStatusChange, kernel as reg_kernel
from services.rectification.models import kernel as rect_kernel
from shared.auth import TokenVerifier
from shared.calendar import WorkCalendar
from shared.events.bus import EventBus
from shared.events.envelope import make_event
from shared.migrations import upgrade_async
from shared.settings import settings_for
from tests.helpers import AUDIENCE, ISSUER, eventually, running
from tests.rectification.conftest import Clock, Svc, handed_over, make_app
from tests.registry.conftest import enterprise_body


async def _publish(bus: EventBus, event: dict, msg_id: str | None = None) -> None:
    js = await bus.jetstream()
    subject = bus.prefix + "." + event["type"].split(".", 1)[1]
    await js.publish(subject, json.dumps(event, ensure_ascii=False).encode(), headers={"Nats-Msg-Id": msg_id or event["id"]})


async def _history(reg_app, licence_id: str) -> list:
    async with reg_app.state.ctx.db.session() as s:
        return list((await s.execute(select(LicenceStatusChange).where(LicenceStatusChange.licence_id == licence_id)
                                     .order_by(LicenceStatusChange.at))).scalars())


async def _status_events(reg_app) -> list[dict]:
    t = reg_kernel.outbox
    async with reg_app.state.ctx.db.session() as s:
        rows = (await s.execute(select(t.c.payload).where(t.c.subject.endswith("registry.licence.status_changed")))).scalars().all()
    return [json.loads(p) for p in rows]


async def _inbox_has(reg_app, event_id: str) -> bool:
    t = reg_kernel.inbox
    async with reg_app.state.ctx.db.session() as s:
        return (await s.execute(select(func.count()).select_from(t).where(t.c.event_id == event_id))).scalar_one() == 1


async def test_revocation_reaches_the_registry_exactly_once(databases, nats_url, events_prefix, keys, tmp_path):
    reg_url = await databases.create("registry")
    await upgrade_async("services.registry", reg_url)
    rect_url = await databases.create("rectification")
    await upgrade_async("services.rectification", rect_url)
    verifier = TokenVerifier(ISSUER, AUDIENCE, jwks=keys.jwks)
    reg_settings = settings_for("registry", database_url=reg_url, nats_url=nats_url, events_prefix=events_prefix, relay_interval_seconds=0.1)
    admin = keys.headers(sub="prov-admin", roles=["province_admin"], region="140000")
    bus = EventBus(nats_url, events_prefix)

    reg_app = create_registry(reg_settings, verifier=verifier)
    consumer = reg_app.state.ctx.runner.consumers["registry-rectification-outcome"]
    consumer.backoff = (0.2,)
    real_handle = consumer.handle
    calls = {"n": 0}

    async def flaky(session, event):  # the first delivery writes its effect and then fails: rolled back, redelivered
        calls["n"] += 1
        await real_handle(session, event)
        if calls["n"] == 1:
            raise RuntimeError("simulated crash after the effect, before the commit")

    consumer.handle = flaky
    clock = Clock(dt.date(2024, 9, 2))
    rect_app = await make_app(rect_url, keys, clock, nats_url, events_prefix, tmp_path, calendar=WorkCalendar())
    async with running(reg_app) as reg, running(rect_app) as rc:
        body = enterprise_body(county="140105")
        ent = (await reg.post("/enterprises", json=body, headers=admin))
        assert ent.status_code == 201, ent.text
        lic = (await reg.get(f"/enterprises/{body['uscc']}/licences", headers=admin)).json()
        lic = lic["items"][0] if isinstance(lic, dict) else lic[0]
        number = lic["number"]

        # the inspection service hands the problem summary over (published on the stream per the contract)
        data = handed_over(uscc=body["uscc"], county="140105", on=dt.date(2024, 9, 2), period=(5, "working_days"),
                           licences=[{"number": number, "category": "rebar", "valid_until": "2026-03-01"}], name=body["name"])
        await _publish(bus, make_event("inspection", "problem_summary", "handed_over", data, subject_id=data["summary_id"]))
        svc = Svc(rect_app, rc, keys, clock)

        async def opened():
            items = (await rc.get("/cases", params={"uscc": body["uscc"]}, headers=svc.province())).json()["items"]
            return items[0] if items else None

        case = await eventually(opened, timeout=30)
        clock.on(dt.date(2024, 9, 20))
        assert (await svc.sweep())["overdue"] == 1

        o = (await rc.post(f"/cases/{case['id']}/outcomes", json={"basis_code": "revoke_overdue", "facts": "逾期未整改"},
                           headers=svc.city())).json()
        etag = (await rc.get(f"/outcomes/{o['id']}", headers=svc.province())).headers["etag"]
        r = await rc.post(f"/outcomes/{o['id']}/decide", json={"approve": True, "note": "同意撤销"},
                          headers={**svc.province("prov-2"), "If-Match": etag})
        assert r.status_code == 200, r.text

        async def revoked():
            x = (await reg.get(f"/licences/{lic['id']}", headers=admin)).json()
            return x["status"] == "撤销"

        await eventually(revoked, timeout=30)
        assert calls["n"] >= 2  # the first delivery failed and was redelivered
        hist = [h for h in await _history(reg_app, lic["id"]) if h.to_status == "撤销"]
        assert len(hist) == 1 and case["id"] in hist[0].reason and o["id"] in hist[0].reason and "第三十四条" in hist[0].reason
        assert hist[0].actor == "rectification:prov-2"
        api_hist = (await reg.get(f"/licences/{lic['id']}/history", headers=admin)).json()
        assert any(case["id"] in h["reason"] for h in (api_hist["items"] if isinstance(api_hist, dict) else api_hist))

        async def one_status_event():
            evs = await _status_events(reg_app)
            return evs if len(evs) == 1 else None

        evs = await eventually(one_status_event)
        assert evs[0]["data"]["source"] == {"service": "rectification", "case_id": case["id"], "outcome_id": o["id"]}
        assert evs[0]["data"]["from"] == "有效" and evs[0]["data"]["to"] == "撤销"

        # the decided event as the rectification outbox holds it
        async with rect_app.state.ctx.db.session() as s:
            payload = (await s.execute(select(rect_kernel.outbox.c.payload)
                                       .where(rect_kernel.outbox.c.subject.endswith("rectification.outcome.decided")))).scalar_one()
        decided = json.loads(payload)

    # the registry restarts (its durable consumer resumes); the same event comes again, and a copy under a new id
    reg_app2 = create_registry(reg_settings, verifier=verifier)
    async with running(reg_app2):
        await _publish(bus, decided, msg_id=decided["id"] + "-again")
        copy = {**decided, "id": decided["id"] + "x"}
        await _publish(bus, copy)
        sentinel = make_event("rectification", "outcome", "decided", {"case_id": "c-other", "outcome_id": "o-other", "kind": "file_case",
                                                                      "uscc": body["uscc"], "licences": []})
        await _publish(bus, sentinel)
        await eventually(lambda: _inbox_has(reg_app2, sentinel["id"]), timeout=30)
        assert await _inbox_has(reg_app2, copy["id"])  # processed, and changed nothing
        hist = [h for h in await _history(reg_app2, lic["id"]) if h.to_status == "撤销"]
        assert len(hist) == 1
        assert len(await _status_events(reg_app2)) == 1
    await bus.close()
