"""The figure of probes along training: a probe's score against target-training
steps, a panel per model, probe metric and latent space, a line per condition
(the median over seeds) with the seeds' interquartile range as a band, and the
metric's chance level where the probe declares one."""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from harness.report.plotting import CONTROL_COLOUR, colours, grid, legend, style, wrap
from harness.tables.results import Results

#: the columns of :func:`harness.report.trajectory_section.trajectory_summary` a panel reads
PANEL = ["model", "probe", "metric", "latent_space"]


def panel_title(results: Results, key: tuple[str, ...]) -> str:
    """``<model>: <metric label>`` over ``<latent space> (<probe>)``."""
    model, probe, metric, space = key
    label = results.metric_label(str(metric))
    return wrap(f"{results.model_label(str(model))}: {label}", 40) + f"\n{space} ({probe})"


def trajectory_figure(results: Results, summary: pd.DataFrame) -> Figure | None:
    """The figure of ``summary`` (one row per panel, condition and step), or None
    when it is empty."""
    if summary.empty:
        return None
    panels = list(summary.groupby(PANEL, sort=False))
    col = colours(results)
    with style():
        fig, axes = grid(len(panels), per_row=3, width=11.0, height=3.0)
        for ax, (key, rows) in zip(axes, panels, strict=True):
            for condition in results.conditions:
                line = rows[rows["condition"] == condition].sort_values("step")
                if line.empty:
                    continue
                x = line["step"].astype(float).to_numpy()
                c = col.get(condition, CONTROL_COLOUR)
                label = results.condition_label(condition)
                ax.plot(x, line["median"], color=c, lw=1.5, marker="o", ms=3, label=label)
                ax.fill_between(x, line["q25"], line["q75"], color=c, lw=0, alpha=0.18)
            chance = rows["chance"].dropna()
            if len(chance):
                ax.axhline(float(chance.median()), color="black", lw=0.8, ls=":", label="chance")
            ax.set_title(panel_title(results, tuple(str(k) for k in key)), fontsize=8)
            ax.set_xlabel("target-training step")
        legend(
            fig, axes, first=[results.condition_label(results.control)] if results.control else ()
        )
        return fig
