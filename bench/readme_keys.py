"""What each marked number of README.md and the docs is, computed from a
stored suite's results and analysis (see readme_numbers.py).

Each entry of :data:`NUMBERS` maps a key to a function of the stored suites
that returns the text the document shows between the key's markers. The
tables are the ``stats/*.csv`` tables of ``harness run`` (columns:
docs/report.md). Bounds are rounded outwards ("p <= 0.02" is never below the
largest p), so a sentence stays true of the numbers it rounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.report.numbers import fmt_p
from harness.stats.planning import plan

if TYPE_CHECKING:
    from readme_numbers import Stored, StoredSuite

#: the flagship's conditions of low-passed speech (not noise, not full band)
LOWPASS = ("es-lp500", "it-lp500", "ja-lp500")
MULTICLASS = "balanced_accuracy_multiclass"


# ----------------------------------------------------------------- formatting


def f2(x: float) -> str:
    """Two decimals, halves rounded up, after rounding away the last bits of
    float noise: a ratio of whole step counts such as 70/80 = 0.875 reads the
    same whichever library versions summed it (0.8750000000000007 or
    0.8749999999999999)."""
    if not math.isfinite(x):
        return f"{x:.2f}"
    exact = Decimal(repr(round(float(x), 9)))
    return str(exact.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def whole(x: float) -> str:
    return f"{x:.0f}"


def span(values: Iterable[float], fmt: Callable[[float], str] = f2, sep: str = "-") -> str:
    """``'0.76-0.78'``, or one number when both ends read the same."""
    vals = [float(v) for v in values]
    low, high = fmt(min(vals)), fmt(max(vals))
    return low if low == high else f"{low}{sep}{high}"


def ci(low: float, high: float, sep: str = " to ") -> str:
    return f"{f2(low)}{sep}{f2(high)}"


def p_text(p: float) -> str:
    """The report's wording of a p-value, with a third decimal where two
    would round it onto the 5% level and leave the verdict unreadable."""
    text = fmt_p(p)
    return f"p = {p:.3f}" if text == "p = 0.05" else text


def p_each(values: Iterable[float]) -> str:
    """One p-value's wording, or the largest as a bound when they differ."""
    vals = [p_text(float(v)) for v in values]
    if len(set(vals)) == 1:
        return vals[0]
    return f"p <= {math.ceil(max(float(v) for v in values) * 100) / 100:.2f}"


def p_at_least(values: Iterable[float]) -> str:
    return f"p >= {math.floor(min(float(v) for v in values) * 100) / 100:.2f}"


def within(x: float) -> str:
    """An upper bound at two decimals, rounded up."""
    return f"{math.ceil(float(x) * 100 - 1e-9) / 100:.2f}"


# ----------------------------------------------------------------- lookups


def rows(table: pd.DataFrame, **where: Any) -> pd.DataFrame:
    """The rows whose columns equal ``where`` (a tuple: any of its values);
    an empty selection is an error, so a renamed condition cannot read as 'no rows'."""
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        options = value if isinstance(value, tuple) else (value,)
        mask &= table[column].isin(options)
    found = table[mask]
    if found.empty:
        raise KeyError(f"no rows where {where} (columns: {', '.join(table.columns)})")
    return found


def vs(s: StoredSuite, model: str, condition: str | tuple[str, ...], measure: str = "steps"):
    table = s.analysis.convergence_vs_control
    return rows(table, measure=measure, model=model, condition=condition)


def one(frame: pd.DataFrame) -> pd.Series:
    if len(frame) != 1:
        raise KeyError(f"expected one row, found {len(frame)}")
    return frame.iloc[0]


def ratio_ci(row: pd.Series) -> str:
    """``'0.55 [0.52, 0.60]'``: a time ratio and its 95% CI."""
    bounds = ci(row["time_ratio_ci_low"], row["time_ratio_ci_high"], ", ")
    return f"{f2(row['time_ratio'])} [{bounds}]"


def median(s: StoredSuite, model: str, condition: str | tuple[str, ...]) -> pd.DataFrame:
    return rows(s.analysis.survival_summary, measure="steps", model=model, condition=condition)


def between(s: StoredSuite, model: str, a: str, b: str) -> pd.Series:
    table = s.analysis.convergence_between
    return one(rows(table, measure="steps", model=model, condition_a=a, condition_b=b))


def separation(s: StoredSuite, model: str | None = None, baseline: bool = False) -> pd.DataFrame:
    where: dict[str, Any] = {"metric": MULTICLASS, "is_baseline": baseline}
    if model is not None:
        where["model"] = model
    return rows(s.analysis.separability, **where)


def runs_of(s: StoredSuite, **where: Any) -> pd.DataFrame:
    return rows(s.results.runs, **where) if where else s.results.runs


def threshold(s: StoredSuite, model: str, percent: bool = False) -> str:
    (info,) = [m for m in s.results.design.models if m.label == model]
    return f"{info.threshold:.0%}" if percent else f"{info.threshold:g}"


def baseline_score(s: StoredSuite, condition: str) -> str:
    scores = {
        r.baseline["balanced_accuracy"]
        for r in s.results.records.values()
        if r.condition_name == condition and r.baseline
    }
    return span(scores)


def sd(s: StoredSuite, model: str) -> float:
    # the pilot's own spread of per-seed log ratios (one value per model)
    table = plan(s.results.runs, str(s.results.control), [0.2])
    return float(one(rows(table, model=model))["log_ratio_sd"])


def seeds_for(s: StoredSuite, model: str, effect: float = 0.2) -> str:
    table = plan(s.results.runs, str(s.results.control), [effect])
    return str(int(one(rows(table, model=model))["seeds_needed"]))


def count(frame: pd.DataFrame | Sequence[Any]) -> str:
    return str(len(frame))


# ----------------------------------------------------------------- the flagship

LSTM, AE = "lstm", "conv_autoencoder"


def _pretrain(st: Stored) -> StoredSuite:
    return st["pretrain"]


def _lstm_censored(st: Stored) -> str:
    runs = runs_of(_pretrain(st), model=LSTM)
    return f"{int((~runs['event'].astype(bool)).sum())} of {len(runs)}"


def _pretrain_steps(st: Stored) -> str:
    runs = runs_of(_pretrain(st), model=LSTM)
    return span(runs.loc[runs["pretrain_steps"] > 0, "pretrain_steps"], whole)


def _ae_spread_times(st: Stored) -> str:
    return f"{sd(_pretrain(st), AE) / sd(_pretrain(st), LSTM):.1f}"


def _ae_detectable(st: Stored) -> str:
    ratios = vs(_pretrain(st), AE, tuple(_pretrain(st).results.conditions[1:]))["detectable_ratio"]
    return span((1 - np.asarray(ratios)) * 100, whole) + "%"


def _baseline(st: Stored) -> str:
    row = separation(_pretrain(st), baseline=True).iloc[0]
    return f"{f2(row['mean'])} [95% CI {ci(row['ci_low'], row['ci_high'], ', ')}]"


def _ae_sep_vs_control(st: Stored, column: str) -> pd.Series:
    table = _pretrain(st).analysis.separability_vs_control
    return rows(table, model=AE, metric=MULTICLASS)[column]


def _language_equivalence_ci(st: Stored) -> str:
    """The 90% CIs of the LSTM's pairs of low-passed speech that differ only in
    the language, all of them within the margin (else the sentence is wrong)."""
    table = _pretrain(st).analysis.convergence_between
    pairs = rows(table, measure="steps", model=LSTM, differs_in="language")
    if not pairs["equivalent"].astype(bool).all():
        raise ValueError("a language pair of the LSTM is no longer shown equivalent")
    return ci(pairs["equivalence_ci_low"].min(), pairs["equivalence_ci_high"].max())


def _control_median(st: Stored) -> str:
    row = one(median(_pretrain(st), LSTM, str(_pretrain(st).results.control)))
    bounds = f"{whole(row['median_ci_low'])}, {whole(row['median_ci_high'])}"
    return f"{whole(row['median'])} [95% CI {bounds}]"


def _all_but_control(s: StoredSuite) -> tuple[str, ...]:
    return tuple(c for c in s.results.conditions if c != s.results.control)


PRETRAIN: dict[str, Callable[[Stored], str]] = {
    "pretrain.runs": lambda st: count(_pretrain(st).results.records),
    "pretrain.lstm.threshold": lambda st: threshold(_pretrain(st), LSTM),
    "pretrain.ae.threshold": lambda st: threshold(_pretrain(st), AE),
    "pretrain.lstm.lowpass": lambda st: span(vs(_pretrain(st), LSTM, LOWPASS)["time_ratio"]),
    "pretrain.lstm.lowpass_ci": lambda st: ci(
        vs(_pretrain(st), LSTM, LOWPASS)["time_ratio_ci_low"].min(),
        vs(_pretrain(st), LSTM, LOWPASS)["time_ratio_ci_high"].max(),
        "-",
    ),
    "pretrain.lstm.lowpass_median": lambda st: span(
        median(_pretrain(st), LSTM, LOWPASS)["median"], whole
    ),
    "pretrain.lstm.control_median": _control_median,
    "pretrain.lstm.full": lambda st: ratio_ci(one(vs(_pretrain(st), LSTM, "es-full"))),
    "pretrain.lstm.full_median": lambda st: whole(
        one(median(_pretrain(st), LSTM, "es-full"))["median"]
    ),
    "pretrain.lstm.p": lambda st: p_each(
        vs(_pretrain(st), LSTM, _all_but_control(_pretrain(st)))["p_holm"]
    ),
    "pretrain.min_p": lambda st: f"2/{2 ** len(_pretrain(st).results.design.seeds)}",
    "pretrain.comparisons": lambda st: count(
        rows(_pretrain(st).analysis.convergence_vs_control, measure="steps")
    ),
    "pretrain.lstm.censored": _lstm_censored,
    "pretrain.pretrain_steps": _pretrain_steps,
    "pretrain.lstm.lowpass_total": lambda st: span(
        vs(_pretrain(st), LSTM, LOWPASS, "total_steps")["time_ratio"]
    ),
    "pretrain.lstm.full_total": lambda st: f2(
        one(vs(_pretrain(st), LSTM, "es-full", "total_steps"))["time_ratio"]
    ),
    "pretrain.lstm.p_total": lambda st: p_each(
        vs(_pretrain(st), LSTM, _all_but_control(_pretrain(st)), "total_steps")["p_holm"]
    ),
    "pretrain.lstm.noise": lambda st: ratio_ci(one(vs(_pretrain(st), LSTM, "noise-lp500"))),
    "pretrain.ae.ratios": lambda st: span(
        vs(_pretrain(st), AE, _all_but_control(_pretrain(st)))["time_ratio"]
    ),
    "pretrain.ae.p": lambda st: p_at_least(
        vs(_pretrain(st), AE, _all_but_control(_pretrain(st)))["p_holm"]
    ),
    "pretrain.ae.steps": lambda st: span(
        runs_of(_pretrain(st), model=AE)["steps_to_threshold"], whole
    ),
    "pretrain.ae.spread_times": _ae_spread_times,
    "pretrain.ae.sd": lambda st: f2(sd(_pretrain(st), AE)),
    "pretrain.lstm.sd": lambda st: f2(sd(_pretrain(st), LSTM)),
    "pretrain.lstm.log_ratio_sd": lambda st: span(
        vs(_pretrain(st), LSTM, _all_but_control(_pretrain(st)))["log_ratio_sd"]
    ),
    "pretrain.ae.detectable": _ae_detectable,
    "pretrain.ae.seeds_for_20": lambda st: seeds_for(_pretrain(st), AE),
    "pretrain.lstm.seeds_for_20": lambda st: seeds_for(_pretrain(st), LSTM),
    "pretrain.baseline": _baseline,
    "pretrain.chance": lambda st: span(separation(_pretrain(st), baseline=True)["chance"]),
    "pretrain.baseline_p": lambda st: p_each(
        separation(_pretrain(st), baseline=True)["p_vs_chance_holm"]
    ),
    "pretrain.lstm.separation": lambda st: span(separation(_pretrain(st), LSTM)["mean"]),
    "pretrain.ae.separation": lambda st: span(separation(_pretrain(st), AE)["mean"]),
    "pretrain.ae.separation_p": lambda st: p_each(
        separation(_pretrain(st), AE)["p_vs_chance_holm"]
    ),
    "pretrain.ae.change": lambda st: within(_ae_sep_vs_control(st, "difference").abs().max()),
    "pretrain.ae.change_detectable": lambda st: span(
        _ae_sep_vs_control(st, "detectable_difference")
    ),
    "pretrain.ae.equivalent": lambda st: str(
        int(_ae_sep_vs_control(st, "equivalent").fillna(False).astype(bool).sum())
    ),
    "pretrain.ae.conditions": lambda st: str(len(_ae_sep_vs_control(st, "equivalent"))),
    "pretrain.lstm.language_equivalence_ci": _language_equivalence_ci,
}


# ----------------------------------------------------------------- supervised tasks


def comparison(
    prefix: str, row: Callable[[Stored], pd.Series], p: bool = True
) -> dict[str, Callable[[Stored], str]]:
    """A time ratio's numbers as the README words them: ``1.46``,
    ``1.24 to 1.74`` and (``p``) the Holm-corrected ``p = 0.02``."""
    keys: dict[str, Callable[[Stored], str]] = {
        prefix: lambda st: f2(row(st)["time_ratio"]),
        f"{prefix}_ci": lambda st: ci(row(st)["time_ratio_ci_low"], row(st)["time_ratio_ci_high"]),
    }
    if p:
        keys[f"{prefix}_p"] = lambda st: p_text(row(st)["p_holm"])
    return keys


def _keywords(st: Stored) -> StoredSuite:
    return st["keywords"]


CNN = "mel CNN"
KEYWORDS: dict[str, Callable[[Stored], str]] = {
    "keywords.runs": lambda st: count(_keywords(st).results.records),
    "keywords.threshold": lambda st: threshold(_keywords(st), CNN, percent=True),
    **comparison("keywords.8k", lambda st: one(vs(_keywords(st), CNN, "8k"))),
    "keywords.medians": lambda st: " and ".join(
        whole(one(median(_keywords(st), CNN, c))["median"]) for c in ("8k", "16k")
    ),
    **comparison("keywords.lp16", lambda st: one(vs(_keywords(st), CNN, "lp500-16k")), p=False),
    "keywords.lp16_detectable": lambda st: f2(
        one(vs(_keywords(st), CNN, "lp500-16k"))["detectable_ratio"]
    ),
    **comparison(
        "keywords.between", lambda st: between(_keywords(st), CNN, "lp500-16k", "lp500-8k")
    ),
    "keywords.baseline_16k": lambda st: baseline_score(_keywords(st), "16k"),
    "keywords.baseline_8k": lambda st: baseline_score(_keywords(st), "8k"),
}


def _langid(st: Stored) -> StoredSuite:
    return st["langid"]


def _weights(st: Stored) -> pd.DataFrame:
    return vs(_langid(st), ("GRU", "LSTM"), "weights")


def control_baseline(s: StoredSuite) -> str:
    """The classical baseline on the control's features (conditions that change
    the features get their own)."""
    return baseline_score(s, str(s.results.control))


LANGID: dict[str, Callable[[Stored], str]] = {
    "langid.runs": lambda st: count(_langid(st).results.records),
    "langid.threshold": lambda st: threshold(_langid(st), "LSTM", percent=True),
    **comparison("langid.silence_lstm", lambda st: one(vs(_langid(st), "LSTM", "silence-label"))),
    "langid.weights": lambda st: " and ".join(
        f2(one(rows(_weights(st), model=m))["time_ratio"]) for m in ("GRU", "LSTM")
    ),
    "langid.weights_ci": lambda st: ci(
        _weights(st)["time_ratio_ci_low"].min(), _weights(st)["time_ratio_ci_high"].max()
    ),
    "langid.comparisons": lambda st: count(
        rows(_langid(st).analysis.convergence_vs_control, measure="steps")
    ),
    "langid.final": lambda st: f2(runs_of(_langid(st))["final_balanced_accuracy"].mean()),
    "langid.baseline": lambda st: control_baseline(_langid(st)),
}


def _wav2vec2(st: Stored) -> StoredSuite:
    return st["wav2vec2"]


WAV2VEC2: dict[str, Callable[[Stored], str]] = {
    "wav2vec2.runs": lambda st: count(_wav2vec2(st).results.records),
    "wav2vec2.final": lambda st: span(runs_of(_wav2vec2(st))["final_balanced_accuracy"]),
    "wav2vec2.baseline": lambda st: control_baseline(_wav2vec2(st)),
    "wav2vec2.baseline_percent": lambda st: span(
        (
            r.baseline["balanced_accuracy"] * 100
            for r in _wav2vec2(st).results.records.values()
            if r.baseline
        ),
        lambda x: f"{x:.1f} %",
    ),
    "wav2vec2.layers": lambda st: span(separation(_wav2vec2(st), "wav2vec2")["mean"]),
    "wav2vec2.chance": lambda st: span(separation(_wav2vec2(st), "wav2vec2")["chance"]),
}

NUMBERS: dict[str, Callable[[Stored], str]] = {**PRETRAIN, **KEYWORDS, **LANGID, **WAV2VEC2}

#: what the README states as measured on the reference machine and no stored
#: run can give (wall and CPU time of a whole suite, machine load, a variant
#: tried by hand): the fact as quoted, and where it comes from. Not checked.
MEASURED: tuple[tuple[str, str], ...] = (
    ("flagship: about 5 minutes on 2 CPU cores", "Quick start; `harness run suites/pretrain.toml`"),
    (
        "flagship: 1 min 43 s wall, 195 s CPU, load 1.0 to 1.7 (6 Dec 2026, strided scipy.fft features); beside other jobs 2 min 54 s; run again 1.15 s wall (bench_waits)",
        "Walkthrough; the run's own summary line and `uptime`, corpus already generated",
    ),
    ("flagship: 3 min 2 s and 5 min 32 s on busier days", "Walkthrough; earlier runs"),
    ("flagship resumed: the stored runs found in seconds, report under a minute", "Walkthrough"),
    ("quick suite: a two-minute smoke test", "Quick start"),
    (
        "tox, all seven envs from a clean clone: 28 min 42 s, cluster 3 min",
        "Quick start; `bash .ci/run` on 2 cores, 2026-12-06",
    ),
    (
        "keywords: 2 min 27 s wall (3 min 7 s CPU); langid: 3 min 39 s (4 min 27 s CPU)",
        "Supervised tasks; the runs' summary lines",
    ),
    ("wav2vec2 suite: 2 min 19 s", "Waveform models; the run's summary line"),
    (
        "prenatal: 27 s wall (voices = unique, corpus generated); nazzi: 55 s wall",
        "Published studies; the runs' summary lines",
    ),
    (
        "nazzi: 0 of 90 pairs above chance; en-ja 0.50 [0.38, 0.63], en-nl 0.54 [0.41, 0.68] raw; "
        "0.48 [0.38, 0.59], 0.46 [0.35, 0.58] LSTM h; groups -0.03 (-0.13 to 0.07) raw, "
        "0.05 (-0.19 to 0.29) womb h",
        "Published studies; stats/pair_matrix.csv and pair_groups.csv of `harness run "
        "suites/nazzi.toml` (computed from the runs' latents, which the stored runs lack)",
    ),
    (
        "attunement: 1 min 16 s wall, 91 s CPU, load under 1",
        "Published studies; `/usr/bin/time harness run suites/attunement.toml`, corpus generated",
    ),
    (
        "vogelsang: 1 min 16 s wall, 2 min 16 s CPU at load under 2; 12 min 24 s wall at "
        "load 13 to 19",
        "Published studies; `/usr/bin/time harness run suites/vogelsang.toml` (its numbers "
        "equal the stored runs'), and a run on the shared 2-core machine",
    ),
    (
        "wav2vec2 with the feature encoder unfrozen: training loss 0.01-0.12, held-out 0.49-0.64",
        "Waveform models; a variant of suites/wav2vec2.toml tried by hand, not stored",
    ),
)
