"""The exact signed-rank test, its Hodges-Lehmann shift, CI and equivalence
test: known answers (scipy, brute-force enumeration) and the duality of test
and interval."""

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from harness.stats import signed_rank as sr


def _brute_p(d: np.ndarray) -> float:
    """Two-sided p by enumerating every sign vector of the mid-ranks."""
    doubled = sr.doubled_ranks(d)[0]
    grid = np.array(list(itertools.product((1.0, -1.0), repeat=d.size)))
    null = np.abs(grid @ np.abs(doubled))
    return float(np.mean(null >= abs(doubled.sum()) - 1e-9))


@pytest.mark.parametrize("n", [5, 8, 11, 14])
def test_signed_rank_is_scipys_exact_wilcoxon_without_ties(n):
    d = np.random.default_rng(n).normal(0.3, 1.0, n)
    assert sr.signed_rank(d).p_value == pytest.approx(stats.wilcoxon(d, method="exact").pvalue)
    one = stats.wilcoxon(d, method="exact", alternative="greater").pvalue
    assert sr.signed_rank_p(d[None, :], "greater")[0] == pytest.approx(one)


def test_ties_and_zeros_get_mid_ranks_and_are_dropped_exactly():
    d = np.array([0.0, 0.0, 0.1, -0.1, 0.1, 0.2, 0.2, 0.2, -0.3, 0.4, 0.5, 0.05])
    assert sr.signed_rank(d).p_value == pytest.approx(_brute_p(d))
    assert sr.signed_rank(np.zeros(10)).p_value == 1.0
    # ten seeds all one way: the smallest p the arrangements allow
    assert sr.signed_rank(np.full(10, -0.3)).p_value == pytest.approx(2 / 1024)


def test_hodges_lehmann_is_the_median_of_walsh_averages():
    d = np.array([0.1, -0.2, 0.4, 0.3, 2.0])
    walsh = [(d[i] + d[j]) / 2 for i in range(5) for j in range(i, 5)]
    assert sr.hodges_lehmann(d) == pytest.approx(np.median(walsh))
    # one wild seed moves the mean far more than the estimate
    assert abs(sr.hodges_lehmann(d) - 0.3) < abs(d.mean() - 0.3)


def test_the_interval_is_the_shifts_the_test_does_not_reject():
    d = np.random.default_rng(3).normal(-0.2, 0.3, 12)
    ci95, ci90 = sr.shift_intervals(d, (0.95, 0.90))
    assert ci95.low < ci90.low < sr.hodges_lehmann(d) < ci90.high < ci95.high
    for inside, alpha in (
        (ci95.low + 1e-6, 0.05),
        (ci95.high - 1e-6, 0.05),
        (ci90.low + 1e-6, 0.1),
    ):
        assert sr.signed_rank_p((d - inside)[None, :])[0] > alpha
    for outside in (ci95.low - 1e-6, ci95.high + 1e-6):
        assert sr.signed_rank_p((d - outside)[None, :])[0] <= 0.05
    # five pairs: no arrangement reaches 5%, so no shift is rejected
    few = sr.shift_intervals(d[:5], (0.95,))[0]
    assert few.low == -math.inf and few.high == math.inf


def test_equivalence_is_the_90_percent_interval_inside_the_margin():
    rng = np.random.default_rng(4)
    margin = math.log(1.1)
    for centre, sd in ((0.0, 0.02), (0.0, 0.2), (0.08, 0.02), (0.2, 0.05)):
        d = rng.normal(centre, sd, 10)
        ci = sr.shift_intervals(d, (0.90,))[0]
        inside = -margin < ci.low and ci.high < margin
        assert (sr.equivalence_p(d, margin) <= 0.05) == inside


def test_normal_power_is_the_level_at_no_shift_and_rises_with_it():
    assert sr.normal_power(0.0, 1.0, 12, 0.05) == pytest.approx(0.05, abs=0.015)
    powers = [sr.normal_power(s, 1.0, 12, 0.05) for s in (0.2, 0.5, 1.0)]
    assert powers == sorted(powers) and powers[-1] > 0.8
    assert sr.normal_power(5.0, 1.0, 5, 0.05) == 0.0  # 2/2**5 > 0.05
