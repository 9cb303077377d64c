"""Steady load through the gateway while a fault happens, and the accounting of what came of it.

Writers register enterprises (each with its own Idempotency-Key, retried with the same key on a
503/504 until it lands, as an integrating system would); readers page the registry. Every answer
is counted by status; a failure that is not a 503/504 problem+json, or any 500, is a defect."""
from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field

import httpx
from stdnum.cn import uscc as stdnum_uscc

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
COUNTIES = ["140105", "140106", "140107", "140108", "140109", "140212"]


def new_uscc(rnd: random.Random, county: str) -> str:
    base = "91" + county + "".join(rnd.choice(USCC_ALPHABET) for _ in range(9))
    return base + stdnum_uscc.calc_check_digit(base)


@dataclass
class LoadResult:
    answered: Counter = field(default_factory=Counter)  # status → count
    bad_failures: list = field(default_factory=list)  # failures that are not 503/504 problem+json
    created: set = field(default_factory=set)  # USCCs the registry confirmed (201, or a replay)
    first_failure: float | None = None
    last_failure: float | None = None
    latencies: list = field(default_factory=list)

    def note(self, r: httpx.Response | None, exc: Exception | None = None) -> None:
        now = time.monotonic()
        if r is None:
            self.answered["transport-error"] += 1
            self.bad_failures.append(f"transport: {exc!r}")
        else:
            self.answered[r.status_code] += 1
            if r.status_code >= 500:
                self.first_failure = self.first_failure or now
                self.last_failure = now
                ok = r.status_code in (503, 504) and r.headers.get("content-type", "").startswith("application/problem+json")
                if not ok:
                    self.bad_failures.append(f"{r.status_code} {r.headers.get('content-type')} {r.text[:200]}")

    @property
    def failed(self) -> int:
        return sum(n for s, n in self.answered.items() if s == "transport-error" or int(s) >= 500)

    @property
    def fives(self) -> int:
        return sum(n for s, n in self.answered.items() if s == 500)

    def summary(self) -> dict:
        lat = sorted(self.latencies)
        pct = (lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 1)) if lat else (lambda q: None)
        return {"requests": sum(self.answered.values()), "by_status": {str(k): v for k, v in sorted(self.answered.items(), key=str)},
                "failed": self.failed, "http_500": self.fives, "non_problem_failures": len(self.bad_failures),
                "created": len(self.created), "p50_ms": pct(0.5), "p99_ms": pct(0.99)}


async def run_load(base: str, headers: dict, stop: asyncio.Event, result: LoadResult, writers: int = 2, readers: int = 2,
                   seed: int = 7, pause: float = 0.05, give_up_after: float = 180) -> None:
    rnd = random.Random(seed)

    async def writer(i: int, client: httpx.AsyncClient):
        while not stop.is_set():
            county = rnd.choice(COUNTIES)
            uscc = new_uscc(rnd, county)
            body = {"uscc": uscc, "name": f"故障测试企业{uscc[-6:]}有限公司", "region_code": county, "address": "山西省测试路1号"}
            deadline = time.monotonic() + give_up_after
            while time.monotonic() < deadline:  # the same key until it lands: exactly one enterprise
                t0 = time.monotonic()
                try:
                    r = await client.post("/api/v1/registry/enterprises", json=body, headers={**headers, "Idempotency-Key": f"fault-{uscc}"})
                except httpx.HTTPError as exc:
                    result.note(None, exc)
                    await asyncio.sleep(0.5)
                    continue
                result.latencies.append(time.monotonic() - t0)
                result.note(r)
                if r.status_code == 201:
                    result.created.add(uscc)
                    break
                if r.status_code in (502, 503, 504):
                    await asyncio.sleep(0.5)
                    continue
                break
            await asyncio.sleep(pause)

    async def reader(i: int, client: httpx.AsyncClient):
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                r = await client.get("/api/v1/registry/enterprises", params={"limit": 20}, headers=headers)
            except httpx.HTTPError as exc:
                result.note(None, exc)
                await asyncio.sleep(0.5)
                continue
            result.latencies.append(time.monotonic() - t0)
            result.note(r)
            await asyncio.sleep(pause)

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await asyncio.gather(*(writer(i, client) for i in range(writers)), *(reader(i, client) for i in range(readers)))
