"""The linear-SVC probe itself (scikit-learn), declared in
:mod:`harness_plugins.probes.linear_svc`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import sklearn
from sklearn.svm import SVC, LinearSVC

from harness.plugin.contracts import ProbeResult
from harness.run.probe_tasks import (
    TASKS,
    auto_splits,
    check_target,
    tasks_of,
)
from harness.run.probing import (
    Fold,
    balanced_accuracy,
    chance_balanced_accuracy,
    majority_rate,
    probe_inputs,
    speaker_grouped_folds,
    speaker_permutation_test,
    speaker_table,
)
from harness_plugins.probes.linear_svc import DEFAULT_C_GRID, grid_problem


@dataclass(frozen=True)
class _Score:
    balanced: list[float]
    plain: list[float]
    c: list[float]
    test_speakers: list[int]

    @property
    def mean(self) -> float:
        return float(np.mean(self.balanced))


class LinearSVCProbe:
    """Speaker-grouped, nested-CV linear SVC probe with a speaker-level permutation test."""

    def __init__(
        self,
        task: str = "both",
        n_splits: int | None = None,
        C: float | None = None,
        C_grid: Sequence[float] = tuple(DEFAULT_C_GRID),
        n_permutations: int = 100,
        solver: str = "libsvm",
    ) -> None:
        problem = grid_problem(C, C_grid)
        if problem:
            raise ValueError(problem)
        self.tasks = tasks_of(task)
        self.n_splits = n_splits
        self.C = C
        self.C_grid = sorted(float(c) for c in C_grid)
        self.n_permutations = n_permutations
        self.solver = solver

    # ------------------------------------------------------------ labels per task

    @staticmethod
    def _task_labels(
        task: str, labels: np.ndarray, target: str
    ) -> tuple[np.ndarray, dict[object, str] | None]:
        if task == "multiclass":
            return labels, None
        check_target(labels, target)
        y = (labels == target).astype(int)
        names: dict[object, str] = {
            1: f"target language {target!r}",
            0: "the other languages (pooled)",
        }
        return y, names

    # ------------------------------------------------------------ cross-validation

    def _outer_splits(self, y: np.ndarray, groups: np.ndarray) -> int:
        return self.n_splits if self.n_splits is not None else auto_splits(y, groups)

    def _check_inner(
        self, n_splits: int, y: np.ndarray, groups: np.ndarray, names: dict[object, str] | None
    ) -> None:
        """Choosing C needs at least 3 outer folds (see _choose_cs); say what to change."""
        if self.C is not None or n_splits >= 3:
            return
        counts = speaker_table(y, groups).counts()
        label, fewest = min(counts.items(), key=lambda item: (item[1], str(item[0])))
        who = names[label] if names and label in names else f"language {str(label)!r}"
        raise ValueError(
            f"choosing C by inner CV needs at least 3 speaker-grouped folds, and {n_splits} "
            f"are used ({who} has {fewest} speakers): the inner CV of each outer fold runs "
            "on the other outer folds, so with 2 there is nothing to validate on. Give a "
            "fixed C, n_splits >= 3, or at least 3 probe speakers per language."
        )

    def _choose_cs(self, x: np.ndarray, y: np.ndarray, folds: Sequence[Fold]) -> list[float]:
        """C for each outer fold, by an inner CV that never sees that fold's test speakers.

        The inner folds of outer fold ``o`` are the other outer folds: each inner model
        trains on every fold but ``o`` and ``j`` and is scored on ``j``. The model that
        leaves out ``{a, b}`` then serves both outer fold ``a`` (scored on ``b``) and outer
        fold ``b`` (scored on ``a``), so the inner CV costs k(k-1)/2 fits per C instead
        of k(k-1), and its folds are already speaker-disjoint and stratified.
        """
        k = len(folds)
        if self.C is not None:
            return [self.C] * k
        tests = [test for _, test in folds]
        scores = np.zeros((k, len(self.C_grid)))
        for a, b in combinations(range(k), 2):
            train = np.concatenate([tests[i] for i in range(k) if i not in (a, b)])
            # The scaling does not depend on C, so it is fitted once per pair
            scale = _Scaling(x[train])
            x_train = scale(x[train])
            # one predict call for both scored folds: sklearn's per-call overhead dominates
            x_ab = scale(np.concatenate([x[tests[a]], x[tests[b]]]))
            n_a = len(tests[a])
            weights = balanced_weights(y[train])
            for i, c in enumerate(self.C_grid):
                predicted = _svc(c, weights, self.solver).fit(x_train, y[train]).predict(x_ab)
                scores[b, i] += balanced_accuracy(y[tests[a]], predicted[:n_a])
                scores[a, i] += balanced_accuracy(y[tests[b]], predicted[n_a:])
        # argmax takes the first best: ties go to the smallest C (strongest regularisation)
        return [self.C_grid[int(np.argmax(row))] for row in scores]

    def _cross_validate(
        self,
        x: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        n_splits: int,
        seed: int,
        names: dict[object, str] | None,
    ) -> _Score:
        folds = speaker_grouped_folds(y, groups, n_splits, seed, names=names)
        chosen = self._choose_cs(x, y, folds)
        balanced, plain, speakers = [], [], []
        for (train, test), c in zip(folds, chosen, strict=True):
            scale = _Scaling(x[train])
            model = _svc(c, balanced_weights(y[train]), self.solver).fit(scale(x[train]), y[train])
            predicted = model.predict(scale(x[test]))
            balanced.append(float(balanced_accuracy(y[test], predicted)))
            plain.append(float(np.mean(predicted == y[test])))
            speakers.append(len(np.unique(groups[test])))
        return _Score(balanced, plain, chosen, speakers)

    # ------------------------------------------------------------ the contract

    def run(
        self, latents: np.ndarray, labels: np.ndarray, groups: np.ndarray, target: str, seed: int
    ) -> ProbeResult:
        x, labels, groups, _ = probe_inputs(latents, labels, groups)

        prepared = []
        for task in self.tasks:
            y, names = self._task_labels(task, labels, target)
            n_splits = self._outer_splits(y, groups)
            # one stream per task, so 'both' reports what 'target' alone would
            task_seed = int(np.random.SeedSequence([seed, TASKS.index(task)]).generate_state(1)[0])
            # Every class has n_splits speakers in the real labels and in every
            # permutation alike, so checking once here means nothing fails midway.
            speaker_grouped_folds(y, groups, n_splits, task_seed, names=names)
            self._check_inner(n_splits, y, groups, names)
            prepared.append((task, y, names, n_splits, task_seed))

        result = ProbeResult(metrics={})
        for task, y, names, n_splits, task_seed in prepared:
            self._run_task(result, x, y, groups, names, n_splits, task, task_seed)
        return result

    def _run_task(
        self,
        result: ProbeResult,
        x: np.ndarray,
        y: np.ndarray,
        groups: np.ndarray,
        names: dict[object, str] | None,
        n_splits: int,
        task: str,
        seed: int,
    ) -> None:
        observed: list[_Score] = []

        def score(assigned: np.ndarray, fold_seed: int) -> float:
            outcome = self._cross_validate(x, assigned, groups, n_splits, fold_seed, names)
            if not observed:  # the first call scores the real labels
                observed.append(outcome)
            return outcome.mean

        # Parameters are valid by construction and inputs checked once above; sklearn's
        # per-call validation would otherwise dominate the thousands of small fits.
        with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
            test = speaker_permutation_test(score, y, groups, self.n_permutations, seed)
        real = observed[0]
        control = float(np.mean(test.null)) if test.null.size else float("nan")
        result.metrics.update(
            {
                f"balanced_accuracy_{task}": test.observed,
                f"accuracy_{task}": float(np.mean(real.plain)),
                f"chance_{task}": chance_balanced_accuracy(y),
                f"majority_rate_{task}": majority_rate(y),
                f"p_value_{task}": test.p_value,
                f"control_balanced_accuracy_{task}": control,
                f"selectivity_{task}": test.observed - control,
            }
        )
        result.details.update(
            {
                f"balanced_accuracy_{task}_folds": real.balanced,
                f"accuracy_{task}_folds": real.plain,
                f"C_{task}_folds": real.c,
                f"test_speakers_{task}_folds": [float(n) for n in real.test_speakers],
                f"null_balanced_accuracy_{task}": test.null.tolist(),
            }
        )


class _Scaling:
    """``StandardScaler`` fitted on ``part``, as plain numpy: the same arithmetic
    (population standard deviation, constant features left unscaled) without
    sklearn's per-call validation, which cost more than the SVC fits themselves."""

    def __init__(self, part: np.ndarray) -> None:
        self.mean = part.mean(axis=0)
        scale = part.std(axis=0)
        self.scale = np.where(scale < 10 * np.finfo(scale.dtype).eps, 1.0, scale)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return (x - self.mean) / self.scale


def balanced_weights(y: np.ndarray) -> dict[object, float]:
    """``class_weight='balanced'`` of these training labels, as an explicit dict.

    The SVC fitted with it is the same model as with ``class_weight='balanced'`` (a
    test checks it); computing the weights once per training part instead of once
    per fit saves about a third of each small fit, which the permutation test
    repeats thousands of times.
    """
    # compute_class_weight's formula, without its validation (a fifth of the probe's time)
    classes, counts = np.unique(y, return_counts=True)
    weights = len(y) / (len(classes) * counts.astype(np.float64))
    return dict(zip(classes.tolist(), weights.tolist(), strict=True))


def _svc(c: float, class_weight: dict[object, float], solver: str) -> SVC | LinearSVC:
    if solver == "liblinear":
        # squared hinge, one-vs-rest, intercept penalised: a different model from
        # libsvm's, cheaper from a few hundred clips on (docs/probes.md)
        return LinearSVC(C=c, class_weight=class_weight, dual="auto", max_iter=10_000)
    # libsvm's exact solver (the study's): no convergence warnings at large C
    return SVC(kernel="linear", C=c, class_weight=class_weight)
