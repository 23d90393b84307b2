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
    it, else the one nearest its middle."""
    inside = (times >= start) & (times <= end)
    if inside.any():
        return frames[inside]
    nearest = int(np.argmin(np.abs(times - (start + end) / 2)))
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
    if distance == "cosine":
        xn = x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        yn = y / y.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return torch.bmm(xn, yn.transpose(1, 2)).clamp(-1.0, 1.0).acos() / math.pi
    if distance == "kl_symmetric":
        # 0.5 KL(p||q) + 0.5 KL(q||p) = 0.5 sum (p - q)(log(p + e) - log(q + e))
        lx, ly = (x + KL_EPSILON).log(), (y + KL_EPSILON).log()
        own = (x * lx).sum(-1)[:, :, None] + (y * ly).sum(-1)[:, None, :]
        cross = torch.bmm(x, ly.transpose(1, 2)) + torch.bmm(lx, y.transpose(1, 2))
        return 0.5 * (own - cross)
    if distance == "euclidean":
        return torch.cdist(x, y)
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def dtw(cost: torch.Tensor, n: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Path-length-normalised DTW of P pairs at once: ``cost`` (P, N, M) padded,
    pair p's own size (n[p], m[p]). Steps right, down or diagonal; where two
    predecessors cost the same, diagonal, then left, then up wins (the path
    length depends on it). The recursion runs over anti-diagonals i + j = k,
    each one vectorised over pairs and rows; a diagonal is kept with one extra
    leading column of infinity, so row i - 1 of the previous one is a slice."""
    pairs, rows, cols = cost.shape
    i = torch.arange(rows, device=cost.device)
    k = torch.arange(rows + cols - 1, device=cost.device)
    j = k[:, None] - i[None, :]  # (K, N): the column of row i on diagonal k
    valid = (j >= 0) & (j < cols)
    # every diagonal's costs at once, (P, K, N); cells off the matrix are infinite
    skew = cost[:, i[None, :].expand_as(j), j.clamp(0, cols - 1)]
    skew = skew.masked_fill(~valid, math.inf)
    ends = (n + m - 2).to(cost.device)
    last_row = (n - 1).to(cost.device)
    out = torch.full((pairs,), math.nan, dtype=cost.dtype, device=cost.device)
    prev = torch.full((pairs, rows + 1), math.inf, dtype=cost.dtype, device=cost.device)
    prev_l = torch.zeros((pairs, rows + 1), dtype=cost.dtype, device=cost.device)
    prev2, prev2_l = prev.clone(), prev_l.clone()
    for step in range(rows + cols - 1):
        cur = torch.full_like(prev, math.inf)
        cur_l = torch.ones_like(prev_l)
        if step == 0:
            cur[:, 1:] = skew[:, 0]
        else:
            left, up, diag = prev[:, 1:], prev[:, :-1], prev2[:, :-1]
            best = torch.minimum(torch.minimum(diag, left), up)
            take_diag = diag == best
            take_left = ~take_diag & (left == best)
            steps = torch.where(
                take_diag, prev2_l[:, :-1], torch.where(take_left, prev_l[:, 1:], prev_l[:, :-1])
            )
            cur[:, 1:] = skew[:, step] + best
            cur_l[:, 1:] = steps + 1
        done = torch.nonzero(ends == step).flatten()
        if len(done):
            at = last_row[done] + 1
            out[done] = cur[done, at] / cur_l[done, at]
        prev2, prev2_l, prev, prev_l = prev, prev_l, cur, cur_l
    return out


def pair_distances(
    items: Items, pairs: np.ndarray, distance: str, chunk: int = CHUNK_PAIRS
) -> np.ndarray:
    """DTW distance of each item pair (rows of ``pairs``, (P, 2) indices), in
    chunks of similar sizes so little is padded. Frames are gathered from one
    flat array of every item's frames (a padded position repeats the item's
    last frame; no path to the pair's end cell reaches it)."""
    out = np.empty(len(pairs), np.float64)
    if not len(pairs):
        return out
    sizes = np.array([len(f) for f in items.frames])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    flat = torch.from_numpy(np.concatenate(items.frames).astype(np.float32, copy=False))
    n, m = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    order = np.lexsort((m, n))
    with torch.no_grad():
        for start in range(0, len(order), chunk):
            part = order[start : start + chunk]
            x = _gather(flat, offsets, sizes, pairs[part, 0], int(n[part].max()))
            y = _gather(flat, offsets, sizes, pairs[part, 1], int(m[part].max()))
            cost = frame_distances(x, y, distance)
            found = dtw(cost, torch.from_numpy(n[part]), torch.from_numpy(m[part]))
            out[part] = found.double().numpy()
    return out


def _gather(
    flat: torch.Tensor, offsets: np.ndarray, sizes: np.ndarray, which: np.ndarray, length: int
) -> torch.Tensor:
    """(len(which), length, D) frames of items ``which``, each padded with its last frame."""
    step = np.minimum(np.arange(length)[None, :], sizes[which][:, None] - 1)
    return flat[torch.from_numpy(offsets[which][:, None] + step)]
