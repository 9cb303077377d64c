"""Benchmarks (``make bench``). Each ``bench_*.py`` has ``main() -> dict``; every figure with a
target goes into ``result["checks"]`` through :func:`check`, which prints PASS or MISS;
``make bench`` exits non-zero when any check misses."""
from __future__ import annotations


def check(result: dict, name: str, value: float, target: float, *, at_most: bool = True, unit: str = "") -> bool:
    """Record ``value`` against ``target`` (``at_most``: value ≤ target, else value ≥ target)."""
    ok = value <= target if at_most else value >= target
    rel = "≤" if at_most else "≥"
    print(f"  {'PASS' if ok else 'MISS'}  {name}: {value}{unit} (target {rel} {target}{unit})")
    result.setdefault("checks", []).append({"name": name, "value": value, "target": f"{rel} {target}{unit}", "pass": ok})
    return ok
