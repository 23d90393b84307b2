"""Exact and Monte Carlo permutation tests for small samples of runs.

Each test here resamples the unit that was sampled: a seed pair (sign flips
of a within-seed difference), the conditions within one seed (a blocked
permutation), or, for designs that are not paired, the runs themselves (the
labels of runs). A p-value is the share of the null's resamples at least as
extreme as the data, the observed arrangement included, so it is never below
``1 / (number of arrangements)``: exact enumeration when the arrangements are
few enough, otherwise ``(1 + b) / (1 + B)`` over ``B`` random ones.

The log-rank scores are computed for many label arrangements at once (one
matrix product per arrangement block); :func:`harness.stats.survival.logrank`
and :func:`~harness.stats.survival.logrank_k` (scipy and statsmodels) are the
asymptotic versions these agree with.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

#: arrangements enumerated exactly when there are at most this many
EXACT_LIMIT = 2**16
#: relative tolerance under which a resampled statistic counts as a tie
_TIE = 1e-9


@dataclass(frozen=True)
class PermutationTest:
    """Outcome of one permutation test."""

    statistic: float
    p_value: float
    #: arrangements the null was computed over (observed one included)
    n_permutations: int
    exact: bool


def _p(null: np.ndarray, observed: float, exact: bool) -> float:
    extreme = int(np.sum(null >= observed - _TIE * max(abs(observed), 1.0)))
    if exact:  # the observed arrangement is one of ``null``
        return extreme / null.size
    return (1 + extreme) / (1 + null.size)


# ---------------------------------------------------------------- paired: sign flips


def _signs(n: int, n_resamples: int, rng: np.random.Generator) -> tuple[np.ndarray, bool]:
    if 2**n <= EXACT_LIMIT:
        return _sign_grid(n), True
    return rng.choice((-1.0, 1.0), size=(n_resamples, n)), False


@functools.lru_cache(maxsize=32)
def _sign_grid(n: int) -> np.ndarray:
    """All ``2**n`` sign vectors, built once per ``n`` (the test, its CI and
    the power simulation of one comparison share it); read-only."""
    grid = np.array(list(itertools.product((1.0, -1.0), repeat=n))).reshape(-1, n)
    grid.setflags(write=False)
    return grid


def sign_flip(differences: ArrayLike, n_resamples: int = 9999, seed: int = 0) -> PermutationTest:
    """Two-sided test that within-pair differences are symmetric about 0.

    Under "the two conditions are exchangeable within a seed", swapping them
    flips the sign of that seed's difference; the statistic is ``|sum d|``.
    Exact (all ``2**n`` sign vectors) up to 16 pairs.
    """
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return PermutationTest(np.nan, np.nan, 0, True)
    signs, exact = _signs(d.size, n_resamples, np.random.default_rng(seed))
    observed = float(abs(d.sum()))
    null = np.abs(signs @ d)
    p = _p(null, observed, exact)
    return PermutationTest(float(d.mean()), p, len(null) + (not exact), exact)


def sign_flip_ci(
    differences: ArrayLike,
    confidence: float = 0.95,
    n_resamples: int = 9999,
    seed: int = 0,
) -> tuple[float, float]:
    """Confidence interval for a shift ``theta`` of the differences: the
    ``theta`` whose sign-flip test of ``d - theta`` is not rejected.

    Infinite where no arrangement could reject (too few pairs: with ``n``
    pairs the smallest two-sided p is ``2 / 2**n``).
    """
    d = np.asarray(differences, dtype=float)
    alpha = 1 - confidence
    if d.size == 0:
        return -math.inf, math.inf
    signs, exact = _signs(d.size, n_resamples, np.random.default_rng(seed))
    smallest = 2 / signs.shape[0] if exact else 1 / (signs.shape[0] + 1)
    if smallest > alpha:
        return -math.inf, math.inf
    a, b = signs @ d, signs.sum(axis=1)

    def p_at(theta: float) -> float:
        observed = abs(d.sum() - d.size * theta)
        return _p(np.abs(a - b * theta), observed, exact)

    centre = float(d.mean())
    spread = float(np.ptp(d)) + float(np.std(d)) + 1.0

    def edge(direction: float) -> float:
        inside, outside = centre, centre + direction * spread
        while p_at(outside) > alpha:  # widen until rejected
            outside = centre + 2 * (outside - centre)
        for _ in range(60):  # bisect to well below any printed digit
            middle = (inside + outside) / 2
            if p_at(middle) > alpha:
                inside = middle
            else:
                outside = middle
        return inside

    return edge(-1.0), edge(1.0)


# ---------------------------------------------------------------- paired: k conditions


def blocked_permutation(
    values: ArrayLike, n_resamples: int = 9999, seed: int = 0
) -> PermutationTest:
    """Test that ``k`` conditions do not differ, from a (blocks x k) table in
    which each row is one seed (complete rows only).

    The statistic is the between-conditions sum of squares after removing
    each block's mean (a repeated-measures F numerator); the null permutes
    the conditions within each block independently.
    """
    y = np.asarray(values, dtype=float)
    if y.ndim != 2 or y.shape[0] < 1 or y.shape[1] < 2:
        return PermutationTest(np.nan, np.nan, 0, True)
    centred = y - y.mean(axis=1, keepdims=True)

    def statistic(table: np.ndarray) -> np.ndarray:
        # table: (..., blocks, k)
        means = table.mean(axis=-2)
        return (means**2).sum(axis=-1) * table.shape[-2]

    observed = float(statistic(centred))
    blocks, k = centred.shape
    total = math.factorial(k) ** blocks
    rng = np.random.default_rng(seed)
    if total <= EXACT_LIMIT:
        orders = list(itertools.permutations(range(k)))
        null = np.array(
            [
                statistic(centred[np.arange(blocks)[:, None], np.array(choice)])
                for choice in itertools.product(orders, repeat=blocks)
            ]
        )
        return PermutationTest(observed, _p(null, observed, True), total, True)
    order = np.argsort(rng.random((n_resamples, blocks, k)), axis=-1)
    shuffled = np.take_along_axis(np.broadcast_to(centred, order.shape), order, axis=-1)
    null = statistic(shuffled)
    return PermutationTest(observed, _p(null, observed, False), n_resamples + 1, False)


# ---------------------------------------------------------------- unpaired: log-rank


def _logrank_parts(
    time: np.ndarray, event: np.ndarray, labels: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Observed-minus-expected events (B, k) and their covariance (B, k, k)
    for B label arrangements (B, N) of the same runs."""
    distinct = np.unique(time[event])
    at_risk = (time[:, None] >= distinct[None, :]).astype(float)  # (N, J)
    events = ((time[:, None] == distinct[None, :]) & event[:, None]).astype(float)
    n = at_risk.sum(axis=0)  # (J,)
    d = events.sum(axis=0)
    onehot = (labels[..., None] == np.arange(k)).astype(float)  # (B, N, k)
    n_g = np.einsum("bnk,nj->bkj", onehot, at_risk)
    d_g = np.einsum("bnk,nj->bkj", onehot, events)
    share = n_g / n
    u = (d_g - d * share).sum(axis=-1)
    weight = d * (n - d) / np.maximum(n - 1, 1)
    eye = np.eye(k)[None, :, :, None]
    cov = (weight * share[:, :, None, :] * (eye - share[:, None, :, :])).sum(axis=-1)
    return u, cov


def _chi2(u: np.ndarray, cov: np.ndarray) -> np.ndarray:
    k = u.shape[-1]
    u, cov = u[:, : k - 1], cov[:, : k - 1, : k - 1]
    out = np.full(u.shape[0], np.nan)
    det = np.linalg.det(cov)
    ok = np.abs(det) > 1e-12
    if ok.any():
        out[ok] = np.einsum("bi,bi->b", u[ok], np.linalg.solve(cov[ok], u[ok][..., None])[..., 0])
    return out


def logrank_permutation(
    time: ArrayLike,
    event: ArrayLike,
    group: ArrayLike,
    n_resamples: int = 9999,
    seed: int = 0,
) -> PermutationTest:
    """Log-rank test of ``k`` groups whose null permutes the runs' group labels
    (exact conditional when the distinct arrangements are few). The statistic
    is the log-rank chi-square; with two groups it is z squared."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    names, codes = np.unique(np.asarray(group), return_inverse=True)
    k = len(names)
    if k < 2 or not e.any():
        return PermutationTest(np.nan, np.nan, 0, True)
    observed = float(_chi2(*_logrank_parts(t, e, codes[None, :], k))[0])
    if not math.isfinite(observed):
        return PermutationTest(np.nan, np.nan, 0, True)
    rng = np.random.default_rng(seed)
    arrangements = math.factorial(t.size) // math.prod(
        math.factorial(int(c)) for c in np.bincount(codes)
    )
    if arrangements <= min(EXACT_LIMIT, n_resamples + 1):
        labels = np.array(list(_arrangements(np.bincount(codes).tolist())))
        exact = True
    else:
        labels = np.array([rng.permutation(codes) for _ in range(n_resamples)])
        exact = False
    blocks = np.array_split(labels, max(1, len(labels) // 2000))
    null = np.concatenate([_chi2(*_logrank_parts(t, e, block, k)) for block in blocks])
    null = np.where(np.isfinite(null), null, 0.0)
    return PermutationTest(observed, _p(null, observed, exact), len(null) + (not exact), exact)


def _arrangements(counts: list[int]) -> Iterator[tuple[int, ...]]:
    """Every distinct sequence with ``counts[g]`` copies of label ``g``."""
    if sum(counts) == 0:
        yield ()
        return
    for label, left in enumerate(counts):
        if left:
            counts[label] -= 1
            for rest in _arrangements(counts):
                yield (label, *rest)
            counts[label] += 1


def sign_flip_power(
    shift: float, sd: float, n: int, alpha: float, n_sims: int = 400, seed: int = 0
) -> float:
    """Power of the exact two-sided sign-flip test at ``alpha`` when the ``n``
    differences are normal with mean ``shift`` and SD ``sd``, by simulation
    (the same normal draws for every ``shift``, so power rises with it)."""
    if n < 1 or 2 / 2**n > alpha:  # no arrangement can reach alpha
        return 0.0
    flips, totals, noise = _power_draws(n, n_sims, seed)
    observed = np.abs(shift * n + sd * noise.sum(axis=1))
    null = np.abs(shift * totals[:, None] + sd * flips)  # (arrangements, sims)
    p = (null >= observed - _TIE * np.maximum(observed, 1.0)).mean(axis=0)
    return float(np.mean(p <= alpha))


@functools.lru_cache(maxsize=32)
def _power_draws(n: int, n_sims: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sign vectors applied to fixed standard normal draws, kept for the
    bisections of :func:`harness.stats.convergence.detectable_log_ratio`."""
    signs, _ = _signs(n, 0, np.random.default_rng(seed))
    noise = np.random.default_rng(seed).standard_normal((n_sims, n))
    return signs @ noise.T, signs.sum(axis=1), noise
