"""Numbers as the report shows them: significant figures, scores, times, p-values.

Pure functions of numbers, below every report module, so tables (markup) and
sentences format alike without importing each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from harness.spec.config import ANSWER_MEASURE

#: the level at which the report calls a Holm-corrected p "evidence"
ALPHA = 0.05

#: each time measure of the statistics as the report names it, in report order
MEASURE_NAMES = {
    "steps": "target steps",
    "total_steps": "steps including pretraining",
    "seconds": "wall seconds of target training",
}


def plural(n: int, word: str, many: str | None = None) -> str:
    """``'1 run'``, ``'3 runs'``."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def series(items: Sequence[str], sep: str = ", ", last: str = " and ") -> str:
    """``'a'``, ``'a and b'``, ``'a, b and c'``; ``sep`` and ``last`` join the
    items (``"; "`` and ``"; nor with "`` for a list of clauses)."""
    items = list(items)
    return items[0] if len(items) == 1 else sep.join(items[:-1]) + last + items[-1]


def fmt_num(x: float, digits: int = 3) -> str:
    """A number with ``digits`` significant figures; '–' for missing."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, float) and math.isinf(x):
        return "not reached" if x > 0 else "-inf"
    if float(x).is_integer() and abs(x) < 1e6:
        return str(int(x))
    return f"{x:.{digits}g}"


def fmt_score(x: float) -> str:
    """A probe score or CKA value: three decimals."""
    if x is None or not np.isfinite(x):
        return "–"
    return f"{x:.3f}"


def fmt_time(x: float, measure: str) -> str:
    """A time to threshold: whole steps, or seconds with one decimal."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return "not reached"
    return f"{x:.1f}" if measure == "seconds" else f"{x:.0f}"


def fmt_p(p: float) -> str:
    if p is None or (isinstance(p, float) and math.isnan(p)):
        return "p not computable"
    if p < 0.001:
        return "p < 0.001"
    return f"p = {p:.3f}" if p < 0.01 else f"p = {p:.2f}"


def fmt_ci(low: float, high: float, fmt: str = "num", measure: str = ANSWER_MEASURE) -> str:
    def one(x: float) -> str:
        return fmt_time(x, measure) if fmt == "time" else fmt_score(x)

    return f"[95% CI {one(low)}, {one(high)}]"


def detectable_clause(values: Sequence[float] | np.ndarray) -> str:
    """What differences a set of tests could detect (80% power), as a clause:
    ``'differences of ±0.020 to ±0.070 were detectable'``. An infinite value is
    a test that could detect no difference inside the score's declared range;
    NaN (no test) is left out. Empty when nothing is known."""
    known = np.asarray(values, dtype=float)
    known = known[~np.isnan(known)]
    finite = known[np.isfinite(known)]
    blind = int(known.size - finite.size)
    if finite.size == 0:
        return "no difference within the score's range was detectable" if blind else ""
    shown = f"±{fmt_range(finite, 3).replace(' to ', ' to ±')}"
    clause = (
        f"a difference of {shown} was detectable"
        if finite.min() == finite.max() and finite.size == 1
        else f"differences of {shown} were detectable"
    )
    if blind:
        clause += f"; {plural(blind, 'test')} could detect none within the score's range"
    return clause


def fmt_detectable(value: float) -> str:
    """One detectable difference for a table cell."""
    if np.isnan(value):
        return "–"
    return "none in range" if np.isinf(value) else f"±{value:.3f}"


def fmt_range(values: Sequence[float] | np.ndarray, digits: int | None = None) -> str:
    """``'3'`` or ``'3 to 5'``: whole numbers, or ``digits`` decimals when given."""
    lo, hi = (
        (f"{np.min(values):.{digits}f}", f"{np.max(values):.{digits}f}")
        if digits is not None
        else (str(int(np.min(values))), str(int(np.max(values))))
    )
    return lo if lo == hi else f"{lo} to {hi}"
