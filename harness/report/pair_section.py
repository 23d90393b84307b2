"""The report's language-pair section: the matrix of pair separability per
model and latent space (a column per condition) and the test of "pairs across
the declared groups separate better than pairs within"
(:mod:`harness.stats.pair_matrix`; ``stats/pair_matrix.csv`` and
``stats/pair_groups.csv``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from harness.report.markup import ci_cell, esc, p_cell, para, table
from harness.report.numbers import fmt_num

if TYPE_CHECKING:
    from harness.stats.analysis import Analysis
    from harness.tables.results import Results


def _cell(row: pd.Series) -> str:
    """``0.71 [0.58, 0.84]`` (the interval simultaneous over the matrix's
    pairs), starred where the pair is above chance after Holm."""
    text = ci_cell("mean", "ci_low_simultaneous", "ci_high_simultaneous", fmt_num)(row)
    return f"{text} *" if bool(row.get("above_chance")) else text


def matrix_frame(pairs: pd.DataFrame, conditions: list[str]) -> pd.DataFrame:
    """One model's and latent space's rows: a row per pair, a column per condition."""
    rows = []
    for (a, b), part in pairs.groupby(["language_a", "language_b"], sort=False):
        first = part.iloc[0]
        within = first["within_group"]
        kind = "–" if pd.isna(within) else ("within" if bool(within) else "across")
        row = {"pair": f"{a} – {b}", "groups": kind}
        for _, r in part.iterrows():
            row[str(r["condition"])] = _cell(r)
        rows.append(row)
    frame = pd.DataFrame(rows)
    shown = [c for c in conditions if c in frame.columns]
    return frame[["pair", "groups", *shown]]


def pair_section(results: Results, analysis: Analysis) -> str:
    """The section, or "" where the suite asked for no pair matrix."""
    pairs, groups = analysis.pair_matrix, analysis.pair_groups
    if pairs.empty:
        return ""
    out = ['<section id="pairs"><h2>Language pairs</h2>']
    out.append(para(
        "Separability of every pair of probe languages: the balanced accuracy of a "
        "nearest-centroid rule on the two languages' probe clips, each speaker classed by "
        "its language's centroid without it against the other's without one of its speakers, "
        "in turn (chance 0.5). Mean over seeds with its 95% CI simultaneous over the "
        "pairs of the matrix (Bonferroni; the per-pair intervals are in "
        "stats/pair_matrix.csv), seeds and speakers counted as sampled and never "
        "narrower than the score's spread over relabellings of the pair's speakers; "
        "* marks a pair above chance by a permutation test that "
        "relabels the pair's speakers (the same relabellings in every seed), Holm-corrected "
        "over the pairs of one matrix. The test is the sharper of the two, so a starred "
        "pair's interval can still reach 0.5: the star is the claim, the interval its size."
    ))  # fmt: skip
    conditions = [c for c in results.conditions if c in set(pairs["condition"])]
    for (model, space), part in pairs.groupby(["model", "latent_space"], sort=False):
        base = bool(part["is_baseline"].iloc[0])
        label = "raw-feature baseline, the same in every condition" if base else "model"
        out.append(f"<h3>{esc(results.model_label(model))}: {esc(space)} ({esc(label)})</h3>")
        frame = matrix_frame(part, conditions)
        columns = [("pair", "pair"), ("groups", "groups")]
        columns += [(results.condition_label(c), c) for c in conditions if c in frame.columns]
        out.append(table(frame, columns))
    if not groups.empty:
        out.append("<h3>Pairs across groups against pairs within</h3>")
        declared = "; ".join(f"{g}: {', '.join(m)}" for g, m in results.design.probe_groups.items())
        out.append(para(
            f"Groups: {declared}. The difference is the mean score of pairs across groups "
            "minus that of pairs within; its one-sided test and 95% CI count speakers (a "
            "stratified delete-one-speaker jackknife) and seeds as sampled, Holm-corrected "
            "over the conditions and latent spaces of a model."
        ))  # fmt: skip
        out.append(table(groups, [
            ("model", "model"), ("condition", "condition"), ("latent space", "latent_space"),
            ("within", "mean_within"), ("across", "mean_across"),
            ("difference [95% CI]", ci_cell("difference", "ci_low", "ci_high", fmt_num)),
            ("p (Holm)", p_cell("p_holm")), ("across better", "across_better"),
        ], highlight=groups["across_better"].astype(bool)))  # fmt: skip
    out.append("</section>")
    return "".join(out)
