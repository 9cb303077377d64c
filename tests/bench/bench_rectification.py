"""Benchmark: opening 10,000 rectification cases from ``inspection.problem_summary.handed_over``
events through the consumer path (validation, inbox row, case + problems, outbox event, audit entry —
one transaction per event), then the overdue sweep over all of them after the clock moves past the
deadlines (one conditional update, timeline row, outbox event and audit entry per case, in batches).

Baselines in the same run, on the same database engine and driver:
- opening: one transaction per event writing only the inbox row (the least any idempotent
  consumer must do per event);
- sweep: one set-based ``UPDATE … SET overdue = true`` over the same rows (no events, no audit).
Speed is reported as a ratio to the baseline; peak RSS of the process after each phase.
Targets (PASS/MISS): the sweep over 10,000 cases finishes within one sweep interval (60 s) and
the lease (180 s) — so one replica keeps up — and opening costs at most 15× the bare inbox write.

SQLite by default; ``BENCH_DATABASE_URL=postgresql://…/db`` (an existing, empty database) for PostgreSQL.
Writes bench-results/rectification.json."""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import resource
import tempfile
import time
from pathlib import Path

N = int(os.environ.get("BENCH_RECTIFICATION_CASES", "10000"))
OPEN_RATIO_TARGET = 15.0
SWEEP_SECONDS_TARGET = 60.0


def _rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _event(i: int) -> dict:
    from shared.events.envelope import make_event

    county = f"14{(i % 11) + 1:02d}{(i % 9) + 1:02d}"
    data = {
        "summary_id": f"bench-sum-{i:06d}", "record_id": f"bench-rec-{i:06d}", "task_id": f"bench-task-{i:06d}", "plan_id": "bench",
        "uscc": f"91{county}MA{i:08d}", "enterprise_name": f"山西基准测试企业{i}", "site_id": f"site-{i}", "site_address": "山西省某路1号",
        "region_code": county, "city_code": county[:4] + "00", "county_code": county,
        "licences": [{"number": f"(晋)XK13-001-{i:05d}", "category": "cement", "valid_until": "2027-01-01"}],
        "problems": [{"no": 1, "item_code": "2.1", "text": "原材料进货查验记录不全", "fixed_on_site": False, "evidence": []},
                     {"no": 2, "item_code": "5.3", "text": "出厂检验记录缺少签字", "fixed_on_site": True, "evidence": ["b" * 64]},
                     {"no": 3, "item_code": "7.1", "text": "计量器具未按期检定", "fixed_on_site": False, "evidence": []}],
        "period": {"value": 15, "unit": "working_days"}, "handed_over_on": "2024-09-02",
    }
    return make_event("inspection", "problem_summary", "handed_over", data)


async def _run(url: str, tmp: Path) -> dict:
    from sqlalchemy import Column, MetaData, Table, func, select, update

    from services.rectification.app import create_app, rectification_settings
    from services.rectification.models import Case
    from services.rectification.sweep import mark_overdue
    from shared.calendar import WorkCalendar
    from shared.db import Database, utcnow
    from shared.events.consumer import process
    from shared.migrations import upgrade_async
    from shared.tables import KernelTables

    await upgrade_async("services.rectification", url)
    now = {"t": dt.datetime(2024, 9, 3, 10, tzinfo=dt.UTC)}
    app = create_app(rectification_settings(database_url=url, evidence_dir=str(tmp / "ev")), clock=lambda: now["t"], calendar=WorkCalendar())
    ctx = app.state.ctx
    consumer = ctx.runner.consumers["rectification-problem-summary"]
    events = [_event(i) for i in range(N)]
    subject = "spotcheck.inspection.problem_summary.handed_over"
    out: dict = {"cases": N, "backend": ctx.db.engine.dialect.name}

    # ---- opening
    t0 = time.perf_counter()
    for ev in events:
        await process(ctx.db, ctx.kernel, consumer, ev, subject)
    open_s = time.perf_counter() - t0
    out["open_seconds"] = round(open_s, 2)
    out["open_events_per_second"] = round(N / open_s)
    out["peak_rss_mb_after_open"] = _rss_mb()

    # baseline: the bare inbox write, one transaction per event, same engine (a separate kernel copy)
    md = MetaData()
    base_kernel = KernelTables(md)
    base_inbox = Table("bench_inbox", md, *[Column(c.name, c.type, primary_key=c.primary_key) for c in base_kernel.inbox.columns])
    db = Database(url)
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: base_inbox.create(c))
    t0 = time.perf_counter()
    for ev in events:
        async with db.transaction() as s:
            await s.execute(base_inbox.insert().values(event_id=ev["id"], consumer="bench", subject=subject, processed_at=utcnow()))
    base_open_s = time.perf_counter() - t0
    out["baseline_inbox_only_seconds"] = round(base_open_s, 2)
    out["open_ratio_to_baseline"] = round(open_s / base_open_s, 1)

    # ---- the overdue sweep after the deadlines pass
    now["t"] = dt.datetime(2024, 10, 30, 2, tzinfo=dt.UTC)
    on = dt.date(2024, 10, 30)
    t0 = time.perf_counter()
    flagged = await mark_overdue(ctx, on)
    sweep_s = time.perf_counter() - t0
    assert flagged == N, flagged
    out["sweep_seconds"] = round(sweep_s, 2)
    out["sweep_cases_per_second"] = round(N / sweep_s)
    out["peak_rss_mb_after_sweep"] = _rss_mb()
    t0 = time.perf_counter()
    again = await mark_overdue(ctx, on)
    out["idle_sweep_seconds"] = round(time.perf_counter() - t0, 3)  # nothing left to do: one indexed query
    assert again == 0

    # baseline: one set-based UPDATE over the same rows
    async with db.transaction() as s:
        await s.execute(update(Case).values(overdue=False))
    t0 = time.perf_counter()
    async with db.transaction() as s:
        await s.execute(update(Case).where(Case.status == "open", Case.deadline < on).values(overdue=True, overdue_on=on))
    base_sweep_s = time.perf_counter() - t0
    async with db.session() as s:
        assert (await s.execute(select(func.count()).select_from(Case).where(Case.overdue.is_(True)))).scalar_one() == N
    out["baseline_set_update_seconds"] = round(base_sweep_s, 3)
    out["sweep_ratio_to_baseline"] = round(sweep_s / max(base_sweep_s, 1e-6), 1)
    await db.dispose()
    await ctx.db.dispose()

    out["open_target"] = f"≤ {OPEN_RATIO_TARGET}× the bare inbox write"
    out["open_verdict"] = "PASS" if out["open_ratio_to_baseline"] <= OPEN_RATIO_TARGET else "MISS"
    out["sweep_target"] = f"≤ {SWEEP_SECONDS_TARGET:.0f} s for {N} cases (one sweep interval)"
    out["sweep_verdict"] = "PASS" if sweep_s <= SWEEP_SECONDS_TARGET else "MISS"
    return out


def main() -> dict:
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        url = os.environ.get("BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{tmp / 'rectification.db'}"
        result = asyncio.run(_run(url, tmp))
    print(f"[{result['backend']}] 由事件开立 {result['cases']} 件整改案件：{result['open_seconds']} 秒（{result['open_events_per_second']} 件/秒），"
          f"为仅写收件箱基线的 {result['open_ratio_to_baseline']} 倍 → {result['open_verdict']}（目标 {result['open_target']}）")
    print(f"逾期扫描 {result['cases']} 件：{result['sweep_seconds']} 秒（{result['sweep_cases_per_second']} 件/秒），"
          f"为单条 UPDATE 基线的 {result['sweep_ratio_to_baseline']} 倍 → {result['sweep_verdict']}（目标 {result['sweep_target']}）；"
          f"无事可做时 {result['idle_sweep_seconds']} 秒；进程峰值内存 {result['peak_rss_mb_after_sweep']} MB")
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "rectification.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
