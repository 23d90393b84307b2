"""Time to threshold as survival data: known answers, censoring, diverged and failed runs."""

import math

import numpy as np
import pandas as pd
import pytest

from harness.stats import convergence, survival
from harness.stats.multiple import holm

# Freireich et al. (1963) remission times in weeks, the classic example of
# Kleinbaum & Klein, "Survival Analysis: A Self-Learning Text" (ch. 2) and Collett.
# 6-MP: 9 relapses and 12 censored; placebo: 21 relapses.
MP_EVENTS = [6, 6, 6, 7, 10, 13, 16, 22, 23]
MP_CENSORED = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def _mp():
    time = np.array(MP_EVENTS + MP_CENSORED, dtype=float)
    event = np.array([True] * len(MP_EVENTS) + [False] * len(MP_CENSORED))
    return time, event


def test_kaplan_meier_matches_the_textbook_6mp_table():
    km = survival.kaplan_meier(*_mp())
    # the textbook's KM column at the 6-MP relapse times
    expected = {6: 0.857, 7: 0.807, 10: 0.753, 13: 0.690, 16: 0.627, 22: 0.538, 23: 0.448}
    for t, s in expected.items():
        assert km.at(t) == pytest.approx(s, abs=5e-4), t
    assert km.at(5.9) == 1.0
    assert km.median == 23  # first time S <= 0.5
    assert km.n == 21 and km.events == 9


def test_kaplan_meier_band_is_greenwood_log_log():
    km = survival.kaplan_meier(*_mp())
    # by hand at t = 6: S = 18/21, Greenwood sum = 3 / (21 * 18);
    # se of log(-log S) = sqrt(sum) / |log S|; band = S ** exp(-/+ 1.96 se)
    s = 18 / 21
    se = math.sqrt(3 / (21 * 18)) / abs(math.log(s))
    z = 1.959964
    i = int(np.flatnonzero(km.time == 6)[0])
    assert km.ci_low[i] == pytest.approx(s ** math.exp(z * se), rel=1e-5)
    assert km.ci_high[i] == pytest.approx(s ** math.exp(-z * se), rel=1e-5)


def test_median_ci_is_read_off_the_band():
    km = survival.kaplan_meier(*_mp())
    # lower band: 0.503 at t = 11, 0.432 at t = 13; the upper band never falls to 0.5
    assert km.median_ci == (13.0, math.inf)
    placebo = survival.kaplan_meier(PLACEBO, [True] * len(PLACEBO))
    assert placebo.median == 8
    low, high = placebo.median_ci
    assert low <= 8 <= high and math.isfinite(high)


def test_logrank_matches_the_textbook_chi_square():
    t, e = _mp()
    z, p = survival.logrank(t, e, PLACEBO, [True] * len(PLACEBO))
    assert z**2 == pytest.approx(16.79, abs=0.005)  # Kleinbaum & Klein: log-rank 16.79
    assert z < 0  # 6-MP relapses later than expected: fewer events
    assert p == pytest.approx(4.17e-5, rel=0.01)
    chi2, df, p_k = survival.logrank_k(
        np.r_[t, PLACEBO], np.r_[e, [True] * len(PLACEBO)], ["mp"] * 21 + ["placebo"] * 21
    )
    assert df == 1
    assert chi2 == pytest.approx(z**2, rel=1e-9)
    assert p_k == pytest.approx(p, rel=1e-6)


def test_k_sample_logrank_against_a_hand_computation():
    # three groups, five event times; at each: E_j = n_j d / n and
    # V_jk = d (n - d) / (n - 1) * n_j / n * (delta_jk - n_k / n), summed by hand:
    # O - E = (73/60, 41/60) for A, B; V = [[2051, -913], [-913, 3139]] / 3600
    time = [1, 3, 2, 4, 5, 6]
    event = [True, True, True, True, True, False]
    group = ["A", "A", "B", "B", "C", "C"]
    chi2, df, p = survival.logrank_k(time, event, group)
    u = np.array([73 / 60, 41 / 60])
    v = np.array([[2051, -913], [-913, 3139]]) / 3600
    assert df == 2
    assert chi2 == pytest.approx(float(u @ np.linalg.solve(v, u)), rel=1e-9)
    assert p == pytest.approx(math.exp(-chi2 / 2), rel=1e-9)  # chi-square sf with 2 df


def test_censored_runs_are_neither_dropped_nor_counted_as_events():
    # three runs crossed; five were still above the threshold when the budget ended
    time = np.array([100, 200, 300, 600, 600, 600, 600, 600], dtype=float)
    event = np.array([True, True, True, False, False, False, False, False])
    km = survival.kaplan_meier(time, event)
    assert km.events == 3 and km.n == 8
    assert math.isinf(km.median)  # fewer than half crossed: no median within the budget
    dropped = survival.kaplan_meier(time[event], event[event])
    as_events = survival.kaplan_meier(time, np.ones(8, bool))
    assert dropped.median == 200  # what dropping would wrongly claim
    assert as_events.median == 600  # what counting the budget as a crossing would claim
    assert km.at(300) == pytest.approx(5 / 8)


def test_rmst_is_the_area_under_the_curve():
    km = survival.kaplan_meier([100, 200], [True, True])
    assert km.rmst(300) == pytest.approx(100 + 0.5 * 100)
    assert km.rmst(150) == pytest.approx(100 + 0.5 * 50)
    diff, low, high = survival.rmst_difference(
        np.array([100.0, 120, 140]),
        np.ones(3, bool),
        np.array([300.0, 320, 340]),
        np.ones(3, bool),
        tau=400,
        n_resamples=199,
    )
    assert diff == pytest.approx(120 - 320)
    assert low <= diff <= high < 0


def test_holm_known_values_and_untestable_entries():
    adjusted = holm([0.01, 0.04, 0.03, np.nan])
    # sorted 0.01, 0.03, 0.04 times 3, 2, 1 -> 0.03, 0.06, 0.04 -> monotone 0.03, 0.06, 0.06
    np.testing.assert_allclose(adjusted[:3], [0.03, 0.06, 0.06])
    assert np.isnan(adjusted[3])


def test_run_table_times_and_events(results):
    runs = results.runs
    censored = runs[runs["status"] == "censored"]
    assert len(censored) and not censored["event"].any()
    assert (censored["steps_to_threshold"] == censored["max_steps"]).all()
    reached = runs[runs["status"] == "reached"]
    assert reached["event"].all()
    assert (reached["steps_to_threshold"] == reached["recorded_steps"]).all()
    # a diverged run never crosses: it stays at risk to the end of the budget
    diverged = runs[runs["status"] == "diverged"].iloc[0]
    assert not bool(diverged["event"])
    assert diverged["diverged_step"] == diverged["recorded_steps"] < diverged["steps_to_threshold"]
    assert diverged["steps_to_threshold"] == diverged["max_steps"]
    same_model = runs[(runs["model"] == diverged["model"]) & runs["status"].ne("failed")]
    assert diverged["seconds_to_threshold"] == same_model["seconds_to_threshold"].max()
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert pd.isna(failed["event"]) and pd.isna(failed["steps_to_threshold"])


def test_summary_counts_every_run(results):
    summary = survival.survival_summary(results.runs)
    steps = summary[summary["measure"] == "steps"]
    runs = results.runs
    analysable = runs[runs["status"] != "failed"]
    assert steps["n_runs"].sum() == len(analysable)
    assert steps["n_censored"].sum() == (runs["status"] == "censored").sum()
    assert steps["n_diverged"].sum() == (runs["status"] == "diverged").sum() == 1
    assert steps["n_failed"].sum() == (runs["status"] == "failed").sum() == 1
    assert (steps["median_ci_low"] <= steps["median"]).all()
    assert (steps["median"] <= steps["median_ci_high"]).all()


def test_comparisons_find_the_planted_effect_only(results):
    tests = convergence.vs_control(results.runs, results.control, n_resamples=999, km_resamples=199)
    steps = tests[tests["measure"] == "steps"].set_index(["model", "condition"])
    for model in ("lstm", "conv_ae"):
        fast = steps.loc[(model, "ja_lowpass")]
        assert fast["design"] == "paired"
        assert fast["p_holm"] < 0.05 and fast["time_ratio"] < 1 and fast["rmst_difference"] < 0
        assert fast["time_ratio_ci_high"] < 1 and fast["median_ratio"] < 1
        assert steps.loc[(model, "ja_full"), "p_holm"] > 0.05
    assert (steps["p_holm"] >= steps["p_value"]).all()
    overall = convergence.overall(results.runs, n_resamples=999)
    assert set(overall["k"]) == {3} and set(overall["design"]) == {"paired"}


def test_learning_curve_band_is_a_t_interval():
    curves = pd.DataFrame(
        {
            "run_id": ["a", "b", "a", "b"],
            "condition": "c",
            "model": "m",
            "seed": [0, 1, 0, 1],
            "status": "reached",
            "step": [0, 0, 25, 25],
            "train_loss": np.nan,
            "heldout_loss": [1.0, 3.0, 0.5, np.nan],
            "seconds": 0.0,
        }
    )
    lc = survival.learning_curves(curves).set_index("step")
    assert lc.loc[0, "n"] == 2 and lc.loc[0, "mean"] == 2.0
    half = 12.7062047 * math.sqrt(2) / math.sqrt(2)  # t(0.975, 1 df) * sd / sqrt(n)
    assert lc.loc[0, "ci_high"] == pytest.approx(2.0 + half, rel=1e-6)
    assert lc.loc[25, "n"] == 1 and np.isnan(lc.loc[25, "ci_low"])


def test_k_sample_logrank_is_undefined_not_a_crash_when_variance_is_singular():
    # every run of every group crossed at the same step: nothing to compare
    chi2, df, p = survival.logrank_k(
        [10, 10, 10, 10, 10, 10], [1] * 6, ["a", "a", "b", "b", "c", "c"]
    )
    assert df == 2 and np.isnan(chi2) and np.isnan(p)


def test_the_rmst_of_many_resamples_at_once_equals_each_one_alone():
    from harness.stats.survival import _rmst, rmst_of_resamples

    rng = np.random.default_rng(3)
    for _ in range(100):
        n = int(rng.integers(2, 15))
        # a coarse grid: tied crossings, and censorings at crossing times
        time = rng.choice(np.arange(0, 60, 5), n).astype(float)
        event = rng.random(n) < 0.7
        tau = float(rng.choice([30, 50, 60, 100]))
        index = rng.integers(0, n, (20, n))
        expected = [_rmst(time[i], event[i], tau) for i in index]
        np.testing.assert_allclose(rmst_of_resamples(time, event, index, tau), expected, atol=1e-9)
