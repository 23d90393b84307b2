"""Separability of every pair of probe languages, and whether pairs across
declared groups separate better than pairs within.

A pair's score is computed here from the stored latents, so any latent space
of any run has a matrix without a probe of its own: the balanced accuracy of a
nearest-centroid rule on the two languages' probe clips (each dimension
z-scored over the run's probe clips, which uses no label), one speaker of
each language left out together (:func:`loso_shares`). Each speaker's
additive share of that score (its clips' shares over its language's clips,
halved) makes the speaker the unit, as in :mod:`harness.stats.speakers`:

* **per pair** the seed mean with a 95% CI counting seeds and speakers as
  sampled (:func:`pair_se`), and a permutation test against chance that
  relabels the pair's speakers (the same relabellings in every seed,
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
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from scipy import stats

from harness.hashing import content_hash
from harness.stats import speakers as spk
from harness.stats.convergence import ALPHA
from harness.stats.multiple import holm

if TYPE_CHECKING:
    from harness.tables.results import Results

#: relabellings of a pair's speakers for the test against chance (all of them
#: where there are fewer)
RELABELLINGS = 999
CHANCE = 0.5

PAIR_COLUMNS = ["model", "condition", "latent_space", "is_baseline", "language_a", "language_b",
                "group_a", "group_b", "within_group", "n", "n_speakers", "mean", "ci_low",
                "ci_high", "chance", "p_vs_chance", "p_vs_chance_holm", "n_relabellings",
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


def relabellings(speakers: Sequence[str], in_a: np.ndarray, n: int = RELABELLINGS) -> np.ndarray:
    """(1 + K, speakers) booleans, True for language a: row 0 the real labels,
    then every other assignment keeping each language's speaker count where
    there are at most ``n``, else ``n`` random ones seeded by the speaker ids
    (so every run probing these speakers gets the same)."""
    in_a = np.asarray(in_a, dtype=bool)
    size, k = in_a.size, int(in_a.sum())
    if math.comb(size, k) - 1 <= n:
        every = _assignments(size, k)
        return np.vstack([in_a, every[(every != in_a).any(axis=1)]])
    seed = int(content_hash({"speakers": sorted(map(str, speakers)), "k": k})[:15], 16)
    rng = np.random.default_rng(seed)
    shuffled = np.argsort(rng.random((n, size)), axis=1)
    return np.vstack([in_a, in_a[shuffled]])


@lru_cache(maxsize=64)
def _assignments(size: int, k: int) -> np.ndarray:
    """Every way of giving ``k`` of ``size`` speakers language a: (C(size, k), size)."""
    chosen = np.array(list(itertools.combinations(range(size), k)), dtype=int)
    out = np.zeros((len(chosen), size), dtype=bool)
    np.put_along_axis(out, chosen, True, axis=1)
    return out


def loso_shares(x: np.ndarray, speaker: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each speaker's share of the symmetric leave-out nearest-centroid
    balanced accuracy, under each labelling: (R, S).

    A clip of speaker s is classed once per speaker t of the other language:
    by the centroid of its own language without s and the centroid of the
    other without t (one speaker of each language left out together), and
    scores the share of those partners it is classed right with. Both
    centroids then lack one speaker, so under no language the two are alike
    and the score centres on 0.5; leaving s out alone (its own centroid one
    speaker short, the other whole) put it below.

    :param x: (clips, dims) latents of the pair's clips.
    :param speaker: each clip's speaker index in 0..S-1.
    :param labels: (R, S) booleans, True where the speaker is language a.
    """
    labels = np.asarray(labels, dtype=bool)
    n_speakers = labels.shape[1]
    onehot = np.zeros((len(x), n_speakers))
    onehot[np.arange(len(x)), speaker] = 1.0
    sums = onehot.T @ x  # (S, d)
    counts = onehot.sum(axis=0)
    gram_clip = x @ sums.T  # (n, S): x_i . sum_t
    gram = sums @ sums.T  # (S, S)
    step = max(1, _CHUNK // max(1, len(x) * n_speakers))
    parts = [
        _shares(gram_clip, gram, counts, speaker, labels[r : r + step])
        for r in range(0, len(labels), step)
    ]
    per_speaker = np.vstack(parts)  # (R, S): right-classed clip shares summed
    in_a = labels.astype(float) @ counts
    class_clips = np.where(labels, in_a[:, None], (counts.sum() - in_a)[:, None])
    return per_speaker / (2.0 * class_clips)


#: clips x speakers x labellings held at once (memory of :func:`_shares`)
_CHUNK = 2_000_000


def _shares(
    gram_clip: np.ndarray,
    gram: np.ndarray,
    counts: np.ndarray,
    speaker: np.ndarray,
    labels: np.ndarray,
) -> np.ndarray:
    """(R, S): per speaker, its clips' shares of partners they are classed right with."""
    member = labels.astype(float)
    # per labelling and speaker t: the centroid of t's language without t
    norm, dot, size = [], [], []
    for m in (member, 1.0 - member):
        norm.append(((m @ gram) * m).sum(axis=1)[:, None])  # |sum of the language|^2
        dot.append(m @ gram)  # (R, S): sum of the language . sum of t
        size.append((m @ counts)[:, None])
    size_t = np.where(labels, size[0], size[1]) - counts[None, :]  # (R, S)
    norm_t = (
        np.where(labels, norm[0], norm[1])
        - 2 * np.where(labels, dot[0], dot[1])
        + np.diag(gram)[None, :]
    )
    # x_i . the sum of t's language: (n, R, S)
    x_lang = np.where(
        labels[None], (gram_clip @ member.T)[:, :, None], (gram_clip @ (1.0 - member).T)[:, :, None]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        distance = norm_t / size_t**2 - 2 * (x_lang - gram_clip[:, None, :]) / size_t
    rows = np.arange(len(speaker))
    own = distance[rows, :, speaker]  # (n, R): to its own language's centroid without it
    mine = labels[:, speaker].T  # (n, R): is the clip's speaker language a
    partner = labels[None, :, :] != mine[:, :, None]  # (n, R, S)
    right = np.where(mine[:, :, None], own[:, :, None] < distance, own[:, :, None] <= distance)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (right & partner).sum(axis=2) / partner.sum(axis=2)  # (n, R)
    onehot = np.zeros((len(speaker), gram.shape[0]))
    onehot[rows, speaker] = 1.0
    return share.T @ onehot


def standardised(latents: np.ndarray) -> np.ndarray:
    """Each dimension z-scored over the clips (a constant one left at 0); no label is used."""
    x = np.asarray(latents, dtype=float).reshape(len(latents), -1)
    sd = x.std(axis=0)
    return (x - x.mean(axis=0)) / np.where(sd > 0, sd, 1.0)


#: one run's pair: speaker ids, their languages, the real labelling's shares,
#: the relabelled scores and the score with each speaker left out
RunPair = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def run_pairs(
    latents: np.ndarray,
    languages: np.ndarray,
    speakers: np.ndarray,
    pairs: Sequence[tuple[str, str]],
    n_relabellings: int = RELABELLINGS,
) -> dict[tuple[str, str], RunPair]:
    """One run's latent space, pair by pair (:data:`RunPair`)."""
    x_all = standardised(latents)
    languages, speakers = np.asarray(languages).astype(str), np.asarray(speakers).astype(str)
    out = {}
    for a, b in pairs:
        keep = np.isin(languages, [a, b])
        ids, index = np.unique(speakers[keep], return_inverse=True)
        first = np.array([np.flatnonzero(speakers[keep] == s)[0] for s in ids])
        strata = languages[keep][first]
        labels = relabellings(ids.tolist(), strata == a, n_relabellings)
        shares = loso_shares(x_all[keep], index, labels)
        dropped = _without_each(x_all[keep], index, strata == a)
        out[(a, b)] = (ids, strata, shares[0], shares[1:].sum(axis=1), dropped)
    return out


def _without_each(x: np.ndarray, speaker: np.ndarray, in_a: np.ndarray) -> np.ndarray:
    """The pair's score with each speaker left out in turn (NaN where that
    leaves a language one speaker: its own centroid would be empty)."""
    out = np.full(in_a.size, np.nan)
    for j in range(in_a.size):
        rest = np.delete(in_a, j)
        if min(rest.sum(), (~rest).sum()) < 2:
            continue
        keep = speaker != j
        index = speaker[keep] - (speaker[keep] > j)
        out[j] = loso_shares(x[keep], index, rest[None, :])[0].sum()
    return out


def pair_tests(scores: PairScores) -> dict[str, float]:
    """A pair's seed mean, 95% CI (:func:`pair_se`) and relabelling p against chance."""
    crossed = spk.crossed(scores.contributions, scores.strata)
    test = spk.Crossed(crossed.estimate, pair_se(crossed.se, scores.nulls), crossed.df)
    low, high = test.ci()
    mean = float(scores.contributions.sum(axis=1).mean())
    return {
        "n": scores.contributions.shape[0],
        "n_speakers": scores.speakers.size,
        "mean": mean,
        "ci_low": float(np.clip(low, 0, 1)),
        "ci_high": float(np.clip(high, 0, 1)),
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
                           "group_b": gb, "within_group": within, **pair_tests(scores)})  # fmt: skip
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
