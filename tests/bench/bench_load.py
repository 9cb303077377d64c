"""The campaign's busiest day under Locust (headless, bounded), on a private PostgreSQL, with one
and then two replicas of every service behind the gateway, in one run: throughput, p50/p99,
errors, and where the time goes in the slowest endpoint's service (py-spy, when installed).

Target: no 5xx; two replicas ≥ 0.9× one replica's throughput (on a 2-core machine the processes
share the same two cores, so it cannot double: the figure shows replicas cost nothing)."""
from __future__ import annotations

import asyncio
import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

USERS = int(os.environ.get("SPOTCHECK_LOAD_USERS", "30"))
SECONDS = int(os.environ.get("SPOTCHECK_LOAD_SECONDS", "40"))
HERE = Path(__file__).parent


async def _prepare(stack) -> dict:
    """The demo campaign through the stack's own API, then tokens and ids for the load."""
    from shared.demo_campaign import CampaignClient, run_campaign

    var = Path(stack.env["SPOTCHECK_VAR_DIR"])
    await run_campaign(stack.gateway, var, log=lambda m: None)
    import httpx

    async with httpx.AsyncClient(base_url=stack.gateway, timeout=60) as http:
        c = CampaignClient(http, var / "demo-campaign.json", (var / "keys" / "jwt-private.pem").read_bytes(), log=lambda m: None)
        P = await c.login("demo_province")
        data = {"province_token": P["Authorization"].split()[1]}
        tasks = await c.all("/scheduling/tasks", P)
        bureaus = sorted({(t.get("county_code") or t["city_code"]) for t in tasks})
        data["bureau_tokens"] = [c.token(f"bureau:{b}", ["county_admin" if not b.endswith("00") else "city_admin"], b, ttl=3600)["Authorization"].split()[1]
                                 for b in bureaus[:20]]
        sp = c.state.get("sampling", {})
        if sp.get("enterprise_draw_id"):
            data["public_draw_path"] = f"/api/v1/sampling/public/draws/{sp['enterprise_draw_id']}"
        hooks = _service_hooks()
        for hook in hooks:
            await hook(c, data)
    return data


def _service_hooks():
    """Services that add their part of the busiest day (inspection items, public results)."""
    import importlib

    from shared.topology import SERVICES, enabled_services

    out = []
    for name in enabled_services():
        try:
            mod = importlib.import_module(f"{SERVICES[name][0]}.load_profile")
        except ModuleNotFoundError:
            continue
        out.append(mod.prepare)
    return out


def _locust(base: str, data_file: Path, out: Path) -> dict:
    env = dict(os.environ, SPOTCHECK_LOAD_DATA=str(data_file))
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
        own[(mine[-1] if mine else frames[-1]).split(" (")[0]] += n
    return [f"{n * 100 // max(total, 1)}% {name}" for name, n in own.most_common(8)]


async def _run(replicas: int, base: Path) -> dict:
    from shared.topology import enabled_services
    from tests.faults.stack import Stack

    stack = await Stack(base / f"r{replicas}", list(enabled_services()), replicas=replicas, prefix=f"load{replicas}{os.getpid()}").start()
    try:
        t = time.monotonic()
        data = await _prepare(stack)
        prep = round(time.monotonic() - t, 1)
        data_file = base / f"data-{replicas}.json"
        data_file.write_text(json.dumps(data))
        out = base / f"locust-{replicas}"
        out.mkdir()
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(None, _locust, stack.gateway, data_file, out)
        profile = []
        if replicas == 2:
            await asyncio.sleep(SECONDS / 3)
            profile = await loop.run_in_executor(None, _profile, stack, os.environ.get("SPOTCHECK_PROFILE_SERVICE", "scheduling"))
        result = await fut
        return {**result, "replicas": replicas, "prepare_s": prep, "profile": profile}
    finally:
        await stack.stop()


def main() -> dict:
    from tests.bench import check

    base = Path(tempfile.mkdtemp(prefix="spotcheck-load-"))
    one = asyncio.run(_run(1, base))
    two = asyncio.run(_run(2, base))
    ratio = round(two["rps"] / one["rps"], 2) if one["rps"] else 0
    slowest = max(two["endpoints"].items(), key=lambda kv: kv[1]["p50_ms"]) if two["endpoints"] else ("-", {})
    result = {"users": USERS, "seconds": SECONDS, "one_replica": one, "two_replicas": two, "throughput_ratio_2_over_1": ratio,
              "slowest_endpoint": slowest[0], "slowest_p50_ms": slowest[1].get("p50_ms")}
    print(f"busiest day, {USERS} users × {SECONDS}s: 1 replica {one['rps']} req/s (p50 {one['p50_ms']} ms, p99 {one['p99_ms']} ms, "
          f"{one['failures']} failures); 2 replicas {two['rps']} req/s (p50 {two['p50_ms']} ms, p99 {two['p99_ms']} ms, "
          f"{two['failures']} failures); ratio {ratio}")
    print(f"slowest endpoint: {slowest[0]} p50 {slowest[1].get('p50_ms')} ms; where the time goes:")
    for line in two["profile"]:
        print("   ", line)
    import re

    five = sum(n for run in (one, two) for k, n in run["failure_kinds"].items() if re.search(r"\b5\d\d\b", k))
    check(result, "5xx answers", five, 0)
    check(result, "throughput, 2 replicas ÷ 1", ratio, 0.9, at_most=False)
    shutil.rmtree(base, ignore_errors=True)
    return result
