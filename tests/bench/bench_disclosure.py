"""Benchmark: publication → webhook. Results are published (审核通过) at a steady rate (default
50/s for 60 s) through the service's API, with one subscription to a real local receiver
running in its own thread; for each result, the time from the publishing transaction's commit
to the receiver's 2xx answer. Then the pull feed is read end to end (entries per second).

Absorption first: a burst of approvals sent at once, published one transaction each (batches of
1, the old path) and then by group commit (``publication.py``), on the same database in the same
run: target ≥ 50/s absolute and ≥ 3× the one-by-one rate.

Baselines measured in the same run: a plain signed POST from this process to the same receiver
(the floor of any delivery) and a bare SELECT of the feed rows. Goal: p99 < 500 ms.

    BENCH_DISCLOSURE_RATE=50 BENCH_DISCLOSURE_SECONDS=60 make bench BENCH=disclosure
    BENCH_DISCLOSURE_SECONDS=5 …            (a quick run)
    BENCH_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres …   (on PostgreSQL)
"""
from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import secrets
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx


BURST = int(os.environ.get("BENCH_DISCLOSURE_BURST", 300))


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


class ThreadReceiver:
    """A uvicorn receiver in its own thread and event loop; records when each result arrived."""

    def __init__(self):
        from shared.natsproc import free_port

        self.port = free_port()
        self.arrived: dict[str, float] = {}
        self.bad = 0
        self.secret: str | None = None
        self._server = None
        self._thread = None

    async def app(self, scope, receive, send):
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                else:
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        body = b""
        while True:
            msg = await receive()
            body += msg.get("body", b"")
            if not msg.get("more_body"):
                break
        from services.disclosure.receiver import verify

        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        if self.secret and verify([self.secret], headers, body) is None:
            data = json.loads(body)["data"]
            self.arrived.setdefault(data["id"], time.perf_counter())
        else:
            self.bad += 1
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    def start(self):
        import uvicorn

        self._server = uvicorn.Server(uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="error",
                                                     interface="asgi3", lifespan="on"))
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        while not self._server.started:
            time.sleep(0.02)
        return self

    def stop(self):
        self._server.should_exit = True
        self._thread.join(10)


async def _database(tmp: Path) -> tuple[str, callable]:
    url = os.environ.get("BENCH_DATABASE_URL")
    if not url:
        return f"sqlite+aiosqlite:///{tmp / 'disclosure-bench.db'}", None
    import asyncpg

    admin = url.replace("postgresql+asyncpg://", "postgresql://")
    name = f"sc_bench_disclosure_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()

    async def drop():
        c = await asyncpg.connect(admin)
        await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await c.close()

    return "postgresql+asyncpg://" + admin.split("://", 1)[1].rsplit("/", 1)[0] + "/" + name, drop


async def _seed(app, n: int, tag: str = "rate") -> list[str]:
    """n results already entered (待审核), written directly: the set-up, not what is measured."""
    from services.disclosure.models import Result
    from shared.db import new_id, utcnow

    ids = []
    async with app.state.ctx.db.transaction() as s:
        now = utcnow()
        for i in range(n):
            rid = new_id()
            ids.append(rid)
            s.add(Result(id=rid, record_id=f"bench-{tag}-{i}", plan_id="bench-plan", plan_name="基准测试计划", uscc=f"9114{tag[:4].upper():0<4}BENCH{i:05d}"[:18],
                         enterprise_name=f"基准测试企业{i}", region_code="140105", city_code="140100", county_code="140105",
                         bureau_code="140105", bureau_name="小店区市场监督管理局", completed_on=dt.date(2024, 9, 27),
                         due_on=dt.date(2024, 10, 30), suggested={"categories": ["no_problem"], "follow_up": "none_needed"},
                         suggestion_source="bench", categories=["no_problem"], follow_up="none_needed", status="submitted",
                         entered_by="bench-enterer", entered_at=now, version=2, created_at=now))
    return ids


async def run(rate: float, seconds: float) -> dict:
    from services.disclosure.app import create_app
    from services.disclosure.settings import disclosure_settings
    from shared.auth import TokenVerifier
    from shared.migrations import upgrade_async
    from tests.helpers import Keys

    tmp = Path(tempfile.mkdtemp(prefix="bench-disclosure-"))
    url, drop = await _database(tmp)
    keys = Keys(tmp)
    await upgrade_async("services.disclosure", url)
    settings = disclosure_settings(database_url=url, events_prefix=f"bench{os.getpid()}", webhook_allow_hosts="127.0.0.1",
                                   webhook_poll_seconds=1.0, timer_interval_seconds=3600)
    app = create_app(settings, verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks))
    commits: dict[str, float] = {}
    app.state.ctx.extras["on_publish_commit"] = lambda rid: commits.setdefault(rid, time.perf_counter())
    n = int(rate * seconds)
    rec = ThreadReceiver().start()
    try:
        async with app.router.lifespan_context(app):
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=60)
            prov = keys.headers(sub="prov", roles=["province_admin"], region="140000")
            r = await client.post("/subscriptions", headers=prov, json={"url": f"http://127.0.0.1:{rec.port}/hooks"})
            r.raise_for_status()
            rec.secret = r.json()["secret"]

            # baseline: the same signed POST from this process straight to the receiver
            from services.disclosure.webhooks import sign

            base_lat = []
            async with httpx.AsyncClient(trust_env=False) as raw:
                for i in range(200):
                    body = json.dumps({"type": "baseline", "timestamp": "", "data": {"id": f"baseline-{i}"}})
                    ts = int(time.time())
                    t0 = time.perf_counter()
                    await raw.post(f"http://127.0.0.1:{rec.port}/hooks", content=body,
                                   headers={"webhook-id": f"b{i}", "webhook-timestamp": str(ts), "webhook-signature": sign([rec.secret], f"b{i}", ts, body)})
                    base_lat.append((time.perf_counter() - t0) * 1000)
            rec.arrived.clear()

            reviewer = keys.headers(sub="bench-reviewer", roles=["county_admin"], region="140105")
            # absorption: a burst of approvals at once, one transaction each (the old path: batches of 1)
            # vs group commit, in the same run on the same database
            from services.disclosure.publication import MAX_BATCH, publisher

            async def burst(tag: str, size: int) -> float:
                publisher(app.state.ctx).max_batch = size
                bids = await _seed(app, BURST, tag)
                t = time.perf_counter()
                answers = await asyncio.gather(*(client.post(f"/results/{rid}/review", headers={**reviewer, "If-Match": '"v2"'},
                                                             json={"decision": "approve"}) for rid in bids))
                assert all(a.status_code == 200 for a in answers), [a.text for a in answers if a.status_code != 200][:2]
                return BURST / (time.perf_counter() - t)

            serial_rate = await burst("serial", 1)
            batched_rate = await burst("group", MAX_BATCH)
            rec.arrived.clear()
            commits.clear()

            ids = await _seed(app, n)
            errors = 0
            req_ms: list[float] = []

            async def approve(rid):
                nonlocal errors
                t = time.perf_counter()
                resp = await client.post(f"/results/{rid}/review", headers={**reviewer, "If-Match": '"v2"'}, json={"decision": "approve"})
                req_ms.append((time.perf_counter() - t) * 1000)
                if resp.status_code != 200:
                    errors += 1

            start = time.perf_counter()
            tasks = []
            for i, rid in enumerate(ids):
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(approve(rid)))
            await asyncio.gather(*tasks)
            offered_s = time.perf_counter() - start
            deadline = time.monotonic() + 120
            while sum(1 for rid in ids if rid in rec.arrived) < n - errors and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            lat = [(rec.arrived[rid] - commits[rid]) * 1000 for rid in ids if rid in rec.arrived and rid in commits]

            # the feed end to end, and a bare SELECT of the same rows as its baseline
            credit = keys.headers(sub="credit", roles=["credit_system"], region="140000")
            t0 = time.perf_counter()
            after, entries = None, 0
            while True:
                page = (await client.get("/feed", headers=credit, params={"limit": 1000, **({"after": after} if after else {})})).json()
                entries += len(page["items"])
                after = page["next_cursor"]
                if not page["has_more"]:
                    break
            feed_s = time.perf_counter() - t0
            from sqlalchemy import select

            from services.disclosure.models import ResultVersion

            t0 = time.perf_counter()
            async with app.state.ctx.db.session() as s:
                bare = len((await s.execute(select(ResultVersion.seq, ResultVersion.content).order_by(ResultVersion.seq))).all())
            bare_s = time.perf_counter() - t0
            await client.aclose()
    finally:
        rec.stop()
        if drop:
            await drop()
        from tests.conftest import delete_streams

        await delete_streams(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"), settings.events_prefix)
    p50, p99 = _pct(lat, 50), _pct(lat, 99)
    base50 = statistics.median(base_lat)
    out = {
        "load_average_1min": round(os.getloadavg()[0], 1), "cpus": os.cpu_count(),
        "burst": BURST, "burst_serial_per_second": round(serial_rate, 1), "burst_group_commit_per_second": round(batched_rate, 1),
        "group_commit_ratio": round(batched_rate / serial_rate, 1),
        "benchmark": "disclosure.publish_to_webhook",
        "database": "postgresql" if drop else "sqlite",
        "rate_per_second": rate, "seconds": seconds, "published": n - errors, "publish_errors": errors,
        "publications_per_second": round(n / offered_s, 1),  # all publishing requests answered / time: below the rate = the service could not keep up
        "publish_request_p50_ms": round(_pct(req_ms, 50), 1), "publish_request_p99_ms": round(_pct(req_ms, 99), 1),
        "delivered": len(lat), "bad_signatures": rec.bad,
        "commit_to_2xx_p50_ms": round(p50, 1), "commit_to_2xx_p99_ms": round(p99, 1), "commit_to_2xx_max_ms": round(max(lat), 1) if lat else None,
        "baseline_direct_post_p50_ms": round(base50, 2), "p50_ratio_to_direct_post": round(p50 / base50, 1) if base50 else None,
        "goal_p99_ms": 500, "verdict": ("PASS" if lat and len(lat) == n - errors and p99 < 500 and n / offered_s >= 0.95 * rate else "MISS"),
        "verdict_rule": "p99 < 500 ms, every result delivered, and the service kept up with the offered rate (≥ 95 %)",
        "feed_entries": entries, "feed_entries_per_second": round(entries / feed_s) if feed_s else None,
        "feed_bare_select_rows_per_second": round(bare / bare_s) if bare_s else None,
        "feed_ratio_to_bare_select": round((bare / bare_s) / (entries / feed_s), 1) if entries and bare_s and feed_s else None,
    }
    from tests.bench import check

    check(out, "publications absorbed per second, group commit (burst)", out["burst_group_commit_per_second"], 50, at_most=False, unit="/s")
    check(out, "group commit ÷ one transaction per publication (same run)", out["group_commit_ratio"], 3, at_most=False, unit="×")
    check(out, "publication commit → receiver 2xx p99 at the offered rate", out["commit_to_2xx_p99_ms"], 500, unit=" ms")
    return out


def main() -> dict:
    rate = float(os.environ.get("BENCH_DISCLOSURE_RATE", 50))
    seconds = float(os.environ.get("BENCH_DISCLOSURE_SECONDS", 60))
    import logging

    logging.disable(logging.WARNING)
    try:
        out = asyncio.run(run(rate, seconds))
    finally:
        logging.disable(logging.NOTSET)
    print(json.dumps(out, ensure_ascii=False, indent=2))
    print(f"公示吞吐（{BURST} 条同时审核通过）：分组提交 {out['burst_group_commit_per_second']}/s，逐条事务 {out['burst_serial_per_second']}/s，"
          f"{out['group_commit_ratio']}×；负载 {out['load_average_1min']}（{out['cpus']} 核）")
    print(f"{out['verdict']}: 公示提交→接收端 2xx p50 {out['commit_to_2xx_p50_ms']} ms, p99 {out['commit_to_2xx_p99_ms']} ms（目标 p99 < 500 ms）；"
          f"公示 {out['publications_per_second']}/{rate:g} 条/秒；"
          f"拉取数据流 {out['feed_entries_per_second']} 条/秒（裸 SELECT 的 1/{out['feed_ratio_to_bare_select']}）")
    path = Path("bench-results")
    path.mkdir(exist_ok=True)
    (path / "disclosure.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
