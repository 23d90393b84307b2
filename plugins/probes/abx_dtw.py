"""DTW distances of ABX item pairs (definitions in :mod:`harness_plugins.probes.abx_core`),
compiled with numba.

d is dynamic time warping over a frame distance (``cosine``: the angle over
pi, as ZeroSpeech; ``kl_symmetric`` for posteriorgrams; ``euclidean``),
divided by the length of the best path; where two predecessors cost the same,
diagonal, then left, then up wins (the path length depends on it).

The pairs go in chunks of about :data:`CHUNK_CELLS` frame costs, in their
order (the probe's order, block by block, so a chunk's items are few and
stay in cache). Per chunk, each pair's costs row-major, one pair after
another: its frame dot products are one BLAS matrix product of its items'
prepared frames (``sgemm`` of scipy's OpenBLAS, called from a compiled loop,
one thread; each frame normalised, or its log taken, once), numpy finishes
cosine's ``acos`` in place (vectorised), and a compiled loop copies the
pairs of one shape into tiles of up to :data:`TILE`, cell-major, and runs
their DTW recursions side by side, one SIMD lane each, with nothing padded
(:mod:`harness_plugins.probes.abx_kernels`). Euclidean costs are computed
from the frames' differences (the dot-product form loses small distances).
"""

from __future__ import annotations

import ctypes
import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from harness_plugins.probes import abx_kernels

DISTANCES = ("cosine", "kl_symmetric", "euclidean")
KL_EPSILON = 1e-6
#: frame costs per chunk (float32: 4 MiB, so a chunk's passes stay in cache)
CHUNK_CELLS = 1 << 20
#: pairs of one shape the DTW kernel steps through at once (SIMD lanes)
TILE = 64


def prepare(frames: np.ndarray, distance: str) -> tuple[np.ndarray, ...]:
    """What the cost kernels read of each frame, computed once per frame:
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


@dataclass(frozen=True)
class Tiles:
    """Pairs in tiles of one shape (at most ``TILE`` each), the order the DTW
    kernel reads them in: ``order`` sorts the pairs by shape; tile t is the
    next ``width[t]`` pairs in that order, of ``rows[t]`` x ``cols[t]`` frames."""

    order: np.ndarray
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
        first = np.flatnonzero(shape_new | (rank % TILE == 0))
        return cls(order, np.diff(np.append(first, len(n))), n[first], m[first])


@functools.cache
def _sgemm() -> ctypes._CFuncPtr:
    """scipy's BLAS ``sgemm`` (Fortran calling convention), which the compiled
    loop calls (an argument, not a global, so numba can cache the loop)."""
    from numba.extending import get_cython_function_address

    address = get_cython_function_address("scipy.linalg.cython_blas", "sgemm")
    return ctypes.CFUNCTYPE(None, *(ctypes.c_void_p,) * 13)(address)


def frame_costs(
    prepared: tuple[np.ndarray, ...],
    offsets: np.ndarray,
    sizes: np.ndarray,
    pairs: np.ndarray,
    distance: str,
) -> np.ndarray:
    """The frame costs of ``pairs``, one pair after another, each row-major
    (frame r of its first item, c of its second)."""
    return _costs(prepared, offsets, sizes, pairs, distance, _starts(sizes, pairs))


def _starts(sizes: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """Where each pair's costs begin, one pair after another."""
    cells = sizes[pairs[:, 0]] * sizes[pairs[:, 1]]
    return np.cumsum(cells) - cells


def _costs(
    prepared: tuple[np.ndarray, ...],
    offsets: np.ndarray,
    sizes: np.ndarray,
    pairs: np.ndarray,
    distance: str,
    starts: np.ndarray,
) -> np.ndarray:
    """The frame costs of ``pairs`` written from ``starts`` (:func:`_starts`)."""
    out = np.empty(int((sizes[pairs[:, 0]] * sizes[pairs[:, 1]]).sum()), np.float32)
    if distance == "euclidean":
        abx_kernels.euclidean_costs(prepared[0], offsets, sizes, pairs, starts, out)
        return out
    kind = abx_kernels.KL if distance == "kl_symmetric" else abx_kernels.DOT
    abx_kernels.pair_costs(_sgemm(), kind, *prepared, offsets, sizes, pairs, starts, out)
    if distance == "cosine":
        np.arccos(out, out=out)  # numpy's SIMD acos: 4x torch's here
        np.divide(out, np.float32(math.pi), out=out)
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
    pairs go in chunks of about ``chunk`` costs (default :data:`CHUNK_CELLS`),
    in their order; each chunk's in tiles of one shape for the DTW."""
    chunk = chunk or CHUNK_CELLS
    out = np.empty(len(pairs), np.float64)
    if not len(pairs):
        return out
    offsets = np.ascontiguousarray(offsets, np.int64)
    sizes = np.ascontiguousarray(sizes, np.int64)
    pairs = np.ascontiguousarray(pairs, np.int64)
    ends = np.cumsum(sizes[pairs[:, 0]] * sizes[pairs[:, 1]])
    cuts = np.searchsorted(ends, np.arange(chunk, int(ends[-1]), chunk), side="right")
    bounds = np.unique(np.concatenate([[0], cuts, [len(pairs)]]))
    prepared = prepare(frames, distance)
    # one small product per pair: BLAS threads would cost far more than they gain
    with threadpool_limits(1, user_api="blas"):
        for p0, p1 in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            out[p0:p1] = _chunk(prepared, offsets, sizes, pairs[p0:p1], distance)
    return out


def _chunk(
    prepared: tuple[np.ndarray, ...],
    offsets: np.ndarray,
    sizes: np.ndarray,
    pairs: np.ndarray,
    distance: str,
) -> np.ndarray:
    """The DTW distances of one chunk's pairs."""
    starts = _starts(sizes, pairs)
    costs = _costs(prepared, offsets, sizes, pairs, distance, starts)
    n, m = sizes[pairs[:, 0]], sizes[pairs[:, 1]]
    tiles = Tiles.of(n, m)
    found = np.empty(len(pairs), np.float32)
    abx_kernels.dtw_tiles(costs, starts[tiles.order], tiles.width, tiles.rows, tiles.cols, found)
    out = np.empty(len(pairs), np.float32)
    out[tiles.order] = found
    return out
