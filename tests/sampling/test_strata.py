"""Strata rules: the notice's 2022 template, exact quotas, and refused rule sets."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

from services.sampling import strata
from shared.errors import Problem
from tests.sampling.population import enterprises

TEMPLATE = strata.NOTICE_2022_181


def test_template_2022_quotas_are_ceil_of_exact_ratio_and_every_unit_in_one_stratum():
    units = enterprises(500)
    rules = strata.validate_rules(TEMPLATE["rules"], "2022", "140000")
    result = strata.preview(rules, units)
    by = {s["name"]: s for s in result["strata"]}
    # the template covers the whole 2022 catalogue: nobody is outside
    assert result["outside"] == 0 and result["total"] == 500
    assert sum(s["population"] for s in result["strata"]) == 500
    for s, rule in zip(result["strata"], TEMPLATE["rules"]):
        assert s["quota"] == math.ceil(Fraction(rule["ratio"]) * s["population"])
        assert s["rounding"].startswith("向上取整")
    flagged = [u for u in units if u["flags"]["national_fail_5y"] or u["flags"]["provincial_fail_2021"]]
    assert by[TEMPLATE["rules"][0]["name"]]["population"] == len(flagged) > 0
    assert by[TEMPLATE["rules"][0]["name"]]["quota"] == len(flagged)  # 100 %
    # first match wins: a flagged rebar maker is in stratum 1, not in the 20 % stratum
    for u in units:
        assert strata.assign(rules, u) == next(r.name for r in rules if r.matches(u))
    assert TEMPLATE["rules"][-1]["note"] == "通知未规定比例，为计划设定"
    assert TEMPLATE["settings"]["window_start"] == "2022-06-10" and TEMPLATE["settings"]["report_date"] == "2022-11-20"


def test_quota_uses_exact_arithmetic():
    rule = strata.Rule.from_dict({"name": "x", "ratio": "0.3"})
    # 0.3 * 10 is 3.0000000000000004 in floats; the exact quota is 3
    assert rule.quota(10) == 3 and rule.quota(11) == 4 and rule.quota(0) == 0
    assert strata.Rule.from_dict({"name": "y", "count": 7}).quota(5) == 5


def test_unmatched_units_are_outside():
    rules = strata.validate_rules([{"name": "钢筋", "categories": ["rebar"], "ratio": "1"}], "2022", "140000")
    assert strata.assign(rules, {"categories": ["cement"]}) == strata.OUTSIDE


def _refusal(rules, catalogue="2022"):
    with pytest.raises(Problem) as exc:
        strata.validate_rules(rules, catalogue, "140000")
    assert exc.value.status == 422
    return {e["field"]: e["message"] for e in exc.value.errors}


def test_refusals_name_the_rule_and_field():
    errs = _refusal([{"name": "a", "ratio": "1.5"}])
    assert "rules[0].ratio" in errs and "0 到 1" in errs["rules[0].ratio"]
    errs = _refusal([{"name": "a", "ratio": "0.1"}, {"name": "b", "categories": ["rebar"], "count": -1}])
    assert "rules[1].count" in errs
    errs = _refusal([{"name": "a", "categories": ["safety_helmet"], "ratio": "0.1"}])
    assert "2022" in errs["rules[0].categories"]
    errs = _refusal([{"name": "a", "categories": ["rebar"], "ratio": "0.2"},
                     {"name": "b", "categories": ["rebar"], "ratio": "0.3"}])
    assert "规则矛盾" in errs["rules[1].conditions"]
    errs = _refusal([{"name": "a", "categories": ["rebar", "cement"], "ratio": "0.2"},
                     {"name": "b", "categories": ["cement"], "region_prefix": "1401", "ratio": "0.5"}])
    assert "完全覆盖" in errs["rules[1].conditions"]
    errs = _refusal([{"name": "all", "ratio": "0.1"}, {"name": "b", "flags": ["national_fail_5y"], "ratio": "1"}])
    assert "rules[1].conditions" in errs
    errs = _refusal([{"name": "a", "risk_classes": ["E"], "ratio": "1"}])
    assert "rules[0].risk_classes" in errs
    errs = _refusal([{"name": "a", "ratio": "0.1", "count": 3}])
    assert "rules[0].ratio" in errs


def test_partial_overlap_is_allowed_and_resolved_by_order():
    rules = strata.validate_rules([
        {"name": "太原钢筋", "categories": ["rebar"], "region_prefix": "1401", "ratio": "1"},
        {"name": "钢筋", "categories": ["rebar", "cement"], "ratio": "0.2"},
    ], "2022", "140000")
    assert strata.assign(rules, {"categories": ["rebar"], "region_code": "140105"}) == "太原钢筋"
    assert strata.assign(rules, {"categories": ["rebar"], "region_code": "140205"}) == "钢筋"
