"""The report's attunement section: for a suite whose ``abx`` probe names
native and foreign languages, ABX on the native contrasts, on the foreign
ones and their difference (attunement = foreign - native; positive is
native-like) per condition and latent space with 95% CIs, and each
condition's attunement against the control, paired over seeds, speakers as
sampled. Every number comes from the separability tables
(``stats/separability.csv``, ``stats/separability_vs_control.csv``): the
probe declares these scores like any other, so the statistics have no code of
their own here (across-speaker scores are tested over speaker pairs,
:mod:`harness.stats.abx_pairs`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.report.markup import Cell, ci_cell, esc, p_cell, para, table
from harness.report.numbers import fmt_num

if TYPE_CHECKING:
    from harness.stats.analysis import Analysis
    from harness.tables.results import Results

MODES = ("within", "across")
SIDES = ("native", "foreign", "attunement")


def attunement_frame(summary: pd.DataFrame, mode: str) -> pd.DataFrame:
    """One row per model, condition and latent space: native, foreign and
    attunement (``<side>``, ``<side>_ci_low``, ``<side>_ci_high``)."""
    names = {f"abx_{side}_{mode}": side for side in SIDES}
    part = summary[summary["metric"].isin(list(names))]
    if part.empty:
        return pd.DataFrame()
    rows: dict[tuple[str, str, str], dict[str, object]] = {}
    for _, r in part.iterrows():
        key = (str(r["model"]), str(r["condition"]), str(r["latent_space"]))
        row = rows.setdefault(
            key, dict(zip(["model", "condition", "latent_space"], key, strict=True))
        )
        side = names[str(r["metric"])]
        row.update(
            {side: r["mean"], f"{side}_ci_low": r["ci_low"], f"{side}_ci_high": r["ci_high"]}
        )
    return pd.DataFrame(list(rows.values()))


def _num(column: str) -> Cell:
    return lambda row: fmt_num(float(row[column]))


def attunement_section(results: Results, analysis: Analysis) -> str:
    """The section, or "" where no probe reported native and foreign ABX."""
    blocks = []
    for mode in MODES:
        frame = attunement_frame(analysis.separability, mode)
        if frame.empty:
            continue
        frame["condition"] = [results.condition_label(c) for c in frame["condition"]]
        blocks.append(f"<h3>{esc(mode.capitalize())} speakers</h3>")
        columns: list[tuple[str, Cell]] = [
            ("model", "model"), ("condition", "condition"), ("latent space", "latent_space")
        ]  # fmt: skip
        columns += [
            (f"{side} [95% CI]", ci_cell(side, f"{side}_ci_low", f"{side}_ci_high", fmt_num))
            for side in SIDES
            if side in frame.columns
        ]
        blocks.append(table(frame, columns))
        vs = analysis.separability_vs_control
        vs = vs[vs["metric"] == f"abx_attunement_{mode}"] if not vs.empty else vs
        if not vs.empty:
            vs = vs.assign(condition=[results.condition_label(c) for c in vs["condition"]])
            blocks.append(para(f"Attunement ({mode} speakers) against the control"))
            blocks.append(table(vs, [
                ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
                ("attunement", _num("mean")), ("control", _num("mean_control")),
                ("difference [95% CI]",
                 ci_cell("difference", "difference_ci_low", "difference_ci_high", fmt_num)),
                ("p (Holm)", p_cell("p_holm")), ("detectable", _num("detectable_difference")),
            ]))  # fmt: skip
    if not blocks:
        return ""
    intro = para(
        "ABX error (%) on the contrasts of the native languages and of the foreign ones "
        "(the abx probe's native and foreign), and attunement = foreign - native in points: "
        "positive means the native contrasts are told apart better, as infants' perception "
        "becomes by the end of the first year. Mean over seeds with a 95% CI counting seeds "
        "and speakers as sampled (across speakers: resampling speakers with their pairs). "
        "Against the control, seed i is paired with seed i; Holm within each model, probe "
        "and metric."
    )
    return '<section id="attunement"><h2>Native and foreign ABX (attunement)</h2>' + "".join(
        [intro, *blocks, "</section>"]
    )
