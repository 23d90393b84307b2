"""The report's language-separation section: probe scores per latent space and
condition against chance, the raw-feature baseline and the control, 2-D views
of the probe clips, CKA between conditions, and the layer-by-layer figures.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report import figures, separation
from harness.report.markup import (
    Cell,
    ci_cell,
    esc,
    figure,
    merge_repeats,
    num_cell,
    p_cell,
    para,
    signed,
    table,
)
from harness.report.numbers import ALPHA, fmt_detectable, fmt_score
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def probes_nothing(results: Results) -> bool:
    """True when the suite asked no latent-space question (``probes = []`` in
    every run's spec): the report then has no separation section to fill."""
    records = list(results.records.values())
    return bool(records) and all(record.spec.get("probes") == [] for record in records)


def separability_section(results: Results, analysis: Analysis) -> str:
    """Probe scores per latent space and condition, 2-D views, CKA and layers."""
    if probes_nothing(results):
        return ""
    out = ['<section id="separability"><h2>Language separation</h2>']
    main = separation.main_metrics(analysis)
    if not main:
        out.append(para("No probe results yet.", "muted"))
    drawn: list[tuple[str, str]] = []
    for probe, metric in main:
        shown = results.metric_label(metric)
        out.append(f"<h3>{esc(shown)} ({esc(probe)})</h3>")
        keys = ["model", "condition", "latent_space"]
        same = figures.same_scores_as(analysis.separability, keys, (probe, metric), drawn)
        if same is not None:
            # two languages: "all languages" and "target vs rest" are one task
            out.append(para(
                f"The same scores as {results.metric_label(same[1])} ({same[0]}) above, in "
                "every latent space and condition: with two languages both are one task.", "note"
            ))  # fmt: skip
            continue
        drawn.append((probe, metric))
        out.append(figure(
            figures.separability_figure(results, analysis, probe, metric),
            f"{shown} per latent space and condition",
            "Mean over seeds with its 95% CI (seeds and probe speakers counted as sampled) per latent space and condition. Dashed: the "
            "probe's chance level. Grey line and band: the raw-feature baseline (features of the "
            "same clips, no model).",
        ))  # fmt: skip
        out.append(_separability_tables(results, analysis, probe, metric))
    by_layer = {(m, space) for m, space in zip(analysis.layers["model"],
                                                analysis.layers["latent_space"], strict=True)}  # fmt: skip
    for model, seeds, data in figures.tsne_figures(results, by_layer):
        out.append(f"<h3>Probe clips in two dimensions: {esc(results.model_label(model))}</h3>")
        out.append(figure(
            data,
            f"2-D probe coordinates for {results.model_label(model)}",
            f"The held-out probe clips in the 2-D coordinates a probe saved (such as t-SNE), one "
            f"seed per condition (seed {', '.join(map(str, seeds))}), coloured by language. Distances "
            "in t-SNE are not comparable across panels; the probe scores above are the measure.",
        ))  # fmt: skip
    out.append("<h3>Similarity of latent spaces across conditions</h3>")
    out.append(figure(
        figures.cka_figure(results, analysis),
        "Linear CKA between conditions",
        "Mean linear CKA between the latent spaces of two conditions on the same held-out clips, "
        "over all pairs of seeds (diagonal: pairs of different seeds of one condition, the "
        "yardstick). 1 means the same geometry up to rotation and scale. stats/cka.csv has the "
        "standard deviations and pair counts." + (f" Axis labels: {figures.label_key(results)}."
                                                  if figures.label_key(results) else ""),
    ))  # fmt: skip
    out.append(_layers(results, analysis))
    out.append(para("Every probe metric, including those not shown here, is in "
                  "stats/separability.csv and stats/separability_vs_control.csv.", "note"))  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _layers(results: Results, analysis: Analysis) -> str:
    """Layer by layer, for the stacks of two or more layers extractors declared;
    nothing when there are none."""
    if analysis.layers.empty:
        return ""
    out = ['<h3 id="layers">Layer by layer</h3>']
    metrics = separation.main_metrics(analysis)
    leading = metrics[:1]
    for probe, metric in figures.distinct_layer_metrics(analysis, metrics):
        shown = results.metric_label(metric)
        data = figures.layer_figure(results, analysis, probe, metric)
        if data is None:
            continue
        rows = analysis.layers[(analysis.layers["probe"] == probe)
                               & (analysis.layers["metric"] == metric)]  # fmt: skip
        band = (
            "the mean over seeds with its 95% CI band (seeds and probe speakers counted as sampled)"
            if (rows["inference"] != "none").any()
            else "the mean over seeds (the probe reports no per-speaker results: no CI)"
        )
        out.append(figure(
            data,
            f"{shown} against layer per condition",
            f"{shown} ({probe}) at each layer of the stacks the extractors declared, one line per "
            f"condition: {band}. Dashed: the probe's chance level. stats/layers.csv has every row"
            + ("; the details under the answer name each condition's best-separating layer (the "
               "highest seed mean, not a test between layers)." if [(probe, metric)] == leading
               else "."),
        ))  # fmt: skip
    out.append(figure(
        figures.cka_layer_figure(results, analysis),
        "Linear CKA with the control against layer",
        "Linear CKA between each condition's latent space and the control's at each layer, seed i "
        "against seed i on the same probe clips: the mean over seeds with its 95% interval (seeds "
        "as sampled). Grey, dashed: two different seeds of the control, the yardstick for how much "
        "seeds alone change the geometry. A condition and the control of the same seed start "
        "from the same weights, so their CKA can lie above that yardstick. stats/cka_layers.csv "
        "has every row.",
    ))  # fmt: skip
    for model, stack, seeds, data in figures.layer_tsne_figures(results, analysis):
        out.append(figure(
            data,
            f"2-D probe coordinates per layer for {results.model_label(model)}, {stack}",
            f"The probe clips in the 2-D coordinates a probe saved (such as t-SNE) at each layer of "
            f"{stack}, from the input up, one seed per condition (seed {', '.join(map(str, seeds))}), "
            "coloured by language. Distances are not comparable across panels.",
        ))  # fmt: skip
    return "".join(out)


def _separability_tables(results: Results, analysis: Analysis, probe: str, metric: str) -> str:
    """The tables of one probe metric: against the control, against chance and the baseline."""
    out = []
    for frame, render in (
        (analysis.separability_vs_control, _vs_control_table),
        (analysis.separability, _vs_chance_table),
    ):
        if not frame.empty:
            out.append(render(_metric_rows(results, frame, probe, metric)))
    return "".join(out)


def _metric_rows(results: Results, frame: pd.DataFrame, probe: str, metric: str) -> pd.DataFrame:
    """The rows of one probe metric, conditions and models by their readable labels."""
    rows = frame[(frame["probe"] == probe) & (frame["metric"] == metric)].reset_index(drop=True)
    rows["condition"] = rows["condition"].map(results.condition_label)
    rows["model"] = rows["model"].map(results.model_label)
    return rows


def _vs_control_table(rows: pd.DataFrame) -> str:
    """Each condition against the control, seed i with seed i."""
    out = []
    score = fmt_score
    out.append(table(rows, [
        ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
        ("seed pairs", "n_pairs"), ("speakers", "n_speakers"), ("mean", num_cell("mean", score)),
        ("control", num_cell("mean_control", score)),
        ("difference [95% CI]", ci_cell("difference", "difference_ci_low", "difference_ci_high", signed)),
        ("detectable (80% power)", num_cell("detectable_difference", fmt_detectable)),
        ("p", p_cell("p_value")), ("p (Holm)", p_cell("p_holm")),
        ("equivalence: 90% CI within ±margin", _equivalence_cell),
        ("p equivalent (Holm)", p_cell("p_equivalence_holm")),
    ], highlight=rows["p_holm"] < ALPHA))  # fmt: skip
    out.append(para("Each condition against the control: seed i against seed i of the control, "
                    "on the same probe speakers; the CI and the two-sided t-test count both seeds "
                    "and speakers as sampled (a lucky seed or a lucky draw of speakers is not an "
                    "effect of the condition). 'Detectable' is the smallest true difference the "
                    "test would find with 80% power at Holm's first step (0.05 over the number of "
                    "tests of the family). Highlighted: Holm-corrected p < 0.05. Equivalence: two "
                    "one-sided tests that the difference lies within ±margin (the suite's "
                    "equivalence_score), shown when the 90% CI lies inside it; Holm-corrected "
                    "like the test of a difference. A large p alone never shows that two "
                    "conditions are the same.", "note"))  # fmt: skip
    return "".join(out)


def _equivalence_cell(row: pd.Series) -> str:
    """The equivalence CI against its margin: ``[-0.023, +0.033] ±0.050``."""
    low, high = row.get("equivalence_ci_low", np.nan), row.get("equivalence_ci_high", np.nan)
    margin = row.get("margin", np.nan)
    if not (np.isfinite(low) and np.isfinite(high)):
        return "–"
    return f"[{signed(low)}, {signed(high)}] ±{margin:.3f}"


def _vs_chance_table(rows: pd.DataFrame) -> str:
    """Each condition's mean against chance and the raw-feature baseline."""
    out = []
    score = fmt_score
    columns: list[tuple[str, Cell]] = [
        ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
        ("seeds", "n"), ("seed SD", num_cell("seed_sd", lambda x: f"{x:.3f}")),
        ("mean [95% CI]", ci_cell("mean", "ci_low", "ci_high", score)),
        ("minus chance [95% CI]", ci_cell("diff_vs_chance", "diff_vs_chance_ci_low",
                                           "diff_vs_chance_ci_high", signed)),
        ("p (Holm)", p_cell("p_vs_chance_holm")),
        ("minus baseline [95% CI]", ci_cell("diff_vs_baseline", "diff_vs_baseline_ci_low",
                                             "diff_vs_baseline_ci_high", signed)),
        ("p (Holm)", p_cell("p_vs_baseline_holm")),
    ]  # fmt: skip
    # the model-free baseline scores the same clips' features under every
    # condition and model: one row where they agree, not one per condition
    rows = merge_repeats(rows, columns, [("model", "model"), ("condition", "condition")],
                         rows["is_baseline"].astype(bool))  # fmt: skip
    out.append(table(rows, columns))
    chance = rows["chance"].dropna()
    level = f"chance level {fmt_score(float(chance.mean()))}; " if len(chance) else ""
    out.append(para(f"Against chance ({level}a permutation test: languages relabelled across "
                    "whole speakers, the same relabelling in every seed, the seed mean recomputed) "
                    "and against the raw-feature baseline (rows without a baseline difference are "
                    "the baseline itself; paired within runs, seeds and speakers counted as "
                    "sampled). CIs count seeds and speakers as sampled; 'seed SD' is the "
                    "seed-to-seed spread, shown for information and never the basis of a claim. "
                    "Holm-corrected within the metric (the baseline, one test, counted once); a "
                    "space is above chance when its Holm-corrected p is below 0.05. Scores without per-speaker results from "
                    "their probe have no CI and no test. The text states a comparison with the "
                    "baseline only where the baseline itself is clearly above chance: between two "
                    "spaces at chance the test is liberal (docs/report.md).", "note"))  # fmt: skip
    return "".join(out)
