"""Demo campaign step of sampling: the notice's 2022 plan, approved, and both draws committed
through the seed ceremony by two province officials (as the witnessed ceremony would be run)."""
from __future__ import annotations

from shared.demo_campaign import CampaignClient

ENTERPRISE_SEED = "31415926535897932384626"
INSPECTOR_SEED = "27182818284590452353602"


async def _ceremony(c: CampaignClient, P: dict, P2: dict, plan_id: str, kind: str, seed: str, **extra) -> dict:
    d = await c.post("/sampling/draws", P, {"plan_id": plan_id, "kind": kind, **extra})
    await c.post(f"/sampling/draws/{d['id']}/freeze", P)
    await c.post(f"/sampling/draws/{d['id']}/seed", P, {"seed": seed})
    await c.post(f"/sampling/draws/{d['id']}/seed/confirm", P2, {"seed": seed})
    return await c.post(f"/sampling/draws/{d['id']}/commit", P)


async def run(c: CampaignClient) -> str:
    st = c.state.setdefault("sampling", {})
    P, P2 = await c.login("demo_province"), await c.login("demo_province2")
    if st.get("inspector_draw_id"):
        return f"计划 {st['plan_id']} 的两次抽取已提交（沿用）"
    if not st.get("plan_id"):
        plan = await c.post("/sampling/plans/from-template/notice-2022-181", P, {})
        st["plan_id"] = plan["id"]
        c.save()
    plan_id = st["plan_id"]
    plan = await c.call("GET", f"/sampling/plans/{plan_id}", P)
    if plan.json().get("status") in (None, "draft"):
        await c.call("POST", f"/sampling/plans/{plan_id}/approve", {**P2, "If-Match": plan.headers["etag"]})
    if not st.get("enterprise_draw_id"):
        ent = await _ceremony(c, P, P2, plan_id, "enterprise", ENTERPRISE_SEED)
        st["enterprise_draw_id"] = ent["id"]
        c.save()
    insp = await _ceremony(c, P, P2, plan_id, "inspector", INSPECTOR_SEED, enterprise_draw_id=st["enterprise_draw_id"])
    st["inspector_draw_id"] = insp["id"]
    c.save()
    return f"计划 {plan_id}：企业抽取 {st['enterprise_draw_id']}、检查人员抽取 {insp['id']} 已提交"
