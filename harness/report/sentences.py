"""The report's answer in plain sentences, generated from the statistics.

Every sentence is plain text (the HTML layer escapes it) and every number in
it comes from a row of ``stats/*.csv``. Wording rules: a Holm-corrected
p < ALPHA is "evidence of a difference" with its direction; otherwise "no
evidence of a difference", never "no difference"; censored and diverged runs
are always counted next to the medians.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from harness.report.numbers import ALPHA, fmt_ci, fmt_p, fmt_range, fmt_time, plural
from harness.report.separation import main_metrics
from harness.results import Results
from harness.stats.analysis import Analysis

# ---------------------------------------------------------------- numbers


def unit(measure: str) -> str:
    return "steps" if measure == "steps" else "s"


# ---------------------------------------------------------------- run counts


def status_sentence(results: Results) -> str:
    runs = results.runs
    counts = runs["status"].value_counts()
    expected = results.expected_count
    parts = [
        f"{plural(int(counts.get('reached', 0)), 'run')} reached the threshold",
        f"{int(counts.get('censored', 0))} did not within the budget (censored)",
        f"{int(counts.get('diverged', 0))} diverged",
        f"{int(counts.get('failed', 0))} failed",
    ]
    head = f"Of {expected} expected runs, " if expected is not None else ""
    text = head + ", ".join(parts[:-1]) + f" and {parts[-1]}."
    missing = results.n_missing
    if missing:
        text += (
            f" {plural(missing, 'run is', 'runs are')} missing (not finished yet, or never run): "
            "this report covers a partial suite."
        )
    elif expected is None:
        text += " The expected number of runs is unknown (no manifest.json and no suite.toml)."
    return text


# ---------------------------------------------------------------- convergence


def _summary_row(analysis: Analysis, measure: str, model: str, condition: str) -> pd.Series | None:
    s = analysis.survival_summary
    if s.empty:
        return None
    rows = s[(s["measure"] == measure) & (s["model"] == model) & (s["condition"] == condition)]
    return rows.iloc[0] if len(rows) else None


def _median_phrase(row: pd.Series, measure: str) -> str:
    u = unit(measure)
    lost = f"{row['n_censored']} of {row['n_runs']} runs censored"
    if row["n_diverged"]:
        lost += f", {row['n_diverged']} diverged"
    if math.isinf(row["median"]):
        return (
            f"did not reach a median within the budget (fewer than half of {row['n_runs']} "
            f"runs crossed; {lost})"
        )
    ci = fmt_ci(row["median_ci_low"], row["median_ci_high"], "time", measure)
    return f"reached the threshold in a median {fmt_time(row['median'], measure)} {u} {ci} ({lost})"


def convergence_sentences(
    results: Results, analysis: Analysis, measure: str = "steps"
) -> list[str]:
    """One sentence per model and condition against the control."""
    out: list[str] = []
    control = analysis.control
    tests = analysis.logrank_vs_control
    if control is None:
        return ["No control condition is known, so no condition is compared with one."]
    ctrl_label = results.condition_label(control)
    for model in results.models:
        ctrl_row = _summary_row(analysis, measure, model, control)
        if ctrl_row is None:
            out.append(
                f"The {model} has no finished runs of the control condition “{ctrl_label}”, so nothing is compared for it."
            )
            continue
        for condition in results.conditions:
            if condition == control:
                continue
            row = _summary_row(analysis, measure, model, condition)
            label = results.condition_label(condition)
            if row is None:
                out.append(f"The {model} has no finished runs with “{label}”.")
                continue
            test = tests[(tests["measure"] == measure) & (tests["model"] == model)
                         & (tests["condition"] == condition)] if not tests.empty else tests  # fmt: skip
            text = (
                f"With “{label}” the {model} {_median_phrase(row, measure)}; under the control "
                f"“{ctrl_label}” it {_median_phrase(ctrl_row, measure)}."
            )
            if len(test):
                text += " " + _logrank_verdict(test.iloc[0], model, measure)
            out.append(text)
    return out


def _logrank_verdict(t: pd.Series, model: str, measure: str) -> str:
    p, p_holm = t["p_value"], t["p_holm"]
    if not np.isfinite(p):
        if t["n_reached"] + t["n_reached_control"] == 0:
            return "No run of either group crossed the threshold, so the log-rank test cannot compare them."
        return (
            "Every run that crossed did so at the same evaluation, so the log-rank test has "
            "no variation to compare (it is undefined, not evidence of a difference)."
        )
    head = f"Log-rank {fmt_p(p_holm)} (Holm-corrected; uncorrected {fmt_p(p)})"
    diff, low, high = (
        t["rmst_difference"],
        t["rmst_difference_ci_low"],
        t["rmst_difference_ci_high"],
    )
    budget = f"{fmt_time(t['rmst_tau'], measure)} {unit(measure)}"
    if p_holm < ALPHA:
        faster = t["z"] > 0
        direction = "sooner" if faster else "later"
        # the CI is of the signed difference; state it for the size of the change
        size_low, size_high = (-high, -low) if diff < 0 else (low, high)
        amount = (
            f"; within the first {budget}, the mean time to threshold is "
            f"{fmt_time(abs(diff), measure)} {unit(measure)} {'shorter' if diff < 0 else 'longer'} "
            f"{fmt_ci(size_low, size_high, 'time', measure)} (restricted mean survival time difference)"
        )
        return f"{head}: evidence that the {model} reaches the threshold {direction} with this pretraining{amount}."
    return (
        f"{head}: no evidence of a difference at the {ALPHA:.0%} level; with "
        f"{fmt_range([t['n'], t['n_control']])} runs per group, a modest effect could go undetected."
    )


def overall_sentences(results: Results, analysis: Analysis, measure: str = "steps") -> list[str]:
    out: list[str] = []
    table = analysis.logrank_overall
    if table.empty:
        return out
    for _, row in table[table["measure"] == measure].iterrows():
        if row["k"] < 3 or not np.isfinite(row["p_value"]):
            continue
        lead = (
            f"Across all {row['k']} conditions, the k-sample log-rank test for the {row['model']} "
            f"gives χ² = {row['chi2']:.2f} on {row['df']} df, {fmt_p(row['p_holm'])} (Holm over models)"
        )
        if row["p_holm"] < ALPHA:
            out.append(
                lead
                + ": evidence that the conditions do not all share one time-to-threshold distribution."
            )
        else:
            out.append(lead + ": no evidence that the conditions differ.")
    return out


def _the(models: Sequence[str]) -> str:
    """'the a', 'the a and the b', 'the a, the b and the c'."""
    names = [f"the {m}" for m in models]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def headline_sentences(results: Results, analysis: Analysis) -> list[str]:
    """One line per condition: the gist of both questions, before the details."""
    control = analysis.control
    if control is None:
        return []
    tests = analysis.logrank_vs_control
    tests = tests[tests["measure"] == "steps"] if not tests.empty else tests
    vs = analysis.separability_vs_control
    metrics = main_metrics(analysis)
    if metrics and not vs.empty:
        vs = vs[(vs["probe"] == metrics[0][0]) & (vs["metric"] == metrics[0][1])]
    out = []
    for condition in results.conditions:
        if condition == control:
            continue
        parts = []
        mine = tests[tests["condition"] == condition] if not tests.empty else tests
        if len(mine):
            sig = mine[mine["p_holm"] < ALPHA]
            sooner = [str(m) for m in sig.loc[sig["z"] > 0, "model"]]
            later = [str(m) for m in sig.loc[sig["z"] < 0, "model"]]
            rest = [str(m) for m in mine["model"] if m not in set(sooner + later)]
            speed = []
            if sooner:
                speed.append(f"{_the(sooner)} reached the threshold sooner")
            if later:
                speed.append(f"{_the(later)} reached it later")
            if rest:
                speed.append(f"no evidence of a difference in learning speed for {_the(rest)}")
            parts.append("; ".join(speed))
        mine = vs[vs["condition"] == condition] if not vs.empty else vs
        if len(mine):
            sig = mine[mine["p_holm"] < ALPHA]
            sign = sig["difference"] * np.where(sig["higher_is_better"], 1, -1)
            better, worse = int((sign > 0).sum()), int((sign < 0).sum())
            metric = metrics[0][1]
            if better or worse:
                parts.append(
                    f"languages separated better in {better} and worse in {worse} of "
                    f"{plural(len(mine), 'model latent space')} ({metric})"
                )
            else:
                parts.append(
                    f"no evidence of a difference in language separation in any of "
                    f"{plural(len(mine), 'model latent space')} ({metric})"
                )
        if parts:
            out.append(
                f"“{results.condition_label(condition)}” against “{results.condition_label(control)}”: "
                + "; ".join(parts)
                + "."
            )
    return out


def caveats(results: Results, analysis: Analysis) -> list[str]:
    seeds = results.runs.groupby(["model", "condition"])["seed"].nunique()
    text = []
    if len(seeds):
        text.append(
            f"Each condition and model has {fmt_range(seeds.to_numpy())} seeds. For learning "
            "speed the seed is the unit of replication; for language separation the probe "
            "speakers are sampled too, and every interval and test counts both (Methods)."
        )
    text.append(
        "p-values are Holm-corrected within each family (the log-rank tests of one time measure; "
        "the comparisons of one probe metric); intervals are 95%. A non-significant result means "
        "no evidence of a difference, not evidence of none."
    )
    return text
