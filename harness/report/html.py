"""The self-contained HTML report.

One file: CSS inlined, figures as base64 PNG, no script, and a Content
Security Policy that forbids fetching anything, so it opens the same offline,
attached to an email or years later. Every string that comes from a suite file
or a run record passes through :func:`esc`.
"""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Callable, Iterable
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

import harness
from harness.atomic import write_text
from harness.export import write_analysis
from harness.report import (
    answer,
    classification,
    figures,
    layers,
    methods,
    sentences,
    separation,
)
from harness.report.markup import (
    FIGURE_DONE,
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
    time_fmt,
)
from harness.report.numbers import ALPHA, MEASURE_NAMES, fmt_detectable, fmt_score
from harness.results import Results, load_results
from harness.stats.analysis import STEPS as ANALYSIS_STEPS
from harness.stats.analysis import Analysis, analyse
from harness.tables import SKIP_COLUMNS, data_quality_table, skipped_files

REPORT = "report.html"
#: what :func:`build_report`'s ``on_step`` hears, in order (and FIGURE_STEP lines in the last)
FIGURE_STEP = "figure"
REPORT_STEPS = (
    "reading the runs",
    *ANALYSIS_STEPS,
    "writing the tables",
    "figures and report.html",
)


def build_report(
    output_dir: str | Path,
    *,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> Path:
    """Write runs.csv, curves.csv, probes.csv, stats/*.csv and report.html
    into ``output_dir``; return the report's path. ``on_step`` hears each step
    as it starts (:data:`REPORT_STEPS`) and, during the last, each figure as it
    is placed (``"figure 3: <its alt text>"``), to show progress; it changes nothing."""
    step = on_step or (lambda name: None)
    step(REPORT_STEPS[0])
    results = load_results(output_dir)
    analysis = analyse(
        results, n_resamples=n_resamples, km_resamples=km_resamples, seed=seed, on_step=step
    )
    step(REPORT_STEPS[-2])
    write_analysis(results, analysis)
    step(REPORT_STEPS[-1])
    drawn = 0

    def placed(alt: str) -> None:
        nonlocal drawn
        drawn += 1
        step(f"{FIGURE_STEP} {drawn}: {alt}")

    token = FIGURE_DONE.set(placed)
    try:
        text = render(results, analysis)
    finally:
        FIGURE_DONE.reset(token)
    path = results.output_dir / REPORT
    write_text(path, text)
    return path


def render(results: Results, analysis: Analysis) -> str:
    """The report as one HTML string."""
    title = results.design.name or results.output_dir.name
    sections = [
        _header(results, title),
        _answer(results, analysis),
        _convergence(results, analysis),
        _sensitivity(results, analysis),
        classification.section(results),
        _separability(results, analysis),
        _problems(results),
        _data(results),
        methods.section(results, analysis),
    ]
    template = string.Template(
        resources.files("harness.report").joinpath("report.html").read_text("utf-8")
    )
    css = resources.files("harness.report").joinpath("report.css").read_text("utf-8")
    return template.substitute(
        title=esc(f"{title}: harness report"),
        css=css,
        body="\n".join(s for s in sections if s),
        version=esc(harness.__version__),
    )


# ---------------------------------------------------------------- pieces


# ---------------------------------------------------------------- sections


def _header(results: Results, title: str) -> str:
    when = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    links = [("answer", "Answer"), ("convergence", "Convergence"), ("separability", "Separability"),
             ("problems", "Failed and diverged runs"), ("methods", "Methods")]  # fmt: skip
    if probes_nothing(results):
        links = [link for link in links if link[0] != "separability"]
    nav = "".join(f'<a href="#{a}">{esc(t)}</a>' for a, t in links)
    description = results.design.description
    return (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="subtitle">Harness report, generated {esc(when)} from '
        f"<code>{esc(results.output_dir)}</code> by harness {esc(harness.__version__)}.</p>"
        + (para(description) if description else "")
        + f'<nav class="toc">{nav}</nav></header>'
    )


def _question(results: Results) -> str:
    if results.design.question:
        return results.design.question
    target = results.design.target_language or "the target language"
    return (
        f"Does pretraining on each condition make a model learn {target} from audio faster than the "
        "control, and does it change how languages separate in its latent space?"
    )


def _answer(results: Results, analysis: Analysis) -> str:
    parts = ['<section id="answer"><h2>Question and answer</h2>']
    parts.append(para(_question(results), "question"))
    status = sentences.status_sentence(results)
    parts.append(para(status, "warning" if results.n_missing or results.problems else ""))
    parts.append(_synthesis(results, analysis))
    parts.append(_key_figure(results, analysis))
    parts.append("<h3>Details</h3>")
    parts.append('<div class="answer">')
    headline = sentences.headline_sentences(results, analysis)
    if headline:
        parts.append("<h3>Each condition in short (Holm-corrected tests at the 5% level)</h3><ul>")
        parts.extend(f"<li>{esc(text)}</li>" for text in headline)
        parts.append("</ul>")
    parts.append(
        "<h3>Learning speed (target steps to the held-out threshold; pretraining not counted)</h3>"
    )
    for text in (
        sentences.convergence_sentences(results, analysis)
        + sentences.overall_sentences(results, analysis)
        + sentences.cost_sentences(results, analysis)
    ):
        parts.append(para(text))
    parts.append("<h3>Language separation in latent space</h3>")
    for text in separation.separability_sentences(results, analysis) + separation.cka_sentences(
        results, analysis
    ):
        parts.append(para(text))
    parts.extend(_claim(s) for s in layers.best_layer_sentences(results, analysis))
    parts.append("</div>")
    for text in sentences.caveats(results, analysis):
        parts.append(para(text, "note"))
    parts.append("</section>")
    return "".join(parts)


def _claim(sentence: answer.Sentence) -> str:
    """A paragraph of one sentence that names the CSV rows it comes from."""
    return (
        f'<p><span class="claim" data-source="{esc(sentence.cited)}" '
        f'title="{esc(sentence.cited)}">{esc(sentence.text)}</span></p>'
    )


def _synthesis(results: Results, analysis: Analysis) -> str:
    """The answer paragraphs; each sentence names the CSV rows it comes from."""
    paragraphs = answer.paragraphs(results, analysis)
    if not paragraphs:
        return ""
    out = ['<div class="synthesis" id="synthesis">']
    for paragraph in paragraphs:
        spans = " ".join(
            f'<span class="{"warning" if s.warning else "claim"}" data-source="{esc(s.cited)}" '
            f'title="{esc(s.cited)}">{esc(s.text)}</span>'
            for s in paragraph.sentences
        )
        lead = (
            f"<strong>{esc(paragraph.title[:1].upper() + paragraph.title[1:])}.</strong> "
            if paragraph.title
            else ""
        )
        model = f' data-model="{esc(paragraph.model)}"' if paragraph.model else ""
        out.append(f'<p class="answer-model"{model}>{lead}{spans}</p>')
    details = [p for p in paragraphs if p.details]
    if details:
        out.append(
            '<details class="answer-details"><summary>Every comparison behind these '
            "sentences</summary>"
        )
        for paragraph in details:
            spans = " ".join(
                f'<span class="claim" data-source="{esc(s.cited)}" title="{esc(s.cited)}">'
                f"{esc(s.text)}</span>"
                for s in paragraph.details
            )
            title = esc(paragraph.title[:1].upper() + paragraph.title[1:])
            out.append(
                f'<p class="answer-detail" data-model="{esc(paragraph.model)}">'
                f"<strong>{title}.</strong> {spans}</p>"
            )
        out.append("</details>")
    out.append(
        para(
            "Each sentence names the rows of the output folder's CSV files its numbers come from "
            "(hover over it, or read its data-source attribute). Time ratio: geometric mean over "
            "seeds of each seed's steps divided by the same seed's steps under the other "
            "condition (below 1: sooner), with an exact sign-flip CI; Holm-corrected within each "
            "family of tests.",
            "note",
        )
    )
    out.append("</div>")
    return "".join(out)


def _key_figure(results: Results, analysis: Analysis) -> str:
    """The figure the answer rests on: Kaplan-Meier curves of steps to threshold."""
    return figure(
        figures.kaplan_meier_figure(results, analysis, answer.answer_measure(results)),
        "Kaplan-Meier curves of steps to threshold",
        "Kaplan-Meier estimate of the fraction of runs that have not yet reached the held-out "
        "threshold, against optimizer steps of target training, with pointwise 95% bands "
        "(log-log); one row per model, one panel per condition beside the control (grey). "
        "Ticks: runs censored there (no crossing within the budget; diverged runs at the longest "
        "time observed). Where a curve crosses the dotted line is its median.",
    )


def _convergence(results: Results, analysis: Analysis) -> str:
    out = ['<section id="convergence"><h2>Convergence</h2>']
    out.append(
        para("The Kaplan-Meier curves of steps to threshold are under the answer above.", "note")
    )
    out.append(figure(
        figures.learning_curve_figure(results, analysis),
        "Learning curves",
        "Mean across seeds of the held-out measure the threshold applies to (each axis names it: "
        "the model's own loss on the held-out clips, or a classifier's held-out accuracy), drawn "
        "while at least half of a condition's runs are still training: runs stop when they cross "
        "the threshold, so later points would average only the slower runs. The 95% band is the "
        "t-interval of stats/learning_curves.csv (which has every step) redrawn on the log scale "
        "for a loss (log axis) and on the logit scale for an accuracy, so it never leaves the "
        "measure's range.",
    ))  # fmt: skip
    label = results.condition_label
    summary = analysis.survival_summary.copy()
    if not summary.empty:
        summary["condition"] = summary["condition"].map(label)
        summary["model"] = summary["model"].map(results.model_label)
        for measure in [m for m in MEASURE_NAMES if m in set(summary["measure"])]:
            rows = summary[summary["measure"] == measure]
            t = time_fmt(measure)
            out.append(f"<h3>Time to threshold per condition ({esc(MEASURE_NAMES[measure])})</h3>")
            out.append(table(rows, [
                ("model", "model"), ("condition", "condition"), ("runs", "n_runs"),
                ("reached", "n_reached"), ("censored", "n_censored"), ("diverged", "n_diverged"),
                ("failed (excluded)", "n_failed"),
                ("median [95% CI]", ci_cell("median", "median_ci_low", "median_ci_high", t)),
                ("restricted mean", num_cell("rmst", t)), ("up to", num_cell("rmst_tau", t)),
            ]))  # fmt: skip
            if measure == "seconds":
                out.append(para(answer.load_note(results.runs), "note"))
    tests = analysis.convergence_vs_control.copy()
    ratio = lambda x: f"{x:.2f}" if np.isfinite(x) else "–"  # noqa: E731
    if not tests.empty:
        tests["condition"] = tests["condition"].map(label)
        tests["model"] = tests["model"].map(results.model_label)
        for measure in [m for m in MEASURE_NAMES if m in set(tests["measure"])]:
            rows = tests[tests["measure"] == measure].reset_index(drop=True)
            t = time_fmt(measure)
            out.append(
                f"<h3>Each condition against the control ({esc(MEASURE_NAMES[measure])})</h3>"
            )
            out.append(table(rows, [
                ("model", "model"), ("condition", "condition"), ("design", "design"),
                ("pairs", "n_pairs"),
                ("median", num_cell("median", t)), ("median (control)", num_cell("median_control", t)),
                ("time ratio [95% CI]", ci_cell("time_ratio", "time_ratio_ci_low",
                                                "time_ratio_ci_high", ratio)),
                ("RMST difference [95% CI]", ci_cell("rmst_difference", "rmst_difference_ci_low",
                                                      "rmst_difference_ci_high", t)),
                ("detectable ratio", num_cell("detectable_ratio", ratio)),
                ("p", p_cell("p_value")), ("p (Holm)", p_cell("p_holm")),
            ], highlight=rows["p_holm"] < ALPHA))  # fmt: skip
            if measure == "seconds":
                out.append(para(answer.load_note(results.runs), "note"))
        out.append(para(f"Control: {label(str(tests['control'].iloc[0]))}. Time ratio: geometric "
                      "mean over seeds of each seed's time divided by the same seed's control time "
                      "(below 1: reached sooner; censored runs count at the budget), with an exact "
                      "sign-flip CI; unpaired designs give the ratio of geometric means and no CI. "
                      "RMST difference: condition minus control restricted mean time to threshold up "
                      "to the budget, bootstrap over seed pairs (paired) or runs (unpaired). "
                      "Detectable ratio: the ratio the comparison had 80% power to detect at its "
                      "Holm level (its inverse for slower). Highlighted rows: Holm-corrected "
                      "p < 0.05.", "note"))  # fmt: skip
    overall = analysis.convergence_overall.copy()
    if not overall.empty:
        overall["model"] = overall["model"].map(results.model_label)
        out.append("<h3>All conditions at once</h3>")
        out.append(table(overall, [
            ("time", "measure"), ("model", "model"), ("design", "design"), ("test", "test"),
            ("conditions", "k"), ("runs", "n"), ("permutations", "n_permutations"),
            ("p", p_cell("p_value")), ("p (Holm)", p_cell("p_holm")),
        ]))  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _sensitivity(results: Results, analysis: Analysis) -> str:
    """Median steps to easier thresholds, read off the stored curves."""
    sens = analysis.threshold_sensitivity
    if sens.empty:
        return ""
    ceiling = float(sens["relative_to_suite"].max())
    out = ['<section id="sensitivity"><h2>Sensitivity to the threshold</h2>']
    out.append(para(
        "Does a difference in learning speed hold at other thresholds, or only at the one the "
        f"suite picked? Median steps to the held-out threshold at thresholds from the suite's up "
        f"to {ceiling:.3g} times it, read off the held-out curves the runs recorded, without "
        "retraining. Only thresholds at or above the suite's can be shown: runs stop training "
        "when they cross it, so their curves say nothing about harder ones."
    ))  # fmt: skip
    out.append(figure(
        figures.threshold_sensitivity_figure(results, analysis),
        "Median steps to threshold against the threshold",
        "Kaplan-Meier median steps to threshold per condition, with its 95% CI as a light band, "
        "at each threshold as a multiple of the model's suite threshold (dashed line). A run whose "
        "curve never gets down to a threshold is censored as in the convergence section; a missing "
        "point is a median not reached, a band reaching the step budget (dotted) is not bounded "
        "above by the data. stats/threshold_sensitivity.csv has every number.",
    ))  # fmt: skip
    for text in _sensitivity_sentences(results, analysis):
        out.append(para(text))
    steps = time_fmt("steps")
    wide = sens.pivot_table(
        index=["model", "condition"], columns="relative_to_suite", values="median", sort=False
    ).reset_index()
    wide["condition"] = wide["condition"].map(results.condition_label)
    wide["model"] = wide["model"].map(results.model_label)
    out.append("<h3>Median steps to threshold, by threshold (multiple of the suite's)</h3>")
    out.append(table(wide, [
        ("model", "model"), ("condition", "condition"),
        *[(f"{r:.3g}×", lambda row, r=r: steps(float(row[r])))
          for r in sorted(set(sens["relative_to_suite"]))],
    ]))  # fmt: skip
    out.append(para("Descriptive: the tests against the control and their Holm correction are at "
                    "the suite threshold only (Convergence).", "note"))  # fmt: skip
    out.append("</section>")
    return "".join(out)


def _sensitivity_sentences(results: Results, analysis: Analysis) -> list[str]:
    """Per model and condition against the control: the medians at the suite
    threshold and at the ceiling, and at how many thresholds the condition's
    median is below the control's ("not reached" counts as above any number)."""
    sens, control = analysis.threshold_sensitivity, results.control
    if control is None:
        return []
    steps = time_fmt("steps")
    out = []
    for model in [m for m in results.models if m in set(sens["model"])]:
        mine = sens[sens["model"] == model]
        ctrl = mine[mine["condition"] == control].set_index("relative_to_suite")["median"]
        for condition in results.conditions:
            rows = mine[mine["condition"] == condition].set_index("relative_to_suite")["median"]
            if condition == control or rows.empty or ctrl.empty:
                continue
            both = rows.index.intersection(ctrl.index)
            a, b = rows[both], ctrl[both]
            # inf (not reached) compares as larger than any number, as it should
            lower, higher = int((a < b).sum()), int((a > b).sum())
            equal = len(both) - lower - higher
            first, last = both.min(), both.max()
            out.append(
                f"With “{results.condition_label(condition)}” the {results.model_label(model)} "
                "has a median of "
                f"{steps(a[first])} steps against {steps(b[first])} for the control at the suite "
                f"threshold, and {steps(a[last])} against {steps(b[last])} at {last:.3g} times it; "
                f"its median is below the control's at {lower}, equal at {equal} and above at "
                f"{higher} of the {len(both)} thresholds."
            )
    return out


def probes_nothing(results: Results) -> bool:
    """True when the suite asked no latent-space question (``probes = []`` in
    every run's spec): the report then has no separation section to fill."""
    specs = [record.get("spec") or {} for record in results.records.values()]
    return bool(specs) and all(spec.get("probes") == [] for spec in specs)


def _separability(results: Results, analysis: Analysis) -> str:
    if probes_nothing(results):
        return ""
    out = ['<section id="separability"><h2>Language separation</h2>']
    main = separation.main_metrics(analysis)
    if not main:
        out.append(para("No probe results yet.", "muted"))
    for probe, metric in main:
        shown = results.metric_label(metric)
        out.append(f"<h3>{esc(shown)} ({esc(probe)})</h3>")
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
    for probe, metric in separation.main_metrics(analysis):
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
            f"condition: {band}. Dashed: the probe's chance level. stats/layers.csv has every row; "
            "the answer above names the best-separating layer of each condition.",
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
    out = []
    label = results.condition_label
    score = fmt_score
    vs = analysis.separability_vs_control
    if not vs.empty:
        rows = vs[(vs["probe"] == probe) & (vs["metric"] == metric)].reset_index(drop=True)
        rows["condition"] = rows["condition"].map(label)
        rows["model"] = rows["model"].map(results.model_label)
        out.append(table(rows, [
            ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
            ("seed pairs", "n_pairs"), ("speakers", "n_speakers"), ("mean", num_cell("mean", score)),
            ("control", num_cell("mean_control", score)),
            ("difference [95% CI]", ci_cell("difference", "difference_ci_low", "difference_ci_high", signed)),
            ("detectable (80% power)", num_cell("detectable_difference", fmt_detectable)),
            ("p", p_cell("p_value")), ("p (Holm)", p_cell("p_holm")),
        ], highlight=rows["p_holm"] < ALPHA))  # fmt: skip
        out.append(para("Each condition against the control: seed i against seed i of the control, "
                      "on the same probe speakers; the CI and the two-sided t-test count both seeds "
                      "and speakers as sampled (a lucky seed or a lucky draw of speakers is not an "
                      "effect of the condition). 'Detectable' is the smallest true difference the "
                      "test would find with 80% power. Highlighted: Holm-corrected p < 0.05.",
                      "note"))  # fmt: skip
    sep = analysis.separability
    if not sep.empty:
        rows = sep[(sep["probe"] == probe) & (sep["metric"] == metric)].reset_index(drop=True)
        rows["condition"] = rows["condition"].map(label)
        rows["model"] = rows["model"].map(results.model_label)
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
                      "Holm-corrected within the metric. Scores without per-speaker results from "
                      "their probe have no CI and no test. The text states a comparison with the "
                      "baseline only where the baseline itself is clearly above chance: between two "
                      "spaces at chance the test is liberal (docs/report.md).", "note"))  # fmt: skip
    return "".join(out)


def _probe_faults(results: Results) -> pd.DataFrame:
    """One row per recorded probe error or NaN metric, from the run records."""
    rows = []
    for run_id, record in results.records.items():
        label = record.get("label", run_id)
        for error in record.get("probe_errors") or []:
            rows.append({**error, "label": label, "fault": error.get("type", "error")})
        for warning in record.get("probe_warnings") or []:
            rows.append({**warning, "label": label, "fault": "NaN"})
    columns = ["label", "probe", "plugin", "latent_space", "fault", "message"]
    return pd.DataFrame(rows, columns=columns)


def _problems(results: Results) -> str:
    runs = results.runs
    bad = runs[runs["status"].isin(["failed", "diverged"])]
    faults = _probe_faults(results)
    out = ['<section id="problems"><h2>Failed, diverged and missing runs</h2>']
    if bad.empty and not results.n_missing and not results.problems and faults.empty:
        out.append(para("Every expected run finished; none failed or diverged."))
    if not bad.empty:
        out.append(para(
            "Failed runs (an error stopped them) are left out of every statistic. Diverged runs "
            "(a loss became non-finite) never reach the threshold: they count as censored at the "
            "longest time any run of the same model recorded, and have no probe results."
        ))  # fmt: skip
        out.append(table(bad, [
            ("run", "label"), ("run id", "run_id"), ("status", "status"),
            ("diverged at step", "diverged_step"), ("phase", "diverged_phase"),
            ("error", "error_type"), ("message", "error_message"),
        ]))  # fmt: skip
        for run_id in bad.loc[bad["status"] == "failed", "run_id"]:
            error = (results.records[run_id].get("error") or {}).get("traceback")
            if error:
                out.append(f"<details><summary>Traceback of {esc(results.records[run_id].get('label', run_id))}</summary>"
                           f"<pre>{esc(error)}</pre></details>")  # fmt: skip
    if results.n_missing:
        names = results.missing
        listing = ", ".join(names[:50]) + (
            f" and {len(names) - 50} more" if len(names) > 50 else ""
        )
        out.append(para(f"{results.n_missing} expected run(s) have no record"
                      + (f": {listing}." if names else ".")))  # fmt: skip
    for problem in results.problems:
        out.append(para(problem, "warning"))
    if not faults.empty:
        out.append(para(
            "Probe faults: these probes raised, broke their contract or reported NaN on a latent "
            "space. The runs keep their training and their other probe results; a faulty pair has "
            "no score (NaN), so it is missing from the separability statistics. Once the probe is "
            f"fixed, `harness probe {results.output_dir}` runs exactly the failed pairs again from "
            "the stored latents, without training.",
            "warning",
        ))  # fmt: skip
        out.append(table(faults, [
            ("run", "label"), ("probe", "probe"), ("plugin", "plugin"),
            ("latent space", "latent_space"), ("fault", "fault"), ("message", "message"),
        ]))  # fmt: skip
    out.append("</section>")
    return "".join(out)


#: skipped files listed one by one in the report; the rest are in the run records
_SKIPS_SHOWN = 50


def _data(results: Results) -> str:
    """What the dataset gave: files read and skipped by reason, speakers and clips
    per language and role (data_quality.csv), and the skipped files themselves."""
    quality = data_quality_table(results.records.values())
    if quality.empty:
        return ""
    out = ['<section id="data"><h2>Data</h2>']
    skipped = skipped_files(results.records.values())
    counts = quality[[f"skipped_{r}" for r in SKIP_COLUMNS]].sum()
    reasons = ", ".join(f"{int(n)} {r.replace('_', ' ')}" for r, n in
                        zip(SKIP_COLUMNS, counts, strict=True) if n)  # fmt: skip
    out.append(para(f"The dataset skipped {len(skipped)} file(s) or speaker(s): {reasons}."
                    if skipped else "The dataset skipped no file.",
                    "warning" if skipped else ""))  # fmt: skip
    columns: list[tuple[str, Cell]] = [("dataset", "dataset"), ("language", "language"), ("files read", "files_read"),
               ("skipped", "files_skipped"),
               *((f"skipped: {r.replace('_', ' ')}", f"skipped_{r}") for r in SKIP_COLUMNS
                 if counts[f"skipped_{r}"]),
               ("speakers", "speakers_loaded"), ("clips", "clips_loaded"),
               *((f"{role}: speakers / clips",
                  lambda row, role=role: f"{row[role + '_speakers']} / {row[role + '_clips']}")
                 for role in ("pretrain", "train", "heldout", "probe"))]  # fmt: skip
    out.append(table(quality, columns))
    if skipped:
        rows = "".join(f"<li><code>{esc(s.get('file', ''))}</code> [{esc(s.get('language', ''))}]"
                       f" {esc(s.get('reason', ''))}: {esc(s.get('detail', ''))}</li>"
                       for s in skipped[:_SKIPS_SHOWN])  # fmt: skip
        more = len(skipped) - _SKIPS_SHOWN
        tail = para(f"and {more} more (every one is in each run's record.json, data.skipped)")
        out.append(f"<details><summary>Skipped files</summary><ul>{rows}</ul>"
                   f"{tail if more > 0 else ''}</details>")  # fmt: skip
    out.append("</section>")
    return "".join(out)


def iter_images(text: str) -> Iterable[str]:
    """The base64 payloads of every embedded PNG in a report (for checks)."""
    marker = 'src="data:image/png;base64,'
    start = text.find(marker)
    while start >= 0:
        begin = start + len(marker)
        end = text.index('"', begin)
        yield text[begin:end]
        start = text.find(marker, end)
