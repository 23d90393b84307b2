"""The report's figures, drawn with matplotlib's object API into PNG bytes.

No pyplot: figures are built on :class:`matplotlib.figure.Figure`, so drawing
never touches a GUI backend or global state. Labels come from suite files, so
mathtext parsing is off: a ``$`` in a condition label is printed, not parsed.
"""

from __future__ import annotations

import base64
import io
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib as mpl
import numpy as np
from matplotlib.figure import Figure

from harness.results import Results
from harness.stats.analysis import Analysis

DPI = 100
#: colour-blind-safe (Okabe-Ito) colours for conditions; the control is grey
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
CONTROL_COLOUR = "#555555"
LANGUAGE_PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000"]


@contextmanager
def _style() -> Iterator[None]:
    with mpl.rc_context(
        {
            "text.parse_math": False,
            "font.size": 9,
            "axes.titlesize": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "legend.fontsize": 8,
            "legend.frameon": False,
        }
    ):
        yield


def png(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def data_uri(data: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(data).decode("ascii")


def colours(results: Results) -> dict[str, str]:
    out, k = {}, 0
    for condition in results.conditions:
        if condition == results.control:
            out[condition] = CONTROL_COLOUR
        else:
            out[condition] = PALETTE[k % len(PALETTE)]
            k += 1
    return out


def _wrap(text: str, width: int = 28) -> str:
    return "\n".join(textwrap.wrap(str(text), width)) or str(text)


def _legend(fig: Figure, axes: Sequence[Any], title: str | None = None) -> None:
    """One legend above all panels: panels share their conditions, and a legend
    inside a panel hides data."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="outside upper center",
                   ncol=min(len(seen), 4), title=title)  # fmt: skip


def _grid(
    n: int, per_row: int = 2, width: float = 10.0, height: float = 3.6
) -> tuple[Figure, list[Any]]:
    cols = min(n, per_row)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(width, height * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False).ravel().tolist()
    for ax in axes[n:]:
        ax.set_visible(False)
    return fig, axes[:n]


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


def kaplan_meier_figure(
    results: Results, analysis: Analysis, measure: str = "steps"
) -> bytes | None:
    """P(not yet at threshold) against time, per model, one curve per condition."""
    km = analysis.km_curves
    if km.empty or not (km["measure"] == measure).any():
        return None
    km = km[km["measure"] == measure]
    models = [m for m in results.models if m in set(km["model"])]
    col = colours(results)
    runs = results.runs
    with _style():
        fig, axes = _grid(len(models))
        for ax, model, condition, curve in _curves(results, km, axes, models):
            c = col[condition]
            group = runs[(runs["model"] == model) & (runs["condition"] == condition)]
            group = group[group["status"] != "failed"]
            label = results.condition_label(condition)
            t, s = curve["time"].to_numpy(), curve["survival"].to_numpy()
            ax.step(t, s, where="post", color=c, lw=1.8, label=label)
            ax.fill_between(
                t, curve["ci_low"], curve["ci_high"], step="post", color=c, alpha=0.12, lw=0
            )
            # censored runs: a tick where each left the risk set
            cens = group[~group["event"].astype(bool)][f"{measure}_to_threshold"].to_numpy()
            if cens.size:
                idx = np.searchsorted(t, cens, side="right") - 1
                ax.plot(cens, s[np.clip(idx, 0, None)], "|", color=c, ms=10, mew=1.6)
        for ax, model in zip(axes, models, strict=True):
            ax.axhline(0.5, color="#999999", lw=0.8, ls=":")
            ax.set_ylim(-0.02, 1.02)
            ax.set_title(str(model))
            ax.set_xlabel(
                "optimizer steps of target training"
                if measure == "steps"
                else "seconds of target training"
            )
            ax.set_ylabel("fraction of runs not yet at threshold")
        _legend(fig, axes)
        return png(fig)


def learning_curve_figure(results: Results, analysis: Analysis) -> bytes | None:
    """Mean held-out loss (or the accuracy a classifier's threshold applies to)
    per evaluation with its 95% band across seeds."""
    lc = analysis.learning_curves
    if lc.empty:
        return None
    models = [m for m in results.models if m in set(lc["model"])]
    col = colours(results)
    runs = results.runs
    with _style():
        fig, axes = _grid(len(models))
        for ax, _, condition, curve in _curves(results, lc, axes, models):
            # runs stop at their crossing: past the point where half have
            # stopped, the mean describes the slow runs only, so stop drawing
            curve = curve[curve["n"] >= max(2, np.ceil(curve["n"].max() / 2))]
            c = col[condition]
            ax.plot(curve["step"], curve["mean"], color=c, lw=1.6,
                    label=results.condition_label(condition))  # fmt: skip
            ax.fill_between(
                curve["step"], curve["ci_low"], curve["ci_high"], color=c, alpha=0.15, lw=0
            )
        for ax, model in zip(axes, models, strict=True):
            thresholds = runs.loc[runs["model"] == model, "threshold"].dropna()
            if len(thresholds):
                ax.axhline(float(thresholds.mean()), color="#999999", lw=1, ls="--",
                           label="threshold" + (" (mean)" if thresholds.nunique() > 1 else ""))  # fmt: skip
            ax.set_title(str(model))
            ax.set_xlabel("optimizer steps of target training")
            metric = runs.loc[runs["model"] == model, "metric"].dropna()
            name = str(metric.iloc[0]) if len(metric) else "loss"
            ax.set_ylabel("held-out " + name.replace("_", " "))
        _legend(fig, axes)
        return png(fig)


def threshold_sensitivity_figure(results: Results, analysis: Analysis) -> bytes | None:
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
            ax.set_title(f"{model} (suite threshold {suite:.3g})")
            ax.set_xlabel("held-out loss threshold, multiple of the suite threshold")
            ax.set_ylabel("median steps to threshold")
        _legend(fig, axes)
        return png(fig)


# ---------------------------------------------------------------- separability


def separability_figure(
    results: Results, analysis: Analysis, probe: str, metric: str
) -> bytes | None:
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
            ax.set_title(str(model))
            ax.set_ylabel(_wrap(f"{metric} ({probe})", 40))
        _legend(fig, axes)
        return png(fig)


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


def _tsne_runs(results: Results, model: str) -> dict[str, tuple[str, int, dict[str, np.ndarray]]]:
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


def tsne_figures(results: Results) -> list[tuple[str, list[int], bytes]]:
    """Per model: the 2-D probe coordinates of one seed per condition (columns)
    and latent space (rows), coloured by language. Returns (model, seeds, png)."""
    out = []
    # model latent spaces in the order the probes reported them, the baseline last
    ordered = results.probes.drop_duplicates("latent_space").sort_values(
        "is_baseline", kind="stable"
    )
    for model in results.models:
        chosen = _tsne_runs(results, model)
        if not chosen:
            continue
        found = {s for _, _, coords in chosen.values() for s in coords}
        spaces = [s for s in ordered["latent_space"] if s in found]
        conditions = [c for c in results.conditions if c in chosen]
        labels = {
            c: np.asarray(results.probe_clips(chosen[c][0]).get("language", [])) for c in conditions
        }
        languages = sorted({str(x) for v in labels.values() for x in v})
        colour = {
            lang: LANGUAGE_PALETTE[i % len(LANGUAGE_PALETTE)] for i, lang in enumerate(languages)
        }
        with _style():
            fig = Figure(
                figsize=(2.6 * len(conditions) + 1.2, 2.5 * len(spaces)), layout="constrained"
            )
            axes = fig.subplots(len(spaces), len(conditions), squeeze=False)
            for j, condition in enumerate(conditions):
                _, seed, coords = chosen[condition]
                axes[0, j].set_title(
                    f"{_wrap(results.condition_label(condition), 30)}\nseed {seed}"
                )
                for i, space in enumerate(spaces):
                    ax = axes[i, j]
                    ax.set_xticks([])
                    ax.set_yticks([])
                    if j == 0:
                        ax.set_ylabel(space.replace("/", "/\n"))
                    xy = coords.get(space)
                    if xy is None:
                        ax.text(
                            0.5,
                            0.5,
                            "no coordinates",
                            ha="center",
                            va="center",
                            transform=ax.transAxes,
                        )
                        continue
                    for lang in languages:
                        mask = labels[condition] == lang
                        ax.scatter(
                            xy[mask, 0], xy[mask, 1], s=9, color=colour[lang], alpha=0.8, lw=0
                        )
            handles = [
                mpl.lines.Line2D([], [], marker="o", ls="", color=colour[lang], label=lang)
                for lang in languages
            ]
            fig.legend(handles=handles, loc="outside right upper", title="language")
            out.append((model, sorted({chosen[c][1] for c in conditions}), png(fig)))
    return out


def cka_figure(results: Results, analysis: Analysis) -> bytes | None:
    """Heatmaps of mean linear CKA between conditions, per model and latent space."""
    cka = analysis.cka
    if cka.empty:
        return None
    panels = list(dict.fromkeys(zip(cka["model"], cka["latent_space"], strict=True)))
    with _style():
        fig, axes = _grid(len(panels), per_row=3, width=11.0, height=3.6)
        image = None
        for ax, (model, space) in zip(axes, panels, strict=True):
            rows = cka[(cka["model"] == model) & (cka["latent_space"] == space)]
            conditions = [c for c in results.conditions if c in set(rows["condition_a"])]
            matrix = (
                rows.pivot_table(index="condition_a", columns="condition_b", values="mean_cka")
                .reindex(index=conditions, columns=conditions)
                .to_numpy()
            )
            image = ax.imshow(matrix, vmin=0, vmax=1, cmap="viridis")
            for (i, j), v in np.ndenumerate(matrix):
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8,
                            color="white" if v < 0.6 else "black")  # fmt: skip
            names = [_wrap(results.condition_label(c), 16) for c in conditions]
            ax.set_xticks(range(len(conditions)), names, rotation=30, ha="right")
            ax.set_yticks(range(len(conditions)), names)
            ax.set_title(f"{model}: {space}")
            for spine in ax.spines.values():
                spine.set_visible(False)
        if image is not None:
            fig.colorbar(image, ax=axes, shrink=0.8, label="linear CKA (1 = same geometry)")
        return png(fig)
