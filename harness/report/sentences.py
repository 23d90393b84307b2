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

from harness.report.claims import equivalence_ci, equivalence_holm, equivalent, margin_words
from harness.report.numbers import ALPHA, fmt_ci, fmt_p, fmt_range, fmt_time, plural, series
from harness.report.separation import language_metrics
from harness.spec.config import ANSWER_MEASURE
from harness.stats.analysis import Analysis
from harness.tables.results import Results

# ---------------------------------------------------------------- numbers


def unit(measure: str) -> str:
    return "s" if measure == "seconds" else "steps"


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
    text = head + series(parts) + "."
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
    results: Results, analysis: Analysis, measure: str = ANSWER_MEASURE
) -> list[str]:
    """One sentence per model and condition against the control."""
    out: list[str] = []
    control = analysis.control
    tests = analysis.convergence_vs_control
    if control is None:
        return ["No control condition is known, so no condition is compared with one."]
    ctrl_label = results.condition_label(control)
    for model in results.models:
        ctrl_row = _summary_row(analysis, measure, model, control)
        if ctrl_row is None:
            out.append(
                f"The {results.model_label(model)} has no finished runs of the control condition “{ctrl_label}”, so nothing is compared for it."
            )
            continue
        for condition in results.conditions:
            if condition == control:
                continue
            row = _summary_row(analysis, measure, model, condition)
            label = results.condition_label(condition)
            if row is None:
                out.append(f"The {results.model_label(model)} has no finished runs with “{label}”.")
                continue
            test = tests[(tests["measure"] == measure) & (tests["model"] == model)
                         & (tests["condition"] == condition)] if not tests.empty else tests  # fmt: skip
            text = (
                f"With “{label}” the {results.model_label(model)} {_median_phrase(row, measure)}; "
                "under the control "
                f"“{ctrl_label}” it {_median_phrase(ctrl_row, measure)}."
            )
            if len(test):
                text += " " + _verdict(test.iloc[0], results.model_label(model), measure)
            out.append(text)
    return out


def _ratio(x: float) -> str:
    return "–" if not np.isfinite(x) else f"{x:.2f}"


def change_phrase(ratio: float) -> str:
    """A time ratio as a change: 0.8 -> '20% fewer', 1.25 -> '25% more'."""
    if not np.isfinite(ratio):
        return "an unknown change"
    if ratio <= 1:
        return f"{(1 - ratio) * 100:.0f}% fewer"
    return f"{(ratio - 1) * 100:.0f}% more"


def detectable_phrase(t: pd.Series, measure: str) -> str:
    """What the comparison could have seen: its minimum detectable effect."""
    r = t["detectable_ratio"]
    if not np.isfinite(r):
        return "too few runs to say what difference it could have detected"
    if r == 0:
        return (
            "with this many seeds no difference of any size could reach significance at its "
            "Holm level (an exact test needs more seeds)"
        )
    if _ratio(r) == _ratio(1.0):
        return "its seeds showed no spread, so the change it could have detected is unknown"
    return (
        f"at best this design could detect a change of {change_phrase(r)} {unit(measure)} or "
        f"{change_phrase(1 / r)} (time ratio {_ratio(r)} or {_ratio(1 / r)}: 80% power at its "
        "Holm level for continuous times, less with ties on the evaluation grid)"
    )


def _ratio_ci(t: pd.Series) -> str:
    """The time ratio's exact CI; with too few seeds the test rejects no ratio
    at all, and the interval is unbounded."""
    low, high = t["time_ratio_ci_low"], t["time_ratio_ci_high"]
    if not (low > 0 and np.isfinite(high)):
        return "[no bounded 95% CI with this many seeds]"
    return f"[95% CI {_ratio(low)}, {_ratio(high)}]"


def _ratio_phrase(t: pd.Series) -> str:
    ci = _ratio_ci(t)
    if t["design"] == "paired":
        return (
            f"paired over {plural(int(t['n_pairs']), 'seed')}, time ratio {_ratio(t['time_ratio'])} "
            f"{ci} (Hodges-Lehmann estimate of the per-seed ratios to the control)"
        )
    return (
        f"unpaired ({t['n']} and {t['n_control']} runs), ratio of geometric mean times "
        f"{_ratio(t['time_ratio'])}"
    )


def _verdict(t: pd.Series, model: str, measure: str) -> str:
    p, p_holm = t["p_value"], t["p_holm"]
    if not np.isfinite(p):
        if t["n_reached"] + t["n_reached_control"] == 0:
            return "No run of either group crossed the threshold, so there is nothing to compare."
        return "Too few runs to compare (the test is undefined, not evidence of a difference)."
    test = "signed-rank test" if t["design"] == "paired" else "permutation log-rank test"
    head = (
        f"{_ratio_phrase(t)[0].upper()}{_ratio_phrase(t)[1:]}; {test} "
        f"{fmt_p(p_holm)} (Holm-corrected; uncorrected {fmt_p(p)})"
    )
    if p_holm < ALPHA:
        direction = "sooner" if t["time_ratio"] < 1 else "later"
        diff, low, high = (
            t["rmst_difference"],
            t["rmst_difference_ci_low"],
            t["rmst_difference_ci_high"],
        )
        budget = f"{fmt_time(t['rmst_tau'], measure)} {unit(measure)}"
        size_low, size_high = (-high, -low) if diff < 0 else (low, high)
        amount = (
            f"; within the first {budget}, the mean time to threshold is "
            f"{fmt_time(abs(diff), measure)} {unit(measure)} {'shorter' if diff < 0 else 'longer'} "
            f"{fmt_ci(size_low, size_high, 'time', measure)} (restricted mean survival time)"
        )
        return (
            f"{head}: evidence that the {model} reaches the threshold {direction} with this "
            f"pretraining{amount}."
        )
    if equivalent(t):
        return (
            f"{head}: no change larger than {margin_words(t)} "
            f"({equivalence_ci(t)} inside the margin; {equivalence_holm([t])})."
        )
    return (
        f"{head}: no evidence of a difference, and not shown to be within "
        f"{margin_words(t)}; {detectable_phrase(t, measure)}."
    )


def overall_sentences(
    results: Results, analysis: Analysis, measure: str = ANSWER_MEASURE
) -> list[str]:
    out: list[str] = []
    table = analysis.convergence_overall
    if table.empty:
        return out
    for _, row in table[table["measure"] == measure].iterrows():
        if row["k"] < 3 or not np.isfinite(row["p_value"]):
            continue
        lead = (
            f"Across all {row['k']} conditions, the {row['test']} for the "
            f"{results.model_label(row['model'])} "
            f"gives {fmt_p(row['p_holm'])} (Holm over models)"
        )
        if row["p_holm"] < ALPHA:
            out.append(
                lead + ": evidence that the conditions do not all share one time to threshold."
            )
        else:
            out.append(lead + ": no evidence that the conditions differ.")
    return out


def cost_sentences(results: Results, analysis: Analysis) -> list[str]:
    """Per model: does the head start survive counting the pretraining steps?"""
    tests = analysis.convergence_vs_control
    if tests.empty or "total_steps" not in set(tests["measure"]):
        return []
    out = []
    for model in results.models:
        total = tests[(tests["measure"] == "total_steps") & (tests["model"] == model)]
        target = tests[(tests["measure"] == "steps") & (tests["model"] == model)]
        faster = target[(target["p_holm"] < ALPHA) & (target["time_ratio"] < 1)]
        if total.empty or faster.empty:
            continue
        kept = total[total["condition"].isin(faster["condition"])]
        still = kept[(kept["p_holm"] < ALPHA) & (kept["time_ratio"] < 1)]
        lost = kept[~kept.index.isin(still.index)]
        if len(kept) == 1:
            text = (
                f"Counting the pretraining steps too, the {results.model_label(model)}'s time ratio "
                "to the control "
                f"with “{results.condition_label(kept['condition'].iloc[0])}” is "
                f"{kept['time_ratio'].iloc[0]:.2f}"
            )
        else:
            text = (
                f"Counting the pretraining steps too, the {results.model_label(model)}'s time "
                "ratios to the control "
                f"are {fmt_range(kept['time_ratio'], 2)} for the {len(kept)} conditions that "
                "sped it up"
            )
        if len(still) == len(kept):
            text += (
                f" (Holm-corrected p ≤ {kept['p_holm'].max():.2g}): the head start is worth "
                "more than the pretraining it cost."
            )
        else:
            labels = ", ".join(f"“{results.condition_label(c)}”" for c in lost["condition"])
            text += f"; with {labels} the saving is not evidenced once pretraining is counted."
        out.append(text)
    return out


def _the(models: Sequence[str]) -> str:
    """'the a', 'the a and the b', 'the a, the b and the c'."""
    names = [f"the {m}" for m in models]
    return series(names)


def _speed_clause(t: pd.Series, model: str) -> str:
    """A condition's learning speed against the control for one model (a row of
    ``convergence_vs_control``)."""
    ratio = (
        f"time ratio {_ratio(t['time_ratio'])} {_ratio_ci(t)}"
        if t["design"] == "paired"
        else f"ratio {_ratio(t['time_ratio'])}"
    )
    if t["p_holm"] < ALPHA:
        way = "sooner" if t["time_ratio"] < 1 else "later"
        return f"the {model} reached the threshold {way} ({ratio})"
    if equivalent(t):
        return (
            f"no change in learning speed larger than {margin_words(t)} for the {model} "
            f"({ratio}; {equivalence_ci(t)})"
        )
    none = f"no evidence of a difference in learning speed for the {model}"
    if _ratio(t["detectable_ratio"]) == _ratio(1.0):
        return f"{none} ({ratio}; its seeds showed no spread)"
    if np.isfinite(t["detectable_ratio"]) and t["detectable_ratio"] > 0:
        return (
            f"{none} ({ratio}; at best a change of {(1 - t['detectable_ratio']) * 100:.0f}% or "
            "more was detectable)"
        )
    if t["detectable_ratio"] == 0:
        return (
            f"{none} ({ratio}; too few informative seeds for a change of any size to be detectable)"
        )
    return none


def _separation_clause(mine: pd.DataFrame, metric: str, scores: pd.DataFrame) -> str:
    """A condition's language separation against the control over the model latent
    spaces (its rows of ``separability_vs_control`` for the main metric): the
    differences found, else how many spaces were at chance in every condition
    (a floor) and how many were shown equivalent; never "no difference" alone."""
    sig = mine[mine["p_holm"] < ALPHA]
    sign = sig["difference"] * np.where(sig["higher_is_better"], 1, -1)
    better, worse = int((sign > 0).sum()), int((sign < 0).sum())
    spaces = plural(len(mine), "model latent space")
    if better or worse:
        return f"languages separated better in {better} and worse in {worse} of {spaces} ({metric})"
    floor = sum(_at_chance_everywhere(scores, row) for _, row in mine.iterrows())
    shown = int(mine["equivalent"].fillna(False).astype(bool).sum()) if "equivalent" in mine else 0
    notes = []
    if floor:
        notes.append(f"{floor} at chance in every condition (a floor)")
    if shown:
        margin = mine["margin"].dropna()
        within = f" within ±{float(margin.iloc[0]):.2f}" if not margin.empty else ""
        notes.append(f"{shown} shown equivalent{within}")
    elif floor < len(mine):
        notes.append("equivalence shown in none")
    return (
        f"no evidence of a difference in language separation in any of {spaces} ({metric}; "
        + ", ".join(notes)
        + ")"
    )


def _at_chance_everywhere(scores: pd.DataFrame, row: pd.Series) -> bool:
    """The row's latent space is above chance in no condition."""
    if scores.empty or "above_chance" not in scores:
        return False
    keys = ("model", "latent_space", "probe", "metric")
    same = np.logical_and.reduce([scores[k] == row[k] for k in keys])
    if "chance" in scores:  # a score without a chance level is never at chance
        same = same & scores["chance"].notna().to_numpy()
    space = scores[same]
    return not space.empty and not space["above_chance"].fillna(False).astype(bool).any()


def headline_sentences(results: Results, analysis: Analysis) -> list[str]:
    """One line per condition: the gist of both questions, before the details."""
    control = analysis.control
    if control is None:
        return []
    tests = analysis.convergence_vs_control
    tests = tests[tests["measure"] == "steps"] if not tests.empty else tests
    vs = analysis.separability_vs_control
    metrics = language_metrics(analysis)
    if not vs.empty:
        vs = (
            vs[(vs["probe"] == metrics[0][0]) & (vs["metric"] == metrics[0][1])]
            if metrics
            else vs.iloc[0:0]
        )
    name = results.model_label
    out = []
    for condition in results.conditions:
        if condition == control:
            continue
        parts = []
        mine = tests[tests["condition"] == condition] if not tests.empty else tests
        if len(mine):
            parts.append("; ".join(_speed_clause(t, name(t["model"])) for _, t in mine.iterrows()))
        mine = vs[vs["condition"] == condition] if not vs.empty else vs
        if len(mine):
            parts.append(
                _separation_clause(mine, results.metric_label(metrics[0][1]), analysis.separability)
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
        "p-values are Holm-corrected within each family (the comparisons of one time measure; "
        "the comparisons of one probe metric); intervals are 95%. A non-significant result means "
        "no evidence of a difference, not evidence of none."
    )
    return text
