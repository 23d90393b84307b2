"""The answer's separability sentence: whether languages separate differently
in a model's latent spaces against the control, from the speaker-level tests
of the headline probe metric; grouped by direction, or in the details block
every test with evidence and its CI.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from harness.report.claims import (
    SEPARABILITY,
    SEPARABILITY_SCORES,
    Sentence,
    Source,
    holm_clause,
    preposition,
    quoted_names,
    row_source,
)
from harness.report.numbers import ALPHA, detectable_clause, fmt_p, plural, series
from harness.report.separation import equivalent, language_metrics, margin_text
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def separability_sentences(
    results: Results, analysis: Analysis, model: str, detail: bool = False
) -> list[Sentence]:
    """Whether languages separate differently against the control: grouped by
    direction, or (``detail``) every test with evidence, with its CI."""
    vs = analysis.separability_vs_control
    metrics = language_metrics(analysis)
    if vs.empty or not metrics:
        return []
    probe, metric = metrics[0]
    rows = vs[(vs["model"] == model) & (vs["probe"] == probe) & (vs["metric"] == metric)]
    # speaker-level tests only: a score without per-speaker results has no test
    rows = rows[(rows["inference"] != "none") & np.isfinite(rows["p_holm"].astype(float))]
    if rows.empty:
        return []
    name, shown = results.model_label(model), results.metric_label(metric)
    sig = rows[rows["p_holm"] < ALPHA]
    cited = tuple(_key(r) for _, r in sig.iterrows()) + tuple(
        _key(r) for _, r in rows.iterrows() if r["p_holm"] >= ALPHA
    )
    if sig.empty:
        return [_no_evidence(analysis, rows, name, shown, results.condition_label)]
    if not detail:
        return [
            Sentence(
                f"Against the control, languages separated ({shown}) "
                f"{' and '.join(_by_direction(results, sig))}; "
                f"{len(rows) - len(sig)} of {len(rows)} speaker-level tests show no evidence.",
                cited,
            )
        ]
    return [
        Sentence(
            f"Against the control, languages separated ({shown}; tests over seeds and probe "
            f"speakers) {'; '.join(_each_test(results, sig))}; {len(rows) - len(sig)} of the "
            f"{len(rows)} tests show no evidence of a difference.",
            cited,
        )
    ]


def _no_evidence(
    analysis: Analysis,
    rows: pd.DataFrame,
    name: str,
    shown: str,
    label: Callable[[str], str] = str,
) -> Sentence:
    """No test found a change: say what the design could see, never "no change".

    A floor comes first: latent spaces at chance in every condition have no
    separation to change, and a raw-feature baseline at chance (the failed
    sensitivity check) means the probe design cannot show separation at all;
    tests that could detect no difference within the score's range cannot see
    one. "The same" is said only where two one-sided tests showed every
    difference inside the suite's margin; otherwise the conditions could not
    be told apart, with the differences the tests could have detected.
    """
    floor = _floor(analysis, rows, name, shown)
    if floor is not None:
        return floor
    tested = tuple(_key(r) for _, r in rows.iterrows())
    detectable = rows["detectable_difference"].astype(float)
    known = detectable[detectable.notna()]
    if not known.empty and np.isinf(known).all():
        return Sentence(
            f"This design could not see a change in how well languages separate in the "
            f"{name}'s latent spaces ({shown}): no difference within the score's range was "
            "detectable with these seeds and probe speakers.",
            tested,
        )
    margin = margin_text(rows)
    if margin and equivalent(rows).all():
        low, high = rows["equivalence_ci_low"].min(), rows["equivalence_ci_high"].max()
        return Sentence(
            f"Languages separate as well in the {name}'s latent spaces after every condition as "
            f"with the control ({shown}): equivalent within ±{margin} "
            f"({plural(len(rows), 'test')} over seeds and probe speakers, two one-sided tests, "
            f"Holm-corrected; every interval inside the margin, from {low:+.3f} to {high:+.3f}).",
            tested,
        )
    clause = detectable_clause(detectable)
    size = f"; {clause}" if clause else ""
    same = ""
    if margin:
        shown_equal = [
            str(c) for c, group in rows.groupby("condition", sort=False) if equivalent(group).all()
        ]
        same = (
            f"; equivalence within ±{margin} was shown only with "
            + series([f"“{label(c)}”" for c in shown_equal])
            if shown_equal
            else f"; equivalence within ±{margin} was not shown"
        )
    return Sentence(
        f"With every condition, how well languages separate in the {name}'s latent spaces could "
        f"not be told apart from the control ({shown}, {plural(len(rows), 'test')} over seeds "
        f"and probe speakers, Holm-corrected{size}){same}.",
        tested,
    )


def _floor(analysis: Analysis, rows: pd.DataFrame, name: str, shown: str) -> Sentence | None:
    """The floor sentence, where latents at chance or a baseline at chance
    leave no separation to compare; None otherwise."""
    first = rows.iloc[0]
    scores = analysis.separability
    family = (
        (scores["model"] == first["model"])
        & (scores["probe"] == first["probe"])
        & (scores["metric"] == first["metric"])
    )
    mine = scores[family & scores["latent_space"].isin(set(rows["latent_space"]))]
    if "chance" in mine:  # a score without a chance level is never at chance
        mine = mine[mine["chance"].notna()]
    if not mine.empty and not mine["above_chance"].fillna(False).astype(bool).any():
        return Sentence(
            f"Languages do not separate above chance in the {name}'s latent spaces in any "
            f"condition ({shown}): a floor, so whether pretraining changes their separation "
            "cannot be seen in this design.",
            tuple(row_source(SEPARABILITY_SCORES, r, *_KEYS) for _, r in mine.iterrows()),
        )
    if "is_baseline" not in scores or "inference" not in scores:
        return None
    base = scores[family & scores["is_baseline"].astype(bool) & (scores["inference"] != "none")]
    if base.empty or base["above_chance"].fillna(False).astype(bool).all():
        return None
    return Sentence(
        f"The raw-feature baseline is not clearly above chance on these probe speakers "
        f"({shown}; the sensitivity check failed): a floor, so whether pretraining changes how "
        f"languages separate in the {name}'s latent spaces cannot be seen in this design.",
        tuple(row_source(SEPARABILITY_SCORES, r, *_KEYS) for _, r in base.iterrows()),
    )


_KEYS = ("model", "condition", "latent_space", "probe", "metric")


def _key(row: pd.Series) -> Source:
    return row_source(SEPARABILITY, row, *_KEYS)


def _by_direction(results: Results, sig: pd.DataFrame) -> list[str]:
    """The tests with evidence grouped into better and worse, with their span."""
    parts = []
    for better in (True, False):
        these = sig[((sig["difference"].astype(float) > 0) == sig["higher_is_better"]) == better]
        if these.empty:
            continue
        conditions = list(dict.fromkeys(str(c) for c in these["condition"]))
        diffs = [f"{float(d):+.3f}" for d in these["difference"]]
        shown = sorted(set(diffs), key=float)
        span = shown[0] if len(shown) == 1 else f"{shown[0]} to {shown[-1]}"
        parts.append(
            f"{'better' if better else 'worse'} {preposition(results, conditions)} "
            f"{quoted_names(results, conditions)} "
            f"(difference{'s' if len(diffs) > 1 else ''} {span}, "
            f"{holm_clause([r for _, r in these.iterrows()], 'Holm')})"
        )
    return parts


def _each_test(results: Results, sig: pd.DataFrame) -> list[str]:
    """Every test with evidence, with its difference and CI."""
    parts = []
    for _, r in sig.iterrows():
        better = (float(r["difference"]) > 0) == bool(r["higher_is_better"])
        parts.append(
            f"{'better' if better else 'worse'} with "
            f"“{results.condition_label(str(r['condition']))}” "
            f"in {r['latent_space']} (difference {float(r['difference']):+.3f}, 95% CI "
            f"{float(r['difference_ci_low']):+.3f} to {float(r['difference_ci_high']):+.3f}; "
            f"Holm-corrected {fmt_p(float(r['p_holm']))})"
        )
    return parts
