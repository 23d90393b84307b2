"""Ridge regression on one speaker-grouped fold, as linear operators on label matrices.

The algebra behind the ridge probe (:mod:`harness_plugins.probes.ridge`): one SVD of
a fold's standardised training part gives the test scores of every relabelling and
every penalty as a matrix product (:class:`FoldRidge`), and the exact
leave-one-speaker-out error used to choose the penalty; :func:`ridge_out_of_fold`
runs it over the folds for every task. Labels enter as one-hot columns
(:class:`_OneHot`) or, for two classes, as one column per relabelling (:class:`_Binary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from harness.run.probing import SpeakerTable


@dataclass
class FoldRidge:
    """Ridge on one fold, as operators on speaker-level label matrices.

    ``Y`` (training speakers x columns) holds one-hot class columns of any number
    of relabellings. Training clips are standardised with the training part's
    mean and standard deviation (population, as StandardScaler); the intercept is
    the training mean of each column, so centring is exact, not approximate.
    """

    u: torch.Tensor  # (n_train, r) left singular vectors of the standardised training part
    s: torch.Tensor  # (r,) singular values
    test_v: torch.Tensor  # (n_test, r) standardised test part times the right singular vectors
    clips: torch.Tensor  # (n_train, speakers) clip -> training speaker indicator
    blocks: torch.Tensor  # (speakers, most clips) training rows of each speaker, -1 = padding

    @classmethod
    def fit(cls, x: torch.Tensor, train: np.ndarray, test: np.ndarray, speaker: np.ndarray):
        """``speaker``: index of each clip's speaker among this fold's training speakers."""
        part = x[train]
        mean = part.mean(0)
        scale = part.std(0, unbiased=False)
        # StandardScaler leaves (near-)constant features unscaled
        scale = torch.where(scale < 10 * torch.finfo(scale.dtype).eps, 1.0, scale)
        z = (part - mean) / scale
        u, s, vh = torch.linalg.svd(z, full_matrices=False)
        test_v = ((x[test] - mean) / scale) @ vh.T
        local = torch.as_tensor(speaker[train], device=x.device)
        n_speakers = int(speaker[train].max()) + 1
        clips = torch.nn.functional.one_hot(local, n_speakers).to(x.dtype)
        return cls(u, s, test_v, clips, _blocks(speaker[train], n_speakers, x.device))

    def _intercept(self) -> torch.Tensor:
        # training mean of Y's columns, as a row operator on Y: (1, speakers)
        return self.clips.mean(0, keepdim=True)

    def test_operator(self, alpha: float, intercept: bool = True) -> torch.Tensor:
        """``T`` with test scores = ``T @ Y``: (n_test, speakers). Without the
        intercept (the training class frequencies) only the centred part is left."""
        shrink = self.s / (self.s**2 + alpha)
        centred = self.test_v @ (shrink[:, None] * (self.u.T @ self.clips))
        return centred + self._intercept() if intercept else centred

    def press_gram(self, alpha: float) -> torch.Tensor:
        """``G`` with leave-one-speaker-out squared error of column ``y`` = ``y^T G y``.

        For a linear smoother with hat matrix H, the residuals of the fit that
        leaves out the rows B are exactly ``(I - H_BB)^-1 (y - H y)_B``. The
        scaling stays the training part's (it does not depend on the labels).
        """
        keep = self.s**2 / (self.s**2 + alpha)
        n = self.clips.shape[0]
        residual = (
            self.clips - self._intercept() - self.u @ (keep[:, None] * (self.u.T @ self.clips))
        )
        valid = self.blocks >= 0
        rows = self.blocks.clamp(min=0)
        ub = self.u[rows] * valid[..., None]
        mask = (valid[:, :, None] & valid[:, None, :]).to(ub.dtype)
        hat = ub @ (keep[:, None] * ub.transpose(1, 2)) + mask / n
        eye = torch.eye(hat.shape[1], dtype=hat.dtype, device=hat.device)
        # padding rows and columns become identity, and their residuals are zero
        # inv then matmul: torch's batched solve is ~50x slower on these tiny blocks
        errors = torch.linalg.inv(eye - hat * mask) @ (residual[rows] * valid[..., None])
        return torch.einsum("bms,bmt->st", errors, errors)


def _blocks(speaker: np.ndarray, n_speakers: int, device: torch.device) -> torch.Tensor:
    counts = np.bincount(speaker, minlength=n_speakers)
    blocks = np.full((n_speakers, counts.max()), -1)
    order = np.argsort(speaker, kind="stable")
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    slot = np.arange(len(speaker)) - np.repeat(starts, counts)
    blocks[speaker[order], slot] = order
    return torch.as_tensor(blocks, device=device)


def one_hot_columns(codes: np.ndarray, n_classes: int, device: torch.device) -> torch.Tensor:
    """(relabellings, speakers) class codes -> (speakers, relabellings * classes) one-hot."""
    index = torch.as_tensor(np.ascontiguousarray(codes.T), device=device)  # (S, R)
    hot = torch.nn.functional.one_hot(index, n_classes)  # (S, R, C)
    return hot.reshape(codes.shape[1], -1).to(torch.float64)


def ridge_out_of_fold(
    x: np.ndarray,
    table: SpeakerTable,
    folds: Sequence[tuple[np.ndarray, np.ndarray]],
    tasks: Sequence[tuple[np.ndarray, int]],
    alphas: Sequence[float],
    device: torch.device,
    balanced: bool = True,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Out-of-fold predictions for every task and relabelling.

    ``tasks``: (codes, classes) with codes (relabellings, speakers) in ``table``'s
    speaker order. Returns per task the predicted class of every clip and
    relabelling, (clips, relabellings), and the alpha index each fold chose,
    (folds, relabellings). With several alphas, each fold and relabelling takes
    the one with the smallest leave-one-speaker-out squared error on the training
    part (ties: the larger alpha); ``alphas`` must be sorted from largest down.
    ``balanced`` decides by the scores without their intercept (see RidgeProbe).
    """
    xt = torch.as_tensor(x, dtype=torch.float64, device=device)
    n = len(x)
    out = [
        (np.zeros((n, codes.shape[0]), dtype=np.int64), np.zeros((len(folds), codes.shape[0]), int))
        for codes, _ in tasks
    ]
    for f, (train, test) in enumerate(folds):
        speakers = np.unique(table.inverse[train])
        local = np.full(len(table.speakers), -1)
        local[speakers] = np.arange(len(speakers))
        ridge = FoldRidge.fit(xt, train, test, local[table.inverse])
        if len(alphas) > 1:
            grams = torch.stack([ridge.press_gram(a) for a in alphas])
        for (codes, n_classes), (predicted, chosen) in zip(tasks, out, strict=True):
            task = _Binary if n_classes == 2 else _OneHot
            y = task.columns(codes[:, speakers], n_classes, device)
            if len(alphas) > 1:
                # argmin takes the first minimum: the largest alpha among ties
                chosen[f] = task.press(grams, y, n_classes).argmin(0).cpu().numpy()
            for a in np.unique(chosen[f]):
                which = np.flatnonzero(chosen[f] == a)
                operator = ridge.test_operator(alphas[a], not balanced)
                predicted[np.ix_(test, which)] = task.decide(operator, y, which, n_classes)
    return out


class _OneHot:
    """A task's labels as one-hot columns, ``n_classes`` per relabelling."""

    @staticmethod
    def columns(codes: np.ndarray, n_classes: int, device: torch.device) -> torch.Tensor:
        return one_hot_columns(codes, n_classes, device)

    @staticmethod
    def press(grams: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
        """(alphas, relabellings): leave-one-speaker-out squared error summed over classes."""
        press = (y * (grams @ y)).sum(1)  # (alphas, columns)
        return press.reshape(grams.shape[0], -1, n_classes).sum(-1)

    @staticmethod
    def decide(operator: torch.Tensor, y: torch.Tensor, which: np.ndarray, n_classes: int):
        cols = (which[:, None] * n_classes + np.arange(n_classes)).ravel()
        scores = operator @ y[:, torch.as_tensor(cols, device=y.device)]
        return scores.reshape(operator.shape[0], len(which), n_classes).argmax(-1).cpu().numpy()


class _Binary:
    """A two-class task as one column per relabelling, ``y`` = class 1, the other
    class being ``1 - y``: half the products of its two one-hot columns, with
    the same criterion and decisions. The error of ``1 - y`` is
    ``1'G1 - 2 1'Gy + y'Gy``, so both classes' together are
    ``1'G1 - 2 1'Gy + 2 y'Gy``; the scores are ``Ty`` and ``T1 - Ty``."""

    @staticmethod
    def columns(codes: np.ndarray, n_classes: int, device: torch.device) -> torch.Tensor:
        return torch.as_tensor(np.ascontiguousarray(codes.T == 1), device=device).to(torch.float64)

    @staticmethod
    def press(grams: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
        gy = grams @ y  # (alphas, speakers, relabellings)
        total = grams.sum((1, 2))[:, None]
        return total - 2 * gy.sum(1) + 2 * (y * gy).sum(1)

    @staticmethod
    def decide(operator: torch.Tensor, y: torch.Tensor, which: np.ndarray, n_classes: int):
        one = operator @ y[:, torch.as_tensor(which, device=y.device)]
        other = operator.sum(1, keepdim=True) - one
        # argmax over (other, one) takes the first maximum: class 0 on a tie
        return (one > other).to(torch.int64).cpu().numpy()
