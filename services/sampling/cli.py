"""``spotcheck verify-draw FILE``: verify an exported draw offline (no server, no database)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .verify import verify_export


def verify_file(path: str, out=None) -> int:
    out = out or sys.stdout
    p = Path(path)
    try:
        export = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        print(f"文件不存在：{path}", file=out)
        return 1
    except (UnicodeDecodeError, json.JSONDecodeError):
        print(f"无法读取 {path}：须为抽取导出的 JSON 文件（format=json）", file=out)
        return 1
    try:
        diffs = verify_export(export)
    except (KeyError, TypeError, ValueError) as exc:
        print(f"导出文件结构不完整或已被破坏：{exc!r}", file=out)
        return 1
    if diffs:
        print(f"校验未通过，发现 {len(diffs)} 处不符：", file=out)
        for d in diffs:
            print(f"  - {d}", file=out)
        return 1
    n = len(export["population"])
    chosen = sum(1 for u in export["population"] if u["selected"])
    print(f"校验通过：{n} 个单位的签号、总体摘要 {export['population_digest']}、{chosen} 个抽中单位及替补记录均一致。", file=out)
    return 0


def _run(args) -> int:
    return verify_file(args.file)


def register(subparsers) -> None:
    p = subparsers.add_parser("verify-draw", help="离线校验抽取导出文件（重新计算签号、摘要与抽中名单）")
    p.add_argument("file", help="GET /draws/{id}/export?format=json 导出的文件")
    p.set_defaults(func=_run)
