"""Contract-shaped registry population generated deterministically for the sampling tests."""
from __future__ import annotations

import random

from services.sampling.catalogue import CATALOGUE_2022

CITIES = [f"14{c:02d}00" for c in range(1, 12)]


def enterprises(n: int = 300, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    cats = sorted(CATALOGUE_2022)
    out = []
    for i in range(n):
        city = rnd.choice(CITIES)
        county = city[:4] + f"{rnd.randint(1, 9):02d}"
        own = sorted(rnd.sample(cats, 1 if rnd.random() < 0.8 else 2))
        uscc = f"9114{i:014d}"
        out.append({
            "uscc": uscc,
            "name": f"山西测试企业{i:04d}有限公司",
            "region_code": county,
            "city_code": city,
            "production_status": rnd.choice(["在产", "在产", "在产", "停产"]),
            "categories": own,
            "licences": [{"number": f"(晋)XK13-{k:03d}-{i:05d}", "category": c, "status": "有效",
                          "issue_date": "2020-01-01", "expiry_date": "2025-01-01"} for k, c in enumerate(own)],
            # i == 3 is flagged so it lands in the 100 % stratum and is drawn for sure
            "flags": {"national_fail_5y": rnd.random() < 0.04 or i == 3, "provincial_fail_2021": rnd.random() < 0.04},
            "sites": [{"id": f"site-{i:05d}-1", "address": f"测试地址{i}号", "region_code": county}],
        })
    return out


def people() -> list[dict]:
    out = []
    for i in range(1, 31):
        level = "province" if i <= 8 else ("city" if i <= 20 else "county")
        out.append({
            "id": f"insp-{i:04d}", "kind": "inspector", "name": f"检查员{i}", "level": level,
            "region_code": "140000" if level == "province" else ("140100" if level == "city" else "140105"),
            "organisation": "山西省市场监督管理局", "business_line": "产品质量安全监管" if i % 3 else "综合执法",
            "unit": ("质量监管处" if i % 3 else "执法稽查局") if level == "province" else None,
            "division_cadre": i <= 5, "certificate_no": f"CERT-{i:04d}" if i % 4 else None, "specialties": [],
            "active": i != 30, "conflicts": [{"uscc": "911400000000000003", "reason": "亲属在该企业任职"}] if i == 2 else [],
        })
    for i in range(1, 11):
        out.append({
            "id": f"exp-{i:04d}", "kind": "expert", "name": f"专家{i}", "level": "province", "region_code": "140000",
            "organisation": "省检验检测中心", "business_line": None, "division_cadre": False, "certificate_no": None,
            "specialties": ["cement"], "active": True, "conflicts": [],
        })
    return out
