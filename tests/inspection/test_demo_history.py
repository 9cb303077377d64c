"""往期检查（演示历史）: in demo mode a province official publishes an earlier batch's hand-overs with their
own earlier dates (as the inspection service's events, audited); in production mode the service refuses,
and the ordinary hand-over has no way to take a date."""
from __future__ import annotations

import datetime as dt

from services.inspection.app import create_app, inspection_settings
from services.rectification.schemas import HandedOver
from shared.auth import TokenVerifier
from shared.migrations import upgrade_async
from tests.helpers import running

from . import factory as f
from .test_records import outbox

TODAY = dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).date()


def batch(on: dt.date | None = None, **over) -> dict:
    on = on or TODAY - dt.timedelta(days=120)
    return {"batch": "2026h1", "plan_name": "2026年上半年获证企业监督检查（演示历史）", "handovers": [{
        "uscc": f.USCC_CEMENT, "enterprise_name": "山西往期水泥有限公司", "site_id": "site-hist-1", "site_address": "太原市小店区往期路1号",
        "region_code": "140105", "categories": ["cement"],
        "licences": [{"number": "(晋)XK08-001-00099", "category": "cement", "valid_until": "2027-06-30"}],
        "problems": [{"item_code": "4.1", "text": "出厂检验记录不全"}, {"item_code": "2.1", "text": "计量器具超出检定周期"}],
        "handed_over_on": on.isoformat(), "period": {"value": 30, "unit": "days"}, **over}]}


async def test_demo_mode_publishes_earlier_handovers_as_inspection_events(svc):
    body = batch()
    r = await svc.client.post("/demo/history", headers={**svc.admin(), "Idempotency-Key": "hist-1"}, json=body)
    assert r.status_code == 201, r.text
    out = r.json()
    assert out["demo_history"] is True and out["plan_id"] == "demo-history-2026h1"
    summary_id, record_id = out["items"][0]["summary_id"], out["items"][0]["record_id"]
    handed = [e for e in await outbox(svc, "problem_summary.handed_over") if e["data"]["summary_id"] == summary_id]
    submitted = [e for e in await outbox(svc, "record.submitted") if e["data"]["record_id"] == record_id]
    assert len(handed) == 1 and len(submitted) == 1
    data = handed[0]["data"]
    assert data["handed_over_on"] == body["handovers"][0]["handed_over_on"] and data["demo_history"] is True
    assert data["city_code"] == "140100" and data["county_code"] == "140105" and data["record_id"] == record_id
    ev = HandedOver.model_validate(data)  # what rectification's consumer reads
    assert [p.fixed_on_site for p in ev.problems] == [False, False] and ev.licences[0].number == "(晋)XK08-001-00099"
    rec = submitted[0]["data"]
    assert rec["completed_on"] == data["handed_over_on"] and rec["outcome"]["categories"] == ["problem_pending"]
    assert rec["plan_name"].endswith("（演示历史）") and len(rec["findings"]) == 2
    # audited, and the same key replays without publishing again
    audit = (await svc.client.get("/audit", headers=svc.admin("discipline"), params={"entity_id": summary_id})).json()["items"]
    assert [a["action"] for a in audit] == ["demo_history.handed_over"]
    again = await svc.client.post("/demo/history", headers={**svc.admin(), "Idempotency-Key": "hist-1"}, json=body)
    assert again.status_code == 201 and again.headers.get("Idempotent-Replayed") == "true"
    assert len([e for e in await outbox(svc, "problem_summary.handed_over") if e["data"]["summary_id"] == summary_id]) == 1


async def test_demo_history_needs_a_past_date_a_province_official_and_known_items(svc):
    before = len(await outbox(svc, "problem_summary.handed_over"))
    for on in (TODAY, TODAY + dt.timedelta(days=3)):
        r = await svc.client.post("/demo/history", headers=svc.admin(), json=batch(on))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "handovers.0.handed_over_on", r.text
    r = await svc.client.post("/demo/history", headers=svc.admin(), json=batch(problems=[{"item_code": "99.9", "text": "x"}]))
    assert r.status_code == 422, r.text
    r = await svc.client.post("/demo/history", headers=svc.admin("city_admin", "140100"), json=batch())
    assert r.status_code == 403, r.text
    r = await svc.client.post("/demo/history", headers=svc.person(f.LEADER), json=batch())
    assert r.status_code == 403, r.text
    assert len(await outbox(svc, "problem_summary.handed_over")) == before


async def test_production_mode_refuses_backdated_handovers(databases, keys, nats_url, events_prefix, tmp_path):
    url = await databases.create("inspection")
    await upgrade_async("services.inspection", url)
    settings = inspection_settings(mode="production", database_url=url, nats_url=nats_url, events_prefix=events_prefix,
                                   jwks_file=str(tmp_path / "jwks.json"), storage_url=f"file://{tmp_path / 'evidence'}")
    assert settings.production
    app = create_app(settings, verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    async with running(app) as client:
        province = keys.headers(sub="province_admin:140000", roles=["province_admin"], region="140000")
        r = await client.post("/demo/history", headers={**province, "Idempotency-Key": "hist-prod"}, json=batch())
        assert r.status_code == 409 and r.json()["type"].endswith(":demo-only"), r.text
        svc = type("S", (), {"app": app})()
        assert await outbox(svc, "handed_over") == [] and await outbox(svc, "record.submitted") == []
        # and the ordinary hand-over takes no date: an attempt to pass one is an unknown field (refused)
        r = await client.post("/problem-summaries/nope/handover", headers={**province, "If-Match": '"v1"'},
                              json={"enterprise": {"name": "企业负责人", "refused": True, "refusal_note": "拒签"},
                                    "handed_over_on": "2026-01-05"})
        assert r.status_code == 422 and any(e["field"].endswith("handed_over_on") for e in r.json()["errors"]), r.text
