"""Results end to end: from the inspection's events, 录入 → 审核 → 公示, corrections and
withdrawals as versions, jurisdiction, the public API (no token, no personal data, ETag, rate
limit, forwarded addresses), the 20-working-day deadline lists and overdue flag, export."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json

from openpyxl import load_workbook
from sqlalchemy import select

from services.disclosure.models import kernel
from shared.calendar import WorkCalendar
from tests.helpers import running

from .conftest import (CITY, COUNTY, COUNTY2, CREDIT, DISCIPLINE, OTHER_CITY, PROVINCE, case_closed_event, feed, make_app, publish,
                       record_event, result_for)


async def outbox_subjects(app) -> list[str]:
    async with app.state.ctx.db.session() as s:
        return list((await s.execute(select(kernel.outbox.c.subject).order_by(kernel.outbox.c.seq))).scalars())


def H(keys, who, etag=None):
    h = keys.headers(**who)
    if etag:
        h["If-Match"] = etag
    return h


async def test_entry_review_publication_versions_and_public_view(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        ev = record_event(categories=["problem_pending"], follow_up="order_correction", name="太原某水泥有限公司")
        assert await feed(app, ev)
        assert not await feed(app, ev)  # redelivery is harmless
        res = await result_for(c, keys, ev["data"]["record_id"])
        assert res["status"] == "pending" and res["due_on"] == "2024-10-30"
        assert [x["code"] for x in res["categories"]] == ["problem_pending"]  # the form starts from the inspection's outcome
        rid = res["id"]

        # jurisdiction: another city neither sees it in lists nor by id
        assert (await c.get(f"/results/{rid}", headers=H(keys, OTHER_CITY))).status_code == 404
        assert (await c.get("/results", headers=H(keys, OTHER_CITY))).json()["items"] == []
        assert (await c.get("/results", headers=H(keys, CREDIT))).status_code == 403

        # 录入: If-Match required, codes checked with Chinese field errors
        body = {"categories": ["problem_corrected"], "follow_up": "order_correction"}
        assert (await c.put(f"/results/{rid}/entry", headers=H(keys, COUNTY), json=body)).status_code == 428
        bad = await c.put(f"/results/{rid}/entry", headers=H(keys, COUNTY, '"v1"'), json={"categories": ["no_problem", "bogus"], "follow_up": "x"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        fields = {e["field"] for e in bad.json()["errors"]}
        assert {"categories.1", "categories", "follow_up"} <= fields
        # nor a clean result for a record with findings (an attacker audit published 未发现问题 for one through two accounts)
        clean = await c.put(f"/results/{rid}/entry", headers=H(keys, COUNTY, '"v1"'), json={"categories": ["no_problem"], "follow_up": "none_needed"})
        assert clean.status_code == 422 and clean.json()["type"].endswith("outcome-contradicts-record") and clean.json()["errors"][0]["field"] == "categories"
        r = await c.put(f"/results/{rid}/entry", headers=H(keys, COUNTY, '"v1"'), json=body)
        assert r.status_code == 200 and r.json()["status"] == "submitted"
        etag = r.headers["etag"]

        # 审核: not by the official who entered it, not by another county; by another official of the bureau
        same = await c.post(f"/results/{rid}/review", headers=H(keys, COUNTY, etag), json={"decision": "approve"})
        assert same.status_code == 403 and same.json()["type"].endswith("reviewer-is-enterer")
        other_county = dict(sub="jinyuan-1", roles=["county_admin"], region="140110")
        assert (await c.post(f"/results/{rid}/review", headers=H(keys, other_county, etag), json={"decision": "approve"})).status_code == 404
        back = await c.post(f"/results/{rid}/review", headers=H(keys, COUNTY2, etag), json={"decision": "return", "note": "请核对"})
        assert back.status_code == 200 and back.json()["status"] == "returned"
        r = await c.put(f"/results/{rid}/entry", headers=H(keys, COUNTY, back.headers["etag"]), json=body)
        pub = await c.post(f"/results/{rid}/review", headers=H(keys, CITY, r.headers["etag"]), json={"decision": "approve"})
        assert pub.status_code == 200 and pub.json()["status"] == "published"
        assert (await c.post(f"/results/{rid}/review", headers=H(keys, CITY, pub.headers["etag"]), json={"decision": "approve"})).status_code == 409

        # the public: no token, current version, nothing personal
        pl = await c.get("/public/results", params={"uscc": ev["data"]["uscc"]})
        assert pl.status_code == 200 and len(pl.json()["items"]) == 1
        item = pl.json()["items"][0]
        assert item["enterprise_name"] == "太原某水泥有限公司" and item["authority"]["name"] == "小店区市场监督管理局"
        assert item["type"]["label"] == "双随机抽查" and item["categories"] == [{"code": "problem_corrected", "label": "发现问题已责令改正"}]
        assert item["corrected"] is False
        text = pl.text
        for secret in ("张三", "xiaodian-1", "xiaodian-2", "taiyuan-1", "site_address", "某路1号", "findings"):
            assert secret not in text
        one = await c.get(f"/public/results/{rid}")
        assert one.status_code == 200 and one.headers["etag"]
        assert (await c.get(f"/public/results/{rid}", headers={"If-None-Match": one.headers["etag"]})).status_code == 304
        assert (await c.get("/public/results/nope")).status_code == 404

        # correction: entered with a reason, reviewed by another official, then a new version; the public sees that it was corrected
        assert (await c.post(f"/results/{rid}/corrections", headers=H(keys, CITY, pub.headers["etag"]),
                             json={"categories": ["no_problem"], "follow_up": "none_needed", "reason": "改为未发现问题"})).status_code == 422
        corr = await c.post(f"/results/{rid}/corrections", headers=H(keys, CITY, pub.headers["etag"]),
                            json={"categories": ["problem_pending"], "follow_up": "case_referral", "reason": "复查发现问题未整改到位"})
        assert corr.status_code == 200, corr.text
        assert corr.json()["correction"]["status"] == "submitted" and corr.json()["correction_pending"] is True
        assert (await c.get(f"/public/results/{rid}")).json()["version"] == 1  # not public before its review
        corr = await c.post(f"/results/{rid}/corrections/review", headers=H(keys, COUNTY2, corr.headers["etag"]), json={"decision": "approve"})
        assert corr.status_code == 200, corr.text
        one2 = await c.get(f"/public/results/{rid}", headers={"If-None-Match": one.headers["etag"]})
        assert one2.status_code == 200 and one2.json()["corrected"] is True and one2.json()["version"] == 2
        # withdrawal: city or province only
        assert (await c.post(f"/results/{rid}/withdrawal", headers=H(keys, COUNTY, corr.headers["etag"]), json={"reason": "录入错误"})).status_code == 403
        wd = await c.post(f"/results/{rid}/withdrawal", headers=H(keys, CITY, corr.headers["etag"]), json={"reason": "录入对象错误"})
        assert wd.status_code == 200 and wd.json()["status"] == "withdrawn"
        assert (await c.get("/public/results", params={"uscc": ev["data"]["uscc"]})).json()["items"] == []
        assert (await c.get(f"/public/results/{rid}")).json()["status"] == "withdrawn"

        # history for the discipline role; feed in total order
        hist = await c.get(f"/results/{rid}/versions", headers=H(keys, DISCIPLINE))
        assert [(v["version"], v["kind"], v["actor"]) for v in hist.json()["items"]] == [
            (1, "published", "taiyuan-1"), (2, "corrected", "xiaodian-2"), (3, "withdrawn", "taiyuan-1")]
        assert hist.json()["items"][1]["reason"] == "复查发现问题未整改到位"
        fd = await c.get("/feed", headers=H(keys, CREDIT))
        assert [(i["type"], i["version"]) for i in fd.json()["items"]] == [
            ("inspection_result.published", 1), ("inspection_result.corrected", 2), ("inspection_result.withdrawn", 3)]
        assert (await c.get("/feed", headers=H(keys, COUNTY))).status_code == 403
        seqs = [i["seq"] for i in fd.json()["items"]]
        resumed = await c.get("/feed", headers=H(keys, CREDIT), params={"after": fd.json()["items"][0]["cursor"]})
        assert [i["seq"] for i in resumed.json()["items"]] == seqs[1:]
        assert (await c.get("/feed", headers=H(keys, CREDIT), params={"after": "!!"})).status_code == 400
        # a plain sequence number works; digits int() refuses and numbers beyond the column are a 400, not a 500 (attacker audit)
        assert [i["seq"] for i in (await c.get("/feed", headers=H(keys, CREDIT), params={"after": str(seqs[0])})).json()["items"]] == seqs[1:]
        from shared.pagination import encode_cursor
        for bad in ("²", "١٢", "9" * 30, str(2**63), encode_cursor([2**70]), encode_cursor([True]), encode_cursor([-1])):
            r = await c.get("/feed", headers=H(keys, CREDIT), params={"after": bad})
            assert r.status_code == 400 and r.json()["errors"][0]["field"] == "after", (bad, r.text)

        subjects = await outbox_subjects(app)
        verbs = [s.rsplit(".", 1)[-1] for s in subjects if ".disclosure.result." in s]
        assert [v for v in verbs if v != "overdue"] == ["published", "corrected", "withdrawn"]  # (the timer flags it overdue too: 2024)
        ver = await c.get("/audit/verify", headers=H(keys, DISCIPLINE))
        assert ver.json()["ok"] is True


async def test_amendment_and_closed_case_change_the_result(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        ev = record_event(categories=["problem_pending"], follow_up="order_correction")
        rec = ev["data"]["record_id"]
        await feed(app, ev)
        # amended before entry: the form follows the new outcome and completion date
        await feed(app, record_event(verb="amended", record_id=rec, uscc=ev["data"]["uscc"], completed_on="2025-01-24",
                                     categories=["problem_corrected"], follow_up="order_correction"))
        res = await result_for(c, keys, rec)
        assert [x["code"] for x in res["categories"]] == ["problem_corrected"]
        assert res["due_on"] == "2025-02-27" and res["needs_correction"] is False
        # a closed case for a record not received yet is refused (retried, then parked for replay)
        import pytest

        with pytest.raises(LookupError):
            await feed(app, case_closed_event("rec-unknown"))
        pub = await publish(c, keys, app, record_id=None, categories=["problem_pending"], follow_up="order_correction")
        closed = case_closed_event((await c.get(f"/results/{pub['id']}", headers=H(keys, PROVINCE))).json()["record_id"])
        assert await feed(app, closed)
        after = (await c.get(f"/results/{pub['id']}", headers=H(keys, PROVINCE))).json()
        assert after["needs_correction"] is True and after["status"] == "published"
        assert after["suggested"] == {"categories": ["problem_corrected"], "follow_up": "order_correction"}
        listed = await c.get("/results", headers=H(keys, CITY), params={"needs_correction": "true"})
        assert [i["id"] for i in listed.json()["items"]] == [pub["id"]]
        # the public still sees the published version until someone corrects it
        assert (await c.get(f"/public/results/{pub['id']}")).json()["categories"][0]["code"] == "problem_pending"


async def test_deadlines_per_bureau_and_overdue_flag_once(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix, today=dt.date(2024, 10, 28))
    async with running(app) as c:
        late = record_event(completed_on="2024-08-01")  # due 2024-08-29: overdue
        soon = record_event(completed_on="2024-09-27")  # due 2024-10-30 (国庆, 调休 09-29 and 10-12): within 5 working days
        later = record_event(completed_on="2024-10-25")  # due 2024-11-22
        other = record_event(completed_on="2024-08-01", region="140202")  # 大同: overdue, another bureau
        for e in (late, soon, later, other):
            await feed(app, e)
        ids = {k: (await result_for(c, keys, e["data"]["record_id"]))["id"] for k, e in
               {"late": late, "soon": soon, "later": later, "other": other}.items()}

        async def listed(who, deadline):
            return {i["id"] for i in (await c.get("/results", headers=H(keys, who), params={"deadline": deadline})).json()["items"]}

        assert await listed(PROVINCE, "overdue") == {ids["late"], ids["other"]}
        assert await listed(PROVINCE, "soon") == {ids["soon"]}
        assert await listed(CITY, "open") == {ids["late"], ids["soon"], ids["later"]}
        assert await listed(CITY, "overdue") == {ids["late"]}
        summary = (await c.get("/deadlines", headers=H(keys, PROVINCE))).json()
        assert summary["soon_until"] == "2024-11-04"
        by = {i["bureau"]["code"]: i for i in summary["items"]}
        assert (by["140105"]["open"], by["140105"]["due_within_5_workdays"], by["140105"]["overdue"]) == (3, 1, 1)
        assert by["140202"]["overdue"] == 1
        assert [i["bureau"]["code"] for i in (await c.get("/deadlines", headers=H(keys, CITY))).json()["items"]] == ["140105"]

        timer = app.state.ctx.extras["deadline_timer"]
        assert await timer.tick() == 2
        assert await timer.tick() == 0  # flagged once
        overdue = [s for s in await outbox_subjects(app) if s.endswith("disclosure.result.overdue")]
        assert len(overdue) == 2


async def test_year_without_schedule_is_said_then_computed_when_loaded(db_url, keys, nats_url, events_prefix):
    from shared.calendar import YearSchedule

    cal = WorkCalendar()  # nothing loaded beyond chinese-calendar's years
    app = make_app(db_url, keys, nats_url, events_prefix, calendar=cal, today=dt.date(2026, 12, 28))
    async with running(app) as c:
        ev = record_event(completed_on="2026-12-15")
        await feed(app, ev)
        res = await result_for(c, keys, ev["data"]["record_id"])
        assert res["due_on"] is None and "2027" in res["due_problem"]
        assert res["id"] in {i["id"] for i in (await c.get("/results", headers=H(keys, CITY), params={"deadline": "unknown"})).json()["items"]}
        # the 'soon' list needs 2027 too: said, not guessed
        r = await c.get("/results", headers=H(keys, CITY), params={"deadline": "soon"})
        assert r.status_code == 422 and "2027" in r.json()["detail"]
        summary = (await c.get("/deadlines", headers=H(keys, CITY))).json()
        assert summary["soon_until"] is None and "notice" in summary and summary["items"][0]["due_unknown"] == 1
        cal.load(YearSchedule.from_dict({"year": 2027, "holidays": ["2027-01-01"], "makeup_workdays": []}))
        await app.state.ctx.extras["deadline_timer"].tick()
        assert (await c.get(f"/results/{res['id']}", headers=H(keys, CITY))).json()["due_on"] == "2027-01-13"


async def test_public_rate_limit_and_forwarded_addresses(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix, public_burst=3, public_rate_per_minute=1)
    async with running(app) as c:
        for _ in range(3):
            assert (await c.get("/public/results")).status_code == 200
        r = await c.get("/public/results", headers={"X-Forwarded-For": "203.0.113.9"})  # not from a trusted proxy: ignored
        assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
        assert r.json()["title"] == "请求过于频繁，请稍后再试"
    app2 = make_app(db_url, keys, nats_url, events_prefix, public_burst=2, public_rate_per_minute=1, trusted_proxies="127.0.0.1/32")
    async with running(app2) as c:
        for _ in range(2):
            assert (await c.get("/public/results", headers={"X-Forwarded-For": "203.0.113.1"})).status_code == 200
        assert (await c.get("/public/results", headers={"X-Forwarded-For": "203.0.113.1"})).status_code == 429
        # another client behind the trusted proxy has its own bucket; a spoofed left-most entry does not help
        assert (await c.get("/public/results", headers={"X-Forwarded-For": "203.0.113.2"})).status_code == 200
        assert (await c.get("/public/results", headers={"X-Forwarded-For": "198.51.100.7, 203.0.113.1"})).status_code == 429


async def test_export_is_scoped_and_formula_safe(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        await publish(c, keys, app, name='=HYPERLINK("http://evil.example","点击")')
        await publish(c, keys, app, name="@SUM(1+1)")
        ev = record_event(region="140202")
        await feed(app, ev)
        r = await c.get("/exports/results", headers=H(keys, CITY), params={"format": "csv"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(r.content.decode("utf-8-sig"))))
        names = sorted(row[1] for row in rows[1:])
        assert names == ["'=HYPERLINK(\"http://evil.example\",\"点击\")", "'@SUM(1+1)"]
        x = await c.get("/exports/results", headers=H(keys, CITY), params={"format": "xlsx"})
        ws = load_workbook(io.BytesIO(x.content)).active
        cells = sorted(row[1] for row in ws.iter_rows(min_row=2, values_only=True))
        assert cells == names
        assert (await c.get("/exports/results", headers=H(keys, OTHER_CITY))).content.decode("utf-8-sig").count("\n") == 1
        assert (await c.get("/exports/results", headers=H(keys, CITY), params={"format": "pdf"})).status_code == 422
        assert (await c.get("/exports/results")).status_code == 401


async def test_plan_setting_gives_number_and_directed_type(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        r = await c.put("/plans/plan-d/settings", headers=H(keys, PROVINCE), json={"number": "晋市监〔2022〕181号", "directed": True})
        assert r.status_code == 200 and r.headers["etag"] == '"v1"'
        assert (await c.put("/plans/plan-d/settings", headers=H(keys, PROVINCE), json={"directed": False})).status_code == 428
        assert (await c.put("/plans/plan-d/settings", headers=H(keys, CITY), json={"directed": False})).status_code == 403
        pub = await publish(c, keys, app, plan_id="plan-d")
        item = (await c.get(f"/public/results/{pub['id']}")).json()
        assert item["type"] == {"code": "directed", "label": "定向抽查"} and item["plan"]["number"] == "晋市监〔2022〕181号"
        assert json.dumps(item, ensure_ascii=False).count("检查员") == 0


async def test_city_report_counts_inspected_published_and_overdue_in_jurisdiction(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix, today=dt.date(2024, 10, 28))
    async with running(app) as c:
        late = record_event(completed_on="2024-08-01")  # 小店: overdue
        done = record_event(completed_on="2024-10-25")  # 小店: published below
        absent = record_event(completed_on="2024-10-25", inspected=False)  # 小店: not inspected (停产)
        other = record_event(completed_on="2024-08-01", region="140202")  # 大同: overdue
        for e in (late, done, absent, other):
            await feed(app, e)
        r = await result_for(c, keys, done["data"]["record_id"])
        r = await c.put(f"/results/{r['id']}/entry", headers=H(keys, COUNTY, f'"v{r["version"]}"'),
                        json={"categories": ["no_problem"], "follow_up": "none_needed"})
        assert r.status_code == 200, r.text
        r = await c.post(f"/results/{r.json()['id']}/review", headers=H(keys, COUNTY2, r.headers["etag"]), json={"decision": "approve"})
        assert r.status_code == 200, r.text

        by = {i["city_code"]: i for i in (await c.get("/report/cities", headers=H(keys, PROVINCE))).json()["items"]}
        assert by["140100"] == {"city_code": "140100", "city_name": "太原", "results": 3, "inspected": 2, "published": 1, "open": 2, "overdue": 1}
        assert (by["140200"]["results"], by["140200"]["overdue"]) == (1, 1)
        city = (await c.get("/report/cities", headers=H(keys, CITY))).json()["items"]
        assert [i["city_code"] for i in city] == ["140100"]  # a city sees its own only
        assert (await c.get("/report/cities", headers=H(keys, CREDIT))).status_code == 403


async def test_a_city_discipline_group_reads_its_region_only(db_url, keys, nats_url, events_prefix):
    """Audit of issue 7 #1: a city 纪检 account read the whole province's results; it reads its
    region like the bureau it watches, and only a province-level discipline account reads all."""
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        taiyuan, datong = record_event(region="140105"), record_event(region="140202")
        for e in (taiyuan, datong):
            assert await feed(app, e)
        ty = await result_for(c, keys, taiyuan["data"]["record_id"])
        dt_ = await result_for(c, keys, datong["data"]["record_id"])
        for region, seen in (("140000", {ty["id"], dt_["id"]}), ("140100", {ty["id"]}), ("140200", {dt_["id"]}), ("140106", set())):
            who = dict(sub=f"jw-{region}", roles=["discipline"], region=region)
            assert {i["id"] for i in (await c.get("/results", headers=H(keys, who))).json()["items"]} == seen, region
            for r in (ty, dt_):
                assert (await c.get(f"/results/{r['id']}", headers=H(keys, who))).status_code == (200 if r["id"] in seen else 404), region
                assert (await c.get(f"/results/{r['id']}/versions", headers=H(keys, who))).status_code == (200 if r["id"] in seen else 404), region
            cities = {i["city_code"] for i in (await c.get("/report/cities", headers=H(keys, who))).json()["items"] if i["results"]}
            assert cities == {rid_city for rid_city, r in (("140100", ty), ("140200", dt_)) if r["id"] in seen}, region
        # subscriptions and deliveries concern the whole province
        assert (await c.get("/subscriptions", headers=H(keys, DISCIPLINE))).status_code == 200
        assert (await c.get("/subscriptions", headers=H(keys, dict(sub="jw", roles=["discipline"], region="140100")))).status_code == 403


async def test_public_dates_are_iso_only(db_url, keys, nats_url, events_prefix):
    """Audit of issue 7 #13: ``date_to=0`` was read as 1970-01-01; dates are YYYY-MM-DD or a 422."""
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        for field in ("date_from", "date_to"):
            for bad in ("0", "1700000000", "2024-02-30", "2024-09-27T00:00:00"):
                r = await c.get("/public/results", params={field: bad})
                assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), (field, bad)
                err = r.json()["errors"][0]
                assert err["field"] == field and any("\u4e00" <= ch <= "\u9fff" for ch in err["message"]), err  # a Chinese message
        assert (await c.get("/public/results", params={"date_from": "2024-01-01", "date_to": "2024-12-31"})).status_code == 200


async def test_a_clean_result_entered_before_the_record_was_amended_with_findings_is_not_published(db_url, keys, nats_url, events_prefix):
    """Regression audit: 未发现问题 was checked at entry only; the team then amended the record with findings
    and the reviewer's approval published the clean result anyway. The approval checks again."""
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        ev = record_event(categories=["no_problem"], follow_up="none_needed")
        assert await feed(app, ev)
        res = await result_for(c, keys, ev["data"]["record_id"])
        r = await c.put(f"/results/{res['id']}/entry", headers=H(keys, COUNTY, f'"v{res["version"]}"'),
                        json={"categories": ["no_problem"], "follow_up": "none_needed"})
        assert r.status_code == 200, r.text
        amended = record_event(verb="amended", record_id=ev["data"]["record_id"], uscc=ev["data"]["uscc"], version=1,
                               categories=["problem_pending"], follow_up="order_correction")
        assert await feed(app, amended)
        cur = await c.get(f"/results/{res['id']}", headers=H(keys, CITY))
        assert cur.json()["needs_correction"] is True
        r = await c.post(f"/results/{res['id']}/review", headers=H(keys, CITY, cur.headers["etag"]), json={"decision": "approve"})
        assert r.status_code == 422 and r.json()["type"].endswith("outcome-contradicts-record")
        assert (await c.get(f"/public/results/{res['id']}")).status_code == 404
        # nor 未发现经营活动 for a record with findings
        r = await c.put(f"/results/{res['id']}/entry", headers=H(keys, COUNTY, cur.headers["etag"]),
                        json={"categories": ["no_activity"], "follow_up": "refer_daily"})
        assert r.status_code == 422 and r.json()["type"].endswith("outcome-contradicts-record")
