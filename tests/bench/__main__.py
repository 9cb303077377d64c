"""``make bench``: run every benchmark module (or those named in BENCH=...), print their figures.

Each ``bench_*.py`` has ``main() -> dict`` and measures speed as a ratio against a baseline
taken in the same run; results land in ``bench-results/<name>.json``. Each states its targets
(``tests.bench.check``: PASS/MISS); the exit status is non-zero when one misses or fails.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

import tests.bench as pkg


def main(argv: list[str]) -> int:
    wanted = set(argv[1:]) if len(argv) > 1 else None
    names = sorted(m.name for m in pkgutil.iter_modules(pkg.__path__) if m.name.startswith("bench_"))
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    failed = 0
    missed: list[str] = []
    summary = {}
    for name in names:
        short = name.removeprefix("bench_")
        if wanted and short not in wanted and name not in wanted:
            continue
        print(f"\n=== {name}")
        start = time.perf_counter()
        try:
            result = importlib.import_module(f"tests.bench.{name}").main()
        except Exception as exc:  # noqa: BLE001 - report and continue with the others
            print(f"FAILED: {exc!r}")
            failed += 1
            continue
        summary[name] = result
        checks = (result or {}).get("checks") if isinstance(result, dict) else None
        if not checks:
            print("MISS: this benchmark states no target")
            missed.append(f"{name}: no target")
        if isinstance(checks, dict):  # {"name<=target": passed} as some benchmarks report it
            checks = [{"name": k, "value": result.get(k.split("<")[0].split(">")[0]), "target": k, "pass": bool(v)} for k, v in checks.items()]
        for c in checks or []:
            if not c["pass"]:
                missed.append(f"{name}: {c['name']} = {c['value']} (target {c['target']})")
        print(f"({time.perf_counter() - start:.1f}s)")
    (out / "summary.json").write_text(json.dumps(summary, ensure_ascii=False, indent=2, default=str))
    print()
    for m in missed:
        print(f"MISS  {m}")
    print(f"benchmarks: {len(summary)} run, {failed} failed, {len(missed)} targets missed")
    return 1 if failed or missed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
