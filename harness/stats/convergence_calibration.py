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
from harness.stats.paired import DEFAULT_TEST

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
    :ivar tails: ``"normal"`` or ``"t5"`` (Student t with 5 df, scaled to the
        same SD: a few wild seeds).
    :ivar diverged: chance that a run diverges (censored at the budget, as
        the tables censor a diverged run at its model's longest time).
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
    tails: str = "normal"
    diverged: float = 0.0

    @classmethod
    def for_ratio_sd(cls, ratio_sd: float, rho: float, **kwargs: object) -> TimeDesign:
        """The design whose per-seed log ratios have SD ``ratio_sd`` at
        within-seed correlation ``rho`` (``sd = ratio_sd / sqrt(2 (1 - rho))``)."""
        return cls(sd=ratio_sd / math.sqrt(2 * (1 - rho)), rho=rho, **kwargs)  # type: ignore[arg-type]


def _noise(design: TimeDesign, rng: np.random.Generator, sd: float, size: int) -> np.ndarray:
    if design.tails == "t5":  # Student t scaled to SD ``sd``
        return rng.standard_t(5, size) * sd * math.sqrt(3 / 5)
    return rng.normal(0.0, sd, size)


def simulate_runs(design: TimeDesign, rng: np.random.Generator) -> pd.DataFrame:
    """The runs table (the columns the statistics read) of one simulated suite."""
    budget = design.median * math.exp(stats.norm.ppf(1 - design.censoring) * design.sd)
    budget = math.ceil(budget / design.eval_every) * design.eval_every
    seed_sd = design.sd * math.sqrt(design.rho)
    own_sd = design.sd * math.sqrt(1 - design.rho)
    conditions = [(CONTROL, 1.0)] + [(f"c{i}", r) for i, r in enumerate(design.ratios)]
    rows = []
    for m in range(design.models):
        shared = _noise(design, rng, seed_sd, design.seeds)
        for k, (name, ratio) in enumerate(conditions):
            effect = shared if design.paired else _noise(design, rng, seed_sd, design.seeds)
            own = _noise(design, rng, own_sd, design.seeds)
            log_t = math.log(design.median * ratio) + effect + own
            crossing = np.ceil(np.exp(log_t) / design.eval_every) * design.eval_every
            diverged = rng.random(design.seeds) < design.diverged
            reached = (crossing <= budget) & ~diverged
            seeds = np.arange(design.seeds) + (0 if design.paired else k * design.seeds)
            for seed, t, hit, lost in zip(seeds, crossing, reached, diverged, strict=True):
                status = "reached" if hit else "diverged" if lost else "censored"
                rows.append(
                    {
                        "model": f"m{m}",
                        "condition": name,
                        "seed": int(seed),
                        "status": status,
                        "event": bool(hit),
                        "steps_to_threshold": float(t if hit else budget),
                        "max_steps": float(budget),
                    }
                )
    return pd.DataFrame(rows)


def claims(
    design: TimeDesign, rng: np.random.Generator, n_resamples: int = 999, test: str = DEFAULT_TEST
) -> dict[str, float]:
    """What the report would claim on one simulated suite (steps only)."""
    runs = simulate_runs(design, rng)
    versus = vs_control(
        runs, CONTROL, measures=["steps"], n_resamples=n_resamples, km_resamples=0, test=test
    )
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
    design: TimeDesign,
    n_suites: int,
    seed: int = 0,
    n_resamples: int = 999,
    test: str = DEFAULT_TEST,
) -> pd.Series:
    """Mean of each claim over ``n_suites`` simulated suites: family-wise
    rates (any claim in a family), the detection rate of condition ``c0``,
    the mean detectable ratio (where one exists), the share of comparisons
    with too few informative pairs to detect anything, and the censored share."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame([claims(design, rng, n_resamples, test) for _ in range(n_suites)]).mean()


def test_rates(
    design: TimeDesign, n_suites: int, tests: Sequence[str], seed: int = 0
) -> pd.DataFrame:
    """Each paired test of ``tests`` on the same ``n_suites`` simulated suites
    (steps, Holm over the family): per test, the family-wise rate of claims
    about conditions without an effect (``null_claim``), the detection rate
    of condition ``c0`` (``c0_found``) and the rate at which ``c0`` is called
    equivalent to the control (``c0_equivalent``), with their Monte Carlo SEs."""
    rng = np.random.default_rng(seed)
    ratio_of = _ratio_of(design)
    rows = []
    for _ in range(n_suites):
        runs = simulate_runs(design, rng)
        for test in tests:
            versus = vs_control(runs, CONTROL, measures=["steps"], km_resamples=0, test=test)
            null = versus["condition"].map(ratio_of) == 1.0
            first = versus["condition"] == "c0"
            rows.append(
                {
                    "test": test,
                    "null_claim": float((versus.loc[null, "p_holm"] < ALPHA).any()),
                    "c0_found": float((versus.loc[first, "p_holm"] < ALPHA).mean()),
                    "c0_equivalent": float(versus.loc[first, "equivalent"].mean()),
                }
            )
    frame = pd.DataFrame(rows).groupby("test", sort=False).mean()
    for column in list(frame.columns):
        frame[f"{column}_se"] = np.sqrt(frame[column] * (1 - frame[column]) / n_suites)
    return frame
