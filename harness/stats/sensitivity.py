"""Steps to threshold at easier thresholds, read off the stored held-out curves.

A run stops training when its held-out loss (or a classifier's accuracy, the
measure its threshold applies to) first crosses the suite's threshold, and its record keeps the held-out curve (one evaluation every
``eval_every`` steps) up to that point. For any threshold at or *above* the
suite's (an easier one) the first evaluation at or below it is therefore known
exactly from the curve, without retraining; below the suite's threshold the
curves say nothing, since training stopped there. This module recomputes the
steps-to-threshold survival summary (Kaplan-Meier median with its 95% CI and
the restricted mean, :func:`harness.stats.survival.kaplan_meier`) on a grid of
such thresholds, so a reader can see whether a condition's speed-up holds
across thresholds or only at the one the suite picked.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from harness.stats.survival import KaplanMeier, heldout_measure, kaplan_meier

#: Thresholds per model, as multiples of the suite threshold: ``N_THRESHOLDS``
#: geometric steps from 1 (the suite's own) to ``CEILING`` (50% easier).
N_THRESHOLDS = 7
CEILING = 1.5

#: Columns of the table (docs/report.md documents every one).
SENSITIVITY_COLUMNS = ["model", "condition", "threshold", "relative_to_suite", "n_runs",
                       "n_reached", "median", "median_ci_low", "median_ci_high", "rmst",
                       "rmst_tau"]  # fmt: skip


def threshold_grid(n_thresholds: int = N_THRESHOLDS, ceiling: float = CEILING) -> np.ndarray:
    """Multiples of the suite threshold: ``n_thresholds`` geometric steps from
    exactly 1 to ``ceiling`` (with the defaults 1, 1.07, 1.14, 1.22, 1.31,
    1.40, 1.5)."""
    if n_thresholds < 1:
        raise ValueError(f"n_thresholds must be at least 1, got {n_thresholds}")
    if not ceiling >= 1.0:
        raise ValueError(f"the ceiling must be at least 1 (the suite threshold), got {ceiling}")
    grid = np.geomspace(1.0, ceiling, n_thresholds)
    # exactly the suite threshold (so its rows match survival_summary) and the ceiling
    grid[0], grid[-1] = 1.0, ceiling
    return grid


def _first_crossings(
    curves: pd.DataFrame, thresholds: np.ndarray, higher_is_better: bool = False
) -> dict[str, np.ndarray]:
    """run id -> for each threshold, the first evaluated step whose held-out
    measure (``heldout_metric``) is at or beyond it (``inf`` when none is)."""
    out: dict[str, np.ndarray] = {}
    measure = heldout_measure(curves)
    data = curves.dropna(subset=[measure]).sort_values(["run_id", "step"], kind="stable")
    # a higher-is-better measure is a lower-is-better one negated
    sign = -1.0 if higher_is_better else 1.0
    for run_id, curve in data.groupby("run_id", sort=False):
        steps = curve["step"].to_numpy(dtype=float)
        # the best value so far: its first value at or beyond t is the first crossing of t
        best = np.minimum.accumulate(sign * curve[measure].to_numpy(dtype=float))
        idx = np.searchsorted(-best, -sign * thresholds, side="left")
        out[str(run_id)] = np.where(
            idx < steps.size, steps[np.clip(idx, 0, steps.size - 1)], np.inf
        )
    return out


def _model_thresholds(
    by_model: pd.DataFrame, relatives: np.ndarray, higher: bool
) -> np.ndarray | None:
    """The grid's thresholds of one model, or None when its suite threshold is not
    a positive number (a loss that can go negative)."""
    # easier thresholds are higher losses, or lower accuracies
    suite_threshold = float(by_model["threshold"].min() if higher else by_model["threshold"].max())
    if not (np.isfinite(suite_threshold) and suite_threshold > 0):
        return None
    return suite_threshold * relatives


def _times_at_thresholds(
    group: pd.DataFrame, crossings: dict[str, np.ndarray], n_thresholds: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """(time, event), runs x thresholds, of one condition's runs, and the RMST horizon."""
    recorded = group["steps_to_threshold"].to_numpy(dtype=float)
    reached = group["event"].fillna(False).to_numpy(dtype=bool)
    first = np.vstack(
        [crossings.get(str(r), np.full(n_thresholds, np.inf)) for r in group["run_id"]]
    )
    # a run that crossed its own threshold crossed every easier one by then
    first = np.where(reached[:, None], np.minimum(first, recorded[:, None]), first)
    event = np.isfinite(first)
    time = np.where(event, first, recorded[:, None])
    budget = group["max_steps"]
    # the horizon of survival_summary: the step budget, else the longest time
    tau = float(budget.min()) if budget.notna().any() else float(recorded.max())
    return time, event, tau


def _row(
    model: str, condition: str, threshold: float, relative: float, km: KaplanMeier, tau: float
) -> dict[str, Any]:
    low, high = km.median_ci
    return {
        "model": model,
        "condition": condition,
        "threshold": float(threshold),
        "relative_to_suite": float(relative),
        "n_runs": km.n,
        "n_reached": km.events,
        "median": km.median,
        "median_ci_low": low,
        "median_ci_high": high,
        "rmst": km.rmst(tau),
        "rmst_tau": tau,
    }


def threshold_sensitivity(
    runs: pd.DataFrame,
    curves: pd.DataFrame,
    n_thresholds: int = N_THRESHOLDS,
    ceiling: float = CEILING,
) -> pd.DataFrame:
    """Per model, condition and threshold on the grid of :func:`threshold_grid`:
    Kaplan-Meier median steps to threshold with its 95% CI and the restricted
    mean (RMST) up to the step budget, from the stored held-out curves.

    ``runs`` and ``curves`` are :func:`harness.tables.runs_table` and
    :func:`harness.tables.curves_table`. The suite threshold of a model is the
    ``threshold`` of its runs; where runs of one model have different
    (absolute) thresholds, as a relative threshold mode gives, the largest is
    used, so every run's curve reaches down to every threshold on the grid.
    The grid multiplies that threshold, so a model whose threshold is not a
    positive number (a loss that can go negative) is left out.

    A run's time at threshold t is the first evaluated step whose held-out
    loss is at or below t (step 0: the untrained model already was), an
    event. A run whose curve never gets there is right-censored where
    :func:`harness.tables.runs_table` censored it: at the end of its budget,
    or, for a diverged run, at the longest time of its model (at least the
    budget). A run that reached its own threshold reached every easier one,
    by its recorded crossing at the latest. Failed runs are excluded and runs
    without a curve skipped. At ``relative_to_suite`` 1 (and one threshold
    per model) the rows equal the ``steps`` rows of
    :func:`harness.stats.survival.survival_summary` for the same runs.
    """
    grid = threshold_grid(n_thresholds, ceiling)
    ok = runs["status"].isin(["reached", "censored", "diverged"])
    ok &= runs["steps_to_threshold"].notna() & runs["run_id"].isin(set(curves["run_id"]))
    data = runs.loc[ok]
    rows = []
    for model, by_model in data.groupby("model", sort=False):
        higher = (
            bool(by_model["higher_is_better"].any()) if "higher_is_better" in by_model else False
        )
        relatives = 1.0 / grid if higher else grid
        thresholds = _model_thresholds(by_model, relatives, higher)
        if thresholds is None:
            continue
        mine = curves[curves["run_id"].isin(set(by_model["run_id"]))]
        crossings = _first_crossings(mine, thresholds, higher)
        for condition, group in by_model.groupby("condition", sort=False):
            time, event, tau = _times_at_thresholds(group, crossings, grid.size)
            for j, (threshold, relative) in enumerate(zip(thresholds, relatives, strict=True)):
                km = kaplan_meier(time[:, j], event[:, j])
                rows.append(_row(model, condition, threshold, relative, km, tau))
    return pd.DataFrame(rows, columns=SENSITIVITY_COLUMNS)
