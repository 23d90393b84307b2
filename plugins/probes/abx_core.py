"""ABX phone discrimination of frame-level latents (Schatz 2016; the ZeroSpeech
and Libri-light ABX), batched in torch.

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
divided by the length of the best path. Every DTW of the needed item pairs
runs in one batched pass over anti-diagonals (pairs padded to a common size;
a pair's cost is read at its own end cell, which padded cells cannot reach).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.plugin.alignments import PhoneInterval
from harness.plugin.probe_contracts import FrameLatents

DISTANCES = ("cosine", "kl_symmetric", "euclidean")
MODES = ("within", "across")
#: item pairs per batched DTW pass (bounds memory: pairs x frames x frames floats)
CHUNK_PAIRS = 8192
KL_EPSILON = 1e-6


@dataclass(frozen=True)
class Items:
    """The ABX items of a set of clips, in clip and tier order."""

    frames: tuple[np.ndarray, ...]
    phone: np.ndarray
    context: np.ndarray
    speaker: np.ndarray

    def __len__(self) -> int:
        return len(self.frames)


def item_frames(frames: np.ndarray, times: np.ndarray, start: float, end: float) -> np.ndarray:
    """The frames of a phone from ``start`` to ``end`` s: those whose time is inside
    it, else the one nearest its middle (the earlier of two as near). ``times``
    increase (the :class:`FrameLatents` contract), so both are binary searches."""
    low = int(np.searchsorted(times, start, side="left"))
    high = int(np.searchsorted(times, end, side="right"))
    if high > low:
        return frames[low:high]
    middle = (start + end) / 2
    after = int(np.searchsorted(times, middle))
    nearest = min(after, len(times) - 1)
    if after > 0 and (after == len(times) or middle - times[after - 1] <= times[after] - middle):
        nearest = after - 1
    return frames[nearest : nearest + 1]


def make_items(
    latents: FrameLatents,
    phones: Sequence[Sequence[PhoneInterval] | None],
    speakers: Sequence[str],
    groups: Sequence[str] | None = None,
) -> Items:
    """Every phone of every tier that has a phone before and after it.

    :param groups: per clip, a group contexts never cross (the language); none: one group.
    """
    frames, phone, context, speaker = [], [], [], []
    for clip, tier in enumerate(phones):
        if not tier:
            continue
        group = "" if groups is None else str(groups[clip])
        for k in range(1, len(tier) - 1):
            centre = tier[k]
            cut = item_frames(latents.frames[clip], latents.times[clip], centre.start, centre.end)
            frames.append(cut)
            phone.append(centre.phone)
            context.append(f"{group}|{tier[k - 1].phone}_{tier[k + 1].phone}")
            speaker.append(str(speakers[clip]))
    return Items(
        tuple(frames), np.array(phone, str), np.array(context, str), np.array(speaker, str)
    )


def cap_items(items: Items, max_items: int | None, seed: int) -> Items:
    """At most ``max_items`` items of each (context, phone, speaker), a seeded
    subsample (the same items for the same seed), in their original order."""
    if max_items is None:
        return items
    rng = np.random.default_rng(seed)
    keep: list[int] = []
    for _, members in sorted(_groups(items).items()):
        if len(members) > max_items:
            members = sorted(rng.choice(members, size=max_items, replace=False).tolist())
        keep += members
    keep.sort()
    return Items(
        tuple(items.frames[i] for i in keep),
        items.phone[keep],
        items.context[keep],
        items.speaker[keep],
    )


def _groups(items: Items) -> dict[tuple[str, str, str], list[int]]:
    out: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i in range(len(items)):
        out[(str(items.context[i]), str(items.phone[i]), str(items.speaker[i]))].append(i)
    return out


def frame_distances(x: torch.Tensor, y: torch.Tensor, distance: str) -> torch.Tensor:
    """(P, N, M) distances between the frames of x (P, N, D) and y (P, M, D)."""
    return _distances(_prepare(x, distance), _prepare(y, distance), distance)


def _prepare(frames: torch.Tensor, distance: str) -> tuple[torch.Tensor, ...]:
    """What :func:`_distances` needs of each frame, computed once per frame
    (not once per pair): the unit vector (cosine); the frame, its log and its
    negative entropy (KL); the frame (euclidean)."""
    if distance == "cosine":
        return (frames / frames.norm(dim=-1, keepdim=True).clamp_min(1e-12),)
    if distance == "kl_symmetric":
        log = (frames + KL_EPSILON).log()
        return frames, log, (frames * log).sum(-1, keepdim=True)
    if distance == "euclidean":
        return (frames,)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def _distances(
    x: tuple[torch.Tensor, ...], y: tuple[torch.Tensor, ...], distance: str
) -> torch.Tensor:
    """(P, N, M) frame distances from prepared frames (:func:`_prepare`)."""
    if distance == "cosine":
        return torch.bmm(x[0], y[0].transpose(1, 2)).clamp(-1.0, 1.0).acos() / math.pi
    if distance == "kl_symmetric":
        # 0.5 KL(p||q) + 0.5 KL(q||p) = 0.5 sum (p - q)(log(p + e) - log(q + e))
        own = x[2] + y[2].transpose(1, 2)
        cross = torch.bmm(x[0], y[1].transpose(1, 2)) + torch.bmm(x[1], y[0].transpose(1, 2))
        return 0.5 * (own - cross)
    return torch.cdist(x[0], y[0])


def dtw(cost: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Path-length-normalised DTW of P pairs at once: ``cost`` (P, N, M) padded,
    pair p's own size (n[p], m[p]). Steps right, down or diagonal; where two
    predecessors cost the same, diagonal, then left, then up wins (the path
    length depends on it). The recursion runs over anti-diagonals i + j = k,
    each one vectorised over rows and pairs; a diagonal is kept with one extra
    leading row of infinity, so row i - 1 of the previous one is a slice.

    The diagonals are laid out once as (K, N, P), pairs last, so every step
    reads and writes contiguous blocks: a strided view of the cost with an
    infinite margin to its right (row i shifted i places, so a cell left of
    column 0 reads the previous row's margin), copied. Three buffers take
    turns as the diagonals k - 2, k - 1 and k."""
    pairs, rows, cols = cost.shape
    width = rows + cols
    padded = torch.full((pairs, rows, width), math.inf, dtype=cost.dtype, device=cost.device)
    padded[:, :, :cols] = cost
    skew = padded.as_strided((pairs, width - 1, rows), (rows * width, 1, width - 1))
    skew = skew.permute(1, 2, 0).contiguous()  # (K, N, P)
    like = {"dtype": cost.dtype, "device": cost.device}
    costs = [torch.full((rows + 1, pairs), math.inf, **like) for _ in range(3)]
    lengths = [torch.zeros((rows + 1, pairs), **like) for _ in range(3)]
    out = torch.full((pairs,), math.nan, **like)
    ends = (n + m - 2).cpu().numpy()
    by_end = np.argsort(ends, kind="stable")
    bounds = np.searchsorted(ends[by_end], np.arange(width), side="left")
    end_row = torch.as_tensor(n, device=cost.device)  # row n - 1, one down for the margin
    for step in range(width - 1):
        cur, prev, prev2 = (costs[(step - o) % 3] for o in range(3))
        cur_l, prev_l, prev2_l = (lengths[(step - o) % 3] for o in range(3))
        if step == 0:
            cur[1:] = skew[0]
            cur_l[1:] = 1.0
        else:
            left, up, diag = prev[1:], prev[:-1], prev2[:-1]
            best = torch.minimum(diag, left)
            torch.minimum(best, up, out=best)
            steps = torch.where(left == best, prev_l[1:], prev_l[:-1])
            steps = torch.where(diag == best, prev2_l[:-1], steps)
            torch.add(skew[step], best, out=cur[1:])
            torch.add(steps, 1.0, out=cur_l[1:])
        done = by_end[bounds[step] : bounds[step + 1]]
        if len(done):
            at = torch.from_numpy(done).to(cost.device)
            out[at] = cur[end_row[at], at] / cur_l[end_row[at], at]
    return out


def pair_distances(
    items: Items, pairs: np.ndarray, distance: str, chunk: int = CHUNK_PAIRS
) -> np.ndarray:
    """DTW distance of each item pair (rows of ``pairs``, (P, 2) indices), in
    chunks of similar sizes so little is padded. Each frame is prepared for
    the distance once (:func:`_prepare`), then gathered from one flat array of
    every item's frames (a padded position repeats the item's last frame; no
    path to the pair's end cell reaches it)."""
    out = np.empty(len(pairs), np.float64)
    if not len(pairs):
        return out
    sizes = np.array([len(f) for f in items.frames])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    with torch.no_grad():
        flat = torch.from_numpy(np.concatenate(items.frames).astype(np.float32, copy=False))
        prepared = _prepare(flat, distance)
        n, m = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
        order = np.lexsort((m, n))
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            x = _gather(prepared, offsets, sizes, pairs[part, 0], int(n[part].max()))
            y = _gather(prepared, offsets, sizes, pairs[part, 1], int(m[part].max()))
            cost = _distances(x, y, distance)
            found = dtw(cost, torch.from_numpy(n[part]), torch.from_numpy(m[part]))
            out[part] = found.double().numpy()
    return out


def _gather(
    prepared: tuple[torch.Tensor, ...],
    offsets: np.ndarray,
    sizes: np.ndarray,
    which: np.ndarray,
    length: int,
) -> tuple[torch.Tensor, ...]:
    """(len(which), length, ...) prepared frames of items ``which``, each padded
    with its last frame."""
    step = np.minimum(np.arange(length)[None, :], sizes[which][:, None] - 1)
    index = torch.from_numpy((offsets[which][:, None] + step).reshape(-1))
    return tuple(t.index_select(0, index).view(len(which), length, t.shape[-1]) for t in prepared)
