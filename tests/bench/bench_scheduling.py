"""Benchmark: forming teams and the visit plan (pure function) for 5,000 drawn enterprises and
1,500 directory people. Prints time and peak memory and writes bench-results/scheduling.json."""
from __future__ import annotations

import json
import random
import time
import tracemalloc
from pathlib import Path

from services.scheduling.assignment import assign
from shared.canonical import canonical_json
from tests.bench import check
from tests.scheduling.factory import CATS, SETTINGS, enterprise, enterprise_draw, inspector_draw, person

CITIES = {f"14{c:02d}00": [f"14{c:02d}{k:02d}" for k in range(1, 11)] for c in range(1, 12)}


def build(n_enterprises=5000, n_people=1500, seed=20220610):
    rnd = random.Random(seed)
    selected = []
    for i in range(n_enterprises):
        city = rnd.choice(sorted(CITIES))
        selected.append(enterprise(i + 1, city, rnd.choice(CITIES[city]), rnd.sample(CATS, rnd.randint(1, 2)), rnd.choice([1, 1, 1, 2])))
    usccs = [e["uscc"] for e in selected]
    counties = [c for cs in CITIES.values() for c in cs]
    tickets = rnd.sample(range(1, 10**8), n_people)
    n_leaders, n_experts = n_people // 6, n_people // 4
    leaders = [person(f"insp-{i:05d}", "inspector", "province", "140000", tickets[i], cadre=True,
                      conflicts=rnd.sample(usccs, rnd.choice([0, 0, 1]))) for i in range(n_leaders)]
    experts = [person(f"exp-{i:05d}", "expert", "province", "140000", tickets[n_leaders + i], cert=False,
                      specs=rnd.sample(CATS, rnd.randint(5, len(CATS))), conflicts=rnd.sample(usccs, rnd.choice([0, 0, 1])))
               for i in range(n_experts)]
    officers = [person(f"insp-{10000 + i:05d}", "inspector", "county", rnd.choice(counties), tickets[n_leaders + n_experts + i],
                       conflicts=rnd.sample(usccs, rnd.choice([0, 0, 1, 2])))
                for i in range(n_people - n_leaders - n_experts)]
    settings = dict(SETTINGS, load_per_team=25, visits_per_day=2, max_teams_per_person=1)
    return (enterprise_draw("bench-e", "bench", selected, settings),
            inspector_draw("bench-i", "bench", "bench-e", {"leaders": leaders, "experts": experts, "officers": officers}, settings=settings),
            settings)


def floor(ent: dict, insp: dict, settings: dict) -> list:
    """The baseline in the same run: what any assignment must at least do — read every enterprise
    and person once, order enterprises by county and ticket, and cut them into teams' loads."""
    people = sorted((p for pool in insp["pools"].values() for p in pool), key=lambda p: (p.get("ticket", 0), p["id"]))
    ents = sorted(ent["selected"], key=lambda e: (e.get("county_code") or e.get("region_code") or "", str(e.get("ticket", "")), e["uscc"]))
    load = settings["load_per_team"]
    return [(ents[i:i + load], people[(i // load) % max(1, len(people))]) for i in range(0, len(ents), load)]


# target: forming teams and the visit plan costs at most this many times the floor above
# (measured 47× on 2026-11-30 on the shared 2-core machine: a guard against regressions)
TARGET_RATIO = 60


def main() -> dict:
    ent, insp, settings = build()
    best_floor = min(_timed(lambda: floor(ent, insp, settings)) for _ in range(3))
    best_assign = min(_timed(lambda: assign(ent, insp, settings)) for _ in range(2))  # without tracemalloc
    tracemalloc.start()
    t0 = time.perf_counter()
    result = assign(ent, insp, settings)
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    t1 = time.perf_counter()
    text = canonical_json(result)
    serialise = time.perf_counter() - t1
    out = {
        "benchmark": "scheduling.assign",
        "enterprises": len(ent["selected"]),
        "directory_people": sum(len(v) for v in insp["pools"].values()),
        "teams": len(result["teams"]),
        "visits": sum(len(t["visits"]) for t in result["teams"]),
        "ok": result["ok"],
        "shortfalls": len(result["shortfalls"]),
        "assign_seconds": round(elapsed, 3),
        "canonical_json_seconds": round(serialise, 3),
        "result_bytes": len(text.encode()),
        "peak_memory_mib": round(peak / 2**20, 1),
        "baseline_floor_seconds": round(best_floor, 4),
        "assign_untraced_seconds": round(best_assign, 3),
        "assign_vs_floor_ratio": round(best_assign / best_floor, 1),
    }
    check(out, "assign / read-sort-cut floor", out["assign_vs_floor_ratio"], TARGET_RATIO, unit="×")
    print(json.dumps(out, ensure_ascii=False, indent=2))
    path = Path("bench-results")
    path.mkdir(exist_ok=True)
    (path / "scheduling.json").write_text(json.dumps(out, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    return out


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


if __name__ == "__main__":
    main()
