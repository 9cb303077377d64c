"""The explainable scorecard: points per indicator bin, thresholds for A/B/C/D.

A definition (JSON, versioned in ``score_model``)::

    {"base": 0,
     "indicators": {"nonconformities_2y": [{"upper": 1, "points": 0}, {"upper": 3, "points": 12},
                                            {"upper": null, "points": 25}], ...},
     "thresholds": {"B": 15, "C": 35, "D": 60}}

A value falls in the first bin whose ``upper`` is greater than it (``upper`` null = no bound).
score = base + Σ points of the bins; class D if score ≥ thresholds.D, C if ≥ C, B if ≥ B, else A.
The explanation lists every non-zero contribution; "why" is the three largest by points.
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any

from shared.errors import Problem

from .indicators import BY_CODE

CLASSES = ("A", "B", "C", "D")
CLASS_NAMES = {"A": "信用风险低", "B": "信用风险一般", "C": "信用风险较高", "D": "信用风险高"}
MAX_BINS = 12
MAX_POINTS = 1000


def validate(defn: Any) -> dict[str, Any]:
    """Check a definition; raise one 422 naming every problem. Returns the normalised definition."""
    errors: list[dict[str, str]] = []

    def err(field: str, message: str) -> None:
        errors.append({"field": f"definition.{field}", "message": message})

    if not isinstance(defn, dict):
        raise Problem(422, "invalid-scorecard", "评分卡定义无效", errors=[{"field": "definition", "message": "应为对象"}])
    base = defn.get("base", 0)
    if not isinstance(base, (int, float)) or isinstance(base, bool) or not math.isfinite(base) or abs(base) > MAX_POINTS:
        err("base", f"基础分应为绝对值不超过 {MAX_POINTS} 的数")
    inds = defn.get("indicators")
    if not isinstance(inds, dict) or not inds:
        err("indicators", "至少需要一个指标")
        inds = {}
    for code, bins in inds.items():
        if code not in BY_CODE:
            err(f"indicators.{code}"[:120], "未知指标")
            continue
        if not isinstance(bins, list) or not 1 <= len(bins) <= MAX_BINS:
            err(f"indicators.{code}", f"分箱数应为 1 到 {MAX_BINS}")
            continue
        prev = None
        for j, b in enumerate(bins):
            where = f"indicators.{code}[{j}]"
            if not isinstance(b, dict) or set(b) - {"upper", "points", "label"}:
                err(where, "分箱应为 {upper, points[, label]}")
                continue
            p, u = b.get("points"), b.get("upper")
            if not isinstance(p, (int, float)) or isinstance(p, bool) or not math.isfinite(p) or abs(p) > MAX_POINTS:
                err(f"{where}.points", f"分值应为绝对值不超过 {MAX_POINTS} 的数")
            last = j == len(bins) - 1
            if last and u is not None:
                err(f"{where}.upper", "最后一个分箱的上界应为 null（无上界）")
            if not last:
                if not isinstance(u, (int, float)) or isinstance(u, bool) or not math.isfinite(u):
                    err(f"{where}.upper", "上界应为数字")
                elif prev is not None and u <= prev:
                    err(f"{where}.upper", "分箱上界应严格递增")
                else:
                    prev = u
            if b.get("label") is not None and (not isinstance(b["label"], str) or len(b["label"]) > 60):
                err(f"{where}.label", "标签应为不超过 60 字的文本")
    th = defn.get("thresholds")
    if not isinstance(th, dict) or set(th) != {"B", "C", "D"}:
        err("thresholds", "应为 {B, C, D} 三个分界分数")
    elif not all(isinstance(th[k], (int, float)) and not isinstance(th[k], bool) and math.isfinite(th[k]) for k in "BCD"):
        err("thresholds", "分界分数应为数字")
    elif not th["B"] < th["C"] < th["D"]:
        err("thresholds", "分界分数应满足 B < C < D")
    if errors:
        raise Problem(422, "invalid-scorecard", "评分卡定义无效", detail=errors[0]["field"] + ": " + errors[0]["message"], errors=errors[:50])
    return {"base": base, "indicators": inds, "thresholds": {k: th[k] for k in "BCD"}}


@dataclass
class Compiled:
    """A definition prepared for fast scoring (bisect over bin uppers)."""

    version: int
    base: float
    items: list[tuple[str, list[float], list[float], list[str]]]  # code, uppers, points, labels
    thresholds: tuple[float, float, float]

    def score(self, values: dict[str, float]) -> tuple[float, str, list[dict[str, Any]]]:
        total = self.base
        contribs = []
        for code, uppers, points, labels in self.items:
            v = values.get(code, 0.0) or 0.0
            i = bisect.bisect_right(uppers, v)
            p = points[i]
            total += p
            if p:
                contribs.append({"indicator": code, "value": v, "bin": labels[i], "points": p})
        contribs.sort(key=lambda c: (-abs(c["points"]), c["indicator"]))
        return total, classify(total, self.thresholds), contribs

    def score_only(self, values: dict[str, float]) -> float:
        return self.base + sum(points[bisect.bisect_right(uppers, values.get(code, 0.0) or 0.0)] for code, uppers, points, _ in self.items)


def _label(bins: list[dict], i: int) -> str:
    if bins[i].get("label"):
        return bins[i]["label"]
    lo = bins[i - 1]["upper"] if i else None
    hi = bins[i]["upper"]
    if lo is None and hi is None:
        return "全部"
    if lo is None:
        return f"< {hi:g}"
    if hi is None:
        return f"≥ {lo:g}"
    return f"[{lo:g}, {hi:g})"


def compile_definition(defn: dict[str, Any], version: int = 0) -> Compiled:
    items = []
    for code in sorted(defn["indicators"]):
        bins = defn["indicators"][code]
        items.append((code, [b["upper"] for b in bins[:-1]], [float(b["points"]) for b in bins], [_label(bins, i) for i in range(len(bins))]))
    th = defn["thresholds"]
    return Compiled(version, float(defn.get("base", 0)), items, (th["B"], th["C"], th["D"]))


def classify(score: float, thresholds: tuple[float, float, float]) -> str:
    b, c, d = thresholds
    return "D" if score >= d else "C" if score >= c else "B" if score >= b else "A"


def why(contributions: list[dict[str, Any]], n: int = 3) -> list[dict[str, Any]]:
    """The ``n`` largest contributions (by points), with the indicator's name."""
    return [{**c, "name": BY_CODE[c["indicator"]].name if c["indicator"] in BY_CODE else c["indicator"]}
            for c in sorted(contributions, key=lambda c: (-c["points"], c["indicator"]))[:n] if c["points"] > 0]


# The expert-set scorecard installed as version 1 when the service starts on an empty database.
EXPERT_V1: dict[str, Any] = {
    "base": 0,
    "indicators": {
        "national_fail_5y": [{"upper": 1, "points": 0}, {"upper": None, "points": 30}],
        "provincial_fail": [{"upper": 1, "points": 0}, {"upper": None, "points": 20}],
        "hazard": [{"upper": 1, "points": 0}, {"upper": None, "points": 10}],
        "licence_age_years": [{"upper": 2, "points": 6}, {"upper": 10, "points": 0}, {"upper": None, "points": -4}],
        "renewal_due": [{"upper": 1, "points": 0}, {"upper": None, "points": 5}],
        "licence_actions_3y": [{"upper": 1, "points": 0}, {"upper": None, "points": 25}],
        "failed_inspections_2y": [{"upper": 1, "points": 0}, {"upper": 2, "points": 15}, {"upper": None, "points": 30}],
        "nonconformities_2y": [{"upper": 1, "points": 0}, {"upper": 4, "points": 5}, {"upper": None, "points": 12}],
        "refusals_3y": [{"upper": 1, "points": 0}, {"upper": None, "points": 35}],
        "not_inspected_2y": [{"upper": 1, "points": 0}, {"upper": None, "points": 5}],
        "rectification_overdue_2y": [{"upper": 1, "points": 0}, {"upper": None, "points": 25}],
        "recheck_failed_2y": [{"upper": 1, "points": 0}, {"upper": None, "points": 20}],
        "enforcement_3y": [{"upper": 1, "points": 0}, {"upper": None, "points": 30}],
        "disclosed_problems_3y": [{"upper": 1, "points": 0}, {"upper": None, "points": 8}],
    },
    "thresholds": {"B": 10, "C": 30, "D": 55},
}
