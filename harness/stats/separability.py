"""How well languages separate in each latent space, across seeds.

A probe reports one number per run (seed) and latent space; the unit of
replication is the seed, so every interval and test here is across seeds:
scipy.stats.bootstrap for 95% CIs of means, scipy.stats.permutation_test for
tests (sign flips of paired differences against chance and against the
raw-feature baseline of the same run; exchanging seeds between a condition and
the control), Mann-Whitney U for the rank-biserial effect size, and Holm's
correction within each probe metric. Linear CKA compares the latent spaces of
different conditions on the same held-out clips.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from harness.stats.cka import linear_cka
from harness.stats.multiple import holm

if TYPE_CHECKING:
    from harness.results import Results

CONFIDENCE = 0.95

#: Columns of each table (docs/report.md documents every one).
SUMMARY_COLUMNS = ["model", "condition", "latent_space", "probe", "metric", "is_baseline",
                   "higher_is_better", "headline", "n", "mean", "ci_low", "ci_high", "chance",
                   "diff_vs_chance", "diff_vs_chance_ci_low", "diff_vs_chance_ci_high",
                   "p_vs_chance", "p_vs_chance_holm", "baseline_mean", "diff_vs_baseline",
                   "diff_vs_baseline_ci_low", "diff_vs_baseline_ci_high", "p_vs_baseline",
                   "p_vs_baseline_holm"]  # fmt: skip
VS_CONTROL_COLUMNS = ["model", "condition", "control", "latent_space", "probe", "metric",
                      "higher_is_better", "n", "n_control", "mean", "mean_control", "difference",
                      "difference_ci_low", "difference_ci_high", "rank_biserial", "p_value",
                      "p_holm"]  # fmt: skip
CKA_COLUMNS = ["model", "latent_space", "condition_a", "condition_b", "n_pairs", "mean_cka",
               "sd_cka"]  # fmt: skip


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def mean_ci(
    values: Sequence[float], n_resamples: int = 9999, seed: int = 0
) -> tuple[float, float, float]:
    """Mean with a bootstrap 95% CI (BCa; percentile where BCa is undefined).

    With fewer than two values there is no interval (NaN); when every value is
    equal the interval is that value.
    """
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if x.size == 0:
        return np.nan, np.nan, np.nan
    mean = float(x.mean())
    if x.size < 2:
        return mean, np.nan, np.nan
    if np.ptp(x) == 0:
        return mean, mean, mean
    low, high = _bootstrap((x,), _mean_stat, n_resamples, seed)
    return mean, low, high


def _mean_stat(x: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis)


def _diff_stat(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _bootstrap(
    data: tuple[np.ndarray, ...], statistic: Callable[..., np.ndarray], n_resamples: int, seed: int
) -> tuple[float, float]:
    for method in ("BCa", "percentile"):
        with warnings.catch_warnings():
            # BCa is undefined for some small or lopsided samples; scipy warns and
            # returns NaN, and the percentile interval is the honest fallback
            warnings.simplefilter("ignore")
            result = stats.bootstrap(
                data,
                statistic,
                n_resamples=n_resamples,
                confidence_level=CONFIDENCE,
                method=method,
                vectorized=True,
                random_state=_rng(seed),
            )
        low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
        if np.isfinite(low) and np.isfinite(high):
            return low, high
    return np.nan, np.nan


def paired_test(diffs: Sequence[float], n_resamples: int = 9999, seed: int = 0) -> float:
    """Two-sided sign-flip permutation test that the mean paired difference is 0
    (exact when 2**n <= n_resamples)."""
    d = np.asarray(diffs, dtype=float)
    d = d[np.isfinite(d)]
    if d.size < 2:
        return np.nan
    if np.all(d == 0):
        return 1.0
    result = stats.permutation_test(
        (d,),
        _mean_stat,
        permutation_type="samples",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        random_state=_rng(seed),
    )
    return float(result.pvalue)


def two_sample_test(
    x: Sequence[float], y: Sequence[float], n_resamples: int = 9999, seed: int = 0
) -> float:
    """Two-sided permutation test of a difference in means between independent
    groups of seeds (exact when the number of splits <= n_resamples; 8 against 8
    seeds have 12870, so the default samples 9999 of them)."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size < 2 or b.size < 2:
        return np.nan
    result = stats.permutation_test(
        (a, b),
        _diff_stat,
        permutation_type="independent",
        vectorized=True,
        n_resamples=n_resamples,
        alternative="two-sided",
        random_state=_rng(seed),
    )
    return float(result.pvalue)


def rank_biserial(x: Sequence[float], y: Sequence[float]) -> float:
    """Rank-biserial correlation from Mann-Whitney U, in [-1, 1]: the
    probability a seed of x beats a seed of y minus the reverse."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return np.nan
    u = stats.mannwhitneyu(a, b, alternative="two-sided").statistic
    return float(2.0 * u / (a.size * b.size) - 1.0)


def difference_ci(
    x: Sequence[float], y: Sequence[float], n_resamples: int = 9999, seed: int = 0
) -> tuple[float, float, float]:
    """mean(x) - mean(y) with a bootstrap 95% CI, seeds resampled within groups."""
    a, b = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    a, b = a[np.isfinite(a)], b[np.isfinite(b)]
    if a.size == 0 or b.size == 0:
        return np.nan, np.nan, np.nan
    diff = float(a.mean() - b.mean())
    if a.size < 2 or b.size < 2:
        return diff, np.nan, np.nan
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return diff, diff, diff
    low, high = _bootstrap((a, b), _diff_stat, n_resamples, seed)
    return diff, low, high


# ---------------------------------------------------------------- tables

_KEY = ["model", "condition", "latent_space", "probe", "metric"]


def _scores(probes: pd.DataFrame) -> pd.DataFrame:
    ok = (probes["role"] == "score") & probes["value"].notna()
    return probes.loc[ok & (probes["status"] != "failed")]


def separability_summary(
    probes: pd.DataFrame, n_resamples: int = 9999, seed: int = 0
) -> pd.DataFrame:
    """Per model, condition, latent space, probe and metric: the mean over seeds
    with a 95% CI, against the chance level and against the raw-feature baseline
    of the same runs (paired differences). Holm within each probe metric."""
    scores = _scores(probes)
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    baseline = scores[scores["is_baseline"].astype(bool)]
    base_lookup = baseline.groupby(["run_id", "probe", "metric"])["value"].mean()
    rows = []
    for key, group in scores.groupby(_KEY, sort=False):
        row = dict(zip(_KEY, key, strict=True))
        values = group["value"].to_numpy()
        mean, low, high = mean_ci(values, n_resamples, seed)
        row.update(
            is_baseline=bool(group["is_baseline"].iloc[0]),
            higher_is_better=bool(group["higher_is_better"].iloc[0]),
            headline=bool(group["headline"].iloc[0]),
            n=int(np.isfinite(values).sum()),
            mean=mean,
            ci_low=low,
            ci_high=high,
        )
        chance = group["chance"].to_numpy()
        if np.isfinite(chance).any():
            d = values - chance
            dm, dl, dh = mean_ci(d, n_resamples, seed)
            row.update(chance=float(np.nanmean(chance)), diff_vs_chance=dm,
                       diff_vs_chance_ci_low=dl, diff_vs_chance_ci_high=dh,
                       p_vs_chance=paired_test(d, n_resamples, seed))  # fmt: skip
        if not row["is_baseline"]:
            idx = pd.MultiIndex.from_arrays([group["run_id"], group["probe"], group["metric"]])
            base = base_lookup.reindex(idx).to_numpy()
            if np.isfinite(base).any():
                d = values - base
                dm, dl, dh = mean_ci(d, n_resamples, seed)
                row.update(baseline_mean=float(np.nanmean(base)), diff_vs_baseline=dm,
                           diff_vs_baseline_ci_low=dl, diff_vs_baseline_ci_high=dh,
                           p_vs_baseline=paired_test(d, n_resamples, seed))  # fmt: skip
        rows.append(row)
    # rows without a chance level or baseline lack those keys: reindex adds them as NaN
    out = pd.DataFrame(rows).reindex(columns=SUMMARY_COLUMNS)
    for test in ("p_vs_chance", "p_vs_baseline"):
        out[f"{test}_holm"] = out.groupby(["probe", "metric"])[test].transform(
            lambda p: pd.Series(holm(p), index=p.index)
        )
    return out


def separability_vs_control(
    probes: pd.DataFrame, control: str, n_resamples: int = 9999, seed: int = 0
) -> pd.DataFrame:
    """Each condition against the control in every model latent space: the
    difference in means with a bootstrap CI, the rank-biserial correlation and a
    two-sample permutation test across seeds, Holm within each probe metric.
    Baseline spaces are skipped: they do not depend on the condition."""
    scores = _scores(probes)
    scores = scores[~scores["is_baseline"].astype(bool)]
    rows = []
    inner = ["model", "latent_space", "probe", "metric"]
    for key, group in scores.groupby(inner, sort=False):
        ctrl = group.loc[group["condition"] == control, "value"].to_numpy()
        if ctrl.size == 0:
            continue
        for condition, cond in group.groupby("condition", sort=False):
            if condition == control:
                continue
            x = cond["value"].to_numpy()
            diff, low, high = difference_ci(x, ctrl, n_resamples, seed)
            rows.append(
                {
                    **dict(zip(inner, key, strict=True)),
                    "condition": condition,
                    "control": control,
                    "higher_is_better": bool(cond["higher_is_better"].iloc[0]),
                    "n": int(np.isfinite(x).sum()),
                    "n_control": int(np.isfinite(ctrl).sum()),
                    "mean": float(np.nanmean(x)),
                    "mean_control": float(np.nanmean(ctrl)),
                    "difference": diff,
                    "difference_ci_low": low,
                    "difference_ci_high": high,
                    "rank_biserial": rank_biserial(x, ctrl),
                    "p_value": two_sample_test(x, ctrl, n_resamples, seed),
                }
            )
    if not rows:
        return pd.DataFrame(columns=VS_CONTROL_COLUMNS)
    out = pd.DataFrame(rows)
    out["p_holm"] = out.groupby(["probe", "metric"])["p_value"].transform(
        lambda p: pd.Series(holm(p), index=p.index)
    )
    return out[VS_CONTROL_COLUMNS]


# ---------------------------------------------------------------- CKA


def _aligned(
    a: np.ndarray, ids_a: list[str], b: np.ndarray, ids_b: list[str]
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of both arrays for the clips both runs probed, in one order."""
    if ids_a == ids_b:
        return a, b
    pos_b = {c: i for i, c in enumerate(ids_b)}
    ia = np.array([i for i, c in enumerate(ids_a) if c in pos_b], dtype=int)
    ib = np.array([pos_b[c] for c in ids_a if c in pos_b], dtype=int)
    return a[ia], b[ib]


def cka_table(results: Results) -> pd.DataFrame:
    """Mean linear CKA between the latent spaces of two conditions (same model,
    same latent space, same held-out clips), over every pair of runs: across
    conditions all seed pairs, within a condition all pairs of distinct seeds
    (how alike two seeds of one condition are, the yardstick for the rest)."""
    runs = results.runs[results.runs["status"].isin(["reached", "censored"])]
    baseline_spaces = set(
        results.probes.loc[results.probes["is_baseline"].astype(bool), "latent_space"]
    )
    rows = []
    for model, by_model in runs.groupby("model", sort=False):
        latents = {r: results.latents(r) for r in by_model["run_id"]}
        clip_ids = {r: list(results.probe_clips(r).get("clip_id", [])) for r in by_model["run_id"]}
        spaces = sorted({s for v in latents.values() for s in v} - baseline_spaces)
        conditions = [c for c in results.conditions if c in set(by_model["condition"])]
        for space in spaces:
            have = by_model[[space in latents[r] for r in by_model["run_id"]]]
            ids = {c: list(have.loc[have["condition"] == c, "run_id"]) for c in conditions}
            for ca, cb in itertools.combinations_with_replacement(conditions, 2):
                if ca == cb:
                    pairs = list(itertools.combinations(ids[ca], 2))
                else:
                    pairs = list(itertools.product(ids[ca], ids[cb]))
                values = []
                for ra, rb in pairs:
                    xa, xb = _aligned(
                        latents[ra][space], clip_ids[ra], latents[rb][space], clip_ids[rb]
                    )
                    if len(xa) >= 2:
                        values.append(float(linear_cka(xa, xb)))
                if not values:
                    continue
                v = np.asarray(values)
                for a, b in {(ca, cb), (cb, ca)}:
                    rows.append(
                        {
                            "model": model,
                            "latent_space": space,
                            "condition_a": a,
                            "condition_b": b,
                            "n_pairs": v.size,
                            "mean_cka": float(v.mean()),
                            "sd_cka": float(v.std(ddof=1)) if v.size > 1 else np.nan,
                        }
                    )
    return pd.DataFrame(rows, columns=CKA_COLUMNS)
