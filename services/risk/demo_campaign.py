"""Demo campaign step of risk: the registry population synchronised (its import events carry
USCCs only), a scorecard fitted on the demo history (planted effects, backtest
on a held-out year), published by one province official and adopted by a second (after the class
migration preview), the monthly batch, a risk-driven draw (D 100 %, C 50 %, others 5 %) through
sampling, and the Taiyuan bureau's ledger and alerts. HTTP only, idempotent (state in the file)."""
from __future__ import annotations

from shared.demo_campaign import CampaignClient
from shared.topology import enabled_services

SEED = "16180339887498948482045"
RULES = [
    {"name": "高风险企业（D类）", "risk_classes": ["D"], "ratio": "1", "note": "信用风险分类 D：100%"},
    {"name": "较高风险企业（C类）", "risk_classes": ["C"], "ratio": "0.5", "note": "信用风险分类 C：50%"},
    {"name": "其他获证企业", "ratio": "0.05", "note": "A、B 类：5%"},
]


async def _risk_draw(c: CampaignClient, st: dict, P: dict, P2: dict) -> str:
    if "sampling" not in enabled_services():
        return "抽取服务不在本安装中，跳过风险分类抽取"
    if st.get("risk_draw_id"):
        return f"风险分类抽取 {st['risk_draw_id']}（沿用）"
    if not st.get("risk_plan_id"):
        plan = await c.post("/sampling/plans", {**P, "Idempotency-Key": "demo-risk-plan"}, {
            "name": "风险分类抽查（演示）", "batch": "risk-demo", "catalogue": "2022",
            "settings": {"window_start": "2026-06-10", "window_end": "2026-11-10", "report_date": "2026-11-20"}, "rules": RULES})
        st["risk_plan_id"] = plan["id"]
        c.save()
    r = await c.call("GET", f"/sampling/plans/{st['risk_plan_id']}", P)
    if r.json().get("status") in (None, "draft"):
        await c.call("POST", f"/sampling/plans/{st['risk_plan_id']}/approve", {**P2, "If-Match": r.headers["etag"]})
    d = await c.post("/sampling/draws", P, {"plan_id": st["risk_plan_id"], "kind": "enterprise"})
    frozen = await c.post(f"/sampling/draws/{d['id']}/freeze", P)
    await c.post(f"/sampling/draws/{d['id']}/seed", P, {"seed": SEED})
    await c.post(f"/sampling/draws/{d['id']}/seed/confirm", P2, {"seed": SEED})
    await c.post(f"/sampling/draws/{d['id']}/commit", P)
    st["risk_draw_id"] = d["id"]
    c.save()
    layers = "，".join(f"{s['name']} {s['population']} 家抽 {s['quota']}" for s in frozen["strata"] if s.get("quota"))
    return f"风险分类抽取 {d['id']} 已提交（{layers}）"


async def run(c: CampaignClient) -> str:
    st = c.state.setdefault("risk", {})
    P, P2 = await c.login("demo_province"), await c.login("demo_province2")
    synced = await c.post("/risk/sync/registry", P)  # the registry's import events carry USCCs only
    if not st.get("model_version"):
        m = await c.post("/risk/models/fit", {**P, "Idempotency-Key": "demo-risk-fit"},
                         {"name": "拟合评分卡（演示历史）", "history": "demo", "seed": 2022, "enterprises": 3000,
                          "note": "演示历史带已知植入效应，留出 2025 年回测"})
        st["model_version"] = m["version"]
        c.save()
    v = st["model_version"]
    r = await c.call("GET", f"/risk/models/{v}", P)
    model = r.json()
    if model["status"] == "draft":
        r = await c.call("POST", f"/risk/models/{v}/propose", {**P, "If-Match": r.headers["etag"]}, json={"note": "发布待复核"})
        model = r.json()
    preview = await c.get(f"/risk/models/{v}/preview", P)
    if model["status"] == "proposed":
        r = await c.call("POST", f"/risk/models/{v}/adopt", {**P2, "If-Match": r.headers["etag"]}, json={"note": "已查看分类迁移预览，同意采用"})
    rep = (await c.get(f"/risk/models/{v}", P))["fit_report"] or {}
    await c.post("/risk/batches/monthly", P)
    draw = await _risk_draw(c, st, P, P2)
    T = await c.login("demo_taiyuan")
    ledger = await c.get("/risk/ledger", T, limit=50)
    alerts = await c.get("/risk/alerts", T, limit=50)
    return (f"同步名录库 {synced['enterprises']} 家；评分卡 v{v}（回测 {rep.get('test_year')} 年 AUC {rep.get('auc_test')}），采用前迁移 {preview['moved']} 家；{draw}；"
            f"太原市局台帐 {len(ledger['items'])} 家、预警 {len(alerts['items'])} 条")
