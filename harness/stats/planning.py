"""How many seeds would a planned effect need? From a pilot's own seed pairs.

A paired comparison is decided by its per-seed log ratios (condition over
control), and real ones are not normal: a few seeds run wild, crossings tie on
the evaluation grid, some runs are censored or diverge. So the plan resamples
the pilot itself instead of a normal model. Per model, every condition's seed
pairs are pooled after removing that condition's own effect (its
Hodges-Lehmann shift), each residual scaled by ``sqrt(n / (n - 1))`` so the
pool is not narrower than the seeds it came from; a pair censored on both
sides stays a zero (an effect would not move it). The pilot's spread is
itself an estimate from few seeds, and planning on it as if it were known
under-delivers (power is concave in the seeds around 80%: a pilot that
happened to look tidy costs more than a messy one gives back), so the pool is
widened to the one-sided 60% upper confidence limit of its scale,
``sqrt(df / chi2_0.4(df))`` with ``df`` the pilot's seeds minus one (1.11 at
10 seeds; :data:`UPPER`, chosen with ``bench/bench_planning.py``). A planned suite of ``n``
seeds is then ``n`` pairs drawn with replacement, shifted by the planned log
ratio, and tested with the harness's own test (the exact signed-rank test,
:mod:`harness.stats.signed_rank`) at Holm's first-step level ``0.05 / m``;
:func:`plan` gives the smallest ``n`` whose simulated power reaches the
target, and the ratio the pilot's own design could detect. A pilot whose
pairs show no spread at all (an A/A suite: identical runs) cannot be planned
from, and :class:`PlanningError` says so. ``harness power RESULTS_DIR``
prints the table; ``bench/bench_planning.py`` checks that the advised seeds
deliver the promised power.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from harness.spec.config import ANSWER_MEASURE, EQUIVALENCE_RATIO
from harness.spec.suite_types import SeedSchedule
from harness.stats.convergence import ALPHA, POWER, is_paired, paired_log_ratios
from harness.stats.signed_rank import doubled_ranks, hodges_lehmann, null_tail
from harness.stats.survival import analysable

PLAN_COLUMNS = ["model", "measure", "conditions", "pairs", "log_ratio_sd", "df", "alpha",
                "detectable_ratio", "effect", "ratio", "seeds_needed", "sequential_seeds",
                "sequential_power"]  # fmt: skip
#: the sequential design a plan is set beside when the pilot has none of its own
DEFAULT_SCHEDULE = SeedSchedule(6, 40, 2)
#: simulated sequential suites per planned effect (expected seeds' SE about
#: 0.5 seeds; the power's 4 points at 80%)
SEQUENTIAL_SIMULATIONS = 100
#: simulated planned suites per number of seeds (the power's Monte Carlo SE
#: is 2 points at 80%)
SIMULATIONS = 400
#: the most seeds a plan searches; more is reported as "over"
LIMIT = 200
#: up to this many pairs the simulated test uses its exact null; beyond, the
#: normal limit with the ranks' own variance (ties included)
EXACT_SIMULATED = 30
#: the confidence of the upper limit of the pilot's scale the plan uses
UPPER = 0.6


class PlanningError(ValueError):
    """A pilot that cannot be planned from (its message says why)."""


@dataclass(frozen=True)
class Pool:
    """One model's resampling pool: residual log ratios, and which pairs were
    censored on both sides (they stay at 0 under any effect)."""

    residuals: np.ndarray
    frozen: np.ndarray
    conditions: int
    pairs: int
    #: the factor the residuals were widened by (the pilot's own spread is ``sd``)
    widen: float = 1.0

    @property
    def sd(self) -> float:
        """SD of the pilot's residual log ratios (pairs that can move), before widening."""
        moving = self.residuals[~self.frozen] / self.widen
        return float(np.std(moving, ddof=1)) if moving.size > 1 else math.nan

    def draw(self, shift: float, n: int, n_sims: int, seed: int) -> np.ndarray:
        """``n_sims`` planned suites of ``n`` pairs with a true log ratio ``shift``."""
        rng = np.random.default_rng([seed, n])
        pick = rng.integers(0, self.residuals.size, size=(n_sims, n))
        return np.where(self.frozen[pick], 0.0, self.residuals[pick] + shift)


def pilot_pools(runs: pd.DataFrame, control: str, measure: str = ANSWER_MEASURE) -> dict[str, Pool]:
    """Per model, the pooled residual seed pairs of every condition that shares
    its seeds with the control (at least two pairs each)."""
    data = analysable(runs, measure)
    out = {}
    for model, group in data.groupby("model", sort=False):
        ctrl = group[group["condition"] == control]
        residuals, frozen, pairs, conditions = [], [], 0, 0
        for condition, runs_of in group.groupby("condition", sort=False):
            if condition == control or not is_paired(runs_of["seed"], ctrl["seed"]):
                continue
            table = paired_log_ratios(runs_of, ctrl)
            d = table["d"].to_numpy(float)
            if d.size < 2:
                continue
            both = ~table["event_"].to_numpy(bool) & ~table["event__c"].to_numpy(bool)
            residuals.append((d - hodges_lehmann(d)) * math.sqrt(d.size / (d.size - 1)))
            frozen.append(both)
            pairs, conditions = max(pairs, d.size), conditions + 1
        if conditions:
            widen = math.sqrt((pairs - 1) / stats.chi2.ppf(1 - UPPER, pairs - 1))
            out[str(model)] = Pool(np.concatenate(residuals) * widen, np.concatenate(frozen),
                                   conditions, pairs, widen)  # fmt: skip
    return out


def simulated_power(draws: np.ndarray, alpha: float) -> float:
    """Share of planned suites (rows) whose two-sided signed-rank p <= alpha."""
    doubled = doubled_ranks(draws)
    s = doubled.sum(axis=1)
    if draws.shape[1] <= EXACT_SIMULATED:
        p = np.where(s == 0, 1.0, np.minimum(2 * null_tail(doubled, np.abs(s)), 1.0))
    else:
        scale = np.sqrt((doubled**2).sum(axis=1))
        z = np.divide(np.abs(s), scale, out=np.zeros_like(s), where=scale > 0)
        p = 2 * stats.norm.sf(z)
    return float(np.mean(p <= alpha + 1e-12))


def pool_power(pool: Pool, shift: float, n: int, alpha: float, seed: int = 0) -> float:
    return simulated_power(pool.draw(shift, n, SIMULATIONS, seed), alpha)


def seeds_for(pool: Pool, shift: float, alpha: float, target: float = POWER) -> int | None:
    """Smallest ``n`` (2..LIMIT) whose simulated power reaches ``target``: a
    doubling search, then bisection (the same draws per ``n``)."""
    if pool_power(pool, shift, LIMIT, alpha) < target:
        return None
    low, high = 1, 2
    while pool_power(pool, shift, high, alpha) < target:
        low, high = high, min(2 * high, LIMIT)
    while high - low > 1:
        middle = (low + high) // 2
        if pool_power(pool, shift, middle, alpha) >= target:
            high = middle
        else:
            low = middle
    return high


def detectable_for(pool: Pool, n: int, alpha: float, target: float = POWER) -> float:
    """The time ratio (below 1) ``n`` resampled pairs detect with ``target``
    power at ``alpha``; 0 when no effect of any size is detectable."""
    if n < 1 or 2 / 2**n > alpha:
        return 0.0
    low, high = 0.0, 3.0
    if pool_power(pool, -high, n, alpha) < target:
        return 0.0
    for _ in range(16):
        middle = (low + high) / 2
        if pool_power(pool, -middle, n, alpha) >= target:
            high = middle
        else:
            low = middle
    return math.exp(-high)


def sequential_seeds(
    pool: Pool,
    shift: float,
    comparisons: int,
    schedule: SeedSchedule = DEFAULT_SCHEDULE,
    equivalence_ratio: float = EQUIVALENCE_RATIO,
    n_sims: int = SEQUENTIAL_SIMULATIONS,
    seed: int = 0,
) -> tuple[float, float]:
    """Expected seeds and power of one comparison under the sequential rule
    (:mod:`harness.stats.sequential`), its planned suites resampled from the
    pilot's pool: at each look the comparison is tested on its first ``n``
    pairs at Holm's first-step share of the look's level (``level / m`` on
    what the rule reads, the repeated p-values of ``"joint-pocock"`` or the
    nominal ones when spending, as when every other comparison of the family
    is still open), and stops when a difference or equivalence is shown.
    Returns (mean seeds at the stop, share of suites that showed the
    difference)."""
    from harness.stats.sequential import (
        DIFFERS,
        EQUIVALENT,
        look_levels,
        look_pvalues,
        sequential_p,
    )

    draws = pool.draw(shift, schedule.max, n_sims, seed)
    margin = math.log(1 + equivalence_ratio)
    stopped = np.full(n_sims, schedule.max)
    found = np.zeros(n_sims, bool)
    open_ = np.ones(n_sims, bool)
    levels = look_levels(schedule.looks, ALPHA, schedule.spending) / max(comparisons, 1)
    for n, level in zip(schedule.looks, levels, strict=True):
        where = np.flatnonzero(open_)
        if where.size == 0:
            break
        nominal = look_pvalues([draws[i, :n] for i in where], margin)
        p, p_eq = sequential_p(*nominal, schedule.looks, schedule.spending)
        decided = {DIFFERS: p <= level, EQUIVALENT: (p_eq <= level) & (p > level)}
        found[where[decided[DIFFERS]]] = True
        done = where[decided[DIFFERS] | decided[EQUIVALENT]]
        stopped[done] = n
        open_[done] = False
    return float(stopped.mean()), float(found.mean())


def plan(
    runs: pd.DataFrame,
    control: str,
    effects: Sequence[float] = (0.1, 0.2, 0.3),
    power: float = POWER,
    comparisons: int | None = None,
    measure: str = ANSWER_MEASURE,
    schedule: SeedSchedule = DEFAULT_SCHEDULE,
    equivalence_ratio: float = EQUIVALENCE_RATIO,
) -> pd.DataFrame:
    """Seeds needed per model and planned effect.

    :param effects: planned speed-ups as fractions (0.2: 20% fewer steps,
        time ratio 0.8).
    :param comparisons: the Holm family size the planned suite will have;
        default the pilot's (its conditions other than the control times
        its models).
    :param schedule: the sequential design whose expected seeds and power
        (:func:`sequential_seeds`) stand beside the fixed design's seeds.
    :raises PlanningError: a model's pilot pairs show no spread at all.
    """
    pools = pilot_pools(runs, control, measure)
    for model, pool in pools.items():
        if not np.any(pool.residuals[~pool.frozen] != 0):
            raise PlanningError(
                f"model {model}: every seed pair of the pilot gives the same log ratio as the "
                f"others of its condition (no spread over {pool.residuals.size} pairs), so "
                "there is nothing to plan from; is it an A/A suite of identical runs? Run a "
                "pilot whose seeds differ"
            )
    if comparisons is None:
        comparisons = max(sum(p.conditions for p in pools.values()), 1)
    alpha = ALPHA / comparisons
    rows = []
    for model, pool in pools.items():
        head = {
            "model": model,
            "measure": measure,
            "conditions": pool.conditions,
            "pairs": pool.pairs,
            "log_ratio_sd": pool.sd,
            "df": int(pool.residuals.size - pool.conditions),
            "alpha": alpha,
            "detectable_ratio": detectable_for(pool, pool.pairs, alpha, power),
        }
        for effect in effects:
            shift = math.log(1 - effect)
            needed = seeds_for(pool, shift, alpha, power)
            expected, found = sequential_seeds(pool, shift, comparisons, schedule,
                                               equivalence_ratio)  # fmt: skip
            rows.append({**head, "effect": effect, "ratio": 1 - effect, "seeds_needed": needed,
                         "sequential_seeds": expected, "sequential_power": found})  # fmt: skip
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)
