"""``spotcheck holidays``: the holiday schedules of years that chinese-calendar does not know."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .calendar import BUILTIN_FIRST, BUILTIN_LAST, YearSchedule, holidays_dir


def _import(args) -> int:
    try:
        schedule = YearSchedule.from_dict(json.loads(Path(args.file).read_text(encoding="utf-8")))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"无法导入节假日安排：{exc}", file=sys.stderr)
        return 2
    if BUILTIN_FIRST <= schedule.year <= BUILTIN_LAST and not args.force:
        print(f"{schedule.year} 年已由 chinese-calendar 提供；如确需覆盖请加 --force", file=sys.stderr)
        return 2
    target = holidays_dir()
    target.mkdir(parents=True, exist_ok=True)
    out = target / f"{schedule.year}.json"
    out.write_text(json.dumps(schedule.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"已导入 {schedule.year} 年：{len(schedule.holidays)} 个法定节假日、{len(schedule.makeup_workdays)} 个调休工作日 → {out}"
          "（重启各服务后生效）")
    return 0


def _list(args) -> int:
    d = holidays_dir()
    loaded = sorted(p.stem for p in d.glob("*.json")) if d.is_dir() else []
    print(f"内置：{BUILTIN_FIRST}–{BUILTIN_LAST}（chinese-calendar）")
    print(f"已导入（{d}）：{'、'.join(loaded) if loaded else '无'}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("holidays", help="节假日与调休安排（chinese-calendar 之后的年份）")
    hs = p.add_subparsers(dest="holidays_command", required=True)
    q = hs.add_parser("import", help='导入一年的安排：JSON {"year", "holidays": [...], "makeup_workdays": [...]}')
    q.add_argument("file")
    q.add_argument("--force", action="store_true", help="覆盖内置年份")
    q.set_defaults(func=_import)
    q = hs.add_parser("list", help="列出可用的年份")
    q.set_defaults(func=_list)
