"""The batched DTW and item cutting of plugins/probes/abx_core.py, against
plain loops written from their definitions (the whole ABX score is checked
against the brute-force reference in tests/test_abx_exact.py)."""

from __future__ import annotations

import numpy as np
import torch

from harness_plugins.probes import abx_core


def _loop_dtw(cost: np.ndarray) -> float:
    """DTW over one cost matrix, cell by cell: steps right, down or diagonal;
    on equal cost diagonal, then left, then up; cost over path length."""
    n, m = cost.shape
    total = np.full((n, m), np.inf)
    length = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            if i == j == 0:
                total[0, 0], length[0, 0] = cost[0, 0], 1
                continue
            options = [
                (total[i - 1, j - 1] if i and j else np.inf, length[i - 1, j - 1]),
                (total[i, j - 1] if j else np.inf, length[i, j - 1]),
                (total[i - 1, j] if i else np.inf, length[i - 1, j]),
            ]
            best = min(o[0] for o in options)
            steps = next(o[1] for o in options if o[0] == best)
            total[i, j], length[i, j] = cost[i, j] + best, steps + 1
    return total[-1, -1] / length[-1, -1]


def test_dtw_of_mixed_sizes_with_many_ties_equals_the_loop():
    """Small integer costs tie often, so the path length (and the score)
    depends on the tie order; every pair is padded to the largest."""
    rng = np.random.default_rng(0)
    sizes = [(int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(200)]
    rows, cols = max(n for n, _ in sizes), max(m for _, m in sizes)
    cost = rng.integers(0, 3, size=(len(sizes), rows, cols)).astype(np.float32)
    n = np.array([s[0] for s in sizes])
    m = np.array([s[1] for s in sizes])
    found = abx_core.dtw(torch.from_numpy(cost), torch.from_numpy(n), torch.from_numpy(m))
    expected = [_loop_dtw(cost[p, : n[p], : m[p]]) for p in range(len(sizes))]
    np.testing.assert_allclose(found.numpy(), expected, rtol=1e-6)
    # a tie broken the other way would lengthen or shorten some paths
    assert len({round(float(v), 6) for v in expected}) > 20


def _items(rng: np.random.Generator, count: int, dim: int = 5) -> abx_core.Items:
    frames = tuple(
        rng.normal(size=(int(rng.integers(1, 12)), dim)).astype(np.float32) for _ in range(count)
    )
    return abx_core.Items(frames, *(np.zeros(count, str),) * 3)


def test_pair_distances_do_not_depend_on_chunks_or_pair_order():
    rng = np.random.default_rng(1)
    items = _items(rng, 40)
    pairs = rng.integers(0, 40, size=(500, 2))
    # an item against itself is off by float32's acos near 1 (~1e-4), and the
    # padding of a chunk changes the rounding of its products (~1e-7)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    for distance in ("cosine", "euclidean"):
        whole = abx_core.pair_distances(items, pairs, distance)
        alone = abx_core.pair_distances(items, pairs, distance, 3)
        np.testing.assert_allclose(alone, whole, rtol=1e-5, atol=1e-6)
        order = rng.permutation(len(pairs))
        shuffled = abx_core.pair_distances(items, pairs[order], distance, 17)
        np.testing.assert_allclose(shuffled, whole[order], rtol=1e-5, atol=1e-6)


def test_kl_from_frames_prepared_once_equals_the_formula():
    rng = np.random.default_rng(2)
    x = rng.dirichlet(np.ones(6), size=(3, 4)).astype(np.float32)
    y = rng.dirichlet(np.ones(6), size=(3, 5)).astype(np.float32)
    found = abx_core.frame_distances(torch.from_numpy(x), torch.from_numpy(y), "kl_symmetric")
    e = abx_core.KL_EPSILON
    p, q = x[:, :, None, :].astype(float), y[:, None, :, :].astype(float)
    expected = 0.5 * ((p - q) * (np.log(p + e) - np.log(q + e))).sum(-1)
    np.testing.assert_allclose(found.numpy(), expected, rtol=1e-4, atol=1e-6)


def test_item_frames_are_the_frames_inside_else_the_nearest_to_the_middle():
    rng = np.random.default_rng(3)
    for _ in range(3000):
        times = np.round(np.cumsum(rng.choice([0.01, 0.02], size=int(rng.integers(1, 20)))), 2)
        frames = rng.normal(size=(len(times), 2))
        start = float(rng.choice(times)) if rng.random() < 0.3 else rng.uniform(-0.05, 0.3)
        end = start + float(rng.choice([0.0, 0.004, 0.01, rng.uniform(0, 0.1)]))
        inside = (times >= start) & (times <= end)
        if inside.any():
            expected = frames[inside]
        else:
            nearest = int(np.argmin(np.abs(times - (start + end) / 2)))  # the first of a tie
            expected = frames[nearest : nearest + 1]
        np.testing.assert_array_equal(abx_core.item_frames(frames, times, start, end), expected)
