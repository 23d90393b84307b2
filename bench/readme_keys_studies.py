"""The README's numbers from the published studies' suites (suites/nazzi.toml,
suites/prenatal.toml, suites/vogelsang.toml, suites/attunement.toml), computed from their stored runs
like the rest (readme_keys.py, readme_numbers.py). The language-pair matrix
is computed from each run's stored latents, which the stored runs (records
only) do not keep: its numbers in the README are measured facts
(readme_keys.MEASURED), not checked here."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pandas as pd
from readme_keys import between, ci, comparison, count, f2, one, p_text, rows, threshold, vs

from harness.tables.probes import along_table

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


def _attunement(st: Stored) -> StoredSuite:
    return st["attunement"]


#: the LSTM's frames, where the conditions can differ (the raw features cannot)
FRAMES = "lstm_state/h"


def _abx(condition: str, side: str, space: str = FRAMES) -> Callable[[Stored], str]:
    """``'0.62 [-6.01, 7.25]'``: a condition's across-speaker ABX score (or
    attunement) with its 95% CI, seeds and speakers as sampled."""

    def key(st: Stored) -> str:
        table = _attunement(st).analysis.separability
        row = one(rows(table, condition=condition, latent_space=space,
                       metric=f"abx_{side}_across"))  # fmt: skip
        return f"{f2(row['mean'])} [{ci(row['ci_low'], row['ci_high'], ', ')}]"

    return key


def _attuned_vs(condition: str) -> dict[str, Callable[[Stored], str]]:
    """A condition's attunement (across) minus the control's, its CI and Holm p."""

    def row(st: Stored) -> pd.Series:
        table = _attunement(st).analysis.separability_vs_control
        return one(rows(table, condition=condition, latent_space=FRAMES,
                        metric="abx_attunement_across"))  # fmt: skip

    prefix = f"attunement.{condition}.vs"
    return {
        prefix: lambda st: f2(row(st)["difference"]),
        f"{prefix}_ci": lambda st: ci(row(st)["difference_ci_low"], row(st)["difference_ci_high"]),
        f"{prefix}_p": lambda st: p_text(row(st)["p_holm"]),
    }


def _along(condition: str, step: int) -> Callable[[Stored], str]:
    """The median over seeds of the across-speaker ABX error in the LSTM's frames
    at one target-training step ([probing] probe_at), and how many seeds reached it."""

    def value(st: Stored) -> str:
        table = along_table(_attunement(st).results.records.values())
        at = rows(table, condition=condition, latent_space=FRAMES, metric="abx_across", step=step)
        return f"{at['value'].median():.1f}"

    return value


ATTUNEMENT: dict[str, Callable[[Stored], str]] = {
    "attunement.runs": lambda st: count(_attunement(st).results.records),
    **{f"attunement.none.{side}": _abx("none", side) for side in ("native", "foreign")},
    **{f"attunement.{c}.attunement": _abx(c, "attunement") for c in ("none", "ja-3", "es-lp500")},
    "attunement.raw": _abx("none", "attunement", "feature_stats/mean_std"),
    **_attuned_vs("ja-3"),
    **_attuned_vs("es-lp500"),
    **{
        f"attunement.along.{c}.{k}": _along(c, k)
        for c in ("none", "ja-3", "es-lp500")
        for k in (0, 50)
    },
}


def _vogelsang(st: Stored) -> StoredSuite:
    return st["vogelsang"]


GRU = "GRU"
REGIMENS = ("none", "low-then-full", "full-only", "low-only", "full-then-low")


def _start(st: Stored, condition: str) -> str:
    """Mean over seeds of the held-out balanced accuracy at step 0 (after pretraining)."""
    curves = rows(_vogelsang(st).results.curves, model=GRU, condition=condition, step=0)
    return f2(curves["heldout_balanced_accuracy"].mean())


def _window(st: Stored, condition: str) -> str:
    """The integration window (frames): mean over seeds [95% CI, seeds x speakers]."""
    row = one(
        rows(
            _vogelsang(st).analysis.separability,
            model=GRU,
            condition=condition,
            metric="integration_frames",
        )
    )
    return f"{row['mean']:.0f} [{row['ci_low']:.0f}, {row['ci_high']:.0f}]"


def _window_vs_control(st: Stored, condition: str) -> str:
    row = one(
        rows(
            _vogelsang(st).analysis.separability_vs_control,
            model=GRU,
            condition=condition,
            metric="integration_frames",
        )
    )
    bounds = f"{row['difference_ci_low']:+.0f} to {row['difference_ci_high']:+.0f}"
    return f"{row['difference']:+.0f} ({bounds}, {p_text(row['p_holm'])})"


def _capped(st: Stored) -> str:
    probes = rows(_vogelsang(st).results.probes, metric="capped_share")
    return f"{probes['value'].max():.0%}"


VOGELSANG: dict[str, Callable[[Stored], str]] = {
    "vogelsang.runs": lambda st: count(_vogelsang(st).results.records),
    "vogelsang.threshold": lambda st: threshold(_vogelsang(st), GRU, percent=True),
    "vogelsang.capped": _capped,
    **{f"vogelsang.start.{c}": (lambda st, c=c: _start(st, c)) for c in REGIMENS},
    **{f"vogelsang.window.{c}": (lambda st, c=c: _window(st, c)) for c in REGIMENS},
    **{
        f"vogelsang.window_vs.{c}": (lambda st, c=c: _window_vs_control(st, c))
        for c in REGIMENS[1:]
    },
    **comparison("vogelsang.low_full", lambda st: one(vs(_vogelsang(st), GRU, "low-then-full"))),
    **comparison("vogelsang.full", lambda st: one(vs(_vogelsang(st), GRU, "full-only")), p=False),
    **comparison("vogelsang.low", lambda st: one(vs(_vogelsang(st), GRU, "low-only")), p=False),
    **comparison(
        "vogelsang.full_low", lambda st: one(vs(_vogelsang(st), GRU, "full-then-low")), p=False
    ),
}

STUDIES: dict[str, Callable[[Stored], str]] = {**PRENATAL, **NAZZI, **ATTUNEMENT, **VOGELSANG}
