"""The exact signed-rank test on paired differences, its Hodges-Lehmann shift
and the CI and equivalence test that invert it.

Each seed gives one difference ``d`` (a log time ratio). Under "the two
conditions are exchangeable within a seed" swapping a pair flips the sign of
its difference, so the signs of the ranks of ``|d|`` are a fair coin each: the
signed-rank statistic ``sum sign(d) rank(|d|)`` is a sign-flip statistic on
ranks. Zero differences (a pair censored on both sides, or crossing at the same
evaluation) are dropped before ranking (Wilcoxon's convention) and tied
``|d|`` (crossings on the same evaluation grid) get their mean rank, so the
statistic lives on a lattice of half-integers. Its null distribution over all
``2**n`` sign vectors is computed exactly for any ``n`` from its characteristic
function, ``prod_i cos(r_i w)``, with one inverse FFT (doubled ranks are
integers), for many samples at once: that is what keeps the power simulations
of :mod:`harness.stats.planning` fast. ``scipy.stats.wilcoxon`` with
``method="exact"`` agrees where it applies (no ties, no zeros).

The shift's estimate is the Hodges-Lehmann one, the median of the Walsh
averages ``(d_i + d_j) / 2`` (``i <= j``); the CI is every shift ``theta``
whose test of ``d - theta`` is not rejected, and the two one-sided tests of
:func:`equivalence_p` ask whether the shift lies inside ``±margin``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from harness.stats.permutation import PermutationTest

#: |d| equal to this many digits count as tied (log ratios of the same grid
#: crossings computed along different paths differ in the last bits)
_DIGITS = 9
#: up to this many nonzero differences the null is exact (2**n sign vectors,
#: counted through the FFT); the p-values' resolution is far finer than needed
EXACT_PAIRS = 60
#: cosine evaluations per block of :func:`null_tail` (memory, not accuracy)
_CHUNK = 4_000_000


def doubled_ranks(d: np.ndarray) -> np.ndarray:
    """Twice the mid-ranks of ``|d|`` over the nonzero entries of each row of
    ``d`` (samples x n), signed like ``d``; zero differences give 0."""
    d = np.atleast_2d(np.round(np.asarray(d, dtype=float), _DIGITS))
    magnitude = np.where(d == 0, np.inf, np.abs(d))
    ranks = stats.rankdata(magnitude, axis=-1)  # zeros rank last, then are removed
    return np.where(d == 0, 0.0, np.sign(d) * 2 * ranks).round()


def null_tail(doubled: np.ndarray, observed: np.ndarray) -> np.ndarray:
    """Exact upper tail ``P(S >= observed)`` of ``S = sum_i s_i |a_i|`` over
    the fair sign vectors ``s``, for each row of ``doubled`` (samples x n,
    integers) and its observed value."""
    a = np.abs(np.atleast_2d(doubled)).astype(float)
    observed = np.broadcast_to(np.asarray(observed, float), a.shape[:1])
    total = int(a.sum(axis=1).max()) if a.size else 0
    rows = max(1, _CHUNK // max(a.shape[1] * (2 * total + 1), 1))
    return (
        np.concatenate(
            [_tail(a[i : i + rows], observed[i : i + rows]) for i in range(0, len(a), rows)]
        )
        if len(a)
        else np.zeros(0)
    )


def _tail(a: np.ndarray, observed: np.ndarray) -> np.ndarray:
    upper, total = upper_tails(a)
    index = np.clip(
        np.ceil(np.asarray(observed, float) - 1e-6).astype(int) + total, 0, 2 * total + 1
    )
    padded = np.concatenate([upper, np.zeros((upper.shape[0], 1))], axis=1)
    return np.minimum(padded[np.arange(len(index)), index], 1.0)


def upper_tails(a: np.ndarray) -> tuple[np.ndarray, int]:
    """``P(S >= k)`` for every lattice point ``k = -total..total`` (column
    ``k + total``) of each row of ``a`` (samples x n, nonnegative integers)."""
    total = int(a.sum(axis=1).max()) if a.size else 0
    size = 2 * total + 1
    w = 2 * np.pi * np.arange(size) / size
    # characteristic function of S on the lattice -total..total, each sign fair
    spectrum = np.prod(np.cos(a[:, :, None] * w[None, None, :]), axis=1)
    mass = np.real(np.fft.ifft(spectrum, axis=-1))  # index k holds S = k (mod size)
    mass = np.roll(mass, total, axis=-1).clip(min=0.0)  # index k + total holds S = k
    return np.cumsum(mass[:, ::-1], axis=-1)[:, ::-1], total  # P(S >= k - total)


def signed_rank_p(d: ArrayLike, alternative: str = "two-sided") -> np.ndarray:
    """Exact p of the signed-rank test of each row of ``d`` (samples x n):
    two-sided, ``"greater"`` (shift above 0) or ``"less"``."""
    doubled = doubled_ranks(np.asarray(d, dtype=float))
    s = doubled.sum(axis=1)
    if alternative == "greater":
        return null_tail(doubled, s)
    if alternative == "less":
        return null_tail(doubled, -s)
    # the null is symmetric: P(|S| >= |s|) is twice a tail, once at s = 0
    tail = null_tail(doubled, np.abs(s))
    return np.where(s == 0, 1.0, np.minimum(2 * tail, 1.0))


def signed_rank(differences: ArrayLike) -> PermutationTest:
    """Two-sided exact signed-rank test; ``statistic`` is the Hodges-Lehmann shift."""
    d = np.asarray(differences, dtype=float)
    if d.size == 0:
        return PermutationTest(np.nan, np.nan, 0, True)
    nonzero = int(np.count_nonzero(np.round(d, _DIGITS)))
    if nonzero > EXACT_PAIRS:  # the normal limit, with the conditional variance of the ranks
        doubled = doubled_ranks(d)[0]
        z = doubled.sum() / math.sqrt(float((doubled**2).sum()))
        p = float(2 * stats.norm.sf(abs(z)))
        return PermutationTest(hodges_lehmann(d), p, 0, False)
    return PermutationTest(hodges_lehmann(d), float(signed_rank_p(d)[0]), 2**nonzero, True)


def walsh_averages(d: np.ndarray) -> np.ndarray:
    i, j = np.triu_indices(d.size)
    return (d[i] + d[j]) / 2


def hodges_lehmann(d: ArrayLike) -> float:
    """The median of the Walsh averages: the shift the signed-rank test centres on."""
    values = np.asarray(d, dtype=float)
    return float(np.median(walsh_averages(values))) if values.size else math.nan


@dataclass(frozen=True)
class ShiftInterval:
    """The shifts ``theta`` a two-sided test of ``d - theta`` does not reject at
    ``1 - confidence``; infinite where no shift could be rejected (too few pairs)."""

    low: float
    high: float


def shift_intervals(d: ArrayLike, confidences: tuple[float, ...]) -> list[ShiftInterval]:
    """Exact CIs of the shift, one per confidence level, from one pass: the
    test's p changes only where ``theta`` crosses a Walsh average, so it is
    evaluated at each and between neighbours; the bounds are Walsh averages
    (the interval's closure)."""
    values = np.asarray(d, dtype=float)
    if values.size == 0:
        return [ShiftInterval(-math.inf, math.inf) for _ in confidences]
    knots = np.unique(np.round(walsh_averages(values), 12))
    spread = float(np.ptp(values)) + 1.0
    # every knot, the midpoint of each gap, and a point beyond either end
    thetas = np.r_[knots[0] - spread, np.ravel(np.c_[knots[:-1], (knots[:-1] + knots[1:]) / 2]),
                   knots[-1], knots[-1] + spread]  # fmt: skip
    is_knot = np.r_[False, np.ravel(np.c_[np.ones(knots.size - 1, bool),
                                          np.zeros(knots.size - 1, bool)]), True, False]  # fmt: skip
    p = signed_rank_p(values[None, :] - thetas[:, None])
    out = []
    for confidence in confidences:
        kept = np.flatnonzero(p > 1 - confidence)
        if kept.size == 0:  # cannot happen for a sane level: the estimate is never rejected
            out.append(ShiftInterval(math.nan, math.nan))
            continue
        first, last = int(kept[0]), int(kept[-1])
        # a gap's midpoint kept means the whole gap is kept: its edge is the knot beyond
        low = -math.inf if first == 0 else float(thetas[first - (not is_knot[first])])
        high = math.inf if last == thetas.size - 1 else float(thetas[last + (not is_knot[last])])
        out.append(ShiftInterval(low, high))
    return out


def equivalence_p(d: ArrayLike, margin: float, high: ArrayLike | None = None) -> float:
    """Two one-sided signed-rank tests that the shift lies inside
    ``(-margin, margin)``: the larger of the p of "above ``-margin``" and of
    "below ``margin``" (small: equivalent). Where a difference is known only
    as an interval (censored runs), ``d`` holds the lower ends and ``high``
    the upper ones: each one-sided test reads the end least favourable to it,
    which can only raise its p (the statistic is monotone in each value)."""
    values = np.asarray(d, dtype=float)
    upper = values if high is None else np.asarray(high, dtype=float)
    if values.size == 0 or not margin > 0:
        return math.nan
    above = signed_rank_p((values + margin)[None, :], "greater")[0]
    below = signed_rank_p((upper - margin)[None, :], "less")[0]
    return float(max(above, below))


def signed_rank_power(draws: np.ndarray, alpha: float) -> float:
    """Share of the samples (rows of ``draws``, each n differences) whose
    two-sided exact signed-rank p is at most ``alpha``."""
    if draws.size == 0:
        return 0.0
    return float(np.mean(signed_rank_p(draws) <= alpha + 1e-12))


def normal_power(shift: float, sd: float, n: int, alpha: float, n_sims: int = 2000) -> float:
    """Power of the two-sided exact signed-rank test at ``alpha`` when the
    ``n`` differences are normal with mean ``shift`` and SD ``sd``, by
    simulation (the same draws for every ``shift``, so power rises with it;
    continuous draws have no ties, so one null serves every draw)."""
    if n < 1 or 2 / 2**n > alpha:  # no arrangement can reach alpha
        return 0.0
    noise, tail = _normal_draws(n, n_sims)
    d = shift + sd * noise
    order = np.argsort(np.abs(d), axis=1)
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, n + 1)[None, :], axis=1)
    s = np.abs((np.sign(d) * 2 * ranks).sum(axis=1)).astype(int)
    total = n * (n + 1)
    p = np.where(s == 0, 1.0, 2 * tail[np.minimum(s + total, 2 * total)])
    return float(np.mean(p <= alpha + 1e-12))


@functools.lru_cache(maxsize=64)
def _normal_draws(n: int, n_sims: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed standard normal draws and the upper tail of the statistic for
    ranks 1..n (index ``k + n(n+1)`` holds ``P(S >= k)``), cached for bisections."""
    noise = np.random.default_rng(n).standard_normal((n_sims, n))
    tail = upper_tails(2.0 * np.arange(1, n + 1)[None, :])[0][0]
    noise.setflags(write=False)
    return noise, tail
