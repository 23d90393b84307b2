"""The report's section on probes along training (``[probing] probe_at``):
each probe's headline scores against target-training steps per condition
(:mod:`harness.report.trajectory_figure`) and a table of where each line starts
and ends. It is descriptive: the median over seeds with their interquartile
range, no test across steps (the tests of the final probing are in the
separability section). Drawn only when some run has rows along training."""

from __future__ import annotations

import pandas as pd

from harness.report.markup import esc, figure, para, table
from harness.report.numbers import fmt_num
from harness.report.trajectory_figure import PANEL, trajectory_figure
from harness.tables.probes import along_table
from harness.tables.results import Results

#: one row per panel, condition and step
SUMMARY_COLUMNS = [*PANEL, "condition", "step", "median", "q25", "q75", "n_seeds", "chance"]


def headline_rows(along: pd.DataFrame) -> pd.DataFrame:
    """The rows of each probe's headline scores: those it declared ``headline``,
    else its scores with a declared chance level, else all its scores."""
    scores = along[along["role"] == "score"]
    parts = []
    for _, rows in scores.groupby("probe", sort=False):
        if rows["headline"].astype(bool).any():
            rows = rows[rows["headline"].astype(bool)]
        elif rows["chance_metric"].notna().any():
            rows = rows[rows["chance_metric"].notna()]
        parts.append(rows)
    return pd.concat(parts) if parts else scores


def trajectory_summary(results: Results) -> pd.DataFrame:
    """The headline scores along training as :data:`SUMMARY_COLUMNS`: per model,
    probe, metric, latent space, condition and step, the median over seeds, the
    seeds' 25th and 75th percentiles, how many seeds were measured there, and
    the median of the runs' chance levels."""
    rows = headline_rows(along_table(results.records.values()))
    rows = rows.dropna(subset=["value"])
    if rows.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    grouped = rows.groupby([*PANEL, "condition", "step"], sort=False)
    summary = grouped.agg(
        median=("value", "median"),
        q25=("value", lambda v: v.quantile(0.25)),
        q75=("value", lambda v: v.quantile(0.75)),
        n_seeds=("seed", "nunique"),
        chance=("chance", "median"),
    )
    return summary.reset_index()[SUMMARY_COLUMNS]


def _ends(summary: pd.DataFrame, results: Results) -> pd.DataFrame:
    """Per panel and condition: the median at the first and the last step measured."""
    out = []
    for key, rows in summary.groupby([*PANEL, "condition"], sort=False):
        rows = rows.sort_values("step")
        first, last = rows.iloc[0], rows.iloc[-1]
        model, probe, metric, space, condition = (str(k) for k in key)
        out.append({
            "model": results.model_label(model),
            "score": f"{results.metric_label(metric)} ({probe})",
            "latent_space": space,
            "condition": results.condition_label(condition),
            "start": f"{fmt_num(first['median'])} at step {int(first['step'])}",
            "end": f"{fmt_num(last['median'])} at step {int(last['step'])}",
            "seeds": f"{int(first['n_seeds'])} → {int(last['n_seeds'])}",
        })  # fmt: skip
    return pd.DataFrame(out)


_READING = (
    "Each line is the median over seeds of a probe's headline score on the model after "
    "that many target-training steps ([probing] probe_at; step 0 is the model as target "
    "training starts, after any pretraining); the band is the seeds' interquartile range "
    "(25th to 75th percentile; none with one seed); the dotted line is the score's chance "
    "level where the probe declares one. A run is not probed after it stopped (the "
    "threshold reached, or the budget spent), so a late point summarises only the seeds "
    "still training there: the table gives how many. This describes how the scores moved; "
    "no test across steps or between conditions along training is made here (the tests "
    "of the final probing are in the separability section)."
)


def trajectory_section(results: Results) -> str:
    """The section, or "" where no run has rows along training."""
    summary = trajectory_summary(results)
    if summary.empty:
        return ""
    out = ['<section id="along-training"><h2>Probes along training</h2>', para(_READING)]
    alt = "Probe scores against target-training steps"
    caption = (
        "Probe scores against target-training steps: median over seeds per condition, "
        "band the seeds' interquartile range, dotted line chance."
    )
    out.append(figure(trajectory_figure(results, summary), alt, caption))
    ends = _ends(summary, results)
    columns = [("model", "model"), ("score", "score"), ("latent space", "latent_space"),
               ("condition", "condition"), ("first point", "start"), ("last point", "end"),
               ("seeds measured", "seeds")]  # fmt: skip
    out.append(table(ends, columns))
    out.append(f'<p class="muted">{esc("Rows along training: probes.csv, where step is set.")}</p>')
    out.append("</section>")
    return "".join(out)
