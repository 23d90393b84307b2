"""The ridge probe itself (torch), declared in :mod:`harness_plugins.probes.ridge`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from harness.hashing import stable_seed
from harness.learning.training import resolve_device
from harness.plugin.contracts import ProbeResult
from harness.run import probe_tasks
from harness.run.probing import (
    SpeakerTable,
    fold_of_speakers,
    permutation_p_value,
    probe_inputs,
    relabel_within_folds,
    speaker_grouped_folds,
)
from harness_plugins.probes.ridge import DEFAULT_ALPHAS, alphas_problem
from harness_plugins.probes.ridge_operators import ridge_out_of_fold


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
        problem = alphas_problem(alphas)
        if problem:
            raise ValueError(problem)
        self.tasks = probe_tasks.tasks_of(task)
        self.n_splits = n_splits
        self.alphas = sorted((float(a) for a in alphas), reverse=True)
        self.n_permutations = n_permutations
        self.permutation_seed = permutation_seed
        self.fold_seed = fold_seed
        self.device = resolve_device(device)
        self.balanced = decision == "balanced"

    def run(
        self, latents: np.ndarray, labels: np.ndarray, groups: np.ndarray, target: str, seed: int
    ) -> ProbeResult:
        # seed is unused on purpose: folds and relabellings depend on the speakers only
        x, labels, groups, table = probe_inputs(latents, labels, groups)
        languages = np.unique(table.labels)
        if "target" in self.tasks:
            probe_tasks.check_target(languages, target)
        n_splits = self.n_splits or probe_tasks.auto_splits(labels, groups)
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
            self._report(result, task, truth, predicted, chosen, n_classes, table)
        return result

    def _report(
        self,
        result: ProbeResult,
        task: str,
        truth: np.ndarray,
        predicted: np.ndarray,
        chosen: np.ndarray,
        n_classes: int,
        table: SpeakerTable,
    ) -> None:
        """One task's metrics and details: relabelling 0 is the observed labels."""
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
