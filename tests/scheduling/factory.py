"""Contract-shaped sampling events for the scheduling tests (draw.committed, replacement_recorded)."""
from __future__ import annotations

import random

from shared.events.envelope import make_event

CATS = ["rebar", "cement", "wire_cable", "hazardous_chemicals", "hazardous_chemical_packaging", "fertilizer", "food_related"]
COUNTIES = {"140100": ["140105", "140106", "140107"], "141000": ["141002", "141021"], "140400": ["140403", "140404"]}
LINE = "产品质量安全监管"

SETTINGS = {"window_start": "2022-06-10", "window_end": "2022-11-10", "report_date": "2022-11-20", "team_size_min": 5,
            "team_size_max": 6, "load_per_team": 4, "visits_per_day": 2, "avoid_own_county": True,
            "max_teams_per_person": 1, "acceptance_workdays": 3}


def uscc(i: int) -> str:
    return f"91140000MA{i:07d}X"[:18]


def enterprise(i: int, city: str, county: str, cats: list[str], n_sites: int = 1) -> dict:
    return {"uscc": uscc(i), "name": f"山西测试企业{i}有限公司", "region_code": county, "city_code": city, "stratum": "s1",
            "ticket": f"0.{i:06d}", "categories": sorted(cats),
            "sites": [{"id": f"site-{i}-{k}", "address": f"厂区{k}号", "region_code": county} for k in range(n_sites)]}


def person(pid: str, kind: str, level: str, region: str, n: int, *, cert: bool = True, cadre: bool = False,
           specs=(), line: str = LINE, conflicts=(), unit: str | None = None) -> dict:
    unit = unit or ("质量监管处" if cadre and level == "province" else None)
    return {"id": pid, "kind": kind, "name": f"人员{pid}", "level": level, "region_code": region, "unit": unit,
            "organisation": "省检验检测中心" if kind == "expert" else "山西省市场监督管理局", "business_line": line,
            "division_cadre": cadre, "certificate_no": f"14{n:08d}" if cert and kind == "inspector" else None,
            "specialties": sorted(specs), "active": True, "conflicts": [{"uscc": u, "reason": "亲属在该企业任职"} for u in conflicts],
            "ticket": f"0.{n:08d}"}


def enterprise_draw(draw_id: str, plan_id: str, selected: list[dict], settings: dict | None = None) -> dict:
    return {"draw_id": draw_id, "plan_id": plan_id, "plan_name": "2022年度工业产品生产许可证获证企业双随机抽查", "batch": "1",
            "owner_region": "140000", "kind": "enterprise", "population_digest": "ab" * 32, "seed": "12345678901234567890",
            "algorithm": "sha256-consistent-sampler", "algorithm_version": "1", "plan_settings": dict(settings or SETTINGS),
            "selected": selected}


def inspector_draw(draw_id: str, plan_id: str, enterprise_draw_id: str, pools: dict, excluded=(), settings: dict | None = None) -> dict:
    return {"draw_id": draw_id, "plan_id": plan_id, "plan_name": "人员抽取", "batch": "1", "owner_region": "140000", "kind": "inspector",
            "population_digest": "cd" * 32, "seed": "98765432109876543210", "algorithm": "sha256-consistent-sampler",
            "algorithm_version": "1", "plan_settings": dict(settings or SETTINGS), "pools": pools, "excluded": list(excluded),
            "enterprise_draw_id": enterprise_draw_id}


def committed(data: dict) -> dict:
    return make_event("sampling", "draw", "committed", data, subject_id=data["draw_id"])


def replacement(draw_id: str, replaced: str, item: dict) -> dict:
    return make_event("sampling", "draw", "replacement_recorded",
                      {"draw_id": draw_id, "replaced_uscc": replaced, "replacement": item, "reason": "企业已停产"}, subject_id=draw_id)


def generous_pools(n_leaders=8, n_experts=10, n_officers=30, conflicts: dict | None = None) -> dict:
    """Enough people for a dozen enterprises; officers alternate province and county level."""
    conflicts = conflicts or {}
    leaders = [person(f"insp-{i:04d}", "inspector", "province", "140000", i, cadre=True, conflicts=conflicts.get(f"insp-{i:04d}", ()))
               for i in range(1, n_leaders + 1)]
    experts = [person(f"exp-{i:04d}", "expert", "province", "140000", 500 + i, cert=False, specs=CATS,
                      conflicts=conflicts.get(f"exp-{i:04d}", ())) for i in range(1, n_experts + 1)]
    counties = [c for cs in COUNTIES.values() for c in cs]
    officers = []
    for i in range(n_officers):
        pid = f"insp-{100 + i:04d}"
        region, level = ("140000", "province") if i % 2 == 0 else (counties[i % len(counties)], "county")
        officers.append(person(pid, "inspector", level, region, 100 + i, line=LINE if i % 3 else "综合执法", conflicts=conflicts.get(pid, ())))
    return {"leaders": leaders, "experts": experts, "officers": officers}


def random_case(rnd: random.Random) -> tuple[list[dict], dict, dict]:
    """A random directory and draws (used by the property test)."""
    n = rnd.randint(1, 24)
    selected = []
    for i in range(n):
        city = rnd.choice(sorted(COUNTIES))
        county = rnd.choice(COUNTIES[city])
        selected.append(enterprise(i + 1, city, county, rnd.sample(CATS, rnd.randint(1, 2)), rnd.randint(1, 3)))
    usccs = [e["uscc"] for e in selected]
    counties = [c for cs in COUNTIES.values() for c in cs]
    people, tickets = [], rnd.sample(range(1, 10**6), 140)

    def conflicts():
        return rnd.sample(usccs, min(len(usccs), rnd.choice([0, 0, 0, 1, 2])))

    leaders = [person(f"insp-{i:04d}", "inspector", "province", "140000", tickets[i], cadre=True, conflicts=conflicts())
               for i in range(rnd.randint(0, 10))]
    experts = [person(f"exp-{i:04d}", "expert", "province", rnd.choice(["140000"] + counties), tickets[20 + i], cert=False,
                      specs=rnd.sample(CATS, rnd.randint(1, len(CATS))), conflicts=conflicts()) for i in range(rnd.randint(0, 14))]
    officers = []
    for i in range(rnd.randint(0, 50)):
        level = rnd.choice(["province", "city", "county", "county"])
        region = "140000" if level == "province" else rnd.choice(sorted(COUNTIES)) if level == "city" else rnd.choice(counties)
        officers.append(person(f"insp-{100 + i:04d}", "inspector", level, region, tickets[40 + i], cert=rnd.random() > 0.1,
                               line=rnd.choice([LINE, "综合执法"]), conflicts=conflicts()))
    people = {"leaders": leaders, "experts": experts, "officers": officers}
    settings = dict(SETTINGS, load_per_team=rnd.randint(2, 8), visits_per_day=rnd.randint(1, 3),
                    max_teams_per_person=rnd.randint(1, 3), max_teams_per_leader=rnd.randint(1, 4),
                    max_teams_per_expert=rnd.randint(1, 3),
                    avoid_own_county=rnd.random() > 0.2)
    return selected, people, settings
