"""Outcomes with their legal basis (proposer ≠ decider, licence matters decided by 省局), the overdue
sweep across a restart with a moved clock, and the sweep's leadership (once per cluster, not per replica)."""
from __future__ import annotations

import datetime as dt

from shared.calendar import WorkCalendar
from tests.helpers import running

from .conftest import Clock, Svc, make_app


async def _overdue_case(svc) -> dict:
    c = await svc.open_case(on=dt.date(2024, 9, 2), period=(5, "working_days"))
    svc.clock.on(dt.date(2024, 9, 20))
    assert (await svc.sweep())["overdue"] >= 1
    return await svc.case_by_summary(c["summary_id"])


async def test_legal_bases_listed_with_articles(svc):
    r = await svc.client.get("/legal-bases", headers=svc.city())
    items = {b["code"]: b for b in r.json()["items"]}
    assert {b["kind"] for b in items.values()} == {"revoke", "revoke_penalty", "cancel", "file_case", "transfer_judicial", "refer_department"}
    assert "第五十四条" in items["revoke_penalty_recheck_failed"]["citation"]
    assert all("第" in b["citation"] or "四（四）" in b["citation"] for b in items.values())
    assert any(b["note"] for b in items.values())  # unconfirmed articles are marked as such


async def test_revocation_proposed_by_city_decided_by_another_province_official(svc):
    fresh = await svc.open_case()
    body = {"basis_code": "revoke_overdue", "facts": "逾期未整改，不能持续保持生产条件"}
    # the basis needs an overdue case
    r = await svc.client.post(f"/cases/{fresh['id']}/outcomes", json=body, headers=svc.city())
    assert r.status_code == 409 and r.json()["type"].endswith("basis-not-met")

    c = await _overdue_case(svc)
    cid = c["id"]
    assert (await svc.client.post(f"/cases/{cid}/outcomes", json={**body, "basis_code": "nope"}, headers=svc.city())).status_code == 422
    assert (await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers=svc.city("140200"))).status_code == 404
    assert (await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers=svc.county())).status_code == 403
    assert (await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers=svc.enterprise())).status_code == 403
    bad_lic = await svc.client.post(f"/cases/{cid}/outcomes", json={**body, "licences": ["(晋)XK99-999-99999"]}, headers=svc.province("prov-1"))
    assert bad_lic.status_code == 422 and bad_lic.json()["errors"][0]["field"] == "licences"

    r = await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers={**svc.province("prov-1"), "Idempotency-Key": "o-1"})
    assert r.status_code == 201, r.text
    o = r.json()
    assert o["kind"] == "revoke" and o["status"] == "proposed" and "第三十四条" in o["legal_basis"]
    assert o["licences"] == [{"licence_id": None, "number": c["licences"][0]["number"], "category": "cement"}]
    again = await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers={**svc.province("prov-1"), "Idempotency-Key": "o-1"})
    assert again.json()["id"] == o["id"]
    seen = (await svc.client.get(f"/cases/{cid}", headers=svc.enterprise())).json()
    assert seen["outcomes"] == [] and all(a["kind"] != "outcome" for a in seen["actions"])  # pending proposals stay internal
    dup = await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers=svc.province("prov-1"))
    assert dup.status_code == 409 and dup.json()["type"].endswith("outcome-pending")

    dec = {"approve": True, "note": "经审查，同意撤销"}
    etag = (await svc.client.get(f"/outcomes/{o['id']}", headers=svc.province())).headers["etag"]
    # the same official cannot propose and decide
    r = await svc.client.post(f"/outcomes/{o['id']}/decide", json=dec, headers={**svc.province("prov-1"), "If-Match": etag})
    assert r.status_code == 403 and r.json()["type"].endswith("same-official")
    # licensing is provincial: a city official cannot decide a revocation
    r = await svc.client.post(f"/outcomes/{o['id']}/decide", json=dec, headers={**svc.city(sub="city-2"), "If-Match": etag})
    assert r.status_code == 403
    assert (await svc.client.post(f"/outcomes/{o['id']}/decide", json=dec, headers=svc.province("prov-2"))).status_code == 428
    r = await svc.client.post(f"/outcomes/{o['id']}/decide", json=dec, headers={**svc.province("prov-2"), "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "decided" and r.json()["decided_by"] == "prov-2"
    r = await svc.client.post(f"/outcomes/{o['id']}/decide", json=dec, headers={**svc.province("prov-3"), "If-Match": r.headers["etag"]})
    assert r.status_code == 409

    decided = await svc.events("rectification.outcome.decided")
    assert len(decided) == 1
    d = decided[0]["data"]
    assert d["kind"] == "revoke" and d["licence_status"] == "撤销" and d["case_id"] == cid and d["decided_by"] == "prov-2"
    assert d["licences"][0]["number"] == c["licences"][0]["number"] and "第三十四条" in d["legal_basis"]
    closed = [e for e in await svc.events("rectification.case.closed") if e["data"]["case_id"] == cid]
    assert len(closed) == 1 and closed[0]["data"]["resolution"] == "licence_revoked"
    assert closed[0]["data"]["disclosure"]["categories"] == ["licence_revoked"] and closed[0]["data"]["outcome_id"] == o["id"]
    case = await svc.case_by_summary(c["summary_id"])
    assert case["status"] == "closed" and case["outcomes"][0]["status"] == "decided"
    seen = (await svc.client.get(f"/cases/{cid}", headers=svc.enterprise())).json()
    assert [o["status"] for o in seen["outcomes"]] == ["decided"] and seen["disclosure"]["categories"] == ["licence_revoked"]
    # the ledger filter by outcome kind finds it
    led = (await svc.client.get("/ledger", params={"outcome_kind": "revoke"}, headers=svc.province())).json()["items"]
    assert [x["case_id"] for x in led] == [cid] and led[0]["outcomes"][0]["legal_basis"]


async def test_referrals_need_a_receiving_body_and_may_be_decided_by_the_city(svc):
    c = await _overdue_case(svc)
    cid = c["id"]
    body = {"basis_code": "file_case_refusal", "facts": "企业拒不整改，案件来源：双随机监督检查"}
    r = await svc.client.post(f"/cases/{cid}/outcomes", json=body, headers=svc.city())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "receiving_body"
    r = await svc.client.post(f"/cases/{cid}/outcomes", json={**body, "receiving_body": "太原市市场监督管理局执法稽查局"}, headers=svc.city())
    assert r.status_code == 201
    o = r.json()
    # 抄告 alongside (does not close the case)
    r2 = await svc.client.post(f"/cases/{cid}/outcomes", json={"basis_code": "refer_department_other", "facts": "涉及安全生产问题",
                                                              "receiving_body": "太原市应急管理局"}, headers=svc.city())
    assert r2.status_code == 201
    etag2 = (await svc.client.get(f"/outcomes/{r2.json()['id']}", headers=svc.city())).headers["etag"]
    r = await svc.client.post(f"/outcomes/{r2.json()['id']}/decide", json={"approve": True, "note": "同意抄告"},
                              headers={**svc.city(sub="city-boss"), "If-Match": etag2})
    assert r.status_code == 200
    assert (await svc.case_by_summary(c["summary_id"]))["status"] == "open"
    # another city's official cannot decide; a second city official can
    etag = (await svc.client.get(f"/outcomes/{o['id']}", headers=svc.city())).headers["etag"]
    assert (await svc.client.post(f"/outcomes/{o['id']}/decide", json={"approve": True, "note": "同意"},
                                  headers={**svc.city("140200"), "If-Match": etag})).status_code == 404
    r = await svc.client.post(f"/outcomes/{o['id']}/decide", json={"approve": True, "note": "同意立案"},
                              headers={**svc.city(sub="city-boss"), "If-Match": etag})
    assert r.status_code == 200
    doc = (await svc.client.get(f"/outcomes/{o['id']}", headers=svc.province())).json()["document"]
    assert doc["form"] == "案件来源登记表" and doc["party"]["uscc"] == c["uscc"] and doc["facts"].startswith("企业拒不整改")
    assert doc["receiving_body"] == "太原市市场监督管理局执法稽查局" and doc["registered_by"] == "city-boss"
    case = await svc.case_by_summary(c["summary_id"])
    assert case["status"] == "closed" and case["resolution"] == "case_filed"
    assert case["disclosure"]["follow_up"] == "case_referral"
    roll = {i["city_code"]: i for i in (await svc.client.get("/report/cities", headers=svc.province())).json()["items"]}
    assert roll["140100"]["outcomes"]["file_case"]["decided"] == 1 and roll["140100"]["outcomes"]["refer_department"]["decided"] == 1
    # enterprises never see the outcomes list
    assert (await svc.client.get("/outcomes", headers=svc.enterprise())).status_code == 403


async def test_cancel_for_expiry_needs_an_expired_licence_on_the_case(svc):
    body = {"basis_code": "cancel_expired", "facts": "生产许可证有效期届满未申请延续"}
    valid = await svc.open_case(licences=[{"number": "(晋)XK13-001-90001", "category": "cement", "valid_until": "2027-03-01"}])
    r = await svc.client.post(f"/cases/{valid['id']}/outcomes", json=body, headers=svc.city())
    assert r.status_code == 409 and r.json()["type"].endswith("basis-not-met")
    assert "有效期" in r.json()["detail"] and r.headers["content-type"].startswith("application/problem+json")
    assert await svc.events("rectification.outcome.proposed") == []
    assert (await svc.case_by_summary(valid["summary_id"]))["actions"] == []
    # a licence that expires today is still valid today
    svc.clock.on(dt.date(2024, 9, 27))
    today = await svc.open_case(licences=[{"number": "(晋)XK13-001-90002", "category": "cement", "valid_until": "2024-09-27"}])
    assert (await svc.client.post(f"/cases/{today['id']}/outcomes", json=body, headers=svc.city())).status_code == 409
    mixed = await svc.open_case(licences=[{"number": "(晋)XK13-001-90003", "category": "cement", "valid_until": "2024-06-30"},
                                          {"number": "(晋)XK13-001-90004", "category": "wire_cable", "valid_until": "2028-01-01"}])
    # only the expired licence may be cancelled on this basis: by default the expired ones, a valid one named is refused
    r = await svc.client.post(f"/cases/{mixed['id']}/outcomes", json={**body, "licences": ["(晋)XK13-001-90004"]}, headers=svc.city())
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "licences"
    r = await svc.client.post(f"/cases/{mixed['id']}/outcomes", json=body, headers=svc.city())
    assert r.status_code == 201, r.text
    assert [lic["number"] for lic in r.json()["licences"]] == ["(晋)XK13-001-90003"]


async def test_rejected_proposal_leaves_the_case_open(svc):
    c = await _overdue_case(svc)
    r = await svc.client.post(f"/cases/{c['id']}/outcomes", json={"basis_code": "cancel_stopped", "facts": "企业称已停产"}, headers=svc.city())
    o = r.json()
    etag = (await svc.client.get(f"/outcomes/{o['id']}", headers=svc.province())).headers["etag"]
    r = await svc.client.post(f"/outcomes/{o['id']}/decide", json={"approve": False, "note": "核实仍在生产"},
                              headers={**svc.province("prov-9"), "If-Match": etag})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert await svc.events("rectification.outcome.decided") == []
    assert (await svc.case_by_summary(c["summary_id"]))["status"] == "open"


async def test_overdue_across_a_restart_with_a_moved_clock(rect_url, keys, nats_url, events_prefix, tmp_path):
    cal = WorkCalendar()
    clock = Clock(dt.date(2024, 9, 2))
    app = await make_app(rect_url, keys, clock, nats_url, events_prefix, tmp_path, calendar=cal)
    async with running(app) as client:
        svc = Svc(app, client, keys, clock)
        c = await svc.open_case(on=dt.date(2024, 9, 2), period=(5, "working_days"))
        assert c["deadline"] == "2024-09-09"
        assert (await svc.sweep())["overdue"] == 0
    # the service is down while the deadline passes; it comes back with the clock well past it
    clock.on(dt.date(2024, 9, 12))
    app2 = await make_app(rect_url, keys, clock, nats_url, events_prefix, tmp_path, calendar=cal)
    async with running(app2) as client:
        svc2 = Svc(app2, client, keys, clock)

        async def flagged():
            return (await svc2.case_by_summary(c["summary_id"]))["overdue"]

        from tests.helpers import eventually

        await eventually(flagged)  # no manual step: the sweep ran on start-up
        case = await svc2.case_by_summary(c["summary_id"])
        assert case["overdue_on"] == "2024-09-12"
        assert len(await svc2.events("rectification.case.overdue")) == 1
    # a third start changes nothing
    app3 = await make_app(rect_url, keys, clock, nats_url, events_prefix, tmp_path, calendar=cal)
    async with running(app3) as client:
        svc3 = Svc(app3, client, keys, clock)
        await eventually(lambda: _ran(app3))
        assert len(await svc3.events("rectification.case.overdue")) == 1


async def _ran(app) -> bool:
    return app.state.ctx.extras["sweeper"].runs >= 1


async def test_sweep_one_runner_per_cluster(svc, keys, nats_url, events_prefix, tmp_path, rect_url):
    """Two replicas on one database: only the leader sweeps; when it stops, the other takes over."""
    from services.rectification.sweep import Sweeper

    a = svc.ctx.extras["sweeper"]
    await eventually_runs(a)
    other = Sweeper(svc.ctx)  # a second replica's timer (its own leadership connection)
    assert await other.run_once() is None  # the first replica leads
    assert other.runs == 0
    await a.stop()  # hands the leadership over
    assert await other.run_once() is not None
    assert await a.run_once() is None
    await other.stop()


async def test_two_replicas_with_running_timers_sweep_once(svc, keys, nats_url, events_prefix, tmp_path, rect_url):
    """A second app instance on the same database, its timer ticking fast: while the first replica
    leads, the second never sweeps; once the leader stops, the second takes over and the overdue
    case is flagged exactly once, however often the timers tick."""
    from tests.helpers import eventually

    c = await svc.open_case(on=dt.date(2024, 9, 2), period=(5, "working_days"))
    svc.clock.on(dt.date(2024, 9, 20))  # the deadline has passed; the leader's next tick is an hour away
    leader = svc.ctx.extras["sweeper"]
    runs_before = leader.runs
    app2 = await make_app(rect_url, keys, svc.clock, nats_url, events_prefix, tmp_path, calendar=WorkCalendar(), sweep_interval_seconds=0.05)
    async with running(app2):
        second = app2.state.ctx.extras["sweeper"]

        async def ticked(n):
            async def check():
                return second.ticks >= n
            return check

        await eventually(await ticked(5))
        assert second.runs == 0 and await svc.events("rectification.case.overdue") == []
        await leader.stop()  # the leading replica goes away

        async def flagged():
            return len(await svc.events("rectification.case.overdue")) >= 1

        await eventually(flagged)
        await eventually(await ticked(second.ticks + 5))
        assert second.runs >= 5 and leader.runs == runs_before
        overdue = await svc.events("rectification.case.overdue")
        assert len(overdue) == 1 and overdue[0]["data"]["case_id"] == (await svc.case_by_summary(c["summary_id"]))["id"]


async def eventually_runs(sweeper):
    from tests.helpers import eventually

    async def ran():
        return sweeper.runs >= 1

    await eventually(ran)
