"""Re-derive a draw from its export: no server, no database, only ``sampler`` and ``strata``.

Population digest (published at freeze, printed in every export):
    SHA-256 (lowercase hex) of the UTF-8 text made of one line ``unit_id + "\\t" + stratum + "\\n"``
    per unit of the frozen population, sorted by (unit_id, stratum) as Python compares
    strings (code points). For an enterprise draw unit_id is the 统一社会信用代码 and stratum the
    rule name (or ``（未纳入抽取）``); for an inspector draw unit_id is the directory id and stratum
    the pool name (a person in two pools has two lines).

Checks made by ``verify_export`` (each difference is named):
    1. every unit's ticket = ``first_fraction(unit_id, effective_seed)`` (the reference algorithm);
    2. the digest recomputed from the listed units equals the published one;
    3. enterprise draws: each unit's stratum = the first plan rule matching its frozen record;
       inspector draws: each pool membership follows the pool rules;
    4. per stratum, N and quota = ceil(ratio × N) / min(count, N) as stated;
    5. per stratum, the selected units are exactly the ``quota`` smallest tickets and every
       position equals the unit's place in ticket order;
    6. every replacement took the next unused unit of its stratum in ticket order;
    7. committed draws: the ``result_digest`` recomputed from the export (``RESULT_DIGEST_RULE``)
       equals the published one.
"""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from . import sampler, strata
from .pools import leader_unit_of, pools_of

EXPORT_FORMAT = "spotcheck-draw-export/1"
DIGEST_RULE = (
    "SHA-256（小写十六进制）于 UTF-8 文本：每个单位一行“单位编号\\t层名称\\n”，按（单位编号, 层名称）排序。"
    " SHA-256 (hex) of UTF-8 lines 'unit_id\\tstratum\\n' sorted by (unit_id, stratum)."
)
RESULT_DIGEST_RULE = (
    "结果摘要 = SHA-256（小写十六进制）于规范 JSON（键排序、无空白、UTF-8 不转义）："
    "企业抽取为抽中企业列表，按（层在计划中的序号, 签序）排列，每项为 {uscc, name, region_code, city_code, stratum, ticket, categories, sites}"
    "（取自冻结时的企业记录）；人员抽取为 {人员池: [冻结时的人员记录 + ticket, 按签序]}，人员池依次为 leaders、experts、officers。"
    " SHA-256 of the canonical JSON of the committed selection (enterprise) or pools (inspector)."
)
SEED_RULE = "有效种子 = 骰子种子；若记录了公开信标值，则为 种子 + \",\" + 信标值（均按输入的文本）"


def population_text(units: Iterable[tuple[str, str]]) -> bytes:
    return "".join(f"{u}\t{s}\n" for u, s in sorted(units)).encode("utf-8")


def population_digest(units: Iterable[tuple[str, str]]) -> str:
    return hashlib.sha256(population_text(units)).hexdigest()


def result_value(export: dict[str, Any]) -> Any:
    """What ``result_digest`` is computed over, rebuilt from an export (see RESULT_DIGEST_RULE)."""
    units = [u for u in export["population"] if u.get("position") is not None]
    if export["kind"] == "enterprise":
        rank = {st["name"]: st["index"] for st in export["strata"]}
        chosen = sorted((u for u in units if u.get("selected")), key=lambda u: (rank[u["stratum"]], u["position"]))
        selected = [{"uscc": u["unit_id"], "name": u["data"].get("name"), "region_code": u["data"].get("region_code"),
                     "city_code": u["data"].get("city_code"), "stratum": u["stratum"], "ticket": u["ticket"],
                     "categories": u["data"].get("categories") or [], "sites": u["data"].get("sites") or []} for u in chosen]
        return selected or None
    pools: dict[str, list] = {pool: [] for pool in ("leaders", "experts", "officers")}
    for u in sorted(units, key=lambda u: (u["stratum"], u["position"])):
        pools.setdefault(u["stratum"], []).append({**u["data"], "ticket": u["ticket"]})
    return pools


def result_digest(export: dict[str, Any]) -> str:
    from shared.canonical import digest as canonical_digest

    return canonical_digest(result_value(export))


def order_strata(units: list[dict[str, Any]], seed: str) -> dict[str, list[tuple[str, str]]]:
    """Per stratum (excluding OUTSIDE), the full ticket order ``[(ticket, unit_id), ...]``."""
    by: dict[str, list[str]] = defaultdict(list)
    for u in units:
        if u["stratum"] != strata.OUTSIDE:
            by[u["stratum"]].append(u["unit_id"])
    return {name: sampler.ordered(ids, seed) for name, ids in by.items()}


def verify_export(export: dict[str, Any], max_items: int = 20) -> list[str]:
    """Return the differences found (Chinese messages); an empty list means the draw verifies."""
    diffs: list[str] = []

    def add(msg: str) -> None:
        diffs.append(msg)

    if export.get("format") != EXPORT_FORMAT:
        return [f"文件格式不是 {EXPORT_FORMAT}"]
    seed = sampler.effective_seed(export["seed"], export.get("beacon"))
    units = export["population"]
    kind = export["kind"]

    # 1. tickets
    bad_tickets = 0
    expected = {uid: t for t, uid in sampler.tickets(sorted({x["unit_id"] for x in units}), seed)}
    for u in units:
        if u.get("ticket") != expected[u["unit_id"]]:
            bad_tickets += 1
            if bad_tickets <= max_items:
                add(f"单位 {u['unit_id']}（{u['stratum']}）的签号不符：记录为 {u.get('ticket')}，重新计算为 {expected[u['unit_id']]}")
    if bad_tickets > max_items:
        add(f"……共 {bad_tickets} 个单位的签号不符")

    # 2. digest
    digest = population_digest((u["unit_id"], u["stratum"]) for u in units)
    if digest != export["population_digest"]:
        add(f"总体摘要不符：公布值 {export['population_digest']}，按名单重新计算为 {digest}")

    # 3. stratum / pool membership from the frozen records
    if kind == "enterprise":
        rules = [strata.Rule.from_dict(r) for r in export["plan"]["rules"]]
        for u in units:
            want = strata.assign(rules, u["data"])
            if want != u["stratum"]:
                add(f"企业 {u['unit_id']} 按分层规则应属“{want}”，记录为“{u['stratum']}”")
    else:
        listed: dict[str, set[str]] = defaultdict(set)
        records: dict[str, dict] = {}
        for u in units:
            listed[u["unit_id"]].add(u["stratum"])
            records[u["unit_id"]] = u["data"]
        for pid, pools in listed.items():
            want = set(pools_of(records[pid], leader_unit_of(export.get("plan"))))
            if want != pools:
                add(f"人员 {pid} 应属人员池 {sorted(want)}，记录为 {sorted(pools)}")

    # 4.-5. strata sizes, quotas, selection and positions
    orders = order_strata(units, seed)
    declared = {s["name"]: s for s in export["strata"]}
    rules_by_name = {r["name"]: strata.Rule.from_dict(r) for r in export["plan"].get("rules") or ()} if kind == "enterprise" else {}
    by_id = {(u["unit_id"], u["stratum"]): u for u in units}
    outside = [u for u in units if u["stratum"] == strata.OUTSIDE]
    if outside or strata.OUTSIDE in declared:
        st = declared.get(strata.OUTSIDE, {"population": 0, "quota": 0})
        if st["population"] != len(outside) or st["quota"] != 0:
            add(f"未纳入抽取的企业数不符：记录为 {st['population']}，名单中为 {len(outside)}")
        for u in outside:
            if u.get("selected") or u.get("position") is not None:
                add(f"单位 {u['unit_id']} 未纳入抽取，却被记录为抽中或排有签序")
    for name in sorted((set(orders) | set(declared)) - {strata.OUTSIDE}):
        order = orders.get(name, [])
        st = declared.get(name)
        if st is None:
            add(f"层“{name}”未在分层统计中列出")
            continue
        n = len(order)
        if st["population"] != n:
            add(f"层“{name}”的企业数不符：记录为 {st['population']}，名单中为 {n}")
        quota = rules_by_name[name].quota(n) if name in rules_by_name else n
        if st["quota"] != quota:
            add(f"层“{name}”的抽取数不符：记录为 {st['quota']}，按规则应为 {quota}")
        for pos, (_t, uid) in enumerate(order, start=1):
            rec = by_id[(uid, name)]
            should = pos <= quota
            if bool(rec.get("selected")) != should:
                add(f"单位 {uid}（{name}）的抽中状态不符：记录为{'抽中' if rec.get('selected') else '未抽中'}，应为{'抽中' if should else '未抽中'}")
            if rec.get("position") != pos:
                add(f"单位 {uid}（{name}）的签序不符：记录为 {rec.get('position')}，应为 {pos}")

    # 6. replacements follow the ticket order
    used: dict[str, int] = {name: st["quota"] for name, st in declared.items()}
    for r in export.get("replacements") or ():
        name = r["stratum"]
        order = orders.get(name, [])
        nxt = used.get(name, 0)
        if nxt >= len(order) or order[nxt][1] != r["replacement_uscc"]:
            want = order[nxt][1] if nxt < len(order) else "（层内已无可替补企业）"
            add(f"替补不符：{r['replaced_uscc']} 的替补记录为 {r['replacement_uscc']}，按签序应为 {want}")
        used[name] = nxt + 1

    # 7. result digest
    if export.get("result_digest"):
        got = result_digest(export)
        if got != export["result_digest"]:
            add(f"结果摘要不符：公布值 {export['result_digest']}，按导出名单重新计算为 {got}")
    return diffs
