"""Corrections after publication: a closed rectification case flags the published result; a
correction is entered with a reason and reviewed by another official (four eyes, like the
original); approval publishes it as a new version superseding the previous one — both in the
history, the public view shows the current one, that it was corrected and when — and it goes out
on the pull feed and by webhook as ``inspection_result.corrected``."""
from __future__ import annotations

import datetime as dt

from tests.helpers import eventually, running

from .conftest import CITY, COUNTY, COUNTY2, CREDIT, DISCIPLINE, OTHER_CITY, PROVINCE, case_closed_event, feed, make_app, publish
from .receiver import Receiver


def H(keys, who, etag=None):
    h = keys.headers(**who)
    if etag:
        h["If-Match"] = etag
    return h


async def test_correction_is_entered_reviewed_and_published_as_new_version(db_url, keys, nats_url, events_prefix):
    app = make_app(db_url, keys, nats_url, events_prefix)
    async with running(app) as c:
        rec = await Receiver().start()
        try:
            sub = await c.post("/subscriptions", headers={**H(keys, PROVINCE), "Idempotency-Key": "corr-sub"}, json={"url": rec.url})
            rec.secrets = [sub.json()["secret"]]
            pub = await publish(c, keys, app, categories=["problem_pending"], follow_up="order_correction")
            rid = pub["id"]
            # the rectification case closes after publication: only flagged, the public still sees version 1
            assert await feed(app, case_closed_event(pub["record_id"], categories=["problem_corrected"], follow_up="order_correction"))
            res = await c.get(f"/results/{rid}", headers=H(keys, CITY))
            assert res.json()["needs_correction"] is True and res.json()["correction_pending"] is False
            etag = res.headers["etag"]

            body = {"categories": ["problem_corrected"], "follow_up": "order_correction", "reason": "整改已完成，案件已结案"}
            assert (await c.post(f"/results/{rid}/corrections", headers=H(keys, COUNTY), json=body)).status_code == 428
            assert (await c.post(f"/results/{rid}/corrections", headers=H(keys, OTHER_CITY, etag), json=body)).status_code == 404
            same = await c.post(f"/results/{rid}/corrections", headers=H(keys, COUNTY, etag), json={**body, "categories": ["problem_pending"]})
            assert same.status_code == 422 and same.json()["type"].endswith("correction-unchanged")
            entered = await c.post(f"/results/{rid}/corrections", headers=H(keys, COUNTY, etag), json=body)
            assert entered.status_code == 200, entered.text
            assert entered.json()["correction"]["status"] == "submitted" and entered.json()["status"] == "published"
            etag = entered.headers["etag"]
            # one correction waits at a time
            again = await c.post(f"/results/{rid}/corrections", headers=H(keys, CITY, etag), json={**body, "follow_up": "case_referral"})
            assert again.status_code == 409 and again.json()["type"].endswith("correction-pending")
            # not published before its review: public view, feed and webhooks still at version 1
            assert (await c.get(f"/public/results/{rid}")).json()["version"] == 1
            assert [i["type"] for i in (await c.get("/feed", headers=H(keys, CREDIT))).json()["items"]] == ["inspection_result.published"]

            # four eyes: not the official who entered it, not another city; a return sends it back
            review = f"/results/{rid}/corrections/review"
            selfie = await c.post(review, headers=H(keys, COUNTY, etag), json={"decision": "approve"})
            assert selfie.status_code == 403 and selfie.json()["type"].endswith("reviewer-is-enterer")
            assert (await c.post(review, headers=H(keys, OTHER_CITY, etag), json={"decision": "approve"})).status_code == 404
            back = await c.post(review, headers=H(keys, COUNTY2, etag), json={"decision": "return", "note": "请附结案文书"})
            assert back.status_code == 200 and back.json()["correction"]["status"] == "returned"
            assert back.json()["correction_pending"] is False and back.json()["needs_correction"] is True
            assert (await c.post(review, headers=H(keys, COUNTY2, back.headers["etag"]), json={"decision": "approve"})).status_code == 409
            entered = await c.post(f"/results/{rid}/corrections", headers=H(keys, COUNTY, back.headers["etag"]), json=body)
            ok = await c.post(review, headers=H(keys, CITY, entered.headers["etag"]), json={"decision": "approve", "note": "同意"})
            assert ok.status_code == 200, ok.text
            out = ok.json()
            assert out["correction"]["status"] == "approved" and out["correction"]["published_version"] == 2
            assert out["published_version"] == 2 and out["needs_correction"] is False and out["correction_pending"] is False
            assert [x["code"] for x in out["categories"]] == ["problem_corrected"]

            # the public: the current version, that it was corrected and when; nothing personal, not the reason
            public = (await c.get(f"/public/results/{rid}")).json()
            assert public["version"] == 2 and public["corrected"] is True and public["supersedes_version"] == 1
            assert dt.datetime.fromisoformat(public["corrected_at"]) > dt.datetime.fromisoformat(public["first_published_at"])
            assert [x["code"] for x in public["categories"]] == ["problem_corrected"]
            text = (await c.get("/public/results", params={"uscc": pub["uscc"]})).text
            for secret in ("整改已完成", "xiaodian-1", "taiyuan-1", "请附结案文书"):
                assert secret not in text

            # both versions in the history; the corrections' record (entered, returned, approved)
            hist = (await c.get(f"/results/{rid}/versions", headers=H(keys, DISCIPLINE))).json()["items"]
            assert [(v["version"], v["kind"], v["actor"]) for v in hist] == [(1, "published", "xiaodian-2"), (2, "corrected", "taiyuan-1")]
            assert hist[0]["content"]["categories"][0]["code"] == "problem_pending" and hist[1]["reason"] == body["reason"]
            corr = (await c.get(f"/results/{rid}/corrections", headers=H(keys, DISCIPLINE))).json()["items"]
            assert [(x["status"], x["entered_by"], x["reviewed_by"]) for x in corr] == [
                ("returned", "xiaodian-1", "xiaodian-2"), ("approved", "xiaodian-1", "taiyuan-1")]

            # the feed and the webhook carry the correction
            items = (await c.get("/feed", headers=H(keys, CREDIT))).json()["items"]
            assert [(i["type"], i["version"]) for i in items] == [("inspection_result.published", 1), ("inspection_result.corrected", 2)]
            async def both_arrived():
                return _types(rec) == ["inspection_result.published", "inspection_result.corrected"] or None

            await eventually(both_arrived)
            sent = rec.received[-1]["body"]
            assert sent["data"]["id"] == rid and sent["data"]["corrected"] is True and sent["data"]["seq"] == items[1]["seq"]
            assert rec.rejected == []
            assert (await c.get("/audit/verify", headers=H(keys, DISCIPLINE))).json()["ok"] is True
        finally:
            await rec.stop()


def _types(rec: Receiver) -> list[str]:
    return [r["body"]["type"] for r in sorted(rec.received, key=lambda r: r["body"]["data"]["seq"]) if 200 <= r["answered"] < 300]
