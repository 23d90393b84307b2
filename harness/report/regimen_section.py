"""The report's regimens side by side: per model, one row per condition with
what its pretraining alone gives on the held-out speakers (the target measure
at step 0 of target training), how fast the target was then learnt (the
Kaplan-Meier median of steps to the threshold), the held-out measure at the
end, and each probe score that has no chance level (such as the
``temporal_integration`` probe's window), with its interval and its
difference from the control.

The section appears when a probe of the suite reports a score without a
chance level: those scores are not separability, so the separability section
is not where a reader looks for them beside the learning measures. Its
numbers come from the tables the other sections read (curves.csv, runs.csv,
stats/survival_summary.csv, stats/separability*.csv), never from the plugins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.markup import ci_cell, esc, p_cell, para, signed, table
from harness.report.numbers import fmt_range
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def _unchanced(analysis: Analysis) -> pd.DataFrame:
    """Probe scores without a chance level, outside the raw-feature baseline."""
    rows = analysis.separability
    if rows.empty:
        return rows
    return rows[rows["chance"].isna() & ~rows["is_baseline"].astype(bool)]


def _step_zero(results: Results, model: str, condition: str, measure: str) -> np.ndarray:
    """The held-out target measure of each seed's run at step 0 (after pretraining)."""
    curves = results.curves
    column = f"heldout_{measure}"
    if column not in curves.columns:
        return np.array([])
    mine = curves[
        (curves["model"] == model) & (curves["condition"] == condition) & (curves["step"] == 0)
    ]
    return mine[column].dropna().to_numpy(float)


def _rows(results: Results, analysis: Analysis, model: str, scores: pd.DataFrame) -> pd.DataFrame:
    runs = results.runs[results.runs["model"] == model]
    survival = analysis.survival_summary
    steps = survival[(survival["measure"] == "steps") & (survival["model"] == model)]
    versus = analysis.separability_vs_control
    out = []
    for condition in results.conditions:
        mine = runs[runs["condition"] == condition]
        if mine.empty:
            continue
        measure = str(mine["metric"].iloc[0])
        start = _step_zero(results, model, condition, measure)
        ends = mine["final_metric"].dropna().to_numpy(float)
        row: dict[str, object] = {
            "condition": results.condition_label(condition),
            "pretrain": f"{mine['pretrain_steps'].mean():.0f}",
            "start": _mean_range(start),
            "end": _mean_range(ends),
            "steps": _median(steps[steps["condition"] == condition]),
        }
        for key, score in scores.groupby(["latent_space", "probe", "metric"], sort=False):
            here = score[(score["model"] == model) & (score["condition"] == condition)]
            row[f"score:{'|'.join(key)}"] = _score(here)
            row[f"diff:{'|'.join(key)}"] = _difference(versus, model, condition, key)
        out.append(row)
    return pd.DataFrame(out)


def _mean_range(values: np.ndarray) -> str:
    if not len(values):
        return "–"
    return f"{values.mean():.2f} ({fmt_range(values, 2)})"


def _median(row: pd.DataFrame) -> str:
    if row.empty:
        return "–"
    first = row.iloc[0]
    cell = ci_cell("median", "median_ci_low", "median_ci_high", _whole)
    return f"{cell(first)}; {int(first['n_reached'])}/{int(first['n_runs'])} reached"


def _whole(x: float) -> str:
    return "not reached" if np.isinf(x) else f"{x:.0f}"


def _score(rows: pd.DataFrame) -> str:
    if rows.empty:
        return "–"
    return ci_cell("mean", "ci_low", "ci_high", lambda x: f"{x:.1f}")(rows.iloc[0])


def _difference(versus: pd.DataFrame, model: str, condition: str, key: tuple) -> str:
    if versus.empty:
        return "–"
    space, probe, metric = key
    rows = versus[
        (versus["model"] == model)
        & (versus["condition"] == condition)
        & (versus["latent_space"] == space)
        & (versus["probe"] == probe)
        & (versus["metric"] == metric)
    ]
    if rows.empty:
        return "control"
    row = rows.iloc[0]
    text = ci_cell("difference", "difference_ci_low", "difference_ci_high", signed)(row)
    p = p_cell("p_holm")(row)
    return f"{text}, p (Holm) {p}" if p not in ("", "–") else text


def _columns(
    results: Results, frame: pd.DataFrame, scores: pd.DataFrame, measure: str
) -> list[tuple[str, str]]:
    columns = [
        ("condition", "condition"),
        ("pretraining steps", "pretrain"),
        (f"held-out {measure} at step 0, mean (range over seeds)", "start"),
        ("median steps to threshold [95% CI]", "steps"),
        (f"held-out {measure} at the end", "end"),
    ]
    for key, rows in scores.groupby(["latent_space", "probe", "metric"], sort=False):
        name = f"{results.metric_label(str(rows['metric'].iloc[0]))}, {key[0]}"
        columns.append((f"{name}, mean [95% CI]", f"score:{'|'.join(key)}"))
        columns.append(("minus the control [95% CI]", f"diff:{'|'.join(key)}"))
    return [c for c in columns if c[1] in frame.columns]


def section(results: Results, analysis: Analysis) -> str:
    """The section, or "" when no probe reports a score without a chance level."""
    scores = _unchanced(analysis)
    if scores.empty or results.runs.empty:
        return ""
    out = [
        '<section id="regimens"><h2>Regimens side by side</h2>',
        para(
            "Per condition: its pretraining steps; the held-out measure of the target right "
            "after pretraining (step 0: what the pretraining alone gives on the held-out "
            "speakers); the Kaplan-Meier median of steps to the threshold (censored runs "
            "counted); the held-out measure when training stopped (at the threshold, or at "
            "the budget); and each probe score without a chance level, mean over seeds with "
            "its 95% CI (seeds and speakers as sampled where the probe reports per-speaker "
            "results), and its difference from the control at the same seeds, Holm over the "
            "conditions. stats/separability.csv and separability_vs_control.csv hold every "
            "column."
        ),
    ]
    for model in results.models:
        frame = _rows(results, analysis, model, scores[scores["model"] == model])
        if frame.empty:
            continue
        runs = results.runs[results.runs["model"] == model]
        measure = str(runs["metric"].iloc[0]).replace("_", " ")
        out.append(f"<h3>{esc(results.model_label(model))}</h3>")
        out.append(
            table(frame, _columns(results, frame, scores[scores["model"] == model], measure))
        )
    out.append("</section>")
    return "\n".join(out)
