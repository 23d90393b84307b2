"""The t-SNE probe itself (scikit-learn), declared in
:mod:`harness_plugins.probes.tsne`."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.manifold import TSNE, trustworthiness
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from harness.plugin.contracts import ProbeResult
from harness.run.probing import probe_inputs


def clip_perplexity(perplexity: float, n: int) -> float:
    """Perplexity actually used: at most (n - 1) / 3.

    sklearn's Barnes-Hut t-SNE calibrates each point's Gaussian on its
    ``3 * perplexity`` nearest neighbours; from (n - 1) / 3 up that neighbourhood
    is every other point, so the embedding has no local structure left to keep
    (and sklearn rejects perplexity >= n outright). Small probe sets (tens of
    clips) would otherwise fail or give a meaningless picture at the default 30.
    """
    return float(min(perplexity, (n - 1) / 3))


def neighbour_agreement(
    points: np.ndarray, labels: np.ndarray, groups: np.ndarray, k: int
) -> tuple[float, float]:
    """Mean fraction of each clip's k nearest other-speaker clips sharing its label,
    and the same fraction expected for random other-speaker clips.

    Clips of the same speaker are left out: they are near each other for reasons
    that have nothing to do with language (voice), which would inflate agreement
    the way a clip-level split inflates probe accuracy.
    """
    points = np.asarray(points, dtype=np.float64)
    squared = np.sum(points**2, axis=1)
    distance = squared[:, None] + squared[None, :] - 2.0 * points @ points.T
    same_speaker = groups[:, None] == groups[None, :]
    distance[same_speaker] = np.inf  # includes each clip itself
    nearest = np.argsort(distance, axis=1, kind="stable")[:, :k]
    same_label = labels[:, None] == labels[None, :]
    observed = float(np.mean(np.take_along_axis(same_label, nearest, axis=1)))
    others = ~same_speaker
    chance = float(np.mean((same_label & others).sum(axis=1) / others.sum(axis=1)))
    return observed, chance


class TSNEProbe:
    """Seeded 2-D t-SNE of the standardised latents, with faithfulness metrics."""

    def __init__(
        self,
        perplexity: float = 30.0,
        max_iter: int = 1000,
        n_neighbors: int = 5,
        seeds: Sequence[int] | None = None,
    ):
        self.perplexity = perplexity
        self.max_iter = max_iter
        self.n_neighbors = n_neighbors
        self.seeds = None if seeds is None else set(seeds)

    def run(
        self,
        latents: np.ndarray,
        labels: np.ndarray,
        groups: np.ndarray,
        target: str,
        seed: int,
    ) -> ProbeResult:
        if self.seeds is not None and seed not in self.seeds:
            # a picture, not a test: runs of other seeds skip it, on purpose
            return ProbeResult(skipped=f"drawn for seed(s) {sorted(self.seeds)} only")
        x, labels, groups, table = probe_inputs(latents, labels, groups)
        n, k = len(x), self.n_neighbors
        # trustworthiness is only defined for k < n / 2
        if 2 * k >= n:
            raise ValueError(f"n_neighbors = {k} needs more than {2 * k} clips, got {n}")
        fewest_others = n - int(np.bincount(table.inverse).max())
        if fewest_others < k:
            raise ValueError(
                f"n_neighbors = {k} needs at least {k} clips of other speakers for every clip; "
                f"some clip has only {fewest_others}"
            )

        scaled = StandardScaler().fit_transform(x)
        perplexity = clip_perplexity(self.perplexity, n)
        tsne = TSNE(
            n_components=2,
            perplexity=perplexity,
            max_iter=self.max_iter,
            init="pca",
            learning_rate="auto",
            random_state=seed,
        )
        # One OpenMP thread: for probe-sized data (tens to hundreds of clips) the threads
        # cost more than they save, badly so when runs share the cores: 64 clips took
        # 5.5 s with all threads on a loaded 2-core machine and 0.2 s with one.
        with threadpool_limits(limits=1):
            coords = tsne.fit_transform(scaled)

        agreement, chance = neighbour_agreement(coords, labels, groups, k)
        agreement_latent, _ = neighbour_agreement(scaled, labels, groups, k)
        return ProbeResult(
            metrics={
                "trustworthiness": float(trustworthiness(scaled, coords, n_neighbors=k)),
                "neighbour_language_agreement": agreement,
                "neighbour_language_agreement_latent": agreement_latent,
                "neighbour_language_agreement_chance": chance,
            },
            artifacts={"coords": coords.astype(np.float32)},
            details={"perplexity_used": [perplexity]},
        )
