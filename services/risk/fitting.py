"""Fitting a scorecard from history, honestly: scikit-learn's LogisticRegression on one-hot
binned indicators (the bins of the expert scorecard; the lowest bin is the reference, 0 points),
trained on every year before a held-out year and backtested on that year (AUC, class-wise
non-conformity rates).

One training row per inspection actually carried out: the features are the enterprise's
indicator values at the end of the previous year, the label whether that inspection found
problems. Points = round(coefficient × 20 / ln 2) (20 points double the odds); the thresholds
put ≈ 40 % / 35 % / 17 % / 8 % of the training rows in A / B / C / D."""
from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import math
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from shared.errors import Problem

from . import demo_history, indicators
from . import facts as facts_mod
from .models import RiskEnterprise, RiskFact
from .scorecard import EXPERT_V1, compile_definition, validate

FACTOR = 20 / math.log(2)
SHARES = (0.40, 0.75, 0.92)  # cumulative A, A+B, A+B+C
MAX_FACTS = 3_000_000


def dataset(states: dict[str, dict], facts: dict[str, list[tuple[str, dt.date, float]]]) -> list[tuple[int, dict[str, float], int]]:
    """(year, indicator values at the end of the previous year, label) per inspection."""
    rows = []
    for uscc, fs in facts.items():
        failed_on = {on for k, on, _ in fs if k == "failed_inspection"}
        for k, on, _ in fs:
            if k != "inspection":
                continue
            values = indicators.compute(states.get(uscc), fs, dt.date(on.year - 1, 12, 31))
            rows.append((on.year, values, int(on in failed_on)))
    return rows


def _encode(rows, bins: dict[str, list[float]]):
    import numpy as np

    cols = [(code, j) for code in sorted(bins) for j in range(1, len(bins[code]) + 1)]
    X = np.zeros((len(rows), len(cols)), dtype=np.float64)
    index = {c: i for i, c in enumerate(cols)}
    for r, (_, values, _) in enumerate(rows):
        for code, uppers in bins.items():
            j = bisect.bisect_right(uppers, values.get(code, 0.0))
            if j:
                X[r, index[(code, j)]] = 1.0
    y = np.array([lab for _, _, lab in rows], dtype=np.int64)
    return X, y, cols


def direction_warnings(definition: dict, reference: dict | None = None) -> list[dict[str, Any]]:
    """What a reviewer should look at before adopting a fitted card: an indicator whose points move the
    other way than the expert card's (``EXPERT_V1``) between two neighbouring bins — more refusals scoring
    fewer points, or a newer licence scoring less — is the fit following noise or a confounder in the
    history, not a rule the bureau would write. Reported with the fit (``fit_report.direction_warnings``);
    adopting the card stays the second official's decision."""
    reference = reference or EXPERT_V1
    out = []
    for code, bins in definition["indicators"].items():
        expected = [b["points"] for b in reference["indicators"].get(code, [])]
        points = [b["points"] for b in bins]
        if len(expected) != len(points):
            continue
        against = [j for j in range(len(points) - 1)
                   if (expected[j + 1] - expected[j]) * (points[j + 1] - points[j]) < 0]
        if against:
            up = expected[against[0] + 1] > expected[against[0]]
            out.append({"indicator": code, "points": points, "expert_points": expected,
                        "message": f"与专家评分卡方向相反：指标越高，评分反而越{'低' if up else '高'}"})
    return out


def fit(rows: list[tuple[int, dict[str, float], int]], test_year: int | None = None) -> dict[str, Any]:
    import numpy as np
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    if not rows:
        raise Problem(422, "no-history", "没有可用于拟合的历史检查记录")
    years = sorted({y for y, _, _ in rows})
    test_year = test_year or years[-1]
    train = [r for r in rows if r[0] < test_year]
    test = [r for r in rows if r[0] == test_year]
    if len(train) < 200 or len(test) < 50:
        raise Problem(422, "too-little-history", "历史数据不足以拟合和回测",
                      detail=f"训练样本 {len(train)}（至少 200）、回测年份 {test_year} 样本 {len(test)}（至少 50）")
    y_train = np.array([r[2] for r in train])
    if y_train.min() == y_train.max() or len({r[2] for r in test}) < 2:
        raise Problem(422, "one-class-history", "历史检查结果只有一种结论，无法拟合或回测")
    bins = {code: [b["upper"] for b in spec[:-1]] for code, spec in EXPERT_V1["indicators"].items()}
    X, y, cols = _encode(train, bins)
    used = X.std(axis=0) > 0
    clf = LogisticRegression(C=1.0, max_iter=2000)
    clf.fit(X[:, used], y)
    coef = np.zeros(len(cols))
    coef[used] = clf.coef_[0]
    definition = {"base": round(float(clf.intercept_[0]) * FACTOR), "indicators": {}, "thresholds": {}}
    coefficients: dict[str, dict[str, float]] = {}
    for code, spec in EXPERT_V1["indicators"].items():
        out_bins = []
        for j, b in enumerate(spec):
            c = float(coef[cols.index((code, j))]) if j else 0.0
            out_bins.append({"upper": b["upper"], "points": round(c * FACTOR)})
            coefficients.setdefault(code, {})[str(j)] = round(c, 4)
        definition["indicators"][code] = out_bins
    probe = compile_definition({**definition, "thresholds": {"B": 0, "C": 1, "D": 2}})
    train_scores = np.array([probe.score_only(v) for _, v, _ in train])
    qs = [float(np.quantile(train_scores, s)) for s in SHARES]
    th = []
    for q in qs:
        t = math.floor(q) + 1  # scores ≥ t fall in the next class
        th.append(max(t, th[-1] + 1) if th else t)
    definition["thresholds"] = {"B": th[0], "C": th[1], "D": th[2]}
    definition = validate(definition)
    model = compile_definition(definition)
    test_scores = [model.score(v)[:2] for _, v, _ in test]
    by_class = {c: {"n": 0, "nonconforming": 0} for c in "ABCD"}
    for (_, _, lab), (_, cls) in zip(test, test_scores):
        by_class[cls]["n"] += 1
        by_class[cls]["nonconforming"] += lab
    for c in by_class.values():
        c["rate"] = round(c["nonconforming"] / c["n"], 4) if c["n"] else None
    auc = float(roc_auc_score([r[2] for r in test], [s for s, _ in test_scores]))
    auc_train = float(roc_auc_score(y, train_scores))
    return {"definition": definition, "library": f"scikit-learn {sklearn.__version__} LogisticRegression(C=1.0), one-hot bins",
            "train_years": [y for y in years if y < test_year], "test_year": test_year,
            "train_rows": len(train), "test_rows": len(test), "train_nonconforming_rate": round(float(y.mean()), 4),
            "auc_test": round(auc, 4), "auc_train": round(auc_train, 4), "classes_test": by_class,
            "coefficients": coefficients, "points_per_double_odds": 20, "direction_warnings": direction_warnings(definition)}


def _from_events(events: list[dict]) -> tuple[dict, dict]:
    states: dict[str, dict] = {}
    facts: dict[str, list] = defaultdict(list)
    for ev in events:
        fx = facts_mod.interpret(ev)
        if fx.enterprise is not None:
            for u in fx.uscc:
                states[u] = fx.enterprise
        for f in fx.facts:
            facts[f["uscc"]].append((f["kind"], f["occurred_on"], f["value"]))
    return states, facts


def fit_demo(seed: int = 2022, enterprises: int = 3000, test_year: int | None = None) -> dict[str, Any]:
    states, facts = _from_events(demo_history.generate(seed, enterprises))
    report = fit(dataset(states, facts), test_year)
    report["history"] = {"kind": "demo", "seed": seed, "enterprises": enterprises, "planted_log_odds": demo_history.PLANTED,
                         "planted_intercept": demo_history.INTERCEPT,
                         "fitted_log_odds": {k: report["coefficients"][k]["1"] for k in demo_history.PLANTED}}
    return report


async def fit_from(ctx, history: str, *, test_year: int | None, seed: int, enterprises: int) -> dict[str, Any]:
    if history == "demo":
        return await asyncio.to_thread(fit_demo, seed, enterprises, test_year)
    async with ctx.db.session() as s:
        n = (await s.execute(select(RiskFact.id).limit(MAX_FACTS + 1))).all()
        if len(n) > MAX_FACTS:
            raise Problem(413, "history-too-large", "历史事实过多，请缩小范围")
        states = {e.uscc: {"flags": e.flags, "flag_dates": e.flag_dates, "licences": e.licences}
                  for e in (await s.execute(select(RiskEnterprise))).scalars()}
        facts: dict[str, list] = defaultdict(list)
        for u, k, on, v in await s.execute(select(RiskFact.uscc, RiskFact.kind, RiskFact.occurred_on, RiskFact.value)):
            facts[u].append((k, on, v))
    rows = await asyncio.to_thread(dataset, states, facts)
    report = await asyncio.to_thread(fit, rows, test_year)
    report["history"] = {"kind": "stored", "enterprises": len(states)}
    return report
