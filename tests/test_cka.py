"""Linear CKA: the properties Kornblith et al. (2019) rely on."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ortho_group

from harness.stats.cka import linear_cka


@pytest.fixture
def pair() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(60, 12))
    # y shares part of x's structure, so CKA is strictly between 0 and 1
    y = x[:, :5] @ rng.normal(size=(5, 8)) + rng.normal(size=(60, 8))
    return x, y


def test_identical_representations_give_one(pair) -> None:
    x, _ = pair
    assert linear_cka(x, x) == pytest.approx(1.0)


def test_symmetric(pair) -> None:
    x, y = pair
    assert linear_cka(x, y) == pytest.approx(linear_cka(y, x))
    assert 0.05 < linear_cka(x, y) < 0.95


def test_invariant_to_orthogonal_transform_scaling_and_shift(pair) -> None:
    x, y = pair
    q = ortho_group.rvs(x.shape[1], random_state=1)
    expected = linear_cka(x, y)
    assert linear_cka(3.5 * x @ q + 7.0, y) == pytest.approx(expected)
    assert linear_cka(x, 0.01 * y) == pytest.approx(expected)


def test_not_invariant_to_anisotropic_scaling(pair) -> None:
    x, y = pair
    stretched = x * np.linspace(0.1, 10.0, x.shape[1])
    assert abs(linear_cka(stretched, y) - linear_cka(x, y)) > 0.01


def test_independent_features_are_near_zero() -> None:
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(4000, 8)), rng.normal(size=(4000, 6))
    assert linear_cka(x, y) < 0.02


def test_wide_and_tall_forms_agree() -> None:
    # more features than examples switches to the Gram form; the number must not change
    rng = np.random.default_rng(3)
    x = rng.normal(size=(20, 50))
    y = x[:, :10] + 0.5 * rng.normal(size=(20, 10))
    xc, yc = x - x.mean(0), y - y.mean(0)
    feature_form = np.linalg.norm(yc.T @ xc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    )
    assert linear_cka(x, y) == pytest.approx(feature_form)


def test_rejects_mismatched_rows_and_constant_input() -> None:
    rng = np.random.default_rng(4)
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(rng.normal(size=(10, 3)), rng.normal(size=(9, 3)))
    with pytest.raises(ValueError, match="y is constant"):
        linear_cka(rng.normal(size=(10, 3)), np.ones((10, 2)))


@pytest.mark.parametrize("batched", [True, False])
@pytest.mark.parametrize("width", [5, 20], ids=["narrow: features side by side", "wide: Gram"])
def test_every_pair_at_once_equals_each_pair_alone(batched, width):
    from harness.stats.cka import _SpaceCKA

    rng = np.random.default_rng(7)
    ids = [f"c{i}" for i in range(30)]
    arrays = {f"run{k}": rng.normal(size=(30, width + k)) for k in range(4)}
    space = _SpaceCKA(arrays, dict.fromkeys(arrays, ids), batched)
    assert space.shared == batched
    for a in arrays:
        for b in arrays:
            assert space.pair(a, b) == pytest.approx(linear_cka(arrays[a], arrays[b]), abs=1e-12)


def test_runs_that_probed_other_clips_are_compared_on_the_clips_they_share():
    from harness.stats.cka import _SpaceCKA

    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    ids_x = [f"c{i}" for i in range(20)]
    ids_y = ids_x[5:] + [f"other{i}" for i in range(5)]
    space = _SpaceCKA({"x": x, "y": y}, {"x": ids_x, "y": ids_y}, batched=True)
    assert not space.shared
    assert space.pair("x", "y") == pytest.approx(linear_cka(x[5:], y[:15]))
