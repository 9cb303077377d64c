"""``spotcheck import enterprises FILE`` / ``spotcheck import people FILE``: the same domain
import as ``POST /imports/...``, run directly on the registry database (``SPOTCHECK_REGISTRY_DATABASE_URL``
or ``var/registry.db``), migrated first, as a province-wide import by the given actor, with a
progress bar on stderr. Exit code 0 on success, 2 when the file is refused (report printed)."""
from __future__ import annotations

import asyncio
import json
import sys
import time


class ProgressBar:
    def __init__(self, label: str, stream=sys.stderr, width: int = 30):
        self.label, self.stream, self.width = label, stream, width
        self.started = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        frac = done / total if total else 1.0
        filled = int(frac * self.width)
        rate = done / max(time.perf_counter() - self.started, 1e-9)
        self.stream.write(f"\r{self.label} [{'#' * filled}{'.' * (self.width - filled)}] {done}/{total} 行 {rate:,.0f} 行/秒")
        if done >= total:
            self.stream.write("\n")
        self.stream.flush()


async def run_import(what: str, path: str, actor: str, database_url: str | None = None, events_prefix: str | None = None, progress=None) -> dict:
    from shared.db import Database
    from shared.migrations import upgrade_async
    from shared.settings import settings_for

    from . import imports
    from .recording import Recorder

    settings = settings_for("registry")
    url = database_url or settings.resolved_database_url()
    await upgrade_async("services.registry", url)
    table = imports.read_path(path)
    fn = imports.import_enterprises if what == "enterprises" else imports.import_people
    db = Database(url)
    try:
        async with db.transaction() as s:
            return await fn(s, Recorder(events_prefix or settings.events_prefix), actor, table, progress=progress, source=path)
    finally:
        await db.dispose()


def _cmd(args) -> int:
    from shared.errors import Problem

    sys.stderr.write(f"读取并校验 {args.file} …\n")
    try:
        summary = asyncio.run(run_import(args.what, args.file, args.actor, progress=ProgressBar("写入")))
    except Problem as p:
        body = p.body()
        sys.stderr.write(f"导入失败：{body['title']}。{body.get('detail', '')}\n")
        for e in body.get("errors", []):
            sys.stderr.write(f"  {e.get('field')}: {e.get('message')}\n")
        return 2
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser("import", help="批量导入名录库数据（CSV/XLSX）")
    p.add_argument("what", choices=["enterprises", "people"], help="enterprises：企业与许可证；people：执法检查人员与技术专家")
    p.add_argument("file", help=".csv 或 .xlsx 文件（首行为中文列名）")
    p.add_argument("--actor", default="cli-import", help="记入审计日志的操作人")
    p.set_defaults(func=_cmd)
