"""Pairs of pretraining conditions compared with each other, not with the control.

The control tells whether a condition speeds learning up; the other
conditions tell *why*. Two pretraining conditions that differ in exactly one
declared attribute of the suite — the language heard, or the filter plugin it
was heard through — and agree on the rest (pretraining epochs, overridden
settings) isolate that attribute: Spanish and Italian low-passed at 500 Hz
differ only in the language; low-passed Spanish and noise with Spanish's
spectrum differ only in the filter. Which pairs qualify is read from the
resolved design (:class:`harness.design.ConditionInfo`), never from names.

Each stated pair is tested as a condition against the control is
(:func:`harness.stats.convergence.compare`): paired over shared seeds, the
geometric mean of the per-seed time ratios ``a / b`` with an exact sign-flip
CI and test; Holm's correction runs over the stated pairs of one time measure
(every model), and the detectable ratio is the change the pair had 80% power
to detect at Holm's first step.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pandas as pd

from harness.design import ConditionInfo, Design
from harness.stats.convergence import compare, detectable_ratios
from harness.stats.multiple import holm
from harness.stats.survival import MEASURES, analysable

#: the declared attributes a pair may differ in (ConditionInfo fields)
ATTRIBUTES = ("language", "filter")

BETWEEN_COLUMNS = ["measure", "model", "condition_a", "condition_b", "differs_in", "value_a",
                   "value_b", "design", "test", "exact", "n_permutations", "n", "n_b", "n_pairs",
                   "n_informative", "n_reached", "n_reached_b", "median", "median_b",
                   "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high", "log_ratio_sd",
                   "detectable_ratio", "p_value", "p_holm"]  # fmt: skip


def _alike(a: ConditionInfo, b: ConditionInfo) -> bool:
    """Same pretraining apart from language and filter."""
    return a.epochs == b.epochs and a.overrides == b.overrides


def contrast_pairs(design: Design) -> list[tuple[str, str, str]]:
    """``(condition_a, condition_b, attribute)`` for every pair of pretraining
    conditions (not the control) that differ in exactly one of
    :data:`ATTRIBUTES`, in suite order."""
    conditions = [
        design.condition(name) for name in design.condition_names if name != design.control
    ]
    pretraining = [c for c in conditions if c is not None and c.pretrains]
    out = []
    for a, b in itertools.combinations(pretraining, 2):
        if not _alike(a, b):
            continue
        differing = [attr for attr in ATTRIBUTES if getattr(a, attr) != getattr(b, attr)]
        if len(differing) == 1:
            out.append((a.name, b.name, differing[0]))
    return out


def between_conditions(
    runs: pd.DataFrame,
    design: Design,
    measures: Sequence[str] = MEASURES,
    n_resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per model, time measure and pair of :func:`contrast_pairs`:
    ``time_ratio`` below 1 means ``condition_a`` reached the threshold sooner
    than ``condition_b``."""
    pairs = contrast_pairs(design)
    frames = []
    for measure in measures:
        data = analysable(runs, measure)
        family = []
        for model, by_model in data.groupby("model", sort=False):
            for a, b, attribute in pairs:
                group = by_model[by_model["condition"] == a]
                other = by_model[by_model["condition"] == b]
                if group.empty or other.empty:
                    continue
                # the RMST bootstrap is the control comparison's; a pair needs none
                row = compare(measure, str(model), a, b, group, other, n_resamples, 0, seed)
                info_a, info_b = design.condition(a), design.condition(b)
                row.update(
                    condition_a=a,
                    condition_b=b,
                    differs_in=attribute,
                    value_a=getattr(info_a, attribute),
                    value_b=getattr(info_b, attribute),
                    n_b=row["n_control"],
                    n_reached_b=row["n_reached_control"],
                    median_b=row["median_control"],
                )
                family.append(row)
        if family:
            frame = pd.DataFrame(family)
            frame["p_holm"] = holm(frame["p_value"])
            frame["detectable_ratio"] = detectable_ratios(frame)
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=BETWEEN_COLUMNS)
    return pd.concat(frames, ignore_index=True)[BETWEEN_COLUMNS]
