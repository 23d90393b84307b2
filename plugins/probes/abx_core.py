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
from dataclasses import dataclass, replace

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
    (every clip's frames, so cutting and capping items copies no frame); its
    phone, context and speaker are codes into sorted names (so sorted codes
    are sorted names)."""

    store: np.ndarray
    offset: np.ndarray
    size: np.ndarray
    phone_code: np.ndarray
    context_code: np.ndarray
    speaker_code: np.ndarray
    phones: np.ndarray
    contexts: np.ndarray
    speakers: np.ndarray

    def __len__(self) -> int:
        return len(self.size)

    @classmethod
    def of_frames(
        cls, frames: Sequence[np.ndarray], phone: Sequence[str], context: Sequence[str],
        speaker: Sequence[str],
    ) -> Items:  # fmt: skip
        """Items of the given frames (one array each) and names."""
        size = np.array([len(f) for f in frames], np.int64)
        store = np.concatenate(frames) if len(frames) else np.zeros((0, 1))
        (phones, p), (contexts, c), (speakers, s) = (encode(x) for x in (phone, context, speaker))
        return cls(
            _float32(store), np.cumsum(size) - size, size, p, c, s, phones, contexts, speakers
        )

    @property
    def phone(self) -> np.ndarray:
        return self.phones[self.phone_code]

    @property
    def context(self) -> np.ndarray:
        return self.contexts[self.context_code]

    @property
    def speaker(self) -> np.ndarray:
        return self.speakers[self.speaker_code]

    @property
    def frames(self) -> tuple[np.ndarray, ...]:
        """Each item's frames (views of the store)."""
        return tuple(self.store[o : o + n] for o, n in zip(self.offset, self.size, strict=True))

    def take(self, index: np.ndarray) -> Items:
        """The items ``index``, in that order."""
        return replace(
            self, offset=self.offset[index], size=self.size[index],
            phone_code=self.phone_code[index], context_code=self.context_code[index],
            speaker_code=self.speaker_code[index],
        )  # fmt: skip


def encode(values: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct names and each value's code (its name's rank)."""
    names, codes = np.unique(np.asarray(values, str), return_inverse=True)
    return names, codes.reshape(-1).astype(np.int64)


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
    names: list[str] = []  # every phone of every tier with three or more
    tiers: list[int] = []  # those tiers' clips
    lengths = np.array([len(f) for f in latents.frames], np.int64)
    first = np.cumsum(lengths) - lengths
    for clip, tier in enumerate(phones):
        if not tier or len(tier) < 3:
            continue
        names += [interval.phone for interval in tier]
        tiers.append(clip)
        bounds = np.array([(interval.start, interval.end) for interval in tier[1:-1]], float)
        low, high = _cuts(np.asarray(latents.times[clip]), bounds[:, 0], bounds[:, 1])
        offset.append(first[clip] + low)
        size.append(high - low)
    store = _float32(np.concatenate(latents.frames) if len(latents.frames) else np.zeros((0, 1)))
    if not tiers:
        none = np.zeros(0, np.int64)
        return Items(store, none, none, none, none, none, *(np.zeros(0, str),) * 3)
    phone_names, phone = encode(names)
    # each tier's phones but its first and last are items, in the middle of their neighbours
    tier_length = np.array([len(phones[clip] or ()) for clip in tiers], np.int64)
    centre = np.ones(len(names), bool)
    ends = np.cumsum(tier_length)
    centre[ends - tier_length] = centre[ends - 1] = False
    at = np.flatnonzero(centre)
    per_tier = tier_length - 2
    group_names, group = encode(["" if groups is None else str(groups[c]) for c in tiers])
    speaker_names, speaker = encode([str(speakers[c]) for c in tiers])
    context_names, context = _contexts(
        np.repeat(group, per_tier), phone[at - 1], phone[at + 1], group_names, phone_names
    )
    return Items(
        store, np.concatenate(offset).astype(np.int64), np.concatenate(size).astype(np.int64),
        phone[at], context, np.repeat(speaker, per_tier), phone_names, context_names,
        speaker_names,
    )  # fmt: skip


def _contexts(
    group: np.ndarray, before: np.ndarray, after: np.ndarray, groups: np.ndarray, phones: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each item's context ``group|before_after``, as sorted names and codes; the
    names are written once per distinct context (equal names are one context)."""
    n = max(len(phones), 1)
    keys, index = np.unique((group * n + before) * n + after, return_inverse=True)
    g, rest = np.divmod(keys, n * n)
    written = [
        f"{groups[a]}|{phones[b]}_{phones[c]}"
        for a, b, c in zip(g.tolist(), (rest // n).tolist(), (rest % n).tolist(), strict=True)
    ]
    names, code = encode(written)
    return names, code[index.reshape(-1)]


def cap_items(items: Items, max_items: int | None, seed: int) -> Items:
    """At most ``max_items`` items of each (context, phone, speaker), a seeded
    subsample (the same items for the same seed), in their original order. The
    groups over the cap draw in sorted (context, phone, speaker) order."""
    if max_items is None or not len(items):
        return items
    codes = [items.context_code, items.phone_code, items.speaker_code]
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
    offsets = np.array([0, len(x)], np.int64)
    costs = abx_dtw.frame_costs(prepared, offsets, sizes, np.array([[0, 1]]), distance)
    return costs.reshape(len(x), len(y))


def pair_distances(
    items: Items, pairs: np.ndarray, distance: str, chunk: int | None = None
) -> np.ndarray:
    """DTW distance of each item pair (rows of ``pairs``, (P, 2) indices)."""
    return abx_dtw.pair_distances(
        items.store, items.offset, items.size, np.asarray(pairs), distance, chunk
    )
