"""The README's numbers from the published studies' suites (suites/nazzi.toml,
suites/prenatal.toml, suites/vogelsang.toml), computed from their stored runs
like the rest (readme_keys.py, readme_numbers.py). The language-pair matrix
is computed from each run's stored latents, which the stored runs (records
only) do not keep: its numbers in the README are measured facts
(readme_keys.MEASURED), not checked here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
from readme_keys import between, ci, comparison, count, one, vs

if TYPE_CHECKING:
    from readme_numbers import Stored, StoredSuite

LSTM = "lstm"


def _prenatal(st: Stored) -> StoredSuite:
    return st["prenatal"]


def _equivalence_ci(row: pd.Series) -> str:
    return ci(row["equivalence_ci_low"], row["equivalence_ci_high"])


PRENATAL: dict[str, Callable[[Stored], str]] = {
    "prenatal.runs": lambda st: count(_prenatal(st).results.records),
    **comparison("prenatal.womb1", lambda st: one(vs(_prenatal(st), LSTM, "womb-1"))),
    **comparison("prenatal.womb3", lambda st: one(vs(_prenatal(st), LSTM, "womb-3"))),
    **comparison("prenatal.full3", lambda st: one(vs(_prenatal(st), LSTM, "full-3"))),
    **comparison("prenatal.epochs", lambda st: between(_prenatal(st), LSTM, "womb-1", "womb-3")),
    **comparison("prenatal.filter", lambda st: between(_prenatal(st), LSTM, "womb-3", "full-3")),
    "prenatal.filter_eq": lambda st: _equivalence_ci(
        between(_prenatal(st), LSTM, "womb-3", "full-3")
    ),
}


def _nazzi(st: Stored) -> StoredSuite:
    return st["nazzi"]


NAZZI: dict[str, Callable[[Stored], str]] = {
    "nazzi.runs": lambda st: count(_nazzi(st).results.records),
}

STUDIES: dict[str, Callable[[Stored], str]] = {**PRENATAL, **NAZZI}
