"""The answer at the top of the report: a short paragraph per model.

Each paragraph says which conditions changed the learning speed against the
control and by how much (the paired time ratio with its CI), which did not
(with the change the design could have detected), what the pairs of
conditions that differ in one declared attribute imply (the language heard,
or the filter: see :mod:`harness.stats.between`), and, where the probes give
speaker-level tests, whether languages separate differently. Learning speed is
counted in the suite's ``answer_measure`` (target steps unless it says
otherwise: :func:`answer_measure`); wall seconds carry the machine load they
ran under, and where they point the other way from steps the answer says so,
naming the load.

Every :class:`Sentence` names the rows it was written from
(:class:`Source`: a CSV of the output folder and the key columns of a row),
which the HTML carries as a ``data-source`` attribute, so each number can be
looked up; tests check that the numbers equal the CSV values.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.names import component_title, filter_keeps_speech
from harness.report.numbers import ALPHA, detectable_clause, fmt_p, plural, series
from harness.report.separation import main_metrics
from harness.results import Results
from harness.stats.analysis import Analysis

#: the time measure the answer states learning speed in unless the suite
#: chooses another: optimizer steps of target training, which machine load
#: cannot change
ANSWER_MEASURE = "steps"
#: how the answer words an amount of each measure: (the unit, fewer, more)
MEASURE_WORDS = {
    "steps": ("target steps", "fewer", "more"),
    "total_steps": ("steps, pretraining included", "fewer", "more"),
    "seconds": ("wall time", "less", "more"),
}

VS_CONTROL = "stats/convergence_vs_control.csv"
BETWEEN = "stats/convergence_between.csv"
SEPARABILITY = "stats/separability_vs_control.csv"
RUNS = "runs.csv"


@dataclass(frozen=True)
class Source:
    """One row of a table of the output folder: ``table`` and the values of its
    key columns (``{}`` with ``table`` = runs.csv: every run)."""

    table: str
    key: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.key)
        return f"{self.table}: {where}" if where else self.table

    def rows(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The rows of ``frame`` (the table read back) this source names."""
        mask = pd.Series(True, index=frame.index)
        for column, value in self.key:
            mask &= frame[column].astype(str) == value
        return frame[mask]


def source(table: str, **key: object) -> Source:
    return Source(table, tuple((k, str(v)) for k, v in key.items()))


@dataclass(frozen=True)
class Sentence:
    """One sentence of the answer and the rows its numbers come from."""

    text: str
    sources: tuple[Source, ...]
    warning: bool = False

    @property
    def cited(self) -> str:
        """The ``data-source`` attribute: the sources, ``" | "`` between them."""
        return " | ".join(str(s) for s in self.sources)


@dataclass(frozen=True)
class Paragraph:
    """The answer for one model (``model`` empty: about the whole suite)."""

    model: str
    title: str
    sentences: tuple[Sentence, ...]
    #: every comparison the sentences summarise, one sentence each, for a
    #: collapsed block under the answer
    details: tuple[Sentence, ...] = ()


# ---------------------------------------------------------------- numbers


def ratio(x: float) -> str:
    """A time ratio: two decimals."""
    return f"{x:.2f}" if np.isfinite(x) else "–"


def ratio_ci(row: Mapping[str, object]) -> str:
    if row["design"] != "paired":
        return "unpaired runs, so no CI"
    low, high = float(row["time_ratio_ci_low"]), float(row["time_ratio_ci_high"])  # type: ignore[arg-type]
    if not (low > 0 and math.isfinite(high)):
        return "no bounded 95% CI with this many seeds"
    return f"95% CI {ratio(low)} to {ratio(high)}"


def answer_measure(results: Results) -> str:
    """The time measure the suite's answer is stated in (``answer_measure``)."""
    return results.design.answer_measure


def amount(measure: str, sooner: bool) -> str:
    """'fewer target steps', 'more wall time', ..."""
    unit, fewer, more = MEASURE_WORDS[measure]
    return f"{fewer if sooner else more} {unit}"


def percent_change(r: float, measure: str = ANSWER_MEASURE) -> str:
    """0.62 -> '38% fewer target steps', 1.4 -> '40% more target steps'."""
    change = (1 - r) * 100 if r <= 1 else (r - 1) * 100
    return f"{change:.0f}% {amount(measure, r <= 1)}"


def detectable(row: Mapping[str, object]) -> str:
    r = float(row["detectable_ratio"])  # type: ignore[arg-type]
    if not np.isfinite(r):
        return "the change it could have detected is unknown (too few runs)"
    if r == 0:
        return "too few informative seeds for a change of any size to be detectable"
    return f"a ratio of {ratio(r)} or {ratio(1 / r)} was detectable"


def significant(row: Mapping[str, object] | None) -> bool:
    return row is not None and bool(float(row["p_holm"]) < ALPHA)  # type: ignore[arg-type]


# ---------------------------------------------------------------- learning speed


def _vs_rows(analysis: Analysis, model: str, measure: str) -> dict[str, pd.Series]:
    vs = analysis.convergence_vs_control
    if vs.empty:
        return {}
    mine = vs[(vs["measure"] == measure) & (vs["model"] == model)]
    return {str(r["condition"]): r for _, r in mine.iterrows() if np.isfinite(r["p_value"])}


def _vs_source(row: pd.Series) -> Source:
    return source(
        VS_CONTROL, measure=row["measure"], model=row["model"], condition=row["condition"]
    )


def _speed_details(results: Results, model: str, rows: dict[str, pd.Series]) -> list[Sentence]:
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
        out.append(Sentence(
            f"The {name} reached the threshold " + "; ".join(parts) + ".",
            tuple(_vs_source(row) for row in faster),
        ))  # fmt: skip
    if quiet:
        parts = [
            f"“{label(str(row['condition']))}” (time ratio {ratio(float(row['time_ratio']))}, "
            f"{ratio_ci(row)}; {detectable(row)})"
            for row in quiet
        ]
        listing = series(parts, "; ", "; nor with ")
        out.append(Sentence(
            f"There is no evidence that the {name} learnt faster or slower than with “{control}” "
            f"with {listing}.",
            tuple(_vs_source(row) for row in quiet),
        ))  # fmt: skip
    return out


def _attribute_name(row: pd.Series) -> str:
    return "the language heard" if row["differs_in"] == "language" else "the filter"


def _attribute(row: pd.Series) -> str:
    """What a pair differs in, in words, with the two filters' titles."""
    if row["differs_in"] == "language":
        return _attribute_name(row)
    a = component_title("pretrain_filter", str(row["value_a"]))
    b = component_title("pretrain_filter", str(row["value_b"]))
    return f"the filter ({a} against {b})"


def _meaning(results: Results, row: pd.Series) -> str:
    """What two conditions with the same speed-up imply, from what they differ in."""
    a, b = str(row["condition_a"]), str(row["condition_b"])
    if row["differs_in"] == "language":
        return "the speed-up does not depend on which language was heard"
    speech = {
        a: filter_keeps_speech(str(row["value_a"])),
        b: filter_keeps_speech(str(row["value_b"])),
    }
    without = [c for c, keeps in speech.items() if keeps is False]
    with_speech = [c for c, keeps in speech.items() if keeps is True]
    if len(without) == 1 and len(with_speech) == 1:
        return (
            f"“{results.condition_label(without[0])}”, which carries no speech, gave the same "
            f"speed-up as “{results.condition_label(with_speech[0])}”: the effect is not specific "
            "to language"
        )
    return "which of the two filters was used made no detectable difference"


def _between_details(
    results: Results, analysis: Analysis, model: str, rows: dict[str, pd.Series], measure: str
) -> list[Sentence]:
    between = analysis.convergence_between
    if between.empty:
        return []
    mine = between[(between["measure"] == measure) & (between["model"] == model)]
    name, label = results.model_label(model), results.condition_label
    out = []
    for _, row in mine.iterrows():
        if not np.isfinite(row["p_value"]):
            continue
        a, b = str(row["condition_a"]), str(row["condition_b"])
        # which of the two the tests against the control show changing the speed
        changed = [c for c in (a, b) if significant(rows.get(c))]
        sped = [c for c in changed if float(rows[c]["time_ratio"]) < 1]
        sources = (
            source(BETWEEN, measure=measure, model=model, condition_a=a, condition_b=b),
            *(_vs_source(rows[c]) for c in (a, b) if c in rows),
        )
        stats = (
            f"time ratio {ratio(float(row['time_ratio']))}, {ratio_ci(row)}; "
            f"Holm-corrected {fmt_p(float(row['p_holm']))}"
        )
        pair = f"“{label(a)}” and “{label(b)}”, which differ only in {_attribute(row)},"
        if significant(row):
            way = amount(measure, float(row["time_ratio"]) < 1)
            out.append(Sentence(
                f"{pair} do not give the same speed: the {name} needed {way} after "
                f"“{label(a)}” ({stats}), so {_attribute_name(row)} matters.",
                sources,
            ))  # fmt: skip
        elif len(sped) == 2:
            out.append(Sentence(
                f"{pair} cannot be told apart ({stats}; {detectable(row)}): "
                f"{_meaning(results, row)}.",
                sources,
            ))  # fmt: skip
        elif len(changed) == 2:
            out.append(Sentence(
                f"{pair} cannot be told apart ({stats}; {detectable(row)}): what they do to "
                f"the learning speed does not depend on {_attribute_name(row)}.",
                sources,
            ))  # fmt: skip
        elif len(changed) == 1:
            out.append(Sentence(
                f"{pair} cannot be told apart ({stats}; {detectable(row)}), but only "
                f"“{label(changed[0])}” is evidenced to differ from the control, so whether "
                f"{_attribute_name(row)} matters is open.",
                sources,
            ))  # fmt: skip
    return out


# ---------------------------------------------------------------- the concise answer


def _between_rows(analysis: Analysis, model: str, measure: str) -> list[pd.Series]:
    between = analysis.convergence_between
    if between.empty:
        return []
    mine = between[(between["measure"] == measure) & (between["model"] == model)]
    return [r for _, r in mine.iterrows() if np.isfinite(r["p_value"])]


def _between_source(row: pd.Series) -> Source:
    return source(BETWEEN, measure=row["measure"], model=row["model"],
                  condition_a=row["condition_a"], condition_b=row["condition_b"])  # fmt: skip


def _span(values: list[float], show=ratio, sep: str = "–") -> str:
    """``'0.76–0.78'``, or one value where they print alike."""
    low, high = show(min(values)), show(max(values))
    return low if low == high else f"{low}{sep}{high}"


def _names(results: Results, conditions: list[str]) -> str:
    """“A”, “B” and “C”."""
    quoted = [f"“{results.condition_label(c)}”" for c in conditions]
    return series(quoted)


def _holm(rows: list[pd.Series], word: str = "Holm-corrected") -> str:
    """The Holm-corrected p of a set of tests: one value, or the largest."""
    shown = {fmt_p(float(r["p_holm"])) for r in rows}
    if len(shown) == 1:
        return ("all " if len(rows) > 1 else "") + f"{word} {shown.pop()}"
    return f"{word} p ≤ {max(float(r['p_holm']) for r in rows):.2f}"


def _smallest_holm(rows: list[pd.Series]) -> str:
    """The Holm-corrected p of tests without evidence: one value, or the smallest."""
    shown = {fmt_p(float(r["p_holm"])) for r in rows}
    if len(shown) == 1:
        return f"Holm {shown.pop()}"
    return f"Holm p ≥ {min(float(r['p_holm']) for r in rows):.2f}"


def _components(nodes: list[str], edges: list[tuple[str, str]]) -> list[list[str]]:
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


def _alike(rows: dict[str, pd.Series], between: list[pd.Series]) -> list[pd.Series]:
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


def _speed_sentences(
    results: Results, model: str, rows: dict[str, pd.Series], between: list[pd.Series]
) -> list[Sentence]:
    """Conditions grouped by verdict: sooner, later, no evidence; within a
    verdict, conditions no test tells apart share one range of ratios."""
    name, control = results.model_label(model), results.condition_label(str(results.control))
    alike_rows = _alike(rows, between)
    alike = [(str(r["condition_a"]), str(r["condition_b"])) for r in alike_rows]
    out = []
    for sooner in (True, False):
        changed = [
            c for c, r in rows.items() if significant(r) and (float(r["time_ratio"]) < 1) == sooner
        ]
        if not changed:
            continue
        mine = [rows[c] for c in changed]
        groups = sorted(
            _components(changed, alike),
            key=lambda g: min(abs(math.log(float(rows[c]["time_ratio"]))) for c in g),
            reverse=True,
        )
        parts = []
        for group in groups:
            ratios = [float(rows[c]["time_ratio"]) for c in group]
            extreme = group[int(np.argmax([abs(math.log(r)) for r in ratios]))]
            change = _span([abs(1 - r) * 100 for r in ratios], lambda x: f"{x:.0f}")
            way = amount(answer_measure(results), sooner)
            ci = ratio_ci(rows[extreme])
            if len(group) == 1:
                stats = f"time ratio {ratio(ratios[0])}, {ci}"
            else:
                stats = f"ratios {_span(ratios)}; {ci} for the largest"
            parts.append(f"{change}% {way} after {_names(results, group)} ({stats})")
        every = len(changed) == len(rows) and len(rows) > 1
        after = " after every pretraining condition" if every else ""
        paired = {int(r["n_pairs"]) for r in mine if r["design"] == "paired"}
        pairs = f", {plural(paired.pop(), 'seed pair')}" if len(paired) == 1 else ""
        body = series(parts, "; ", "; and ")
        out.append(Sentence(
            f"The {name} reached the threshold {'sooner' if sooner else 'later'} than with "
            f"“{control}”{after} ({_holm(mine)}{pairs}): {body}.",
            tuple(_vs_source(r) for r in mine),
        ))  # fmt: skip
        several = [g for g in groups if len(g) > 1]
        for group in several:
            out.append(_alike_sentence(results, group, alike_rows, len(several) == 1))
    quiet = [r for r in rows.values() if not significant(r)]
    if len(quiet) == 1:
        row = quiet[0]
        out.append(Sentence(
            f"“{results.condition_label(str(row['condition']))}” showed no evidence of a "
            f"change (time ratio {ratio(float(row['time_ratio']))}, "
            f"{ratio_ci(row)}; {detectable(row)}).",
            (_vs_source(row),),
        ))  # fmt: skip
    elif quiet:
        det = [float(r["detectable_ratio"]) for r in quiet]
        det = [d for d in det if np.isfinite(d) and d > 0]
        size = (
            f"; ratios of {_span(det)} or {_span([1 / d for d in det])} were detectable"
            if det
            else "; too few informative seeds for a change of any size to be detectable"
        )
        out.append(Sentence(
            f"{_names(results, [str(r['condition']) for r in quiet])} showed no evidence of a "
            f"change (time ratios "
            f"{_span([float(r['time_ratio']) for r in quiet])}{size}).",
            tuple(_vs_source(r) for r in quiet),
        ))  # fmt: skip
    return out


def _group_meaning(results: Results, group: list[str], pairs: list[pd.Series]) -> str:
    """What conditions with the same speed-up imply, from what their pairs differ in."""
    speech: dict[str, bool | None] = {}
    for row in pairs:
        if row["differs_in"] == "filter":
            speech[str(row["condition_a"])] = filter_keeps_speech(str(row["value_a"]))
            speech[str(row["condition_b"])] = filter_keeps_speech(str(row["value_b"]))
    if False in speech.values() and True in speech.values():
        return "the effect is not specific to language"
    if all(row["differs_in"] == "language" for row in pairs):
        return "it does not depend on which language was heard"
    if all(row["differs_in"] == "filter" for row in pairs):
        return "which filter was used made no detectable difference"
    return "neither the language heard nor the filter made a detectable difference"


def _alike_sentence(
    results: Results, group: list[str], alike: list[pd.Series], these: bool
) -> Sentence:
    """A group of conditions no pair test tells apart, and what that implies."""
    pairs = [r for r in alike if str(r["condition_a"]) in group]
    ratios = [float(r["time_ratio"]) for r in pairs]
    many = len(pairs) > 1
    return Sentence(
        f"{'These' if these else _names(results, group)} cannot be told apart "
        f"({'pairwise ' if many else ''}ratio{'s' if many else ''} {_span(ratios)}, "
        f"{_smallest_holm(pairs)}): {_group_meaning(results, group, pairs)}.",
        tuple(_between_source(r) for r in pairs),
    )


def _between_sentences(
    results: Results, model: str, rows: dict[str, pd.Series], between: list[pd.Series]
) -> list[Sentence]:
    """The conclusions of the pairs of conditions: which sets cannot be told
    apart though they changed the speed, and which differ."""
    out = []
    differ = [r for r in between if significant(r)]
    while differ:
        count: dict[str, int] = {}
        for r in differ:
            for c in (str(r["condition_a"]), str(r["condition_b"])):
                count[c] = count.get(c, 0) + 1
        hub = max(count, key=lambda c: count[c])
        mine = [r for r in differ if hub in (str(r["condition_a"]), str(r["condition_b"]))]
        differ = [r for r in differ if not any(r is m for m in mine)]
        # the hub's time ratio against each other condition: below 1, the hub was faster
        oriented = [
            (
                r,
                float(r["time_ratio"])
                if str(r["condition_a"]) == hub
                else 1 / float(r["time_ratio"]),
            )
            for r in mine
        ]
        for faster in (True, False):
            these = [(r, x) for r, x in oriented if (x < 1) == faster]
            if not these:
                continue
            others = [
                str(r["condition_b"]) if str(r["condition_a"]) == hub else str(r["condition_a"])
                for r, _ in these
            ]
            attrs = {str(r["differs_in"]) for r, _ in these}
            matters = " and ".join(
                "the language heard" if a == "language" else "the filter" for a in sorted(attrs)
            )
            out.append(Sentence(
                f"“{results.condition_label(hub)}” needed {amount(answer_measure(results), faster)} "
                f"than {_names(results, others)} "
                f"(ratio{'s' if len(these) > 1 else ''} {_span([x for _, x in these])}, "
                f"{_holm([r for r, _ in these], 'Holm')}): {matters} "
                f"{'matter' if len(attrs) > 1 else 'matters'}.",
                tuple(_between_source(r) for r, _ in these),
            ))  # fmt: skip
    return out


# ---------------------------------------------------------------- separability


def _separability_sentence(
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

    def key(row: pd.Series) -> Source:
        return source(SEPARABILITY, model=model, condition=row["condition"],
                      latent_space=row["latent_space"], probe=probe, metric=metric)  # fmt: skip

    sig = rows[rows["p_holm"] < ALPHA]
    if sig.empty:
        clause = detectable_clause(rows["detectable_difference"].astype(float))
        size = f"; {clause}" if clause else ""
        return [Sentence(
            f"No condition changed how well languages separate in the {name}'s latent spaces "
            f"({shown}, {plural(len(rows), 'test')} over seeds and probe speakers, Holm-corrected"
            f"{size}).",
            tuple(key(r) for _, r in rows.iterrows()),
        )]  # fmt: skip
    if not detail:
        parts = []
        for better in (True, False):
            these = sig[((sig["difference"].astype(float) > 0) == sig["higher_is_better"])
                        == better]  # fmt: skip
            if these.empty:
                continue
            conditions = list(dict.fromkeys(str(c) for c in these["condition"]))
            diffs = [f"{float(d):+.3f}" for d in these["difference"]]
            shown_diffs = sorted(set(diffs), key=float)
            span = (shown_diffs[0] if len(shown_diffs) == 1
                    else f"{shown_diffs[0]} to {shown_diffs[-1]}")  # fmt: skip
            parts.append(
                f"{'better' if better else 'worse'} after {_names(results, conditions)} "
                f"(difference{'s' if len(diffs) > 1 else ''} {span}, "
                f"{_holm([r for _, r in these.iterrows()], 'Holm')})"
            )
        return [Sentence(
            f"Against the control, languages separated ({shown}) {' and '.join(parts)}; "
            f"{len(rows) - len(sig)} of {len(rows)} speaker-level tests show no evidence.",
            tuple(key(r) for _, r in sig.iterrows()) + tuple(key(r) for _, r in rows.iterrows()
                                                              if r["p_holm"] >= ALPHA),
        )]  # fmt: skip
    parts = []
    for _, r in sig.iterrows():
        better = (float(r["difference"]) > 0) == bool(r["higher_is_better"])
        parts.append(
            f"{'better' if better else 'worse'} with “{results.condition_label(str(r['condition']))}” "
            f"in {r['latent_space']} (difference {float(r['difference']):+.3f}, 95% CI "
            f"{float(r['difference_ci_low']):+.3f} to {float(r['difference_ci_high']):+.3f}; "
            f"Holm-corrected {fmt_p(float(r['p_holm']))})"
        )
    return [Sentence(
        f"Against the control, languages separated ({shown}; tests over seeds and probe "
        f"speakers) {'; '.join(parts)}; {len(rows) - len(sig)} of the {len(rows)} tests show no "
        "evidence of a difference.",
        tuple(key(r) for _, r in sig.iterrows()) + tuple(key(r) for _, r in rows.iterrows()
                                                          if r["p_holm"] >= ALPHA),
    )]  # fmt: skip


# ---------------------------------------------------------------- wall clock


def _load(runs: pd.DataFrame) -> str:
    """The 1-minute load averages a set of runs recorded, as words."""
    loads = pd.concat([runs["load_start"], runs["load_end"]]).astype(float).dropna()
    if loads.empty:
        return "no load average recorded"
    cpus = runs["cpu_count"].astype(float).dropna()
    on = f" on {int(cpus.max())} CPUs" if len(cpus) else ""
    low, high = loads.min(), loads.max()
    span = f"{low:.2f}" if low == high else f"{low:.2f} to {high:.2f}"
    return f"1-minute load average {span}{on}"


def _wall_clock_sentences(results: Results, analysis: Analysis, model: str) -> list[Sentence]:
    """Where wall seconds and steps point in opposite directions against the
    control (and at least one of them is evidence), a warning naming the load."""
    measure = answer_measure(results)
    counted = "steps" if measure == "seconds" else measure
    steps, seconds = _vs_rows(analysis, model, counted), _vs_rows(analysis, model, "seconds")
    runs = results.runs
    out = []
    for condition, s in steps.items():
        w = seconds.get(condition)
        if w is None or not (significant(s) or significant(w)):
            continue
        if (float(s["time_ratio"]) < 1) == (float(w["time_ratio"]) < 1):
            continue
        mine = runs[(runs["model"] == model) & (runs["condition"] == condition)]
        ctrl = runs[(runs["model"] == model) & (runs["condition"] == results.control)]

        def way(row: pd.Series) -> str:
            return "sooner" if float(row["time_ratio"]) < 1 else "later"

        out.append(Sentence(
            f"Warning: in wall seconds the {results.model_label(model)} with "
            f"“{results.condition_label(condition)}” reached the threshold {way(w)} than the "
            f"control (time ratio {ratio(float(w['time_ratio']))}), in "
            f"{MEASURE_WORDS[counted][0]} {way(s)} ({ratio(float(s['time_ratio']))}). Wall seconds "
            f"carry the machine's load: these runs ran at a {_load(mine)}, the control's at a "
            f"{_load(ctrl)}. The answer counts {MEASURE_WORDS[measure][0]}.",
            (_vs_source(s), _vs_source(w),
             source(RUNS, model=model, condition=condition),
             source(RUNS, model=model, condition=results.control)),
            warning=True,
        ))  # fmt: skip
    return out


def cpu_share(runs: pd.DataFrame) -> str:
    """ ", and each run's process used 0.94 CPU seconds per wall second on
    average" (all runs pooled), or "" when the runs recorded no CPU time."""
    cpu = runs["cpu_seconds"].astype(float)
    wall = runs["wall_seconds"].astype(float)
    ok = np.isfinite(cpu) & np.isfinite(wall) & (wall > 0)
    if not ok.any():
        return ""
    return (
        f", and each run's process used {cpu[ok].sum() / wall[ok].sum():.2f} CPU seconds per "
        "wall second on average"
    )


def load_note(runs: pd.DataFrame) -> str:
    """What wall seconds were measured under, for the tables in seconds."""
    return (
        f"Wall seconds were measured at a {_load(runs)}{cpu_share(runs)} (runs.csv: load_start, "
        "load_end, cpu_seconds): they carry the machine's load, which steps do not."
    )


def measure_sentence(results: Results, analysis: Analysis) -> Sentence | None:
    """How learning speed is counted, and what the wall seconds ran under."""
    runs = results.runs
    if runs.empty:
        return None
    counted = {
        "steps": "optimizer steps of target training, which machine load cannot change",
        "total_steps": "optimizer steps of pretraining and target training together, which "
        "machine load cannot change",
        "seconds": "wall seconds of target training, as the suite chose (answer_measure)",
    }[answer_measure(results)]
    return Sentence(
        f"Learning speed is counted in {counted}. The wall seconds were measured at a "
        f"{_load(runs)}{cpu_share(runs)}; they compare conditions only as far as the load was "
        "alike.",
        (source(RUNS),),
    )


# ---------------------------------------------------------------- the answer


def paragraphs(results: Results, analysis: Analysis) -> list[Paragraph]:
    """One paragraph per model with anything to say, then the measure."""
    out: list[Paragraph] = []
    if results.control is None:
        return out
    for model in results.models:
        measure = answer_measure(results)
        rows = _vs_rows(analysis, model, measure)
        between = _between_rows(analysis, model, measure)
        sentences = [
            *_speed_sentences(results, model, rows, between),
            *_between_sentences(results, model, rows, between),
            *_separability_sentence(results, analysis, model),
            *_wall_clock_sentences(results, analysis, model),
        ]
        details = [
            *_speed_details(results, model, rows),
            *_between_details(results, analysis, model, rows, measure),
            *_separability_sentence(results, analysis, model, detail=True),
        ]
        if sentences:
            out.append(
                Paragraph(model, results.model_label(model), tuple(sentences), tuple(details))
            )
    counted = measure_sentence(results, analysis)
    if out and counted is not None:
        out.append(Paragraph("", "", (counted,)))
    return out
