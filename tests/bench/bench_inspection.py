"""Benchmark: sealing and exporting 1,000 inspection records, and a 50 MB evidence upload.

1. 1,000 records (100 teams x 10 tasks) reach the state just before sealing (prepared directly in the
   database: arrival through the domain code, then items answered, signatures and the enterprise's
   confirmation written in bulk). Then each record is sealed through the HTTP API (``POST …/submit``:
   completeness checks, outcome, canonical content hash, audit chain entry, outbox event). Baseline in
   the same run: reading the same 1,000 records (``GET /records/{id}``, the same loading work).
   Target: sealing costs at most 4x a read.
2. Export: 1,000 附件4 cement forms of one city as XLSX with the notice's two-row header
   (``GET /forms/cement/export.xlsx``) against a baseline of openpyxl writing the same cells plainly.
   Target: at most 3x the plain write.
3. Evidence: the service runs as a real uvicorn process; a 5 MB and then a 50 MB PDF are streamed to
   ``POST …/evidence/upload``; the process's peak resident memory (VmHWM) is read before and after.
   Target: the 50 MB upload raises the peak by less than 16 MB (memory does not grow with the file).
Writes ``bench-results/inspection.json``."""
from __future__ import annotations

import asyncio
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

MB = 1024 * 1024
N_TEAMS, PER_TEAM = 100, 10


def _vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def _vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def _prepare(tmp: Path, keys):
    from sqlalchemy import update

    from services.inspection import records
    from services.inspection.app import create_app, inspection_settings
    from services.inspection.consumers import CONSUMERS
    from services.inspection.models import ItemAnswer, ProductionForm, Record, Signature
    from services.inspection.schemas import Arrival
    from shared.auth import Principal, TokenVerifier
    from shared.db import utcnow
    from shared.events.consumer import process
    from shared.migrations import upgrade_async
    from tests.inspection import factory as f
    from tests.inspection.test_forms_reports import CEMENT

    url = f"sqlite+aiosqlite:///{tmp / 'inspection.db'}"
    await upgrade_async("services.inspection", url)
    settings = inspection_settings(database_url=url, nats_url="nats://127.0.0.1:1", events_prefix="benchinsp",
                                   storage_url=f"file://{tmp / 'evidence'}")
    app = create_app(settings, verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks), start_background=False)
    ctx = app.state.ctx
    by = {c.subjects[0]: c() for c in CONSUMERS}
    record_ids, tasks = [], []
    for t in range(N_TEAMS):
        team_id = f"team-{t:03d}"
        members = [dict(m, person_id=f"{m['person_id']}-{t:03d}") for m in f.MEMBERS]
        ev = f.team_formed(team_id, members)
        await process(ctx.db, ctx.kernel, by["scheduling.team.formed"], ev, "x")
        for k in range(PER_TEAM):
            task_id = f"task-{t:03d}-{k:02d}"
            ev = f.dispatched(task_id, f"9114010{t:03d}{k:02d}0000X"[:18], ["cement"], team_id=team_id, members=members)
            await process(ctx.db, ctx.kernel, by["scheduling.task.dispatched"], ev, "x")
            tasks.append((task_id, members))
    now = utcnow()
    for task_id, members in tasks:
        leader = members[0]
        p = Principal(sub=f"person:{leader['person_id']}", roles=("inspector",), region="140000", level="province", person_id=leader["person_id"])
        body = Arrival(arrived_at=now, present=[m["person_id"] for m in members[:3]], production_status="producing")
        async with ctx.db.transaction() as s:
            r = await records.open_record(ctx, s, p, task_id, body, None)
            await s.execute(update(ItemAnswer).where(ItemAnswer.record_id == r.id, ItemAnswer.conclusion.is_(None))
                            .values(conclusion="conforming", version=2, updated_at=now))
            for m in members[:3]:
                s.add(Signature(record_id=r.id, person_id=m["person_id"], name=m["name"], role=m["role"], signed_by="bench", signed_at=now))
            await s.execute(update(Record).where(Record.id == r.id).values(
                enterprise_confirmation={"name": "孙厂长", "role": "总经理", "refused": True, "refusal_note": "拒签"}))
            s.add(ProductionForm(kind="cement", task_id=task_id, plan_id=f.PLAN, uscc=r.uscc, enterprise_name=r.enterprise_name,
                                 region_code=r.region_code, city_code=r.city_code, data=json.loads(json.dumps(CEMENT)), filled_by="bench",
                                 filled_as="enterprise", updated_at=now))
            record_ids.append((r.id, leader["person_id"]))
    return app, record_ids, url


async def _seal_and_export(app, record_ids, keys) -> dict:
    from openpyxl import Workbook

    from services.inspection.forms import COLUMNS
    from tests.helpers import running

    out = {}
    async with running(app) as client:
        def h(pid):
            return keys.headers(sub=f"person:{pid}", roles=["inspector"], region="140000", person_id=pid)

        heads = {pid: h(pid) for _, pid in record_ids}
        versions = {}
        t0 = time.perf_counter()
        for rid, pid in record_ids:
            r = await client.get(f"/records/{rid}", headers=heads[pid])
            assert r.status_code == 200, r.text
            versions[rid] = r.json()["version"]
        read = time.perf_counter() - t0
        t0 = time.perf_counter()
        for rid, pid in record_ids:
            r = await client.post(f"/records/{rid}/submit", headers={**heads[pid], "If-Match": f'"v{versions[rid]}"'}, json={})
            assert r.status_code == 200, r.text
        seal = time.perf_counter() - t0
        out.update(records=len(record_ids), read_seconds=round(read, 3), seal_seconds=round(seal, 3),
                   seal_per_record_ms=round(seal / len(record_ids) * 1000, 2), seal_vs_read=round(seal / read, 2))
        admin = keys.headers(sub="prov", roles=["province_admin"], region="140000")
        t0 = time.perf_counter()
        r = await client.get("/forms/cement/export.xlsx", headers=admin, params={"city_code": "140100"})
        export = time.perf_counter() - t0
        assert r.status_code == 200
        from openpyxl import load_workbook

        rows = load_workbook(io.BytesIO(r.content)).active.max_row - 5 - 3  # 5 title/header rows, a blank and 2 footer rows
        cols = len(COLUMNS["cement"]())
        t0 = time.perf_counter()
        wb = Workbook()
        ws = wb.active
        for i in range(len(record_ids)):
            ws.append([f"v{i}-{k}" for k in range(cols)])
        wb.save(io.BytesIO())
        plain = time.perf_counter() - t0
        out.update(export_rows=rows, export_seconds=round(export, 3), export_bytes=len(r.content), plain_xlsx_seconds=round(plain, 3),
                   export_vs_plain=round(export / plain, 2))
    return out


def _upload_bench(tmp: Path, db_url: str, keys, record_id: str, person_id: str, s3_endpoint: str | None = None) -> dict:
    """Peak memory of the service process while it stores a 5 MB then a 50 MB upload (on S3: 20 MB then
    50 MB, both beyond one 8 MiB part, so the growth between them shows whether memory follows the file)."""
    from shared.natsproc import free_port

    port = free_port()
    env = dict(os.environ, SPOTCHECK_VAR_DIR=str(tmp / "var"), SPOTCHECK_INSPECTION_DATABASE_URL=db_url,
               SPOTCHECK_JWKS_FILE=str(keys.jwks_file), NATS_URL="nats://127.0.0.1:1", SPOTCHECK_EVENTS_PREFIX="benchinsp",
               SPOTCHECK_INSPECTION_STORAGE_URL=f"file://{tmp / 'evidence'}", SPOTCHECK_LOG_LEVEL="WARNING")
    small = 5 * MB
    if s3_endpoint:
        small = 20 * MB
        env.update(SPOTCHECK_INSPECTION_STORAGE_URL="s3://bench-evidence/inspection", SPOTCHECK_EVIDENCE_S3_ENDPOINT_URL=s3_endpoint,
                   SPOTCHECK_EVIDENCE_S3_ACCESS_KEY="bench", SPOTCHECK_EVIDENCE_S3_SECRET_KEY="bench-secret")
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "services.inspection.app:create_app", "--host", "127.0.0.1",
                             "--port", str(port), "--no-access-log", "--log-level", "warning"], env=env, cwd=Path(__file__).parents[2],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        headers = {**keys.headers(sub=f"person:{person_id}", roles=["inspector"], region="140000", person_id=person_id),
                   "Content-Type": "application/pdf"}

        def body(size: int):
            yield b"%PDF-1.7\n"
            chunk = b"0" * MB
            for _ in range(size // MB):
                yield chunk

        def upload(size: int) -> float:
            t0 = time.perf_counter()
            r = httpx.post(f"{base}/records/{record_id}/evidence/upload", params={"item_code": "4.1", "filename": f"{size // MB}MB.pdf"},
                           headers=headers, content=body(size), timeout=120)
            assert r.status_code == 201, r.text
            return time.perf_counter() - t0

        httpx.get(base + "/health")
        idle_rss = _vm_rss_kib(proc.pid)
        t5 = upload(small)
        hwm_after_5 = _vm_hwm_kib(proc.pid)
        t50 = upload(50 * MB)
        hwm_after_50 = _vm_hwm_kib(proc.pid)
        growth_mib = (hwm_after_50 - hwm_after_5) / 1024
        if s3_endpoint:
            return {"s3_idle_rss_mib": round(idle_rss / 1024, 1), "s3_peak_rss_after_20mb_mib": round(hwm_after_5 / 1024, 1),
                    "s3_peak_rss_after_50mb_mib": round(hwm_after_50 / 1024, 1), "s3_peak_growth_20_to_50mb_mib": round(growth_mib, 1),
                    "s3_upload_50mb_seconds": round(t50, 3), "s3_upload_50mb_mib_per_s": round(50 / t50, 1)}
        return {"idle_rss_mib": round(idle_rss / 1024, 1), "peak_rss_after_5mb_mib": round(hwm_after_5 / 1024, 1),
                "peak_rss_after_50mb_mib": round(hwm_after_50 / 1024, 1), "peak_growth_50mb_mib": round(growth_mib, 1),
                "upload_5mb_seconds": round(t5, 3), "upload_50mb_seconds": round(t50, 3),
                "upload_50mb_mib_per_s": round(50 / t50, 1), "time_50_vs_5": round(t50 / t5, 2)}
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)


def main() -> dict:
    from tests.helpers import Keys

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        keys = Keys(tmp)

        async def go():
            app, ids, url = await _prepare(tmp, keys)
            res = await _seal_and_export(app, ids, keys)
            return res, ids, url

        res, ids, url = asyncio.run(go())
        # a fresh open record for the uploads (sealed ones refuse evidence)
        from tests.inspection import factory as f

        async def fresh():
            from services.inspection import records
            from services.inspection.app import create_app, inspection_settings
            from services.inspection.consumers import TaskDispatchedConsumer
            from services.inspection.schemas import Arrival
            from shared.auth import Principal, TokenVerifier
            from shared.db import utcnow
            from shared.events.consumer import process

            app = create_app(inspection_settings(database_url=url, nats_url="nats://127.0.0.1:1", events_prefix="benchinsp",
                                                 storage_url=f"file://{tmp / 'evidence'}"),
                             verifier=TokenVerifier("spotcheck-gateway", "spotcheck", jwks=keys.jwks), start_background=False)
            ctx = app.state.ctx
            members = [dict(m, person_id=f"{m['person_id']}-000") for m in f.MEMBERS]
            await process(ctx.db, ctx.kernel, TaskDispatchedConsumer(), f.dispatched("task-upload", "91140100MA9999999X", ["cement"],
                                                                                    team_id="team-000", members=members), "x")
            p = Principal(sub="b", roles=("inspector",), region="140000", level="province", person_id=members[0]["person_id"])
            async with ctx.db.transaction() as s:
                r = await records.open_record(ctx, s, p, "task-upload", Arrival(arrived_at=utcnow(), present=[m["person_id"] for m in members[:3]],
                                                                               production_status="producing"), None)
            await ctx.db.dispose()
            return r.id, members[0]["person_id"]

        rid, pid = asyncio.run(fresh())
        up = _upload_bench(tmp, url, keys, rid, pid)
        from tests.s3server import S3Server

        with S3Server() as s3:  # the same upload on the S3 backend (in-process S3 server over HTTP)
            s3.make_bucket("bench-evidence")
            up.update(_upload_bench(tmp, url, keys, rid, pid, s3_endpoint=s3.endpoint))
        up["s3_vs_file_50mb_time"] = round(up["s3_upload_50mb_seconds"] / up["upload_50mb_seconds"], 2)
    checks = {"seal_vs_read<=4": res["seal_vs_read"] <= 4, "export_vs_plain<=3": res["export_vs_plain"] <= 3,
              "upload_peak_growth<16MiB": up["peak_growth_50mb_mib"] < 16,
              "s3_upload_peak_growth_20_to_50MB<8MiB": up["s3_peak_growth_20_to_50mb_mib"] < 8}
    out = {"benchmark": "inspection", **res, **up, "checks": checks, "verdict": "PASS" if all(checks.values()) else "MISS"}
    print(json.dumps(out, ensure_ascii=False, indent=2))
    path = Path("bench-results")
    path.mkdir(exist_ok=True)
    (path / "inspection.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


if __name__ == "__main__":
    main()
