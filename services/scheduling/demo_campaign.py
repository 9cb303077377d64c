"""Demo campaign step of scheduling: teams formed from the two committed draws (which reach
scheduling over JetStream), then most cities' bureaus accept their tasks and supply what the team
needs; 临汾 and 吕梁 are left unaccepted so the inbox and the overdue flag have something to show."""
from __future__ import annotations

from shared.demo_campaign import CampaignClient
from shared.vocabulary import city_name

LEFT_PENDING = {"141000", "141100"}  # 临汾, 吕梁


async def run(c: CampaignClient) -> str:
    st = c.state.setdefault("scheduling", {})
    sp = c.state.get("sampling", {})
    if not sp.get("inspector_draw_id"):
        return "没有已提交的抽取，跳过"
    P = await c.login("demo_province")
    if not st.get("assignment_id"):
        async def formed():
            r = await c.call("POST", f"/scheduling/plans/{sp['plan_id']}/assignments", P, expect=None,
                             json={"enterprise_draw_id": sp["enterprise_draw_id"], "inspector_draw_id": sp["inspector_draw_id"]})
            if r.status_code == 201:
                return r.json()
            if r.status_code == 409:  # formed by an earlier run that stopped before saving
                items = await c.get("/scheduling/assignments", P, plan_id=sp["plan_id"])
                return items["items"][0] if items["items"] else None
            if r.status_code == 404:
                return None  # draw.committed not received yet
            raise RuntimeError(f"组建检查组失败: {r.status_code} {r.text[:300]}")

        a = await c.eventually(formed, "调度服务收到两次抽取的 draw.committed 事件")
        st["assignment_id"] = a["id"]
        c.save()
    tasks = await c.all("/scheduling/tasks", P, plan_id=sp["plan_id"])
    todo = [t for t in tasks if t["city_code"] not in LEFT_PENDING and t.get("status") != "accepted"]
    tokens: dict[str, dict] = {}  # one token per bureau (RSA signing is not free)
    for t in todo:  # one bureau request after another (SQLite takes one writer at a time anyway)
        code = t.get("county_code") or t["city_code"]
        if code not in tokens:
            tokens[code] = c.token(f"bureau:{code}", ["county_admin" if t.get("county_code") else "city_admin"], code,
                                   name=f"{city_name(t['city_code'])}局（演示）")
        bureau = tokens[code]
        await c.post(f"/scheduling/tasks/{t['id']}/accept", bureau, {"note": "已接收（演示）"})
    accepted = sum(1 for t in tasks if t.get("status") == "accepted") + len(todo)
    st["tasks"] = len(tasks)
    c.save()
    return f"检查组组建结果 {st['assignment_id']}：{len(tasks)} 项任务，已接收 {accepted} 项（临汾、吕梁待接收）"
