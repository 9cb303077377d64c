"""Sampling benchmark: a draw over 1,000,000 units in 10 strata (tickets for every unit, the
quota smallest per stratum in ticket order) timed against

* a plain loop of ``hashlib.sha256(id).hexdigest()`` over the same ids (the floor: target ≤ 1.5×);
* the reference ``consistent_sampler`` (PyPI, R. L. Rivest) — run per stratum on a 100,000-unit
  subset and extrapolated linearly to 1,000,000 (its heap of ticket tuples makes it slow);
  its selection on the subset is checked against ours, ticket for ticket (target: ≥ 10× faster).

Times are the best of a few runs in this process. Writes ``bench-results/sampling.json``.
"""
from __future__ import annotations

import hashlib
import json
import math
import random
import time
from pathlib import Path

from consistent_sampler import consistent_sampler as ref

from services.sampling import sampler
from tests.bench import check

N = 1_000_000
SUBSET = 100_000
STRATA = 10
SEED = "31415926535897932384626433"
RATIOS = [1, 1, 0.3, 0.3, 0.3, 0.2, 0.2, 0.2, 0.2, 0.2]


def _best(fn, repeat=3):
    best, result = math.inf, None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t)
    return best, result


def _population(n: int):
    rnd = random.Random(20220528)
    ids = [f"9114{i:014d}" for i in range(n)]
    rnd.shuffle(ids)
    strata = {f"s{k}": ids[k::STRATA] for k in range(STRATA)}
    quotas = {f"s{k}": math.ceil(RATIOS[k] * len(strata[f"s{k}"])) for k in range(STRATA)}
    return ids, strata, quotas


def main() -> dict:
    ids, strata, quotas = _population(N)
    t_hash, _ = _best(lambda: [hashlib.sha256(i.encode()).hexdigest() for i in ids])
    t_draw, drawn = _best(lambda: sampler.draw_strata(strata, quotas, SEED))
    assert all(len(drawn[k]) == quotas[k] for k in strata)

    _, sub_strata, sub_quotas = _population(SUBSET)

    def reference():
        return {k: [(t, i) for t, i, _g in ref.sampler(v, SEED, take=sub_quotas[k], digits=80)] for k, v in sub_strata.items()}

    t_ref_sub, ref_result = _best(reference, repeat=1)
    t_ours_sub, ours_sub = _best(lambda: sampler.draw_strata(sub_strata, sub_quotas, SEED))
    assert ours_sub == ref_result, "the fast sampler disagrees with the reference"
    t_ref_est = t_ref_sub * N / SUBSET

    result = {
        "units": N,
        "strata": STRATA,
        "selected": sum(quotas.values()),
        "plain_sha256_loop_s": round(t_hash, 3),
        "draw_s": round(t_draw, 3),
        "draw_vs_sha256_ratio": round(t_draw / t_hash, 2),
        "target_ratio_max": 1.5,
        "target_speedup_vs_reference_min": 10,
        "reference_subset_units": SUBSET,
        "reference_subset_s": round(t_ref_sub, 3),
        "ours_subset_s": round(t_ours_sub, 3),
        "reference_extrapolated_s": round(t_ref_est, 2),
        "reference_note": f"consistent_sampler timed on {SUBSET:,} units and extrapolated linearly to {N:,}",
        "speedup_vs_reference": round(t_ref_est / t_draw, 1),
        "subset_selection_identical_to_reference": True,
    }
    for k, v in result.items():
        print(f"{k:>40}: {v}")
    check(result, "draw / plain SHA-256 loop", result["draw_vs_sha256_ratio"], 1.5)
    check(result, "speed-up vs the reference sampler", result["speedup_vs_reference"], 10, at_most=False, unit="×")
    out = Path("bench-results")
    out.mkdir(exist_ok=True)
    (out / "sampling.json").write_text(json.dumps(result, ensure_ascii=False, indent=2))
    return result


if __name__ == "__main__":
    main()
