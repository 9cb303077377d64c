"""Fault: the evidence store full, under load (`make test-faults`).

How "full" is made: the inspection service runs on its S3 backend against an in-process S3 server
(moto, real HTTP) that, for the outage, answers every write as a full MinIO does — HTTP 507
``XMinioStorageFull`` — while reads go on. Why this and not a full disk: a tiny private filesystem
needs mount privileges (tmpfs, loop devices) that CI containers may not grant, and a read-only
directory does not stop root (CI runs as root). The filesystem's own ENOSPC path is tested with a
real ENOSPC from the kernel (/dev/full) in tests/shared/test_evidence_store.py and through both
services' HTTP upload in tests/inspection and tests/rectification.

Under steady load (registry writers and readers through the gateway, as in the other faults, plus
inspectors uploading evidence photos and 6 MB scans — multipart — to an open record and reading
it back), the store fills for a while, then has space again. Reported: requests answered and
failed by status, evidence uploads accepted / refused, 500s, uploads confirmed vs rows vs objects
(lost, duplicated), leftovers in the store (temporary objects, open multipart uploads), and the time
from space back to the first upload accepted."""
from __future__ import annotations

import asyncio
import json
import os
import time
from collections import Counter

import httpx
import nats
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from shared.demo_campaign import CampaignClient
from tests.faults.load import LoadResult, run_load
from tests.faults.stack import Stack
from tests.faults.test_faults import CONSUMER, OUTAGE, _assert_promises, _token, accounting
from tests.inspection import factory as f
from tests.s3server import S3Server

pytestmark = [pytest.mark.asyncio]
FULL_FOR = min(OUTAGE, 20)
BUCKET = "faults-evidence"


async def _publish(stack: Stack, *events: dict) -> None:
    nc = await nats.connect(stack.nats.url)
    try:
        js = nc.jetstream()
        for e in events:
            subject = stack.prefix + "." + e["type"].split(".", 1)[1]
            await js.publish(subject, json.dumps(e).encode(), headers={"Nats-Msg-Id": e["id"]})
    finally:
        await nc.close()


class Uploads:
    def __init__(self):
        self.answered: Counter = Counter()
        self.bad: list[str] = []
        self.confirmed: dict[str, str] = {}  # sha256 → evidence id
        self.first_ok_after: float | None = None
        self.space_back: float | None = None

    def note(self, r: httpx.Response) -> None:
        self.answered[r.status_code] += 1
        if r.status_code >= 500:
            ok = r.status_code in (503, 504, 507) and r.headers.get("content-type", "").startswith("application/problem+json")
            if not ok:
                self.bad.append(f"{r.status_code} {r.text[:200]}")


async def _uploader(i: int, base: str, headers: dict, rec_id: str, stop: asyncio.Event, up: Uploads) -> None:
    n = 0
    async with httpx.AsyncClient(base_url=base, timeout=60) as c:
        while not stop.is_set():
            n += 1
            large = n % 5 == 0
            head = b"%PDF-1.7\n" if large else f.JPEG[:64]
            data = head + os.urandom(6 * 1024 * 1024 if large else 40_000)
            name = f"扫描件{i}-{n}.pdf" if large else f"现场照片{i}-{n}.jpg"
            while True:  # a phone retries the same file until it lands
                r = await c.post(f"/api/v1/inspection/records/{rec_id}/evidence/upload", content=data,
                                 headers={**headers, "Content-Type": "application/octet-stream"},
                                 params={"filename": name, "item_code": "1.1"})
                up.note(r)
                if r.status_code == 201:
                    up.confirmed[r.json()["sha256"]] = r.json()["id"]
                    if up.space_back and up.first_ok_after is None:
                        up.first_ok_after = time.monotonic()
                    break
                if r.status_code in (503, 504, 507) and not stop.is_set():
                    await asyncio.sleep(0.5)
                    continue
                break
            r = await c.get(f"/api/v1/inspection/records/{rec_id}", headers=headers)  # the record keeps answering
            up.note(r)
            await asyncio.sleep(0.1)


async def test_evidence_store_full_under_load(tmp_path, monkeypatch):
    with S3Server() as s3:
        s3.make_bucket(BUCKET)
        for k, v in {"EVIDENCE_URL": f"s3://{BUCKET}/inspection", "EVIDENCE_S3_ENDPOINT_URL": s3.endpoint,
                     "EVIDENCE_S3_ACCESS_KEY": "faults", "EVIDENCE_S3_SECRET_KEY": "faults-secret",
                     "EVIDENCE_S3_PART_BYTES": str(5 * 1024 * 1024)}.items():
            monkeypatch.setenv(f"SPOTCHECK_INSPECTION_{k}", v)
        services = ["registry", "inspection", *([CONSUMER] if CONSUMER else [])]
        stack = await Stack(tmp_path, services, prefix=f"fev{os.getpid()}").start()
        try:
            await _publish(stack, f.team_formed(), f.dispatched("t-wire", f.USCC_WIRE, ["wire_cable"]))
            pem = (tmp_path / "var" / "keys" / "jwt-private.pem").read_bytes()
            async with httpx.AsyncClient(base_url=stack.gateway, timeout=30) as http:
                cc = CampaignClient(http, tmp_path / "campaign.json", pem)
                leader = cc.as_person(f.LEADER)
                for _ in range(150):  # until the dispatch event reached the service
                    r = await http.post("/api/v1/inspection/tasks/t-wire/record", headers=leader,
                                        json={"arrived_at": "2022-06-20T09:30:00+08:00", "present": [f.LEADER, f.DEPUTY, f.OFFICER1],
                                              "production_status": "producing"})
                    if r.status_code == 201:
                        break
                    await asyncio.sleep(0.2)
                assert r.status_code == 201, r.text
                rec_id = r.json()["id"]
                ready = (await http.get(f"http://127.0.0.1:{stack.ports['inspection'][0]}/ready")).json()
                assert ready["evidence_store"]["backend"] == "s3" and ready["evidence_store"]["ok"] is True

            headers = await _token(stack)
            stop, load, up = asyncio.Event(), LoadResult(), Uploads()
            tasks = [asyncio.create_task(run_load(stack.gateway, headers, stop, load)),
                     *(asyncio.create_task(_uploader(i, stack.gateway, leader, rec_id, stop, up)) for i in range(2))]
            await asyncio.sleep(4)
            before_full = dict(up.answered)
            s3.full = True
            registry_failed_before = load.failed
            await asyncio.sleep(FULL_FOR)
            registry_failed_during = load.failed - registry_failed_before
            s3.full = False
            up.space_back = time.monotonic()
            await asyncio.sleep(10)
            stop.set()
            await asyncio.wait_for(asyncio.gather(*tasks), 200)
            recovery = round(up.first_ok_after - up.space_back, 2) if up.first_ok_after else None

            engine = create_async_engine(stack.db_urls["inspection"])
            try:
                async with engine.connect() as c:
                    rows = [(r[0], r[1]) for r in await c.execute(text("SELECT id, sha256 FROM evidence WHERE record_id = :r"), {"r": rec_id})]
            finally:
                await engine.dispose()
            keys = s3.keys(BUCKET)
            objects = {k.rsplit("/", 1)[-1] for k in keys if "/tmp/" not in k}
            row_shas = [sha for _, sha in rows]
            acc = await accounting(stack, load)
            figures = {
                "store_full_s": FULL_FOR, "how": "S3 server answering writes 507 XMinioStorageFull",
                "uploads_by_status": {str(k): v for k, v in sorted(up.answered.items())},
                "uploads_before_full": before_full.get(201, 0), "uploads_confirmed": len(up.confirmed),
                "store_refusals": s3.refused, "upload_500s": up.answered.get(500, 0),
                "evidence_rows": len(rows), "rows_without_object": len([s for s in row_shas if s not in objects]),
                "confirmed_lost": len([s for s in up.confirmed if s not in row_shas or s not in objects]),
                "rows_duplicated": len(row_shas) - len(set(row_shas)),
                "store_leftovers": len([k for k in keys if "/tmp/" in k]) + len(s3.open_uploads(BUCKET)),
                "registry_failed_during_full": registry_failed_during,
                "recovery_s": recovery,
            }
            assert up.bad == [], up.bad[:5]
            assert up.answered.get(507, 0) > 0  # the fault was felt, as 507 problem+json ...
            assert figures["upload_500s"] == 0 and figures["rows_without_object"] == 0 and figures["confirmed_lost"] == 0
            assert figures["rows_duplicated"] == 0 and figures["store_leftovers"] == 0
            assert set(row_shas) == set(up.confirmed)  # a refused upload left no row
            assert registry_failed_during == 0 and load.failed == 0  # ... and everything else kept answering
            assert recovery is not None  # uploads work again once space is back
            _assert_promises("evidence_store_full", load, acc, figures)
        finally:
            await stack.stop()
