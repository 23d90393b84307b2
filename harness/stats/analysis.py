"""Every statistic the report shows, computed once from loaded results.

``analyse(load_results(out)).tables()`` is what ``stats/*.csv`` holds; the
report draws its figures and sentences from the same object, so a number in
the report is always a number in a CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from harness.results import Results
from harness.stats import between, convergence, layers, separability, survival
from harness.stats.cka import cka_table
from harness.stats.sensitivity import threshold_sensitivity


@dataclass(frozen=True)
class Analysis:
    """The statistics of one output folder (column meanings: docs/report.md)."""

    control: str | None
    survival_summary: pd.DataFrame
    km_curves: pd.DataFrame
    convergence_vs_control: pd.DataFrame
    convergence_overall: pd.DataFrame
    convergence_between: pd.DataFrame
    learning_curves: pd.DataFrame
    threshold_sensitivity: pd.DataFrame
    separability: pd.DataFrame
    separability_vs_control: pd.DataFrame
    cka: pd.DataFrame
    #: probe scores and CKA against the control per layer of declared stacks
    layers: pd.DataFrame
    cka_layers: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        """name -> table, written as ``stats/<name>.csv``."""
        return {
            "survival_summary": self.survival_summary,
            "km_curves": self.km_curves,
            "convergence_vs_control": self.convergence_vs_control,
            "convergence_overall": self.convergence_overall,
            "convergence_between": self.convergence_between,
            "learning_curves": self.learning_curves,
            "threshold_sensitivity": self.threshold_sensitivity,
            "separability": self.separability,
            "separability_vs_control": self.separability_vs_control,
            "cka": self.cka,
            "layers": self.layers,
            "cka_layers": self.cka_layers,
        }


#: the statistics :func:`analyse` computes, in order: what its ``on_step`` hears
STEPS = (
    "convergence vs control",
    "separability vs control",
    "survival summary",
    "Kaplan-Meier curves",
    "overall convergence test",
    "pairs of conditions",
    "learning curves",
    "threshold sensitivity",
    "separability",
    "CKA",
)


def analyse(
    results: Results,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> Analysis:
    """All statistics. ``n_resamples`` sizes the permutation tests (exact
    enumeration replaces it where the arrangements are fewer);
    ``km_resamples`` the bootstrap of the RMST difference, which refits two
    Kaplan-Meier curves per resample; ``seed`` makes every resampling
    reproducible. ``on_step`` hears the name of each statistic (:data:`STEPS`)
    as it starts, to show progress; it changes nothing."""
    runs, control = results.runs, results.control
    steps = iter(STEPS)

    def step() -> None:
        name = next(steps)
        if on_step is not None:
            on_step(name)

    step()
    vs_control = (
        convergence.vs_control(
            runs, control, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed
        )
        if control is not None
        else pd.DataFrame(columns=convergence.VS_CONTROL_COLUMNS)
    )
    step()
    sep_vs_control = (
        separability.separability_vs_control(results, control)
        if control is not None
        else pd.DataFrame(columns=separability.VS_CONTROL_COLUMNS)
    )

    def ordered(frame: pd.DataFrame) -> pd.DataFrame:
        return _suite_order(frame, results)

    step()
    summary = ordered(survival.survival_summary(runs))
    step()
    km = ordered(survival.km_curves(runs))
    step()
    overall = ordered(convergence.overall(runs, n_resamples=n_resamples, seed=seed))
    step()
    between_table = ordered(
        between.between_conditions(runs, results.design, n_resamples=n_resamples, seed=seed)
    )
    step()
    curves = ordered(survival.learning_curves(results.curves))
    step()
    sensitivity = ordered(threshold_sensitivity(runs, results.curves))
    step()
    sep = ordered(separability.separability_summary(results))
    by_layer = ordered(layers.layer_scores(results, sep))
    step()
    cka = ordered(cka_table(results))
    cka_by_layer = ordered(layers.cka_layers(results, control))
    return Analysis(
        control=control,
        survival_summary=summary,
        km_curves=km,
        convergence_vs_control=ordered(vs_control),
        convergence_overall=overall,
        convergence_between=between_table,
        learning_curves=curves,
        threshold_sensitivity=sensitivity,
        separability=sep,
        separability_vs_control=ordered(sep_vs_control),
        cka=cka,
        layers=by_layer,
        cka_layers=cka_by_layer,
    )


def _suite_order(frame: pd.DataFrame, results: Results) -> pd.DataFrame:
    """Rows by time measure, model and condition in suite order (control first),
    keeping the order within those (such as steps or latent spaces)."""
    if frame.empty:
        return frame
    ranks = {
        "measure": list(survival.MEASURES),
        "model": results.models,
        "condition": results.conditions,
        "condition_a": results.conditions,
        "condition_b": results.conditions,
    }
    keys = [c for c in ranks if c in frame.columns]

    def rank(column: pd.Series) -> pd.Series:
        order = {v: i for i, v in enumerate(ranks[str(column.name)])}
        return column.map(lambda v: order.get(v, len(order)))

    return frame.sort_values(keys, key=rank, kind="stable").reset_index(drop=True)
