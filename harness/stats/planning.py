"""How many seeds would a planned effect need? From a pilot's stored runs.

The spread that decides a paired comparison is the seed-to-seed SD of the
per-seed log ratios (condition over control). A pilot suite estimates it per
model, pooled over its conditions after removing each condition's own mean
effect; :func:`plan` then gives, for each planned time ratio, the seeds per
condition the exact sign-flip test needs for the requested power at Holm's
first-step level, and the ratio the pilot's own design could detect.
``harness power RESULTS_DIR`` prints this table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from harness.spec.config import ANSWER_MEASURE
from harness.stats.convergence import (
    ALPHA,
    POWER,
    detectable_ratio,
    is_paired,
    paired_log_ratios,
    seeds_needed,
)
from harness.stats.survival import analysable

PLAN_COLUMNS = ["model", "measure", "conditions", "pairs", "log_ratio_sd", "df", "alpha",
                "detectable_ratio", "effect", "ratio", "seeds_needed"]  # fmt: skip


def pilot_spread(runs: pd.DataFrame, control: str, measure: str = ANSWER_MEASURE) -> pd.DataFrame:
    """Per model: the pooled SD of per-seed log ratios to the control (each
    condition's mean removed), its degrees of freedom, and the pairs per
    condition. Conditions that do not share seeds with the control are left out."""
    data = analysable(runs, measure)
    rows = []
    for model, group in data.groupby("model", sort=False):
        ctrl = group[group["condition"] == control]
        squares, df, pairs, conditions = 0.0, 0, [], 0
        for condition, runs_of in group.groupby("condition", sort=False):
            if condition == control or not is_paired(runs_of["seed"], ctrl["seed"]):
                continue
            d = paired_log_ratios(runs_of, ctrl)["d"].to_numpy()
            if d.size < 2:
                continue
            squares += float(((d - d.mean()) ** 2).sum())
            df += d.size - 1
            pairs.append(d.size)
            conditions += 1
        rows.append(
            {
                "model": model,
                "measure": measure,
                "conditions": conditions,
                "pairs": max(pairs, default=0),
                "log_ratio_sd": math.sqrt(squares / df) if df else math.nan,
                "df": df,
            }
        )
    return pd.DataFrame(rows)


def plan(
    runs: pd.DataFrame,
    control: str,
    effects: Sequence[float] = (0.1, 0.2, 0.3),
    power: float = POWER,
    comparisons: int | None = None,
    measure: str = ANSWER_MEASURE,
) -> pd.DataFrame:
    """Seeds needed per model and planned effect.

    :param effects: planned speed-ups as fractions (0.2: 20% fewer steps,
        time ratio 0.8).
    :param comparisons: the Holm family size the planned suite will have;
        default the pilot's (its conditions other than the control times
        its models).
    """
    spread = pilot_spread(runs, control, measure)
    if comparisons is None:
        comparisons = max(int(spread["conditions"].sum()), 1)
    alpha = ALPHA / comparisons
    rows = []
    for _, s in spread.iterrows():
        now = detectable_ratio(s["log_ratio_sd"], int(s["pairs"]), alpha, target=power)
        for effect in effects:
            ratio = 1 - effect
            rows.append(
                {
                    **s.to_dict(),
                    "alpha": alpha,
                    "detectable_ratio": now,
                    "effect": effect,
                    "ratio": ratio,
                    "seeds_needed": seeds_needed(s["log_ratio_sd"], math.log(ratio), alpha, power),
                }
            )
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)
