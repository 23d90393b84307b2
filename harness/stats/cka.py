"""Linear centred kernel alignment (CKA; Kornblith et al., 2019).

CKA compares two representations of the same examples (rows), such as the LSTM
state after two pretraining conditions, whatever their widths. Linear CKA is
invariant to orthogonal transforms and isotropic scaling of either side, but not
to arbitrary invertible linear maps: Kornblith et al. show that an index with that
invariance cannot tell representations apart once their width reaches the number
of examples.
"""

from __future__ import annotations

import numpy as np


def _centred(name: str, value: np.ndarray) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"{name} must be 2-D (examples, features), got shape {array.shape}")
    if not np.isfinite(array).all():
        raise ValueError(f"{name} has non-finite values")
    return array - array.mean(axis=0)


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between ``x`` (n, p) and ``y`` (n, q), rows being the same n examples.

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` with column-centred
    ``Xc``, ``Yc``; 1 for identical representations, 0 when every feature of one
    is uncorrelated with every feature of the other. Raises ValueError when a
    side has no variance (CKA is undefined there).
    """
    xc = _centred("x", x)
    yc = _centred("y", y)
    n = len(xc)
    if len(yc) != n:
        raise ValueError(f"x and y must have the same examples (rows): {n} vs {len(yc)}")
    if n < 2:
        raise ValueError(f"linear CKA needs at least 2 examples, got {n}")
    if xc.shape[1] + yc.shape[1] > 2 * n:
        # Wide features: the n x n Gram form costs less than the p x q cross-covariance.
        # <Kx, Ky>_F equals ||Yc^T Xc||_F^2, so both forms give the same number.
        kx, ky = xc @ xc.T, yc @ yc.T
        cross = float(np.sum(kx * ky))
        norm_x, norm_y = np.linalg.norm(kx), np.linalg.norm(ky)
    else:
        cross = float(np.linalg.norm(yc.T @ xc) ** 2)
        norm_x, norm_y = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
    if norm_x == 0.0 or norm_y == 0.0:
        side = "x" if norm_x == 0.0 else "y"
        raise ValueError(f"{side} is constant over the examples; CKA is undefined")
    return cross / float(norm_x * norm_y)
