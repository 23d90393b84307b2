"""Speaker-level inference for scores averaged over speaker *pairs* (the
across-speaker ABX error, and the attunement built from it).

An across-speaker ABX cell takes A and B from one speaker and X from
another, so the score is a sum over ordered speaker pairs of their shares
(the probe's ``<metric>/pairs`` detail, an S x S matrix per run). Splitting
each pair's share between its two speakers gives additive per-speaker parts,
but those parts are not independent: speaker s's part and speaker t's part
both hold the (s, t) pair. A standard error that treats them as independent
(:func:`harness.stats.speakers.crossed`) is too small when the condition's
effect is speaker-specific: 35.5 % false "differs" at p < 0.05 in the null
simulation (400 suites), 4.0 % over the pairs (docs/report.md, "ABX over
speaker pairs").

:func:`pair_crossed` keeps the pair structure and resamples speakers, not
pairs. The score of a language block is a sum over its ordered pairs, so a
U-statistic of degree 2 over its speakers (kernel: the two orders of a pair
added). Its speaker variance is estimated without bias
(:func:`unbiased_parts`): Hoeffding's decomposition splits a pair's kernel into
its two speakers' effects and the pair's own term; the spread of the speakers'
row sums estimates the first (with some of the second), the residual of an
additive fit of the pairs the second, and the two are combined as
Var = S (S - 1)^2 sigma_1^2 + S (S - 1) / 2 sigma_p^2 for the sum (sigma_1^2:
the variance of a speaker's effect, sigma_p^2: of a pair's own term). The
delete-one-speaker jackknife (:func:`jackknife_parts`, Arvesen 1969) gets
the first term right but counts the second 2 (S - 1) / (S - 2) times (2.5
times at 6 speakers: Efron and Stein 1981's upward bias), which made the test
conservative (0.5 % "differs" with no effect, power 34 % where the unbiased
variance has 44 %: docs/report.md, "ABX over speaker pairs"); it stays as
``variance="jackknife"`` and is what a block of 3 speakers gets (too few
pairs to estimate the pair term). The seed part is the spread of the per-seed
sums, and their shared residual is counted once, as in
:func:`harness.stats.speakers.crossed` (Clark's quasi-F), with
Satterthwaite's degrees of freedom, each language block a term of its own.
Seeds stay paired: callers pass per-seed differences of two conditions.
"""

from __future__ import annotations

import numpy as np

from harness.stats.speakers import Crossed, crossed


def as_matrices(rows: np.ndarray, n_speakers: int) -> np.ndarray:
    """(runs, S * S) row-major pair details as (runs, S, S)."""
    x = np.asarray(rows, dtype=float)
    if x.ndim != 2 or x.shape[1] != n_speakers * n_speakers:
        raise ValueError(
            f"pair details must hold {n_speakers} x {n_speakers} values per run, "
            f"got shape {x.shape}"
        )
    return x.reshape(len(x), n_speakers, n_speakers)


def _blocks(strata: np.ndarray) -> list[np.ndarray]:
    """The speaker indices of each stratum (language), in sorted stratum order."""
    return [np.flatnonzero(strata == h) for h in np.unique(strata)]


def _block(matrix: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The block of ``matrix`` over ``members``, its diagonal zeroed."""
    block = matrix[np.ix_(members, members)].copy()
    np.fill_diagonal(block, 0.0)
    return block


def _row_spread(block: np.ndarray) -> float:
    """The sum of squared deviations of the speakers' row-plus-column sums
    (each speaker's kernel row sum) from their mean."""
    involving = block.sum(axis=0) + block.sum(axis=1)
    return float(np.sum((involving - involving.mean()) ** 2))


def jackknife_parts(matrix: np.ndarray, strata: np.ndarray) -> list[tuple[float, int]]:
    """Per stratum (language) whose block is not all zero, the delete-one-speaker
    jackknife variance of the sum of the block's off-diagonal entries of
    ``matrix`` (S x S) and its degrees of freedom (the block's speakers - 1).

    Deleting speaker i of a block of S_h speakers leaves (S_h - 1)(S_h - 2) of
    its S_h (S_h - 1) pairs; the remaining sum is scaled back by S_h / (S_h - 2),
    so a deleted sum differs from the others' by that factor times the
    difference of the speakers' row-plus-column sums.
    """
    return [(_jackknife(block), block.shape[0] - 1) for block in _live_blocks(matrix, strata)]


def _live_blocks(matrix: np.ndarray, strata: np.ndarray) -> list[np.ndarray]:
    """The blocks of the strata with at least 3 speakers and a pair that is not zero."""
    blocks = (_block(matrix, members) for members in _blocks(np.asarray(strata)))
    return [block for block in blocks if block.shape[0] >= 3 and np.any(block)]


def _jackknife(block: np.ndarray) -> float:
    """The delete-one-speaker jackknife variance of a block's pair sum."""
    size = block.shape[0]
    return (size - 1) * size / (size - 2) ** 2 * _row_spread(block)


def pair_residual(block: np.ndarray) -> float:
    """The residual sum of squares of the kernel (``block + block.T`` over the
    unordered pairs) after the least-squares fit of an effect per speaker,
    kernel(s, t) ~ a_s + a_t: the total sum of squares about the mean less
    the speakers' share, the row spread over (S - 2) (complete design)."""
    size = block.shape[0]
    kernel = (block + block.T)[np.triu_indices(size, k=1)]
    total = float(np.sum((kernel - kernel.mean()) ** 2))
    return max(total - _row_spread(block) / (size - 2), 0.0)


def unbiased_parts(
    matrix: np.ndarray, strata: np.ndarray, truncate: bool = True
) -> list[tuple[float, float]]:
    """Per stratum whose block is not all zero, the unbiased variance of the
    block's pair sum over the sampling of its speakers, and its
    Satterthwaite degrees of freedom (module doc).

    With S speakers, D the row spread (:func:`_row_spread`) and Q the pair
    residual (:func:`pair_residual`, S (S - 3) / 2 degrees of freedom, its
    expectation S (S - 3) / 2 times sigma_p^2), the jackknife is
    S (S - 1) D / (S - 2)^2, whose expectation exceeds the variance by
    S^2 (S - 1) / (2 (S - 2)) sigma_p^2; S (S - 1) Q / ((S - 2)(S - 3)) estimates
    that and is removed. When the kernel is additive in the speakers (Q = 0)
    it is the jackknife. A block of 3 speakers keeps the jackknife; with
    ``truncate`` a negative estimate is 0 (a variance; the residual of
    :func:`pair_crossed` keeps its sign).
    """
    parts: list[tuple[float, float]] = []
    for block in _live_blocks(matrix, strata):
        size = block.shape[0]
        jack = _jackknife(block)
        if size == 3:
            parts.append((jack, 2.0))
            continue
        second = size * (size - 1) / ((size - 2) * (size - 3)) * pair_residual(block)
        var = jack - second
        if truncate and var <= 0:
            parts.append((0.0, float(size - 1)))
            continue
        df = var**2 / (jack**2 / (size - 1) + second**2 / (size * (size - 3) / 2))
        parts.append((var, float(df)))
    return parts


def jackknife_variance(matrix: np.ndarray, strata: np.ndarray) -> tuple[float, int]:
    """The stratified jackknife variance of the within-stratum pair sum (the
    blocks' variances added) and its degrees of freedom (speakers - strata,
    over the blocks that are not all zero); :func:`jackknife_parts` per block."""
    parts = jackknife_parts(matrix, strata)
    return sum(v for v, _ in parts), sum(d for _, d in parts)


def _speaker_parts(
    matrix: np.ndarray, strata: np.ndarray, variance: str, truncate: bool = True
) -> list:
    if variance == "unbiased":
        return unbiased_parts(matrix, strata, truncate)
    if variance == "jackknife":
        return jackknife_parts(matrix, strata)
    raise ValueError(f"variance must be 'unbiased' or 'jackknife', got {variance!r}")


def variance_terms(
    values: np.ndarray, strata: np.ndarray, variance: str = "unbiased"
) -> tuple[float, list, float]:
    """The three terms of :func:`pair_crossed`'s variance of the seed-averaged
    pair sum of ``values`` (seeds, S, S): the seeds' (the variance of the
    per-seed sums over the seeds), the speakers' per language block (variance,
    degrees of freedom) of the seed-averaged matrix (an unbiased one may be
    negative: it is not truncated), and the residual
    seed-by-pair variation that both of them hold (the speaker variance of
    each seed's deviation from the mean, over seeds (seeds - 1))."""
    x = np.asarray(values, dtype=float)
    n = x.shape[0]
    totals = x.sum(axis=(1, 2))
    mean = x.mean(axis=0)
    blocks = _speaker_parts(mean, strata, variance, False)
    if n < 2:
        return 0.0, blocks, 0.0
    resid = [_speaker_parts(m - mean, strata, variance, False) for m in x]
    v_err = sum(v for parts in resid for v, _ in parts) / ((n - 1) * n)
    return float(totals.var(ddof=1)) / n, blocks, v_err


def pair_crossed(values: np.ndarray, strata: np.ndarray, variance: str = "unbiased") -> Crossed:
    """``values`` (seeds, S, S): per seed, each ordered speaker pair's share of
    a score (or of a paired difference); the seed-averaged sum over pairs with
    a standard error that counts seeds and speakers as sampled, speakers
    resampled with their pairs (module doc; ``variance``: ``"unbiased"``, or
    ``"jackknife"``, the test before). The sum of the terms
    (:func:`variance_terms`) is floored at the seeds' term alone: the
    speakers' component is truncated at 0. (The jackknife's test floors at the
    larger of the seeds' and the speakers' terms alone, as
    :func:`harness.stats.speakers.crossed` does; with the unbiased variance,
    whose few degrees of freedom that floor would carry into most tests, it
    cost power: docs/report.md.) Each language block's variance
    is its own term of Satterthwaite's degrees of freedom, so a block of few
    speakers that carries most of the variance (an attunement's foreign side)
    gets few degrees of freedom, not the other block's."""
    x = np.asarray(values, dtype=float)
    strata = np.asarray(strata)
    n = x.shape[0]
    estimate = float(x.sum(axis=(1, 2)).mean())
    if not np.isfinite(x).all():
        return Crossed(estimate, np.nan, np.nan)
    v_rows, blocks, v_err = variance_terms(x, strata, variance)
    if not blocks:
        return Crossed(estimate, np.nan, np.nan)
    v_cols, df_cols = sum(v for v, _ in blocks), sum(d for _, d in blocks)
    combined = v_rows + v_cols - v_err  # the residual is in both terms: count it once
    if n < 2 and combined < 0:  # one seed, a negative speaker estimate: no variance
        return Crossed(estimate, np.nan, np.nan)
    parts = [(v_rows, n - 1), *blocks, (-v_err, (n - 1) * df_cols)]
    # the floor: the seeds' term (the speakers' component truncated at 0); the
    # jackknife's test kept its own, the larger of seeds and speakers alone
    floor = max(v_rows, v_cols) if variance == "jackknife" else v_rows
    if combined < floor:
        combined = floor
        use_blocks = variance == "jackknife" and v_cols >= v_rows
        parts = blocks if use_blocks else [(v_rows, n - 1)]
    denom = sum(v**2 / d for v, d in parts if d > 0)
    df = combined**2 / denom if denom > 0 else np.inf
    return Crossed(estimate, float(np.sqrt(combined)), float(df))


def speaker_test(
    contributions: np.ndarray,
    pairs: np.ndarray | None,
    strata: np.ndarray,
    variance: str = "unbiased",
) -> Crossed:
    """The speaker-level test of a score or paired difference: over its pair
    shares (seeds, S, S) where the probe gave them, else over its per-speaker
    parts (seeds, S) with :func:`harness.stats.speakers.crossed`."""
    if pairs is not None:
        return pair_crossed(pairs, strata, variance)
    return crossed(contributions, strata)
