"""The report's convergence sections: how fast each condition's runs reach the
held-out threshold (learning curves, Kaplan-Meier summaries, tests against the
control and of all conditions at once), and how that holds at easier thresholds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report import answer, figures
from harness.report.claims import equivalent, margin_words
from harness.report.markup import ci_cell, esc, figure, num_cell, p_cell, para, table, time_fmt
from harness.report.numbers import ALPHA, MEASURE_NAMES
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def convergence_section(results: Results, analysis: Analysis) -> str:
    """Learning curves, time to threshold per condition, each condition against
    the control, and all conditions at once."""
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
    out += _folded_measures(results, _survival_tables(results, analysis))
    out += _folded_measures(results, _control_tables(results, analysis))
    out += _overall_table(results, analysis)
    out.append("</section>")
    return "".join(out)


def _folded_measures(results: Results, by_measure: list[tuple[str, str]]) -> list[str]:
    """The answer's time measure's tables shown, the other measures' folded
    (every row is in the CSVs as well), so the section stays readable."""
    answer_measure = results.design.answer_measure
    shown = [html for measure, html in by_measure if measure == answer_measure]
    notes = [html for measure, html in by_measure if measure == ""]
    other = [(m, html) for m, html in by_measure if m not in ("", answer_measure)]
    if not other:
        return shown + notes
    names = " and ".join(dict.fromkeys(MEASURE_NAMES[m] for m, _ in other))
    return [*shown, f'<details class="measures"><summary>The same in {esc(names)}</summary>',
            *(html for _, html in other), "</details>", *notes]  # fmt: skip


def _survival_tables(results: Results, analysis: Analysis) -> list[tuple[str, str]]:
    """Kaplan-Meier medians and restricted means per model and condition, by
    time measure: (measure, html) pairs."""
    out: list[tuple[str, str]] = []
    label = results.condition_label
    summary = analysis.survival_summary.copy()
    if not summary.empty:
        summary["condition"] = summary["condition"].map(label)
        summary["model"] = summary["model"].map(results.model_label)
        for measure in [m for m in MEASURE_NAMES if m in set(summary["measure"])]:
            rows = summary[summary["measure"] == measure]
            t = time_fmt(measure)
            out.append(
                (
                    measure,
                    f"<h3>Time to threshold per condition ({esc(MEASURE_NAMES[measure])})</h3>",
                )
            )
            out.append((measure, table(rows, [
                ("model", "model"), ("condition", "condition"), ("runs", "n_runs"),
                ("reached", "n_reached"), ("censored", "n_censored"), ("diverged", "n_diverged"),
                ("failed (excluded)", "n_failed"),
                ("median [95% CI]", ci_cell("median", "median_ci_low", "median_ci_high", t)),
                ("restricted mean", num_cell("rmst", t)), ("up to", num_cell("rmst_tau", t)),
            ])))  # fmt: skip
            if measure == "seconds":
                out.append((measure, para(answer.load_note(results.runs), "note")))
    return out


def _control_tables(results: Results, analysis: Analysis) -> list[tuple[str, str]]:
    """Each condition against the control, by time measure: (measure, html)
    pairs, the note on them last ("" for every measure)."""
    out: list[tuple[str, str]] = []
    tests = analysis.convergence_vs_control.copy()
    label = results.condition_label
    ratio = lambda x: f"{x:.2f}" if np.isfinite(x) else "–"  # noqa: E731
    if not tests.empty:
        tests["condition"] = tests["condition"].map(label)
        tests["model"] = tests["model"].map(results.model_label)
        for measure in [m for m in MEASURE_NAMES if m in set(tests["measure"])]:
            rows = tests[tests["measure"] == measure].reset_index(drop=True)
            t = time_fmt(measure)
            out.append(
                (
                    measure,
                    f"<h3>Each condition against the control ({esc(MEASURE_NAMES[measure])})</h3>",
                )
            )
            out.append((measure, table(rows, [
                ("model", "model"), ("condition", "condition"), ("design", "design"),
                ("pairs", "n_pairs"),
                ("median", num_cell("median", t)), ("median (control)", num_cell("median_control", t)),
                ("time ratio [95% CI]", ratio_cell),
                ("within the margin? [90% CI]", equivalence_cell),
                ("RMST difference [95% CI]", ci_cell("rmst_difference", "rmst_difference_ci_low",
                                                      "rmst_difference_ci_high", t)),
                ("detectable ratio", num_cell("detectable_ratio", ratio)),
                ("p", p_cell("p_value")), ("p (Holm)", p_cell("p_holm")),
            ], highlight=rows["p_holm"] < ALPHA)))  # fmt: skip
            if measure == "seconds":
                out.append((measure, para(answer.load_note(results.runs), "note")))
        out.append(("", para(f"Control: {label(str(tests['control'].iloc[0]))}. Time ratio: the "
                      "Hodges-Lehmann estimate of each seed's time divided by the same seed's "
                      "control time (below 1: reached sooner; censored runs count at the budget), "
                      "with the exact CI of the signed-rank test; unpaired designs give the ratio "
                      "of geometric means and no CI. Within the margin: whether two one-sided "
                      "tests (Holm-corrected) put the ratio inside the suite's equivalence margin, "
                      "with the 90% CI they correspond to. "
                      "RMST difference: condition minus control restricted mean time to threshold up "
                      "to the budget, bootstrap over seed pairs (paired) or runs (unpaired). "
                      "Detectable ratio: the ratio the comparison had 80% power to detect at its "
                      "Holm level (its inverse for slower). Highlighted rows: Holm-corrected "
                      "p < 0.05.", "note")))  # fmt: skip
    return out


def ratio_cell(row: pd.Series) -> str:
    """``0.82 [0.74, 0.91]``; ``[unbounded]`` where too few seeds bound the CI."""
    value, low, high = (float(row[k]) for k in ("time_ratio", "time_ratio_ci_low",
                                                "time_ratio_ci_high"))  # fmt: skip
    if not np.isfinite(value):
        return "–"
    if not (np.isfinite(low) or np.isfinite(high)):
        return f"{value:.2f}"
    if not (low > 0 and np.isfinite(high)):
        return f"{value:.2f} [unbounded]"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


def equivalence_cell(row: pd.Series) -> str:
    """``yes, ±10% [0.97, 1.04]``, ``no [0.90, 1.21]``, or – when not paired."""
    low, high = (
        float(row.get("equivalence_ci_low", np.nan)),
        float(row.get("equivalence_ci_high", np.nan)),
    )
    if not (np.isfinite(low) or np.isfinite(high)):
        return "–"
    bounds = f"[{low:.2f}, {high:.2f}]" if low > 0 and np.isfinite(high) else "[unbounded]"
    return f"{'yes' if equivalent(row) else 'no'}, {margin_words(row)} {bounds}"


def _overall_table(results: Results, analysis: Analysis) -> list[str]:
    """The test of all conditions at once."""
    out: list[str] = []
    overall = analysis.convergence_overall.copy()
    if not overall.empty:
        overall["model"] = overall["model"].map(results.model_label)
        out.append("<h3>All conditions at once</h3>")
        out.append(table(overall, [
            ("time", "measure"), ("model", "model"), ("design", "design"), ("test", "test"),
            ("conditions", "k"), ("runs", "n"), ("permutations", "n_permutations"),
            ("p", p_cell("p_value")), ("p (Holm)", p_cell("p_holm")),
        ]))  # fmt: skip
    return out


def sensitivity_section(results: Results, analysis: Analysis) -> str:
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
