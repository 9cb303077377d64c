"""Pools of an inspector draw (the shared contract):

* ``leaders`` — 组长人选: province-level inspectors who are division-level cadres (处级) of the
  产品质量安全监管 business line;
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

POOLS = ("leaders", "experts", "officers")
LEADER_BUSINESS_LINE = "产品质量安全监管"


def pools_of(person: dict[str, Any]) -> list[str]:
    if not person.get("active"):
        return []
    out = []
    if (
        person.get("kind") == "inspector"
        and person.get("level") == "province"
        and person.get("division_cadre")
        and person.get("business_line") == LEADER_BUSINESS_LINE
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
