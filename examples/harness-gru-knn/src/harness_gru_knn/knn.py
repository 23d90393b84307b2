"""k-nearest-neighbours language probe with speaker-grouped cross-validation.

How well do clips of the same language sit next to each other in a latent
space? Each clip is classified by its k nearest neighbours among clips of
*other* speakers (the folds never split a speaker), and the score is balanced
accuracy, so chance is 1 / number of languages whatever the class sizes. The
p-value comes from reassigning languages to whole speakers and scoring again
(:func:`harness.run.probing.speaker_permutation_test`).
"""

from __future__ import annotations

import numpy as np
from harness import Component, Metric, Param, hookimpl
from harness.plugin.contracts import ProbeResult
from harness.run.probing import (
    chance_balanced_accuracy,
    fewest_speakers,
    speaker_grouped_folds,
    speaker_permutation_test,
)
from sklearn.metrics import balanced_accuracy_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


class KNNProbe:
    """The probe contract: ``run(latents, labels, groups, target, seed) -> ProbeResult``."""

    def __init__(
        self,
        n_neighbors: int = 5,
        folds: int = 5,
        metric: str = "euclidean",
        scale: bool = True,
        n_permutations: int = 20,
    ) -> None:
        self.n_neighbors = n_neighbors
        self.folds = folds
        self.metric = metric
        self.scale = scale
        self.n_permutations = n_permutations

    def cross_validate(
        self, latents: np.ndarray, labels: np.ndarray, groups: np.ndarray, seed: int
    ) -> list[float]:
        """Balanced accuracy of each speaker-grouped fold."""
        # a small probe set has few speakers per language: use as many folds as it
        # allows, but at least 2, so too few speakers fails with the counts
        n_splits = max(2, min(self.folds, fewest_speakers(labels, groups)))
        folds = speaker_grouped_folds(labels, groups, n_splits, seed, what="knn probe CV")
        scores = []
        for train, test in folds:
            k = min(self.n_neighbors, len(train))
            knn = KNeighborsClassifier(n_neighbors=k, metric=self.metric)
            classifier = make_pipeline(StandardScaler(), knn) if self.scale else knn
            classifier.fit(latents[train], labels[train])
            predicted = classifier.predict(latents[test])
            scores.append(float(balanced_accuracy_score(labels[test], predicted)))
        return scores

    def run(
        self,
        latents: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        target: str,
        seed: int,
    ) -> ProbeResult:
        folds: list[list[float]] = []

        def score(assigned: np.ndarray, fold_seed: int) -> float:
            folds.append(self.cross_validate(latents, assigned, groups, fold_seed))
            return float(np.mean(folds[-1]))

        # the first call scores the real labels, the others speaker-level permutations
        test = speaker_permutation_test(score, labels, groups, self.n_permutations, seed)
        return ProbeResult(
            metrics={
                "balanced_accuracy": test.observed,
                "chance": chance_balanced_accuracy(labels),
                "p_value": test.p_value,
            },
            details={
                "fold_balanced_accuracy": folds[0],
                "null_balanced_accuracy": test.null.tolist(),
            },
        )


@hookimpl
def harness_probes() -> list[Component]:
    return [
        Component(
            name="knn",
            factory=KNNProbe,
            doc="k-nearest-neighbours language classifier, speaker-grouped CV, balanced accuracy",
            params=[
                Param("n_neighbors", int, 5, "neighbours that vote on a clip's language", min=1),
                Param("folds", int, 5, "speaker-grouped folds (fewer if speakers are few)", min=2),
                Param(
                    "metric",
                    str,
                    "euclidean",
                    "distance between latents",
                    choices=("euclidean", "cosine", "manhattan"),
                ),
                Param("scale", bool, True, "standardise each latent dimension on the train fold"),
                Param(
                    "n_permutations",
                    int,
                    20,
                    "speaker-level label permutations for the p-value (0: p_value is NaN)",
                    min=0,
                ),
            ],
            metrics=[
                Metric(
                    "balanced_accuracy",
                    "mean over folds of balanced accuracy",
                    chance="chance",
                    headline=True,
                ),
                Metric(
                    "chance",
                    "balanced accuracy of guessing (1 / number of languages)",
                    role="reference",
                ),
                Metric(
                    "p_value",
                    "p-value of balanced_accuracy, languages permuted across speakers",
                    higher_is_better=False,
                    role="p_value",
                ),
            ],
        )
    ]
