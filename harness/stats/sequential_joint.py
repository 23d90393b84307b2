"""The joint null of the signed-rank tests at a schedule's looks, and the
repeated p-value it gives (the ``"joint-pocock"`` rule of
:mod:`harness.stats.sequential`).

Alpha spending with a union bound over the looks pays for every look as if
it saw new data, although look ``k + 1`` shares all but ``step`` of its
seeds with look ``k``. Under the null of a comparison (its per-seed log
ratios symmetric about 0, or about ``±margin`` for a side of the equivalence
test) the signs of the pairs are fair coins independent of the order of
their magnitudes, and that order is a uniformly random permutation; so with
no ties the joint law of the signed-rank statistics at all the looks is the
same for every distribution, and can be drawn once per schedule
(:func:`min_p_null`: signs and magnitudes drawn, each look's statistic on its
first ``n`` pairs, the exact p of each, and their minimum ``M`` over the
looks).

Pocock's boundary is one nominal level at every look. Its *repeated p-value*
is ``q(p) = P(M <= p)``: a comparison whose nominal p at some look is ``p``
has ``q(p)``, and ``P(q <= gamma at any look) = P(M <= nu(gamma)) <= gamma``
(``nu`` the largest level with that probability), the probability integral
transform of ``M``. Holm's procedure on ``q`` at each look, every comparison
of the family included, then keeps the family-wise level over all the looks
by the same argument as with spending (:mod:`harness.stats.sequential`), with
no union bound over the looks. Ties, zero differences and censored pairs make
the joint law only approximately the drawn one (each look's own p stays
exact); ``bench/bench_sequential.py`` measures the error rates with them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

#: draws of the joint null per schedule; ``q`` is a Monte Carlo p-value,
#: ``(count + 1) / (draws + 1)``, so a level of 0.05 / 20 still has ~250
#: draws below it
DRAWS = 100_000
#: the draws are made in chunks of this many (memory: chunk x max floats)
CHUNK = 25_000
TWO_SIDED, ONE_SIDED = "two-sided", "one-sided"


@lru_cache(maxsize=16)
def min_p_null(looks: tuple[int, ...], sided: str, draws: int = DRAWS) -> np.ndarray:
    """The minimum over ``looks`` of the exact signed-rank p (``sided``: the
    two-sided p of the difference test, or the one-sided upper p of an
    equivalence side), sorted, in ``draws`` draws of the no-ties null. Fixed
    seed: the same schedule always gets the same boundary."""
    rng = np.random.default_rng(20_260_031)
    tails = {n: _upper_tail(n) for n in looks}
    out = [_min_p(rng, looks, tails, sided, min(CHUNK, draws - start))
           for start in range(0, draws, CHUNK)]  # fmt: skip
    return np.sort(np.concatenate(out))


def _upper_tail(n: int) -> np.ndarray:
    """``P(S >= k)`` for ``k = -T..T`` (index ``k + T``, ``T = n(n+1)/2``) of
    the signed-rank statistic ``S = sum_i s_i r_i`` of ``n`` untied pairs."""
    return exact_upper_tail(np.arange(1, n + 1))


def exact_upper_tail(a: np.ndarray) -> np.ndarray:
    """``P(S >= k)`` for ``k = -total..total`` (index ``k + total``) of ``S =
    sum_i s_i a_i`` over fair signs ``s`` (``a``: nonnegative integers).
    Counted through ``T``, the sum of the ``a_i`` signed +1 (``S = 2 T -
    total``): each value adds itself to the counts of the sums before it."""
    a = np.asarray(a, dtype=np.int64)
    total = int(np.sum(a))
    counts = np.zeros(total + 1)
    counts[0] = 1.0
    for value in a[a > 0].tolist():
        counts[value:] += counts[:-value].copy()
    mass = counts / counts.sum()  # 2**(nonzero entries): a zero carries no sign
    upper_t = np.cumsum(mass[::-1])[::-1]
    # S >= k  <=>  T >= ceil((k + total) / 2)
    return upper_t[(np.arange(2 * total + 1) + 1) // 2]


def _min_p(rng: np.random.Generator, looks: tuple[int, ...],
           tails: dict[int, np.ndarray], sided: str, size: int) -> np.ndarray:  # fmt: skip
    """One chunk of :func:`min_p_null`. The statistic is updated pair by pair:
    a new pair's rank is one more than the smaller magnitudes before it, and
    each larger one before it moves up a rank (adding its sign to ``S``)."""
    top = looks[-1]
    magnitude = rng.random((size, top))
    sign = rng.integers(0, 2, (size, top)) * 2 - 1
    s = np.zeros(size, dtype=np.int64)
    best = np.ones(size)
    for i in range(top):
        below = magnitude[:, :i] < magnitude[:, i : i + 1]
        s += np.where(below, 0, sign[:, :i]).sum(axis=1) + sign[:, i] * (1 + below.sum(axis=1))
        n = i + 1
        if n in tails:
            upper, total = tails[n], n * (n + 1) // 2
            if sided == TWO_SIDED:
                p = np.minimum(2 * upper[np.abs(s) + total], 1.0)
                p[s == 0] = 1.0
            else:
                p = upper[s + total]
            best = np.minimum(best, p)
    return best


def repeated_p(p: np.ndarray, looks: tuple[int, ...], sided: str) -> np.ndarray:
    """``q(p) = P(M <= p)`` under the joint null of ``looks`` (NaN stays
    NaN): the nominal p of one look made valid over all of them."""
    null = min_p_null(tuple(looks), sided)
    p = np.asarray(p, dtype=float)
    # a hair of tolerance: the data's p and the drawn ones come from the same
    # exact tails, but by different sums
    count = np.searchsorted(null, np.nan_to_num(p, nan=1.0) * (1 + 1e-9), side="right")
    return np.where(np.isnan(p), np.nan, (count + 1) / (null.size + 1))


def nominal_level(gamma: float, looks: tuple[int, ...], sided: str) -> float:
    """The largest nominal p that ``q`` still takes to ``<= gamma``: the
    Pocock boundary of a single comparison at level ``gamma``."""
    null = min_p_null(tuple(looks), sided)
    index = int(np.floor(gamma * (null.size + 1))) - 1  # count + 1 <= gamma (N + 1)
    return float(null[index] * (1 - 1e-6)) if index >= 0 else 0.0
