"""The report's figures, drawn with matplotlib's object API into PNG bytes.

No pyplot: figures are built on :class:`matplotlib.figure.Figure`, so drawing
never touches a GUI backend or global state. Labels come from suite files, so
mathtext parsing is off: a ``$`` in a condition label is printed, not parsed.

This module draws the convergence, threshold and separability figures and is
where every figure is imported from: the shared pieces live in
:mod:`harness.report.plotting`, the heatmaps (CKA, confusion matrices) in
:mod:`harness.report.heatmaps`, the 2-D pictures in
:mod:`harness.report.scatter_figures` and the layer figures in
:mod:`harness.report.layer_figures`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from harness.plugin.names import humanise, model_loss
from harness.report.heatmaps import cka_figure, confusion_figure
from harness.report.layer_figures import (
    cka_layer_figure,
    distinct_layer_metrics,
    layer_figure,
    layer_stacks,
    layer_tsne_figures,
    same_scores_as,
)
from harness.report.plotting import (
    CONTROL_COLOUR,
    DPI,
    LANGUAGE_PALETTE,
    PALETTE,
    SHORT_LABEL,
    PngJobs,
    colours,
    condition_colours,
    data_uri,
    label_key,
    png,
    short_labels,
)
from harness.report.plotting import grid as _grid
from harness.report.plotting import legend as _legend
from harness.report.plotting import style as _style
from harness.report.plotting import wrap as _wrap
from harness.report.scatter_figures import tsne_figures
from harness.spec.config import ANSWER_MEASURE
from harness.stats.analysis import Analysis
from harness.tables.results import Results

__all__ = [
    "CONTROL_COLOUR",
    "DPI",
    "LANGUAGE_PALETTE",
    "PALETTE",
    "SHORT_LABEL",
    "PngJobs",
    "bounded_band",
    "cka_figure",
    "cka_layer_figure",
    "colours",
    "condition_colours",
    "confusion_figure",
    "data_uri",
    "distinct_layer_metrics",
    "heldout_label",
    "kaplan_meier_figure",
    "label_key",
    "layer_figure",
    "layer_stacks",
    "layer_tsne_figures",
    "learning_curve_figure",
    "png",
    "same_scores_as",
    "separability_figure",
    "short_labels",
    "threshold_sensitivity_figure",
    "tsne_figures",
]

# ---------------------------------------------------------------- convergence


def _curves(
    results: Results, frame: Any, axes: Sequence[Any], models: Sequence[str]
) -> Iterator[tuple[Any, str, str, Any]]:
    """(panel, model, condition, rows of ``frame``) for every model's panel and
    every condition with rows, conditions in suite order (the control first)."""
    for ax, model in zip(axes, models, strict=True):
        for condition in results.conditions:
            curve = frame[(frame["model"] == model) & (frame["condition"] == condition)]
            if not curve.empty:
                yield ax, model, condition, curve


#: how the control is drawn beside a condition: dashed and on top, so where the
#: two curves coincide the control's dashes still show over the condition's line
CONTROL_LINE = {"ls": (0, (4, 2.5)), "lw": 1.5, "zorder": 3}
CONDITION_LINE = {"ls": "-", "lw": 2.0, "zorder": 2}


def _km_curve(ax: Any, curve: Any, group: Any, measure: str, colour: str, label: str,
              fill: float, line: dict[str, Any]) -> None:  # fmt: skip
    t, s = curve["time"].to_numpy(), curve["survival"].to_numpy()
    ax.step(t, s, where="post", color=colour, label=label, **line)
    ax.fill_between(t, curve["ci_low"], curve["ci_high"], step="post", color=colour, alpha=fill,
                    lw=0)  # fmt: skip
    # censored runs: a tick where each left the risk set
    cens = group[~group["event"].astype(bool)][f"{measure}_to_threshold"].to_numpy()
    if cens.size:
        idx = np.searchsorted(t, cens, side="right") - 1
        ax.plot(cens, s[np.clip(idx, 0, None)], "|", color=colour, ms=10, mew=1.6,
                zorder=line["zorder"])  # fmt: skip


#: panels a row in the figures that set each condition beside the control
FACETS_PER_ROW = 5

#: the x axis of a time measure
MEASURE_AXES = {
    "steps": "optimizer steps of target training",
    "total_steps": "optimizer steps, pretraining included",
    "seconds": "wall seconds of target training",
}


def _facets(
    results: Results, models: Sequence[str], present: set[str], panel_height: float,
    share_y: str = "all",
) -> tuple[Figure, list[tuple[Any, str, list[str], str]], Any]:  # fmt: skip
    """Small panels for figures that compare conditions with the control: one
    row of panels per model (wrapped at five), one panel per condition with
    the control drawn beside it, so no band hides another; a single panel per
    model when there is no control or nothing else. Returns the figure, the
    (panel, model, conditions to draw, title) of each panel in use and the grid.
    ``share_y``: "all" panels share the y axis, or "model" only a model's own."""
    control = results.control if results.control in present else None
    others = [c for c in results.conditions if c != control and c in present]
    facets = [[c] for c in others] if control is not None and others else [others]
    # five panels a row: the flagship's conditions fit one row per model, so the
    # figure stays about half a screen tall on a laptop
    per_row = min(len(facets), FACETS_PER_ROW)
    rows_per_model = int(np.ceil(len(facets) / per_row))
    height = panel_height * (1.0 if per_row > 2 else 1.25)
    fig = Figure(figsize=(10.0, height * rows_per_model * len(models) + 0.6),
                 layout="constrained")  # fmt: skip
    grid = fig.subplots(rows_per_model * len(models), per_row, squeeze=False, sharex=True,
                        sharey=share_y == "all")  # fmt: skip
    panels = []
    for i, model in enumerate(models):
        mine = grid[i * rows_per_model : (i + 1) * rows_per_model].ravel()
        for ax in mine[len(facets) :]:
            ax.set_visible(False)
        for k, (ax, shown) in enumerate(zip(mine, facets, strict=False)):
            if share_y == "model" and k:
                ax.sharey(mine[0])
            title = results.model_label(model)
            if control is not None and len(shown) == 1:
                title += ": " + results.condition_label(shown[0])
            ax.set_title(_wrap(title, 44 if per_row <= 2 else 26), fontsize=8.5)
            ax.tick_params(labelbottom=True)
            panels.append((ax, model, ([control] if control is not None else []) + shown, title))
    return fig, panels, grid


def _control_label(results: Results) -> str:
    return results.condition_label(results.control) if results.control else ""


def _control_last(results: Results, drawn: Sequence[str]) -> list[str]:
    """``drawn`` with the control moved to the end, so it is drawn last."""
    return sorted(drawn, key=lambda c: c == results.control)


def _line(results: Results, condition: str, drawn: Sequence[str]) -> dict[str, Any]:
    """The control's dashed line where it is drawn beside another condition."""
    return CONTROL_LINE if condition == results.control and len(drawn) > 1 else CONDITION_LINE


def _label_axes(grid: Any, panels: Sequence[tuple[Any, str, list[str], str]], xlabel: str,
                ylabel: Any) -> None:  # fmt: skip
    """x label under each model's last panel (and the bottom row's, when two
    panels a row leave room for a label each), y label (a text, or a function
    of the model) on the first column."""
    last = {model: ax for ax, model, _, _ in panels}
    roomy = grid.shape[1] <= 2
    for ax, model, _, _ in panels:
        if ax in grid[:, 0]:
            ax.set_ylabel(ylabel(model) if callable(ylabel) else ylabel)
        if ax is last[model] or (roomy and ax in grid[-1]):
            ax.set_xlabel(xlabel)


def kaplan_meier_figure(
    results: Results, analysis: Analysis, measure: str = ANSWER_MEASURE
) -> Figure | None:
    """P(not yet at threshold) against time: one row of small panels per model,
    one panel per condition against the control (two bands per panel, so no
    band hides another); a single panel per model when there is no control."""
    km = analysis.km_curves
    if km.empty or not (km["measure"] == measure).any():
        return None
    km = km[km["measure"] == measure]
    models = [m for m in results.models if m in set(km["model"])]
    col = colours(results)
    runs = results.runs
    runs = runs[runs["status"] != "failed"]
    with _style():
        fig, panels, grid = _facets(results, models, set(km["condition"]), 2.2)
        for ax, model, drawn, _ in panels:
            for condition in _control_last(results, drawn):
                curve = km[(km["model"] == model) & (km["condition"] == condition)]
                if curve.empty:
                    continue
                group = runs[(runs["model"] == model) & (runs["condition"] == condition)]
                _km_curve(ax, curve, group, measure, col[condition],
                          results.condition_label(condition),
                          0.18 if len(drawn) <= 2 else 0.07,
                          _line(results, condition, drawn))  # fmt: skip
            ax.axhline(0.5, color="#999999", lw=0.8, ls=":")
            ax.set_ylim(-0.02, 1.02)
        _label_axes(grid, panels, MEASURE_AXES[measure], "runs not yet at threshold")
        _legend(fig, grid.ravel().tolist(), first=[_control_label(results)])
        return fig


def heldout_label(results: Results, model: str) -> str:
    """What the learning curves of ``model`` show: its declared loss (a
    regression model) or the classifier metric the threshold applies to."""
    metric = results.runs.loc[results.runs["model"] == model, "metric"].dropna()
    name = str(metric.iloc[0]) if len(metric) else "loss"
    if name == "loss":
        return "held-out " + model_loss(results.model_plugin(model) or "", results.design.facts)
    return "held-out " + humanise(name)


def bounded_band(mean: np.ndarray, low: np.ndarray, high: np.ndarray,
                 bounds: tuple[float, float]) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """A symmetric interval ``mean ± h`` (``h`` from ``low``/``high``) redrawn
    on a scale where it cannot leave ``bounds``: on the log scale for a measure
    bounded below by 0 (``mean * exp(±h / mean)``, the delta method), on the
    logit scale for one within [0, 1]. The mean is kept; only the band moves."""
    mean = np.asarray(mean, dtype=float)
    half = (np.asarray(high, dtype=float) - np.asarray(low, dtype=float)) / 2
    lo_bound, hi_bound = bounds
    if hi_bound == 1.0 and lo_bound == 0.0:
        m = np.clip(mean, 1e-6, 1 - 1e-6)
        centre, spread = np.log(m / (1 - m)), half / (m * (1 - m))
        return 1 / (1 + np.exp(-(centre - spread))), 1 / (1 + np.exp(-(centre + spread)))
    m = np.maximum(mean, 1e-12)
    return m * np.exp(-half / m), m * np.exp(half / m)


def _measure_bounds(results: Results, model: str, curve_means: np.ndarray) -> tuple[float, float]:
    metric = results.runs.loc[results.runs["model"] == model, "metric"].dropna()
    name = str(metric.iloc[0]) if len(metric) else "loss"
    if name != "loss":
        return (0.0, 1.0)  # the classifier metrics (tables.CLASSIFY_METRICS) are fractions
    # a loss is drawn on the log scale only when every mean is positive (an MSE
    # always is); a model whose loss can be negative keeps the linear band
    return (0.0, np.inf) if np.all(curve_means > 0) else (-np.inf, np.inf)


def learning_curve_figure(results: Results, analysis: Analysis) -> Figure | None:
    """Mean held-out measure (the model's declared loss, or the accuracy a
    classifier's threshold applies to) per evaluation with its 95% band across
    seeds, the band kept within the measure's range (see :func:`bounded_band`);
    panels as in :func:`kaplan_meier_figure` (each condition beside the
    control), a model's panels on one y axis."""
    lc = analysis.learning_curves
    if lc.empty:
        return None
    models = [m for m in results.models if m in set(lc["model"])]
    col = colours(results)
    runs = results.runs
    bounds = {
        m: _measure_bounds(results, m, lc.loc[lc["model"] == m, "mean"].to_numpy(dtype=float))
        for m in models
    }
    with _style():
        fig, panels, grid = _facets(results, models, set(lc["condition"]), 2.2, share_y="model")
        for ax, model, drawn, _ in panels:
            mine = lc[lc["model"] == model]
            for condition in _control_last(results, drawn):
                curve = mine[mine["condition"] == condition]
                if curve.empty:
                    continue
                # runs stop at their crossing: past the point where half have
                # stopped, the mean describes the slow runs only, so stop drawing
                curve = curve[curve["n"] >= max(2, np.ceil(curve["n"].max() / 2))]
                mean = curve["mean"].to_numpy(dtype=float)
                low = curve["ci_low"].to_numpy(dtype=float)
                high = curve["ci_high"].to_numpy(dtype=float)
                if np.isfinite(bounds[model][0]):
                    low, high = bounded_band(mean, low, high, bounds[model])
                c = col[condition]
                ax.plot(curve["step"], mean, color=c, label=results.condition_label(condition),
                        **_line(results, condition, drawn))  # fmt: skip
                ax.fill_between(curve["step"], low, high, color=c, lw=0,
                                alpha=0.18 if len(drawn) <= 2 else 0.08)  # fmt: skip
            thresholds = runs.loc[runs["model"] == model, "threshold"].dropna()
            if len(thresholds):
                ax.axhline(float(thresholds.mean()), color="#999999", lw=1, ls="--",
                           label="threshold" + (" (mean)" if thresholds.nunique() > 1 else ""))  # fmt: skip
            if bounds[model] == (0.0, np.inf):
                ax.set_yscale("log")
                # plain numbers on the log axis: mathtext ("10^0") is off for labels
                ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 1.5, 2.0, 3.0, 5.0, 7.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            elif bounds[model] == (0.0, 1.0):
                ax.set_ylim(max(0.0, ax.get_ylim()[0]), min(1.0, ax.get_ylim()[1]))

        def ylabel(model: str) -> str:
            log = " (log scale)" if bounds[model] == (0.0, np.inf) else ""
            return _wrap(heldout_label(results, model) + log, 30)

        _label_axes(grid, panels, MEASURE_AXES["steps"], ylabel)
        _legend(fig, grid.ravel().tolist(), first=[_control_label(results)])
        return fig


def threshold_sensitivity_figure(results: Results, analysis: Analysis) -> Figure | None:
    """Median steps to threshold (with its 95% CI as a light band) against the
    threshold as a multiple of the suite's, per model, one line per condition.
    Only thresholds at or above the suite's: runs stop training there."""
    table = analysis.threshold_sensitivity
    if table.empty:
        return None
    models = [m for m in results.models if m in set(table["model"])]
    col = colours(results)
    with _style():
        fig, axes = _grid(len(models))
        for ax, _, condition, rows in _curves(results, table, axes, models):
            c = col[condition]
            x = rows["relative_to_suite"].to_numpy(dtype=float)
            budget = float(rows["rmst_tau"].max())
            # "not reached" is not drawn; a band unbounded above runs to the budget
            median = rows["median"].to_numpy(dtype=float)
            median = np.where(np.isfinite(median), median, np.nan)
            low = rows["median_ci_low"].to_numpy(dtype=float)
            high = np.minimum(rows["median_ci_high"].to_numpy(dtype=float), budget)
            ax.plot(x, median, color=c, lw=1.6, marker="o", ms=4,
                    label=results.condition_label(condition))  # fmt: skip
            ax.fill_between(x, np.where(np.isfinite(low), low, np.nan), high, color=c,
                            alpha=0.12, lw=0)  # fmt: skip
        for ax, model in zip(axes, models, strict=True):
            rows = table[table["model"] == model]
            suite = float(rows["threshold"].min())
            ax.axvline(1.0, color="#999999", lw=1, ls="--", label="suite threshold")
            budget = float(rows["rmst_tau"].max())
            if np.isfinite(budget):
                ax.axhline(budget, color="#999999", lw=0.8, ls=":", label="step budget")
            ax.set_ylim(bottom=0)
            ax.set_title(f"{results.model_label(model)} (suite threshold {suite:.3g})")
            ax.set_xlabel(_wrap(f"{heldout_label(results, model)} threshold, multiple of the "
                                "suite threshold", 60))  # fmt: skip
            ax.set_ylabel("median steps to threshold")
        _legend(fig, axes)
        return fig


# ---------------------------------------------------------------- separability


def separability_figure(
    results: Results, analysis: Analysis, probe: str, metric: str
) -> Figure | None:
    """Mean over seeds with 95% CI per latent space and condition; chance dashed;
    the raw-feature baseline is the grey band."""
    sep = analysis.separability
    if sep.empty:
        return None
    sep = sep[(sep["probe"] == probe) & (sep["metric"] == metric)]
    models = [m for m in results.models if m in set(sep["model"])]
    if not models:
        return None
    col = colours(results)
    conditions = results.conditions
    with _style():
        fig, axes = _grid(len(models), height=3.4)
        for ax, model in zip(axes, models, strict=True):
            rows = sep[sep["model"] == model]
            spaces = list(
                dict.fromkeys(rows.loc[~rows["is_baseline"].astype(bool), "latent_space"])
            )
            base = rows[rows["is_baseline"].astype(bool)]
            if not base.empty:
                m = base["mean"].mean()
                lo, hi = base["ci_low"].min(), base["ci_high"].max()
                ax.axhspan(lo, hi, color="#bbbbbb", alpha=0.35, lw=0)
                ax.axhline(m, color="#888888", lw=1, label="raw-feature baseline")
            chance = rows["chance"].dropna()
            if len(chance):
                ax.axhline(float(chance.mean()), color="black", lw=1, ls="--", label="chance")
            width = 0.8 / max(len(conditions), 1)
            for k, condition in enumerate(conditions):
                cond = rows[(rows["condition"] == condition) & ~rows["is_baseline"].astype(bool)]
                cond = cond.set_index("latent_space").reindex(spaces)
                x = np.arange(len(spaces)) - 0.4 + width * (k + 0.5)
                err = np.vstack([cond["mean"] - cond["ci_low"], cond["ci_high"] - cond["mean"]])
                ax.errorbar(x, cond["mean"], yerr=np.nan_to_num(err), fmt="o", color=col[condition],
                            capsize=3, ms=5, label=results.condition_label(condition))  # fmt: skip
            ax.set_xticks(np.arange(len(spaces)), [_wrap(s, 18) for s in spaces])
            ax.set_xlim(-0.6, len(spaces) - 0.4)
            ax.set_title(results.model_label(model))
            ax.set_ylabel(_wrap(f"{results.metric_label(metric)} ({probe})", 40))
        _legend(fig, axes)
        return fig
