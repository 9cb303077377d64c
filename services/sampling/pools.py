"""Pools of an inspector draw (the shared contract):

* ``leaders`` — 组长人选: province-level inspectors who are division-level cadres (处级) of the unit
  (处室) the plan names in ``settings.leader_unit`` — default 质量监管处 (notice 二（一）: 组长由省局质量
  监管处处级干部担任); the business line does not make a leader;
* ``experts`` — 技术专家 (副组长 and members);
* ``officers`` — 执法人员: inspectors holding a law-enforcement certificate (province/city/county).

Only active people are eligible. A person may sit in several pools (a provincial cadre with a
certificate is both a leader and an officer); each pool is ordered by the same consistent
sampler ticket of the person id, so the scheduling service takes people in ticket order per
role and must skip someone already placed.

Conflicts of interest: a person who declared a conflict with an enterprise of the linked
enterprise draw **stays in the pool order** and is listed in ``excluded`` with that enterprise
and the reason; the scheduling service must not put them on a team inspecting it (and re-checks
conflicts per enterprise itself).
"""
from __future__ import annotations

from typing import Any

from shared.vocabulary import LEADER_UNIT_DEFAULT

POOLS = ("leaders", "experts", "officers")


def leader_unit_of(plan: dict[str, Any] | None) -> str:
    return ((plan or {}).get("settings") or {}).get("leader_unit") or LEADER_UNIT_DEFAULT


def pools_of(person: dict[str, Any], leader_unit: str = LEADER_UNIT_DEFAULT) -> list[str]:
    if not person.get("active"):
        return []
    out = []
    if (
        person.get("kind") == "inspector"
        and person.get("level") == "province"
        and person.get("division_cadre")
        and person.get("unit") == leader_unit
    ):
        out.append("leaders")
    if person.get("kind") == "expert":
        out.append("experts")
    if person.get("kind") == "inspector" and person.get("certificate_no"):
        out.append("officers")
    return out


def conflicts(people: list[dict[str, Any]], usccs: set[str]) -> list[dict[str, str]]:
    out = []
    for p in sorted(people, key=lambda p: p["id"]):
        for c in p.get("conflicts") or ():
            if c.get("uscc") in usccs:
                out.append({"person_id": p["id"], "uscc": c["uscc"], "reason": c.get("reason") or "申报利益冲突"})
    return out
