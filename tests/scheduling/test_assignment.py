"""The pure team-assignment function: rules, avoidance, determinism, named shortfalls."""
from __future__ import annotations

import datetime as dt
import random

from hypothesis import HealthCheck, given, settings, strategies as st

from services.scheduling.assignment import TeamScope, assign, check_team, conflicts_of, effective_settings
from services.scheduling.regions import county_of
from shared.calendar import default_calendar
from shared.canonical import canonical_json

from .factory import SETTINGS, enterprise, enterprise_draw, generous_pools, inspector_draw, person, random_case


def _check_result(result: dict, selected: list[dict], pools: dict, cfg: dict) -> None:
    s = effective_settings(cfg)
    insp = {"pools": pools, "excluded": []}
    conflicts = conflicts_of(insp)
    by_uscc = {e["uscc"]: e for e in selected}
    # every drawn site in exactly one team's plan, every enterprise in exactly one team
    sites = [(v["uscc"], v["site_id"]) for t in result["teams"] for v in t["visits"]]
    assert sorted(sites) == sorted((e["uscc"], site["id"]) for e in selected for site in e["sites"])
    assert sorted(u for t in result["teams"] for u in t["enterprises"]) == sorted(by_uscc)
    usage: dict[str, int] = {}
    start, end = dt.date.fromisoformat(s["window_start"]), dt.date.fromisoformat(s["window_end"])
    person_days: dict[str, set] = {}
    for t in result["teams"]:
        ents = [by_uscc[u] for u in t["enterprises"]]
        assert len(t["enterprises"]) <= s["load_per_team"]
        assert {e.get("city_code") for e in ents} == {t["city_code"]}
        for m in t["members"]:
            usage[m["person_id"]] = usage.get(m["person_id"], 0) + 1
            # no avoidance violation, checked independently of the implementation's helper
            assert not ({c["uscc"] for c in next(p for pl in pools.values() for p in pl if p["id"] == m["person_id"])["conflicts"]}
                        & set(t["enterprises"]))
            if s["avoid_own_county"] and county_of(m["region_code"] or ""):
                assert m["region_code"] not in {e["region_code"] for e in ents}
                assert m["region_code"] not in {site["region_code"] for e in ents for site in e["sites"]}
        if result["ok"]:
            assert check_team(t["members"], TeamScope(ents), conflicts, s, t["label"]) == []
            roles = [m["role"] for m in t["members"]]
            assert roles.count("leader") == 1 and roles.count("deputy") == 1
            assert sum(m["law_enforcement"] for m in t["members"]) >= 2
            assert s["team_size_min"] <= len(t["members"]) <= s["team_size_max"]
            per_day: dict[str, int] = {}
            for v in t["visits"]:
                d = dt.date.fromisoformat(v["date"])
                assert start <= d <= end and default_calendar.is_workday(d)
                per_day[v["date"]] = per_day.get(v["date"], 0) + 1
                # "进一次门，查多项事": the visit carries every licensed category of the enterprise
                assert set(v["categories"]) == set(by_uscc[v["uscc"]]["categories"])
            assert max(per_day.values()) <= s["visits_per_day"]
            for m in t["members"]:
                days = set(per_day)
                assert not (person_days.get(m["person_id"], set()) & days), "a person booked by two teams on one day"
                person_days.setdefault(m["person_id"], set()).update(days)
    leaders = {m["person_id"] for t in result["teams"] for m in t["members"] if m["role"] == "leader"}
    experts = {m["person_id"] for t in result["teams"] for m in t["members"] if m["kind"] == "expert"}
    for pid, n in usage.items():
        limit = s["max_teams_per_person"]
        if pid in leaders:
            limit = max(limit, s.get("max_teams_per_leader", 4))
        if pid in experts:
            limit = max(limit, s.get("max_teams_per_expert", 3))
        assert n <= limit, (pid, n)
    assert result["ok"] == (not result["shortfalls"])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=2**32 - 1))
def test_rules_hold_on_random_directories_and_draws(seed):
    selected, pools, cfg = random_case(random.Random(seed))
    ent = enterprise_draw("e1", "p1", selected, cfg)
    insp = inspector_draw("i1", "p1", "e1", pools, settings=cfg)
    result = assign(ent, insp, cfg)
    _check_result(result, selected, pools, cfg)
    # pure: the same input gives the same bytes
    assert canonical_json(assign(ent, insp, cfg)) == canonical_json(result)


def _generous_case():
    selected = [enterprise(i, "140100" if i <= 6 else "141000", ("140105", "140106")[i % 2] if i <= 6 else "141002",
                           ["cement"] if i % 3 else ["cement", "hazardous_chemicals"], 1 + i % 2) for i in range(1, 11)]
    return selected, generous_pools()


def test_generous_directory_forms_valid_teams_deterministically():
    selected, pools = _generous_case()
    ent, insp = enterprise_draw("e1", "p1", selected), inspector_draw("i1", "p1", "e1", pools)
    result = assign(ent, insp, SETTINGS)
    assert result["ok"], result["shortfalls"]
    _check_result(result, selected, pools, SETTINGS)
    assert [t["label"] for t in result["teams"]] == ["太原第1组", "太原第2组", "临汾组"]
    # input order does not matter: shuffled pools and enterprises give the same bytes
    rnd = random.Random(7)
    shuffled_sel = rnd.sample(selected, len(selected))
    shuffled_pools = {k: rnd.sample(v, len(v)) for k, v in pools.items()}
    again = assign(enterprise_draw("e1", "p1", shuffled_sel), inspector_draw("i1", "p1", "e1", shuffled_pools), SETTINGS)
    assert canonical_json(again) == canonical_json(result)


def test_conflict_and_own_county_are_avoided():
    selected, pools = _generous_case()
    first_leader = pools["leaders"][0]["id"]
    pools["leaders"][0]["conflicts"] = [{"uscc": selected[0]["uscc"], "reason": "曾在该企业任职"}]
    result = assign(enterprise_draw("e1", "p1", selected), inspector_draw("i1", "p1", "e1", pools), SETTINGS)
    assert result["ok"]
    team_of_first = next(t for t in result["teams"] if selected[0]["uscc"] in t["enterprises"])
    assert first_leader not in [m["person_id"] for m in team_of_first["members"]]
    for t in result["teams"]:
        for m in t["members"]:
            assert m["region_code"] not in t["counties"]


def test_thin_directory_names_the_missing_expert():
    selected = [enterprise(1, "141000", "141002", ["hazardous_chemicals"]), enterprise(2, "141000", "141021", ["cement"])]
    pools = generous_pools()
    for e in pools["experts"]:
        e["specialties"] = ["cement", "rebar"]
    result = assign(enterprise_draw("e1", "p1", selected), inspector_draw("i1", "p1", "e1", pools), SETTINGS)
    assert not result["ok"]
    assert "临汾组缺少具备危险化学品专长的技术专家" in result["shortfalls"]


def test_thin_directory_names_missing_leader_and_officers():
    selected = [enterprise(1, "140100", "140105", ["cement"])]
    pools = {"leaders": [], "experts": [person("exp-0001", "expert", "province", "140000", 5, cert=False, specs=["cement"])],
             "officers": [person("insp-0100", "inspector", "county", "140105", 9)]}
    result = assign(enterprise_draw("e1", "p1", selected), inspector_draw("i1", "p1", "e1", pools), SETTINGS)
    assert result["shortfalls"][:2] == ["太原组缺少可担任组长的省局质量监管处处级干部",
                                        "太原组执法人员不足：每组至少需要2名持执法证的执法人员，符合回避要求的可用执法人员仅0名"]
    assert any(s.startswith("太原组人数不足") for s in result["shortfalls"])
