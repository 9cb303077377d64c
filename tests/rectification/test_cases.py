"""The rectification service over HTTP: cases from the handed-over summary, deadlines on the
working-day calendar, scoping, evidence, reports, handling, recheck, closing with the disclosure block."""
from __future__ import annotations

import datetime as dt
import io
import json

from shared.calendar import YearSchedule

from .conftest import USCC_A, USCC_B, USCC_C, USCC_D, handed_over

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"1 0 obj<<>>endobj\n" * 4


async def upload(svc, case_id, content: bytes, headers, name="photo.png"):
    return await svc.client.post(f"/cases/{case_id}/evidence", files={"file": (name, io.BytesIO(content), "image/png")}, headers=headers)


async def test_case_opened_with_working_day_deadline_and_on_site_fixes(svc):
    # 2024-09-27 (Fri) + 3 working days: 09-29 (Sunday, 调休 make-up day), 09-30, then 国庆 10-01..07, 10-08
    c = await svc.open_case(on=dt.date(2024, 9, 27), period=(3, "working_days"))
    assert c["deadline"] == "2024-10-08"
    assert c["status"] == "open" and c["problems_total"] == 3 and c["problems_open"] == 2
    by_no = {p["no"]: p for p in c["problems"]}
    assert by_no[2]["status"] == "fixed_on_site" and by_no[2]["evidence"] == ["b" * 64]
    assert by_no[1]["status"] == "open" and by_no[1]["evidence"] == ["a" * 64]
    assert c["county_code"] == "140105" and c["city_code"] == "140100"
    # calendar days: 09-27 + 7 = 10-04 is a holiday, so the period ends on the next working day
    c2 = await svc.open_case(on=dt.date(2024, 9, 27), period=(7, "days"))
    assert c2["deadline"] == "2024-10-08"
    opened = await svc.events("rectification.case.opened")
    assert {e["data"]["case_id"] for e in opened} == {c["id"], c2["id"]}
    assert opened[0]["data"]["problems_open"] == 2 and opened[0]["data"]["deadline"] == "2024-10-08"


async def test_same_summary_twice_opens_one_case_and_all_fixed_on_site_closes_at_once(svc):
    data = handed_over()
    assert await svc.feed(data)
    assert await svc.feed(data) is True  # another event id for the same summary: processed, but no second case
    r = await svc.client.get("/cases", params={"uscc": USCC_A}, headers=svc.province())
    assert [x["summary_id"] for x in r.json()["items"]].count(data["summary_id"]) == 1

    fixed = await svc.open_case(problems=[{"no": 1, "text": "标识不清", "fixed_on_site": True, "evidence": ["c" * 64]}])
    assert fixed["status"] == "closed" and fixed["resolution"] == "fixed_on_site"
    assert fixed["disclosure"]["categories"] == ["problem_corrected"]
    closed = [e for e in await svc.events("rectification.case.closed") if e["data"]["case_id"] == fixed["id"]]
    assert len(closed) == 1 and closed[0]["data"]["disclosure"]["follow_up"] == "none_needed"
    assert closed[0]["data"]["record_id"] == fixed["record_id"]


async def test_missing_calendar_year_is_said_and_filled_in_later(svc):
    c = await svc.open_case(on=dt.date(2026, 12, 21), period=(20, "working_days"))
    assert c["deadline"] is None and "2027" in c["deadline_problem"] and "deadline_unknown" in c["flags"]
    # an admin loads 2027 (here: a plain schedule with New Year's Day off); the sweep fills the deadline in
    svc.ctx.extras["calendar"].load(YearSchedule(2027, {dt.date(2027, 1, 1)}, set()))
    out = await svc.sweep()
    assert out["deadlines_set"] == 1
    c = await svc.case_by_summary(c["summary_id"])
    assert c["deadline"] == "2027-01-19" and c["deadline_problem"] is None


async def test_enterprise_sees_only_its_own_case(svc):
    a = await svc.open_case(uscc=USCC_A, county="140105")
    b = await svc.open_case(uscc=USCC_B, county="140106")
    mine = (await svc.client.get("/cases", headers=svc.enterprise(USCC_A))).json()["items"]
    assert [x["id"] for x in mine] == [a["id"]]
    assert (await svc.client.get(f"/cases/{b['id']}", headers=svc.enterprise(USCC_A))).status_code == 404
    assert (await svc.client.get(f"/cases/{a['id']}", headers=svc.enterprise(USCC_A))).status_code == 200
    # an enterprise cannot report on another's case, nor use a filter to reach it
    r = await svc.client.post(f"/cases/{b['id']}/problems/1/report", json={"text": "已整改"}, headers=svc.enterprise(USCC_A))
    assert r.status_code == 404
    assert (await svc.client.get("/cases", params={"uscc": USCC_B}, headers=svc.enterprise(USCC_A))).json()["items"] == []
    # an enterprise account without a bound USCC sees nothing
    assert (await svc.client.get("/cases", headers=svc.h("e", ["enterprise"], "140105"))).json()["items"] == []
    # bureaus: county sees its county, city its city, other cities nothing
    assert [x["id"] for x in (await svc.client.get("/cases", headers=svc.county("140106"))).json()["items"]] == [b["id"]]
    assert len((await svc.client.get("/cases", headers=svc.city("140100"))).json()["items"]) == 2
    assert (await svc.client.get("/cases", headers=svc.city("140200"))).json()["items"] == []
    assert (await svc.client.get(f"/cases/{a['id']}", headers=svc.city("140200"))).status_code == 404
    # an inspector has no business here
    assert (await svc.client.get("/cases", headers=svc.h("i", ["inspector"], "140000"))).status_code == 403


async def test_a_city_discipline_group_reads_its_region_only(svc):
    """Audit of issue 7 #1: a city 纪检 account read the whole province's cases; it reads its
    region like the bureau it watches, and only a province-level discipline account reads all."""
    a = await svc.open_case(uscc=USCC_A, county="140105")
    c = await svc.open_case(uscc=USCC_C, county="141002")
    for region, seen in (("140000", {a["id"], c["id"]}), ("140100", {a["id"]}), ("141000", {c["id"]}), ("140200", set()), ("140106", set())):
        h = svc.h(f"jw-{region}", ["discipline"], region)
        assert {x["id"] for x in (await svc.client.get("/cases", headers=h)).json()["items"]} == seen, region
        assert {x["case_id"] for x in (await svc.client.get("/ledger", headers=h)).json()["items"]} == seen, region
        for case in (a, c):
            assert (await svc.client.get(f"/cases/{case['id']}", headers=h)).status_code == (200 if case["id"] in seen else 404), region
        cities = {i["city_code"] for i in (await svc.client.get("/report/cities", headers=h)).json()["items"]}
        assert len(cities) == 11 if region == "140000" else cities <= {region[:4] + "00"}, (region, cities)
    x = await svc.client.get("/ledger.xlsx", headers=svc.h("jw", ["discipline"], "140200"))
    assert x.status_code == 200 and x.headers["X-Row-Count"] == "0"


async def test_evidence_count_per_case_is_bounded(svc, monkeypatch):
    import services.rectification.cases as cases_mod

    monkeypatch.setattr(cases_mod, "MAX_CASE_EVIDENCE", 2)
    c = await svc.open_case()
    for i in range(2):
        assert (await upload(svc, c["id"], PNG + bytes([i]), svc.enterprise())).status_code == 201
    r = await upload(svc, c["id"], PNG + b"x", svc.enterprise())
    assert r.status_code == 409 and r.json()["type"].endswith("evidence-limit")


async def test_evidence_streamed_content_addressed_and_typed_by_bytes(svc):
    c = await svc.open_case()
    e = svc.enterprise()
    r = await upload(svc, c["id"], PNG, e)
    assert r.status_code == 201, r.text
    sha = r.json()["sha256"]
    assert r.json()["media_type"] == "image/png" and len(sha) == 64
    again = await upload(svc, c["id"], PNG, e, name="other-name.jpg")
    assert again.json()["sha256"] == sha and again.json()["already_present"] is True
    # a script named .png is refused by its bytes
    bad = await upload(svc, c["id"], b"<script>alert(1)</script>" * 10, e, name="x.png")
    assert bad.status_code == 415 and bad.json()["errors"][0]["field"] == "file"
    # size bounded while reading
    svc.ctx.extras["evidence"].max_bytes = 1000
    big = await upload(svc, c["id"], PDF + b"0" * 2000, e, name="big.pdf")
    assert big.status_code == 413
    svc.ctx.extras["evidence"].max_bytes = 15_000_000
    # download: the bytes back, only within scope
    d = await svc.client.get(f"/cases/{c['id']}/evidence/{sha}", headers=e)
    assert d.status_code == 200 and d.content == PNG and d.headers["content-type"] == "image/png"
    assert (await svc.client.get(f"/cases/{c['id']}/evidence/{sha}", headers=svc.enterprise(USCC_B))).status_code == 404
    # another enterprise cannot upload to this case
    assert (await upload(svc, c["id"], PNG, svc.enterprise(USCC_B))).status_code == 404


async def test_enterprise_sees_only_its_own_and_shared_evidence(svc):
    c = await svc.open_case(on=dt.date(2024, 9, 2), period=(5, "working_days"))
    svc.clock.on(dt.date(2024, 9, 20))
    assert (await svc.sweep())["overdue"] == 1
    cid, e = c["id"], svc.enterprise()
    secret = PDF + "线索材料：涉嫌生产销售伪劣产品罪".encode()
    r = await upload(svc, cid, secret, svc.city(), name="线索材料-涉嫌犯罪.pdf")
    assert r.status_code == 201
    internal = r.json()["sha256"]
    o = await svc.client.post(f"/cases/{cid}/outcomes", json={"basis_code": "transfer_judicial_crime", "facts": "涉嫌生产销售伪劣产品罪",
                              "receiving_body": "太原市公安局", "evidence": [internal]}, headers=svc.city())
    assert o.status_code == 201, o.text
    handling_sha = (await upload(svc, cid, PDF + b"order", svc.county(), name="责令改正通知书.pdf")).json()["sha256"]
    r = await svc.client.post(f"/cases/{cid}/handling", json={"measure": "order_correction", "on": "2024-09-19", "text": "责令改正",
                              "evidence": [handling_sha]}, headers=svc.county())
    assert r.status_code == 201, r.text
    own = (await upload(svc, cid, PNG, e)).json()["sha256"]

    def shas(detail):
        return {x["sha256"] for x in detail["evidence"]}

    d = (await svc.client.get(f"/cases/{cid}", headers=e)).json()
    assert shas(d) == {own, handling_sha} and d["outcomes"] == []
    assert {x["uploaded_as"] for x in d["evidence"]} == {"enterprise", "bureau"}
    hidden = await svc.client.get(f"/cases/{cid}/evidence/{internal}", headers=e)
    assert hidden.status_code == 404 and hidden.headers["content-type"].startswith("application/problem+json")
    assert hidden.json()["type"].endswith("not-found") and "涉嫌" not in hidden.text
    for sha in (own, handling_sha):
        assert (await svc.client.get(f"/cases/{cid}/evidence/{sha}", headers=e)).status_code == 200
    # the enterprise cannot cite a file it cannot see (the same answer as a file never uploaded)
    r = await svc.client.post(f"/cases/{cid}/problems/1/report", json={"text": "已整改", "evidence": [internal]}, headers=e)
    assert r.status_code == 422 and r.json()["type"].endswith("evidence-unknown")
    # bureaus see every file, with who uploaded it
    full = (await svc.client.get(f"/cases/{cid}", headers=svc.city())).json()
    assert {x["sha256"]: x["uploaded_as"] for x in full["evidence"]} == {internal: "bureau", handling_sha: "bureau", own: "enterprise"}
    assert (await svc.client.get(f"/cases/{cid}/evidence/{internal}", headers=svc.county())).status_code == 200
    # once the outcome is decided the enterprise sees it and the files attached to it
    etag = (await svc.client.get(f"/outcomes/{o.json()['id']}", headers=svc.province())).headers["etag"]
    r = await svc.client.post(f"/outcomes/{o.json()['id']}/decide", json={"approve": True, "note": "同意移送"},
                              headers={**svc.province("prov-2"), "If-Match": etag})
    assert r.status_code == 200, r.text
    d = (await svc.client.get(f"/cases/{cid}", headers=e)).json()
    assert internal in shas(d) and len(d["outcomes"]) == 1
    assert (await svc.client.get(f"/cases/{cid}/evidence/{internal}", headers=e)).status_code == 200


async def test_enterprise_upload_of_bytes_the_bureau_holds_confirms_nothing(svc):
    c = await svc.open_case()
    cid, e = c["id"], svc.enterprise()
    sha = (await upload(svc, cid, PDF + b"internal", svc.city(), name="内部.pdf")).json()["sha256"]
    assert (await svc.client.get(f"/cases/{cid}/evidence/{sha}", headers=e)).status_code == 404
    r = await upload(svc, cid, PDF + b"internal", e, name="mine.pdf")
    assert r.status_code == 201 and r.json()["already_present"] is False
    again = await upload(svc, cid, PDF + b"internal", e, name="mine.pdf")
    assert again.json()["already_present"] is True
    # now the enterprise has uploaded those bytes itself
    assert (await svc.client.get(f"/cases/{cid}/evidence/{sha}", headers=e)).status_code == 200
    full = (await svc.client.get(f"/cases/{cid}", headers=svc.city())).json()
    assert [x["uploaded_as"] for x in full["evidence"]] == ["both"] and full["evidence"][0]["filename"] == "内部.pdf"
    # a file name with a character XML cannot hold is refused before a byte is stored (regression audit)
    bad = await upload(svc, cid, PDF + b"other", e, name="a\uffffb.pdf")
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "file"
    # ... and the case shows it to the enterprise as its own file, without the bureau's name, uploader or time (attacker audit)
    mine = (await svc.client.get(f"/cases/{cid}", headers=e)).json()["evidence"]
    assert mine == [{"sha256": sha, "media_type": "application/pdf", "size": len(PDF + b"internal"), "filename": None,
                     "uploaded_by": None, "uploaded_as": "enterprise", "uploaded_at": None}]


async def test_report_handling_recheck_and_close(svc):
    c = await svc.open_case(uscc=USCC_A, county="140105", on=dt.date(2024, 9, 27), period=(10, "working_days"))
    cid, e = c["id"], svc.enterprise()
    sha = (await upload(svc, cid, PNG, e)).json()["sha256"]
    # evidence must be uploaded to this case first; bodies are checked
    r = await svc.client.post(f"/cases/{cid}/problems/1/report", json={"text": "已补全记录", "evidence": ["d" * 64]}, headers=e)
    assert r.status_code == 422 and r.json()["type"].endswith("evidence-unknown")
    r = await svc.client.post(f"/cases/{cid}/problems/1/report", json={"text": "已补全记录", "unknown": 1}, headers=e)
    assert r.status_code == 422 and r.json()["errors"]
    r = await svc.client.post(f"/cases/{cid}/problems/1/report", content=b"{not json", headers={**e, "Content-Type": "application/json"})
    assert r.status_code == 400
    assert (await svc.client.post(f"/cases/{cid}/problems/2/report", json={"text": "重复报告"}, headers=e)).status_code == 409
    assert (await svc.client.post(f"/cases/{cid}/problems/9/report", json={"text": "不存在"}, headers=e)).status_code == 404

    # the county records its handling; another county cannot even see the case
    h = {"measure": "order_correction", "on": "2024-09-30", "text": "下达责令改正通知书"}
    assert (await svc.client.post(f"/cases/{cid}/handling", json=h, headers=svc.county("140106"))).status_code == 404
    r = await svc.client.post(f"/cases/{cid}/handling", json=h, headers=svc.county("140105"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "on"  # 09-30 is still in the future
    svc.clock.on(dt.date(2024, 9, 30))
    r = await svc.client.post(f"/cases/{cid}/handling", json=h, headers=svc.county("140105"))
    assert r.status_code == 201, r.text

    # the enterprise reports problem 1 (Idempotency-Key replays); the county enters problem 3 from a paper report
    body = {"text": "已补全原材料进货查验记录", "evidence": [sha]}
    r1 = await svc.client.post(f"/cases/{cid}/problems/1/report", json=body, headers={**e, "Idempotency-Key": "rep-1"})
    assert r1.status_code == 201 and r1.json()["problems_open"] == 1 and r1.json()["status"] == "open"
    r1b = await svc.client.post(f"/cases/{cid}/problems/1/report", json=body, headers={**e, "Idempotency-Key": "rep-1"})
    assert r1b.headers.get("idempotent-replayed") == "true" and r1b.json() == r1.json()
    # recheck before everything is reported (and before the deadline) is refused
    rc = {"passed": True, "rechecked_on": "2024-10-09", "inspectors": ["王复查", "李复查"], "text": "现场复查，问题均已整改"}
    r = await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers={**svc.city(), "If-Match": f'"v{r1.json()["version"]}"'})
    assert r.status_code == 409
    r3 = await svc.client.post(f"/cases/{cid}/problems/3/report", json={"text": "计量器具已送检（县局据纸质报告录入）"}, headers=svc.county())
    assert r3.status_code == 201 and r3.json()["status"] == "reported" and r3.json()["problems_open"] == 0
    assert len(await svc.events("rectification.case.reported")) == 1

    svc.clock.on(dt.date(2024, 10, 9))
    detail = await svc.client.get(f"/cases/{cid}", headers=svc.city())
    etag = detail.headers["etag"]
    # a county cannot recheck another county's case (not visible), nor its own (the city leads the recheck)
    assert (await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers={**svc.county("140106"), "If-Match": etag})).status_code == 404
    r = await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers={**svc.county("140105"), "If-Match": etag})
    assert r.status_code == 403
    assert (await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers={**svc.city("140200"), "If-Match": etag})).status_code == 404
    # the city: If-Match required and checked; the date cannot be in the future
    assert (await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers=svc.city())).status_code == 428
    assert (await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers={**svc.city(), "If-Match": '"v1"'})).status_code == 412
    future = {**rc, "rechecked_on": "2024-10-20"}
    r = await svc.client.post(f"/cases/{cid}/recheck", json=future, headers={**svc.city(), "If-Match": etag})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "rechecked_on"
    r = await svc.client.post(f"/cases/{cid}/recheck", json=rc, headers={**svc.city(), "If-Match": etag})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "closed" and r.json()["resolution"] == "rectified" and r.json()["recheck_passed"] is True

    closed = [x for x in await svc.events("rectification.case.closed") if x["data"]["case_id"] == cid]
    assert len(closed) == 1
    d = closed[0]["data"]
    assert d["disclosure"]["categories"] == ["problem_corrected"] and d["record_id"] == c["record_id"] and d["task_id"] == c["task_id"]
    rechecked = await svc.events("rectification.case.rechecked")
    assert rechecked[-1]["data"]["passed"] is True and rechecked[-1]["data"]["rechecked_on"] == "2024-10-09"

    full = (await svc.client.get(f"/cases/{cid}", headers=e)).json()
    assert [a["kind"] for a in full["actions"]] == ["handling", "report", "report", "recheck"]
    assert {p["no"]: p["status"] for p in full["problems"]} == {1: "accepted", 2: "fixed_on_site", 3: "accepted"}
    # closed: nothing more is accepted
    assert (await svc.client.post(f"/cases/{cid}/handling", json=h, headers=svc.county())).status_code == 409
    # every change is on the audit chain
    audit = (await svc.client.get("/audit", params={"entity_id": cid}, headers=svc.province())).json()["items"]
    assert [a["action"] for a in audit][:1] == ["case.opened"] and "case.rechecked" in [a["action"] for a in audit]
    assert (await svc.client.get("/audit/verify", headers=svc.province())).json()["ok"]


async def test_failed_recheck_is_flagged(svc):
    c = await svc.open_case(county="140105", on=dt.date(2024, 9, 27), period=(10, "working_days"))
    for no in (1, 3):
        assert (await svc.client.post(f"/cases/{c['id']}/problems/{no}/report", json={"text": "已整改"}, headers=svc.enterprise())).status_code == 201
    svc.clock.on(dt.date(2024, 10, 15))
    etag = (await svc.client.get(f"/cases/{c['id']}", headers=svc.city())).headers["etag"]
    rc = {"passed": False, "rechecked_on": "2024-10-15", "inspectors": ["王复查"], "text": "计量器具仍未检定"}
    r = await svc.client.post(f"/cases/{c['id']}/recheck", json=rc, headers={**svc.city(), "If-Match": etag})
    assert r.status_code == 200 and r.json()["status"] == "failed" and "recheck_failed" in r.json()["flags"]
    flagged = (await svc.client.get("/cases", params={"recheck_failed": "true"}, headers=svc.province())).json()["items"]
    assert [x["id"] for x in flagged] == [c["id"]]
    # no second recheck of a failed case; an outcome follows instead
    etag = (await svc.client.get(f"/cases/{c['id']}", headers=svc.city())).headers["etag"]
    assert (await svc.client.post(f"/cases/{c['id']}/recheck", json=rc, headers={**svc.city(), "If-Match": etag})).status_code == 409


async def test_reminder_then_overdue_by_the_sweep_once(svc):
    c = await svc.open_case(on=dt.date(2024, 9, 27), period=(10, "working_days"))
    assert c["deadline"] == "2024-10-16"  # 09-29, 09-30, 10-08 .. 10-12 (Sat, make-up), 10-14, 10-15, 10-16
    svc.clock.on(dt.date(2024, 10, 11))
    assert (await svc.sweep())["reminders"] == 0
    svc.clock.on(dt.date(2024, 10, 12))  # a Saturday make-up working day, three working days (10-14, 10-15, 10-16) before
    out = await svc.sweep()
    assert out["reminders"] == 1 and out["overdue"] == 0
    rem = await svc.events("rectification.case.reminder")
    assert len(rem) == 1 and rem[0]["data"]["workdays_left"] == 3 and rem[0]["data"]["deadline"] == "2024-10-16"
    svc.clock.on(dt.date(2024, 10, 16))
    assert (await svc.sweep())["overdue"] == 0  # the deadline day itself is still in time
    svc.clock.on(dt.date(2024, 10, 17))
    assert (await svc.sweep())["overdue"] == 1
    assert (await svc.sweep())["overdue"] == 0
    ov = await svc.events("rectification.case.overdue")
    assert len(ov) == 1 and ov[0]["data"]["city_code"] == "140100" and ov[0]["data"]["county_code"] == "140105"
    c = await svc.case_by_summary(c["summary_id"])
    assert c["overdue"] and c["overdue_on"] == "2024-10-17" and "overdue" in c["flags"]
    # a late report is accepted and shown as late; the overdue flag stays on the record
    r = await svc.client.post(f"/cases/{c['id']}/problems/1/report", json={"text": "迟交的整改报告"}, headers=svc.enterprise())
    assert r.status_code == 201 and r.json()["overdue"] is True


async def test_late_report_before_the_sweep_marks_the_case_overdue_once(svc):
    c = await svc.open_case(on=dt.date(2024, 9, 2), period=(5, "working_days"))
    assert c["deadline"] == "2024-09-09"
    svc.clock.on(dt.date(2024, 9, 20))  # eleven days late; the hourly sweep has not run since
    r = await svc.client.post(f"/cases/{c['id']}/problems/1/report", json={"text": "迟交"}, headers=svc.enterprise())
    assert r.status_code == 201 and r.json()["overdue"] is True and r.json()["overdue_on"] == "2024-09-20"
    r = await svc.client.post(f"/cases/{c['id']}/problems/3/report", json={"text": "迟交"}, headers=svc.enterprise())
    assert r.status_code == 201 and r.json()["status"] == "reported"
    assert (await svc.sweep())["overdue"] == 0
    ov = await svc.events("rectification.case.overdue")
    assert len(ov) == 1 and ov[0]["data"]["case_id"] == c["id"] and ov[0]["data"]["deadline"] == "2024-09-09"
    assert ov[0]["data"]["overdue_on"] == "2024-09-20" and ov[0]["data"]["problems_open"] == 2
    case = await svc.case_by_summary(c["summary_id"])
    assert case["overdue"] is True and "overdue" in case["flags"]
    assert [a["kind"] for a in case["actions"]][:2] == ["overdue", "report"]
    audit = (await svc.client.get("/audit", params={"entity_id": c["id"]}, headers=svc.province())).json()["items"]
    assert [a["action"] for a in audit].count("case.overdue") == 1
    # an overdue case can now be proposed for revocation (逾期未整改)
    r = await svc.client.post(f"/cases/{c['id']}/outcomes", json={"basis_code": "revoke_overdue", "facts": "逾期未整改"}, headers=svc.city())
    assert r.status_code == 201, r.text
    # a report in time never flags
    c2 = await svc.open_case(on=dt.date(2024, 9, 20), period=(5, "working_days"))
    r = await svc.client.post(f"/cases/{c2['id']}/problems/1/report", json={"text": "按时"}, headers=svc.enterprise())
    assert r.status_code == 201 and r.json()["overdue"] is False
    assert len(await svc.events("rectification.case.overdue")) == 1


async def test_rollup_ledger_and_xlsx_export(svc):
    import openpyxl

    a = await svc.open_case(uscc=USCC_A, county="140105", name="=HYPERLINK(\"http://evil\",\"点我\")")
    await svc.open_case(uscc=USCC_B, county="140106", name="+太原第二企业")
    await svc.open_case(uscc=USCC_C, county="141002", name="临汾某企业", on=dt.date(2024, 9, 2), period=(5, "working_days"))
    await svc.open_case(uscc=USCC_D, county="141002", name="临汾现场整改企业",
                        problems=[{"no": 1, "item_code": "2.1", "text": "标识不全", "fixed_on_site": True, "evidence": []}])
    svc.clock.on(dt.date(2024, 9, 27))
    await svc.sweep()  # the 临汾 case is overdue
    r = await svc.client.get("/report/cities", headers=svc.province())
    assert r.status_code == 200
    by = {i["city_code"]: i for i in r.json()["items"]}
    assert len(by) == 11 and by["140100"]["opened"] == 2 and by["141000"]["overdue"] == 1 and by["140200"]["opened"] == 0
    assert (by["141000"]["rectified"], by["140100"]["rectified"]) == (1, 0)  # closed as fixed on site counts as rectified
    assert r.json()["totals"]["opened"] == 4
    city = (await svc.client.get("/report/cities", headers=svc.city("141000"))).json()["items"]
    assert [i["city_code"] for i in city] == ["141000"]
    assert (await svc.client.get("/report/cities", headers=svc.enterprise())).status_code == 403

    led = (await svc.client.get("/ledger", params={"overdue": "true"}, headers=svc.province())).json()["items"]
    assert [x["uscc"] for x in led] == [USCC_C]
    led = (await svc.client.get("/ledger", params={"region": "140100", "limit": 1}, headers=svc.province())).json()
    assert len(led["items"]) == 1 and led["next_cursor"]
    nxt = (await svc.client.get("/ledger", params={"region": "140100", "limit": 1, "cursor": led["next_cursor"]}, headers=svc.province())).json()
    assert {led["items"][0]["uscc"], nxt["items"][0]["uscc"]} == {USCC_A, USCC_B}
    assert (await svc.client.get("/ledger", params={"cursor": "!!"}, headers=svc.province())).status_code == 400
    assert (await svc.client.get("/ledger", params={"region": "abc"}, headers=svc.province())).status_code == 422
    # a county's ledger is its county only
    assert [x["uscc"] for x in (await svc.client.get("/ledger", headers=svc.county("140106"))).json()["items"]] == [USCC_B]

    x = await svc.client.get("/ledger.xlsx", params={"region": "140100"}, headers=svc.province())
    assert x.status_code == 200 and x.headers["x-row-count"] == "2"
    ws = openpyxl.load_workbook(io.BytesIO(x.content)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][0] == "案件编号" and len(rows) == 3
    names = {r[2] for r in rows[1:]}
    assert "'=HYPERLINK(\"http://evil\",\"点我\")" in names and "'+太原第二企业" in names
    assert all(not (isinstance(v, str) and v[:1] in "=+-@") for r in rows for v in r)
    assert a["id"] in {r[0] for r in rows}


async def test_bad_input_is_4xx(svc):
    c = await svc.open_case()
    e = svc.enterprise()
    for body in ({"text": "x" * 5000}, {"text": ""}, {"text": "好", "evidence": ["zz"]}, {"text": "好", "evidence": ["a" * 64] * 2}, [1, 2]):
        r = await svc.client.post(f"/cases/{c['id']}/problems/1/report", json=body, headers=e)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    assert (await svc.client.get("/cases/" + "x" * 40, headers=e)).status_code == 422
    assert (await svc.client.get("/cases", params={"status": "bogus"}, headers=e)).status_code == 422
    # ledger dates are YYYY-MM-DD, not Unix timestamps (audit of issue 7 #13: deadline_to=0 read as 1970-01-01)
    for field in ("deadline_from", "deadline_to"):
        for bad in ("0", "1700000000", "2024-13-01", "2024-09-27T00:00:00"):
            r = await svc.client.get("/ledger", params={field: bad}, headers=svc.province())
            assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json"), (field, bad)
            assert r.json()["errors"][0]["field"] == field and "YYYY-MM-DD" in r.json()["errors"][0]["message"]
    assert (await svc.client.get("/ledger", params={"deadline_to": "2024-12-31"}, headers=svc.province())).status_code == 200
    r = await svc.client.post(f"/cases/{c['id']}/problems/1/report", content=json.dumps({"text": "好"}), headers={**e, "Content-Type": "text/plain"})
    assert r.status_code == 415


async def test_malformed_hand_over_is_refused_not_half_written(svc):
    import pytest
    from pydantic import ValidationError
    from sqlalchemy import func, select

    from services.rectification.models import Case

    bad = [
        {**handed_over(), "city_code": "140200"},  # 小店区 is not in 大同
        {**handed_over(), "problems": []},
        {**handed_over(), "period": {"value": 0, "unit": "days"}},
        {**handed_over(), "period": {"value": 10, "unit": "weeks"}},
        {**handed_over(), "problems": [{"no": 1, "text": "a"}, {"no": 1, "text": "b"}]},
        {**handed_over(), "region_code": "14010"},
    ]
    for data in bad:
        with pytest.raises(ValidationError):
            await svc.feed(data)
    async with svc.ctx.db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Case))).scalar_one() == 0
        assert (await s.execute(select(func.count()).select_from(svc.ctx.kernel.inbox))).scalar_one() == 0


async def test_evidence_store_full_is_507_no_row_and_recovers(svc, monkeypatch):
    """The disk full (ENOSPC from the kernel: every write goes to /dev/full): 507 problem+json, no
    evidence row, no partial file; the case still answers; once space is back the upload lands."""
    from shared.evidence import _FileWriter

    c = await svc.open_case()
    e = svc.enterprise()
    real_open = _FileWriter._open

    async def disk_full(self):
        await real_open(self)
        self.fh.close()
        self.fh = open("/dev/full", "wb", buffering=0)

    monkeypatch.setattr(_FileWriter, "_open", disk_full)
    r = await upload(svc, c["id"], PNG, e)
    assert r.status_code == 507 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"].endswith("evidence-store-full") and "证据存储" in r.json()["title"]
    case = await svc.client.get(f"/cases/{c['id']}", headers=e)
    assert case.status_code == 200 and case.json()["evidence"] == []
    assert list((svc.ctx.extras["evidence"].root / "tmp").iterdir()) == []
    monkeypatch.setattr(_FileWriter, "_open", real_open)
    r = await upload(svc, c["id"], PNG, e)
    assert r.status_code == 201 and r.json()["already_present"] is False
