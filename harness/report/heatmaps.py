"""The report's heatmaps, drawn by seaborn on :class:`matplotlib.figure.Figure`
axes (never pyplot): linear CKA between conditions, and a classifier's
confusion matrices. seaborn annotates each cell in a colour that reads on it
and keeps the colour scale and labels alike across panels."""

from __future__ import annotations

import numpy as np
import seaborn as sns
from matplotlib.figure import Figure

from harness.report.plotting import SHORT_LABEL, short_labels, style, wrap
from harness.stats.analysis import Analysis
from harness.tables import confusion_table
from harness.tables.results import Results

#: heatmaps a row in the CKA figure
CKA_PER_ROW = 4


def cka_figure(results: Results, analysis: Analysis) -> Figure | None:
    """Heatmaps (seaborn's) of mean linear CKA between conditions, per model
    and latent space, up to four panels a row sharing one colour scale and the
    condition axes, labelled on the outer panels only (short labels, see
    :func:`short_labels`), so the axis labels have room at a laptop's width."""
    cka = analysis.cka
    if cka.empty:
        return None
    panels = list(dict.fromkeys(zip(cka["model"], cka["latent_space"], strict=True)))
    short = short_labels(results)
    conditions = [c for c in results.conditions if c in set(cka["condition_a"])]
    names = [wrap(short[c], SHORT_LABEL) for c in conditions]
    per_row = min(len(panels), CKA_PER_ROW)
    rows = int(np.ceil(len(panels) / per_row))
    side = min(2.3, 9.0 / per_row - 0.4)
    with style():
        fig = Figure(figsize=(10.0, (side + 0.5) * rows + 1.3), layout="constrained")
        grid = fig.subplots(rows, per_row, squeeze=False)
        for ax in grid.ravel()[len(panels) :]:
            ax.set_visible(False)
        for k, (ax, (model, space)) in enumerate(zip(grid.ravel(), panels, strict=False)):
            mine = cka[(cka["model"] == model) & (cka["latent_space"] == space)]
            matrix = mine.pivot_table(index="condition_a", columns="condition_b",
                                       values="mean_cka").reindex(index=conditions,
                                                                  columns=conditions)  # fmt: skip
            sns.heatmap(matrix, ax=ax, vmin=0, vmax=1, cmap="viridis", square=True,
                        annot=True, fmt=".2f", cbar=False, linewidths=0.5, linecolor="white",
                        annot_kws={"fontsize": 7 if len(conditions) <= 6 else 6},
                        xticklabels=names, yticklabels=names)  # fmt: skip
            ax.set_xlabel("")
            ax.set_ylabel("")
            ax.tick_params(length=0)
            # the condition axes are the same in every panel: named on the outer ones
            if k % per_row:
                ax.set_yticklabels([])
            else:
                ax.set_yticklabels(names, rotation=0)
            ax.set_xticklabels(names, rotation=45, ha="right", rotation_mode="anchor")
            ax.set_title(wrap(f"{results.model_label(model)}: {space}", 26), fontsize=8.5)
        image = grid.ravel()[0].collections[0]
        fig.colorbar(image, ax=grid.ravel().tolist(), shrink=0.8,
                     label="linear CKA (1 = same geometry)")  # fmt: skip
        return fig


def confusion_figure(results: Results, model: str) -> Figure | None:
    """Row-normalised confusion matrices of ``model``, one panel per condition,
    summed over seeds (rows: true class; columns: decided), on one colour scale."""
    confusion = confusion_table(results.records.values())
    mine = confusion[(confusion["source"] == "model") & (confusion["model"] == model)]
    if mine.empty:
        return None
    conditions = [c for c in results.conditions if c in set(mine["condition"])]
    classes = list(dict.fromkeys(mine["true"]))
    size = 1.1 + 0.32 * len(classes)
    # no wider than the page: a row of up to four panels, then more rows
    per_row = min(len(conditions), max(1, int(10.0 // size)))
    rows = int(np.ceil(len(conditions) / per_row))
    with style():
        fig = Figure(figsize=(size * per_row + 0.4, (size + 0.7) * rows), layout="constrained")
        grid = fig.subplots(rows, per_row, squeeze=False)
        for ax in grid.ravel()[len(conditions) :]:
            ax.set_visible(False)
        for k, (ax, condition) in enumerate(zip(grid.ravel(), conditions, strict=False)):
            counts = (
                mine[mine["condition"] == condition]
                .pivot_table(index="true", columns="predicted", values="count", aggfunc="sum")
                .reindex(index=classes, columns=classes, fill_value=0)
                .to_numpy(float)
            )
            share = counts / np.maximum(counts.sum(1, keepdims=True), 1)
            sns.heatmap(share, ax=ax, vmin=0, vmax=1, cmap="Blues", cbar=False, square=True,
                        xticklabels=classes, yticklabels=classes if k % per_row == 0 else False)  # fmt: skip
            ax.tick_params(labelsize=7, length=0)
            ax.tick_params(axis="y", labelrotation=0)
            ax.set_title(wrap(results.condition_label(condition), 22), fontsize=8)
            if k % per_row == 0:
                ax.set_ylabel("true class")
        fig.supxlabel("decided class", fontsize=8)
        fig.colorbar(grid.ravel()[0].collections[0], ax=grid.ravel().tolist(), shrink=0.8,
                     label="share of the true class")  # fmt: skip
        return fig
