"""The report's sentences about separation layer by layer.

For every stack of layers an extractor declared (stats/layers.csv), which
layer separates the languages best under each condition: the layer with the
highest seed mean of the report's leading probe score, with its 95% CI (seeds
and probe speakers as sampled). That is a description, not a test between
layers; each sentence names the CSV rows its numbers come from, as the
answer's do (:class:`harness.report.answer.Sentence`).
"""

from __future__ import annotations

import pandas as pd

from harness.output.layout import stats_csv
from harness.report.answer import Sentence, source
from harness.report.numbers import fmt_ci, fmt_score, series
from harness.report.separation import main_metrics
from harness.stats.analysis import Analysis
from harness.tables.results import Results

LAYERS = stats_csv("layers")


def _key(row: pd.Series) -> dict[str, object]:
    return {k: row[k] for k in ("model", "condition", "stack", "latent_space", "probe", "metric")}


def best_layer_sentences(results: Results, analysis: Analysis) -> list[Sentence]:
    """Per model, stack of layers and condition: the best-separating layer."""
    table = analysis.layers
    metrics = main_metrics(analysis)
    if table.empty or not metrics:
        return []
    probe, metric = metrics[0]
    table = table[(table["probe"] == probe) & (table["metric"] == metric)]
    out = []
    shown = results.metric_label(metric)
    for (model, stack), rows in table.groupby(["model", "stack"], sort=False):
        for condition in results.conditions:
            mine = rows[rows["condition"] == condition].sort_values("depth")
            best = mine[mine["best"].astype(bool)]
            if best.empty:
                continue
            top = best.iloc[0]
            others = mine[mine["latent_space"] != top["latent_space"]]
            parts = [f"{fmt_score(r['mean'])} at depth {int(r['depth'])}"
                     for _, r in others.iterrows()]  # fmt: skip
            rest = series(parts) if parts else ""
            ci = (
                f" {fmt_ci(top['ci_low'], top['ci_high'])}"
                if top["inference"] != "none"
                else " (no per-speaker results from the probe, so no CI)"
            )
            text = (
                f"In the {results.model_label(str(model))}'s {stack} "
                f"({int(top['n_layers'])} layers) under “{results.condition_label(condition)}”, "
                f"{shown} ({probe}) is highest at depth {int(top['depth'])} "
                f"({top['latent_space']}): {fmt_score(top['mean'])}{ci}"
                + (f", against {rest}" if rest else "")
                + ". The highest seed mean, not a test between layers."
            )
            sources = [source(LAYERS, **_key(top))]
            sources += [source(LAYERS, **_key(r)) for _, r in others.iterrows()]
            out.append(Sentence(text, tuple(sources)))
    return out
