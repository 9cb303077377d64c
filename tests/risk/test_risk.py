"""The risk service end to end: classes from an event history (over NATS and through the
consumer path), explanations, scoping, four-eyes model versions, alerts dedup, the ledger and
its XLSX export, the monthly batch once per cluster, and the fitted scorecard recovering planted effects."""
from __future__ import annotations

import asyncio
import io
import json

from openpyxl import load_workbook
from sqlalchemy import func, select

from shared.leader import Leadership
from services.risk import batch, fitting
from services.risk.consumers import InspectionConsumer, RectificationConsumer, RegistryConsumer
from services.risk.models import Alert, BatchRun, ClassChange
from services.risk.scorecard import EXPERT_V1
from shared.events.bus import EventBus
from shared.events.consumer import process
from tests.helpers import eventually, running

from .conftest import TODAY, overdue, record, registered

U1, U2, U3 = "91140100MA0000001X", "91140100MA0000002X", "91140200MA0000003X"


async def feed(app, event, consumer_cls):
    c = consumer_cls()
    c.ctx = app.state.ctx
    return await process(app.state.ctx.db, app.state.ctx.kernel, c, event, "x." + event["type"].split(".", 1)[1])


def H(keys, sub="prov1", roles=("province_admin",), region="140000"):
    return keys.headers(sub=sub, roles=roles, region=region)


async def outbox(app, suffix):
    t = app.state.ctx.kernel.outbox
    async with app.state.ctx.db.session() as s:
        rows = (await s.execute(select(t.c.payload).where(t.c.subject.endswith(suffix)).order_by(t.c.seq))).scalars().all()
    return [json.loads(p)["data"] for p in rows]


async def test_class_from_event_history_over_nats_and_explanation(make_risk, keys, nats_url, events_prefix):
    app, _ = await make_risk()
    async with running(app) as c:
        bus = EventBus(nats_url, events_prefix)
        js = await bus.jetstream()
        history = [registered(U1, "140105", national=True),
                   record(U1, "140105", "R1", "2025-04-10", items=["A1", "B2"]),
                   record(U1, "140105", "R2", "2026-05-20", items=["A1", "C3"]),
                   overdue(U1, "140105", "C1", "2026-07-01")]
        for e in history:
            await js.publish(f"{events_prefix}.{e['type'].split('.', 1)[1]}", json.dumps(e).encode(), headers={"Nats-Msg-Id": e["id"]})
        await bus.close()

        async def classified():
            r = await c.get(f"/classes/{U1}", headers=H(keys))
            ind = r.json()["indicators"] if r.status_code == 200 else {}
            # every one of the four events applied (consumers run concurrently; a conflicting first insert is
            # retried, so the registry's event may land last: its flag is waited for too)
            return r.json() if (ind.get("rectification_overdue_2y") == 1 and ind.get("failed_inspections_2y") == 2
                                and ind.get("national_fail_5y") in (1, True)) else None

        body = await eventually(classified, timeout=30)
    # expert card v1: national 30 + failed 2 (≥2) 30 + nonconformities 4 (≥4) 12 + overdue 25
    # + licence age 11.7 y (≥10) −4 = 93 → D (≥ 55)
    assert body["score"] == 93 and body["class"] == "D" and body["model_version"] == 1
    assert body["base"] + sum(x["points"] for x in body["contributions"]) == body["score"]
    assert [w["indicator"] for w in body["why"]] == ["failed_inspections_2y", "national_fail_5y", "rectification_overdue_2y"]
    assert [w["points"] for w in body["why"]] == [30, 30, 25]
    assert body["history"][0]["to"] == "D" and body["history"][0]["model_version"] == 1
    assert any(e["class"] == "D" and e["uscc"] == U1 for e in await outbox(app, ".risk.class.changed"))


async def _seed(app):
    for e in (registered(U1, "140105", national=True), registered(U2, "140106", category="hazardous_chemicals"),
              registered(U3, "140202", national=True, name="=HYPERLINK(\"http://x\")")):
        assert await feed(app, e, RegistryConsumer)
    for e in (record(U1, "140105", "R1", "2025-04-10", items=["A1"]), record(U1, "140105", "R2", "2026-05-20", items=["A1"]),
              record(U3, "140202", "R3", "2026-03-01", items=["B1"]), record(U3, "140202", "R4", "2026-06-01", items=["B1"])):
        assert await feed(app, e, InspectionConsumer)
    assert await feed(app, overdue(U3, "140202", "C3", "2026-08-01"), RectificationConsumer)


async def test_scoping_roles_and_province_only_lookup(make_risk, keys):
    app, _ = await make_risk()
    async with running(app) as c:
        await _seed(app)
        city = H(keys, sub="ty", roles=("city_admin",), region="140100")
        r = await c.get("/classes", headers=city)
        assert {i["uscc"] for i in r.json()["items"]} == {U1, U2}
        assert (await c.get(f"/classes/{U3}", headers=city)).status_code == 404
        assert (await c.get(f"/classes/{U1}", headers=H(keys, sub="x", roles=("county_admin",), region="140106"))).status_code == 404
        for roles in (("enterprise",), ("inspector",), ("expert",), ("gov_client",), ("credit_system",)):
            assert (await c.get("/classes", headers=H(keys, sub="e", roles=roles))).status_code == 403
        # the lookup sampling calls at freeze time: province admin only
        r = await c.post("/population/classes", json={"uscc": [U1, U3, "UNKNOWN"]}, headers=H(keys))
        assert r.status_code == 200, r.text
        assert r.json()["classes"][U1] == "D" and r.json()["unknown"] == ["UNKNOWN"]
        for hdr in (city, H(keys, sub="d", roles=("discipline",)), H(keys, sub="c", roles=("county_admin",), region="140105")):
            assert (await c.post("/population/classes", json={"uscc": [U1]}, headers=hdr)).status_code == 403
        r = await c.post("/population/classes", json={"uscc": "x" * 10}, headers=H(keys))
        assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")


async def test_ledger_scoped_and_xlsx_neutralised(make_risk, keys):
    app, _ = await make_risk()
    async with running(app) as c:
        await _seed(app)
        city = H(keys, sub="ty", roles=("city_admin",), region="140100")
        r = await c.get("/ledger", headers=city)
        items = r.json()["items"]
        assert U3 not in {i["uscc"] for i in items} and U1 in {i["uscc"] for i in items}
        assert (await c.get("/ledger", params={"bureau": "140200"}, headers=city)).status_code == 404
        dt_ = H(keys, sub="dt", roles=("city_admin",), region="140200")
        r = await c.get("/ledger", headers=dt_)
        row = next(i for i in r.json()["items"] if i["uscc"] == U3)
        assert {i["kind"] for i in row["open_issues"]} == {"rectification_overdue"}
        assert {a["rule"] for a in row["open_alerts"]} >= {"repeat_failures", "rectification_overdue"}
        r = await c.get("/ledger.xlsx", headers=dt_)
        assert r.status_code == 200
        ws = load_workbook(io.BytesIO(r.content)).active
        rows = list(ws.iter_rows(values_only=True))
        assert rows[1][0] == U3 and rows[1][1].startswith("'=HYPERLINK")
        assert all(U1 not in (x or "") for row in rows for x in row if isinstance(x, str))


async def test_alerts_deduplicated_acknowledged_closed(make_risk, keys):
    app, _ = await make_risk()
    async with running(app) as c:
        await _seed(app)
        e = record(U1, "140105", "R1b", "2026-09-01", items=["A2"])
        assert await feed(app, e, InspectionConsumer)
        assert not await feed(app, e, InspectionConsumer)  # redelivery: no effect
        async with app.state.ctx.db.session() as s:
            rows = (await s.execute(select(Alert).where(Alert.uscc == U1, Alert.rule == "repeat_failures"))).scalars().all()
        assert len(rows) == 1 and rows[0].occurrences == 2 and rows[0].evidence["count"] == 3
        assert len(await outbox(app, ".risk.alert.raised")) >= 1 and len(await outbox(app, ".risk.alert.merged")) == 1
        county = H(keys, sub="xd", roles=("county_admin",), region="140105")
        aid = rows[0].id
        r = await c.get(f"/alerts/{aid}", headers=county)
        assert r.status_code == 200 and r.json()["bureau_code"] == "140105"
        assert (await c.get(f"/alerts/{aid}", headers=H(keys, sub="o", roles=("county_admin",), region="140106"))).status_code == 404
        assert (await c.post(f"/alerts/{aid}/acknowledge", json={}, headers=county)).status_code == 428
        r = await c.post(f"/alerts/{aid}/acknowledge", json={"note": "已安排核查"}, headers={**county, "If-Match": r.headers["etag"]})
        assert r.status_code == 200 and r.json()["status"] == "acknowledged"
        assert (await c.post(f"/alerts/{aid}/close", json={"note": ""}, headers={**county, "If-Match": r.headers["etag"]})).status_code == 422
        assert (await c.post(f"/alerts/{aid}/close", json={"note": "已核查处置"}, headers={**county, "If-Match": '"v1"'})).status_code == 412
        r = await c.post(f"/alerts/{aid}/close", json={"note": "已核查处置"}, headers={**county, "If-Match": r.headers["etag"]})
        assert r.status_code == 200 and r.json()["status"] == "closed"
        assert (await outbox(app, ".risk.alert.closed"))[0]["note"] == "已核查处置"
        # the same evidence does not raise it again; new evidence does (a new alert)
        assert await feed(app, registered(U1, "140105", national=True), RegistryConsumer)
        async with app.state.ctx.db.session() as s:
            assert (await s.execute(select(func.count()).select_from(Alert).where(Alert.uscc == U1, Alert.rule == "repeat_failures"))).scalar_one() == 1
        assert await feed(app, record(U1, "140105", "R1c", "2026-10-01", items=["A3"]), InspectionConsumer)
        async with app.state.ctx.db.session() as s:
            st = (await s.execute(select(Alert.status).where(Alert.uscc == U1, Alert.rule == "repeat_failures").order_by(Alert.raised_at))).scalars().all()
        assert st == ["closed", "open"]


async def test_cluster_alert_for_same_item_in_city_and_category(make_risk, keys):
    app, _ = await make_risk()
    async with running(app):
        for i in range(4):
            u = f"9114010000000{i:04d}X"
            await feed(app, registered(u, "140105"), RegistryConsumer)
            await feed(app, record(u, "140105", f"RC{i}", "2026-06-0" + str(i + 1), items=["D1"] if i > 0 else []), InspectionConsumer)
        async with app.state.ctx.db.session() as s:
            rows = (await s.execute(select(Alert).where(Alert.rule == "cluster_nonconformity"))).scalars().all()
        assert len(rows) == 1 and rows[0].bureau_code == "140100" and rows[0].evidence["affected"] == 3 and rows[0].evidence["inspected"] == 4


async def test_new_model_version_needs_a_second_official(make_risk, keys):
    app, _ = await make_risk()
    async with running(app) as c:
        await _seed(app)
        stricter = json.loads(json.dumps(EXPERT_V1))
        stricter["thresholds"] = {"B": 5, "C": 20, "D": 40}
        assert (await c.post("/models", json={"name": "x", "definition": stricter}, headers=H(keys, sub="c", roles=("city_admin",), region="140100"))).status_code == 403
        bad = {**stricter, "thresholds": {"B": 50, "C": 20, "D": 40}}
        r = await c.post("/models", json={"name": "坏版本", "definition": bad}, headers=H(keys))
        assert r.status_code == 422 and r.json()["errors"][0]["field"] == "definition.thresholds"
        r = await c.post("/models", json={"name": "严格版", "definition": stricter}, headers={**H(keys), "Idempotency-Key": "m1"})
        assert r.status_code == 201, r.text
        v = r.json()["version"]
        r2 = await c.post("/models", json={"name": "严格版", "definition": stricter}, headers={**H(keys), "Idempotency-Key": "m1"})
        assert r2.json()["version"] == v and r2.headers.get("idempotent-replayed") == "true"
        r = await c.post(f"/models/{v}/propose", headers={**H(keys), "If-Match": r.headers["etag"]})
        assert r.status_code == 200 and r.json()["status"] == "proposed"
        etag = r.headers["etag"]
        preview = (await c.get(f"/models/{v}/preview", headers=H(keys))).json()
        assert preview["enterprises"] == 3 and sum(sum(row.values()) for row in preview["matrix"].values()) == 3
        assert preview["moved"] == 1 and preview["matrix"]["A"]["B"] == 1  # U2: hazard 10 − age 4 = 6 ≥ 5
        r = await c.post(f"/models/{v}/adopt", headers={**H(keys), "If-Match": etag})
        assert r.status_code == 403 and r.json()["type"].endswith("four-eyes")
        r = await c.post(f"/models/{v}/adopt", json={"note": "复核同意"}, headers={**H(keys, sub="prov2"), "If-Match": etag})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "adopted" and r.json()["reclassified"] == {"enterprises": 3, "changed": 1}
        async with app.state.ctx.db.session() as s:
            ch = (await s.execute(select(ClassChange).where(ClassChange.model_version == v))).scalars().all()
        assert len(ch) == 1 and ch[0].cause == f"model:{v}"
        models = (await c.get("/models", headers=H(keys))).json()["items"]
        assert [m["status"] for m in models[:2]] == ["adopted", "superseded"]


async def test_two_versions_adopted_at_once_leave_one_adopted(make_risk, keys):
    """Two adoptions racing: both wait on the adopted row (a transaction holding it stands in for a slow third
    one); when it lets go they go one after the other, so the later supersedes the earlier."""
    from sqlalchemy import text, update as sa_update
    from services.risk.models import ScoreModel

    app, _ = await make_risk()
    db = app.state.ctx.db
    async with running(app) as c:
        etags = {}
        for name in ("甲版", "乙版"):
            d = json.loads(json.dumps(EXPERT_V1))
            r = await c.post("/models", json={"name": name, "definition": d}, headers=H(keys))
            r = await c.post(f"/models/{r.json()['version']}/propose", headers={**H(keys), "If-Match": r.headers["etag"]})
            etags[r.json()["version"]] = r.headers["etag"]

        async def waiting() -> bool:
            async with db.session() as s:
                n = (await s.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                          "AND wait_event_type = 'Lock'"))).scalar_one()
            return n >= 2

        async with db.transaction() as s:
            if db.sqlite:  # SQLite: the write lock, which every writer waits for
                await s.execute(sa_update(ScoreModel).where(ScoreModel.version == 1).values(row_version=ScoreModel.row_version))
            else:
                await s.execute(select(ScoreModel).where(ScoreModel.version == 1).with_for_update())
            tasks = [asyncio.create_task(c.post(f"/models/{v}/adopt", json={"note": "同意"}, headers={**H(keys, sub=f"p{v}"), "If-Match": e}))
                     for v, e in etags.items()]
            if db.sqlite:
                await asyncio.sleep(0.5)
            else:
                await eventually(waiting)
        answers = await asyncio.gather(*tasks)
        assert all(a.status_code in (200, 409) for a in answers), [a.text for a in answers]
        models = {m["version"]: m["status"] for m in (await c.get("/models", headers=H(keys))).json()["items"]}
        assert list(models.values()).count("adopted") == 1 and models[1] == "superseded", models


async def test_monthly_batch_runs_once_per_cluster(make_risk, keys):
    app1, url = await make_risk()
    app2, _ = await make_risk(url=url)
    async with running(app1), running(app2):
        await _seed(app1)
        r1, r2 = await asyncio.gather(batch.run_monthly(app1.state.ctx, "2026-11", "a"), batch.run_monthly(app2.state.ctx, "2026-11", "b"))
        assert sorted([r1["ran"], r2["ran"]]) == [False, True]
        done = r1 if r1["ran"] else r2
        assert done["enterprises"] == 3
        assert (await batch.run_monthly(app1.state.ctx, "2026-11", "c"))["ran"] is False
        # a run left midway by a crashed replica (its row says running, nobody holds its lock) is taken over
        async with app1.state.ctx.db.transaction() as s:
            s.add(BatchRun(period="2026-12", holder="dead", status="running"))
        assert (await batch.run_monthly(app2.state.ctx, "2026-12", "b"))["ran"] is True
        # while a replica is running a period (it holds the period's lock), nobody else starts it
        async with app1.state.ctx.db.transaction() as s:
            s.add(BatchRun(period="2027-01", holder="alive", status="running"))
        alive = Leadership(app1.state.ctx.db, f"{batch.TIMER}:2027-01")
        try:
            assert await alive.held() is True
            assert (await batch.run_monthly(app2.state.ctx, "2027-01", "b"))["ran"] is False
        finally:
            await alive.release()
        assert (await batch.run_monthly(app2.state.ctx, "2027-01", "b"))["ran"] is True
        # the background timer runs in every replica, the batch only in the leader's
        t1, t2 = batch.timer(app1.state.ctx, 3600), batch.timer(app2.state.ctx, 3600)
        try:
            assert (await t1.tick())["period"] == batch.period_of(TODAY) and await t2.tick() is None
            assert (t1.runs, t2.runs) == (1, 0)
        finally:
            await t1.stop()
            await t2.stop()


def test_fitted_scorecard_recovers_planted_effects():
    report = fitting.fit_demo(seed=2022, enterprises=3000)
    fitted, planted = report["history"]["fitted_log_odds"], report["history"]["planted_log_odds"]
    for code in ("national_fail_5y", "hazard", "rectification_overdue_2y", "licence_age_years"):
        assert abs(fitted[code] - planted[code]) < 0.4, (code, fitted[code], planted[code])
    # failure history is split between two collinear indicators; together they carry the planted effect
    both = report["coefficients"]["failed_inspections_2y"]["1"] + report["coefficients"]["nonconformities_2y"]["1"]
    assert abs(both - planted["failed_inspections_2y"]) < 0.4
    assert abs(fitted["not_inspected_2y"]) < 0.4  # the decoy has no effect
    assert report["auc_test"] > 0.65 and report["test_year"] == 2025
    rates = report["classes_test"]
    assert rates["D"]["rate"] > rates["C"]["rate"] > rates["A"]["rate"] and rates["D"]["rate"] > 3 * rates["A"]["rate"]
    # what the reviewer is told to look at: the indicators whose fitted bins move against the expert card's
    from services.risk.scorecard import EXPERT_V1
    card = report["definition"]["indicators"]
    expert = {c: [b["points"] for b in bins] for c, bins in EXPERT_V1["indicators"].items()}
    against = {c for c, bins in card.items() for j in range(len(bins) - 1)
               if (expert[c][j + 1] - expert[c][j]) * (bins[j + 1]["points"] - bins[j]["points"]) < 0}
    assert {w["indicator"] for w in report["direction_warnings"]} == against
    assert "licence_age_years" not in against  # a protective indicator falling with age is the expected direction


def test_direction_warnings_name_bins_that_move_against_the_expert_card():
    ref = {"indicators": {"refusals": [{"points": 0}, {"points": 35}], "age": [{"points": 6}, {"points": 0}, {"points": -4}],
                          "fails": [{"points": 0}, {"points": 15}, {"points": 30}]}}
    card = {"indicators": {"refusals": [{"upper": 0, "points": 0}, {"upper": None, "points": -8}],
                           "age": [{"upper": 1, "points": 0}, {"upper": 5, "points": -14}, {"upper": None, "points": -14}],
                           "fails": [{"upper": 0, "points": 0}, {"upper": 1, "points": 15}, {"upper": None, "points": 6}]}}
    assert fitting.direction_warnings(card, ref) == [
        {"indicator": "refusals", "points": [0, -8], "expert_points": [0, 35], "message": "与专家评分卡方向相反：指标越高，评分反而越低"},
        {"indicator": "fails", "points": [0, 15, 6], "expert_points": [0, 15, 30], "message": "与专家评分卡方向相反：指标越高，评分反而越低"}]
    rising_age = {"indicators": {"age": [{"points": 0}, {"points": 3}, {"points": 3}]}}
    assert fitting.direction_warnings(rising_age, ref)[0]["message"] == "与专家评分卡方向相反：指标越高，评分反而越高"


async def test_corrections_replace_facts_and_issues_follow_cases(make_risk, keys):
    from services.risk.consumers import DisclosureConsumer
    from .conftest import ev

    app, _ = await make_risk()
    async with running(app) as c:
        await feed(app, registered(U2, "140106"), RegistryConsumer)
        await feed(app, record(U2, "140106", "RA", "2026-05-01", items=["A1", "A2", "A3"]), InspectionConsumer)
        amended = record(U2, "140106", "RA", "2026-05-01", items=[])
        amended["type"] = amended["type"].replace(".submitted", ".amended")
        await feed(app, amended, InspectionConsumer)
        body = (await c.get(f"/classes/{U2}", headers=H(keys))).json()
        assert body["indicators"]["nonconformities_2y"] == 0 and body["indicators"]["failed_inspections_2y"] == 0
        pub = ev("disclosure", "result", "published", {"result_id": "D1", "version": 1, "uscc": U2, "region_code": "140106",
                                                        "categories": ["problem_pending"], "completed_on": "2026-05-01"})
        await feed(app, pub, DisclosureConsumer)
        corrected = ev("disclosure", "result", "corrected", {**pub["data"], "version": 2, "categories": ["no_problem"]})
        await feed(app, corrected, DisclosureConsumer)
        assert (await c.get(f"/classes/{U2}", headers=H(keys))).json()["indicators"]["disclosed_problems_3y"] == 0
        await feed(app, ev("rectification", "case", "opened", {"case_id": "K1", "uscc": U2, "region_code": "140106", "deadline": "2026-12-20",
                                                                "problems_total": 2, "problems_open": 2}), RectificationConsumer)
        row = (await c.get("/ledger", headers=H(keys))).json()["items"]
        assert [i["kind"] for i in next(r for r in row if r["uscc"] == U2)["open_issues"]] == ["rectification_open"]
        await feed(app, ev("rectification", "case", "closed", {"case_id": "K1", "uscc": U2, "region_code": "140106", "closed_on": "2026-12-01"}),
                   RectificationConsumer)
        assert U2 not in {r["uscc"] for r in (await c.get("/ledger", headers=H(keys))).json()["items"]}


async def test_site_hints_never_move_an_enterprise_to_another_city(make_risk, keys):
    """The region is the registry's: a task, record or case about a site in another city only fills an empty region."""
    from services.risk.consumers import SchedulingConsumer
    from .conftest import ev

    U, NEW = "91140100MA0000009X", "91140100MA0000010X"
    site = {"id": "S2", "address": "大同市某路", "region_code": "140202"}

    def task(uscc, tid):
        return ev("scheduling", "task", "dispatched", {"task_id": tid, "plan_id": "P", "team_id": "TM",
                  "enterprise": {"uscc": uscc, "name": "太原企业", "categories": ["cement"]}, "site": site,
                  "city_code": "140200", "county_code": "140202"})

    app, _ = await make_risk()
    async with running(app) as c:
        assert await feed(app, registered(U, "140105", national=True), RegistryConsumer)
        assert await feed(app, task(U, "T1"), SchedulingConsumer)
        assert await feed(app, record(U, "140202", "R9", "2026-05-01", items=["A1"]), InspectionConsumer)
        assert await feed(app, overdue(U, "140202", "K9", "2026-06-01"), RectificationConsumer)
        ty = H(keys, sub="ty", roles=("city_admin",), region="140100")
        dt_ = H(keys, sub="dt", roles=("city_admin",), region="140200")
        assert (await c.get(f"/classes/{U}", headers=ty)).json()["region_code"] == "140105"
        assert (await c.get(f"/classes/{U}", headers=dt_)).status_code == 404
        assert U not in {i["uscc"] for i in (await c.get("/ledger", headers=dt_)).json()["items"]}
        assert U in {i["uscc"] for i in (await c.get("/ledger", headers=ty)).json()["items"]}
        # an enterprise the registry has not told about yet: the site fills the empty region until it does
        assert await feed(app, task(NEW, "T2"), SchedulingConsumer)
        assert await feed(app, overdue(NEW, "140202", "K10", "2026-06-01"), RectificationConsumer)
        assert (await c.get(f"/classes/{NEW}", headers=dt_)).status_code == 200
        assert await feed(app, registered(NEW, "140106"), RegistryConsumer)
        assert (await c.get(f"/classes/{NEW}", headers=dt_)).status_code == 404
        assert (await c.get(f"/classes/{NEW}", headers=ty)).json()["region_code"] == "140106"


async def test_bad_input_is_a_problem_never_a_500(make_risk, keys):
    app, _ = await make_risk()
    async with running(app) as c:
        for path, params in (("/classes", {"class": "E"}), ("/classes", {"region": "abc"}), ("/ledger", {"bureau": "abc"}),
                             ("/classes", {"cursor": "%%%"}), ("/alerts", {"status": "weird"}), ("/models/abc", {})):
            r = await c.get(path, params=params, headers=H(keys))
            assert 400 <= r.status_code < 500 and r.headers["content-type"].startswith("application/problem+json"), (path, r.status_code)
        bad = {"base": 0, "indicators": {"nope": [], "hazard": [{"upper": 1, "points": "x"}, {"upper": 2, "points": 1}]},
               "thresholds": {"B": 1, "C": 2}}
        r = await c.post("/models", json={"name": "坏版本", "definition": bad}, headers=H(keys))
        fields = {e["field"] for e in r.json()["errors"]}
        assert r.status_code == 422 and {"definition.indicators.nope", "definition.indicators.hazard[0].points",
                                         "definition.indicators.hazard[1].upper", "definition.thresholds"} <= fields
        r = await c.post("/population/classes", json={"uscc": ["x" * 65]}, headers=H(keys))
        assert r.status_code == 422
        assert (await c.post("/models/99/adopt", headers={**H(keys), "If-Match": '"v1"'})).status_code == 404


async def test_sync_from_registry_population_forwards_the_token(make_risk, keys):
    import httpx

    from services.risk.sync import RegistryReader

    seen_auth = []
    population = [{"uscc": f"9114010000SYNC{i:04d}", "name": f"同步企业{i}", "region_code": "140105" if i % 2 else "140202",
                   "production_status": "在产", "categories": ["cement"], "flags": {"national_fail_5y": i < 3, "provincial_fail_2021": False},
                   "licences": [{"number": f"(晋)XK13-S{i:04d}", "category": "cement", "status": "有效",
                                 "issue_date": "2012-01-01", "expiry_date": "2027-03-01" if i == 1 else "2028-03-01"}]} for i in range(7)]

    def handler(request: httpx.Request) -> httpx.Response:
        seen_auth.append(request.headers.get("authorization"))
        if request.url.params.get("cursor"):
            return httpx.Response(200, json={"items": population[4:], "next_cursor": None})
        return httpx.Response(200, json={"items": population[:4], "next_cursor": "p2"})

    app, _ = await make_risk()
    app.state.ctx.extras["registry_reader"] = RegistryReader("http://registry", transport=httpx.MockTransport(handler))
    async with running(app) as c:
        city = H(keys, sub="ty", roles=("city_admin",), region="140100")
        assert (await c.post("/sync/registry", headers=city)).status_code == 403
        prov = H(keys)
        r = await c.post("/sync/registry", headers=prov)
        assert r.status_code == 200, r.text
        assert r.json()["enterprises"] == 7 and r.json()["reclassified"]["enterprises"] == 7
        assert seen_auth == [prov["Authorization"]] * 2
        items = (await c.get("/classes", headers=city)).json()["items"]
        assert {i["uscc"] for i in items} == {p["uscc"] for p in population if p["region_code"] == "140105"}
        body = (await c.get(f"/classes/{population[1]['uscc']}", headers=city)).json()
        # national 30 + renewal due within 180 days 5 − licence age ≥ 10 y 4 = 31 → C
        assert body["indicators"]["national_fail_5y"] == 1 and body["score"] == 31 and body["class"] == "C"
        alerts = (await c.get("/alerts", params={"rule": "licence_expiring"}, headers=city)).json()["items"]
        assert [a["uscc"] for a in alerts] == [population[1]["uscc"]] and "2027-03-01" in alerts[0]["reason"]


async def test_replicas_starting_together_install_the_initial_scorecard_once(make_risk):
    from services.risk import versions
    from services.risk.models import ScoreModel

    app1, url = await make_risk()
    app2, _ = await make_risk(url=url)
    # both replicas' start-up hooks at once on an empty database: neither fails, one model
    await asyncio.gather(*(versions.ensure_initial(a.state.ctx) for a in (app1, app2, app1, app2)))
    async with app1.state.ctx.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(ScoreModel))).scalar_one() == 1
    for a in (app1, app2):
        await a.state.ctx.db.dispose()
