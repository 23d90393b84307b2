"""Inference for separability with speakers as a sampled unit.

Every seed of a suite probes the same held-out speakers, so seeds are not
independent samples of the question "does this latent space separate
languages?": a CI over seeds sees fold and initialisation noise, not which
speakers happened to be drawn. Two tools take the speakers into account:

* **against chance**: a probe that supports speaker-level inference reports
  its score under K relabellings of languages to whole speakers that are the
  *same* in every run probing those speakers (seeded by the speaker ids, not
  the run). Averaging run by run over seeds gives the null distribution of the
  seed-averaged score: one relabelling applied to every seed's latents, the
  statistic recomputed (:func:`shared_permutation_p`). Under the null the
  latents carry no language, whatever the seeds did, so this test is exact.
* **intervals and paired comparisons** (a latent space against the
  raw-feature baseline of the same runs; a condition against the control at
  the same seeds): the probe also reports each speaker's additive
  contribution to the score (a balanced accuracy is the sum over speakers of
  their correct clips over their class's clips and the number of classes).
  Seeds and speakers are then crossed random factors; :func:`crossed` gives
  the standard error that counts both, so neither a lucky seed nor a lucky
  speaker draw passes for an effect of the condition.

docs/report.md gives the false-positive rates and power of these tests,
measured in simulation with this code and the built-in probe
(bench/bench_calibration.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

CONFIDENCE = 0.95


@dataclass(frozen=True)
class SpeakerScores:
    """One score's per-speaker contributions in several runs, aligned by speaker.

    :ivar speakers: speaker ids, sorted.
    :ivar strata: the language of each speaker (bootstrap strata).
    :ivar contributions: (runs, speakers); a run's score is its row sum.
    :ivar nulls: (runs, K) scores under the shared speaker relabellings, or
        None when some run did not report them.
    :ivar pairs: (runs, speakers, speakers) shares of ordered speaker pairs
        (a score averaged over pairs, :mod:`harness.stats.abx_pairs`), or None.
    """

    speakers: np.ndarray
    strata: np.ndarray
    contributions: np.ndarray
    nulls: np.ndarray | None
    pairs: np.ndarray | None = None

    @property
    def scores(self) -> np.ndarray:
        return self.contributions.sum(axis=1)


def shared_permutation_p(
    observed: float, nulls: np.ndarray, higher_is_better: bool = True
) -> float:
    """One-sided p of the seed-averaged score against the seed-averaged null.

    ``nulls`` is (seeds, K): column k is relabelling k in every seed. The
    observed relabelling counts as one of the K + 1 (Phipson and Smyth), so p
    is never 0. A tiny tolerance keeps ties (common with accuracies of few
    clips) on the conservative side.
    """
    null = np.asarray(nulls, dtype=float).mean(axis=0)
    null = null[np.isfinite(null)]
    if null.size == 0 or not np.isfinite(observed):
        return np.nan
    tol = 1e-12 * max(1.0, abs(observed))
    extreme = null >= observed - tol if higher_is_better else null <= observed + tol
    return float((1 + extreme.sum()) / (1 + null.size))


@dataclass(frozen=True)
class Crossed:
    """A seed-averaged sum over speakers with its uncertainty from both sources.

    :ivar estimate: sum over speakers of the per-speaker mean over seeds.
    :ivar se: its standard error, from seed-to-seed and speaker-to-speaker
        variation together (two-way variance components).
    :ivar df: Satterthwaite degrees of freedom of ``se``.
    """

    estimate: float
    se: float
    df: float

    def ci(self, confidence: float = CONFIDENCE) -> tuple[float, float]:
        if not (np.isfinite(self.se) and np.isfinite(self.df)):
            return np.nan, np.nan
        half = float(stats.t.ppf(0.5 + confidence / 2, self.df)) * self.se
        return self.estimate - half, self.estimate + half

    def p_value(self) -> float:
        """Two-sided p of ``estimate = 0``."""
        if not (np.isfinite(self.se) and np.isfinite(self.df)):
            return np.nan
        if self.se == 0:
            return 1.0 if self.estimate == 0 else 0.0
        return float(2 * stats.t.sf(abs(self.estimate) / self.se, self.df))

    def equivalence_p(self, margin: float) -> float:
        """p of two one-sided tests (TOST) that the true value lies inside
        ``(-margin, margin)``: the larger of the p of "at most -margin" and of
        "at least +margin", each a one-sided t-test with this standard error
        (seeds and speakers as sampled). Below ``alpha`` exactly when the
        ``1 - 2 alpha`` CI lies inside the margin."""
        if not (np.isfinite(self.se) and np.isfinite(self.df) and margin > 0):
            return np.nan
        if self.se == 0:
            return 0.0 if abs(self.estimate) < margin else 1.0
        below = stats.t.sf((self.estimate + margin) / self.se, self.df)
        above = stats.t.sf((margin - self.estimate) / self.se, self.df)
        return float(max(below, above))

    def detectable(self, alpha: float = 1 - CONFIDENCE, power: float = 0.8) -> float:
        """The smallest true value a two-sided test at ``alpha`` detects with
        ``power``; a claim tested within a Holm family is planned at Holm's
        first step, ``alpha / m``."""
        if not (np.isfinite(self.se) and np.isfinite(self.df)):
            return np.nan
        return float(stats.t.ppf(1 - alpha / 2, self.df) + stats.t.ppf(power, self.df)) * self.se


def crossed(values: np.ndarray, strata: np.ndarray) -> Crossed:
    """``values`` (seeds, speakers) summed over speakers after averaging over
    seeds, with a standard error that counts seeds *and* speakers as sampled.

    Seeds and speakers are crossed random factors (every seed probes every
    speaker), as subjects and items are in psycholinguistics: a test that
    resamples only one of them treats the other's variation as signal. With
    the two-way decomposition ``x_is = a_i + b_s + e_is`` (speakers nested in
    their language, the stratum they were drawn from), the mean has variance
    ``s_a^2 / n + s_b^2 / S + s_e^2 / (n S)``, estimated from the mean squares
    as ``(MS_seeds + MS_speakers - MS_residual) / (n S)`` (never below the
    larger of the first two alone) with Satterthwaite's degrees of freedom,
    as in Clark's (1973) quasi-F. With one seed only speakers vary.
    """
    x = np.asarray(values, dtype=float)
    strata = np.asarray(strata)
    n, s = x.shape
    n_strata = np.unique(strata).size
    estimate = float(x.mean(axis=0).sum())
    if s - n_strata < 1 or not np.isfinite(x).all():
        return Crossed(estimate, np.nan, np.nan)
    row = x.mean(axis=1)
    col = x.mean(axis=0)
    grand = x.mean()
    stratum_mean = {h: col[strata == h].mean() for h in np.unique(strata)}
    col_dev = col - np.array([stratum_mean[h] for h in strata])
    ms_cols = n * float(np.sum(col_dev**2)) / (s - n_strata)
    if n == 1:
        var, df = ms_cols / s, float(s - n_strata)
    else:
        ms_rows = s * float(np.sum((row - grand) ** 2)) / (n - 1)
        resid = x - row[:, None] - col[None, :] + grand
        ms_err = float(np.sum(resid**2)) / ((n - 1) * (s - 1))
        combined = max(ms_rows + ms_cols - ms_err, ms_rows, ms_cols)
        var = combined / (n * s)
        parts = [(ms_rows, n - 1), (ms_cols, s - n_strata), (ms_err, (n - 1) * (s - 1))]
        signs = [1.0, 1.0, -1.0] if combined == ms_rows + ms_cols - ms_err else None
        if signs is None:  # the floor was used: one mean square carries it all
            _, dof = max(parts[:2], key=lambda p: p[0])
            df = float(dof)
        else:
            denom = sum((m**2) / d for (m, d) in parts if d > 0)
            df = (combined**2) / denom if denom > 0 else np.inf
    return Crossed(estimate, s * float(np.sqrt(var)), float(df))
