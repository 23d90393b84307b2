"""How well languages separate in each latent space, with speakers as the unit.

Every claim here — above chance, above the raw-feature baseline of the same
runs, different from the control condition — comes from a test that treats
the probe *speakers* as sampled (:mod:`harness.stats.speakers`): relabelling
languages across speakers, or a standard error with speakers (and seeds) as
crossed random factors; seeds are never treated as independent samples of
the speakers. A score whose probe
reports no per-speaker details (``<metric>/speakers``, ``<metric>/null``) gets
its seed mean and seed-to-seed spread, labelled as such, and no test: the
``inference`` column says which. Holm's correction runs within each family the
report states: one test type (vs chance, vs baseline, vs control) for one
model, probe and metric, across conditions and latent spaces; a test that
appears in several rows (the model-free baseline, probed once and shown under
every condition) counts once. "Above chance" is one rule: the Holm-adjusted
permutation p below 0.05 (docs/report.md says why). A detectable difference
is planned at the level its claim is tested at, Holm's first step (``0.05 /
m`` over the family). Against the control, "the same" is a claim of its own:
two one-sided tests against the suite's ``equivalence_score`` (the 90% CI
inside the margin), paired over seeds with the speakers as sampled, and
Holm-corrected within the family like every other claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from harness.stats import speakers as spk
from harness.stats.abx_pairs import as_matrices, speaker_test
from harness.stats.convergence import ALPHA
from harness.stats.multiple import holm

if TYPE_CHECKING:
    from harness.tables.results import Results

#: The detail names a probe reports for a score that supports speaker-level
#: inference (docs/plugins.md): additive per-speaker contributions, speakers
#: in sorted id order; and the score under the suite-shared relabellings.
SPEAKERS_DETAIL = "{metric}/speakers"
NULL_DETAIL = "{metric}/null"
#: a score averaged over speaker pairs: its pair shares, S x S row-major
PAIRS_DETAIL = "{metric}/pairs"

#: Columns of each table (docs/report.md documents every one).
SUMMARY_COLUMNS = ["model", "condition", "latent_space", "probe", "metric", "is_baseline",
                   "higher_is_better", "headline", "inference", "n", "n_speakers", "mean",
                   "seed_sd", "ci_low", "ci_high", "chance", "diff_vs_chance",
                   "diff_vs_chance_ci_low", "diff_vs_chance_ci_high", "p_vs_chance",
                   "p_vs_chance_holm", "n_relabellings", "min_p_vs_chance_holm", "relabellings_needed",
                   "above_chance",
                   "baseline_above_chance", "baseline_mean", "diff_vs_baseline",
                   "diff_vs_baseline_ci_low", "diff_vs_baseline_ci_high",
                   "detectable_vs_baseline", "p_vs_baseline", "p_vs_baseline_holm"]  # fmt: skip
VS_CONTROL_COLUMNS = ["model", "condition", "control", "latent_space", "probe", "metric",
                      "higher_is_better", "inference", "n", "n_control", "n_pairs", "n_speakers", "mean",
                      "mean_control", "difference", "difference_ci_low", "difference_ci_high",
                      "detectable_difference", "p_value", "p_holm", "margin", "equivalence_ci_low",
                      "equivalence_ci_high", "p_equivalence", "p_equivalence_holm",
                      "equivalent"]  # fmt: skip

_KEY = ["model", "condition", "latent_space", "probe", "metric"]
_FAMILY = ["model", "probe", "metric"]
#: the equivalence CI: a TOST at ``ALPHA`` rejects exactly when it lies inside the margin
EQUIVALENCE_CONFIDENCE = 1 - 2 * ALPHA
#: private columns carrying a row's test until its family is known
_TEST, _RANGE = "_test", "_range"


@dataclass(frozen=True)
class _Range:
    """A score's declared range (``Metric.bounds``; infinite ends: unbounded).

    A t-interval knows nothing of it: with few seeds and speakers it can run
    past what the score can be (a balanced accuracy of 1.29). Intervals are
    cut at the range, differences at its width, and a detectable difference
    wider than the range is infinite: no difference the score can show was
    detectable.
    """

    low: float = -np.inf
    high: float = np.inf

    @classmethod
    def of(cls, group: pd.DataFrame) -> _Range:
        low, high = (group[c].astype(float) for c in ("bound_low", "bound_high"))
        if low.notna().all() and high.notna().all():
            return cls(float(low.min()), float(high.max()))
        return cls()

    @property
    def width(self) -> float:
        return self.high - self.low

    def score_ci(self, test: spk.Crossed) -> tuple[float, float]:
        low, high = test.ci()
        return float(np.clip(low, self.low, self.high)), float(np.clip(high, self.low, self.high))

    def difference_ci(
        self, test: spk.Crossed, confidence: float = spk.CONFIDENCE
    ) -> tuple[float, float]:
        low, high = test.ci(confidence)
        return float(np.clip(low, -self.width, self.width)), float(
            np.clip(high, -self.width, self.width)
        )

    def detectable(self, test: spk.Crossed, alpha: float = ALPHA) -> float:
        value = test.detectable(alpha)
        return np.inf if value > self.width else value


def _scores(probes: pd.DataFrame) -> pd.DataFrame:
    ok = (probes["role"] == "score") & probes["value"].notna()
    return probes.loc[ok & (probes["status"] != "failed")]


class _Details:
    """Per-speaker contributions and shared nulls of scores, looked up by run."""

    def __init__(self, results: Results) -> None:
        self.results = results
        details = results.details
        self.values = {
            (r, s, p, n): v
            for r, s, p, n, v in details[
                ["run_id", "latent_space", "probe", "name", "values"]
            ].itertuples(index=False, name=None)
        }
        self._speakers: dict[str, pd.DataFrame] = {}

    def speakers(self, run_id: str) -> pd.DataFrame:
        if run_id not in self._speakers:
            self._speakers[run_id] = self.results.speakers(run_id)
        return self._speakers[run_id]

    def scores(
        self, run_ids: Sequence[str], spaces: Sequence[str], probe: str, metric: str
    ) -> spk.SpeakerScores | None:
        """Contributions of ``metric`` in run i's ``spaces[i]``, on the speakers
        every run probed; None if any run lacks them (no speaker-level claim)."""
        frames, nulls, pairs = [], [], []
        for run_id, space in zip(run_ids, spaces, strict=True):
            contrib = self.values.get((run_id, space, probe, SPEAKERS_DETAIL.format(metric=metric)))
            table = self.speakers(run_id)
            if contrib is None or len(contrib) != len(table):
                return None
            frames.append(table.assign(value=contrib).set_index("speaker"))
            nulls.append(self.values.get((run_id, space, probe, NULL_DETAIL.format(metric=metric))))
            pairs.append(
                self.values.get((run_id, space, probe, PAIRS_DETAIL.format(metric=metric)))
            )
        common = sorted(set.intersection(*(set(f.index) for f in frames)))
        if not common:
            return None
        contributions = np.vstack([f.loc[common, "value"].to_numpy(float) for f in frames])
        present = [n for n in nulls if n is not None]
        # the test needs every run's null, each the same relabellings
        shared = None
        if len(present) == len(nulls) and len({len(n) for n in present}) == 1:
            shared = np.vstack(present)
        return spk.SpeakerScores(
            speakers=np.asarray(common),
            strata=frames[0].loc[common, "language"].to_numpy(),
            contributions=contributions,
            nulls=shared,
            pairs=_common_pairs(pairs, frames, common),
        )


def _common_pairs(
    pairs: list[Any], frames: list[pd.DataFrame], common: list[str]
) -> np.ndarray | None:
    """Each run's pair shares on the ``common`` speakers (runs, S, S); None
    unless every run gave them."""
    if any(p is None or len(p) != len(f) ** 2 for p, f in zip(pairs, frames, strict=True)):
        return None
    out = []
    for p, f in zip(pairs, frames, strict=True):
        index = f.index.get_indexer(common)
        out.append(as_matrices(np.asarray([p], float), len(f))[0][np.ix_(index, index)])
    return np.stack(out)


def _aligned(
    a: spk.SpeakerScores, b: spk.SpeakerScores
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Row-wise a - b on the speakers both probed (parts, and pair shares where
    both have them), and those speakers' strata."""
    _, ia, ib = np.intersect1d(a.speakers, b.speakers, return_indices=True)
    pairs = None
    if a.pairs is not None and b.pairs is not None:
        pairs = a.pairs[:, ia][:, :, ia] - b.pairs[:, ib][:, :, ib]
    return a.contributions[:, ia] - b.contributions[:, ib], pairs, a.strata[ia]


def _inference(n_seeds: int) -> str:
    return "seeds x speakers" if n_seeds > 1 else "speakers"


def separability_summary(results: Results) -> pd.DataFrame:
    """Per model, condition, latent space, probe and score: the seed mean with a
    95% CI counting seeds and speakers as sampled, against chance (shared
    speaker relabellings) and against the raw-feature baseline of the same runs
    (paired within run, seeds and speakers as sampled)."""
    scores = _scores(results.probes)
    if scores.empty:
        return pd.DataFrame(columns=SUMMARY_COLUMNS)
    details = _Details(results)
    baseline = scores[scores["is_baseline"].astype(bool)]
    base_space = baseline.groupby(["run_id", "probe", "metric"])["latent_space"].first()
    rows = [
        _summary_row(key, group, details, base_space)
        for key, group in scores.groupby(_KEY, sort=False)
    ]
    # rows without a test lack those keys: reindex adds them as NaN
    out = _closed_out(pd.DataFrame(rows).reindex(columns=[*SUMMARY_COLUMNS, _TEST, _RANGE]))
    out["detectable_vs_baseline"] = _detectable_in_family(out, "p_vs_baseline")
    return out[SUMMARY_COLUMNS]


def _summary_row(
    key: tuple[Any, ...], group: pd.DataFrame, details: _Details, base_space: pd.Series
) -> dict[str, Any]:
    """One row of :func:`separability_summary`: seed statistics, then the
    speaker-level tests where the probe gave per-speaker results."""
    row = dict(zip(_KEY, key, strict=True))
    space, probe, metric = key[2:]
    values = group["value"].to_numpy(float)
    chance = group["chance"].to_numpy(float)
    row.update(
        is_baseline=bool(group["is_baseline"].iloc[0]),
        higher_is_better=bool(group["higher_is_better"].iloc[0]),
        headline=bool(group["headline"].iloc[0]),
        n=int(values.size),
        mean=float(values.mean()),
        seed_sd=float(values.std(ddof=1)) if values.size > 1 else np.nan,
        chance=float(np.nanmean(chance)) if np.isfinite(chance).any() else np.nan,
        inference="none",
    )
    runs = list(group["run_id"])
    mine = details.scores(runs, [space] * len(runs), probe, metric)
    if mine is None:
        return row
    bounds = _Range.of(group)
    low, high = bounds.score_ci(speaker_test(mine.contributions, mine.pairs, mine.strata))
    row.update(inference=_inference(len(runs)), n_speakers=mine.speakers.size)
    row.update(ci_low=low, ci_high=high)
    if np.isfinite(row["chance"]):
        chance = row["chance"]
        row.update(diff_vs_chance=row["mean"] - chance)
        row.update(diff_vs_chance_ci_low=low - chance, diff_vs_chance_ci_high=high - chance)
        if mine.nulls is not None:
            row["p_vs_chance"] = spk.shared_permutation_p(
                float(mine.scores.mean()), mine.nulls, row["higher_is_better"]
            )
            row["n_relabellings"] = int(mine.nulls.shape[1])
    if not row["is_baseline"]:
        spaces = [base_space.get((r, probe, metric)) for r in runs]
        if all(isinstance(s, str) for s in spaces):
            base = details.scores(runs, spaces, probe, metric)
            if base is not None:
                row.update(_vs_baseline(mine, base, bounds))
    return row


def _vs_baseline(
    mine: spk.SpeakerScores, base: spk.SpeakerScores, bounds: _Range
) -> dict[str, Any]:
    """A model space's score against the raw-feature baseline of the same runs."""
    test = speaker_test(*_aligned(mine, base))
    low, high = bounds.difference_ci(test)
    return {
        "baseline_mean": float(base.scores.mean()),
        "diff_vs_baseline": test.estimate,
        "diff_vs_baseline_ci_low": low,
        "diff_vs_baseline_ci_high": high,
        "p_vs_baseline": test.p_value(),
        _TEST: test,
        _RANGE: bounds,
    }


def _closed_out(out: pd.DataFrame) -> pd.DataFrame:
    """Holm within each family (the baseline's one test counted once), the
    smallest Holm p the relabellings allow (``m`` tests, each at best ``1 /
    (K + 1)`` with ``K`` relabellings: at or above 0.05 no claim against chance
    can be made, whatever the data) and how many would allow one, and which
    rows are above chance."""
    chance_tests = _test_ids(out)
    out["p_vs_chance_holm"] = _holm_within(out, "p_vs_chance", chance_tests)
    out["p_vs_baseline_holm"] = _holm_within(out, "p_vs_baseline")
    tests = _family_sizes(out, "p_vs_chance", chance_tests)
    out["min_p_vs_chance_holm"] = np.minimum(1.0, tests / (out["n_relabellings"] + 1))
    # K + 1 > m / 0.05: the fewest relabellings whose smallest Holm p is below 0.05
    out["relabellings_needed"] = np.floor(tests / ALPHA).where(out["n_relabellings"].notna())
    # one rule, the exact test at the family's level; the CI describes the size
    out["above_chance"] = out["p_vs_chance_holm"] < ALPHA
    # a model space is compared with the baseline only where the baseline shows
    # language: two spaces at chance give coarse per-speaker results that the
    # variance components do not model (the test is liberal there, docs/report.md)
    base = out[out["is_baseline"].astype(bool)]
    informative = base.groupby(["model", "condition", "probe", "metric"])["above_chance"].all()
    keys = pd.MultiIndex.from_frame(out[["model", "condition", "probe", "metric"]])
    out["baseline_above_chance"] = (
        informative.reindex(keys).fillna(False).astype(bool).to_numpy()
        & ~out["is_baseline"].astype(bool).to_numpy()
    )
    return out


def _test_ids(frame: pd.DataFrame) -> pd.Series:
    """One id per distinct test against chance: a baseline space's rows with
    the same data (the model-free features, probed once and shown under
    every condition) share theirs, every other row has its own."""
    ids = pd.Series([f"row {i}" for i in range(len(frame))], index=frame.index)
    base = frame["is_baseline"].astype(bool) & frame["p_vs_chance"].notna()
    if base.any():
        parts = frame.loc[base, ["latent_space", "n", "mean", "p_vs_chance"]].astype(str)
        ids[base] = "baseline " + parts.agg(" ".join, axis=1)
    return ids


def _holm_within(frame: pd.DataFrame, column: str, tests: pd.Series | None = None) -> pd.Series:
    """Holm-adjusted ``column`` within each family; rows with the same id in
    ``tests`` are one test, counted once."""
    tests = tests if tests is not None else pd.Series(frame.index.astype(str), index=frame.index)
    out = pd.Series(np.nan, index=frame.index)
    for _, index in frame.groupby(_FAMILY, sort=False).groups.items():
        ids = tests.loc[index]
        first = ~ids.duplicated().to_numpy()
        adjusted = holm(frame.loc[index, column].to_numpy(float)[first])
        out.loc[index] = ids.map(dict(zip(ids[first], adjusted, strict=True))).to_numpy()
    return out


def _family_sizes(frame: pd.DataFrame, column: str, tests: pd.Series | None = None) -> pd.Series:
    """The number of tests that ran (finite p) in each row's family."""
    tests = tests if tests is not None else pd.Series(frame.index.astype(str), index=frame.index)
    ran = tests.where(frame[column].notna())
    return ran.groupby([frame[c] for c in _FAMILY]).transform("nunique")


def _detectable_in_family(frame: pd.DataFrame, column: str) -> pd.Series:
    """Each row's detectable difference at Holm's first step, ``ALPHA / m``
    over the ``m`` tests of its family that ran (NaN where none ran)."""
    m = _family_sizes(frame, column)
    return pd.Series(
        [
            bounds.detectable(test, ALPHA / max(int(size), 1))
            if isinstance(test, spk.Crossed)
            else np.nan
            for test, bounds, size in zip(frame[_TEST], frame[_RANGE], m, strict=True)
        ],
        index=frame.index,
        dtype=float,
    )


def separability_vs_control(results: Results, control: str) -> pd.DataFrame:
    """Each condition against the control in every model latent space: the
    paired difference (seed i against seed i of the control), summed over the
    speakers both probed, with a CI and a t-test whose standard error counts
    seeds and speakers as sampled (:func:`harness.stats.speakers.crossed`).
    Baseline spaces are skipped: they do not depend on the condition. Beside
    it, two one-sided tests of "the difference lies within the suite's
    ``equivalence_score``" (the 90% CI inside the margin), Holm-adjusted
    within the family like the test of a difference (``equivalent``)."""
    margin = float(results.design.equivalence_score)
    scores = _scores(results.probes)
    scores = scores[~scores["is_baseline"].astype(bool)]
    details = _Details(results)
    rows = []
    inner = ["model", "latent_space", "probe", "metric"]
    for key, group in scores.groupby(inner, sort=False):
        _, space, probe, metric = key
        ctrl = group[group["condition"] == control]
        if ctrl.empty:
            continue
        ctrl_by_seed = dict(zip(ctrl["seed"], ctrl["run_id"], strict=True))
        for condition, cond in group.groupby("condition", sort=False):
            if condition == control:
                continue
            row = {
                **dict(zip(inner, key, strict=True)),
                "condition": condition,
                "control": control,
                "higher_is_better": bool(cond["higher_is_better"].iloc[0]),
                "inference": "none",
                "n": len(cond),
                "n_control": len(ctrl),
                "mean": float(cond["value"].mean()),
                "mean_control": float(ctrl["value"].mean()),
            }
            row["difference"] = row["mean"] - row["mean_control"]
            # the design pairs seed i of the condition with seed i of the control
            pairs = [(r, ctrl_by_seed[s]) for s, r in zip(cond["seed"], cond["run_id"], strict=True)
                     if s in ctrl_by_seed]  # fmt: skip
            mine = details.scores([a for a, _ in pairs], [space] * len(pairs), probe, metric)
            theirs = details.scores([b for _, b in pairs], [space] * len(pairs), probe, metric)
            if pairs and mine is not None and theirs is not None:
                differences, shares, strata = _aligned(mine, theirs)
                row.update(_vs_control_test(differences, shares, strata, _Range.of(cond), margin))
                row.update(n_pairs=len(pairs), inference=_inference(len(pairs)))
            rows.append(row)
    if not rows:
        return pd.DataFrame(columns=VS_CONTROL_COLUMNS)
    out = pd.DataFrame(rows).reindex(columns=[*VS_CONTROL_COLUMNS, _TEST, _RANGE])
    out["p_holm"] = _holm_within(out, "p_value")
    # an equivalence is a claim like any other: Holm within the same family
    out["p_equivalence_holm"] = _holm_within(out, "p_equivalence")
    out["equivalent"] = out["p_equivalence_holm"] < ALPHA
    out["detectable_difference"] = _detectable_in_family(out, "p_value")
    return out[VS_CONTROL_COLUMNS]


def _vs_control_test(
    differences: np.ndarray,
    pairs: np.ndarray | None,
    strata: np.ndarray,
    bounds: _Range,
    margin: float,
) -> dict[str, Any]:
    """The paired test against the control and the equivalence test beside it
    (over pair shares where the probe gave them, :mod:`harness.stats.abx_pairs`)."""
    test = speaker_test(differences, pairs, strata)
    low, high = bounds.difference_ci(test)
    eq_low, eq_high = bounds.difference_ci(test, EQUIVALENCE_CONFIDENCE)
    return {
        "n_speakers": strata.size,
        "difference": test.estimate,
        "difference_ci_low": low,
        "difference_ci_high": high,
        "p_value": test.p_value(),
        "margin": margin,
        "equivalence_ci_low": eq_low,
        "equivalence_ci_high": eq_high,
        "p_equivalence": test.equivalence_p(margin),
        _TEST: test,
        _RANGE: bounds,
    }
