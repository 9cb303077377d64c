"""The campaign's busiest day under Locust (headless, bounded), on a private PostgreSQL, one replica
vs two replicas of every service, in one run: throughput, p50/p99, errors, and where the time goes
in the slowest endpoint's service (py-spy).

One stack is started with two replicas of every service and prepared once (the demo campaign, then
records opened for many tasks: ``load/prepare.py``). The load then goes through a second gateway
that knows only the first replica of each service (one replica), then through the stack's gateway,
which balances over both (two replicas): same data, same machine, same database.

Target: no 5xx; two replicas ≥ 0.9× one replica's throughput (on a 2-core machine the processes
share the same two cores, so it cannot double: the figure shows replicas cost nothing).
``SPOTCHECK_LOAD_USERS`` (30), ``SPOTCHECK_LOAD_SECONDS`` (60), ``SPOTCHECK_LOAD_PACE`` (0.2)."""
from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

USERS = int(os.environ.get("SPOTCHECK_LOAD_USERS", "30"))
SECONDS = int(os.environ.get("SPOTCHECK_LOAD_SECONDS", "60"))
PACE = os.environ.get("SPOTCHECK_LOAD_PACE", "0.2")  # think time × 0.2: the stack saturates (see the locustfile)
HERE = Path(__file__).parent


async def _prepare(stack) -> dict:
    """The demo campaign through the stack's own API, then tokens and ids for the load."""
    from tests.bench.load.prepare import prepare

    return await prepare(stack.gateway, Path(stack.env["SPOTCHECK_VAR_DIR"]))


def _locust(base: str, data_file: Path, out: Path) -> dict:
    env = dict(os.environ, SPOTCHECK_LOAD_DATA=str(data_file), SPOTCHECK_LOAD_PACE=PACE)
    cmd = [sys.executable, "-m", "locust", "-f", str(HERE / "load" / "locustfile.py"), "--headless", "-u", str(USERS),
           "-r", str(max(1, USERS // 5)), "-t", f"{SECONDS}s", "--host", base, "--csv", str(out / "load"), "--only-summary",
           "--stop-timeout", "5", "--exit-code-on-error", "0"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True, timeout=SECONDS + 120)
    rows = list(csv.DictReader(open(out / "load_stats.csv", encoding="utf-8")))
    failures = list(csv.DictReader(open(out / "load_failures.csv", encoding="utf-8"))) if (out / "load_failures.csv").exists() else []
    endpoints = {r["Name"]: {"requests": int(r["Request Count"]), "failures": int(r["Failure Count"]), "p50_ms": float(r["50%"] or 0),
                             "p99_ms": float(r["99%"] or 0), "rps": round(float(r["Requests/s"] or 0), 1)}
                 for r in rows if r["Name"] != "Aggregated"}
    total = next(r for r in rows if r["Name"] == "Aggregated")
    statuses = Counter()
    for f in failures:
        statuses[f["Error"][:80]] += int(f["Occurrences"])
    return {"rps": round(float(total["Requests/s"]), 1), "requests": int(total["Request Count"]), "failures": int(total["Failure Count"]),
            "p50_ms": float(total["50%"]), "p99_ms": float(total["99%"]), "endpoints": endpoints, "failure_kinds": dict(statuses)}


def _profile(stack, service: str, seconds: int = 8) -> list[str]:
    """py-spy on one replica of ``service`` while the load runs: the functions holding most samples."""
    if not shutil.which("py-spy") and not (Path(sys.executable).parent / "py-spy").exists():
        return ["py-spy not installed (pip install py-spy) — no profile"]
    exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    pid = stack.procs[service][0].pid
    raw = Path(tempfile.mkdtemp()) / "profile.txt"
    subprocess.run([exe, "record", "-p", str(pid), "-d", str(seconds), "-f", "raw", "-o", str(raw), "--nonblocking"],
                   capture_output=True, text=True, timeout=seconds + 30)
    if not raw.exists():
        return ["py-spy could not attach"]
    own: Counter = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack_s, _, count = line.rpartition(" ")
        n = int(count)
        total += n
        frames = stack_s.split(";")
        mine = [f for f in frames if "/spotcheck/" in f or "services/" in f or "shared/" in f or "gateway/" in f]
        top = mine[-1] if mine else frames[-1]
        own[top.rsplit(":", 1)[0] + ")" if top.endswith(")") and ":" in top else top] += n
    return [f"{n * 100 // max(total, 1)}% {name}" for name, n in own.most_common(8)]


def _service_of(endpoint: str) -> str:
    """``GET /inspection/records/{id}`` → inspection (the locustfile names requests by public path)."""
    parts = endpoint.split()
    return parts[-1].strip("/").split("/")[0] if parts else "gateway"


def _gateway_to_first_replicas(stack) -> tuple[subprocess.Popen, str]:
    """A second gateway on the same database that knows only the first replica of each service:
    the one-replica configuration, on the same data as the two-replica one."""
    from shared.natsproc import free_port
    from tests.faults.stack import ROOT

    env = dict(stack.env)
    for name in stack.services:
        env[f"SPOTCHECK_{name.upper()}_URL"] = f"http://127.0.0.1:{stack.ports[name][0]}"
    port = free_port()
    log = open(stack.base / f"gateway-one-{port}.log", "ab")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "gateway.app:create_app", "--host", "127.0.0.1",
                                 "--port", str(port), "--no-access-log"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
    finally:
        log.close()
    return proc, f"http://127.0.0.1:{port}"


async def _measure(label: str, base_url: str, data_file: Path, base: Path, stack=None, profile_service: str | None = None) -> dict:
    out = base / f"locust-{label}"
    out.mkdir()
    loop = asyncio.get_running_loop()
    fut = loop.run_in_executor(None, _locust, base_url, data_file, out)
    profile = []
    if profile_service:
        await asyncio.sleep(SECONDS / 3)
        profile = await loop.run_in_executor(None, _profile, stack, profile_service, min(20, SECONDS // 2))
    return {**(await fut), "profile": profile}


async def _both(base: Path) -> tuple[dict, dict, str, tuple]:
    """One stack with two replicas of every service, prepared once; the busiest day through a gateway
    that uses only the first replicas, then through one that balances over both."""
    from shared.topology import enabled_services
    from tests.faults.stack import Stack

    stack = Stack(base / "stack", list(enabled_services()), replicas=2, prefix=f"load{os.getpid()}")
    one_gw = None
    try:
        t = time.monotonic()
        await stack.start()
        data = await _prepare(stack)
        prep = round(time.monotonic() - t, 1)
        data_file = base / "data.json"
        data_file.write_text(json.dumps(data))
        one_gw, one_url = _gateway_to_first_replicas(stack)
        await stack.wait_healthy(int(one_url.rsplit(":", 1)[1]), timeout=180)
        one = {**await _measure("1", one_url, data_file, base), "replicas": 1, "prepare_s": prep}
        # the slowest endpoint of the first run (by p99) is profiled in its service during the second
        slowest = max(one["endpoints"].items(), key=lambda kv: kv[1]["p99_ms"]) if one["endpoints"] else ("-", {})
        service = os.environ.get("SPOTCHECK_PROFILE_SERVICE") or _service_of(slowest[0])
        if service not in stack.procs:
            service = "gateway"
        two = {**await _measure("2", stack.gateway, data_file, base, stack, service), "replicas": 2}
        return one, two, service, slowest
    finally:
        if one_gw is not None and one_gw.poll() is None:
            os.killpg(one_gw.pid, signal.SIGTERM)
            try:
                one_gw.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(one_gw.pid, signal.SIGKILL)
        await stack.stop()


def main() -> dict:
    from tests.bench import check

    base = Path(tempfile.mkdtemp(prefix="spotcheck-load-"))
    # the public per-address limit is for the internet; here one load generator is one address
    os.environ.setdefault("SPOTCHECK_DISCLOSURE_PUBLIC_RATE_PER_MINUTE", "1000000")
    os.environ.setdefault("SPOTCHECK_DISCLOSURE_PUBLIC_BURST", "1000000")
    # setting up the campaign (team composition, records) may be slow on a shared machine: not measured
    os.environ.setdefault("SPOTCHECK_GATEWAY_UPSTREAM_READ_TIMEOUT", "180")
    one, two, service, slowest = asyncio.run(_both(base))
    ratio = round(two["rps"] / one["rps"], 2) if one["rps"] else 0
    result = {"users": USERS, "seconds": SECONDS, "pace": PACE, "one_replica": one, "two_replicas": two, "throughput_ratio_2_over_1": ratio,
              "slowest_endpoint": slowest[0], "slowest_p99_ms": slowest[1].get("p99_ms"), "profiled_service": service}
    print(f"busiest day, {USERS} users × {SECONDS}s: 1 replica {one['rps']} req/s (p50 {one['p50_ms']} ms, p99 {one['p99_ms']} ms, "
          f"{one['failures']} failures); 2 replicas {two['rps']} req/s (p50 {two['p50_ms']} ms, p99 {two['p99_ms']} ms, "
          f"{two['failures']} failures); ratio {ratio}")
    for name, e in sorted(two["endpoints"].items()):
        o = one["endpoints"].get(name, {})
        print(f"    {name}: 1×{o.get('rps')} req/s p50 {o.get('p50_ms')} p99 {o.get('p99_ms')} | 2×{e['rps']} req/s p50 {e['p50_ms']} p99 {e['p99_ms']}"
              f" ({e['failures']} failures)")
    print(f"slowest endpoint (p99, one replica): {slowest[0]} {slowest[1].get('p99_ms')} ms; where the time goes in {service}:")
    for line in two["profile"]:
        print("   ", line)
    import re

    five = sum(n for run in (one, two) for k, n in run["failure_kinds"].items() if re.search(r"\b5\d\d\b", k))
    check(result, "5xx answers", five, 0)
    check(result, "throughput, 2 replicas ÷ 1", ratio, 0.9, at_most=False)
    shutil.rmtree(base, ignore_errors=True)
    return result
