"""`harness power`'s planning from a pilot's own seed pairs: the seeds a
planned effect needs, the pilot's own detectable ratio, a zero-spread pilot
refused."""

import math

import numpy as np
import pandas as pd
import pytest

from harness.stats import planning


def _pilot(d_by_condition: dict[str, np.ndarray], control_sd: float = 0.5) -> pd.DataFrame:
    """Runs of a control and conditions whose per-seed log ratios are given."""
    n = len(next(iter(d_by_condition.values())))
    base = 100 * np.exp(np.random.default_rng(0).normal(0, control_sd, n))
    rows = []
    for name, times in [("none", base)] + [
        (c, base * np.exp(d)) for c, d in d_by_condition.items()
    ]:
        for seed, t in enumerate(times):
            rows.append({"model": "m", "condition": name, "seed": seed, "status": "reached",
                         "event": True, "steps_to_threshold": float(t), "max_steps": 1e6})  # fmt: skip
    return pd.DataFrame(rows)


def test_more_seeds_for_smaller_effects_and_the_pilot_detects_its_own_detectable_ratio():
    rng = np.random.default_rng(6)
    runs = _pilot({"ja": math.log(0.8) + rng.normal(0, 0.15, 10)})
    table = planning.plan(runs, "none", effects=(0.1, 0.3), comparisons=1)
    small, large = table["seeds_needed"]
    assert small > large >= 6  # 2/2**5 > 0.05: an exact test needs at least 6 seeds
    pool = planning.pilot_pools(runs, "none")["m"]
    detectable = table["detectable_ratio"].iloc[0]
    assert planning.seeds_for(pool, math.log(detectable), 0.05) in (9, 10, 11)


def test_the_pool_is_the_pilots_residuals_widened_for_its_few_seeds():
    d = np.array([0.1, -0.2, 0.05, 0.3, -0.1, 0.0, 0.2, -0.05, 0.15, -0.3])
    pool = planning.pilot_pools(_pilot({"ja": d - 0.2}), "none")["m"]
    # the condition's own shift is removed: the residuals of d - 0.2 are d's
    widen = math.sqrt(10 / 9) * math.sqrt(9 / planning.stats.chi2.ppf(0.4, 9))
    from harness.stats.signed_rank import hodges_lehmann

    np.testing.assert_allclose(np.sort(pool.residuals), np.sort((d - hodges_lehmann(d)) * widen))


def test_heavier_tails_in_the_pilot_ask_for_more_seeds():
    rng = np.random.default_rng(2)
    normal = rng.normal(0, 0.2, (3, 10))
    wild = normal.copy()
    wild[:, 0] = [1.5, -1.2, 1.0]  # one wild seed per condition
    seeds = [
        planning.plan(_pilot({f"c{i}": x[i] for i in range(3)}), "none", effects=(0.2,))
        ["seeds_needed"].iloc[0]
        for x in (normal, wild)
    ]  # fmt: skip
    assert seeds[1] > seeds[0]


def test_a_pilot_without_spread_is_refused():
    runs = _pilot({"again": np.zeros(6)})
    with pytest.raises(planning.PlanningError, match="no spread over 6 pairs"):
        planning.plan(runs, "none")
