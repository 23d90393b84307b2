"""Speaker-level inference for scores averaged over speaker *pairs* (the
across-speaker ABX error, and the attunement built from it).

An across-speaker ABX cell takes A and B from one speaker and X from
another, so the score is a sum over ordered speaker pairs of their shares
(the probe's ``<metric>/pairs`` detail, an S x S matrix per run). Splitting
each pair's share between its two speakers gives additive per-speaker parts,
but those parts are not independent: speaker s's part and speaker t's part
both hold the (s, t) pair. A standard error that treats them as independent
(:func:`harness.stats.speakers.crossed`) is too small when the condition's
effect is speaker-specific: 31 % false "differs" at p < 0.05 in the null
simulation, 3 % over the pairs (docs/report.md, "ABX over speaker pairs").

:func:`pair_crossed` keeps the pair structure and resamples speakers, not
pairs: the speaker part of the variance is the delete-one-speaker jackknife
of the pair sum (dropping a speaker drops every pair that holds it, and the
language block it belongs to is rescaled to its full number of pairs), the
jackknife of a U-statistic (Arvesen 1969), stratified by language; the seed
part is the spread of the per-seed sums, and their shared residual is
counted once, as in :func:`harness.stats.speakers.crossed` (Clark's
quasi-F), with Satterthwaite's degrees of freedom, each language block a
term of its own. Seeds stay paired:
callers pass per-seed differences of two conditions.
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


def jackknife_parts(matrix: np.ndarray, strata: np.ndarray) -> list[tuple[float, int]]:
    """Per stratum (language) whose block is not all zero, the delete-one-speaker
    jackknife variance of the sum of the block's off-diagonal entries of
    ``matrix`` (S x S) and its degrees of freedom (the block's speakers - 1).

    Deleting speaker i of a block of S_h speakers leaves (S_h - 1)(S_h - 2) of
    its S_h (S_h - 1) pairs; the remaining sum is scaled back by S_h / (S_h - 2),
    so a deleted sum differs from the others' by that factor times the
    difference of the speakers' row-plus-column sums.
    """
    parts = []
    for members in _blocks(np.asarray(strata)):
        size = members.size
        block = matrix[np.ix_(members, members)].copy()
        np.fill_diagonal(block, 0.0)
        if size < 3 or not np.any(block):
            continue
        involving = block.sum(axis=0) + block.sum(axis=1)
        factor = size / (size - 2)
        var = (size - 1) / size * factor**2 * float(np.sum((involving - involving.mean()) ** 2))
        parts.append((var, size - 1))
    return parts


def jackknife_variance(matrix: np.ndarray, strata: np.ndarray) -> tuple[float, int]:
    """The stratified jackknife variance of the within-stratum pair sum (the
    blocks' variances added) and its degrees of freedom (speakers - strata,
    over the blocks that are not all zero); :func:`jackknife_parts` per block."""
    parts = jackknife_parts(matrix, strata)
    return sum(v for v, _ in parts), sum(d for _, d in parts)


def pair_crossed(values: np.ndarray, strata: np.ndarray) -> Crossed:
    """``values`` (seeds, S, S): per seed, each ordered speaker pair's share of
    a score (or of a paired difference); the seed-averaged sum over pairs with
    a standard error that counts seeds and speakers as sampled, speakers
    resampled with their pairs (module doc). Each language block's jackknife
    is its own term of Satterthwaite's degrees of freedom, so a block of few
    speakers that carries most of the variance (an attunement's foreign side)
    gets few degrees of freedom, not the other block's."""
    x = np.asarray(values, dtype=float)
    strata = np.asarray(strata)
    n = x.shape[0]
    totals = x.sum(axis=(1, 2))
    estimate = float(totals.mean())
    mean = x.mean(axis=0)
    blocks = jackknife_parts(mean, strata)
    v_cols, df_cols = sum(v for v, _ in blocks), sum(d for _, d in blocks)
    if df_cols < 1 or not np.isfinite(x).all():
        return Crossed(estimate, np.nan, np.nan)
    v_rows = float(totals.var(ddof=1)) / n if n > 1 else 0.0
    # the residual seed-by-speaker variation is in both parts above: count it once
    v_err = sum(jackknife_variance(m - mean, strata)[0] for m in x) / ((n - 1) * n) if n > 1 else 0
    combined = v_rows + v_cols - v_err
    parts = [(v_rows, n - 1), *blocks, (-v_err, (n - 1) * df_cols)]
    if combined < max(v_rows, v_cols):  # the floor: the larger of seeds and speakers alone
        combined = max(v_rows, v_cols)
        parts = [(v_rows, n - 1)] if v_rows > v_cols else blocks
    denom = sum(v**2 / d for v, d in parts if d > 0)
    df = combined**2 / denom if denom > 0 else np.inf
    return Crossed(estimate, float(np.sqrt(combined)), float(df))


def speaker_test(
    contributions: np.ndarray, pairs: np.ndarray | None, strata: np.ndarray
) -> Crossed:
    """The speaker-level test of a score or paired difference: over its pair
    shares (seeds, S, S) where the probe gave them, else over its per-speaker
    parts (seeds, S) with :func:`harness.stats.speakers.crossed`."""
    if pairs is not None:
        return pair_crossed(pairs, strata)
    return crossed(contributions, strata)
