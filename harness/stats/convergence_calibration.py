"""Simulated suites through the real convergence statistics: family-wise
false-positive rates and power of the learning-speed claims.

A simulated suite has the shape of a real one: a control and ``conditions``
other conditions, ``models`` models, ``seeds`` seeds. Seed i's runs share a
seed effect in every condition (the same initial weights and batches), so log
steps to threshold are correlated within seed (``rho``; 0.74-0.93 in real
suites); each condition multiplies the time by its ratio; evaluations happen
every ``eval_every`` steps, so crossings land on that grid; the budget censors
about ``censoring`` of the control's runs. Every suite goes through
:func:`harness.stats.convergence.vs_control` and
:func:`~harness.stats.convergence.overall` exactly as a real one.
``bench/bench_convergence.py`` runs the long version; docs/report.md has
its numbers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from harness.stats.convergence import ALPHA, overall, vs_control

CONTROL = "control"


@dataclass(frozen=True)
class TimeDesign:
    """One simulated suite of times to threshold.

    :ivar ratios: the time ratio of each non-control condition (1: no effect).
    :ivar sd: total SD of log steps to threshold across seeds.
    :ivar rho: within-seed correlation of log steps (the share of ``sd**2``
        that is a seed effect shared by every condition).
    :ivar censoring: fraction of the control's runs the budget censors.
    :ivar paired: False gives each condition its own seeds (an unpaired design).
    """

    ratios: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
    models: int = 2
    seeds: int = 10
    median: float = 100.0
    sd: float = 0.3
    rho: float = 0.8
    censoring: float = 0.2
    eval_every: int = 5
    paired: bool = True


def simulate_runs(design: TimeDesign, rng: np.random.Generator) -> pd.DataFrame:
    """The runs table (the columns the statistics read) of one simulated suite."""
    budget = design.median * math.exp(stats.norm.ppf(1 - design.censoring) * design.sd)
    budget = math.ceil(budget / design.eval_every) * design.eval_every
    seed_sd = design.sd * math.sqrt(design.rho)
    own_sd = design.sd * math.sqrt(1 - design.rho)
    conditions = [(CONTROL, 1.0)] + [(f"c{i}", r) for i, r in enumerate(design.ratios)]
    rows = []
    for m in range(design.models):
        shared = rng.normal(0.0, seed_sd, design.seeds)
        for k, (name, ratio) in enumerate(conditions):
            effect = shared if design.paired else rng.normal(0.0, seed_sd, design.seeds)
            log_t = math.log(design.median * ratio) + effect + rng.normal(0, own_sd, design.seeds)
            crossing = np.ceil(np.exp(log_t) / design.eval_every) * design.eval_every
            reached = crossing <= budget
            seeds = np.arange(design.seeds) + (0 if design.paired else k * design.seeds)
            for seed, t, hit in zip(seeds, crossing, reached, strict=True):
                rows.append(
                    {
                        "model": f"m{m}",
                        "condition": name,
                        "seed": int(seed),
                        "status": "reached" if hit else "censored",
                        "event": bool(hit),
                        "steps_to_threshold": float(t if hit else budget),
                        "max_steps": float(budget),
                    }
                )
    return pd.DataFrame(rows)


def claims(
    design: TimeDesign, rng: np.random.Generator, n_resamples: int = 999
) -> dict[str, float]:
    """What the report would claim on one simulated suite (steps only)."""
    runs = simulate_runs(design, rng)
    versus = vs_control(runs, CONTROL, measures=["steps"], n_resamples=n_resamples, km_resamples=0)
    across = overall(runs, measures=["steps"], n_resamples=n_resamples)
    effect = versus[versus["condition"] == "c0"]
    null_rows = versus[[r == 1.0 for r in versus["condition"].map(_ratio_of(design))]]
    return {
        "any_vs_control": float((versus["p_holm"] < ALPHA).any()),
        "null_vs_control": float((null_rows["p_holm"] < ALPHA).any()),
        "any_overall": float((across["p_holm"] < ALPHA).any()),
        "first_condition_found": float((effect["p_holm"] < ALPHA).mean()),
        # 0 where too few informative pairs leave no effect detectable at the Holm level
        "detectable_ratio": float(versus["detectable_ratio"].replace(0.0, np.nan).mean()),
        "no_effect_detectable": float((versus["detectable_ratio"] == 0).mean()),
        "censored": float((runs["status"] == "censored").mean()),
    }


def _ratio_of(design: TimeDesign) -> dict[str, float]:
    return {CONTROL: 1.0, **{f"c{i}": r for i, r in enumerate(design.ratios)}}


def rejection_rates(
    design: TimeDesign, n_suites: int, seed: int = 0, n_resamples: int = 999
) -> pd.Series:
    """Mean of each claim over ``n_suites`` simulated suites: family-wise
    rates (any claim in a family), the detection rate of condition ``c0``,
    the mean detectable ratio (where one exists), the share of comparisons
    with too few informative pairs to detect anything, and the censored share."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([claims(design, rng, n_resamples) for _ in range(n_suites)]).mean()
