"""``spotcheck verify-draw FILE [--public FILE|URL]``: verify an exported draw offline (no server,
no database), print the seed(s), population digest and result digest it checked, and with
``--public`` also compare the export with the published view (``GET /public/draws/{id}``): a
re-draw with another seed is internally consistent, only the published record can expose it."""
from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import sampler, strata
from .verify import result_digest, verify_export

MAX_PUBLIC_BYTES = 50 * 1024 * 1024


def _load_public(source: str) -> dict[str, Any]:
    if source.startswith(("http://", "https://")):
        import httpx

        with httpx.Client(timeout=30.0, follow_redirects=False) as client:
            with client.stream("GET", source) as resp:
                if resp.status_code != 200:
                    raise ValueError(f"公开页面返回 HTTP {resp.status_code}")
                body = b""
                for chunk in resp.iter_bytes():
                    body += chunk
                    if len(body) > MAX_PUBLIC_BYTES:
                        raise ValueError("公开页面过大")
        return json.loads(body.decode("utf-8"))
    p = Path(source)
    if p.stat().st_size > MAX_PUBLIC_BYTES:
        raise ValueError("公开文件过大")
    return json.loads(p.read_text(encoding="utf-8"))


def compare_public(export: dict[str, Any], public: dict[str, Any]) -> list[str]:
    """Differences between an export and the published view of the same draw."""
    diffs: list[str] = []
    rec = export.get("record") or {}
    if public.get("draw_id") and rec.get("draw_id") and public["draw_id"] != rec["draw_id"]:
        diffs.append(f"抽取编号不符：导出为 {rec['draw_id']}，公开为 {public['draw_id']}")
    for key, label in (("seed", "种子"), ("beacon", "公开信标值"), ("population_digest", "总体摘要"),
                       ("result_digest", "结果摘要"), ("algorithm", "算法"), ("kind", "抽取类型")):
        if (export.get(key) or None) != (public.get(key) or None):
            diffs.append(f"{label}不符：导出为 {export.get(key)}，公开为 {public.get(key)}")
    if export.get("population") is not None and public.get("population_count") is not None:
        if len(export["population"]) != public["population_count"]:
            diffs.append(f"总体数量不符：导出为 {len(export['population'])}，公开为 {public['population_count']}")
    # the export's strata as they are published (strata by risk class folded into one entry), compared entry by entry
    rules = (export.get("plan") or {}).get("rules") or []
    expected = {st["name"]: st for st in strata.public_strata(export.get("strata") or [], rules)}
    pub_strata = {s["name"]: s for s in public.get("strata") or []}
    for name, st in expected.items():
        ps = pub_strata.get(name)
        if ps is None or ps.get("quota") != st.get("quota") or ps.get("population") != st.get("population"):
            diffs.append(f"层“{name}”与公开不符")
    for name in pub_strata.keys() - expected.keys():
        diffs.append(f"公开的层“{name}”不在导出中")
    if export.get("kind") == "enterprise" and "selected" in public:
        mine = sorted(u["unit_id"] for u in export["population"] if u.get("selected"))
        theirs = sorted(x["uscc"] for x in public["selected"])
        if mine != theirs:
            diffs.append(f"抽中名单与公开不符：导出 {len(mine)} 家，公开 {len(theirs)} 家，不同 {len(set(mine) ^ set(theirs))} 家")
        reps = sorted((r["replaced_uscc"], r["replacement_uscc"]) for r in export.get("replacements") or [])
        pub_reps = sorted((r["replaced_uscc"], r["replacement_uscc"]) for r in public.get("replacements") or [])
        if reps != pub_reps:
            diffs.append("替补记录与公开不符")
    if public.get("abandoned"):
        diffs.append(f"注意：公开记录显示该次抽取已作废（{public.get('abandon_reason')}）")
    return diffs


def verify_file(path: str, out=None, public: str | None = None) -> int:
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
        seed, beacon = export["seed"], export.get("beacon")
        print(f"种子：{seed}", file=out)
        if beacon:
            print(f"公开信标值：{beacon}", file=out)
        print(f"有效种子：{sampler.effective_seed(seed, beacon)}", file=out)
        print(f"总体摘要：{export['population_digest']}（{len(export['population'])} 个单位）", file=out)
        if export.get("result_digest"):
            print(f"结果摘要：{export['result_digest']}（按导出重新计算：{result_digest(export)}）", file=out)
    except (KeyError, TypeError, ValueError) as exc:
        print(f"导出文件结构不完整或已被破坏：{exc!r}", file=out)
        return 1
    if public:
        try:
            pub = _load_public(public)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            print(f"无法读取公开结果 {public}：{exc}", file=out)
            return 1
        except Exception as exc:  # network errors of httpx
            print(f"无法读取公开结果 {public}：{type(exc).__name__}", file=out)
            return 1
        try:
            pdiffs = compare_public(export, pub if isinstance(pub, dict) else {})
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            print(f"公开结果结构不完整：{exc!r}", file=out)
            return 1
        if pdiffs:
            diffs += [f"与公开结果比对：{d}" for d in pdiffs]
        else:
            print(f"与公开结果一致：{public}", file=out)
    if diffs:
        print(f"校验未通过，发现 {len(diffs)} 处不符：", file=out)
        for d in diffs:
            print(f"  - {d}", file=out)
        return 1
    n = len(export["population"])
    chosen = sum(1 for u in export["population"] if u["selected"])
    print(f"校验通过：{n} 个单位的签号、总体摘要 {export['population_digest']}、{chosen} 个抽中单位、结果摘要及替补记录均一致。", file=out)
    return 0


def _run(args) -> int:
    return verify_file(args.file, public=args.public)


def register(subparsers) -> None:
    p = subparsers.add_parser("verify-draw", help="离线校验抽取导出文件（重新计算签号、摘要与抽中名单），可与公开结果比对")
    p.add_argument("file", help="GET /draws/{id}/export?format=json 导出的文件")
    p.add_argument("--public", metavar="FILE|URL", default=None,
                   help="公开结果（GET /public/draws/{id} 的 JSON 文件或网址），与导出逐项比对")
    p.set_defaults(func=_run)
