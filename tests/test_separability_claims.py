"""The rules behind the separability claims: equivalence against the control
(two one-sided tests, seeds and speakers as sampled), one Holm family per
claim with the baseline counted once, one rule for "above chance", detectable
differences at Holm's first step, and relabellings enough for the family."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.report.separation import _chance_baseline_sentence, _no_difference, floor_reason
from harness.stats import separability as sep
from harness.stats import speakers as spk
from harness.stats.multiple import holm

STRATA = np.repeat(["es", "it", "ja", "en"], 10)


def test_equivalence_p_is_two_one_sided_tests_and_the_90_ci_inside_the_margin():
    for estimate, se, df in [(0.01, 0.01, 20), (0.03, 0.01, 8), (-0.04, 0.02, 30), (0.0, 0.04, 5)]:
        test = spk.Crossed(estimate, se, df)
        p = test.equivalence_p(0.05)
        lower = stats.t.sf((estimate + 0.05) / se, df)
        upper = stats.t.sf((0.05 - estimate) / se, df)
        assert p == pytest.approx(max(lower, upper))
        low, high = test.ci(0.90)
        assert (p < 0.05) == (low > -0.05 and high < 0.05)
    assert spk.Crossed(0.01, 0.0, 10).equivalence_p(0.05) == 0.0
    assert spk.Crossed(0.06, 0.0, 10).equivalence_p(0.05) == 1.0
    assert np.isnan(spk.Crossed(0.01, np.nan, np.nan).equivalence_p(0.05))


def _paired(rng, shift):
    """Paired differences (10 seeds x 40 speakers) whose true sum over
    speakers is ``shift``: seed, speaker and residual noise (SE about 0.012)."""
    return (
        shift / STRATA.size
        + rng.normal(0.0, 0.0008, (10, 1))
        + rng.normal(0.0, 0.001, (1, STRATA.size))
        + rng.normal(0.0, 0.003, (10, STRATA.size))
    )


def test_equivalence_is_shown_about_5_percent_of_the_time_when_the_difference_is_the_margin():
    rng = np.random.default_rng(21)
    margin = 0.05
    at_margin = [
        spk.crossed(_paired(rng, margin), STRATA).equivalence_p(margin) for _ in range(400)
    ]
    # a wrong "equivalent": 5% nominal; 400 replications, Monte Carlo SD about 1.1%
    assert 0.02 <= np.mean(np.array(at_margin) < 0.05) <= 0.08
    # the same noise with no difference: shown equivalent in most suites
    none = [spk.crossed(_paired(rng, 0.0), STRATA).equivalence_p(margin) for _ in range(100)]
    assert np.mean(np.array(none) < 0.05) >= 0.8


def test_conditions_against_the_control_carry_the_equivalence_test(results):
    vs = sep.separability_vs_control(results, results.control)
    tested = vs[vs["inference"] != "none"]
    assert (tested["margin"] == results.design.equivalence_score).all()
    assert (tested["equivalent"] == (tested["p_equivalence_holm"] < 0.05)).all()
    assert (tested["p_equivalence_holm"] >= tested["p_equivalence"]).all()
    # the 90% interval lies inside the 95% one
    assert (tested["equivalence_ci_low"] >= tested["difference_ci_low"]).all()
    assert (tested["equivalence_ci_high"] <= tested["difference_ci_high"]).all()
    shown = tested["equivalence_ci_low"].gt(-tested["margin"]) & tested["equivalence_ci_high"].lt(
        tested["margin"]
    )
    assert (shown | ~tested["equivalent"]).all()  # equivalent only with the CI inside
    # a change whose 95% CI lies beyond the margin is never "equivalent"; a
    # clear change inside the margin may be both (a difference, but a small one)
    beyond = tested["difference_ci_low"].gt(tested["margin"])
    beyond |= tested["difference_ci_high"].lt(-tested["margin"])
    assert beyond.any() and not tested.loc[beyond, "equivalent"].any()


def test_a_detectable_difference_is_planned_at_holms_first_step():
    tests = [spk.Crossed(0.01, 0.01, 20), spk.Crossed(0.0, 0.02, 12), spk.Crossed(0.0, 0.01, 9)]
    frame = pd.DataFrame(
        {
            "model": "m",
            "probe": "ridge",
            "metric": "acc",
            "p_value": [0.3, 0.9, np.nan],  # the third test did not run: not in the family
            sep._TEST: tests,
            sep._RANGE: sep._Range(0.0, 1.0),
        }
    )
    detectable = sep._detectable_in_family(frame, "p_value")
    assert detectable[0] == pytest.approx(tests[0].detectable(0.05 / 2))
    assert detectable[1] == pytest.approx(tests[1].detectable(0.05 / 2))
    assert detectable[0] > tests[0].detectable(0.05)  # wider than an uncorrected test's
    t = stats.t.ppf
    assert tests[0].detectable(0.025) == pytest.approx((t(1 - 0.0125, 20) + t(0.8, 20)) * 0.01)


def _summary(n_model_rows: int, n_conditions: int, p_model: float, p_base: float, k: int):
    """A vs-chance table of one family: model rows and the baseline shown
    under each condition (the same test each time)."""
    rows = []
    for c in range(n_conditions):
        rows.append({"condition": f"c{c}", "latent_space": "features", "is_baseline": True,
                     "n": 10, "mean": 0.8, "p_vs_chance": p_base})  # fmt: skip
        for s in range(n_model_rows // n_conditions):
            rows.append({"condition": f"c{c}", "latent_space": f"space{s}", "is_baseline": False,
                         "n": 10, "mean": 0.3, "p_vs_chance": p_model})  # fmt: skip
    frame = pd.DataFrame(rows).assign(model="m", probe="ridge", metric="acc", n_relabellings=k)
    return sep._closed_out(frame.assign(p_vs_baseline=np.nan).reindex(
        columns=[*sep.SUMMARY_COLUMNS]).fillna({"n_relabellings": k}))  # fmt: skip


def test_the_baseline_counts_once_in_the_family_against_chance():
    out = _summary(n_model_rows=6, n_conditions=6, p_model=0.2, p_base=0.001, k=999)
    base = out[out["is_baseline"]]
    # 6 model spaces and one baseline test: m = 7, not 12
    assert base["p_vs_chance_holm"].nunique() == 1
    assert base["p_vs_chance_holm"].iloc[0] == pytest.approx(7 * 0.001)
    expected = holm([0.001] + [0.2] * 6)
    assert out.loc[~out["is_baseline"], "p_vs_chance_holm"].iloc[0] == pytest.approx(expected[1])
    assert np.allclose(out["min_p_vs_chance_holm"], 7 / 1000)


def test_above_chance_is_one_rule_the_holm_corrected_permutation_p(results):
    summary = sep.separability_summary(results)
    assert (summary["above_chance"] == (summary["p_vs_chance_holm"] < 0.05)).all()
    # where the rule differs from a CI rule, the test decides (a CI is a description)
    out = _summary(n_model_rows=2, n_conditions=1, p_model=0.001, p_base=0.001, k=999)
    assert out["above_chance"].all() and out["diff_vs_chance_ci_low"].isna().all()


def test_too_few_relabellings_for_the_family_are_named_with_the_number_needed():
    # 60 tests with 1000 relabellings: every p at its smallest, 1/1001, still
    # gives a Holm p of 60/1001 > 0.05, so nothing can be shown above chance
    out = _summary(n_model_rows=59, n_conditions=59, p_model=1 / 1001, p_base=1 / 1001, k=1000)
    assert not out["above_chance"].any()
    assert np.allclose(out["min_p_vs_chance_holm"], 60 / 1001)
    assert (out["relabellings_needed"] == 1200).all()
    assert 60 / (1200 + 1) < 0.05 <= 60 / (1199 + 1)  # the fewest that allow a claim
    rows = out.assign(inference="speakers", chance=0.25, baseline_mean=np.nan,
                      ci_low=0.2, ci_high=0.3, baseline_above_chance=False)  # fmt: skip
    said = _chance_baseline_sentence(rows, "LSTM", "ridge", "accuracy", None, "")
    assert "with 1000 relabellings no space in this family could be shown above chance" in said
    assert "n_permutations to at least 1200" in said
    # enough relabellings: no such clause
    enough = _summary(n_model_rows=4, n_conditions=4, p_model=0.5, p_base=0.001, k=1000)
    rows = enough.assign(inference="speakers", chance=0.25, baseline_mean=np.nan,
                         ci_low=0.2, ci_high=0.3, baseline_above_chance=False)  # fmt: skip
    assert "relabellings" not in _chance_baseline_sentence(rows, "L", "r", "a", None, "")


def test_the_details_say_equivalent_only_when_shown_and_never_above_a_floor():
    cond = pd.DataFrame({"detectable_difference": [0.02, 0.03], "margin": 0.05,
                         "equivalence_ci_low": [-0.01, -0.02], "equivalence_ci_high": [0.02, 0.04],
                         "equivalent": [True, True]})  # fmt: skip
    assert _no_difference(cond).startswith("equivalent within ±0.05 in every latent space")
    unshown = _no_difference(cond.assign(equivalent=[True, False]))
    assert unshown.startswith("could not be told apart in any of 2 latent spaces")
    assert "±0.020 to ±0.030" in unshown and "equivalence within ±0.05 not shown" in unshown
    floor = _no_difference(cond, "the latent spaces are at chance in every condition")
    assert "a floor" in floor and "equivalent within" not in floor
    table = pd.DataFrame({"inference": "speakers", "is_baseline": [True, False, False],
                          "above_chance": [True, False, False]})  # fmt: skip
    assert "at chance in every condition" in floor_reason(table)
    assert "sensitivity" in floor_reason(table.assign(above_chance=[False, True, True]))
    assert floor_reason(table.assign(above_chance=True)) == ""


def test_a_family_without_a_baseline_is_corrected_as_it_stands():
    out = _summary(n_model_rows=3, n_conditions=1, p_model=0.01, p_base=0.5, k=999)
    alone = sep._closed_out(out[~out["is_baseline"]].reset_index(drop=True))
    assert np.allclose(alone["p_vs_chance_holm"], 0.03)
    assert (alone["relabellings_needed"] == 60).all()
