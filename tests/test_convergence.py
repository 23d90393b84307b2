"""Paired and permutation tests of time to threshold: known answers, exactness,
censored pairs, the automatic choice of design, detectable effects."""

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.stats import convergence, permutation, survival

MP_EVENTS = [6, 6, 6, 7, 10, 13, 16, 22, 23]
MP_CENSORED = [6, 9, 10, 11, 17, 19, 20, 25, 32, 32, 34, 35]
PLACEBO = [1, 1, 2, 2, 3, 4, 4, 5, 5, 8, 8, 8, 8, 11, 11, 12, 12, 15, 17, 22, 23]


def test_sign_flip_is_scipys_exact_permutation_test():
    d = np.random.default_rng(1).normal(0.2, 0.3, 9)
    ours = permutation.sign_flip(d)
    theirs = stats.permutation_test(
        (d,), np.mean, permutation_type="samples", n_resamples=np.inf
    ).pvalue
    assert ours.exact and ours.n_permutations == 2**9
    assert ours.p_value == pytest.approx(theirs, rel=1e-12)


def test_sign_flip_p_is_never_below_what_the_arrangements_allow():
    # 10 seeds all faster: the most extreme of 1024 sign vectors, and its mirror
    assert permutation.sign_flip(np.full(10, -0.3)).p_value == pytest.approx(2 / 1024)
    many = permutation.sign_flip(np.full(20, -0.3), n_resamples=999)
    assert not many.exact and many.p_value == pytest.approx(1 / 1000)
    # no difference at all (an A/A suite of identical runs): p = 1
    assert permutation.sign_flip(np.zeros(10)).p_value == 1.0


def test_sign_flip_ci_inverts_the_test():
    d = np.random.default_rng(2).normal(-0.3, 0.2, 10)
    low, high = permutation.sign_flip_ci(d)
    assert low < d.mean() < high
    # at each limit the shifted test sits at the 5% boundary
    for edge in (low, high):
        inside = permutation.sign_flip(d - edge - np.sign(d.mean() - edge) * 1e-6).p_value
        outside = permutation.sign_flip(d - edge + np.sign(d.mean() - edge) * 1e-6).p_value
        assert inside > 0.05 >= outside
    # with 5 pairs the smallest two-sided p is 2/32 > 0.05: no interval can exclude anything
    assert permutation.sign_flip_ci(d[:5]) == (-math.inf, math.inf)


def test_blocked_permutation_detects_a_within_seed_shift_a_pooled_test_misses():
    rng = np.random.default_rng(3)
    seed_effect = rng.normal(0, 1.0, (10, 1))  # large: seeds differ much more than conditions
    table = seed_effect + rng.normal(0, 0.1, (10, 3))
    table[:, 1] -= 0.2
    assert permutation.blocked_permutation(table).p_value < 0.01
    pooled = stats.f_oneway(*table.T).pvalue  # ignores the blocks
    assert pooled > 0.5
    null = permutation.blocked_permutation(seed_effect + rng.normal(0, 0.1, (10, 3)))
    assert null.p_value > 0.05


def test_blocked_permutation_is_exact_for_few_blocks():
    table = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    test = permutation.blocked_permutation(table)
    # 36 arrangements; the observed order (and its 5 rotations of the same
    # pattern in both rows) is the most extreme: 6 of 36
    assert test.exact and test.n_permutations == 36
    assert test.p_value == pytest.approx(6 / 36)


def test_permutation_logrank_statistic_is_the_asymptotic_one():
    t = np.r_[MP_EVENTS, MP_CENSORED, PLACEBO].astype(float)
    e = np.r_[[True] * 9, [False] * 12, [True] * 21]
    g = np.r_[[0] * 21, [1] * 21]
    test = permutation.logrank_permutation(t, e, g, n_resamples=1999)
    chi2, _, _ = survival.logrank_k(t, e, g)
    z, _ = survival.logrank(t[:21], e[:21], t[21:], e[21:])
    assert test.statistic == pytest.approx(chi2, rel=1e-9)
    assert test.statistic == pytest.approx(z**2, rel=1e-9)
    assert test.p_value == pytest.approx(1 / 2000)  # nothing as extreme in 1999
    three = permutation.logrank_permutation(
        [1, 3, 2, 4, 5, 6], [1, 1, 1, 1, 1, 0], ["A", "A", "B", "B", "C", "C"]
    )
    # 90 distinct labellings of 2+2+2 runs, all enumerated; asymptotic p is 0.10
    assert three.exact and three.n_permutations == 90
    assert three.statistic == pytest.approx(survival.logrank_k(
        [1, 3, 2, 4, 5, 6], [1, 1, 1, 1, 1, 0], ["A", "A", "B", "B", "C", "C"]
    )[0])  # fmt: skip
    assert three.p_value > 0.2


def _runs(control, condition, events_control=None, events=None, max_steps=200, seeds=None):
    n = len(control)
    seeds = list(range(n)) if seeds is None else seeds
    rows = []
    for name, times, events_, seed_list in (
        ("none", control, events_control, list(range(n))),
        ("ja", condition, events, seeds),
    ):
        for i, t in enumerate(times):
            reached = True if events_ is None else events_[i]
            rows.append({
                "model": "m", "condition": name, "seed": seed_list[i],
                "status": "reached" if reached else "censored", "event": reached,
                "steps_to_threshold": float(t), "seconds_to_threshold": float(t) / 10,
                "max_steps": float(max_steps),
            })  # fmt: skip
    return pd.DataFrame(rows)


def test_paired_comparison_uses_the_pairs():
    rng = np.random.default_rng(4)
    base = 100 * np.exp(rng.normal(0, 0.5, 10))  # seeds differ a lot
    runs = _runs(base, base * 0.8 * np.exp(rng.normal(0, 0.05, 10)))
    row = convergence.vs_control(runs, "none", measures=["steps"]).iloc[0]
    assert row["design"] == "paired" and row["n_pairs"] == 10
    assert row["p_value"] == pytest.approx(2 / 1024)
    assert row["time_ratio_ci_low"] < row["time_ratio"] < row["time_ratio_ci_high"] < 1
    assert row["time_ratio"] == pytest.approx(0.8, abs=0.05)
    assert 0.85 < row["detectable_ratio"] < 1  # tiny spread of log ratios: small changes visible
    # the same numbers as independent samples: the seed spread swamps a 20% effect
    unpaired = convergence.vs_control(
        _runs(base, base * 0.8 * np.exp(rng.normal(0, 0.05, 10)), seeds=list(range(10, 20))),
        "none", measures=["steps"],
    ).iloc[0]  # fmt: skip
    assert unpaired["design"] == "unpaired" and unpaired["n_pairs"] == 0
    assert unpaired["p_value"] > 0.05 and unpaired["detectable_ratio"] < 0.6


def test_a_censored_pair_still_counts():
    control = [200.0] * 8  # every control run censored at the budget
    condition = [120.0] * 8
    runs = _runs(control, condition, events_control=[False] * 8, events=[True] * 8)
    row = convergence.vs_control(runs, "none", measures=["steps"]).iloc[0]
    assert row["p_value"] == pytest.approx(2 / 256)
    assert row["time_ratio"] == pytest.approx(0.6)  # a bound: the true ratio is smaller
    both = _runs(control, control, events_control=[False] * 8, events=[False] * 8)
    assert convergence.vs_control(both, "none", measures=["steps"]).iloc[0]["p_value"] == 1.0


def test_a_crossing_at_step_zero_is_not_minus_infinity():
    runs = _runs([50.0, 60.0, 40.0, 55.0], [0.0, 25.0, 25.0, 30.0])
    row = convergence.vs_control(runs, "none", measures=["steps"]).iloc[0]
    assert np.isfinite(row["time_ratio"]) and np.isfinite(row["p_value"])


def test_overall_chooses_the_design():
    rng = np.random.default_rng(5)
    base = 100 * np.exp(rng.normal(0, 0.5, 8))
    runs = pd.concat([
        _runs(base, base * 0.7),
        _runs(base, base * 1.0).query("condition == 'ja'").assign(condition="it"),
    ])  # fmt: skip
    row = convergence.overall(runs, measures=["steps"], n_resamples=1999).iloc[0]
    assert row["design"] == "paired" and row["k"] == 3 and row["n"] == 24
    assert row["p_value"] < 0.01


def test_is_paired():
    assert convergence.is_paired(range(10), range(10))
    assert convergence.is_paired(range(10), range(1, 10))  # one failed run
    assert not convergence.is_paired(range(10), range(10, 20))
    assert not convergence.is_paired([0], [0])


def test_detectable_and_seeds_needed_agree():
    sd, n = 0.2, 10
    delta = convergence.detectable_log_ratio(sd, n, 0.05)
    needed = convergence.seeds_needed(sd, delta)
    assert needed in (n, n + 1)  # the t approximation and the noncentral t agree
    assert convergence.seeds_needed(sd, delta / 2) > 3 * n
    # no spread: every seed shows the effect, and only the exact test's floor
    # 2 / 2**n <= 0.05 decides (6 seeds); no effect needs no seeds at all
    assert convergence.seeds_needed(0.0, 0.1) == 6
    assert convergence.seeds_needed(0.2, 0.0) is None


@pytest.mark.slow
def test_an_a_a_suite_makes_no_claim(tmp_path_factory):
    """One condition under two names: the same seeds give the same runs, so
    every paired log ratio is 0 and nothing is claimed, while the report
    still says what the design could have seen."""
    from harness.report import sentences
    from harness.stats.analysis import analyse
    from harness.testing import run_tiny_suite

    results = run_tiny_suite(
        tmp_path_factory.mktemp("aa"),
        conditions=[{"name": "none"}, {"name": "none-again", "label": "no pretraining, again"}],
        control="none",
        seeds=[0, 1, 2, 3, 4, 5],
        target={"threshold": 0.95, "max_steps": 40, "eval_every": 5},
        cache_dir=tmp_path_factory.getbasetemp() / "harness-cache",
    )
    runs = results.runs.sort_values(["condition", "seed"])
    a, b = (
        runs[runs["condition"] == c]["steps_to_threshold"].to_numpy()
        for c in ("none", "none-again")
    )
    np.testing.assert_array_equal(a, b)
    analysis = analyse(results, n_resamples=499, km_resamples=99)
    steps = analysis.convergence_vs_control.query("measure == 'steps'").iloc[0]
    assert steps["design"] == "paired" and steps["time_ratio"] == 1.0
    assert steps["p_value"] == 1.0
    # every per-seed ratio is 1: the exact CI shrinks onto it (to the bisection's precision)
    assert steps["time_ratio_ci_low"] == pytest.approx(1.0, abs=1e-6)
    assert steps["time_ratio_ci_high"] == pytest.approx(1.0, abs=1e-6)
    text = " ".join(sentences.headline_sentences(results, analysis))
    # six identical pairs: the two one-sided tests show the ratio inside ±10%
    assert bool(steps["equivalent"]) and steps["p_equivalence"] == pytest.approx(1 / 64)
    assert "no change in learning speed larger than ±10%" in text
    assert "sooner" not in text and "later" not in text


def test_censored_pairs_never_count_towards_equivalence():
    """Pairs censored on both sides read as a zero difference for the
    difference test, but as "anything" for the equivalence test: eight such
    pairs and four equal ones cannot show equivalence, while twelve equal
    pairs that reached can."""
    import pandas as pd

    from harness.stats.paired import censored_bounds, paired_fields

    def pairs(censored: int, reached: int) -> pd.DataFrame:
        event = [False] * censored + [True] * reached
        d = [0.0] * censored + list(np.linspace(-0.01, 0.01, reached))
        return pd.DataFrame({"d": d, "event_": event, "event__c": event})

    shown, _ = paired_fields(pairs(0, 12), 999, 0)
    assert shown["p_equivalence"] < 0.05 and 0.9 < shown["equivalence_ci_low"] < 1
    hidden, _ = paired_fields(pairs(8, 4), 999, 0)
    assert hidden["p_equivalence"] > 0.5
    assert hidden["equivalence_ci_low"] == 0.0 and hidden["equivalence_ci_high"] == math.inf
    # one side censored bounds the ratio on one side only
    one = pd.DataFrame({"d": [0.2, -0.3], "event_": [False, True], "event__c": [True, False]})
    low, high = censored_bounds(one)
    assert low[0] == 0.2 and high[0] > 10 and low[1] < -10 and high[1] == -0.3
