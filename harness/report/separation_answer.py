"""The answer's separability sentence: whether languages separate differently
in a model's latent spaces against the control, from the speaker-level tests
of the headline probe metric; grouped by direction, or in the details block
every test with evidence and its CI.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from harness.report.claims import (
    SEPARABILITY,
    Sentence,
    Source,
    holm_clause,
    quoted_names,
    row_source,
)
from harness.report.numbers import ALPHA, detectable_clause, fmt_p, plural
from harness.report.separation import main_metrics
from harness.stats.analysis import Analysis
from harness.tables.results import Results


def separability_sentences(
    results: Results, analysis: Analysis, model: str, detail: bool = False
) -> list[Sentence]:
    """Whether languages separate differently against the control: grouped by
    direction, or (``detail``) every test with evidence, with its CI."""
    vs = analysis.separability_vs_control
    metrics = main_metrics(analysis)
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
        clause = detectable_clause(rows["detectable_difference"].astype(float))
        size = f"; {clause}" if clause else ""
        return [
            Sentence(
                f"No condition changed how well languages separate in the {name}'s latent spaces "
                f"({shown}, {plural(len(rows), 'test')} over seeds and probe speakers, "
                f"Holm-corrected{size}).",
                tuple(_key(r) for _, r in rows.iterrows()),
            )
        ]
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


def _key(row: pd.Series) -> Source:
    return row_source(SEPARABILITY, row, "model", "condition", "latent_space", "probe", "metric")


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
            f"{'better' if better else 'worse'} after {quoted_names(results, conditions)} "
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
