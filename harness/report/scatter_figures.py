"""The report's 2-D probe pictures: one seed per condition (columns), a row per
latent space, each clip a point coloured by its language."""

from __future__ import annotations

from collections.abc import Collection, Sequence

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from harness.report.plotting import LANGUAGE_PALETTE
from harness.report.plotting import style as _style
from harness.report.plotting import wrap as _wrap
from harness.tables.results import Results


def _coordinates(results: Results, run_id: str) -> dict[str, np.ndarray]:
    """latent space -> (n clips, 2) coordinates a probe saved for this run.

    Artifact names start with the latent space (``<space>/<probe>/<name>``);
    the longest matching space wins, since one name may prefix another."""
    n = len(results.probe_clips(run_id))
    spaces = set(results.probes.loc[results.probes["run_id"] == run_id, "latent_space"])
    out: dict[str, np.ndarray] = {}
    for key, array in results.probe_artifacts(run_id).items():
        if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] != n:
            continue
        matches = [s for s in spaces if key == s or key.startswith(s + "/")]
        if matches:
            out.setdefault(max(matches, key=len), array)
    return out


def tsne_runs(results: Results, model: str) -> dict[str, tuple[str, int, dict[str, np.ndarray]]]:
    """condition -> (run id, seed, coordinates) of one run per condition: the
    lowest seed every condition has where possible, so columns differ only by
    condition, else the condition's lowest seed with coordinates."""
    runs = results.runs[results.runs["status"].isin(["reached", "censored"])]
    mine = runs[runs["model"] == model].sort_values("seed")
    groups = [set(g["seed"]) for _, g in mine.groupby("condition")]
    shared = sorted(set.intersection(*groups)) if groups else []
    chosen = {}
    for condition in results.conditions:
        group = mine[mine["condition"] == condition]
        seeds = [s for s in shared if s in set(group["seed"])] + list(group["seed"])
        for seed in seeds:
            run_id = str(group.loc[group["seed"] == seed, "run_id"].iloc[0])
            coords = _coordinates(results, run_id)
            if coords:
                chosen[condition] = (run_id, int(seed), coords)
                break
    return chosen


def scatter_grid(
    results: Results,
    chosen: dict[str, tuple[str, int, dict[str, np.ndarray]]],
    rows: Sequence[tuple[str, str]],
) -> Figure:
    """Panels of 2-D probe coordinates: a column per condition of ``chosen``
    (run id, seed, coordinates), a row per (latent space, row label) of
    ``rows``; points coloured by the probe clips' language."""
    conditions = [c for c in results.conditions if c in chosen]
    labels = {
        c: np.asarray(results.probe_clips(chosen[c][0]).get("language", [])) for c in conditions
    }
    languages = sorted({str(x) for v in labels.values() for x in v})
    colour = {lang: LANGUAGE_PALETTE[i % len(LANGUAGE_PALETTE)] for i, lang in enumerate(languages)}
    # no wider than the page shows it (10 in at 100 dpi), so the text is not shrunk
    side = min(2.4, 8.6 / max(len(conditions), 1))
    with _style():
        fig = Figure(figsize=(side * len(conditions) + 1.4, (side + 0.1) * len(rows) + 0.5),
                     layout="constrained")  # fmt: skip
        axes = fig.subplots(len(rows), len(conditions), squeeze=False)
        for j, condition in enumerate(conditions):
            _, seed, coords = chosen[condition]
            axes[0, j].set_title(f"{_wrap(results.condition_label(condition), 22)}\nseed {seed}",
                                 fontsize=8.5)  # fmt: skip
            for i, (space, row_label) in enumerate(rows):
                ax = axes[i, j]
                ax.set_xticks([])
                ax.set_yticks([])
                if j == 0:
                    ax.set_ylabel(row_label)
                xy = coords.get(space)
                if xy is None:
                    ax.text(0.5, 0.5, "no coordinates", ha="center", va="center",
                            transform=ax.transAxes)  # fmt: skip
                    continue
                for lang in languages:
                    mask = labels[condition] == lang
                    ax.scatter(xy[mask, 0], xy[mask, 1], s=9, color=colour[lang], alpha=0.8, lw=0)
        handles = [
            mpl.lines.Line2D([], [], marker="o", ls="", color=colour[lang], label=lang)
            for lang in languages
        ]
        fig.legend(handles=handles, loc="outside right upper", title="language")
    return fig


def tsne_figures(
    results: Results, shown_by_layer: Collection[tuple[str, str]] = ()
) -> list[tuple[str, list[int], Figure]]:
    """Per model: the 2-D probe coordinates of one seed per condition (columns)
    and latent space (rows), coloured by language. Returns (model, seeds, png).
    The (model, latent space) pairs of ``shown_by_layer`` are left out: the
    layer-by-layer figures (:func:`layer_tsne_figures`) show them."""
    out = []
    # model latent spaces in the order the probes reported them, the baseline last
    ordered = results.probes.drop_duplicates("latent_space").sort_values(
        "is_baseline", kind="stable"
    )
    for model in results.models:
        chosen = tsne_runs(results, model)
        if not chosen:
            continue
        found = {s for _, _, coords in chosen.values() for s in coords}
        spaces = [s for s in ordered["latent_space"] if s in found]
        spaces = [s for s in spaces if (model, s) not in set(shown_by_layer)]
        if not spaces:
            continue
        rows = [(s, s.replace("/", "/\n")) for s in spaces]
        seeds = sorted({seed for _, seed, _ in chosen.values()})
        out.append((model, seeds, scatter_grid(results, chosen, rows)))
    return out
