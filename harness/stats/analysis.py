"""Every statistic the report shows, computed once from loaded results.

``analyse(load_results(out)).tables()`` is what ``stats/*.csv`` holds; the
report draws its figures and sentences from the same object, so a number in
the report is always a number in a CSV.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import pandas as pd

from harness.stats import between, convergence, layers, separability, survival
from harness.stats.cka import cka_table
from harness.stats.pair_matrix import GROUP_COLUMNS, PAIR_COLUMNS, pair_matrix
from harness.stats.sensitivity import threshold_sensitivity
from harness.stats.sequential_decisions import BETWEEN, VS_CONTROL, with_decisions
from harness.tables.results import Results


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
    #: separability of every pair of probe languages, and the across-vs-within
    #: group test (``[probing] pairs``/``groups``; empty otherwise)
    pair_matrix: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PAIR_COLUMNS))
    pair_groups: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=GROUP_COLUMNS))

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
            "pair_matrix": self.pair_matrix,
            "pair_groups": self.pair_groups,
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
    "language pairs",
)


Tables = dict[str, pd.DataFrame]


def _statistics(
    results: Results, n_resamples: int, km_resamples: int, seed: int
) -> list[Callable[[], Tables]]:
    """One computation per entry of :data:`STEPS`, in that order, each giving the
    tables (named as :class:`Analysis` fields) it fills."""
    runs, control = results.runs, results.control

    def vs_control() -> Tables:
        if control is None:
            return {"convergence_vs_control": pd.DataFrame(columns=convergence.VS_CONTROL_COLUMNS)}
        table = convergence.vs_control(
            runs, control, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed,
            equivalence_ratio=results.design.equivalence_ratio,
        )  # fmt: skip
        table = with_decisions(table, results.design, VS_CONTROL, "condition", "control")
        return {"convergence_vs_control": table}

    def sep_vs_control() -> Tables:
        if control is None:
            return {
                "separability_vs_control": pd.DataFrame(columns=separability.VS_CONTROL_COLUMNS)
            }
        return {"separability_vs_control": separability.separability_vs_control(results, control)}

    def separability_and_layers() -> Tables:
        # the layer table reads the separability rows in suite order
        sep = _suite_order(separability.separability_summary(results), results)
        return {"separability": sep, "layers": layers.layer_scores(results, sep)}

    def between_conditions() -> Tables:
        table = between.between_conditions(runs, results.design, n_resamples=n_resamples, seed=seed)
        table = with_decisions(table, results.design, BETWEEN, "condition_a", "condition_b")
        return {"convergence_between": table}

    return [
        vs_control,
        sep_vs_control,
        lambda: {"survival_summary": survival.survival_summary(runs)},
        lambda: {"km_curves": survival.km_curves(runs)},
        lambda: {
            "convergence_overall": convergence.overall(runs, n_resamples=n_resamples, seed=seed)
        },
        between_conditions,
        lambda: {"learning_curves": survival.learning_curves(results.curves)},
        lambda: {"threshold_sensitivity": threshold_sensitivity(runs, results.curves)},
        separability_and_layers,
        lambda: {"cka": cka_table(results), "cka_layers": layers.cka_layers(results, control)},
        lambda: dict(zip(("pair_matrix", "pair_groups"), pair_matrix(results), strict=True)),
    ]


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
    tables: Tables = {}
    computations = _statistics(results, n_resamples, km_resamples, seed)
    for name, compute in zip(STEPS, computations, strict=True):
        if on_step is not None:
            on_step(name)
        tables.update(compute())
    ordered = {name: _suite_order(table, results) for name, table in tables.items()}
    return Analysis(control=results.control, **ordered)


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
