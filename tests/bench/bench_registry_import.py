"""Benchmark: bulk import of a 100,000-row enterprise/licence CSV (the city-bureau columns) into a
fresh, migrated SQLite registry with the domain import function (validation of every row, then
one transaction of bulk inserts, one audit entry, summarising events).

Baseline in the same run: the same number of rows written with stdlib ``sqlite3.executemany``
into a bare two-column table, so the figure is comparable across machines as a ratio.
Prints rows/s and writes ``bench-results/registry_import.json``."""
from __future__ import annotations

import asyncio
import json
import sqlite3
import tempfile
import time
from pathlib import Path

ROWS = 100_000


def _baseline(tmp: Path, n: int) -> float:
    conn = sqlite3.connect(tmp / "baseline.db")
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (a TEXT PRIMARY KEY, b TEXT)")
    start = time.perf_counter()
    with conn:
        conn.executemany("INSERT INTO t VALUES (?, ?)", ((f"k{i:09d}", "山西省测试数据") for i in range(n)))
    elapsed = time.perf_counter() - start
    conn.close()
    return elapsed


async def _import(csv_path: Path, url: str) -> tuple[dict, float, float]:
    from services.registry import imports
    from services.registry.recording import Recorder
    from shared.db import Database
    from shared.migrations import upgrade_async

    await upgrade_async("services.registry", url)
    db = Database(url)
    try:
        start = time.perf_counter()
        table = imports.read_path(csv_path)
        read_s = time.perf_counter() - start
        async with db.transaction() as s:
            summary = await imports.import_enterprises(s, Recorder("bench"), "bench", table, source=str(csv_path))
        return summary, read_s, time.perf_counter() - start
    finally:
        await db.dispose()


def main(rows: int = ROWS) -> dict:
    from services.registry.demo import generate_csv

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        csv_path = generate_csv(tmp / "enterprises.csv", rows)
        gen_s = time.perf_counter() - t0
        summary, read_s, total_s = asyncio.run(_import(csv_path, f"sqlite+aiosqlite:///{tmp / 'registry.db'}"))
        base_s = _baseline(tmp, rows)
    result = {
        "rows": summary["rows"],
        "enterprises": summary["enterprises"],
        "licences": summary["licences"],
        "sites": summary["sites"],
        "generate_seconds": round(gen_s, 2),
        "read_seconds": round(read_s, 2),
        "import_seconds": round(total_s, 2),
        "rows_per_second": round(summary["rows"] / total_s),
        "baseline_raw_sqlite_rows_per_second": round(rows / base_s),
        "ratio_to_raw_sqlite": round((rows / base_s) / (summary["rows"] / total_s), 1),
    }
    print(f"导入 {result['rows']} 行（{result['enterprises']} 家企业、{result['licences']} 张许可证、{result['sites']} 个生产场所）"
          f"用时 {result['import_seconds']} 秒：{result['rows_per_second']:,} 行/秒"
          f"（裸 sqlite3 基线 {result['baseline_raw_sqlite_rows_per_second']:,} 行/秒，慢 {result['ratio_to_raw_sqlite']} 倍）")
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "registry_import.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
