"""The pieces every sentence of the answer is made of: where its numbers come
from (:class:`Source`, a row of a CSV of the output folder), the sentence and
paragraph types, and the words for ratios, CIs, amounts of a time measure and
Holm-corrected p-values that the speed, between-condition, separability and
wall-clock sentences share.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from harness.output.layout import RUNS_CSV, stats_csv
from harness.report.numbers import ALPHA, fmt_p, series
from harness.spec.config import ANSWER_MEASURE
from harness.stats.analysis import Analysis
from harness.tables.results import Results

#: how the answer words an amount of each measure: (the unit, fewer, more)
MEASURE_WORDS = {
    "steps": ("target steps", "fewer", "more"),
    "total_steps": ("steps, pretraining included", "fewer", "more"),
    "seconds": ("wall time", "less", "more"),
}

VS_CONTROL = stats_csv("convergence_vs_control")
BETWEEN = stats_csv("convergence_between")
SEPARABILITY = stats_csv("separability_vs_control")
SEPARABILITY_SCORES = stats_csv("separability")
RUNS = RUNS_CSV


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


def row_source(table: str, row: pd.Series, *keys: str) -> Source:
    """The row of ``table`` whose ``keys`` columns hold ``row``'s values."""
    return source(table, **{k: row[k] for k in keys})


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
    if ratio(r) == ratio(1.0):  # no spread between seeds: nothing to size a change against
        return "its seeds showed no spread, so the change it could have detected is unknown"
    return f"a ratio of {ratio(r)} or {ratio(1 / r)} was detectable"


def _sequential(row: Mapping[str, object] | None) -> str:
    """A sequential suite's decision on this row (``sequential_decision``;
    :mod:`harness.stats.sequential_decisions`), "" where there is none."""
    value = None if row is None else row.get("sequential_decision")
    return value if isinstance(value, str) else ""


def equivalent(row: Mapping[str, object] | None) -> bool:
    """The two one-sided tests showed the ratio inside the suite's margin
    (Holm); in a sequential suite, its looks did."""
    if _sequential(row):
        return _sequential(row) == "equivalent"
    value = None if row is None else row.get("equivalent")
    return (isinstance(value, bool | np.bool_) and bool(value)) or str(value) == "True"


def margin_words(row: Mapping[str, object]) -> str:
    """The equivalence margin as readers see it: 1.1 -> '±10%'."""
    return f"±{(float(row['equivalence_margin']) - 1) * 100:.0f}%"  # type: ignore[arg-type]


def equivalence_ci(row: Mapping[str, object]) -> str:
    """'90% CI 0.97 to 1.04': the interval the equivalence was shown by."""
    low, high = float(row["equivalence_ci_low"]), float(row["equivalence_ci_high"])  # type: ignore[arg-type]
    return f"90% CI {ratio(low)} to {ratio(high)}"


def equivalence_clause(row: Mapping[str, object], with_ratio: bool = False) -> str:
    """'equivalent within ±10% (time ratio 1.01, 90% CI 0.97 to 1.04; equivalence
    Holm p = 0.002)', the ratio only ``with_ratio``."""
    p = fmt_p(float(row["p_equivalence_holm"]))  # type: ignore[arg-type]
    shown = f"time ratio {ratio(float(row['time_ratio']))}, " if with_ratio else ""  # type: ignore[arg-type]
    return (
        f"equivalent within {margin_words(row)} ({shown}{equivalence_ci(row)}; "
        f"equivalence Holm {p})"
    )


def equivalence_holm(rows: list[pd.Series]) -> str:
    """The Holm-corrected p of equivalence tests: one value, or the largest."""
    shown = {fmt_p(float(r["p_equivalence_holm"])) for r in rows}
    if len(shown) == 1:
        return f"equivalence Holm {shown.pop()}"
    return f"equivalence Holm p ≤ {max(float(r['p_equivalence_holm']) for r in rows):.2g}"


def significant(row: Mapping[str, object] | None) -> bool:
    """A difference shown: Holm's p under 5%; in a sequential suite, by its looks."""
    if _sequential(row):
        return _sequential(row) == "differs"
    return row is not None and bool(float(row["p_holm"]) < ALPHA)  # type: ignore[arg-type]


def span(values: list[float], show=ratio, sep: str = "–") -> str:
    """``'0.76–0.78'``, or one value where they print alike."""
    low, high = show(min(values)), show(max(values))
    return low if low == high else f"{low}{sep}{high}"


def quoted_names(results: Results, conditions: list[str]) -> str:
    """“A”, “B” and “C”."""
    quoted = [f"“{results.condition_label(c)}”" for c in conditions]
    return series(quoted)


def preposition(results: Results, conditions: list[str]) -> str:
    """ "after" conditions that pretrain; "with" where one only changes settings
    ("8 kHz, no pretraining" is not heard before anything)."""
    infos = [results.design.condition(c) for c in conditions]
    return "after" if all(i is None or i.pretrains for i in infos) else "with"


def holm_clause(rows: list[pd.Series], word: str = "Holm-corrected") -> str:
    """The Holm-corrected p of a set of tests: one value, or the largest."""
    shown = {fmt_p(float(r["p_holm"])) for r in rows}
    if len(shown) == 1:
        return ("all " if len(rows) > 1 else "") + f"{word} {shown.pop()}"
    return f"{word} p ≤ {max(float(r['p_holm']) for r in rows):.2f}"


def smallest_holm(rows: list[pd.Series]) -> str:
    """The Holm-corrected p of tests without evidence: one value, or the smallest."""
    shown = {fmt_p(float(r["p_holm"])) for r in rows}
    if len(shown) == 1:
        return f"Holm {shown.pop()}"
    return f"Holm p ≥ {min(float(r['p_holm']) for r in rows):.2f}"


def vs_rows(analysis: Analysis, model: str, measure: str) -> dict[str, pd.Series]:
    vs = analysis.convergence_vs_control
    if vs.empty:
        return {}
    mine = vs[(vs["measure"] == measure) & (vs["model"] == model)]
    return {str(r["condition"]): r for _, r in mine.iterrows() if np.isfinite(r["p_value"])}


def vs_source(row: pd.Series) -> Source:
    return row_source(VS_CONTROL, row, "measure", "model", "condition")
