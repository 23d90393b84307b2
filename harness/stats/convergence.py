"""Does a condition reach the threshold sooner than the control? The tests.

A suite runs every condition with the same seeds, and seed i gives the same
initial weights, target batch order and probe folds in every condition: the
design is *paired*, and seed-to-seed differences (some initial weights learn
faster) cancel within a pair. So when a condition and the control share their
seeds, each condition is compared with the control within seed:

* the **time ratio**: the Hodges-Lehmann estimate of the per-seed ratios
  ``t_condition / t_control`` (the median of the Walsh averages of their
  logs), with the exact 95% CI that inverts the test below;
* the **p-value** of the exact signed-rank test on the per-seed log ratios
  (:mod:`harness.stats.signed_rank`; compared by simulation with the sign-flip
  test on the mean and on a trimmed mean, see :mod:`harness.stats.paired`). A
  run that did not reach the threshold enters at its censoring time (the step
  budget, the same for both members of a pair), so a reached-vs-censored pair
  still counts, with the smallest difference its data allow, and a pair
  censored on both sides counts as no difference. Swapping the two members of
  a pair flips the sign of its log ratio whatever censoring did, which is what
  makes the test exact;
* **equivalence**: two one-sided tests that the ratio lies within the suite's
  ``equivalence_ratio`` (``p_equivalence``, Holm over the family like the
  p-values, the 90% CI they correspond to, and ``equivalent``);
* the **RMST difference** with a bootstrap CI that resamples seed pairs;
* the **detectable ratio**: the smallest change the comparison had 80% power to
  detect at its Holm level, from the observed spread of the informative
  log ratios (pairs not censored on both sides) and their number, with the exact
  signed-rank test's power simulated for normal log ratios (:func:`power`;
  ``harness power`` resamples a pilot's own pairs instead,
  :mod:`harness.stats.planning`).

Designs whose conditions do not share seeds (a suite assembled from separate
runs) get the unpaired versions instead: a permutation log-rank test over the
runs' labels (exact for small groups), a bootstrap over runs, and the detectable
ratio from the pooled spread. The ``design`` column says which was used.

Across all conditions of a model, the paired design is tested with a blocked
permutation test (conditions permuted within each seed) of the log times; the
unpaired one with the permutation k-sample log-rank test.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from harness.spec.config import EQUIVALENCE_RATIO
from harness.stats.multiple import holm
from harness.stats.paired import DEFAULT_TEST, paired_fields, unpaired_equivalence
from harness.stats.permutation import (
    PermutationTest,
    blocked_permutation,
    logrank_permutation,
)
from harness.stats.signed_rank import normal_power
from harness.stats.survival import MEASURES, analysable, kaplan_meier, rmst_difference, rmst_tau

ALPHA = 0.05
POWER = 0.8
CONFIDENCE = 0.95

#: the equivalence columns every paired comparison table ends with
#: (:mod:`harness.stats.paired`)
EQUIVALENCE_COLUMNS = ["equivalence_margin", "equivalence_ci_low", "equivalence_ci_high",
                       "p_equivalence", "p_equivalence_holm", "equivalent"]  # fmt: skip

VS_CONTROL_COLUMNS = ["measure", "model", "condition", "control", "design", "test", "exact",
                      "n_permutations", "n", "n_control", "n_pairs", "n_informative", "n_reached",
                      "n_reached_control", "median", "median_control", "median_ratio",
                      "time_ratio", "time_ratio_ci_low", "time_ratio_ci_high", "log_ratio_sd",
                      "rmst_difference", "rmst_difference_ci_low", "rmst_difference_ci_high",
                      "rmst_tau", "detectable_ratio", "p_value", "p_holm", *EQUIVALENCE_COLUMNS]  # fmt: skip
OVERALL_COLUMNS = ["measure", "model", "design", "test", "exact", "n_permutations", "k", "n",
                   "statistic", "p_value", "p_holm"]  # fmt: skip


def is_paired(seeds_a: Sequence[int], seeds_b: Sequence[int]) -> bool:
    """Two groups are analysed as paired when they share at least two seeds and
    the shared seeds are at least half of the smaller group."""
    shared = len(set(seeds_a) & set(seeds_b))
    return shared >= max(2, math.ceil(min(len(seeds_a), len(seeds_b)) / 2))


def log_times(data: pd.DataFrame) -> pd.Series:
    """log of each run's time; a crossing at time 0 (the untrained model was
    already below the threshold) is floored at half the smallest positive time
    of the same runs, so it stays the fastest without becoming -inf."""
    time = data["time"].astype(float)
    positive = time[time > 0]
    floor = float(positive.min()) / 2 if len(positive) else 1.0
    return np.log(time.clip(lower=floor))


#: the exact signed-rank test's power is simulated up to this many pairs
#: (beyond, the t approximation, which it approaches as the arrangements multiply)
SIMULATED_PAIRS = 100


def power(shift: float, sd: float, n: int, alpha: float = ALPHA, paired: bool = True) -> float:
    """Power of the paired comparison (exact signed-rank test) to detect a
    log ratio ``shift`` with ``n`` seeds whose log ratios have SD ``sd``;
    unpaired, ``n`` per group and ``sd`` the pooled SD (t approximation)."""
    if n < 2 or not (math.isfinite(sd) and sd >= 0):
        return math.nan
    if sd == 0:  # every seed shows the shift exactly: only the test's floor limits it
        return float(shift != 0 and (not paired or 2 / 2**n <= alpha))
    if paired and n <= SIMULATED_PAIRS:
        return normal_power(abs(shift), sd, n, alpha)
    df, scale = (n - 1, 1 / math.sqrt(n)) if paired else (2 * n - 2, math.sqrt(2 / n))
    critical = stats.t.ppf(1 - alpha / 2, df)
    noncentral = abs(shift) / (sd * scale)
    value = float(stats.nct.sf(critical, df, noncentral) + stats.nct.cdf(-critical, df, noncentral))
    if not math.isfinite(value):  # scipy's noncentral t returns NaN in places; normal tail there
        value = float(stats.norm.sf(critical - noncentral))
    return value


def detectable_log_ratio(
    sd: float, n: int, alpha: float = ALPHA, paired: bool = True, target: float = POWER
) -> float:
    """Smallest |mean log ratio| detected with ``target`` power (80%) at
    ``alpha``: ``inf`` when no effect can be (too few seeds for an exact test
    at that level), NaN when the spread cannot be estimated."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    standard = _standard_detectable(n, alpha, paired, target)
    if sd == 0:
        return 0.0 if math.isfinite(standard) else math.inf
    return sd * standard


@functools.lru_cache(maxsize=256)
def _standard_detectable(n: int, alpha: float, paired: bool, target: float) -> float:
    # power depends on shift / sd only, so one search per (n, alpha) serves every sd
    if power(20.0, 1.0, n, alpha, paired) < target:
        return math.inf
    low, high = 0.0, 20.0
    for _ in range(24):
        middle = (low + high) / 2
        if power(middle, 1.0, n, alpha, paired) >= target:
            high = middle
        else:
            low = middle
    return high


def detectable_ratio(
    sd: float, n: int, alpha: float = ALPHA, paired: bool = True, target: float = POWER
) -> float:
    """:func:`detectable_log_ratio` as a time ratio below 1, ``exp(-delta)``:
    0 when no effect of any size is detectable, NaN when the spread is unknown."""
    delta = detectable_log_ratio(sd, n, alpha, paired, target)
    if math.isnan(delta):
        return math.nan
    return 0.0 if math.isinf(delta) else math.exp(-delta)


def paired_log_ratios(group: pd.DataFrame, control: pd.DataFrame) -> pd.DataFrame:
    """The runs of one condition joined to the control's by seed: ``seed``,
    ``time``, ``event_``, the control's ``time_c``, ``event__c``, and ``d``:
    each seed's log time ratio (seeds in ``group``'s order)."""
    logs = log_times(pd.concat([group[["time"]], control[["time"]]])).to_numpy()
    mine, theirs = logs[: len(group)], logs[len(group) :]
    where = {seed: i for i, seed in enumerate(control["seed"].tolist())}
    a = [i for i, seed in enumerate(group["seed"].tolist()) if seed in where]
    b = [where[seed] for seed in group["seed"].iloc[a].tolist()]
    return pd.DataFrame(
        {
            "seed": group["seed"].to_numpy()[a],
            "time": group["time"].to_numpy(float)[a],
            "event_": group["event_"].to_numpy(bool)[a],
            "time_c": control["time"].to_numpy(float)[b],
            "event__c": control["event_"].to_numpy(bool)[b],
            "d": mine[a] - theirs[b],
        }
    )


def seeds_needed(
    sd: float,
    log_ratio: float,
    alpha: float = ALPHA,
    target: float = POWER,
    paired: bool = True,
    limit: int = 1000,
) -> int | None:
    """Seeds (per condition) a design needs to detect a mean log ratio
    ``log_ratio`` with ``target`` power at ``alpha``; ``None`` over ``limit``."""
    if not (math.isfinite(sd) and sd >= 0 and log_ratio != 0):
        return None
    for n in range(2, limit + 1):
        if power(log_ratio, sd, n, alpha, paired) >= target:
            return n
    return None


def compare(
    measure: str,
    model: str,
    condition: str,
    control: str,
    group: pd.DataFrame,
    ctrl: pd.DataFrame,
    n_resamples: int,
    km_resamples: int,
    seed: int,
    test: str = DEFAULT_TEST,
    equivalence_ratio: float = EQUIVALENCE_RATIO,
) -> dict[str, object]:
    """One comparison of ``group`` (the runs of ``condition``) with ``ctrl``
    (the runs of ``control``, or of any other condition): the row of
    :data:`VS_CONTROL_COLUMNS` without the Holm columns and ``detectable_ratio``.
    ``km_resamples=0`` skips the RMST bootstrap (no CI); ``test`` picks the
    paired test (:data:`harness.stats.paired.TESTS`)."""
    tau = rmst_tau(measure, group, ctrl)
    row: dict[str, object] = {
        "measure": measure,
        "model": model,
        "condition": condition,
        "control": control,
        **_medians(group, ctrl),
        "rmst_tau": tau,
    }
    paired = is_paired(group["seed"].tolist(), ctrl["seed"].tolist())
    if paired:
        pairs = paired_log_ratios(group, ctrl)
        fields, result = paired_fields(pairs, n_resamples, seed, test, equivalence_ratio)
        a, b = (
            pairs[["time", "event_"]],
            pairs[["time_c", "event__c"]].set_axis(["time", "event_"], axis=1),
        )
    else:
        fields, result = _unpaired(group, ctrl, n_resamples, seed)
        fields.update(unpaired_equivalence(equivalence_ratio))
        a, b = group, ctrl
    diff = rmst_difference(
        a["time"].to_numpy(float), a["event_"].to_numpy(bool),
        b["time"].to_numpy(float), b["event_"].to_numpy(bool),
        tau, km_resamples, seed, paired=paired,
    )  # fmt: skip
    row.update(
        fields,
        exact=result.exact,
        n_permutations=result.n_permutations,
        p_value=result.p_value,
        rmst_difference=diff[0],
        rmst_difference_ci_low=diff[1],
        rmst_difference_ci_high=diff[2],
    )
    return row


def _medians(group: pd.DataFrame, ctrl: pd.DataFrame) -> dict[str, object]:
    """Kaplan-Meier counts and medians of both sides, and the ratio of the medians."""
    km_a = kaplan_meier(group["time"], group["event_"])
    km_b = kaplan_meier(ctrl["time"], ctrl["event_"])
    finite = math.isfinite(km_a.median + km_b.median) and km_b.median > 0
    return {
        "n": km_a.n,
        "n_control": km_b.n,
        "n_reached": km_a.events,
        "n_reached_control": km_b.events,
        "median": km_a.median,
        "median_control": km_b.median,
        "median_ratio": km_a.median / km_b.median if finite else math.nan,
    }


def _unpaired(
    group: pd.DataFrame, ctrl: pd.DataFrame, n_resamples: int, seed: int
) -> tuple[dict[str, object], PermutationTest]:
    """Seeds not shared: the permutation log-rank test, no CI of the ratio."""
    logs = log_times(pd.concat([group, ctrl]))
    a, b = logs.loc[group.index].to_numpy(), logs.loc[ctrl.index].to_numpy()
    times = np.r_[group["time"], ctrl["time"]]
    events = np.r_[group["event_"], ctrl["event_"]].astype(bool)
    labels = np.r_[np.zeros(len(group), int), np.ones(len(ctrl), int)]
    test = logrank_permutation(times, events, labels, n_resamples, seed)
    dof = a.size + b.size - 2
    pooled = (
        math.sqrt(((a.size - 1) * np.var(a, ddof=1) + (b.size - 1) * np.var(b, ddof=1)) / dof)
        if min(a.size, b.size) > 1
        else math.nan
    )
    fields: dict[str, object] = {
        "design": "unpaired",
        "test": "permutation log-rank",
        "n_pairs": 0,
        "n_informative": 0,
        "time_ratio": math.exp(float(a.mean() - b.mean())),
        "time_ratio_ci_low": math.nan,
        "time_ratio_ci_high": math.nan,
        "log_ratio_sd": pooled,
    }
    return fields, test


def detectable_ratios(frame: pd.DataFrame) -> pd.Series:
    """exp(-delta): the time ratio (below 1: sooner) the comparison had 80%
    power to detect at Holm's first step (alpha / number of tests)."""
    alpha = ALPHA / max(int(frame["p_value"].notna().sum()), 1)

    def one(row: pd.Series) -> float:
        paired = row["design"] == "paired"
        n = int(row["n_informative"]) if paired else int(min(row["n"], row["n_control"]))
        return detectable_ratio(row["log_ratio_sd"], n, alpha, paired)

    return frame.apply(one, axis=1)


def close_family(family: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """One family of comparisons (rows of :func:`compare`) closed out: Holm's
    correction over it (``p_holm``) and the ratio each had 80% power to detect
    at Holm's first step (``detectable_ratio``)."""
    frame = pd.DataFrame(list(family))
    frame["p_holm"] = holm(frame["p_value"])
    frame["detectable_ratio"] = detectable_ratios(frame)
    frame["p_equivalence_holm"] = holm(frame["p_equivalence"])
    frame["equivalent"] = frame["p_equivalence_holm"] < ALPHA
    return frame


def families(
    runs: pd.DataFrame,
    measures: Sequence[str],
    columns: Sequence[str],
    rows: Callable[[str, pd.DataFrame], list[dict[str, Any]]],
) -> pd.DataFrame:
    """The comparisons ``rows(measure, analysable runs)`` gives for each time
    measure, each measure's closed out as one family (:func:`close_family`):
    tests against the control and between conditions both read this way."""
    frames = []
    for measure in measures:
        family = rows(measure, analysable(runs, measure))
        if family:
            frames.append(close_family(family))
    if not frames:
        return pd.DataFrame(columns=list(columns))
    return pd.concat(frames, ignore_index=True)[list(columns)]


def vs_control(
    runs: pd.DataFrame,
    control: str,
    measures: Sequence[str] = MEASURES,
    n_resamples: int = 9999,
    km_resamples: int = 999,
    seed: int = 0,
    test: str = DEFAULT_TEST,
    equivalence_ratio: float = EQUIVALENCE_RATIO,
) -> pd.DataFrame:
    """Each condition against the control, per model and time measure (the
    module docstring says which test). Holm's correction runs over every
    comparison of one time measure: the family a reader scans for "any effect"."""

    def rows(measure: str, data: pd.DataFrame) -> list[dict[str, Any]]:
        family = []
        for model, by_model in data.groupby("model", sort=False):
            ctrl = by_model[by_model["condition"] == control]
            if ctrl.empty:
                continue
            for condition, group in by_model.groupby("condition", sort=False):
                if condition == control:
                    continue
                args = (measure, str(model), str(condition), control, group, ctrl)
                family.append(
                    compare(*args, n_resamples, km_resamples, seed, test, equivalence_ratio)
                )
        return family

    return families(runs, measures, VS_CONTROL_COLUMNS, rows)


def overall(
    runs: pd.DataFrame,
    measures: Sequence[str] = MEASURES,
    n_resamples: int = 9999,
    seed: int = 0,
) -> pd.DataFrame:
    """Per model and time measure, one test that all its conditions share one
    time to threshold; Holm over the models of one measure."""
    frames = []
    for measure in measures:
        data = analysable(runs, measure)
        rows = []
        for model, group in data.groupby("model", sort=False):
            k = group["condition"].nunique()
            seeds = [g["seed"].tolist() for _, g in group.groupby("condition", sort=False)]
            paired = k >= 2 and all(is_paired(seeds[0], other) for other in seeds[1:])
            if paired:
                table = group.assign(log=log_times(group)).pivot_table(
                    index="seed", columns="condition", values="log", aggfunc="first"
                )
                table = table.dropna()
                test = blocked_permutation(table.to_numpy(), n_resamples, seed)
                design, name, n = "paired", "blocked permutation of log times", table.size
            else:
                test = logrank_permutation(
                    group["time"], group["event_"], group["condition"], n_resamples, seed
                )
                design, name, n = "unpaired", "permutation log-rank", len(group)
            rows.append(
                {
                    "measure": measure,
                    "model": model,
                    "design": design,
                    "test": name,
                    "exact": test.exact,
                    "n_permutations": test.n_permutations,
                    "k": k,
                    "n": n,
                    "statistic": test.statistic,
                    "p_value": test.p_value,
                }
            )
        if rows:
            frame = pd.DataFrame(rows)
            frame["p_holm"] = holm(frame["p_value"])
            frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=OVERALL_COLUMNS)
    return pd.concat(frames, ignore_index=True)[OVERALL_COLUMNS]
