"""Fitting through the API: from the demo history (planted effects) and from the history the
service stored from events — the same events give the same fit either way."""
from __future__ import annotations

from services.risk import demo_history, fitting
from services.risk.consumers import all_consumers
from shared.events.consumer import process
from tests.helpers import running


def H(keys, sub="prov1", roles=("province_admin",), region="140000"):
    return keys.headers(sub=sub, roles=roles, region=region)


async def test_fit_from_stored_events_equals_fit_from_the_same_events(make_risk, keys):
    app, _ = await make_risk()
    ctx = app.state.ctx
    events = demo_history.generate(seed=11, enterprises=150)
    consumers = {c.name: c for c in all_consumers()}
    route = {"registry": "risk-registry-enterprise", "inspection": "risk-inspection", "rectification": "risk-rectification-case"}
    async with running(app) as c:
        for c_ in consumers.values():
            c_.ctx = ctx
        for e in events:
            consumer = consumers[route[e["type"].split(".")[1]]]
            assert await process(ctx.db, ctx.kernel, consumer, e, e["type"])
        r = await c.post("/models/fit", json={"name": "拟合（库内历史）", "history": "stored", "test_year": 2025}, headers=H(keys))
        assert r.status_code == 201, r.text
        stored = r.json()
        assert stored["status"] == "draft" and stored["source"] == "fitted"
        expected = fitting.fit(fitting.dataset(*fitting._from_events(events)), 2025)
        assert stored["definition"] == expected["definition"]
        assert stored["fit_report"]["auc_test"] == expected["auc_test"]
        assert stored["fit_report"]["classes_test"] == expected["classes_test"]
        # too little history for a held-out year is a 422, not a 500
        r = await c.post("/models/fit", json={"name": "拟合", "history": "stored", "test_year": 2030}, headers=H(keys))
        assert r.status_code == 422 and r.json()["type"].endswith("too-little-history")
        r = await c.post("/models/fit", json={"name": "拟合", "history": "demo"}, headers=H(keys, sub="c", roles=("city_admin",), region="140100"))
        assert r.status_code == 403


async def test_fit_demo_history_via_api_reports_backtest(make_risk, keys):
    app, _ = await make_risk()
    async with running(app) as c:
        r = await c.post("/models/fit", json={"name": "拟合（演示历史）", "history": "demo", "seed": 5, "enterprises": 1500}, headers=H(keys))
        assert r.status_code == 201, r.text
        rep = r.json()["fit_report"]
        assert rep["test_year"] == 2025 and rep["train_years"] == list(range(2019, 2025))
        assert set(rep["classes_test"]) == {"A", "B", "C", "D"} and 0.5 < rep["auc_test"] <= 1
        assert rep["history"]["planted_log_odds"]["not_inspected_2y"] == 0.0
        assert "scikit-learn" in rep["library"]
        # the reviewer's warnings travel with the stored version (the outside audit found a wrong-direction signal unflagged)
        from services.risk.fitting import direction_warnings
        assert rep["direction_warnings"] == direction_warnings(r.json()["definition"])
