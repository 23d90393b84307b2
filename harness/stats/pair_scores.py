"""A language pair's separability score in one run's latent space, and its
pieces that make the speaker the unit (:mod:`harness.stats.pair_matrix`
tests them): the nearest-centroid balanced accuracy with one speaker of each
language left out together (:func:`loso_shares`), each speaker's additive
share of it, the same for relabellings of the pair's speakers
(:func:`relabellings`), and the score with each speaker left out in turn.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

from harness.hashing import content_hash

#: relabellings of a pair's speakers for the test against chance (all of them
#: where there are fewer)
RELABELLINGS = 999


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
