"""A demo history with KNOWN planted effects, as the events the services would have sent
(registry, inspection, rectification), so fitting and backtest can be checked against the truth.

Each year an enterprise is inspected with probability ``P_INSPECT``; the chance that the
inspection finds problems is ``sigmoid(INTERCEPT + Σ effect)``, the effects being functions of the
enterprise's indicator values at the end of the previous year (computed by ``indicators.compute``,
exactly as the service computes them). ``not_inspected_2y`` is generated but has NO effect (a
decoy the fit must leave near zero)."""
from __future__ import annotations

import datetime as dt
import math
import random
from typing import Any

from . import facts as facts_mod
from . import indicators

YEARS = tuple(range(2019, 2026))
INTERCEPT = -2.3
# log-odds effect of being in the indicator's first non-reference bin (the expert bins)
PLANTED: dict[str, float] = {
    "national_fail_5y": 1.2,
    "hazard": 0.8,
    "failed_inspections_2y": 1.0,
    "rectification_overdue_2y": 0.9,
    "licence_age_years": -0.5,  # [2, 10) years against the reference < 2 years
    "not_inspected_2y": 0.0,
}
P_INSPECT = 0.4
P_NOT_INSPECTED = 0.06
P_OVERDUE = 0.4
REGIONS = ("140105", "140106", "140107", "140202", "140302", "140402", "140502", "140602", "140702", "140802", "140902", "141002", "141102")
CATEGORIES = ("rebar", "cement", "wire_cable", "hazardous_chemicals", "hazardous_chemical_packaging", "fertilizer", "food_related")
ITEMS = ("A1", "A2", "B1", "B3", "C2", "D1", "E4")


def _logit(v: dict[str, float]) -> float:
    x = INTERCEPT
    x += PLANTED["national_fail_5y"] * (v["national_fail_5y"] >= 1)
    x += PLANTED["hazard"] * (v["hazard"] >= 1)
    x += PLANTED["failed_inspections_2y"] * (v["failed_inspections_2y"] >= 1)
    x += PLANTED["rectification_overdue_2y"] * (v["rectification_overdue_2y"] >= 1)
    x += PLANTED["licence_age_years"] * (v["licence_age_years"] >= 2)
    return x


def _ev(n: int, et: str, on: dt.date, data: dict[str, Any]) -> dict[str, Any]:
    return {"id": f"demo-{n:08d}", "type": f"spotcheck.{et}", "time": f"{on.isoformat()}T08:00:00Z", "data": data}


def generate(seed: int = 2022, enterprises: int = 3000) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    n = 0
    for k in range(enterprises):
        uscc = f"DEMO{seed % 10000:04d}{k:010d}"
        region = rng.choice(REGIONS)
        cat = rng.choice(CATEGORIES)
        issued = dt.date(2008, 1, 1) + dt.timedelta(days=rng.randrange(0, 16 * 365))
        flag = rng.random() < 0.12
        lic = {"id": f"L{k}", "number": f"(晋)XK-{k:05d}", "category": cat, "issue_date": issued.isoformat(),
               "expiry_date": (issued + dt.timedelta(days=5 * 365 * 4)).isoformat(), "status": "有效"}
        state = {"uscc": uscc, "name": f"演示企业{k}", "region_code": region, "production_status": "在产",
                 "flags": {"national_fail_5y": flag, "provincial_fail_2021": False},
                 "flag_details": {"national_fail_5y": {"source": "国抽", "date": f"{2017 + rng.randrange(0, 8)}-06-01"} if flag else None},
                 "licences": [lic]}
        events.append(_ev(n, "registry.enterprise.registered", dt.date(2018, 1, 1), state))
        n += 1
        ent_state = facts_mod.interpret(events[-1]).enterprise
        history: list[tuple[str, dt.date, float]] = []
        for year in YEARS:
            values = indicators.compute(ent_state, history, dt.date(year - 1, 12, 31))
            on = dt.date(year, 1, 1) + dt.timedelta(days=rng.randrange(20, 330))
            r = rng.random()
            if r < P_INSPECT:
                failed = rng.random() < 1 / (1 + math.exp(-_logit(values)))
                findings = [{"no": i + 1, "item_code": rng.choice(ITEMS), "text": "演示不符合项", "fixed_on_site": False}
                            for i in range(rng.randint(1, 5) if failed else 0)]
                rid = f"R{k}-{year}"
                data = {"record_id": rid, "uscc": uscc, "enterprise_name": state["name"], "region_code": region,
                        "product_categories": [cat], "completed_on": on.isoformat(), "inspected": True,
                        "outcome": {"categories": ["problem_corrected" if failed else "no_problem"]}, "findings": findings}
                events.append(_ev(n, "inspection.record.submitted", on, data))
                n += 1
                history += [(f["kind"], f["occurred_on"], f["value"]) for f in facts_mod.interpret(events[-1]).facts]
                if failed and rng.random() < P_OVERDUE:
                    deadline = on + dt.timedelta(days=30)
                    events.append(_ev(n, "rectification.case.overdue", deadline, {"case_id": f"C{k}-{year}", "uscc": uscc, "region_code": region,
                                                                               "deadline": deadline.isoformat()}))
                    n += 1
                    history += [(f["kind"], f["occurred_on"], f["value"]) for f in facts_mod.interpret(events[-1]).facts]
            elif r < P_INSPECT + P_NOT_INSPECTED:
                data = {"record_id": f"R{k}-{year}", "uscc": uscc, "region_code": region, "product_categories": [cat],
                        "completed_on": on.isoformat(), "inspected": False, "outcome": {"categories": ["no_activity"]}, "findings": []}
                events.append(_ev(n, "inspection.record.submitted", on, data))
                n += 1
                history += [(f["kind"], f["occurred_on"], f["value"]) for f in facts_mod.interpret(events[-1]).facts]
    return events
