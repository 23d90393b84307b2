"""Separability of every pair of probe languages, and whether pairs across
declared groups separate better than pairs within.

A pair's score is computed here from the stored latents, so any latent space
of any run has a matrix without a probe of its own: the balanced accuracy of a
nearest-centroid rule on the two languages' probe clips (each dimension
z-scored over the run's probe clips, which uses no label), one speaker of
each language left out together (:func:`~harness.stats.pair_scores.loso_shares`). Each speaker's
additive share of that score (its clips' shares over its language's clips,
halved) makes the speaker the unit, as in :mod:`harness.stats.speakers`:

* **per pair** the seed mean with a 95% CI counting seeds and speakers as
  sampled (:func:`pair_se`), the same interval made simultaneous over the
  pairs of its matrix (Bonferroni: with ten pairs one per-pair interval in
  about every two matrices leaves out 0.5 with no language at all), and a
  permutation test against chance that relabels the pair's speakers (the
  same relabellings in every seed,
  :func:`~harness.stats.speakers.shared_permutation_p`); Holm over the pairs
  of one matrix (one model, condition and latent space);
* **across vs within groups** (``[probing] groups``): the mean score of pairs
  across groups minus pairs within, each speaker's share of it summed over
  its pairs, tested one-sided with a jackknife over speakers and the seeds'
  spread; Holm over the conditions and latent spaces of a model, the
  model-free spaces (the same data in every condition) counted once.

docs/report.md gives the tests' false-positive rates in simulation
(bench/bench_pair_groups.py).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from harness.stats import speakers as spk
from harness.stats.convergence import ALPHA
from harness.stats.multiple import holm
from harness.stats.pair_scores import RELABELLINGS, RunPair, run_pairs

if TYPE_CHECKING:
    from harness.tables.results import Results

CHANCE = 0.5

PAIR_COLUMNS = ["model", "condition", "latent_space", "is_baseline", "language_a", "language_b",
                "group_a", "group_b", "within_group", "n", "n_speakers", "mean", "ci_low",
                "ci_high", "ci_low_simultaneous", "ci_high_simultaneous", "chance", "p_vs_chance", "p_vs_chance_holm", "n_relabellings",
                "above_chance"]  # fmt: skip
GROUP_COLUMNS = ["model", "condition", "latent_space", "is_baseline", "n", "n_speakers",
                 "n_pairs_within", "n_pairs_across", "mean_within", "mean_across", "difference",
                 "ci_low", "ci_high", "p_value", "p_holm", "across_better"]  # fmt: skip


@dataclass(frozen=True)
class PairScores:
    """One pair's per-speaker shares of its score in several runs.

    :ivar speakers: speaker ids, sorted; :ivar strata: each one's language.
    :ivar contributions: (runs, speakers); a run's score is its row sum.
    :ivar nulls: (runs, K): the score under relabelling k, the same k in every run.
    :ivar dropped: (runs, speakers): the score with that speaker left out of
        the pair altogether (NaN where a language would keep one speaker).
    """

    speakers: np.ndarray
    strata: np.ndarray
    contributions: np.ndarray
    nulls: np.ndarray
    dropped: np.ndarray


def pair_tests(scores: PairScores, family: int = 1) -> dict[str, float]:
    """A pair's seed mean, 95% CI (:func:`pair_se`), the CI simultaneous over
    the ``family`` pairs of its matrix (Bonferroni), and relabelling p against chance."""
    crossed = spk.crossed(scores.contributions, scores.strata)
    test = spk.Crossed(crossed.estimate, pair_se(crossed.se, scores.nulls), crossed.df)
    low, high = test.ci()
    together = test.ci(1 - (1 - spk.CONFIDENCE) / family)
    mean = float(scores.contributions.sum(axis=1).mean())
    return {
        "n": scores.contributions.shape[0],
        "n_speakers": scores.speakers.size,
        "mean": mean,
        "ci_low": float(np.clip(low, 0, 1)),
        "ci_high": float(np.clip(high, 0, 1)),
        "ci_low_simultaneous": float(np.clip(together[0], 0, 1)),
        "ci_high_simultaneous": float(np.clip(together[1], 0, 1)),
        "chance": CHANCE,
        "p_vs_chance": spk.shared_permutation_p(mean, scores.nulls),
        "n_relabellings": scores.nulls.shape[1],
    }


def pair_se(crossed_se: float, nulls: np.ndarray) -> float:
    """The larger of the crossed SE and the SD of the seed-averaged score over
    the relabellings (``nulls``: runs x K): the speaker shares are not
    independent (each speaker moves the centroids every clip is classed by),
    so the crossed SE alone is too small (docs/report.md, pair matrix)."""
    null = np.asarray(nulls, dtype=float).mean(axis=0)
    null = null[np.isfinite(null)]
    if null.size < 2 or not np.isfinite(crossed_se):
        return crossed_se
    return max(crossed_se, float(null.std(ddof=1)))


def group_contrast(
    scores: Mapping[tuple[str, str], PairScores], group_of: Mapping[str, str]
) -> dict[str, float] | None:
    """Mean score of pairs across groups minus pairs within (seed-averaged),
    tested one-sided against 0 (None without a pair of each kind). Its SE adds
    a stratified delete-one-speaker jackknife (each speaker left out of every
    pair it is in, the centroids recomputed) and the seeds' variance of the
    difference over their number; Satterthwaite's degrees of freedom."""
    grouped = {p: s for p, s in scores.items() if p[0] in group_of and p[1] in group_of}
    within = [p for p in grouped if group_of[p[0]] == group_of[p[1]]]
    across = [p for p in grouped if group_of[p[0]] != group_of[p[1]]]
    if not within or not across:
        return None
    weight = {p: 1.0 / len(across) for p in across} | {p: -1.0 / len(within) for p in within}
    full = {p: s.contributions.sum(axis=1) for p, s in grouped.items()}  # (runs,) each
    per_seed = sum(weight[p] * full[p] for p in grouped)
    estimate = float(np.mean(per_seed))
    left_out: dict[str, float] = {}
    stratum: dict[str, str] = {}
    for speaker_pairs in _pairs_of_speakers(grouped):
        speaker, language, where = speaker_pairs
        change = sum(weight[p] * (grouped[p].dropped[:, j] - full[p]) for p, j in where)
        left_out[speaker] = estimate + float(np.mean(change))
        stratum[speaker] = language
    var_speakers = _stratified_jackknife(left_out, stratum)
    n = len(per_seed)
    var_seeds = float(np.var(per_seed, ddof=1)) / n if n > 1 else 0.0
    se = float(np.sqrt(var_speakers + var_seeds))
    parts = [(var_speakers, len(left_out) - len(set(stratum.values()))), (var_seeds, n - 1)]
    denominator = sum(v**2 / d for v, d in parts if d > 0 and v > 0)
    df = (var_speakers + var_seeds) ** 2 / denominator if denominator > 0 else np.nan
    ok = se > 0 and np.isfinite(se) and np.isfinite(df)
    half = float(stats.t.ppf(0.975, df)) * se if ok else np.nan
    means = {k: float(np.mean([full[q].mean() for q in v]))
             for k, v in (("mean_within", within), ("mean_across", across))}  # fmt: skip
    return {
        "n": n,
        "n_speakers": len(left_out),
        "n_pairs_within": len(within),
        "n_pairs_across": len(across),
        **means,
        "difference": estimate,
        "ci_low": estimate - half,
        "ci_high": estimate + half,
        "p_value": float(stats.t.sf(estimate / se, df)) if ok else np.nan,
    }


def _pairs_of_speakers(
    grouped: Mapping[tuple[str, str], PairScores],
) -> list[tuple[str, str, list[tuple[tuple[str, str], int]]]]:
    """Each speaker with its language and the (pair, column) it holds in each pair."""
    found: dict[str, tuple[str, list[tuple[tuple[str, str], int]]]] = {}
    for pair, s in grouped.items():
        for j, (speaker, language) in enumerate(zip(s.speakers, s.strata, strict=True)):
            found.setdefault(str(speaker), (str(language), []))[1].append((pair, j))
    return [(k, lang, where) for k, (lang, where) in sorted(found.items())]


def _stratified_jackknife(left_out: Mapping[str, float], stratum: Mapping[str, str]) -> float:
    """Stratified jackknife variance from delete-one values: per language,
    (n_h - 1) / n_h times their squared deviations, summed. NaN if any is NaN."""
    total = 0.0
    for language in set(stratum.values()):
        values = np.array([v for k, v in left_out.items() if stratum[k] == language])
        if values.size > 1:
            total += (values.size - 1) / values.size * float(np.sum((values - values.mean()) ** 2))
    return total


def _probe_languages(results: Results) -> list[str]:
    """The probe languages in the suite's order (``[splits] probe_languages``)."""
    for record in results.records.values():
        declared = (record.spec.get("splits") or {}).get("probe_languages")
        if declared:
            return [str(x) for x in dict.fromkeys(declared)]
    return []


def _spaces(results: Results) -> dict[str, bool]:
    """The probed latent spaces, each with whether it is model-free (the baseline)."""
    probes = results.probes
    if probes.empty:
        return {}
    first = probes.groupby("latent_space", sort=False)["is_baseline"].first()
    return {str(k): bool(v) for k, v in first.items()}


def stack_runs(per_run: Sequence[RunPair]) -> PairScores:
    """Runs' results of one pair (:func:`run_pairs`), on the speakers all probed."""
    common = sorted(set.intersection(*(set(r[0].tolist()) for r in per_run)))
    shares, dropped, strata = [], [], np.array([])
    for ids, langs, own, _, without in per_run:
        where = np.searchsorted(ids, common)
        shares.append(own[where])
        dropped.append(without[where])
        strata = langs[where]
    nulls = np.vstack([r[3] for r in per_run])
    return PairScores(np.asarray(common), strata, np.vstack(shares), nulls, np.vstack(dropped))


def _collect(
    results: Results, languages: list[str], n_relabellings: int
) -> dict[tuple[str, str, str], dict[tuple[str, str], PairScores]]:
    """(model, condition, space) -> pair -> its scores over the finished runs."""
    pairs = list(itertools.combinations(languages, 2))
    spaces = _spaces(results)
    found: dict[tuple[str, str, str], dict[tuple[str, str], list]] = {}
    # a model-free space holds the same values in every run: computed once
    known: dict[str, dict[tuple[str, str], RunPair]] = {}
    runs = results.runs
    for run_id, model, condition in runs[["run_id", "model", "condition"]].itertuples(
        index=False, name=None
    ):
        latents = results.latents(run_id) if run_id in results.records else {}
        if not latents:
            continue
        clips = results.probe_clips(run_id)
        for space in spaces:
            if space not in latents or len(latents[space]) != len(clips):
                continue
            digest = hashlib.sha256(np.ascontiguousarray(latents[space]).tobytes())
            digest.update(str(clips[["language", "speaker"]].values.tolist()).encode())
            key = digest.hexdigest()
            if key not in known:
                known[key] = run_pairs(
                    latents[space], clips["language"].to_numpy(), clips["speaker"].to_numpy(),
                    pairs, n_relabellings,
                )  # fmt: skip
            per_pair = known[key]
            cell = found.setdefault((model, condition, space), {})
            for pair, value in per_pair.items():
                cell.setdefault(pair, []).append(value)
    return {key: {p: stack_runs(v) for p, v in cell.items()} for key, cell in found.items()}


def pair_matrix(
    results: Results, n_relabellings: int = RELABELLINGS
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The pair matrix (``stats/pair_matrix.csv``) and the group test
    (``stats/pair_groups.csv``) of every model, condition and probed latent
    space; empty where the suite did not ask or has under three probe languages."""
    languages = _probe_languages(results)
    if len(languages) < 3 or not results.design.pair_matrix:
        return pd.DataFrame(columns=PAIR_COLUMNS), pd.DataFrame(columns=GROUP_COLUMNS)
    group_of = {lang: g for g, members in results.design.probe_groups.items() for lang in members}
    spaces = _spaces(results)
    rows, group_rows = [], []
    for (model, condition, space), cell in _collect(results, languages, n_relabellings).items():
        key = {"model": model, "condition": condition, "latent_space": space,
               "is_baseline": spaces[space]}  # fmt: skip
        matrix = []
        for (a, b), scores in cell.items():
            ga, gb = group_of.get(a), group_of.get(b)
            within = (ga == gb) if ga and gb else None
            matrix.append({**key, "language_a": a, "language_b": b, "group_a": ga,
                           "group_b": gb, "within_group": within,
                           **pair_tests(scores, family=len(cell))})  # fmt: skip
        adjusted = holm([r["p_vs_chance"] for r in matrix])
        for row, p in zip(matrix, adjusted, strict=True):
            row.update(p_vs_chance_holm=p, above_chance=bool(p < ALPHA))
        rows += matrix
        contrast = group_contrast(cell, group_of) if group_of else None
        if contrast is not None:
            group_rows.append({**key, **contrast})
    return (
        pd.DataFrame(rows, columns=PAIR_COLUMNS),
        _holm_groups(pd.DataFrame(group_rows, columns=GROUP_COLUMNS)),
    )


def _holm_groups(frame: pd.DataFrame) -> pd.DataFrame:
    """Holm within each model over its conditions and latent spaces; a
    model-free space's rows (the same data under every condition) are one test."""
    if frame.empty:
        return frame
    frame = frame.copy()
    frame["p_holm"] = np.nan
    for _, index in frame.groupby("model", sort=False).groups.items():
        part = frame.loc[index]
        ids = np.where(
            part["is_baseline"].astype(bool),
            "baseline " + part["latent_space"].astype(str),
            part.index.astype(str),
        )
        first = ~pd.Series(ids).duplicated().to_numpy()
        adjusted = dict(zip(ids[first], holm(part["p_value"].to_numpy(float)[first]), strict=True))
        frame.loc[index, "p_holm"] = [adjusted[i] for i in ids]
    frame["across_better"] = frame["p_holm"] < ALPHA
    return frame
