"""Benchmark: bulk import of a 100,000-row enterprise/licence CSV (the city-bureau columns) into a
fresh, migrated SQLite registry with the domain import function (validation of every row, then
one transaction of bulk inserts, one audit entry, summarising events).

Baseline in the same run: the same number of rows written with stdlib ``sqlite3.executemany``
into a bare two-column table, so the figure is comparable across machines as a ratio.

PostgreSQL (``BENCH_DATABASE_URL`` or ``TEST_DATABASE_URL`` as the server to create two databases on, else the local server at 127.0.0.1:5432): the same file imported
into a fresh migrated database, against the honest limit measured in the same run — PostgreSQL
``COPY`` (asyncpg ``copy_records_to_table``) of exactly the rows the import wrote, read back, into
the same tables of another fresh migrated database, in one transaction. Target: import ≥ 0.2× COPY
(the import also reads and validates the file, checks duplicates against the registry, writes
events and the audit entry).
Prints rows/s and writes ``bench-results/registry_import.json``."""
from __future__ import annotations

import asyncio
import json
import os
import secrets
import sqlite3
import tempfile
import time
from pathlib import Path

from tests.bench import check

ROWS = 100_000
TABLES = ["enterprise", "production_site", "licence", "licence_status_change"]  # in foreign-key order
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"


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


async def _pg_database(admin_url: str) -> str:
    import asyncpg

    name = f"bench_import_{secrets.token_hex(4)}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return admin_url.rsplit("/", 1)[0] + "/" + name


async def _pg_drop(admin_url: str, url: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    finally:
        await conn.close()


async def _pg(csv_path: Path, admin_url: str) -> dict:
    """Import into one fresh database, then COPY the rows it wrote into another; both timed."""
    import asyncpg

    from shared.migrations import upgrade_async

    imported, copied = await _pg_database(admin_url), await _pg_database(admin_url)
    try:
        summary, read_s, import_s = await _import(csv_path, imported.replace("postgresql://", "postgresql+asyncpg://"))
        src = await asyncpg.connect(imported)
        try:
            data = {t: [tuple(r) for r in await src.fetch(f"SELECT * FROM {t}")] for t in TABLES}
            cols = {t: [a.name for a in (await src.prepare(f"SELECT * FROM {t}")).get_attributes()] for t in TABLES}
        finally:
            await src.close()
        await upgrade_async("services.registry", copied.replace("postgresql://", "postgresql+asyncpg://"))
        dst = await asyncpg.connect(copied)
        try:
            start = time.perf_counter()
            async with dst.transaction():
                for t in TABLES:
                    await dst.copy_records_to_table(t, records=data[t], columns=cols[t])
            copy_s = time.perf_counter() - start
        finally:
            await dst.close()
    finally:
        await _pg_drop(admin_url, imported)
        await _pg_drop(admin_url, copied)
    table_rows = sum(len(v) for v in data.values())
    return {
        "rows": summary["rows"], "table_rows_written": table_rows, "read_seconds": round(read_s, 2),
        "import_seconds": round(import_s, 2), "rows_per_second": round(summary["rows"] / import_s),
        "copy_seconds": round(copy_s, 2), "copy_rows_per_second": round(summary["rows"] / copy_s),
        "import_to_copy_ratio": round(copy_s / import_s, 3),
    }


def _pg_admin_url() -> str | None:
    import asyncpg

    url = os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL") or PG_DEFAULT

    async def probe():
        conn = await asyncpg.connect(url, timeout=3)
        await conn.close()

    try:
        asyncio.run(probe())
    except (OSError, asyncpg.PostgresError, asyncio.TimeoutError):
        return None
    return url


def main(rows: int = ROWS) -> dict:
    from services.registry.demo import generate_csv

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        t0 = time.perf_counter()
        csv_path = generate_csv(tmp / "enterprises.csv", rows)
        gen_s = time.perf_counter() - t0
        summary, read_s, total_s = asyncio.run(_import(csv_path, f"sqlite+aiosqlite:///{tmp / 'registry.db'}"))
        base_s = _baseline(tmp, rows)
        admin = _pg_admin_url()
        pg = asyncio.run(_pg(csv_path, admin)) if admin else None
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
        "postgresql": pg,
    }
    print(f"导入 {result['rows']} 行（{result['enterprises']} 家企业、{result['licences']} 张许可证、{result['sites']} 个生产场所）"
          f"用时 {result['import_seconds']} 秒：{result['rows_per_second']:,} 行/秒"
          f"（裸 sqlite3 基线 {result['baseline_raw_sqlite_rows_per_second']:,} 行/秒，慢 {result['ratio_to_raw_sqlite']} 倍）")
    if pg:
        print(f"PostgreSQL：导入 {pg['rows_per_second']:,} 行/秒（{pg['import_seconds']} 秒，其中读文件 {pg['read_seconds']} 秒）；"
              f"同一批表行（{pg['table_rows_written']:,} 行）COPY {pg['copy_rows_per_second']:,} 行/秒（{pg['copy_seconds']} 秒）")
        check(result, "PostgreSQL import / COPY of the same rows", pg["import_to_copy_ratio"], 0.2, at_most=False, unit="×")
    else:
        print("PostgreSQL 不可用（TEST_DATABASE_URL 或 127.0.0.1:5432）：未测")
        check(result, "PostgreSQL reachable for the import benchmark", 0, 1, at_most=False)
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "registry_import.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
