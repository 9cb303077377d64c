"""Deterministic demo registry of Shanxi (``random.Random(2022)``): ~800 enterprises across all
11 cities (weighted: more in 太原, 运城, 临汾 ...) and all 10 categories of the 2022 catalogue
(rebar, cement, chemicals and food-related most common), 1-3 production sites, 1-2 licences each
(some 暂停 or 注销 after expiry), ~5% national and ~3% 2021-provincial sampling-failure flags;
~300 people: inspectors ``insp-0001``... (``insp-0001`` = provincial 处级 cadre of 产品质量安全监管 in
140000, 14 such cadres in all) and experts ``exp-0001``... of 省检验检测中心 / 省知识产权保护中心
covering every category several times; and some declared conflicts.

``load_demo(db)`` loads it through the bulk-import path (one audit entry and summarising events
per import) and declares conflicts through the domain function; it does nothing when the
registry already has enterprises. ``generate_csv(path, n)`` writes an n-row import file in the
city-bureau columns for the benchmark."""
from __future__ import annotations

import csv
import datetime as dt
import random
from pathlib import Path

from sqlalchemy import func, select
from stdnum.cn import uscc as stdnum_uscc

from shared.db import Database
from shared import regions

from . import catalogue, imports
from .models import Enterprise
from .people import declare_conflict
from .recording import Recorder
from .schemas import ConflictIn

SEED = 2022
DEMO_ACTOR = "demo-loader"
N_ENTERPRISES = 800

CITY_WEIGHTS = {
    "140100": 15, "140200": 8, "140300": 5, "140400": 10, "140500": 8, "140600": 5,
    "140700": 10, "140800": 13, "140900": 6, "141000": 12, "141100": 9,
}
CATEGORY_WEIGHTS = {
    "rebar": 12, "cement": 12, "broadcast_transmission": 2, "rmb_discriminator": 1, "prestressed_railway_beam": 1,
    "wire_cable": 10, "hazardous_chemicals": 16, "hazardous_chemical_packaging": 6, "fertilizer": 8, "food_related": 20,
}
# (XK unit code, product code) of the licence numbers, and typical name suffixes / products
CATEGORY_STYLE = {
    "rebar": ("05", "001", ["钢铁有限公司", "钢业有限公司", "特钢有限公司"], "热轧带肋钢筋"),
    "cement": ("08", "001", ["水泥有限公司", "建材有限公司"], "通用硅酸盐水泥"),
    "broadcast_transmission": ("09", "001", ["广电设备有限公司", "通信技术有限公司"], "有线电视广播设备"),
    "rmb_discriminator": ("21", "001", ["金融设备有限公司"], "点验钞机"),
    "prestressed_railway_beam": ("07", "001", ["桥梁构件有限公司", "轨道工程有限公司"], "预应力混凝土铁路桥简支梁"),
    "wire_cable": ("06", "001", ["电缆有限公司", "线缆有限公司", "电线电缆有限公司"], "电力电缆"),
    "hazardous_chemicals": ("13", "014", ["化工有限公司", "煤化工有限公司", "精细化工有限公司"], "工业用甲醇"),
    "hazardous_chemical_packaging": ("12", "001", ["包装容器有限公司", "塑料桶业有限公司"], "危险化学品包装物"),
    "fertilizer": ("13", "001", ["化肥有限公司", "肥业有限公司"], "复混肥料"),
    "food_related": ("16", "204", ["塑料包装有限公司", "纸制品有限公司", "包装材料有限公司"], "食品用塑料包装容器工具"),
}
TRADE_CHARS = "晋泰恒宏华鑫源盛鼎丰瑞德昌隆兴安信达通汇金正利宝茂龙天海永新嘉佳和顺祥富博远凯诚智聚峰"
SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎"
GIVEN = "建国志强海军晓东丽娟文华振兴永红国庆俊杰明亮秀英玉兰建华春生伟红晋平慧敏雪梅立新宏伟"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
FLAG_NATIONAL = "国家市场监督管理总局{year}年第{batch}批产品质量国家监督抽查通报"
FLAG_PROVINCIAL = "山西省市场监督管理局2021年省级产品质量监督抽查通报"
CONFLICT_REASONS = ["曾在该企业任职（离职未满三年）", "近亲属在该企业担任管理职务", "近三年为该企业提供过技术咨询服务", "持有该企业股份"]


def _uscc(rnd: random.Random, county: str, used: set[str]) -> str:
    while True:
        base = "91" + county + "".join(rnd.choice(USCC_ALPHABET) for _ in range(9))
        code = base + stdnum_uscc.calc_check_digit(base)
        if code not in used:
            used.add(code)
            return code


def _person_name(rnd: random.Random) -> str:
    return rnd.choice(SURNAMES) + "".join(rnd.choice(GIVEN) for _ in range(rnd.choice((1, 2))))


def _county_short(name: str) -> str:
    return name[:-1] if len(name) > 2 and name[-1] in "区县市" else name


def _date_between(rnd: random.Random, start: dt.date, end: dt.date) -> dt.date:
    return start + dt.timedelta(days=rnd.randrange((end - start).days + 1))


class _Serials:
    def __init__(self):
        self.next: dict[tuple[str, str], int] = {}

    def number(self, category: str) -> str:
        unit, product, _, _ = CATEGORY_STYLE[category]
        key = (unit, product)
        n = self.next.get(key, 0) + 1
        while n > 99999:  # the product code rolls over when a serial range is full
            product = f"{int(product) + 100:03d}"
            key = (unit, product)
            n = self.next.get(key, 0) + 1
        self.next[key] = n
        return f"(晋)XK{unit}-{product}-{n:05d}"


def enterprise_rows(n_enterprises: int = N_ENTERPRISES, seed: int = SEED, max_rows: int | None = None) -> list[dict]:
    """Rows in the import columns (one per licence), deterministic for a seed."""
    rnd = random.Random(seed)
    cities = list(CITY_WEIGHTS)
    cats = list(CATEGORY_WEIGHTS)
    used_uscc: set[str] = set()
    used_names: set[str] = set()
    serials = _Serials()
    rows: list[dict] = []
    for i in range(n_enterprises):
        city = cities[i] if i < len(cities) else rnd.choices(cities, weights=[CITY_WEIGHTS[c] for c in cities])[0]
        county = rnd.choice(regions.counties(city))
        first_cat = cats[i % len(cats)] if i < len(cats) else rnd.choices(cats, weights=[CATEGORY_WEIGHTS[c] for c in cats])[0]
        uscc = _uscc(rnd, county["code"], used_uscc)
        suffixes = CATEGORY_STYLE[first_cat][2]
        for _ in range(20):
            place = rnd.choice(["山西", _county_short(county["name"]), regions.get(city)["name"][:-1]])
            name = place + "".join(rnd.choice(TRADE_CHARS) for _ in range(2)) + rnd.choice(suffixes)
            if name not in used_names:
                break
        used_names.add(name)
        address = f"山西省{regions.get(city)['name']}{county['name']}{rnd.choice(['工业园区', '经济技术开发区', '循环经济园区', '镇'])}{rnd.randint(1, 399)}号"
        pstatus = rnd.choices(["在产", "停产", "转产", "关停"], weights=[85, 8, 3, 4])[0]
        legal, phone = _person_name(rnd), f"0{rnd.randint(350, 359)}-{rnd.randint(2000000, 8999999)}"
        n_sites = rnd.choices([1, 2, 3], weights=[70, 22, 8])[0]
        sites = [(address, county["code"])]
        for k in range(1, n_sites):
            other = rnd.choice(regions.counties(city))
            sites.append((f"山西省{regions.get(city)['name']}{other['name']}第{k + 1}生产厂区{rnd.randint(1, 199)}号", other["code"]))
        cats_here = [first_cat]
        if rnd.random() < 0.2:
            extra = rnd.choices(cats, weights=[CATEGORY_WEIGHTS[c] for c in cats])[0]
            if extra != first_cat:
                cats_here.append(extra)
        national = rnd.random() < 0.05
        provincial = rnd.random() < 0.03
        nat_date = _date_between(rnd, dt.date(2018, 1, 1), dt.date(2022, 4, 30)) if national else None
        prov_date = _date_between(rnd, dt.date(2021, 3, 1), dt.date(2021, 12, 31)) if provincial else None
        for j, cat in enumerate(cats_here):
            issue = _date_between(rnd, dt.date(2017, 7, 1), dt.date(2022, 5, 31))
            r = rnd.random()
            lstatus = "暂停" if r < 0.04 else "注销" if r < 0.08 else "撤销" if r < 0.09 else "有效"
            expiry = issue.replace(year=issue.year + 5) - dt.timedelta(days=1) if not (issue.month == 2 and issue.day == 29) else dt.date(issue.year + 5, 2, 28)
            if lstatus == "注销":  # expired and cancelled: validity ran out before the 2022 inspection window
                issue = _date_between(rnd, dt.date(2016, 1, 1), dt.date(2017, 6, 1))
                expiry = dt.date(issue.year + 5, issue.month, 28 if issue.day > 28 else issue.day) - dt.timedelta(days=1)
            rows.append({
                "企业名称": name, "统一社会信用代码": uscc, "所在地区代码": county["code"], "地址": address,
                "法定代表人": legal, "联系电话": phone, "生产状态": pstatus, "许可证编号": serials.number(cat),
                "产品类别": catalogue.name_of(cat), "产品名称": CATEGORY_STYLE[cat][3], "发证日期": issue.isoformat(),
                "有效期至": expiry.isoformat(), "许可证状态": lstatus, "生产地址": "；".join(a for a, _ in sites), "生产地址地区代码": "；".join(c for _, c in sites),
                "国抽不合格日期": nat_date.isoformat() if nat_date else "", "国抽不合格来源": FLAG_NATIONAL.format(year=nat_date.year, batch=rnd.randint(1, 4)) if nat_date else "",
                "省抽不合格日期": prov_date.isoformat() if prov_date else "", "省抽不合格来源": FLAG_PROVINCIAL if prov_date else "",
            })
            if max_rows is not None and len(rows) >= max_rows:
                return rows
    return rows



LINE_QUALITY = "产品质量安全监管"
LEADER_UNIT = "质量监管处"
# units (处室) of the provincial bureau whose staff sit in the inspector directory
PROVINCE_UNITS = ["执法稽查局", "质量监管处", "认证监管处", "执法稽查局", "质量发展处", "质量监管处", "认证监管处", "标准化处"]
OTHER_LINES = ["综合执法", "特种设备安全监察", "食品安全监管", "计量监督"]
EXPERT_ORGS = ["山西省检验检测中心", "山西省知识产权保护中心"]


def people_rows(seed: int = SEED) -> list[dict]:
    """~300 people in the people-import columns, deterministic for a seed."""
    rnd = random.Random(seed + 1)
    rows: list[dict] = []

    def cert() -> str:
        return f"晋市监执{rnd.randint(10000000, 99999999)}"

    def inspector(level: str, region: str, org: str, line: str, cadre: bool, certified: bool, active: bool = True, unit: str = ""):
        rows.append({
            "人员类别": "执法人员", "编号": f"insp-{sum(1 for r in rows if r['人员类别'] == '执法人员') + 1:04d}", "姓名": _person_name(rnd),
            "层级": {"province": "省级", "city": "市级", "county": "县级"}[level], "所在地区代码": region, "工作单位": org, "处室": unit,
            "业务条线": line, "是否处级干部": "是" if cadre else "否", "执法证号": cert() if certified else "", "专业领域": "",
            "是否在岗": "是" if active else "否",
        })

    # provincial bureau (省局): 14 处级 cadres of 质量监管处 (insp-0001 first) — the team-leader pool —,
    # then staff of its units, among them 处级 cadres of 执法稽查局 and 认证监管处 (who may serve, never lead)
    for k in range(14):
        inspector("province", "140000", "山西省市场监督管理局", LINE_QUALITY, True, True, unit=LEADER_UNIT)
    for k in range(16):
        unit = PROVINCE_UNITS[k % len(PROVINCE_UNITS)]
        line = rnd.choice([LINE_QUALITY, LINE_QUALITY, *OTHER_LINES])
        inspector("province", "140000", "山西省市场监督管理局", line, unit != LEADER_UNIT and k % 4 == 1,
                  rnd.random() < 0.9, rnd.random() > 0.05, unit=unit)
    for city in regions.cities():
        for _ in range(8):
            inspector("city", city["code"], f"{city['name']}市场监督管理局", rnd.choice([LINE_QUALITY, LINE_QUALITY, *OTHER_LINES]), rnd.random() < 0.15, rnd.random() < 0.9, rnd.random() > 0.05)
    counties = regions.counties()
    for county in rnd.sample(counties, 100):
        inspector("county", county["code"], f"{county['name']}市场监督管理局", rnd.choice([LINE_QUALITY, *OTHER_LINES]), False, rnd.random() < 0.85, rnd.random() > 0.05)
    # an expert of the inspection centre covers a family of related products, sometimes two
    families = [
        ["rebar", "cement", "prestressed_railway_beam"],                        # 建材
        ["wire_cable", "broadcast_transmission", "rmb_discriminator"],          # 机电
        ["hazardous_chemicals", "hazardous_chemical_packaging", "fertilizer"],  # 化工
        ["food_related", "hazardous_chemical_packaging"],                       # 包装与食品相关产品
    ]
    for k in range(82):
        specialties = set(families[k % len(families)])
        if rnd.random() < 0.3:
            specialties.update(rnd.choice(families))
        rows.append({
            "人员类别": "技术专家", "编号": f"exp-{k + 1:04d}", "姓名": _person_name(rnd), "层级": "省级", "所在地区代码": "140000",
            "工作单位": EXPERT_ORGS[0] if k == 0 or rnd.random() < 0.65 else EXPERT_ORGS[1], "业务条线": "", "是否处级干部": "否",
            "执法证号": "", "专业领域": "、".join(catalogue.name_of(c) for c in sorted(specialties)), "是否在岗": "是" if rnd.random() > 0.04 else "否",
        })
    return rows


def conflict_pairs(enterprises: list[dict], people: list[dict], seed: int = SEED, n: int = 24) -> list[dict]:
    rnd = random.Random(seed + 2)
    usccs = sorted({r["统一社会信用代码"] for r in enterprises})
    ids = [p["编号"] for p in people]
    pairs: dict[tuple[str, str], str] = {}
    while len(pairs) < n:
        pairs.setdefault((rnd.choice(ids), rnd.choice(usccs)), rnd.choice(CONFLICT_REASONS))
    return [{"person_id": p, "uscc": u, "reason": r} for (p, u), r in pairs.items()]


def _table(rows: list[dict], columns: list[str]) -> imports.Table:
    return imports.Table(columns, [(i + 2, {c: r.get(c, "") for c in columns}) for i, r in enumerate(rows)])


async def load_demo(db: Database, events_prefix: str = "spotcheck") -> dict:
    """Load the demo registry once (no-op when enterprises exist), in one transaction."""
    rec = Recorder(events_prefix)
    async with db.transaction() as s:
        if (await s.execute(select(func.count()).select_from(Enterprise))).scalar_one():
            return {"loaded": False}
        ent = enterprise_rows()
        ppl = people_rows()
        e_summary = await imports.import_enterprises(s, rec, DEMO_ACTOR, _table(ent, imports.ENTERPRISE_COLUMNS), source="demo")
        p_summary = await imports.import_people(s, rec, DEMO_ACTOR, _table(ppl, imports.PEOPLE_COLUMNS), source="demo")
        conflicts = conflict_pairs(ent, ppl)
        for c in conflicts:
            await declare_conflict(s, rec, DEMO_ACTOR, ConflictIn(**c))
    return {"loaded": True, "enterprises": e_summary, "people": p_summary, "conflicts": len(conflicts)}


def generate_csv(path: str | Path, n: int, seed: int = SEED) -> Path:
    """An n-row (one row per licence) enterprise import file in the city-bureau columns."""
    path = Path(path)
    rows = enterprise_rows(n_enterprises=n, seed=seed, max_rows=n)
    with path.open("w", newline="", encoding="utf-8-sig") as f:
        w = csv.DictWriter(f, fieldnames=imports.ENTERPRISE_COLUMNS)
        w.writeheader()
        w.writerows(rows)
    return path
