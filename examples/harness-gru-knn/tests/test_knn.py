"""The knn probe: its contract, its numbers on data with a known answer, and in a suite."""

import numpy as np
import pytest
from harness.plugin.contracts import check_probe_result

from harness_gru_knn import knn

LANGUAGES = ("es", "it", "ja")


def synthetic(separation: float, speakers: int = 4, clips: int = 5, dim: int = 6, seed: int = 0):
    """Latents of LANGUAGES x speakers x clips: a language centre plus speaker and clip noise."""
    rng = np.random.default_rng(seed)
    centres = {lang: rng.normal(0, separation, dim) for lang in LANGUAGES}
    rows, labels, groups = [], [], []
    for lang in LANGUAGES:
        for s in range(speakers):
            speaker = centres[lang] + rng.normal(0, 0.3, dim)
            for _ in range(clips):
                rows.append(speaker + rng.normal(0, 0.3, dim))
                labels.append(lang)
                groups.append(f"{lang}/{s}")
    return np.array(rows), np.array(labels), np.array(groups)


def declared():
    (component,) = knn.harness_probes()
    return component, [m.name for m in component.metrics]


def test_metrics_are_declared_and_finite():
    component, names = declared()
    latents, labels, groups = synthetic(separation=3.0)
    result = component.create(**component.defaults()).run(latents, labels, groups, "es", seed=0)
    check_probe_result("knn", names, result)
    assert set(result.metrics) == set(names)
    assert result.metrics["chance"] == pytest.approx(1 / 3)


def test_separable_languages_score_high_with_a_small_p_value():
    latents, labels, groups = synthetic(separation=3.0)
    result = knn.KNNProbe(n_neighbors=3, n_permutations=20).run(latents, labels, groups, "es", 0)
    assert result.metrics["balanced_accuracy"] > 0.9
    assert result.metrics["p_value"] <= 2 / 21
    # four speakers per language allow four speaker-grouped folds
    assert len(result.details["fold_balanced_accuracy"]) == 4


def test_latents_without_language_information_score_near_chance():
    latents, labels, groups = synthetic(separation=0.0)
    result = knn.KNNProbe(n_neighbors=3, n_permutations=20).run(latents, labels, groups, "es", 0)
    assert abs(result.metrics["balanced_accuracy"] - 1 / 3) < 0.25
    assert result.metrics["p_value"] > 0.05


def test_same_seed_same_numbers():
    latents, labels, groups = synthetic(separation=1.0)
    probe = knn.KNNProbe(n_permutations=5)
    first = probe.run(latents, labels, groups, "es", seed=3)
    again = probe.run(latents, labels, groups, "es", seed=3)
    assert first.metrics == again.metrics


def test_too_few_speakers_is_a_clear_error():
    latents, labels, groups = synthetic(separation=1.0, speakers=1)
    with pytest.raises(ValueError, match="1 speaker"):
        knn.KNNProbe().run(latents, labels, groups, "es", seed=0)


def test_knn_rows_reach_the_probe_table(harness_suite):
    results = harness_suite(
        probes=[{"plugin": "knn", "n_neighbors": 3, "n_permutations": 5}],
        extractors=["feature_stats"],
        extra_plugins=[knn],
    )
    rows = results.probes[results.probes["probe"] == "knn"]
    assert set(rows["metric"]) == {"balanced_accuracy", "chance", "p_value"}
    assert set(rows["latent_space"]) == {"feature_stats/mean_std"}
    scores = rows[rows["metric"] == "balanced_accuracy"]["value"]
    assert scores.between(0, 1).all()
    direction = rows.drop_duplicates("metric").set_index("metric")["higher_is_better"]
    assert direction["balanced_accuracy"] and not direction["p_value"]
