"""Speaker-level inference for scores averaged over speaker pairs
(harness.stats.abx_pairs): the jackknife against its definition, the
unbiased speaker variance against a case worked by hand, the jackknife and
the sampling of speakers, and the level of the test when a condition's effect
is speaker-specific."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from harness.stats.abx_pairs import (
    as_matrices,
    jackknife_parts,
    jackknife_variance,
    pair_crossed,
    pair_residual,
    speaker_test,
    unbiased_parts,
)
from harness.stats.speakers import crossed


def _brute_jackknife(matrix: np.ndarray, strata: np.ndarray) -> float:
    """Delete each speaker, recompute each language block's mean pair share
    times its full number of pairs, and take the stratified jackknife variance."""
    total = 0.0
    for h in np.unique(strata):
        members = list(np.flatnonzero(strata == h))
        size = len(members)

        def block_sum(keep: list[int], size: int = size) -> float:
            values = [matrix[s, t] for s in keep for t in keep if s != t]
            return float(np.mean(values)) * size * (size - 1)

        deleted = np.array([block_sum([m for m in members if m != i]) for i in members])
        total += (size - 1) / size * float(np.sum((deleted - deleted.mean()) ** 2))
    return total


def test_the_jackknife_matches_deleting_each_speaker():
    rng = np.random.default_rng(0)
    strata = np.array(["a"] * 5 + ["b"] * 4)
    matrix = rng.normal(size=(9, 9))
    same = strata[:, None] == strata[None, :]
    matrix[~same] = 0.0
    np.fill_diagonal(matrix, 0.0)
    var, df = jackknife_variance(matrix, strata)
    assert var == pytest.approx(_brute_jackknife(matrix, strata), rel=1e-12)
    assert df == 4 + 3


def test_one_seed_gives_the_speaker_variance_and_the_estimate_is_the_pair_sum():
    rng = np.random.default_rng(1)
    strata = np.zeros(6)
    x = rng.normal(size=(1, 6, 6)) * (1 - np.eye(6))
    test = pair_crossed(x, strata, variance="jackknife")
    assert test.estimate == pytest.approx(x.sum())
    assert test.se == pytest.approx(np.sqrt(jackknife_variance(x[0], strata)[0]))
    assert test.df == 5
    [(var, df)] = unbiased_parts(x[0], strata)
    assert 0 < var < jackknife_variance(x[0], strata)[0]
    unbiased = pair_crossed(x, strata)
    assert unbiased.estimate == test.estimate
    assert (unbiased.se, unbiased.df) == pytest.approx((np.sqrt(var), df))


def test_the_unbiased_variance_of_a_case_worked_by_hand():
    """Four speakers, one pair (0, 1) of share 1, the rest 0. Row-plus-column
    sums 1, 1, 0, 0: spread D = 1, jackknife 4 * 3 / 2^2 * D = 3. Kernel mean
    1/6, its sum of squares 25/36 + 5/36 = 5/6, less the speakers' D / 2: pair
    residual Q = 1/3, the pair term 4 * 3 / (2 * 1) * Q = 2. Variance 3 - 2 = 1,
    degrees of freedom 1 / (3^2 / 3 + 2^2 / 2) = 1/5."""
    matrix = np.zeros((4, 4))
    matrix[0, 1] = 1.0
    strata = np.zeros(4)
    assert jackknife_variance(matrix, strata) == (pytest.approx(3.0), 3)
    assert pair_residual(matrix) == pytest.approx(1 / 3)
    [(var, df)] = unbiased_parts(matrix, strata)
    assert (var, df) == (pytest.approx(1.0), pytest.approx(0.2))


def test_the_pair_residual_is_that_of_a_least_squares_fit_of_the_speakers():
    rng = np.random.default_rng(7)
    block = rng.normal(size=(6, 6)) * (1 - np.eye(6))
    pairs = np.array(np.triu_indices(6, k=1)).T
    design = np.zeros((len(pairs), 6))
    design[np.arange(len(pairs)), pairs[:, 0]] = 1.0
    design[np.arange(len(pairs)), pairs[:, 1]] = 1.0
    kernel = block[pairs[:, 0], pairs[:, 1]] + block[pairs[:, 1], pairs[:, 0]]
    fit = design @ np.linalg.lstsq(design, kernel, rcond=None)[0]
    assert pair_residual(block) == pytest.approx(float(np.sum((kernel - fit) ** 2)))


def test_without_a_pair_term_the_unbiased_variance_is_the_jackknife():
    """Shares additive in the speakers (A-B speaker's effect plus X speaker's)
    leave no pair term to remove, per language block."""
    rng = np.random.default_rng(8)
    strata = np.array(["a"] * 5 + ["b"] * 4)
    matrix = rng.normal(size=(9, 1)) + rng.normal(size=(1, 9))
    same = strata[:, None] == strata[None, :]
    matrix[~same] = 0.0
    unbiased = [v for v, _ in unbiased_parts(matrix, strata)]
    assert unbiased == pytest.approx([v for v, _ in jackknife_parts(matrix, strata)], rel=1e-9)


def test_over_draws_of_speakers_the_unbiased_variance_is_the_variance_and_the_jackknife_is_not():
    """Shares a_s + b_t + e_st, speaker effects of variance 1 each and pair
    terms of variance 4, 6 speakers: the pair sum's variance is
    6 * 5^2 * 2 + 15 * 8 = 420 (module doc); the jackknife expects 600."""
    rng = np.random.default_rng(9)
    draws, size = 4000, 6
    strata = np.zeros(size)
    off = 1 - np.eye(size)
    x = (
        rng.normal(size=(draws, size, 1))
        + rng.normal(size=(draws, 1, size))
        + 2.0 * rng.normal(size=(draws, size, size))
    ) * off
    totals = x.sum(axis=(1, 2))
    unbiased = np.mean([unbiased_parts(m, strata, truncate=False)[0][0] for m in x])
    jack = np.mean([jackknife_variance(m, strata)[0] for m in x])
    assert totals.var() == pytest.approx(420, rel=0.08)
    assert unbiased == pytest.approx(420, rel=0.06)
    assert jack == pytest.approx(600, rel=0.06)


def test_pair_details_are_read_row_major():
    flat = np.arange(2 * 9).reshape(2, 9)
    assert as_matrices(flat, 3)[1, 0, 2] == 11
    with pytest.raises(ValueError, match="3 x 3"):
        as_matrices(flat[:, :8], 3)


def test_without_pairs_the_test_is_the_per_speaker_one():
    rng = np.random.default_rng(2)
    parts = rng.normal(size=(4, 6))
    strata = np.zeros(6)
    assert speaker_test(parts, None, strata) == crossed(parts, strata)


def _speaker_specific_null(rng: np.random.Generator, seeds: int, speakers: int) -> np.ndarray:
    """(seeds, S, S) paired differences of pair shares with no effect in the
    population of speakers: each speaker's effect is +1 or -1 at random, a
    pair's effect the mean of its two speakers', plus seed and cell noise."""
    effect = rng.choice([-1.0, 1.0], size=speakers)
    pair = (effect[:, None] + effect[None, :]) / 2
    x = (
        pair[None]
        + 0.3 * rng.normal(size=(seeds, 1, 1))
        + rng.normal(size=(seeds, speakers, speakers))
    )
    return x * (1 - np.eye(speakers))[None]


def test_a_speaker_specific_effect_is_not_called_a_difference_more_than_five_percent():
    """The per-speaker parts (each pair's share split between its speakers)
    are correlated; treating them as independent calls a speaker-specific
    effect a difference far above the 5% level, resampling speakers with their
    pairs does not."""
    rng = np.random.default_rng(3)
    seeds, speakers, suites = 10, 8, 400
    strata = np.zeros(speakers)
    pairs_hits = parts_hits = 0
    for _ in range(suites):
        x = _speaker_specific_null(rng, seeds, speakers)
        parts = (x.sum(axis=2) + x.sum(axis=1)) / 2
        pairs_hits += pair_crossed(x, strata).p_value() < 0.05
        parts_hits += crossed(parts, strata).p_value() < 0.05
    assert pairs_hits / suites <= 0.05 + 2 * np.sqrt(0.05 * 0.95 / suites)
    assert parts_hits / suites > 0.10  # the old test's failure, so this one can fail


def test_a_real_effect_is_found():
    rng = np.random.default_rng(4)
    strata = np.zeros(8)
    hits = 0
    for _ in range(100):
        x = _speaker_specific_null(rng, 10, 8) + 1.0 * (1 - np.eye(8))[None]
        hits += pair_crossed(x, strata).p_value() < 0.05
    assert hits >= 50


def test_when_seeds_carry_the_variance_the_pair_test_is_the_paired_t_test_over_seeds():
    """A heavy-tailed effect of whole runs (the same in every pair of a seed)
    and nothing speaker-specific: Satterthwaite's degrees of freedom credit
    the speakers nothing, so the test is the one-sample t-test on the per-seed
    sums (df seeds - 1), the reading of the heavy-tailed null in docs/report.md."""
    rng = np.random.default_rng(5)
    seeds, strata = 10, np.array(["a"] * 6 + ["b"] * 6)
    seed_effect = rng.standard_t(2, size=seeds)
    x = seed_effect[:, None, None] + 1e-4 * rng.normal(size=(seeds, 12, 12))
    x *= (1 - np.eye(12))[None]
    test = pair_crossed(x, strata)
    totals = x.sum(axis=(1, 2))
    assert test.df == pytest.approx(seeds - 1, rel=1e-3)
    assert test.se == pytest.approx(totals.std(ddof=1) / np.sqrt(seeds), rel=1e-3)
    assert test.p_value() == pytest.approx(stats.ttest_1samp(totals, 0.0).pvalue, rel=1e-3)


def test_speakers_add_degrees_of_freedom_only_when_they_carry_variance():
    """The same seeds plus a speaker effect as large: the SE grows and the
    degrees of freedom rise above the seeds' alone, bounded by the two terms'
    together (seeds - 1 plus speakers - languages)."""
    rng = np.random.default_rng(6)
    seeds, strata = 10, np.array(["a"] * 6 + ["b"] * 6)
    x = rng.normal(size=(seeds, 1, 1)) + 1e-4 * rng.normal(size=(seeds, 12, 12))
    x *= (1 - np.eye(12))[None]
    alone = pair_crossed(x, strata)
    effect = rng.normal(size=12)
    both = pair_crossed(x + (effect[:, None] + effect[None, :]) * (1 - np.eye(12)), strata)
    assert both.se > alone.se
    assert seeds - 1 + 3 < both.df <= seeds - 1 + 12 - 2


def test_with_pair_noise_alone_the_standard_error_is_nearer_the_spread_than_the_jackknifes():
    """Independent noise in every pair of every seed and nothing else: the
    seed-averaged sum over 8 speakers' 56 pairs has SD sqrt(56 / 10) = 2.37.
    The jackknife's test counts the noise 2 * 7 / 6 times in the speakers'
    term, which its floor then uses (SE about 1.5 times the spread); the
    unbiased one is left above it only by the truncation of a speaker
    component estimated as noise."""
    rng = np.random.default_rng(10)
    strata, estimates, unbiased, jackknife = np.zeros(8), [], [], []
    for _ in range(300):
        x = rng.normal(size=(10, 8, 8)) * (1 - np.eye(8))[None]
        test = pair_crossed(x, strata)
        estimates.append(test.estimate)
        unbiased.append(test.se)
        jackknife.append(pair_crossed(x, strata, variance="jackknife").se)
    spread = np.std(estimates, ddof=1)
    assert np.sqrt(np.mean(np.square(unbiased))) / spread < 1.3
    assert np.sqrt(np.mean(np.square(jackknife))) / spread > 1.4


def test_an_unknown_speaker_variance_is_refused():
    with pytest.raises(ValueError, match="'unbiased' or 'jackknife'"):
        pair_crossed(np.zeros((2, 4, 4)) + 1.0, np.zeros(4), variance="bootstrap")


def test_one_seed_with_a_negative_speaker_estimate_gives_no_test():
    """Speakers 0 and 1 share 1 in both orders, speakers 2 and 3 likewise:
    the row sums are equal (no speaker effect: jackknife 0) and the pair
    terms are all there is, so the unbiased speaker variance is negative;
    with one seed there is no other term to fall back on."""
    matrix = np.zeros((4, 4))
    matrix[0, 1] = matrix[1, 0] = matrix[2, 3] = matrix[3, 2] = 1.0
    [(var, _)] = unbiased_parts(matrix, np.zeros(4), truncate=False)
    assert var < 0
    test = pair_crossed(matrix[None], np.zeros(4))
    assert np.isnan(test.se) and np.isnan(test.p_value())
