"""Benchmark: recomputing the classes of 100,000 enterprises from stored indicators (what a model
adoption does), against a baseline measured in the same run on the same database: reading the
same indicator rows in the same chunks and rewriting every class row unchanged (the I/O floor,
no scoring, no history, no events). Prints time and peak memory; writes bench-results/risk.json.

PASS when the recompute takes at most ``MAX_RATIO`` × the baseline and its peak traced memory
stays under ``MAX_PEAK_MIB`` (it works in chunks of 2,000, so memory must not grow with N).
``BENCH_RISK_N`` changes N; the database is a fresh SQLite file (``BENCH_RISK_DB`` for another URL)."""
from __future__ import annotations

import asyncio
import copy
import json
import os
import random
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

from sqlalchemy import bindparam, select, update

N = int(os.environ.get("BENCH_RISK_N", "100000"))
MAX_RATIO = 4.0
MAX_PEAK_MIB = 64.0


async def _fill(ctx, n: int) -> None:
    from services.risk.indicators import INDICATORS
    from services.risk.models import IndicatorValue
    from shared.db import utcnow

    rnd = random.Random(2022)
    today = ctx.extras["today"]()
    rows = []
    for i in range(n):
        v = {}
        for ind in INDICATORS:
            if ind.kind in ("flag", "hazard"):
                v[ind.code] = 1.0 if rnd.random() < 0.1 else 0.0
            elif ind.kind == "licence_age":
                v[ind.code] = round(rnd.uniform(0, 20), 2)
            else:
                v[ind.code] = float(rnd.choice((0, 0, 0, 0, 0, 1, 1, 2, 3)))
        rows.append({"uscc": f"9114{i:014d}", "region_code": f"14{rnd.randint(1, 11):02d}{rnd.randint(1, 9):02d}",
                     "values": v, "as_of": today, "computed_at": utcnow()})
    for k in range(0, n, 5000):
        async with ctx.db.transaction() as s:
            await s.execute(IndicatorValue.__table__.insert(), rows[k:k + 5000])


async def _baseline(ctx) -> int:
    """Same reads, same chunking; every class row rewritten unchanged."""
    from services.risk.engine import CHUNK
    from services.risk.models import IndicatorValue, RiskClass

    t, ct = IndicatorValue.__table__, RiskClass.__table__
    last, total = "", 0
    while True:
        async with ctx.db.transaction() as s:
            rows = (await s.execute(select(t.c.uscc, t.c.region_code, t.c["values"]).where(t.c.uscc > last).order_by(t.c.uscc).limit(CHUNK))).all()
            if not rows:
                return total
            cur = {r.uscc: r for r in (await s.execute(select(ct).where(ct.c.uscc.in_([r[0] for r in rows])))).all()}
            await s.execute(update(ct).where(ct.c.uscc == bindparam("b_uscc")).values(
                risk_class=bindparam("risk_class"), score=bindparam("score"), contributions=bindparam("contributions")),
                [{"b_uscc": u, "risk_class": cur[u].risk_class, "score": cur[u].score, "contributions": cur[u].contributions} for u, _, _ in rows],
                execution_options={"synchronize_session": False})
            total += len(rows)
            last = rows[-1][0]


async def run(n: int = N) -> dict:
    import datetime as dt

    from services.risk import engine, versions
    from services.risk.app import create_app
    from services.risk.scorecard import EXPERT_V1, compile_definition
    from shared.migrations import upgrade_async
    from shared.settings import settings_for

    tmp = tempfile.mkdtemp(prefix="bench-risk-")
    url = os.environ.get("BENCH_RISK_DB") or f"sqlite+aiosqlite:///{tmp}/risk.db"
    await upgrade_async("services.risk", url)
    app = create_app(settings_for("risk", database_url=url, events_prefix="benchrisk"), batch_interval=None)
    ctx = app.state.ctx
    ctx.extras["today"] = lambda: dt.date(2026, 11, 30)
    await versions.ensure_initial(ctx)
    await _fill(ctx, n)
    v1 = compile_definition(EXPERT_V1, 1)
    stricter = copy.deepcopy(EXPERT_V1)
    stricter["thresholds"] = {"B": 5, "C": 25, "D": 45}
    v2 = compile_definition(stricter, 2)

    t0 = time.perf_counter()
    first = await engine.reclassify(ctx, v1, "bench:first", recompute_indicators=False)
    t_first = time.perf_counter() - t0

    t0 = time.perf_counter()
    base_n = await _baseline(ctx)
    t_base = time.perf_counter() - t0

    t0 = time.perf_counter()
    second = await engine.reclassify(ctx, v2, "bench:model-2", recompute_indicators=False)
    t_recompute = time.perf_counter() - t0

    tracemalloc.start()
    third = await engine.reclassify(ctx, v1, "bench:back-to-1", recompute_indicators=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    t0 = time.perf_counter()
    async with ctx.db.session() as s:
        from services.risk.models import IndicatorValue
        vals = (await s.execute(select(IndicatorValue.__table__.c["values"]).limit(20000))).scalars().all()
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    for v in vals:
        v2.score(v)
    t_score = (time.perf_counter() - t0) / max(len(vals), 1) * 1e6
    await ctx.db.dispose()
    shutil.rmtree(tmp, ignore_errors=True)
    ratio = t_recompute / t_base if t_base else float("inf")
    out = {
        "benchmark": "risk.reclassify_from_stored_indicators",
        "enterprises": n, "database": "sqlite" if url.startswith("sqlite") else "postgresql",
        "first_classification_seconds": round(t_first, 2), "first_changed": first["changed"],
        "baseline_rewrite_seconds": round(t_base, 2), "baseline_rows": base_n,
        "recompute_seconds": round(t_recompute, 2), "recompute_changed": second["changed"],
        "ratio_to_baseline": round(ratio, 2), "max_ratio": MAX_RATIO,
        "peak_traced_memory_mib": round(peak / 2**20, 1), "max_peak_mib": MAX_PEAK_MIB, "peak_run_changed": third["changed"],
        "score_one_enterprise_microseconds": round(t_score, 1), "load_20000_indicator_rows_seconds": round(t_load, 2),
        "verdict": "PASS" if ratio <= MAX_RATIO and peak / 2**20 <= MAX_PEAK_MIB else "MISS",
    }
    return out


def main() -> dict:
    out = asyncio.run(run())
    print(json.dumps(out, ensure_ascii=False, indent=2))
    path = Path("bench-results")
    path.mkdir(exist_ok=True)
    (path / "risk.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
