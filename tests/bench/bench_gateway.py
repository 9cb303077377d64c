"""Benchmark: the same registry list request through the gateway and straight to the registry,
in one run, on the real processes that `spotcheck run` starts (SQLite, demo data).

Each side gets the same number of requests at the same concurrency from one asyncio client, in
alternating rounds once the registry's outbox is drained; we report the best round's requests/s
for both, their ratio (gateway / direct), and median latency.
Writes ``bench-results/gateway.json``."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from tests.bench import check

from shared.natsproc import free_port
from shared.topology import SERVICES

REQUESTS = 2000
CONCURRENCY = 16
ROUNDS = 4
SEQUENTIAL = 200  # requests per sequential round
SEQUENTIAL_ROUNDS = 5  # alternating; each side's figure is the median of its rounds' p50
PATH = "/enterprises?limit=50"


async def _hammer(url: str, headers: dict, n: int, concurrency: int) -> dict:
    latencies: list[float] = []
    retried: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(limits=limits, timeout=30) as client:
        for _ in range(20):  # warm-up
            (await client.get(url, headers=headers)).raise_for_status()
        queue = iter(range(n))

        async def worker():
            for _ in queue:
                t0 = time.perf_counter()
                try:
                    r = await client.get(url, headers=headers)
                except httpx.RemoteProtocolError:  # a keep-alive connection the server closed as we reused it
                    retried.append(1)  # (seen on a loaded machine, either side): the GET once more, as browsers do
                    r = await client.get(url, headers=headers)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return {"requests": n, "seconds": round(elapsed, 3), "rps": round(n / elapsed, 1),
            "p50_ms": round(statistics.median(latencies) * 1000, 2), "retried_on_closed_connection": len(retried)}


async def _drop_stream(prefix: str) -> None:
    """The stack's JetStream stream goes with it (benchmarks leave nothing behind on the machine's NATS)."""
    from tests.conftest import delete_streams

    await delete_streams(os.environ.get("NATS_URL", "nats://127.0.0.1:4222"), prefix)


def main() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="spotcheck-bench-"))
    # every process the launcher starts gets a free port of its own (others may run a stack on the defaults)
    ports = {"gateway": free_port(), **{name: free_port() for name in SERVICES}}
    env = dict(os.environ, SPOTCHECK_VAR_DIR=str(tmp / "var"), GATEWAY_PORT=str(ports["gateway"]),
               SPOTCHECK_EVENTS_PREFIX=f"bench{os.getpid()}", PYTHONUNBUFFERED="1",
               SPOTCHECK_WEBHOOK_RECEIVER_PORT=str(free_port()))
    for name in SERVICES:
        env[f"SPOTCHECK_{name.upper()}_PORT"] = str(ports[name])
    env.pop("TEST_DATABASE_URL", None)
    log = open(tmp / "run.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "shared.cli", "run"], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 900  # the demo campaign runs first; slow on a shared machine
        while "按 Ctrl-C" not in (tmp / "run.log").read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((tmp / "run.log").read_text()[-2000:])
            time.sleep(0.5)
        gw = f"http://127.0.0.1:{ports['gateway']}"
        tok = httpx.post(f"{gw}/auth/token", data={"grant_type": "password", "username": "demo_province",
                                                   "password": "spotcheck-demo"}, timeout=120).json()["access_token"]
        headers = {"Authorization": f"Bearer {tok}"}
        reg = f"http://127.0.0.1:{ports['registry']}"
        # the demo data's events are published first, so both sides see a quiet registry
        while httpx.get(f"{reg}/ready", timeout=60).json().get("outbox_pending", 0) > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        rounds: dict[str, list[dict]] = {"direct": [], "gateway": []}
        for _ in range(ROUNDS):  # alternate, so drift on the machine hits both sides alike
            rounds["direct"].append(asyncio.run(_hammer(f"{reg}{PATH}", headers, REQUESTS // ROUNDS, CONCURRENCY)))
            rounds["gateway"].append(asyncio.run(_hammer(f"{gw}/api/v1/registry{PATH}", headers, REQUESTS // ROUNDS, CONCURRENCY)))
        direct = max(rounds["direct"], key=lambda r: r["rps"])
        through = max(rounds["gateway"], key=lambda r: r["rps"])
        # one client, one request at a time: the extra hop's cost per request, in alternating rounds
        seq_rounds: dict[str, list[dict]] = {"direct": [], "gateway": []}
        for _ in range(SEQUENTIAL_ROUNDS):
            seq_rounds["direct"].append(asyncio.run(_hammer(f"{reg}{PATH}", headers, SEQUENTIAL, 1)))
            seq_rounds["gateway"].append(asyncio.run(_hammer(f"{gw}/api/v1/registry{PATH}", headers, SEQUENTIAL, 1)))
        sequential = {side: {"p50_ms": round(statistics.median(r["p50_ms"] for r in rs), 3),
                             "round_p50s_ms": [r["p50_ms"] for r in rs], "requests_per_round": SEQUENTIAL}
                      for side, rs in seq_rounds.items()}
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        asyncio.run(_drop_stream(env["SPOTCHECK_EVENTS_PREFIX"]))
    result = {
        "request": f"GET {PATH} (demo registry, province admin)",
        "concurrency": CONCURRENCY,
        "direct": direct,
        "gateway": through,
        "rounds": rounds,
        "sequential": sequential,
        "sequential_latency_ratio": round(sequential["gateway"]["p50_ms"] / sequential["direct"]["p50_ms"], 3),
        "gateway_to_direct_rps_ratio": round(through["rps"] / direct["rps"], 3),
    }
    print(f"direct  : {direct['rps']:8.1f} req/s  p50 {direct['p50_ms']} ms")
    print(f"gateway : {through['rps']:8.1f} req/s  p50 {through['p50_ms']} ms")
    print(f"ratio gateway/direct: {result['gateway_to_direct_rps_ratio']}")
    print(f"sequential p50: direct {sequential['direct']['p50_ms']} ms, gateway {sequential['gateway']['p50_ms']} ms "
          f"(ratio {result['sequential_latency_ratio']})")
    result["sequential_added_p50_ms"] = round(sequential["gateway"]["p50_ms"] - sequential["direct"]["p50_ms"], 3)
    check(result, "added p50 latency of the gateway hop", result["sequential_added_p50_ms"], 1.0, unit=" ms")
    check(result, "throughput gateway / direct", result["gateway_to_direct_rps_ratio"], 0.95, at_most=False)
    Path("bench-results").mkdir(exist_ok=True)
    Path("bench-results/gateway.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
