"""DTW distances of ABX item pairs (definitions in :mod:`harness_plugins.probes.abx_core`),
compiled with numba.

d is dynamic time warping over a frame distance (``cosine``: the angle over
pi, as ZeroSpeech; ``kl_symmetric`` for posteriorgrams; ``euclidean``),
divided by the length of the best path; where two predecessors cost the same,
diagonal, then left, then up wins (the path length depends on it).

The pairs are sorted into tiles of up to :data:`TILE` pairs of one shape
(n x m frames), the tiles into chunks. Three passes per chunk, each over one
flat float32 array of the chunk's frame costs laid out tile by tile (cell q
of a tile's lane g at q * width + g): a compiled loop fills it (a frame dot
product of prepared frames, so each frame is normalised, or its log taken,
once, not once per pair), torch finishes cosine's ``acos`` in place
(vectorised; a scalar ``acos`` per cell cost as much as the rest together),
and a compiled loop runs the DTW recursion of a tile's pairs side by side,
one SIMD lane each, with nothing padded (:mod:`harness_plugins.probes.abx_kernels`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from harness_plugins.probes import abx_kernels
from harness_plugins.probes.abx_kernels import DOT, EUCLIDEAN, KL

DISTANCES = ("cosine", "kl_symmetric", "euclidean")
KL_EPSILON = 1e-6
#: frame costs per chunk (float32: 4 MiB, so a chunk's three passes stay in cache)
CHUNK_CELLS = 1 << 20
#: pairs of one shape the DTW kernel steps through at once (SIMD lanes)
TILE = 64


def prepare(frames: np.ndarray, distance: str) -> tuple[np.ndarray, ...]:
    """What the cost kernel reads of each frame, computed once per frame:
    (u, v, hu, hv) with cost = u_f . v_g (cosine: unit vectors),
    0.5 (hu_f + hv_g - u_f . v_g) (KL: u = [p, log p], v = [log q, q], h the
    negative entropy), or |u_f - v_g| (euclidean)."""
    x = torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32))
    none = np.zeros(len(x), np.float32)
    if distance == "cosine":
        norm = x.norm(dim=-1, keepdim=True).clamp_min(1e-12).numpy()
        unit = np.divide(x.numpy(), norm, out=np.empty(x.shape, np.float32))  # SIMD, unlike torch
        return unit, unit, none, none
    if distance == "kl_symmetric":
        log = (x + KL_EPSILON).log()
        entropy = (x * log).sum(-1).numpy()
        # 0.5 KL(p||q) + 0.5 KL(q||p) = 0.5 sum (p - q)(log(p + e) - log(q + e))
        u = torch.cat([x, log], dim=1).numpy()
        v = torch.cat([log, x], dim=1).numpy()
        return u, v, entropy, entropy
    if distance == "euclidean":
        plain = x.numpy()
        return plain, plain, none, none
    raise ValueError(f"distance must be one of {DISTANCES}, got {distance!r}")


def _kind(distance: str) -> int:
    return {"cosine": DOT, "kl_symmetric": KL, "euclidean": EUCLIDEAN}[distance]


@dataclass(frozen=True)
class Tiles:
    """Pairs in tiles of one shape (at most ``TILE`` each), the layout the DTW
    kernel reads: ``order`` sorts the pairs by shape; in that order pair k's
    costs begin at ``starts[k]`` with stride ``strides[k]`` (its tile's width);
    tile t begins at cell ``start[t]``, holds ``width[t]`` pairs of
    ``rows[t]`` x ``cols[t]`` frames."""

    order: np.ndarray
    starts: np.ndarray
    strides: np.ndarray
    start: np.ndarray
    width: np.ndarray
    rows: np.ndarray
    cols: np.ndarray

    @classmethod
    def of(cls, n: np.ndarray, m: np.ndarray) -> Tiles:
        """Tiles of pairs of shapes n x m (pairs of one shape keep their order)."""
        shape = n * (int(m.max(initial=0)) + 1) + m
        # a stable sort of small integers is numpy's radix sort
        small = np.uint16 if shape.max(initial=0) < 1 << 16 else np.int64
        order = np.argsort(shape.astype(small), kind="stable")
        n, m, shape = n[order], m[order], shape[order]
        shape_new = np.ones(len(n), bool)
        shape_new[1:] = shape[1:] != shape[:-1]
        shape_first = np.flatnonzero(shape_new)
        rank = np.arange(len(n)) - shape_first[np.cumsum(shape_new) - 1]
        new = shape_new | (rank % TILE == 0)
        first = np.flatnonzero(new)
        width = np.diff(np.append(first, len(n)))
        cells = n[first] * m[first] * width
        start = np.cumsum(cells) - cells
        tile = np.cumsum(new) - 1
        starts = start[tile] + np.arange(len(n)) - first[tile]
        return cls(order, starts, width[tile], start, width, n[first], m[first])


def frame_costs(
    prepared: tuple[np.ndarray, ...],
    offsets: np.ndarray,
    sizes: np.ndarray,
    pairs: np.ndarray,
    starts: np.ndarray,
    strides: np.ndarray,
    distance: str,
) -> np.ndarray:
    """The frame costs of ``pairs``, flat: frame r of pair p's first item and
    frame c of its second at ``starts[p] + (r * m + c) * strides[p]``."""
    last = starts + (sizes[pairs[:, 0]] * sizes[pairs[:, 1]] - 1) * strides
    out = np.empty(int(last.max()) + 1 if len(pairs) else 0, np.float32)
    abx_kernels.frame_costs(_kind(distance), *prepared, offsets, sizes, pairs, starts, strides, out)
    if distance == "cosine":
        angles = torch.from_numpy(out)
        angles.acos_().div_(math.pi)  # the kernel clamped the cosines
    return out


def pair_distances(
    frames: np.ndarray,
    offsets: np.ndarray,
    sizes: np.ndarray,
    pairs: np.ndarray,
    distance: str,
    chunk: int | None = None,
) -> np.ndarray:
    """DTW distance of each item pair (rows of ``pairs``, (P, 2) item indices):
    item i's frames are ``frames[offsets[i] : offsets[i] + sizes[i]]``. The
    pairs go in tiles of one shape, the tiles in chunks of about ``chunk`` costs
    (default :data:`CHUNK_CELLS`)."""
    chunk = chunk or CHUNK_CELLS
    out = np.empty(len(pairs), np.float64)
    if not len(pairs):
        return out
    offsets = np.ascontiguousarray(offsets, np.int64)
    sizes = np.ascontiguousarray(sizes, np.int64)
    prepared = prepare(frames, distance)
    tiles = Tiles.of(sizes[pairs[:, 0]], sizes[pairs[:, 1]])
    ordered = np.ascontiguousarray(pairs[tiles.order], np.int64)
    ends = np.cumsum(tiles.rows * tiles.cols * tiles.width)
    first_pair = np.append(np.cumsum(tiles.width) - tiles.width, len(pairs))
    cuts = np.searchsorted(ends, np.arange(chunk, int(ends[-1]), chunk), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(ends)]]))
    found = np.empty(len(pairs), np.float32)
    for t0, t1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        p0, p1, base = first_pair[t0], first_pair[t1], tiles.start[t0]
        costs = frame_costs(
            prepared, offsets, sizes, ordered[p0:p1],
            tiles.starts[p0:p1] - base, tiles.strides[p0:p1], distance,
        )  # fmt: skip
        span = slice(t0, t1)
        abx_kernels.dtw_tiles(
            costs, tiles.start[span] - base, tiles.width[span],
            tiles.rows[span], tiles.cols[span], found[p0:p1],
        )  # fmt: skip
    out[tiles.order] = found
    return out
