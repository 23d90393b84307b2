"""Time to threshold as survival data: Kaplan-Meier, log-rank, RMST.

The "event" is a run's held-out loss crossing the threshold. A run that did
not cross within its budget is *right-censored* at the budget: we know only
that its time is longer. Dropping such runs, or counting the budget as their
time, biases the comparison towards whichever condition fails more often;
survival analysis uses them correctly. How diverged and failed runs enter is
decided in :func:`harness.tables.runs_table` and documented in docs/report.md.

Libraries do the statistics (DESIGN.md): scipy.stats.ecdf on CensoredData for
Kaplan-Meier and its confidence band, scipy.stats.logrank for two groups,
statsmodels' survdiff for the k-sample log-rank test (the asymptotic
references of :mod:`harness.stats.permutation`), scipy.stats.bootstrap for the
interval of the RMST difference. The comparisons the report states are in
:mod:`harness.stats.convergence`.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.duration.survfunc import survdiff

from harness.spec.config import TIME_MEASURES

#: The time measures analysed: target steps (primary, hardware-independent),
#: steps including pretraining (what the speed-up cost), and wall seconds of
#: target training. Examples and epochs are multiples of steps and would
#: repeat them.
MEASURES = TIME_MEASURES

CONFIDENCE = 0.95

#: Columns of each table (docs/report.md documents every one).
SUMMARY_COLUMNS = ["measure", "model", "condition", "n_runs", "n_reached", "n_censored",
                   "n_diverged", "n_failed", "median", "median_ci_low", "median_ci_high",
                   "rmst", "rmst_tau"]  # fmt: skip
KM_COLUMNS = ["measure", "model", "condition", "time", "survival", "ci_low", "ci_high"]
CURVE_COLUMNS = ["model", "condition", "step", "n", "mean", "ci_low", "ci_high"]


def censored_data(time: ArrayLike, event: ArrayLike) -> stats.CensoredData:
    """Times with ``event`` True are crossings; the rest are right-censored."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    return stats.CensoredData(uncensored=t[e], right=t[~e])


@dataclass(frozen=True)
class KaplanMeier:
    """A Kaplan-Meier estimate of P(not yet crossed at time t), with a pointwise
    95% band (Greenwood variance, log-log transform) and the median's CI read
    off that band."""

    time: np.ndarray
    survival: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    n: int
    events: int

    def at(self, t: float | np.ndarray) -> np.ndarray:
        """Survival just after time ``t`` (right-continuous step function)."""
        idx = np.searchsorted(self.time, np.asarray(t, dtype=float), side="right") - 1
        return np.where(idx >= 0, self.survival[np.clip(idx, 0, None)], 1.0)

    def _first_below_half(self, curve: np.ndarray) -> float:
        # the standard quantile definition: the first time the curve is <= 0.5
        hit = np.flatnonzero(curve <= 0.5)
        return float(self.time[hit[0]]) if hit.size else np.inf

    @property
    def median(self) -> float:
        """Median time to threshold; ``inf`` when fewer than half the runs crossed."""
        return self._first_below_half(self.survival)

    @property
    def median_ci(self) -> tuple[float, float]:
        """95% CI of the median from the confidence band (Brookmeyer-Crowley
        style, as lifelines and R's survfit report it): the lower limit is where
        the band's lower edge falls to 0.5, the upper where its upper edge does.
        ``inf`` means the band never fell that far within the budget."""
        # an undefined edge (NaN) is never taken as having reached 0.5
        lower_edge = np.where(np.isnan(self.ci_low), np.inf, self.ci_low)
        upper_edge = np.where(np.isnan(self.ci_high), np.inf, self.ci_high)
        return self._first_below_half(lower_edge), self._first_below_half(upper_edge)

    def rmst(self, tau: float) -> float:
        """Restricted mean survival time: the area under the curve up to ``tau``,
        the mean time to threshold if every run were stopped at ``tau``."""
        return _area(self.time, self.survival, tau)


def _area(time: np.ndarray, survival: np.ndarray, tau: float) -> float:
    edges = np.concatenate([[0.0], time[time < tau], [tau]])
    heights = np.concatenate([[1.0], survival[time < tau]])
    return float(np.sum(np.diff(edges) * heights))


def _rmst(time: np.ndarray, event: np.ndarray, tau: float) -> float:
    # the bootstrap needs only the curve, not its band: several times faster
    sf = stats.ecdf(censored_data(time, event)).sf
    return _area(np.asarray(sf.quantiles, float), np.asarray(sf.probabilities, float), tau)


def rmst_of_resamples(
    time: np.ndarray, event: np.ndarray, index: np.ndarray, tau: float
) -> np.ndarray:
    """The RMST up to ``tau`` of each resample, the runs ``index[..., :]`` of
    ``time``/``event``: the Kaplan-Meier product over the group's event times
    for every row at once (a run censored at an event time is still at risk
    there, as in :func:`kaplan_meier`). Equals :func:`_rmst` row by row."""
    t, e = time[index], event[index].astype(bool)
    grid = np.unique(time[event.astype(bool)])
    grid = grid[grid < tau]
    if grid.size == 0:
        return np.full(t.shape[:-1], float(tau))
    at = t[..., None] == grid
    crossed = (at & e[..., None]).sum(axis=-2)
    at_risk = (t[..., None] >= grid).sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        factor = np.where(at_risk > 0, 1.0 - crossed / np.maximum(at_risk, 1), 1.0)
    survival = np.cumprod(factor, axis=-1)
    widths = np.diff(np.append(grid, tau))
    return grid[0] + (survival * widths).sum(axis=-1)


def kaplan_meier(time: ArrayLike, event: ArrayLike) -> KaplanMeier:
    """Kaplan-Meier estimate from scipy.stats.ecdf on right-censored data."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    if t.size == 0:
        raise ValueError("no runs to estimate a survival curve from")
    sf = stats.ecdf(censored_data(t, e)).sf
    with warnings.catch_warnings():
        # scipy warns where the band is undefined (S = 1 or S = 0); set below
        warnings.simplefilter("ignore", RuntimeWarning)
        band = sf.confidence_interval(CONFIDENCE, method="log-log")
    survival = np.asarray(sf.probabilities, dtype=float)
    low = np.asarray(band.low.probabilities, dtype=float)
    high = np.asarray(band.high.probabilities, dtype=float)
    # Greenwood's variance is undefined where the estimate is 1 (before any
    # crossing) or 0 (every run still at risk crossed): the band is the estimate
    # there. At 0 this gives a group whose runs all crossed a finite upper limit
    # for its median, as it should: had the true median been later, all n runs
    # crossing before it has probability 0.5**n.
    low = np.where(survival >= 1.0, 1.0, np.where(survival <= 0.0, 0.0, low))
    high = np.where(survival >= 1.0, 1.0, np.where(survival <= 0.0, 0.0, high))
    return KaplanMeier(
        time=np.asarray(sf.quantiles, dtype=float),
        survival=survival,
        ci_low=low,
        ci_high=high,
        n=int(t.size),
        events=int(e.sum()),
    )


def logrank(
    time_a: ArrayLike, event_a: ArrayLike, time_b: ArrayLike, event_b: ArrayLike
) -> tuple[float, float]:
    """Two-sided log-rank test of group a against group b: (z, p).

    z > 0 when group a crossed more often than expected under no difference,
    that is, a reached the threshold sooner. NaN when no run of either crossed.
    """
    if not (np.any(event_a) or np.any(event_b)):
        return np.nan, np.nan
    with np.errstate(invalid="ignore", divide="ignore"):
        # zero variance (every run crossed at one step) gives NaN: undefined, not significant
        result = stats.logrank(censored_data(time_a, event_a), censored_data(time_b, event_b))
    return float(result.statistic), float(result.pvalue)


def logrank_k(time: ArrayLike, event: ArrayLike, group: ArrayLike) -> tuple[float, int, float]:
    """k-sample log-rank test (chi-square with k - 1 df) that all groups share
    one survival curve: (chi2, df, p). Uses statsmodels' survdiff."""
    t = np.asarray(time, dtype=float)
    e = np.asarray(event, dtype=bool)
    g = np.asarray(group)
    k = len(np.unique(g))
    if k < 2 or not e.any():
        return np.nan, max(k - 1, 0), np.nan
    try:
        chi2, p = survdiff(t, e.astype(int), g)
    except np.linalg.LinAlgError:
        # the variance of observed minus expected is singular when the groups'
        # events leave nothing to compare (e.g. every run crossed at the same
        # step): the test is undefined, not significant
        return np.nan, k - 1, np.nan
    return float(chi2), k - 1, float(p)


def rmst_difference(
    time_a: np.ndarray,
    event_a: np.ndarray,
    time_b: np.ndarray,
    event_b: np.ndarray,
    tau: float,
    n_resamples: int = 999,
    seed: int = 0,
    paired: bool = False,
) -> tuple[float, float, float]:
    """RMST(a) - RMST(b) up to ``tau`` with a percentile bootstrap 95% CI.
    Negative: a reaches the threshold sooner. Unpaired, runs are resampled
    within each group; ``paired`` (a[i] and b[i] share seed i), the pairs are
    resampled together."""

    def statistic(ia: np.ndarray, ib: np.ndarray, axis: int = -1) -> np.ndarray:
        # every resample at once (rows of indices); scipy draws them as before
        return rmst_of_resamples(time_a, event_a, ia, tau) - rmst_of_resamples(
            time_b, event_b, ib, tau
        )

    ia, ib = np.arange(time_a.size), np.arange(time_b.size)
    point = _rmst(time_a, event_a, tau) - _rmst(time_b, event_b, tau)
    if min(ia.size, ib.size) < 2 or n_resamples < 1:  # no interval asked for, or possible
        return point, np.nan, np.nan
    result = stats.bootstrap(
        (ia, ib),
        statistic,
        vectorized=True,
        paired=paired,
        n_resamples=n_resamples,
        confidence_level=CONFIDENCE,
        method="percentile",
        random_state=np.random.default_rng(seed),
    )
    return point, float(result.confidence_interval.low), float(result.confidence_interval.high)


# ---------------------------------------------------------------- tables


def analysable(runs: pd.DataFrame, measure: str) -> pd.DataFrame:
    """Runs with a time for ``measure`` (failed runs have none), with ``time``
    and ``event_`` columns; none when the table lacks the measure (an old folder)."""
    column = f"{measure}_to_threshold"
    if column not in runs.columns:
        return runs.iloc[0:0].assign(time=pd.Series(dtype=float), event_=pd.Series(dtype=bool))
    ok = runs["status"].isin(["reached", "censored", "diverged"]) & runs[column].notna()
    out = runs.loc[ok].copy()
    out["time"] = out[column].astype(float)
    out["event_"] = out["event"].astype(bool)
    return out


def rmst_tau(measure: str, a: pd.DataFrame, b: pd.DataFrame) -> float:
    """RMST horizon: the step budget, or for seconds the shorter of the two
    groups' longest observed times, so neither curve is extrapolated."""
    if measure == "steps" and a["max_steps"].notna().any() and b["max_steps"].notna().any():
        return float(min(a["max_steps"].min(), b["max_steps"].min()))
    return float(min(a["time"].max(), b["time"].max()))


def _fitted_groups(
    runs: pd.DataFrame, measures: Sequence[str]
) -> Iterator[tuple[str, str, str, pd.DataFrame, KaplanMeier]]:
    """(measure, model, condition, analysable runs, their Kaplan-Meier fit) of
    every model and condition with a time for the measure, in table order."""
    for measure in measures:
        data = analysable(runs, measure)
        for (model, condition), group in data.groupby(["model", "condition"], sort=False):
            yield measure, model, condition, group, kaplan_meier(group["time"], group["event_"])


def survival_summary(runs: pd.DataFrame, measures: Sequence[str] = MEASURES) -> pd.DataFrame:
    """Per time measure, model and condition: counts, median with 95% CI, RMST."""
    rows = []
    for measure, model, condition, group, km in _fitted_groups(runs, measures):
        low, high = km.median_ci
        tau = rmst_tau(measure, group, group)
        all_runs = runs[(runs["model"] == model) & (runs["condition"] == condition)]
        rows.append(
            {
                "measure": measure,
                "model": model,
                "condition": condition,
                "n_runs": km.n,
                "n_reached": km.events,
                "n_censored": int((group["status"] == "censored").sum()),
                "n_diverged": int((group["status"] == "diverged").sum()),
                "n_failed": int((all_runs["status"] == "failed").sum()),
                "median": km.median,
                "median_ci_low": low,
                "median_ci_high": high,
                "rmst": km.rmst(tau),
                "rmst_tau": tau,
            }
        )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def km_curves(runs: pd.DataFrame, measures: Sequence[str] = MEASURES) -> pd.DataFrame:
    """The Kaplan-Meier step functions with their band, one row per jump."""
    frames = []
    for measure, model, condition, _, km in _fitted_groups(runs, measures):
        frames.append(
            pd.DataFrame(
                {
                    "measure": measure,
                    "model": model,
                    "condition": condition,
                    "time": np.concatenate([[0.0], km.time]),
                    "survival": np.concatenate([[1.0], km.survival]),
                    "ci_low": np.concatenate([[1.0], km.ci_low]),
                    "ci_high": np.concatenate([[1.0], km.ci_high]),
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=KM_COLUMNS)


def heldout_measure(curves: pd.DataFrame) -> str:
    """The curves column the threshold applies to: ``heldout_metric`` as
    :func:`harness.tables.curves_table` writes it, or the loss of a curves
    table built without it."""
    return "heldout_metric" if "heldout_metric" in curves else "heldout_loss"


def learning_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Mean held-out measure (the one the threshold applies to: the loss, or a
    classifier's accuracy) per model, condition and step, with a 95% t-interval
    across seeds. Only runs still training at a step count there: runs stop
    when they cross, so late steps average the slower runs (see ``n``)."""
    columns = CURVE_COLUMNS
    measure = heldout_measure(curves)
    data = curves.dropna(subset=[measure])
    if data.empty:
        return pd.DataFrame(columns=columns)
    grouped = data.groupby(["model", "condition", "step"], sort=False)[measure]
    out = grouped.agg(n="count", mean="mean", sd="std").reset_index()
    half = stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(out["n"] - 1, 1)) * out["sd"]
    half = half / np.sqrt(out["n"])
    out["ci_low"] = np.where(out["n"] > 1, out["mean"] - half, np.nan)
    out["ci_high"] = np.where(out["n"] > 1, out["mean"] + half, np.nan)
    return out.sort_values(["model", "condition", "step"], kind="stable")[columns].reset_index(
        drop=True
    )
