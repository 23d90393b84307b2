"""ABX phone discrimination of frame-level latents (Schatz 2016; the ZeroSpeech
and Libri-light ABX): the items.

An *item* is one phone of a clip's tier with its context (the previous and
next phone of the tier) and speaker; its frames are the clip's latent frames
whose times fall inside the phone (the frame nearest its middle when none
does). A cell fixes a context, a phone pair (a, b) and the speaker(s); for
every A and X of phone a and B of phone b, the triplet is right when
d(A, X) < d(B, X) (a tie counts half). Within-speaker cells take A, B, X from
one speaker (X another token than A); across-speaker cells take A and B from
one speaker and X from another. A cell's error is its share of wrong triplets;
errors are averaged over contexts, then speakers (or speaker pairs), then
ordered phone pairs, as Libri-light's ``eval_ABX`` does, and given in percent
(chance 50).

d is dynamic time warping over a frame distance (``cosine``: the angle over
pi, as ZeroSpeech; ``kl_symmetric`` for posteriorgrams; ``euclidean``),
divided by the length of the best path (:mod:`harness_plugins.probes.abx_dtw`).
Items are cut and capped with array operations, clip by clip and group by
group; only the groups over the cap draw from the seeded generator, in
sorted order.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from harness.plugin.alignments import PhoneInterval
from harness.plugin.probe_contracts import FrameLatents
from harness_plugins.probes import abx_dtw

DISTANCES = abx_dtw.DISTANCES
MODES = ("within", "across")
KL_EPSILON = abx_dtw.KL_EPSILON


@dataclass(frozen=True)
class Items:
    """The ABX items of a set of clips, in clip and tier order: item i's frames
    are ``store[offset[i] : offset[i] + size[i]]``, rows of one float32 array
    (every clip's frames, so cutting and capping items copies no frame)."""

    store: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    phone: np.ndarray
    context: np.ndarray
    speaker: np.ndarray

    def __len__(self) -> int:
        return len(self.size)

    @classmethod
    def of_frames(
        cls, frames: Sequence[np.ndarray], phone: np.ndarray, context: np.ndarray,
        speaker: np.ndarray,
    ) -> Items:  # fmt: skip
        """Items of the given frames, one array each."""
        size = np.array([len(f) for f in frames], np.int64)
        store = np.concatenate(frames) if len(frames) else np.zeros((0, 1))
        return cls(_float32(store), np.cumsum(size) - size, size, phone, context, speaker)

    @property
    def frames(self) -> tuple[np.ndarray, ...]:
        """Each item's frames (views of the store)."""
        return tuple(self.store[o : o + n] for o, n in zip(self.offset, self.size, strict=True))

    def take(self, index: np.ndarray) -> Items:
        """The items ``index``, in that order."""
        return Items(
            self.store, self.offset[index], self.size[index],
            self.phone[index], self.context[index], self.speaker[index],
        )  # fmt: skip


def _float32(frames: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frames, dtype=np.float32)


def item_frames(frames: np.ndarray, times: np.ndarray, start: float, end: float) -> np.ndarray:
    """The frames of a phone from ``start`` to ``end`` s: those whose time is inside
    it, else the one nearest its middle (the earlier of two as near). ``times``
    increase (the :class:`FrameLatents` contract), so both are binary searches."""
    low, high = _cuts(times, np.array([start], float), np.array([end], float))
    return frames[int(low[0]) : int(high[0])]


def _cuts(times: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, ...]:
    """:func:`item_frames` of many phones of one clip at once: each phone's first
    and one-past-last frame."""
    low = np.searchsorted(times, start, side="left")
    high = np.searchsorted(times, end, side="right")
    empty = high <= low
    if empty.any():
        middle = (start + end) / 2
        after = np.searchsorted(times, middle)
        last = len(times) - 1
        nearest = np.minimum(after, last)
        before = times[np.maximum(after - 1, 0)]
        earlier = (after > 0) & (
            (after == len(times)) | (middle - before <= times[np.minimum(after, last)] - middle)
        )
        nearest = np.where(earlier, after - 1, nearest)
        low = np.where(empty, nearest, low)
        high = np.where(empty, nearest + 1, high)
    return low, high


def make_items(
    latents: FrameLatents,
    phones: Sequence[Sequence[PhoneInterval] | None],
    speakers: Sequence[str],
    groups: Sequence[str] | None = None,
) -> Items:
    """Every phone of every tier that has a phone before and after it.

    :param groups: per clip, a group contexts never cross (the language); none: one group.
    """
    offset: list[np.ndarray] = []
    size: list[np.ndarray] = []
    phone: list[str] = []
    context: list[str] = []
    speaker: list[str] = []
    first = np.cumsum([len(f) for f in latents.frames]) - np.array([len(f) for f in latents.frames])
    for clip, tier in enumerate(phones):
        if not tier or len(tier) < 3:
            continue
        group = "" if groups is None else str(groups[clip])
        names = [interval.phone for interval in tier]
        start = np.array([interval.start for interval in tier[1:-1]], float)
        end = np.array([interval.end for interval in tier[1:-1]], float)
        low, high = _cuts(np.asarray(latents.times[clip]), start, end)
        offset.append(first[clip] + low)
        size.append(high - low)
        phone += names[1:-1]
        context += [f"{group}|{p}_{n}" for p, n in zip(names[:-2], names[2:], strict=True)]
        speaker += [str(speakers[clip])] * (len(tier) - 2)
    store = np.concatenate(latents.frames) if len(latents.frames) else np.zeros((0, 1))
    return Items(
        _float32(store),
        np.concatenate(offset).astype(np.int64) if offset else np.zeros(0, np.int64),
        np.concatenate(size).astype(np.int64) if size else np.zeros(0, np.int64),
        np.array(phone, str),
        np.array(context, str),
        np.array(speaker, str),
    )


def cap_items(items: Items, max_items: int | None, seed: int) -> Items:
    """At most ``max_items`` items of each (context, phone, speaker), a seeded
    subsample (the same items for the same seed), in their original order. The
    groups over the cap draw in sorted (context, phone, speaker) order."""
    if max_items is None or not len(items):
        return items
    codes = [
        np.unique(column, return_inverse=True)[1].reshape(-1)
        for column in (items.context, items.phone, items.speaker)
    ]
    order = np.lexsort((np.arange(len(items)), codes[2], codes[1], codes[0]))
    key = np.stack(codes)[:, order]
    new = np.ones(len(items), bool)
    new[1:] = (key[:, 1:] != key[:, :-1]).any(axis=0)
    start = np.flatnonzero(new)
    size = np.diff(np.append(start, len(items)))
    keep = np.ones(len(items), bool)
    rng = np.random.default_rng(seed)
    over = size > max_items
    for first, count in zip(start[over].tolist(), size[over].tolist(), strict=True):
        members = order[first : first + count]
        keep[members] = False
        keep[rng.choice(members, size=max_items, replace=False)] = True
    return items.take(np.flatnonzero(keep))


def frame_distances(x: np.ndarray, y: np.ndarray, distance: str) -> np.ndarray:
    """(N, M) distances between the frames of x (N, D) and y (M, D), as the DTW reads them."""
    prepared = abx_dtw.prepare(np.concatenate([x, y]), distance)
    sizes = np.array([len(x), len(y)], np.int64)
    pair, one = np.array([[0, 1]], np.int64), np.array([0, 1], np.int64)
    offsets = np.array([0, len(x)], np.int64)
    costs = abx_dtw.frame_costs(prepared, offsets, sizes, pair, one[:1], one[1:], distance)
    return costs.reshape(len(x), len(y))


def pair_distances(
    items: Items, pairs: np.ndarray, distance: str, chunk: int | None = None
) -> np.ndarray:
    """DTW distance of each item pair (rows of ``pairs``, (P, 2) indices)."""
    return abx_dtw.pair_distances(
        items.store, items.offset, items.size, np.asarray(pairs), distance, chunk
    )
