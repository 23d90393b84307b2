"""The compiled loops of the ABX probe (numba): frame costs (dot products
through BLAS), DTW, and the seeded draw of X speakers. Callers:
:mod:`harness_plugins.probes.abx_dtw`, :mod:`harness_plugins.probes.abx_cells`.

Each is a plain loop over arrays of numbers, compiled once and cached on
disk (numba's ``cache=True``), so a process loads it instead of compiling it
again. numba comes with librosa, which the feature front end uses.
"""

from __future__ import annotations

import math

import numba
import numpy as np

#: what :func:`pair_costs` makes of a dot product of two prepared frames
DOT, KL = 0, 1


def _jit(**options: object):
    """numba's ``njit``, cached on disk where numba can write a cache, else not."""

    def decorate(function):
        try:
            return numba.njit(cache=True, nogil=True, **options)(function)
        except RuntimeError:  # no writable cache location: compile once per process
            return numba.njit(nogil=True, **options)(function)

    return decorate


@_jit()
def pair_costs(gemm, kind, u, v, hu, hv, offsets, sizes, pairs, starts, out):
    """out[starts[p] + r * m + c]: the cost of frame r of pair p's first item
    and frame c of its second (m frames). Their dot products are one matrix
    product per pair, ``u[first item's rows] @ v[second item's rows].T``, a
    BLAS call (``gemm``: a Fortran ``sgemm``) that writes them in place;
    ``kind`` says what a dot product becomes (:data:`DOT`: the cosine, clamped
    to [-1, 1] for acos; :data:`KL`: 0.5 (hu + hv - dot))."""
    dims = u.shape[1]
    flags = np.array([ord("T"), ord("N")], np.uint8)
    # by reference, as Fortran takes them: m, n, k, lda, ldb, ldc; alpha, beta
    ints = np.full(6, dims, np.int32)
    scale = np.array([1.0, 0.0], np.float32)
    at_flags, at_ints, at_scale = flags.ctypes.data, ints.ctypes.data, scale.ctypes.data
    row_bytes, cell_bytes = dims * u.itemsize, out.itemsize
    low, high, half = np.float32(-1.0), np.float32(1.0), np.float32(0.5)
    for p in range(pairs.shape[0]):
        fi, fj = offsets[pairs[p, 0]], offsets[pairs[p, 1]]
        n, m = sizes[pairs[p, 0]], sizes[pairs[p, 1]]
        if n == 0 or m == 0:  # no cost; BLAS refuses an empty product
            continue
        ints[0] = ints[5] = m
        ints[1] = n
        # column-major: the m x n product (v's rows).T (u's rows) is row-major n x m
        gemm(
            at_flags, at_flags + 1, at_ints, at_ints + 4, at_ints + 8, at_scale,
            v.ctypes.data + fj * row_bytes, at_ints + 12, u.ctypes.data + fi * row_bytes,
            at_ints + 16, at_scale + 4, out.ctypes.data + starts[p] * cell_bytes, at_ints + 20,
        )  # fmt: skip
        costs = out[starts[p] : starts[p] + n * m]
        if kind == KL:
            for r in range(n):
                for c in range(m):
                    costs[r * m + c] = half * ((hu[fi + r] + hv[fj + c]) - costs[r * m + c])
        else:  # one loop over the pair's costs, which LLVM vectorises
            for q in range(n * m):
                costs[q] = min(max(costs[q], low), high)
    return out


# reassociating the sums lets LLVM vectorise them (float32 rounding moves)
@_jit(fastmath={"reassoc", "contract"})
def euclidean_costs(u, offsets, sizes, pairs, starts, out):
    """out[starts[p] + r * m + c]: the euclidean distance of frame r of pair
    p's first item and frame c of its second (rows of ``u``), from their
    differences (the dot-product form loses the small distances)."""
    dims = u.shape[1]
    for p in range(pairs.shape[0]):
        fi, fj = offsets[pairs[p, 0]], offsets[pairs[p, 1]]
        n, m = sizes[pairs[p, 0]], sizes[pairs[p, 1]]
        for r in range(n):
            for c in range(m):
                total = np.float32(0.0)
                for k in range(dims):
                    step = u[fi + r, k] - u[fj + c, k]
                    total += step * step
                out[starts[p] + r * m + c] = np.float32(math.sqrt(total))
    return out


@_jit()
def dtw_tiles(costs, starts, width, rows, cols, out):
    """The DTW of every pair, over the length of the path, in tiles: tile t
    holds the next ``width[t]`` pairs (pair k's costs row-major from
    ``starts[k]``), all of rows[t] x cols[t] frames. A tile's costs are copied
    cell-major (cell q of lane g at q * width + g), so each step runs over the
    lanes with no dependence between them and compiles to SIMD compares and
    selects (exact: no float reassociation). The costs are summed in float32;
    ``out[k]`` takes pair k's distance."""
    widest = 1
    for t in range(width.shape[0]):
        widest = max(widest, rows[t] * cols[t] * width[t])
    total = np.empty(widest, np.float32)
    length = np.empty(widest, np.float32)
    one = np.float32(1.0)
    done = 0
    for t in range(width.shape[0]):
        n, m, w = rows[t], cols[t], width[t]
        for g in range(w):  # each pair's costs read in order, the tile written in cache
            pair = costs[starts[done + g] : starts[done + g] + n * m]
            for q in range(n * m):
                total[q * w + g] = pair[q]
        length[:w] = one
        for q in range(1, n * m):
            r, c = q // m, q % m
            here, path = total[q * w : q * w + w], length[q * w : q * w + w]
            if r == 0 or c == 0:  # the first row (from the left) or column (from above)
                before = q - 1 if r == 0 else q - m
                _extend(here, path, total[before * w : before * w + w], length[before * w :])
                continue
            diag, left, up = (q - m - 1) * w, (q - 1) * w, (q - m) * w
            _step(
                here, path,
                total[diag : diag + w], length[diag : diag + w],
                total[left : left + w], length[left : left + w],
                total[up : up + w], length[up : up + w],
            )  # fmt: skip
        last = (n * m - 1) * w
        for g in range(w):
            out[done + g] = total[last + g] / length[last + g]
        done += w
    return out


@_jit(inline="always")
def _extend(here, path, cost, steps):
    """One cell of every lane from its only predecessor."""
    for g in range(here.shape[0]):
        here[g] += cost[g]
        path[g] = steps[g] + np.float32(1.0)


@_jit(inline="always")
def _step(here, path, diag, diag_n, left, left_n, up, up_n):
    """One cell of every lane: the cheapest predecessor; equal costs keep the
    diagonal, then left, then up. Slices indexed from 0 by a loop counter let
    LLVM drop numba's negative-index check and vectorise the loop."""
    for g in range(here.shape[0]):
        best, steps = diag[g], diag_n[g]
        cost, count = left[g], left_n[g]
        cheaper = cost < best
        best = np.float32(cost if cheaper else best)
        steps = np.float32(count if cheaper else steps)
        cost, count = up[g], up_n[g]
        cheaper = cost < best
        best = np.float32(cost if cheaper else best)
        steps = np.float32(count if cheaper else steps)
        here[g] += best
        path[g] = steps + np.float32(1.0)


@_jit()
def draw_others(rng, first, count, max_x, out):
    """For each context (units ``first[c]`` to ``first[c] + count[c] - 1``) and
    each of its speakers s in order, ``max_x`` of the other speakers, one row
    (s, other) of ``out`` each. The draw is Floyd's algorithm and a
    Fisher-Yates shuffle over ``rng.integers``: the draws of numpy's
    ``rng.choice(count - 1, max_x, replace=False)``, which the probe made
    before, without its cost per call (tests/test_abx_cells.py pins them)."""
    chosen = np.empty(max_x, np.int64)
    row = 0
    for c in range(first.shape[0]):
        others = count[c] - 1
        for s in range(count[c]):
            for t in range(max_x):
                top = others - max_x + t
                pick = rng.integers(0, top, endpoint=True)
                for before in range(t):
                    if chosen[before] == pick:
                        pick = top  # drawn already: take the top, which cannot be
                        break
                chosen[t] = pick
            for i in range(max_x - 1, 0, -1):
                j = rng.integers(0, i, endpoint=True)
                chosen[i], chosen[j] = chosen[j], chosen[i]
            for t in range(max_x):
                out[row, 0] = first[c] + s
                out[row, 1] = first[c] + chosen[t] + (1 if chosen[t] >= s else 0)
                row += 1
    return out


@_jit()
def score_triplets(n_a, n_b, n_x, ax_start, ax_kind, bx_start, bx_kind, distances, right, total):
    """right[c], total[c]: cell c's triplets with d(A, X) < d(B, X) (a tie
    counts half) and with both distances defined (not NaN). Its A, B and X are
    items 0 .. n - 1 of their clusters; d(A, X) is read from the block at
    ``ax_start`` (kind 0: A's cluster is the block's first, pair a * n_x + x;
    1: X's is, x * n_a + a; 2: one cluster, X is not A, pairs i < j row-major),
    d(B, X) from ``bx_start`` (kind 0: b * n_x + x; 1: x * n_b + b)."""
    for c in range(n_a.shape[0]):
        na, nb, nx = n_a[c], n_b[c], n_x[c]
        wins = 0.0
        count = 0.0
        for x in range(nx):
            for a in range(na):
                if ax_kind[c] == 2:
                    if a == x:
                        continue
                    i, j = min(a, x), max(a, x)
                    place = i * na - i * (i + 1) // 2 + (j - i - 1)
                else:
                    place = a * nx + x if ax_kind[c] == 0 else x * na + a
                to_a = distances[ax_start[c] + place]
                for b in range(nb):
                    place = b * nx + x if bx_kind[c] == 0 else x * nb + b
                    diff = to_a - distances[bx_start[c] + place]
                    if diff < 0:
                        wins += 1.0
                    elif diff == 0:
                        wins += 0.5
                    if diff == diff:
                        count += 1.0
        right[c] = wins
        total[c] = count
    return right
