"""The report's layer-by-layer figures: probe score and CKA with the control against
a declared stack's depth, and the 2-D probe pictures of every layer."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from harness.report.plotting import CONTROL_COLOUR, colours
from harness.report.plotting import grid as _grid
from harness.report.plotting import legend as _legend
from harness.report.plotting import style as _style
from harness.report.plotting import wrap as _wrap
from harness.report.scatter_figures import scatter_grid, tsne_runs
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def layer_stacks(analysis: Analysis) -> list[tuple[str, str]]:
    """(model, stack) of every stack of at least two layers, in table order."""
    table = analysis.layers
    return list(dict.fromkeys(zip(table["model"], table["stack"], strict=True)))


def distinct_layer_metrics(
    analysis: Analysis, metrics: Sequence[tuple[str, str]]
) -> list[tuple[str, str]]:
    """The (probe, metric) pairs of ``metrics`` whose layer-by-layer numbers
    differ from every earlier pair's: with two languages, "all languages" and
    "target language vs rest" are one task with the same scores, and one figure
    says it."""
    kept: list[tuple[str, str]] = []
    for pair in metrics:
        if (
            same_scores_as(analysis.layers, ["model", "stack", "condition", "depth"], pair, kept)
            is None
        ):
            kept.append(pair)
    return kept


def same_scores_as(
    table: Any, keys: Sequence[str], pair: tuple[str, str], earlier: Sequence[tuple[str, str]]
) -> tuple[str, str] | None:
    """The first (probe, metric) of ``earlier`` whose rows of ``table`` (ordered by
    ``keys``) have the same mean and CI as ``pair``'s, or None."""
    if table.empty or not {"mean", "ci_low", "ci_high"} <= set(table.columns):
        return None

    def scores(probe: str, metric: str) -> np.ndarray:
        rows = table[(table["probe"] == probe) & (table["metric"] == metric)]
        return rows.sort_values(list(keys))[["mean", "ci_low", "ci_high"]].to_numpy(dtype=float)

    mine = scores(*pair)
    for other in earlier:
        theirs = scores(*other)
        if theirs.shape == mine.shape and np.allclose(theirs, mine, equal_nan=True):
            return other
    return None


def _depth_axis(ax: Any, rows: Any) -> None:
    """Integer depths on the x axis, each with the latent space of that layer."""
    names = rows.drop_duplicates("depth").sort_values("depth")
    ticks = names["depth"].astype(int).to_list()
    spaces = [str(s).rpartition("/")[2] for s in names["latent_space"]]
    ax.set_xticks(ticks, [f"{d}\n{_wrap(s, 12)}" for d, s in zip(ticks, spaces, strict=True)])
    ax.set_xlim(min(ticks) - 0.3, max(ticks) + 0.3)
    ax.set_xlabel("layer (depth the extractor declared; larger is further from the input)")


def _stack_title(results: Results, model: str, stack: str) -> str:
    return _wrap(f"{results.model_label(model)}: {stack}", 44)


def _depth_lines(
    ax: Any, results: Results, rows: Any, value: str, alpha: float, yardstick: str | None
) -> None:
    """A line per condition over depth (``value``, marked at each layer) with its
    95% band; the ``yardstick`` condition grey and dashed, without a band."""
    col = colours(results)
    for condition in results.conditions:
        line = rows[rows["condition"] == condition].sort_values("depth")
        if line.empty:
            continue
        x = line["depth"].astype(float).to_numpy()
        label = results.condition_label(condition)
        if condition == yardstick:
            yardstick_label = f"{label}: two seeds (yardstick)"
            ax.plot(
                x,
                line[value].astype(float),
                color=CONTROL_COLOUR,
                lw=1.2,
                ls="--",
                marker="o",
                ms=3,
                label=yardstick_label,
            )
            continue
        c = col[condition]
        ax.plot(x, line[value].astype(float), color=c, lw=1.6, marker="o", ms=4, label=label)
        low, high = line["ci_low"].astype(float), line["ci_high"].astype(float)
        ax.fill_between(x, low, high, color=c, lw=0, alpha=alpha)


def _stack_panels(
    results: Results,
    table: Any,
    panels: list[tuple[str, str]],
    value: str,
    alpha: float,
    yardstick: str | None,
    finish: Callable[[Any, Any], None],
) -> Figure:
    """A panel per (model, stack) of ``panels``: :func:`_depth_lines` of ``table``'s
    rows, then ``finish(ax, rows)`` (reference lines, limits, the y label)."""
    with _style():
        fig, axes = _grid(len(panels), height=3.4)
        for ax, (model, stack) in zip(axes, panels, strict=True):
            rows = table[(table["model"] == model) & (table["stack"] == stack)]
            _depth_lines(ax, results, rows, value, alpha, yardstick)
            finish(ax, rows)
            _depth_axis(ax, rows)
            ax.set_title(_stack_title(results, model, stack))
        _legend(fig, axes)
        return fig


def layer_figure(results: Results, analysis: Analysis, probe: str, metric: str) -> Figure | None:
    """Probe score against layer: a panel per model and stack of layers, a line
    per condition (the seed mean) with its 95% CI band (seeds and probe
    speakers as sampled), the probe's chance level dashed."""
    table = analysis.layers
    table = table[(table["probe"] == probe) & (table["metric"] == metric)]
    panels = [p for p in layer_stacks(analysis)
              if ((table["model"] == p[0]) & (table["stack"] == p[1])).any()]  # fmt: skip
    if not panels:
        return None

    def finish(ax: Any, rows: Any) -> None:
        chance = rows["chance"].dropna()
        if len(chance):
            ax.axhline(float(chance.mean()), color="black", lw=1, ls="--", label="chance")
        ax.set_ylabel(_wrap(f"{results.metric_label(metric)} ({probe})", 40))

    alpha = 0.15 if len(results.conditions) <= 3 else 0.08
    return _stack_panels(results, table, panels, "mean", alpha, None, finish)


def cka_layer_figure(results: Results, analysis: Analysis) -> Figure | None:
    """Linear CKA with the control against layer: a panel per model and stack,
    a line per condition (seed i against the control's seed i, mean with its
    95% interval over seeds), and the control's own seed-to-seed CKA (grey,
    dashed): the yardstick for how much seeds alone change the geometry."""
    table = analysis.cka_layers
    if table.empty:
        return None
    panels = list(dict.fromkeys(zip(table["model"], table["stack"], strict=True)))

    def finish(ax: Any, rows: Any) -> None:
        ax.set_ylim(0, 1.02)
        ax.set_ylabel("linear CKA with the control")

    return _stack_panels(results, table, panels, "mean_cka", 0.15, analysis.control, finish)


def layer_tsne_figures(
    results: Results, analysis: Analysis
) -> list[tuple[str, str, list[int], Figure]]:
    """Per model and stack of layers whose spaces have 2-D probe coordinates:
    one seed per condition (columns), a row per layer from the input up,
    coloured by language. Returns (model, stack, seeds, figure); none when no
    probe saved coordinates for the layers."""
    out = []
    table = analysis.layers
    for model, stack in layer_stacks(analysis):
        chosen = tsne_runs(results, model)
        layers = (
            table[(table["model"] == model) & (table["stack"] == stack)]
            .drop_duplicates("depth")
            .sort_values("depth")
        )
        found = {s for _, _, coords in chosen.values() for s in coords}
        rows = [(str(r["latent_space"]), f"depth {int(r['depth'])}\n{r['latent_space']}")
                for _, r in layers.iterrows() if r["latent_space"] in found]  # fmt: skip
        if not rows:
            continue
        seeds = sorted({seed for _, seed, _ in chosen.values()})
        out.append((model, stack, seeds, scatter_grid(results, chosen, rows)))
    return out
