"""Ridge probe: a linear classifier whose permutation test costs about one fit.

One-vs-rest ridge regression on the one-hot languages of standardised latents,
argmax decision (the same predictions as ``sklearn.linear_model.RidgeClassifier``
on ``StandardScaler``-ed data), scored by balanced accuracy of the pooled
out-of-fold predictions of speaker-grouped stratified CV.

Why it is cheap: with the folds and the regularisation fixed, ridge predictions
are *linear in the labels*. Every clip of a speaker has that speaker's label, so
for a fold the test scores are ``T(alpha) @ Y`` where ``T`` (test clips x training
speakers) comes from one SVD of the standardised training part and ``Y`` holds a
one-hot column per class and relabelling. All permutations are one matrix product;
every alpha reuses the same SVD. Alpha is chosen per fold and per relabelling by
leave-one-speaker-out error on the training part (exact block formula, also
linear in ``Y``), so the null goes through the same choice as the observed score.

The folds and the relabellings depend on the speakers and on ``fold_seed`` /
``permutation_seed``, never on the run seed: runs that probe the same speakers
share relabelling ``k``, so statistics across runs can apply one relabelling to
all of them. docs/probes.md explains the choices.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from harness import Component, Metric, Param, ValidationContext, hookimpl
from harness.contracts import ProbeResult
from harness.hashing import stable_seed
from harness.probing import (
    SpeakerTable,
    fewest_speakers,
    fold_of_speakers,
    permutation_p_value,
    probe_inputs,
    relabel_within_folds,
    speaker_grouped_folds,
)
from harness_plugins.probes.linear_svc import (
    MAX_AUTO_SPLITS,
    TASK_DOCS,
    TASK_LABELS,
    TASK_PARAM,
    TASKS,
    task_problems,
)

#: Three penalties two decades apart: on the flagship's latents a grid of 13
#: from 0.01 to 10^4 chose no better (balanced accuracy 0.561 against 0.570)
#: and cost 2.5 times as much, each alpha adding a leave-one-speaker-out
#: criterion for every relabelling.
DEFAULT_ALPHAS = [0.1, 10.0, 1000.0]


def _metrics_of(task: str) -> list[Metric]:
    what, short = TASK_DOCS[task], TASK_LABELS[task]
    return [
        Metric(
            f"balanced_accuracy_{task}",
            f"balanced accuracy, {what}, of the pooled out-of-fold predictions of "
            "speaker-grouped CV",
            chance=f"chance_{task}",
            headline=True,
            label=f"balanced accuracy ({short})",
            bounds=(0.0, 1.0),
        ),
        Metric(
            f"chance_{task}",
            "balanced accuracy of a predictor ignoring the latents (1 / classes); a baseline",
            role="reference",
            label=f"chance level ({short})",
            bounds=(0.0, 1.0),
        ),
        Metric(
            f"p_value_{task}",
            "speaker-level permutation p-value of the balanced accuracy (this run alone); "
            "NaN if n_permutations = 0",
            higher_is_better=False,
            role="p_value",
            label=f"permutation p-value ({short})",
            bounds=(0.0, 1.0),
        ),
        Metric(
            f"selectivity_{task}",
            f"balanced_accuracy_{task} minus the mean of its permutation null (the control "
            "task); NaN if n_permutations = 0",
            label=f"selectivity ({short})",
            bounds=(-1.0, 1.0),
        ),
    ]


METRICS = [metric for task in TASKS for metric in _metrics_of(task)]


def resolve_device(device: str) -> torch.device:
    """'auto': CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


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


def pooled_balanced_accuracy(
    truth: np.ndarray, predicted: np.ndarray, n_classes: int
) -> np.ndarray:
    """Balanced accuracy of each column: ``truth`` and ``predicted`` are (clips, columns)."""
    hits = truth == predicted
    recall = [
        (hits & (truth == c)).sum(0) / np.maximum((truth == c).sum(0), 1) for c in range(n_classes)
    ]
    return np.mean(recall, axis=0)


def speaker_contributions(
    truth: np.ndarray, predicted: np.ndarray, n_classes: int, table: SpeakerTable
) -> np.ndarray:
    """Each speaker's part of the pooled balanced accuracy, speakers in
    ``table`` (sorted id) order: its correct clips over its class's clips and
    the number of classes. They sum to :func:`pooled_balanced_accuracy`."""
    class_size = np.bincount(truth, minlength=n_classes)
    per_clip = (truth == predicted) / (class_size[truth] * n_classes)
    return np.bincount(table.inverse, weights=per_clip, minlength=len(table.speakers))


class RidgeProbe:
    """Speaker-grouped CV ridge classifier with a speaker-level permutation test."""

    def __init__(
        self,
        task: str = "both",
        n_splits: int | None = None,
        alphas: Sequence[float] = tuple(DEFAULT_ALPHAS),
        n_permutations: int = 1000,
        permutation_seed: int = 0,
        fold_seed: int = 0,
        device: str = "cpu",
        decision: str = "balanced",
    ) -> None:
        problem = _alphas_problem(alphas)
        if problem:
            raise ValueError(problem)
        self.tasks = TASKS if task == "both" else (task,)
        self.n_splits = n_splits
        self.alphas = sorted((float(a) for a in alphas), reverse=True)
        self.n_permutations = n_permutations
        self.permutation_seed = permutation_seed
        self.fold_seed = fold_seed
        self.device = resolve_device(device)
        self.balanced = decision == "balanced"

    def run(
        self,
        latents: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        target: str,
        seed: int,  # unused on purpose: folds and relabellings depend on the speakers only
    ) -> ProbeResult:
        x, labels, groups, table = probe_inputs(latents, labels, groups)
        languages = np.unique(table.labels)
        if "target" in self.tasks and target not in set(languages.tolist()):
            found = sorted(str(v) for v in languages.tolist())
            raise ValueError(f"target language {target!r} is not among the probe languages {found}")
        n_splits = self.n_splits or max(2, min(MAX_AUTO_SPLITS, fewest_speakers(labels, groups)))
        # Folds are stratified by language (so also for target vs rest) and shared by
        # both tasks: one SVD per fold serves every task, alpha and relabelling.
        speakers = table.speakers.tolist()
        folds = speaker_grouped_folds(
            labels, groups, n_splits, stable_seed("ridge folds", self.fold_seed, *speakers) % 2**32
        )
        codes = relabel_within_folds(
            np.searchsorted(languages, table.labels),
            fold_of_speakers(folds, table),
            self.n_permutations,
            stable_seed("speaker permutations", self.permutation_seed, *speakers),
        )
        target_code = int(np.searchsorted(languages, target)) if target in languages else -1
        task_codes = {"multiclass": (codes, len(languages)), "target": (codes == target_code, 2)}
        tasks = [(task_codes[t][0].astype(np.int64), task_codes[t][1]) for t in self.tasks]
        found = ridge_out_of_fold(x, table, folds, tasks, self.alphas, self.device, self.balanced)

        result = ProbeResult(metrics={})
        for task, (task_code, n_classes), (predicted, chosen) in zip(
            self.tasks, tasks, found, strict=True
        ):
            truth = task_code[:, table.inverse].T  # (clips, relabellings)
            scores = pooled_balanced_accuracy(truth, predicted, n_classes)
            observed, null = float(scores[0]), scores[1:]
            control = float(null.mean()) if null.size else float("nan")
            result.metrics.update(
                {
                    f"balanced_accuracy_{task}": observed,
                    f"chance_{task}": 1.0 / n_classes,
                    f"p_value_{task}": permutation_p_value(observed, null),
                    f"selectivity_{task}": observed - control,
                }
            )
            result.details.update(
                {
                    # the contract of speaker-level inference (docs/plugins.md):
                    # the score under the shared relabellings, and its additive
                    # per-speaker parts
                    f"balanced_accuracy_{task}/null": null.tolist(),
                    f"balanced_accuracy_{task}/speakers": speaker_contributions(
                        truth[:, 0], predicted[:, 0], n_classes, table
                    ).tolist(),
                    f"oof_prediction_{task}": predicted[:, 0].astype(float).tolist(),
                    f"alpha_{task}_folds": [self.alphas[a] for a in chosen[:, 0]],
                }
            )
        return result


PARAMS = [
    TASK_PARAM,
    Param(
        "n_splits",
        int,
        None,
        "speaker-grouped folds, stratified by language; default: speakers of the language "
        "with fewest, at most 5",
        min=2,
        optional=True,
    ),
    Param(
        "alphas",
        list,
        list(DEFAULT_ALPHAS),
        "ridge penalties (on standardised latents); each fold and relabelling takes the one "
        "with the smallest leave-one-speaker-out error on its training part; one value: fixed",
        item=float,
    ),
    Param(
        "n_permutations",
        int,
        1000,
        "speaker-level relabellings for the p-value and the control task (0: skip both)",
        min=0,
    ),
    Param(
        "permutation_seed",
        int,
        0,
        "seed of the relabellings, with the sorted speaker ids (never the run seed), so "
        "relabelling k is the same in every run that probes the same speakers",
        min=0,
    ),
    Param(
        "fold_seed",
        int,
        0,
        "seed of the folds, with the sorted speaker ids (never the run seed)",
        min=0,
    ),
    Param(
        "device",
        str,
        "cpu",
        "'cpu' (float64, deterministic) or 'auto' (CUDA when available) or 'cuda'",
        choices=("cpu", "auto", "cuda"),
    ),
    Param(
        "decision",
        str,
        "balanced",
        "'balanced': argmax of the scores without their intercept (the training class "
        "frequencies), so a larger class is not favoured; 'argmax': RidgeClassifier's rule. "
        "The same when every class has as many training clips",
        choices=("balanced", "argmax"),
    ),
]


def _alphas_problem(alphas: Sequence[float]) -> str | None:
    if not alphas or any(a <= 0 for a in alphas):
        return f"alphas must be a non-empty list of values > 0, got {list(alphas)}"
    return None


def _check(params: Mapping[str, Any], context: ValidationContext) -> Iterator[tuple[str, str]]:
    problem = _alphas_problem(params["alphas"])
    if problem:
        yield "alphas", problem
    yield from task_problems(params, context)


@hookimpl
def harness_probes() -> list[Component]:
    return [
        Component(
            name="ridge",
            factory=RidgeProbe,
            doc="ridge classifier, speaker-grouped CV, balanced accuracy, 1000 speaker-level "
            "permutations at about the cost of one fit",
            params=PARAMS,
            metrics=METRICS,
            check=_check,
        )
    ]
