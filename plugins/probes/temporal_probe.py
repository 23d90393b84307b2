"""The ``temporal_integration`` probe itself (numpy), declared in
:mod:`harness_plugins.probes.temporal`: the integration window of each probe
clip read off its input-gradient profile (the ``input_gradient`` extractor),
then averaged within each speaker and over speakers.

The window of a clip is the fewest consecutive lags that hold ``mass`` of its
gradient mass (the shortest interval, wherever it lies: before the output
frame for a causal model, around it for a bidirectional one). Where the
measured lags hold less than ``mass`` (the mass lies farther than the
extractor's ``max_lag``), the window is recorded as all the measured lags, a
lower bound, and counted in ``capped_share``.
"""

from __future__ import annotations

import numpy as np

from harness.plugin.probe_contracts import ProbeResult

#: how far a profile row's sum may be from 1 (float32 rounding of the extractor)
SUM_TOLERANCE = 1e-3


def profile_problem(latents: np.ndarray) -> str:
    """Why ``latents`` is not an ``input_gradient`` profile ('' when it is):
    rows of 2 * max_lag + 2 non-negative shares that sum to 1 (or to 0 where a
    clip's outputs do not depend on its input), at least one of them live."""
    rows = np.asarray(latents, dtype=np.float64)
    if rows.ndim != 2 or rows.shape[1] < 4 or rows.shape[1] % 2:
        return (
            f"not an input-gradient profile (shape {rows.shape}; a profile has "
            "2 * max_lag + 2 columns): this probe reads the input_gradient extractor's space"
        )
    sums = rows.sum(1)
    live = np.abs(sums - 1.0) <= SUM_TOLERANCE
    if (rows < 0).any() or not (live | (sums == 0)).all() or not live.any():
        return (
            "not an input-gradient profile (rows are not non-negative shares summing to 1): "
            "this probe reads the input_gradient extractor's space"
        )
    return ""


def window(row: np.ndarray, mass: float) -> tuple[int, bool]:
    """The fewest consecutive lags of ``row`` (its last column, the mass beyond
    the lags, left out) holding ``mass`` of it, and whether the lags held less
    (then all of them are returned: a lower bound)."""
    lags = np.asarray(row[:-1], dtype=np.float64)
    cums = np.concatenate([[0.0], np.cumsum(lags)])
    if cums[-1] < mass - 1e-6:
        return len(lags), True
    ends = np.searchsorted(cums, cums[:-1] + mass - 1e-6, side="left")
    reach = ends <= len(lags)
    return int((ends[reach] - np.arange(len(lags))[reach]).min()), False


def centre_lag(row: np.ndarray) -> float:
    """The mass-weighted mean lag of ``row``'s measured lags (negative: the
    output reads mostly earlier input)."""
    lags = np.asarray(row[:-1], dtype=np.float64)
    k = (len(lags) - 1) // 2
    return float((np.arange(-k, k + 1) * lags).sum() / lags.sum()) if lags.sum() > 0 else 0.0


class TemporalIntegrationProbe:
    """Integration window of a latent space that is an input-gradient profile;
    any other space is skipped, with the reason."""

    def __init__(self, mass: float = 0.9) -> None:
        self.mass = mass

    def run(
        self, latents: np.ndarray, labels: np.ndarray, groups: np.ndarray, target: str, seed: int
    ) -> ProbeResult:
        problem = profile_problem(latents)
        if problem:
            return ProbeResult(skipped=problem)
        rows = np.asarray(latents, dtype=np.float64)
        live = np.abs(rows.sum(1) - 1.0) <= SUM_TOLERANCE
        found = [window(row, self.mass) for row in rows[live]]
        spans = np.array([span for span, _ in found], dtype=np.float64)
        capped = np.array([cap for _, cap in found], dtype=bool)
        centres = np.array([centre_lag(row) for row in rows[live]])
        # str, as the tables order the probe speakers (harness.tables.probes.speakers_table)
        speakers = np.asarray(groups).astype(str)[live]
        order = sorted(set(speakers.tolist()))
        per_speaker = [float(spans[speakers == s].mean()) for s in order]
        return ProbeResult(
            metrics={
                "integration_frames": float(np.mean(per_speaker)),
                "capped_share": float(capped.mean()),
            },
            details={
                # each speaker's additive share of the score, in sorted speaker
                # order: the analysis's crossed seeds x speakers intervals read it
                "integration_frames/speakers": [v / len(per_speaker) for v in per_speaker],
                "speaker_integration_frames": per_speaker,
                "speaker_centre_lag_frames": [float(centres[speakers == s].mean()) for s in order],
                "clip_integration_frames": spans.tolist(),
            },
        )
