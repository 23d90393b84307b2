"""The compiled DTW (plugins/probes/abx_dtw.py, abx_kernels.py) and the item
cutting of plugins/probes/abx_core.py, against plain loops written from their
definitions (the whole ABX score is checked against the brute-force reference
in tests/test_abx_exact.py)."""

from __future__ import annotations

import numpy as np
import pytest

from harness_plugins.probes import abx_core, abx_dtw, abx_kernels


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


def _tiled_dtw(costs: list[np.ndarray]) -> np.ndarray:
    """The DTW kernel over cost matrices laid out as the probe lays them out:
    one after another, row-major, read in tiles of one shape."""
    n = np.array([c.shape[0] for c in costs])
    m = np.array([c.shape[1] for c in costs])
    tiles = abx_dtw.Tiles.of(n, m)
    flat = np.concatenate([c.ravel() for c in costs]).astype(np.float32)
    starts = np.cumsum(n * m) - n * m
    found = np.empty(len(costs), np.float32)
    abx_kernels.dtw_tiles(flat, starts[tiles.order], tiles.width, tiles.rows, tiles.cols, found)
    out = np.empty(len(costs))
    out[tiles.order] = found
    return out


@pytest.mark.parametrize("tile", [64, 3])
def test_dtw_of_mixed_sizes_with_many_ties_equals_the_loop(tile, monkeypatch):
    """Small integer costs tie often, so the path length (and the score)
    depends on the tie order; pairs of one shape share a tile, several
    shapes and part-filled tiles among them."""
    monkeypatch.setattr(abx_dtw, "TILE", tile)
    rng = np.random.default_rng(0)
    sizes = [(int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(200)]
    costs = [rng.integers(0, 3, size=s).astype(np.float32) for s in sizes]
    found = _tiled_dtw(costs)
    expected = [_loop_dtw(c) for c in costs]
    np.testing.assert_allclose(found, expected, rtol=1e-6)
    # a tie broken the other way would lengthen or shorten some paths
    assert len({round(float(v), 6) for v in expected}) > 20


def test_dtw_sums_in_float32_as_before():
    """The costs are summed in float32 (as the torch DTW this replaced did), so
    the distances, and the triplets they decide, do not move."""
    rng = np.random.default_rng(4)
    costs = [rng.random(size=(7, 9)).astype(np.float32) for _ in range(50)]
    found = _tiled_dtw(costs)
    for value, cost in zip(found, costs, strict=True):
        total = np.full(cost.shape, np.inf, np.float32)
        length = np.zeros(cost.shape, np.float32)
        for i in range(cost.shape[0]):
            for j in range(cost.shape[1]):
                options = [
                    (total[i - 1, j - 1], length[i - 1, j - 1]) if i and j else (np.inf, 0),
                    (total[i, j - 1], length[i, j - 1]) if j else (np.inf, 0),
                    (total[i - 1, j], length[i - 1, j]) if i else (np.inf, 0),
                ]
                best, steps = min(options, key=lambda o: o[0]) if i or j else (0, 0)
                total[i, j] = np.float32(cost[i, j] + np.float32(best))
                length[i, j] = np.float32(steps + 1)
        assert value == np.float32(total[-1, -1] / length[-1, -1])


def _items(rng: np.random.Generator, count: int, dim: int = 5) -> abx_core.Items:
    frames = tuple(
        rng.normal(size=(int(rng.integers(1, 12)), dim)).astype(np.float32) for _ in range(count)
    )
    return abx_core.Items.of_frames(frames, *(np.zeros(count, str),) * 3)


def test_pair_distances_do_not_depend_on_chunks_tiles_or_pair_order(monkeypatch):
    """Each pair's costs are its own (nothing padded), so where it lands in a
    chunk or a tile changes no bit of its distance."""
    rng = np.random.default_rng(1)
    items = _items(rng, 40)
    pairs = rng.integers(0, 40, size=(500, 2))
    for distance in ("cosine", "euclidean"):
        whole = abx_core.pair_distances(items, pairs, distance)
        alone = abx_core.pair_distances(items, pairs, distance, 3)
        np.testing.assert_array_equal(alone, whole)
        order = rng.permutation(len(pairs))
        with monkeypatch.context() as patch:
            patch.setattr(abx_dtw, "TILE", 5)
            shuffled = abx_core.pair_distances(items, pairs[order], distance, 17)
        np.testing.assert_array_equal(shuffled, whole[order])


def test_kl_from_frames_prepared_once_equals_the_formula():
    rng = np.random.default_rng(2)
    x = rng.dirichlet(np.ones(6), size=4).astype(np.float32)
    y = rng.dirichlet(np.ones(6), size=5).astype(np.float32)
    found = abx_core.frame_distances(x, y, "kl_symmetric")
    e = abx_core.KL_EPSILON
    p, q = x[:, None, :].astype(float), y[None, :, :].astype(float)
    expected = 0.5 * ((p - q) * (np.log(p + e) - np.log(q + e))).sum(-1)
    np.testing.assert_allclose(found, expected, rtol=1e-4, atol=1e-6)


def test_cosine_and_euclidean_frame_distances_equal_the_formula():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(4, 7)), rng.normal(size=(3, 7))
    cos = (x @ y.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1))
    found = abx_core.frame_distances(x.astype(np.float32), y.astype(np.float32), "cosine")
    np.testing.assert_allclose(found, np.arccos(cos) / np.pi, atol=1e-5)
    found = abx_core.frame_distances(x.astype(np.float32), y.astype(np.float32), "euclidean")
    expected = np.linalg.norm(x[:, None] - y[None], axis=-1)
    np.testing.assert_allclose(found, expected, rtol=1e-5)


def test_blas_products_of_long_items_equal_float64_within_float32_precision():
    """Items of 70 and 90 frames of 64 dimensions: the products go through
    BLAS's blocked path, not its small-matrix one, and still give each cost
    to float32 precision (the summation order, not the value, is BLAS's)."""
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(70, 64)), rng.normal(size=(90, 64))
    cos = (x @ y.T) / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1))
    found = abx_core.frame_distances(x.astype(np.float32), y.astype(np.float32), "cosine")
    np.testing.assert_allclose(found, np.arccos(cos) / np.pi, atol=2e-6)
    p, q = rng.dirichlet(np.ones(64), size=70), rng.dirichlet(np.ones(64), size=90)
    found = abx_core.frame_distances(p.astype(np.float32), q.astype(np.float32), "kl_symmetric")
    e = abx_core.KL_EPSILON
    expected = 0.5 * ((p[:, None] - q[None]) * (np.log(p[:, None] + e) - np.log(q[None] + e)))
    np.testing.assert_allclose(found, expected.sum(-1), rtol=1e-4, atol=1e-6)


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
