"""Demo campaign step of disclosure: a webhook subscription to the local receiver that ``make run``
starts (it verifies signatures), then the results the inspection service's records produced are
entered by their county bureau, reviewed by the city bureau and published — through this
service's own API — except one, left 待录入 for the web walk-through. Without the inspection service there are no results: said, and skipped."""
from __future__ import annotations

import os

import httpx

from shared.demo_campaign import CampaignClient
from shared.topology import enabled_services

MAX_RESULTS = 30  # enough to show; the rest stay 待录入 for the deadline lists


async def _subscription(c: CampaignClient, st: dict, P: dict) -> str:
    port = os.environ.get("SPOTCHECK_WEBHOOK_RECEIVER_PORT")
    if not port:
        return "未启动演示接收端（非 make run），未建立订阅"
    url = f"http://127.0.0.1:{port}/webhooks"
    try:
        async with httpx.AsyncClient(timeout=3) as h:
            (await h.get(f"http://127.0.0.1:{port}/health")).raise_for_status()
    except httpx.HTTPError:
        return f"演示接收端 {port} 未响应，未建立订阅"
    secret_file = c.state_file.parent / "webhook-receiver" / "secret" if c.state_file else None
    sub_id = st.get("subscription_id")
    if sub_id:
        r = await c.call("GET", f"/disclosure/subscriptions/{sub_id}", P, expect=None)
        if r.status_code == 200:
            sub, etag = r.json(), r.headers["etag"]
            if sub["url"] != url or not sub["active"]:
                r = await c.call("PATCH", f"/disclosure/subscriptions/{sub_id}", {**P, "If-Match": etag}, json={"url": url, "active": True})
                etag = r.headers["etag"]
            if secret_file is not None and not secret_file.exists():  # receiver's copy lost: a new secret, no overlap
                r = await c.call("POST", f"/disclosure/subscriptions/{sub_id}/rotate-secret", {**P, "If-Match": etag}, json={"overlap_hours": 0})
                _write_secret(secret_file, r.json()["secret"])
            return f"订阅 {sub_id} → {url}"
    r = await c.call("POST", "/disclosure/subscriptions", {**P, "Idempotency-Key": "demo-receiver-subscription"},
                     json={"url": url, "description": "演示：本机 Webhook 接收端（校验签名）"})
    sub = r.json()
    if secret_file is not None:
        _write_secret(secret_file, sub["secret"])
    st["subscription_id"] = sub["id"]
    c.save()
    return f"订阅 {sub['id']} → {url}"


def _write_secret(path, secret: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(secret + "\n", encoding="utf-8")
    path.chmod(0o600)


async def run(c: CampaignClient) -> str:
    st = c.state.setdefault("disclosure", {})
    P = await c.login("demo_province")
    sub_note = await _subscription(c, st, P)
    if "inspection" not in enabled_services():
        return f"{sub_note}；检查服务未部署，没有可公示的检查结果，跳过公示"

    async def arrived():
        page = await c.get("/disclosure/results", P, limit=1)
        return page["items"] or None

    try:
        await c.eventually(arrived, "公示服务收到 inspection.record.submitted 事件", timeout=30)
    except Exception:  # noqa: BLE001 - no record submitted in this campaign
        return f"{sub_note}；尚无已提交的检查记录，没有可公示的结果"
    published = 0
    todo = [r for r in await c.all("/disclosure/results", P) if r["status"] in ("pending", "returned", "submitted")]
    done = sum(1 for r in await c.all("/disclosure/results", P, status="published"))
    # one result stays 待录入 so the web walk-through (a county enters it, another official reviews) has one to do
    if not st.get("kept_for_web") and len(todo) > 1:
        st["kept_for_web"] = todo[-1]["id"]
        c.save()
    kept = [r for r in todo if r["id"] == st.get("kept_for_web")]
    todo = [r for r in todo if r["id"] != st.get("kept_for_web")]
    for r in todo[: max(0, MAX_RESULTS - done)]:
        if not r["categories"] or not r["follow_up"]:
            continue  # nothing the inspection said: left for the bureau to enter by hand
        bureau = r["county_code"] or r["city_code"]
        enterer = c.token(f"demo:{bureau}:entry", ["county_admin" if r["county_code"] else "city_admin"], bureau, name="录入员（演示）")
        reviewer = c.token(f"demo:{r['city_code']}:review", ["city_admin"], r["city_code"], name="审核员（演示）")
        for _attempt in range(5):
            # the result as it is now: events from rectification may still be updating it (a 412 here
            # means one arrived between reading and writing; read again, as any client would)
            r = await c.get(f"/disclosure/results/{r['id']}", P)
            etag = f'"v{r["version"]}"'
            if r["status"] not in ("pending", "returned", "submitted"):
                break
            if r["status"] != "submitted":
                e = await c.call("PUT", f"/disclosure/results/{r['id']}/entry", {**enterer, "If-Match": etag},
                                 json={"categories": [x["code"] for x in r["categories"]], "follow_up": r["follow_up"]},
                                 expect=(200, 412))
                if e.status_code == 412:
                    continue
                etag = e.headers["etag"]
            a = await c.call("POST", f"/disclosure/results/{r['id']}/review", {**reviewer, "If-Match": etag},
                             json={"decision": "approve"}, expect=(200, 201, 412))
            if a.status_code != 412:
                published += 1
                break
        else:
            raise RuntimeError(f"公示结果 {r['id']} 连续 5 次版本冲突（412），演示未能录入")
    total = done + published
    left = f"；留 1 条待录入（{kept[0]['enterprise_name']}，供网页录入、审核）" if kept else ""
    return f"{sub_note}；本次公示 {published} 条，累计已公示 {total} 条（GET /api/v1/disclosure/public/results）{left}"
