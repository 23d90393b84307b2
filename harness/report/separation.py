"""The report's sentences about language separation and latent geometry.

Claims follow docs/report.md: above chance, against the raw-feature baseline
and against the control only from tests that count the probe speakers as
sampled; a "no evidence" comes with the difference the suite could have
detected; when the baseline itself is not clearly above chance the design is
called uninformative instead.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.numbers import (
    ALPHA,
    detectable_clause,
    fmt_ci,
    fmt_p,
    fmt_score,
    plural,
)
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def main_metrics(analysis: Analysis) -> list[tuple[str, str]]:
    """(probe, metric) pairs the report leads with: the scores their probes
    declared as headline that have a chance level (else any score with one,
    else every higher-is-better score), the hardest task (lowest chance, most
    languages) first."""
    return headline_metrics(analysis.separability)


def language_metrics(analysis: Analysis) -> list[tuple[str, str]]:
    """:func:`main_metrics` that have a chance level: the scores the answer may
    word as language separation (one without, such as an integration window
    in frames, is a measure of the model, not of how languages separate)."""
    sep = analysis.separability
    if sep.empty or "chance" not in sep:
        return main_metrics(analysis)
    chanced = set(sep.loc[sep["chance"].notna(), ["probe", "metric"]].itertuples(index=False))
    return [(p, m) for p, m in main_metrics(analysis) if (p, m) in chanced]


def headline_metrics(sep: pd.DataFrame) -> list[tuple[str, str]]:
    """:func:`main_metrics` of a separability table (``stats/separability.csv``)."""
    if sep.empty:
        return []
    with_chance = sep[sep["chance"].notna()]
    headline = with_chance[with_chance["headline"].astype(bool)]
    pool = headline if not headline.empty else with_chance
    if pool.empty:
        pool = sep[sep["higher_is_better"]].assign(chance=0.0)
    order = (
        pool.groupby(["probe", "metric"], sort=False)["chance"].mean().sort_values(kind="stable")
    )
    return [(str(p), str(m)) for p, m in order.index]


def separability_sentences(results: Results, analysis: Analysis) -> list[str]:
    out: list[str] = []
    metrics = main_metrics(analysis)
    if not metrics:
        return ["No probe results are available yet."]
    probe, metric = metrics[0]
    sep, vs = analysis.separability, analysis.separability_vs_control
    control = analysis.control
    ctrl_label = results.condition_label(control) if control else ""
    sensitivity = _sensitivity_sentence(sep[(sep["probe"] == probe) & (sep["metric"] == metric)])
    if sensitivity:
        out.append(sensitivity)
    for model in results.models:
        rows = sep[(sep["model"] == model) & (sep["probe"] == probe) & (sep["metric"] == metric)]
        if rows.empty:
            continue
        out.append(
            _chance_baseline_sentence(
                rows,
                results.model_label(model),
                probe,
                results.metric_label(metric),
                control,
                ctrl_label,
            )
        )
        if vs.empty or control is None:
            continue
        mine = vs[(vs["model"] == model) & (vs["probe"] == probe) & (vs["metric"] == metric)]
        floor = floor_reason(rows)
        for condition in results.conditions:
            cond = mine[mine["condition"] == condition]
            if not cond.empty:
                out.append(
                    _vs_control_sentence(results, cond, model, probe, metric, ctrl_label, floor)
                )
    return out


def floor_reason(rows: pd.DataFrame) -> str:
    """Why one model's separability rows (of one probe metric) are a floor:
    its latent spaces at chance in every condition, or its raw-feature
    baseline not above chance (the failed sensitivity check); "" otherwise.
    Two spaces at chance are "the same" trivially: no equivalence is claimed."""
    # a score without a chance level (an integration window) is never "at chance"
    tested = rows[rows["inference"] != "none"]
    if "chance" in tested:
        tested = tested[tested["chance"].notna()]
    model_rows = tested[~tested["is_baseline"].astype(bool)]
    base = tested[tested["is_baseline"].astype(bool)]
    if len(model_rows) and not model_rows["above_chance"].fillna(False).astype(bool).any():
        return "the latent spaces are at chance in every condition"
    if len(base) and not base["above_chance"].fillna(False).astype(bool).all():
        return "the raw-feature baseline is not clearly above chance (sensitivity check)"
    return ""


def _vs_control_sentence(
    results: Results,
    cond: pd.DataFrame,
    model: str,
    probe: str,
    metric: str,
    ctrl_label: str,
    floor: str = "",
) -> str:
    """One condition against the control in every latent space of one model
    (its rows of ``separability_vs_control``), and the verdict over them."""
    parts = [
        f"{r['latent_space']} {fmt_score(r['mean'])} vs {fmt_score(r['mean_control'])} "
        f"(difference {r['difference']:+.3f} {fmt_ci(r['difference_ci_low'], r['difference_ci_high'])}, "
        f"Holm-corrected {fmt_p(r['p_holm'])})"
        for _, r in cond.iterrows()
    ]
    significant = cond[cond["p_holm"] < ALPHA]
    better = significant["difference"] * np.where(significant["higher_is_better"], 1, -1)
    n_better, n_worse = int((better > 0).sum()), int((better < 0).sum())
    if len(significant):
        verdict = (
            f"evidence of a difference in {len(significant)} of {len(cond)} latent spaces "
            f"({n_better} better, {n_worse} worse separated than under the control)"
        )
    else:
        verdict = _no_difference(cond, floor)
    label = results.condition_label(cond["condition"].iloc[0])
    return (
        f"With “{label}”, the {results.model_label(model)}'s {results.metric_label(metric)} "
        f"({probe}) against the control “{ctrl_label}”: "
        + "; ".join(parts)
        + f". Tests counting seeds and probe speakers as sampled: {verdict}."
    )


def _no_difference(cond: pd.DataFrame, floor: str = "") -> str:
    """The verdict over one condition's latent spaces when no test found a
    difference: equivalent within the margin where two one-sided tests showed
    it in every space (and no floor makes that trivial), else could not be
    told apart, with what was detectable."""
    margin = margin_text(cond)
    if floor:
        return (
            f"could not be told apart in {plural(len(cond), 'latent space')}, but "
            f"{floor}: a floor, so no change and no equivalence can be shown"
        )
    if margin and equivalent(cond).all():
        return (
            f"equivalent within ±{margin} in every latent space (two one-sided "
            f"tests, Holm-corrected: 90% CIs {_equivalence_cis(cond)} inside the margin)"
        )
    clause = detectable_clause(cond["detectable_difference"].astype(float))
    where = f"any of {plural(len(cond), 'latent space')}" if len(cond) > 1 else "its latent space"
    verdict = f"could not be told apart in {where}" + (
        f"; {clause} (80% power at Holm's first step)" if clause else ""
    )
    if margin:
        verdict += f"; equivalence within ±{margin} not shown"
    return verdict


def margin_text(rows: pd.DataFrame) -> str:
    """The equivalence margin of ``separability_vs_control`` rows as printed
    ("0.05"), or "" where none is known."""
    if "margin" not in rows or rows["margin"].isna().all():
        return ""
    value = float(rows["margin"].dropna().iloc[0])
    return f"{value:.2f}" if round(value, 2) == value else f"{value:.3f}"


def equivalent(rows: pd.DataFrame) -> pd.Series:
    """Which rows the (Holm-corrected) equivalence test showed equivalent."""
    if "equivalent" not in rows:
        return pd.Series(False, index=rows.index)
    return rows["equivalent"].fillna(False).astype(bool)


def _equivalence_cis(cond: pd.DataFrame) -> str:
    return ", ".join(
        f"{r['equivalence_ci_low']:+.3f} to {r['equivalence_ci_high']:+.3f}"
        for _, r in cond.iterrows()
    )


def _relabellings_clause(rows: pd.DataFrame) -> str:
    """Why no claim against chance could be reached, where the relabellings
    were too few for the family; empty otherwise."""
    if "min_p_vs_chance_holm" not in rows:
        return ""
    short = rows[rows["min_p_vs_chance_holm"] >= ALPHA]
    if short.empty:
        return ""
    first = short.iloc[0]
    return (
        f"; with {first['n_relabellings']:.0f} relabellings no space in this family could be "
        f"shown above chance whatever its score (the smallest Holm-corrected p they allow is "
        f"{fmt_score(first['min_p_vs_chance_holm'])}): raise the probe's n_permutations to at "
        f"least {first['relabellings_needed']:.0f}"
    )


def _sensitivity_sentence(rows: pd.DataFrame) -> str:
    """Whether the probe design can see language at all: the raw-feature
    baseline must be clearly above chance for a "no evidence" to mean much."""
    base = rows[rows["is_baseline"].astype(bool) & (rows["inference"] != "none")]
    if base.empty or base["chance"].isna().all():
        return ""
    if base["above_chance"].astype(bool).all():
        return ""
    return (
        f"Sensitivity check failed: the raw-feature baseline ({fmt_score(float(base['mean'].mean()))} "
        f"against chance {fmt_score(float(base['chance'].mean()))}) is not clearly above chance on "
        "these probe speakers, so this design cannot show how languages separate: the separability "
        "comparisons below are uninformative, and a 'no evidence' there is not evidence of no "
        "effect. Probe more speakers per language or more clips per speaker"
        + _relabellings_clause(base)
        + "."
    )


def _chance_baseline_sentence(
    rows: pd.DataFrame, model: str, probe: str, metric: str, control: str | None, ctrl_label: str
) -> str:
    model_rows = rows[~rows["is_baseline"].astype(bool)]
    ctrl_rows = model_rows[model_rows["condition"] == control] if control else model_rows
    if ctrl_rows.empty:
        ctrl_rows = model_rows
    where = f"under the control “{ctrl_label}”" if control else "across conditions"
    text = f"For the {model} {where}, {metric} ({probe})"
    if (ctrl_rows["inference"] == "none").all():
        return (
            text + " comes without per-speaker results from its probe, so no claim is made about "
            "it; the tables give its seed means and seed-to-seed spread."
        )
    above = ctrl_rows[ctrl_rows["above_chance"].fillna(False).astype(bool)]
    chance = ctrl_rows["chance"].dropna()
    if len(chance):
        text += (
            f" was above chance ({fmt_score(float(chance.mean()))}; speaker-level permutation test, "
            f"Holm-corrected p < {ALPHA}) in {len(above)} of {plural(len(ctrl_rows), 'latent space')}"
            + _relabellings_clause(ctrl_rows)
        )
    else:
        text += (
            " has no chance level: its probe declared none, or reported it as NaN (the problems "
            "section names the probe)"
        )
    compared = ctrl_rows.dropna(subset=["baseline_mean"])
    base = compared[compared["baseline_above_chance"].astype(bool)]
    if len(compared) and base.empty:
        text += (
            ", and is not compared with the raw-feature baseline, which is not clearly above "
            "chance on these probe speakers (see the sensitivity check)"
        )
    if len(base):
        significant = base["p_vs_baseline_holm"] < ALPHA
        beats = base[significant & (base["diff_vs_baseline"] > 0)]
        below = base[significant & (base["diff_vs_baseline"] < 0)]
        text += (
            f", and beat the raw-feature baseline ({fmt_score(float(base['baseline_mean'].mean()))}) "
            f"in {len(beats)} of {len(base)}"
            + (f" (it was below the baseline in {len(below)})" if len(below) else "")
        )
    spaces = ", ".join(
        f"{r['latent_space']} {fmt_score(r['mean'])} {fmt_ci(r['ci_low'], r['ci_high'])}"
        for _, r in ctrl_rows.iterrows()
    )
    return text + (f": {spaces}." if spaces else ".")


def cka_sentences(results: Results, analysis: Analysis) -> list[str]:
    cka = analysis.cka
    control = analysis.control
    if cka.empty or control is None:
        return []
    out = []
    for (model, space), group in cka.groupby(["model", "latent_space"], sort=False):
        same = group[(group["condition_a"] == control) & (group["condition_b"] == control)]
        others = group[(group["condition_a"] == control) & (group["condition_b"] != control)]
        if same.empty or others.empty:
            continue
        pairs = "; ".join(
            f"“{results.condition_label(r['condition_b'])}” {r['mean_cka']:.2f}"
            for _, r in others.iterrows()
        )
        out.append(
            f"Linear CKA in the {results.model_label(model)}'s {space} (1 = same geometry; mean "
            "over pairs of seeds): "
            f"control against {pairs}; two seeds of the control against each other "
            f"{same['mean_cka'].iloc[0]:.2f}, the yardstick for how much seeds alone differ."
        )
    return out
