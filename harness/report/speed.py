"""The answer's learning-speed sentences: each condition against the control,
grouped by verdict (sooner, later, no evidence), conditions no pair test tells
apart sharing one range of ratios; and the details block's one sentence per
comparison.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from harness.report.claims import (
    Sentence,
    amount,
    answer_measure,
    detectable,
    equivalence_clause,
    equivalence_holm,
    equivalent,
    holm_clause,
    margin_words,
    percent_change,
    preposition,
    quoted_names,
    ratio,
    ratio_ci,
    significant,
    span,
    vs_source,
)
from harness.report.numbers import fmt_p, plural, series
from harness.report.pairs import alike_sentence
from harness.tables.results import Results


def speed_details(results: Results, model: str, rows: dict[str, pd.Series]) -> list[Sentence]:
    name, label = results.model_label(model), results.condition_label
    control = label(str(results.control))
    faster = [row for row in rows.values() if significant(row)]
    quiet = [row for row in rows.values() if not significant(row)]
    out = []
    if faster:
        parts = []
        for i, row in enumerate(faster):
            r = float(row["time_ratio"])
            how = (
                f"paired over {plural(int(row['n_pairs']), 'seed')}, "
                if row["design"] == "paired"
                else ""
            )
            tail = f" than with “{control}”" if i == 0 else ""
            parts.append(
                f"with “{label(str(row['condition']))}” in "
                f"{percent_change(r, answer_measure(results))}{tail} "
                f"(time ratio {ratio(r)}, {ratio_ci(row)}; {how}Holm-corrected "
                f"{fmt_p(float(row['p_holm']))})"
            )
        out.append(
            Sentence(
                f"The {name} reached the threshold " + "; ".join(parts) + ".",
                tuple(vs_source(row) for row in faster),
            )
        )
    if quiet:
        parts = [
            f"“{label(str(row['condition']))}” (time ratio {ratio(float(row['time_ratio']))}, "
            f"{ratio_ci(row)}; "
            f"{equivalence_clause(row) if equivalent(row) else detectable(row)})"
            for row in quiet
        ]
        listing = series(parts, "; ", "; nor with ")
        out.append(
            Sentence(
                f"There is no evidence that the {name} learnt faster or slower than with “{control}” "
                f"with {listing}.",
                tuple(vs_source(row) for row in quiet),
            )
        )
    return out


def connected(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
    """Connected components of ``nodes`` over ``edges``, in the order of ``nodes``."""
    group = {n: n for n in nodes}

    def root(n: str) -> str:
        while group[n] != n:
            n = group[n]
        return n

    for a, b in edges:
        if a in group and b in group:
            group[root(a)] = root(b)
    out: dict[str, list[str]] = {}
    for n in nodes:
        out.setdefault(root(n), []).append(n)
    return list(out.values())


def alike_pairs(rows: dict[str, pd.Series], between: list[pd.Series]) -> list[pd.Series]:
    """Pairs that cannot be told apart though both changed the speed the same way."""
    out = []
    for row in between:
        a, b = str(row["condition_a"]), str(row["condition_b"])
        ra, rb = rows.get(a), rows.get(b)
        if significant(row) or not (significant(ra) and significant(rb)):
            continue
        assert ra is not None and rb is not None
        if (float(ra["time_ratio"]) < 1) == (float(rb["time_ratio"]) < 1):
            out.append(row)
    return out


def nobody_learned(results: Results, model: str, rows: dict[str, pd.Series]) -> Sentence | None:
    """Said first, and instead of every speed comparison, when no run of the
    model reached the threshold in any condition or the control: ratios of
    censored times at the budget are 1 by construction and mean nothing."""
    if not rows or any(int(r["n_reached"]) or int(r["n_reached_control"]) for r in rows.values()):
        return None
    control = next(iter(rows.values()))
    runs = sum(int(r["n"]) for r in rows.values()) + int(control["n_control"])
    return Sentence(
        f"No run of the {results.model_label(model)} reached the threshold (0 of "
        f"{plural(runs, 'run')}, every condition and “{results.condition_label(str(results.control))}”): "
        "nothing learnt the task within its budget, so this suite cannot compare learning speed.",
        tuple(vs_source(r) for r in rows.values()),
        warning=True,
    )


def speed_sentences(
    results: Results, model: str, rows: dict[str, pd.Series], between: list[pd.Series]
) -> list[Sentence]:
    """Conditions grouped by verdict: sooner, later, no evidence; within a
    verdict, conditions no test tells apart share one range of ratios."""
    alike_rows = alike_pairs(rows, between)
    out = []
    for sooner in (True, False):
        out += _verdict_sentences(results, model, rows, alike_rows, sooner)
    quiet = [r for r in rows.values() if not significant(r)]
    if quiet:
        out.append(_quiet_sentence(results, quiet))
    return out


def _verdict_sentences(
    results: Results,
    model: str,
    rows: dict[str, pd.Series],
    alike_rows: list[pd.Series],
    sooner: bool,
) -> list[Sentence]:
    """The conditions that changed the speed one way, grouped where no pair
    test tells them apart, then one sentence per group of several."""
    changed = [
        c for c, r in rows.items() if significant(r) and (float(r["time_ratio"]) < 1) == sooner
    ]
    if not changed:
        return []
    name, control = results.model_label(model), results.condition_label(str(results.control))
    alike = [(str(r["condition_a"]), str(r["condition_b"])) for r in alike_rows]
    mine = [rows[c] for c in changed]
    groups = sorted(
        connected(changed, alike),
        key=lambda g: min(abs(math.log(float(rows[c]["time_ratio"]))) for c in g),
        reverse=True,
    )
    parts = []
    for group in groups:
        ratios = [float(rows[c]["time_ratio"]) for c in group]
        extreme = group[int(np.argmax([abs(math.log(r)) for r in ratios]))]
        change = span([abs(1 - r) * 100 for r in ratios], lambda x: f"{x:.0f}")
        way = amount(answer_measure(results), sooner)
        ci = ratio_ci(rows[extreme])
        if len(group) == 1:
            stats = f"time ratio {ratio(ratios[0])}, {ci}"
        else:
            stats = f"ratios {span(ratios)}; {ci} for the largest"
        word = preposition(results, group)
        parts.append(f"{change}% {way} {word} {quoted_names(results, group)} ({stats})")
    every = len(changed) == len(rows) and len(rows) > 1
    after = ""
    if every:
        pretraining = preposition(results, changed) == "after"
        after = " after every pretraining condition" if pretraining else " in every other condition"
    paired = {int(r["n_pairs"]) for r in mine if r["design"] == "paired"}
    pairs = f", {plural(paired.pop(), 'seed pair')}" if len(paired) == 1 else ""
    body = series(parts, "; ", "; and ")
    out = [
        Sentence(
            f"The {name} reached the threshold {'sooner' if sooner else 'later'} than with "
            f"“{control}”{after} ({holm_clause(mine)}{pairs}): {body}.",
            tuple(vs_source(r) for r in mine),
        )
    ]
    several = [g for g in groups if len(g) > 1]
    for group in several:
        out.append(alike_sentence(results, group, alike_rows, len(several) == 1))
    return out


def _quiet_sentence(results: Results, quiet: list[pd.Series]) -> Sentence:
    """The conditions without evidence of a change: those shown equivalent to
    the control ("no change larger than ±10%", with the 90% CI), then the
    others with what was detectable."""
    same = [r for r in quiet if equivalent(r)]
    other = [r for r in quiet if not equivalent(r)]
    parts = []
    if same:
        ratios = span([float(r["time_ratio"]) for r in same])
        lows = [float(r["equivalence_ci_low"]) for r in same]
        highs = [float(r["equivalence_ci_high"]) for r in same]
        many = len(same) > 1
        ci = f"90% CI{'s within' if many else ''} {ratio(min(lows))} to {ratio(max(highs))}"
        margin = series(sorted({margin_words(r) for r in same}))
        parts.append(
            f"{quoted_names(results, [str(r['condition']) for r in same])} showed no change "
            f"larger than {margin} (time ratio{'s' if many else ''} {ratios}, {ci}; "
            f"{equivalence_holm(same)})"
        )
    if len(other) == 1:
        row = other[0]
        parts.append(
            f"“{results.condition_label(str(row['condition']))}” showed no evidence of a "
            f"change (time ratio {ratio(float(row['time_ratio']))}, "
            f"{ratio_ci(row)}; {detectable(row)})"
        )
    elif other:
        parts.append(_quiet_group(results, other))
    return Sentence("; ".join(parts) + ".", tuple(vs_source(r) for r in quiet))


def _quiet_group(results: Results, quiet: list[pd.Series]) -> str:
    """Several conditions without evidence of a change, nor shown equivalent."""
    det = [float(r["detectable_ratio"]) for r in quiet]
    det = [d for d in det if np.isfinite(d) and d > 0 and ratio(d) != ratio(1.0)]
    size = (
        f"; ratios of {span(det)} or {span([1 / d for d in det])} were detectable"
        if det
        else "; too few informative seeds, or too little spread, to size a detectable change"
    )
    names = quoted_names(results, [str(r["condition"]) for r in quiet])
    return (
        f"{names} showed no evidence of a change (time ratios "
        f"{span([float(r['time_ratio']) for r in quiet])}{size})"
    )
