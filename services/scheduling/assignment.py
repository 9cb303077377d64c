"""Team formation and visit plan as a PURE FUNCTION of the two draws and the plan settings.

No database, no clock, no randomness: the same enterprise draw, inspector draw and settings give
the same result, byte for byte in canonical JSON (``shared.canonical``). The working-day
calendar is data (``shared.calendar.WorkCalendar``) passed in.

Rules (documented here because the verify endpoint re-runs exactly this code):

1. Workloads. Drawn enterprises are grouped per city (enterprise ``city_code``). Within a city they
   are ordered by industry (first product category in ``INDUSTRY_ORDER``, which keeps related
   products together), then county, then USCC,
   and cut into ``ceil(n / load_per_team)`` contiguous groups whose sizes differ by at most one
   (load counted in enterprises). Industry first keeps a team's categories few, so one expert
   can cover them as deputy; counties stay contiguous inside an industry.
2. 回避 (avoidance). A person is eligible for a team only if they have no declared conflict (or
   inspector-draw exclusion) with ANY enterprise of the team and, when ``avoid_own_county`` is on,
   their county (a county-level ``region_code``) is not the county of any enterprise or site of the
   team. Province- and city-level staff have no county. We never move enterprises between teams
   to make room for a person: the workload split stays purely geographic/industrial.
3. Composition, team by team in team order, from the pools in ticket order (decimal tickets):
   leader = first eligible of "leaders" that is a province-level 处级 cadre of 产品质量安全监管 (a
   leader may lead up to ``max_teams_per_leader`` teams one after another: the province has few
   such cadres, the notice makes every team's leader one of them);
   deputy = the eligible expert covering the most of the team's categories (first by ticket among
   equals); when the deputy does not cover every category, further experts are added, each the
   eligible one covering the most still-uncovered categories, until the team's experts together
   cover all of them ("按照抽取企业的地理分布、产业特点等总体调配选取专家"); an expert, like a leader,
   may serve up to ``max_teams_per_expert`` teams one after another (the province 总体调配 them);
   then law-enforcement officers (certificate holders) from "officers" — business line
   产品质量安全监管 first — until the team has at least ``MIN_OFFICERS``; then members up to
   ``team_size_min`` (officers, preferred line first, then experts). A second pass tops teams up to
   ``team_size_max`` in team order with whoever is left. A person sits in at most
   ``max_teams_per_person`` teams.
4. Visit plan. One visit per production site ("进一次门，查多项事": the visit lists every licensed
   category of the enterprise). A team's visits are packed into working days from window_start,
   ``visits_per_day`` per day; a day on which any member is already booked by an earlier team is
   skipped (matters only when ``max_teams_per_person`` > 1).
5. Whatever cannot be met is named in Chinese in ``shortfalls``; ``ok`` is False then and the
   caller must dispatch nothing.
"""
from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from shared.calendar import WorkCalendar, default_calendar
from shared.vocabulary import LEADER_UNIT_DEFAULT, TEAM_SETTING_DEFAULTS

from .regions import CATEGORY_NAMES, category_name, category_names, city_name, city_of, county_of

ALGORITHM = "spotcheck-team-assignment"
ALGORITHM_VERSION = "3"
QUALITY_LINE = "产品质量安全监管"
MIN_OFFICERS = 2

DEFAULT_SETTINGS: dict[str, Any] = {**TEAM_SETTING_DEFAULTS, "leader_unit": LEADER_UNIT_DEFAULT}
LEVELS = ("province", "city", "county")
LEVEL_NAMES = {"province": "省级", "city": "市级", "county": "县级"}
REPORT_DATE_RULE = ("汇总上报日期：计划所写日期（通知“11月20日前汇总上报”）若为工作日即为该日，否则取其前最后一个工作日"
                    "（法定节假日与调休按国务院安排）。")
VISIT_START_RULE = "检查日期不早于任务派发日之后第 notice_workdays 个工作日（告知期），且不早于检查开始日期。"
LEADER_RULE = ("组长：计划指定处室（leader_unit，默认质量监管处）的省级处级干部；在符合回避、同日不重复安排的人选中，"
               "选择已担任组长次数最少者（次数相同按签号顺序），使组长任务均衡。")
LEVEL_RULE = ("三级组成：组长为省级；执法人员优先补足市级（本市优先）与县级各至少一名，人员池不足时在结果中写明缺少的层级。")

_CATEGORY_ORDER = {code: i for i, code in enumerate(CATEGORY_NAMES)}

ROLE_NAMES = {"leader": "组长", "deputy": "副组长", "member": "组员"}


class AssignmentInputError(ValueError):
    """The draws or settings cannot be used; ``errors`` is a list of {field, message}."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        super().__init__("；".join(f"{e['field']}: {e['message']}" for e in errors))


# ---------------------------------------------------------------- settings
def effective_settings(plan_settings: dict[str, Any] | None) -> dict[str, Any]:
    """Plan settings with defaults filled in, validated (raises AssignmentInputError)."""
    s = dict(DEFAULT_SETTINGS)
    s.update({k: v for k, v in (plan_settings or {}).items() if v is not None})
    errors = []
    if not isinstance(s.get("leader_unit"), str) or not 2 <= len(s["leader_unit"]) <= 60:
        errors.append({"field": "plan_settings.leader_unit", "message": "应为处室名称（如 质量监管处）"})
    if s.get("dispatch_date") is not None:
        try:
            s["dispatch_date"] = dt.date.fromisoformat(str(s["dispatch_date"])).isoformat()
        except ValueError:
            errors.append({"field": "dispatch_date", "message": "不是 YYYY-MM-DD 日期"})
    for key in ("window_start", "window_end", "report_date"):
        try:
            s[key] = dt.date.fromisoformat(str(s[key])).isoformat()
        except (KeyError, ValueError):
            errors.append({"field": f"plan_settings.{key}", "message": "缺失或不是 YYYY-MM-DD 日期"})
    for key in ("team_size_min", "team_size_max", "load_per_team", "visits_per_day", "max_teams_per_person",
                "max_teams_per_leader", "max_teams_per_expert", "acceptance_workdays", "notice_workdays"):
        if not isinstance(s[key], int) or isinstance(s[key], bool) or s[key] < (0 if key in ("acceptance_workdays", "notice_workdays") else 1):
            errors.append({"field": f"plan_settings.{key}", "message": "应为正整数"})
    if not isinstance(s["avoid_own_county"], bool):
        errors.append({"field": "plan_settings.avoid_own_county", "message": "应为布尔值"})
    if not errors:
        if s["team_size_min"] < MIN_OFFICERS + 2:
            errors.append({"field": "plan_settings.team_size_min", "message": f"至少为 {MIN_OFFICERS + 2}（组长、副组长和两名执法人员）"})
        if s["team_size_max"] < s["team_size_min"]:
            errors.append({"field": "plan_settings.team_size_max", "message": "不得小于 team_size_min"})
        if s["window_end"] < s["window_start"]:
            errors.append({"field": "plan_settings.window_end", "message": "检查结束日期早于开始日期"})
        if s["report_date"] < s["window_start"]:
            errors.append({"field": "plan_settings.report_date", "message": "汇总上报日期早于检查开始日期"})
    if errors:
        raise AssignmentInputError(errors)
    return s


# ---------------------------------------------------------------- people
def ticket_key(person: dict) -> tuple[Decimal, str]:
    try:
        return Decimal(str(person["ticket"])), person["id"]
    except (KeyError, InvalidOperation):
        raise AssignmentInputError([{"field": "pools.ticket", "message": f"人员 {person.get('id')} 的抽取号无效"}]) from None


def is_officer(person: dict) -> bool:
    """执法人员: holds a law-enforcement certificate."""
    return bool(person.get("certificate_no"))


def is_leader_eligible(person: dict, leader_unit: str = LEADER_UNIT_DEFAULT) -> bool:
    """组长由省局质量监管处处级干部担任: a province-level 处级 cadre of the plan's leader unit."""
    return (
        person.get("level") == "province"
        and bool(person.get("division_cadre"))
        and person.get("unit") == leader_unit
        and person.get("active", True) is not False
    )


def report_date(stated: str, calendar: WorkCalendar) -> str:
    """The last working day on or before the stated report date (REPORT_DATE_RULE)."""
    day = dt.date.fromisoformat(stated)
    while not calendar.is_workday(day):
        day -= dt.timedelta(days=1)
    return day.isoformat()


def first_visit_day(settings: dict, calendar: WorkCalendar) -> dt.date:
    start = dt.date.fromisoformat(settings["window_start"])
    if settings.get("dispatch_date"):
        start = max(start, calendar.add_workdays(dt.date.fromisoformat(settings["dispatch_date"]), settings["notice_workdays"]))
    return start


def level_gaps(members: list[dict]) -> list[str]:
    """The administrative levels (省、市、县) missing from a team."""
    have = {m.get("level") for m in members}
    return [lv for lv in LEVELS if lv not in have]


def covers(person: dict, categories: list[str]) -> bool:
    return set(categories) <= set(person.get("specialties") or [])


def _conflict_map(pools: dict[str, list[dict]], excluded: list[dict]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for members in pools.values():
        for p in members:
            out.setdefault(p["id"], set()).update(c["uscc"] for c in p.get("conflicts") or [] if c.get("uscc"))
    for e in excluded or []:
        if e.get("person_id") and e.get("uscc"):
            out.setdefault(e["person_id"], set()).add(e["uscc"])
    return out


class TeamScope:
    """What a team inspects, for the avoidance check."""

    def __init__(self, enterprises: list[dict]):
        self.usccs = {e["uscc"] for e in enterprises}
        counties = set()
        for e in enterprises:
            for code in [e.get("region_code")] + [s.get("region_code") for s in e.get("sites") or []]:
                c = county_of(code or "")
                if c:
                    counties.add(c)
        self.counties = counties
        cats: set[str] = set()
        for e in enterprises:
            cats.update(e.get("categories") or [])
        self.categories = sorted(cats, key=lambda c: (_CATEGORY_ORDER.get(c, 99), c))


def avoidance_reason(person: dict, scope: TeamScope, conflicts: set[str], avoid_own_county: bool) -> str | None:
    """Why ``person`` may not serve on a team with ``scope`` (None when they may)."""
    hit = conflicts & scope.usccs
    if hit:
        return f"与企业 {sorted(hit)[0]} 存在利益冲突"
    if avoid_own_county:
        county = county_of(person.get("region_code") or "")
        if county and county in scope.counties:
            return f"工作所在县（{county}）有本组检查企业"
    return None


# ---------------------------------------------------------------- workloads
# Industry order for cutting workloads: related products next to each other (建材, 机电, 化工,
# 包装与食品相关产品), so a team's categories stay within one or two families an expert covers.
INDUSTRY_ORDER = {code: i for i, code in enumerate([
    "rebar", "cement", "prestressed_railway_beam",
    "wire_cable", "broadcast_transmission", "rmb_discriminator",
    "hazardous_chemicals", "fertilizer", "hazardous_chemical_packaging", "food_related",
])}


def _primary_category(e: dict) -> tuple[int, str]:
    cats = sorted(e.get("categories") or [], key=lambda c: (INDUSTRY_ORDER.get(c, 99), c))
    return (INDUSTRY_ORDER.get(cats[0], 99), cats[0]) if cats else (99, "")


def group_workloads(enterprises: list[dict], load_per_team: int) -> list[dict]:
    """Split the drawn enterprises into team workloads: per city, industry, county (see module doc)."""
    by_city: dict[str, list[dict]] = {}
    for e in enterprises:
        city = e.get("city_code") or city_of(e.get("region_code") or "")
        by_city.setdefault(city, []).append(e)
    groups = []
    for city in sorted(by_city):
        items = sorted(by_city[city], key=lambda e: (_primary_category(e), e.get("region_code") or "", e["uscc"]))
        n_teams = math.ceil(len(items) / load_per_team)
        base, extra = divmod(len(items), n_teams)
        start = 0
        for i in range(n_teams):
            size = base + (1 if i < extra else 0)
            groups.append({"city_code": city, "index_in_city": i + 1, "teams_in_city": n_teams, "enterprises": items[start:start + size]})
            start += size
    return groups


def team_label(city_code: str, index_in_city: int, teams_in_city: int) -> str:
    name = city_name(city_code)
    return f"{name}组" if teams_in_city == 1 else f"{name}第{index_in_city}组"


# ---------------------------------------------------------------- composition
def _member(person: dict, role: str, pool: str) -> dict:
    return {
        "person_id": person["id"],
        "name": person.get("name"),
        "kind": person.get("kind"),
        "role": role,
        "pool": pool,
        "ticket": str(person["ticket"]),
        "level": person.get("level"),
        "region_code": person.get("region_code"),
        "organisation": person.get("organisation"),
        "unit": person.get("unit"),
        "business_line": person.get("business_line"),
        "division_cadre": bool(person.get("division_cadre")),
        "law_enforcement": is_officer(person),
        "certificate_no": person.get("certificate_no"),
        "specialties": sorted(person.get("specialties") or []),
    }


class Composer:
    """Picks members team by team; shared by formation and by substitution."""

    def __init__(self, pools: dict[str, list[dict]], excluded: list[dict], settings: dict):
        self.settings = settings
        self.pools = {name: sorted((p for p in members if p.get("active", True) is not False), key=ticket_key) for name, members in pools.items()}
        self.conflicts = _conflict_map(pools, excluded)
        self.usage: dict[str, int] = {}
        officers = self.pools.get("officers", [])
        self.officer_order = [p for p in officers if p.get("business_line") == QUALITY_LINE] + [p for p in officers if p.get("business_line") != QUALITY_LINE]

    def eligible(self, person: dict, scope: TeamScope, taken: set[str], limit: str = "max_teams_per_person") -> bool:
        if person["id"] in taken or self.usage.get(person["id"], 0) >= self.settings[limit]:
            return False
        return avoidance_reason(person, scope, self.conflicts.get(person["id"], set()), self.settings["avoid_own_county"]) is None

    def take(self, person: dict, taken: set[str]) -> None:
        taken.add(person["id"])
        self.usage[person["id"]] = self.usage.get(person["id"], 0) + 1

    def first(self, candidates, scope, taken, pred=lambda p: True, limit: str = "max_teams_per_person") -> dict | None:
        for p in candidates:
            if pred(p) and self.eligible(p, scope, taken, limit):
                return p
        return None

    def best_expert(self, scope: TeamScope, taken: set[str], needed: set[str]) -> dict | None:
        """The eligible expert covering the most of ``needed`` (first by ticket among equals)."""
        best, best_n = None, 0
        for p in self.pools.get("experts", []):
            n = len(needed & set(p.get("specialties") or []))
            if n > best_n and self.eligible(p, scope, taken, "max_teams_per_expert"):
                best, best_n = p, n
        return best

    def fill_candidates(self):
        """Members beyond the fixed roles: officers (preferred line first), then experts."""
        for p in self.officer_order:
            yield p, "officers"
        for p in self.pools.get("experts", []):
            yield p, "experts"


def least_used_leader(composer: Composer, scope: TeamScope, taken: set[str]) -> dict | None:
    """LEADER_RULE: the eligible leader who has led the fewest teams so far (ticket order among equals)."""
    unit = composer.settings["leader_unit"]
    best = None
    for p in composer.pools.get("leaders", []):
        if is_leader_eligible(p, unit) and composer.eligible(p, scope, taken, "max_teams_per_leader"):
            if best is None or composer.usage.get(p["id"], 0) < composer.usage.get(best["id"], 0):
                best = p
    return best


def _level_order(composer: Composer, level: str, city_code: str | None) -> list[dict]:
    same = [p for p in composer.officer_order if p.get("level") == level and city_code and (p.get("region_code") or "")[:4] == city_code[:4]]
    other = [p for p in composer.officer_order if p.get("level") == level and p not in same]
    return same + other


def compose_roles(composer: Composer, scope: TeamScope, label: str, city_code: str | None = None) -> tuple[list[dict], list[str]]:
    """Pass 1 for one team: leader, deputy and the law-enforcement officers the team needs."""
    members: list[dict] = []
    taken: set[str] = set()
    shortfalls: list[str] = []

    leader = least_used_leader(composer, scope, taken)
    if leader:
        composer.take(leader, taken)
        members.append(_member(leader, "leader", "leaders"))
    else:
        shortfalls.append(f"{label}缺少可担任组长的省局质量监管处处级干部")

    needed = set(scope.categories)
    deputy = (composer.best_expert(scope, taken, needed) if needed
              else composer.first(composer.pools.get("experts", []), scope, taken, limit="max_teams_per_expert"))
    if deputy:
        composer.take(deputy, taken)
        members.append(_member(deputy, "deputy", "experts"))
        needed -= set(deputy.get("specialties") or [])
    elif needed:
        shortfalls.append(_expert_shortfall(composer, scope, taken, label, needed))
    else:
        shortfalls.append(f"{label}缺少可担任副组长的技术专家")
    # room left for experts once the leader and the required officers are counted
    room = composer.settings["team_size_max"] - len(members) - MIN_OFFICERS
    while needed and deputy:
        extra = composer.best_expert(scope, taken, needed) if room > 0 else None
        if extra is None:
            shortfalls.append(_expert_shortfall(composer, scope, taken, label, needed))
            break
        composer.take(extra, taken)
        members.append(_member(extra, "member", "experts"))
        needed -= set(extra.get("specialties") or [])
        room -= 1

    # LEVEL_RULE: a city-level and a county-level officer (the leader is provincial), when the pools allow
    for level in ("city", "county"):
        if not any(m.get("level") == level for m in members):
            p = composer.first(_level_order(composer, level, city_code), scope, taken, is_officer)
            if p:
                composer.take(p, taken)
                members.append(_member(p, "member", "officers"))
    while _officers(members) < MIN_OFFICERS:
        p = composer.first(composer.officer_order, scope, taken, is_officer)
        if not p:
            shortfalls.append(f"{label}执法人员不足：每组至少需要{MIN_OFFICERS}名持执法证的执法人员，"
                              f"符合回避要求的可用执法人员仅{_officers(members)}名")
            break
        composer.take(p, taken)
        members.append(_member(p, "member", "officers"))
    return members, shortfalls


def _officers(members: list[dict]) -> int:
    return sum(1 for m in members if m["law_enforcement"])


def _expert_shortfall(composer: Composer, scope: TeamScope, taken: set[str], label: str, needed: set[str]) -> str:
    ordered = [c for c in scope.categories if c in needed]
    available = [p for p in composer.pools.get("experts", []) if composer.eligible(p, scope, taken)]
    missing = [c for c in ordered if not any(c in (p.get("specialties") or []) for p in available)]
    if missing:
        return f"{label}缺少具备{category_names(missing)}专长的技术专家"
    return f"{label}人数上限内无法配齐具备{category_names(ordered)}专长的技术专家"


def experts_cover(members: list[dict], categories: list[str]) -> bool:
    """The team's experts together cover every category it inspects."""
    have: set[str] = set()
    for m in members:
        if m["kind"] == "expert":
            have.update(m["specialties"])
    return set(categories) <= have


def fill(composer: Composer, scope: TeamScope, members: list[dict], size: int) -> None:
    """Add members (officers, preferred line first, then experts) until the team has ``size``."""
    taken = {m["person_id"] for m in members}
    for p, pool in composer.fill_candidates():
        if len(members) >= size:
            return
        if composer.eligible(p, scope, taken):
            composer.take(p, taken)
            members.append(_member(p, "member", pool))


def check_team(members: list[dict], scope: TeamScope, conflicts: dict[str, set[str]], settings: dict, label: str) -> list[str]:
    """Every composition and avoidance rule for one team; returns the violations in Chinese."""
    problems = []
    leaders = [m for m in members if m["role"] == "leader"]
    deputies = [m for m in members if m["role"] == "deputy"]
    if len(leaders) != 1 or not is_leader_eligible(leaders[0], settings["leader_unit"]):
        problems.append(f"{label}缺少可担任组长的省局质量监管处处级干部")
    if len(deputies) != 1 or deputies[0]["kind"] != "expert":
        problems.append(f"{label}缺少可担任副组长的技术专家")
    if not experts_cover(members, scope.categories):
        problems.append(f"{label}技术专家的专长未覆盖{category_names(scope.categories)}")
    if sum(1 for m in members if m["law_enforcement"]) < MIN_OFFICERS:
        problems.append(f"{label}执法人员不足：每组至少需要{MIN_OFFICERS}名持执法证的执法人员")
    if not settings["team_size_min"] <= len(members) <= settings["team_size_max"]:
        problems.append(f"{label}人数为{len(members)}人，应为{settings['team_size_min']}至{settings['team_size_max']}人")
    if len({m["person_id"] for m in members}) != len(members):
        problems.append(f"{label}有人员重复")
    for m in members:
        reason = avoidance_reason(m, scope, conflicts.get(m["person_id"], set()), settings["avoid_own_county"])
        if reason:
            problems.append(f"{label}成员{m['name']}（{m['person_id']}）应回避：{reason}")
    return problems


# ---------------------------------------------------------------- visit plan
def site_visits(enterprises: list[dict]) -> list[dict]:
    """One visit per production site, listing every category of the enterprise there."""
    out = []
    for e in enterprises:
        cats = sorted(e.get("categories") or [], key=lambda c: (_CATEGORY_ORDER.get(c, 99), c))
        sites = sorted(e.get("sites") or [], key=lambda s: str(s["id"])) or [{"id": f"{e['uscc']}-main", "address": None, "region_code": e.get("region_code")}]
        for s in sites:
            region = s.get("region_code") or e.get("region_code") or ""
            out.append({
                "uscc": e["uscc"],
                "enterprise_name": e.get("name"),
                "site_id": str(s["id"]),
                "address": s.get("address"),
                "region_code": region,
                "city_code": city_of(region),
                "county_code": county_of(region),
                "categories": cats,
                "items": [category_name(c) for c in cats],
            })
    return out


def plan_visits(teams: list[dict], settings: dict, calendar: WorkCalendar) -> list[str]:
    """Give each team dated visits; returns shortfalls when the window is too short."""
    start = first_visit_day(settings, calendar)
    end = dt.date.fromisoformat(settings["window_end"])
    workdays = calendar.workdays_in(start, end)
    per_day = settings["visits_per_day"]
    booked: dict[str, set[dt.date]] = {}
    shortfalls = []
    for team in teams:
        people = [m["person_id"] for m in team["members"]]
        todo = list(team["visits"])
        days_needed = math.ceil(len(todo) / per_day)
        days = [d for d in workdays if not any(d in booked.get(p, ()) for p in people)][:days_needed]
        if len(days) < days_needed:
            shortfalls.append(
                f"{team['label']}检查时间不足：需要安排{len(todo)}次检查，"
                f"{start.isoformat()}（派发日加告知期后）至{settings['window_end']}的工作日内仅能安排{len(days) * per_day}次"
            )
        for i, visit in enumerate(todo):
            day = days[i // per_day] if i // per_day < len(days) else None
            visit["date"] = day.isoformat() if day else None
            visit["slot"] = i % per_day + 1
        for d in days:
            for p in people:
                booked.setdefault(p, set()).add(d)
    return shortfalls


# ---------------------------------------------------------------- the function
def assign(enterprise_draw: dict, inspector_draw: dict, plan_settings: dict | None = None, calendar: WorkCalendar | None = None) -> dict:
    """Form teams and their visit plan. Pure: output depends only on the arguments."""
    calendar = calendar or default_calendar
    settings = effective_settings(plan_settings if plan_settings is not None else enterprise_draw.get("plan_settings"))
    settings["report_date_stated"] = settings["report_date"]
    settings["report_date"] = report_date(settings["report_date"], calendar)
    enterprises = sorted(enterprise_draw.get("selected") or [], key=lambda e: e["uscc"])
    if not enterprises:
        raise AssignmentInputError([{"field": "selected", "message": "企业抽取结果为空，无需组建检查组"}])
    if len({e["uscc"] for e in enterprises}) != len(enterprises):
        raise AssignmentInputError([{"field": "selected", "message": "企业抽取结果中有重复的统一社会信用代码"}])
    pools = inspector_draw.get("pools") or {}
    composer = Composer(pools, inspector_draw.get("excluded") or [], settings)

    teams: list[dict] = []
    shortfalls: list[str] = []
    for n, g in enumerate(group_workloads(enterprises, settings["load_per_team"]), start=1):
        label = team_label(g["city_code"], g["index_in_city"], g["teams_in_city"])
        scope = TeamScope(g["enterprises"])
        members, missing = compose_roles(composer, scope, label, g["city_code"])
        shortfalls += missing
        teams.append({
            "code": f"T{n:03d}",
            "label": label,
            "city_code": g["city_code"],
            "city_name": city_name(g["city_code"]),
            "counties": sorted(scope.counties),
            "categories": scope.categories,
            "enterprises": [e["uscc"] for e in g["enterprises"]],
            "members": members,
            "visits": site_visits(g["enterprises"]),
            "report_date": settings["report_date"],
            "_scope": scope,
        })
    # pass 2: every team up to the minimum size; pass 3: up to the maximum
    for team in teams:
        fill(composer, team["_scope"], team["members"], settings["team_size_min"])
        if len(team["members"]) < settings["team_size_min"]:
            shortfalls.append(f"{team['label']}人数不足：每组需要{settings['team_size_min']}至{settings['team_size_max']}人，"
                              f"符合回避要求的可用人员仅能组成{len(team['members'])}人")
    for team in teams:
        fill(composer, team["_scope"], team["members"], settings["team_size_max"])
    level_shortfalls = []
    for team in teams:
        team.pop("_scope")
        gaps = level_gaps(team["members"])
        team["level_shortfalls"] = [f"{team['label']}缺少{LEVEL_NAMES[lv]}执法监管人员（人员池中没有符合回避要求的可用人员）" for lv in gaps]
        level_shortfalls += team["level_shortfalls"]
    shortfalls += plan_visits(teams, settings, calendar)
    return {
        "algorithm": ALGORITHM,
        "algorithm_version": ALGORITHM_VERSION,
        "enterprise_draw_id": enterprise_draw.get("draw_id"),
        "inspector_draw_id": inspector_draw.get("draw_id"),
        "settings": settings,
        "ok": not shortfalls,
        "shortfalls": shortfalls,
        "level_shortfalls": level_shortfalls,
        "rules": {"leader": LEADER_RULE, "levels": LEVEL_RULE, "report_date": REPORT_DATE_RULE, "visit_start": VISIT_START_RULE},
        "teams": teams,
    }


def conflicts_of(inspector_draw: dict) -> dict[str, set[str]]:
    return _conflict_map(inspector_draw.get("pools") or {}, inspector_draw.get("excluded") or [])


def find_substitute(inspector_draw: dict, settings: dict, team_enterprises: list[dict], team_members: list[dict],
                    usage: dict[str, int], leaving: dict, label: str) -> tuple[dict | None, str | None]:
    """The next eligible ticket of the leaving member's pool for this team, or a shortfall text.

    ``usage`` counts current team memberships per person in the assignment; people who already
    left this team are in ``team_members`` (with active False) and are not taken back."""
    composer = Composer(inspector_draw.get("pools") or {}, inspector_draw.get("excluded") or [], settings)
    composer.usage = dict(usage)
    scope = TeamScope(team_enterprises)
    taken = {m["person_id"] for m in team_members}
    remaining = [m for m in team_members if m.get("active", True) and m["person_id"] != leaving["person_id"]]
    pool = leaving["pool"]
    role = leaving["role"]
    limit = "max_teams_per_person"
    still_covered: set[str] = set()
    for m in remaining:
        if m["kind"] == "expert":
            still_covered.update(m["specialties"])
    needed = [c for c in scope.categories if c not in still_covered]
    if role == "leader":
        pred = lambda p: is_leader_eligible(p, settings["leader_unit"])  # noqa: E731
        candidates = composer.pools.get("leaders", [])
        limit = "max_teams_per_leader"
    elif role == "deputy" or leaving.get("kind") == "expert":
        # an expert is replaced by an expert who keeps the team's specialties covered
        candidates = composer.pools.get("experts", [])
        limit = "max_teams_per_expert"
        pred = lambda p: covers(p, needed)  # noqa: E731
    else:
        officers_left = sum(1 for m in remaining if m["law_enforcement"])
        need_officer = officers_left < MIN_OFFICERS
        candidates = composer.officer_order if pool == "officers" else composer.pools.get(pool, [])
        # LEVEL_RULE: keep the team's 省/市/县 make-up — someone of the leaving member's level first
        candidates = ([p for p in candidates if p.get("level") == leaving.get("level")]
                      + [p for p in candidates if p.get("level") != leaving.get("level")])
        pred = is_officer if need_officer else (lambda p: True)
    p = least_used_leader(composer, scope, taken) if role == "leader" else composer.first(candidates, scope, taken, pred, limit)
    if p is None:
        expert_need = f"具备{category_names(needed)}专长的技术专家" if needed else "技术专家"
        what = {"leader": "可担任组长的省局质量监管处处级干部", "deputy": expert_need}.get(
            role, expert_need if leaving.get("kind") == "expert" else "持执法证的执法人员" if pred is is_officer else "可替换的人员")
        return None, f"{label}缺少{what}（{pool}人员库中已无符合回避要求的下一位）"
    return _member(p, role, pool), None
