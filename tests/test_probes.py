"""Probes: speaker-grouped CV, balanced accuracy, speaker-level permutations, t-SNE.

Data are small synthetic Gaussian latents (one centre per language, one offset per
speaker) and most probes use a fixed C, so the whole file runs in seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import GroupKFold, permutation_test_score
from sklearn.svm import SVC

import harness_plugins.probes.linear_svc_probe as linear_svc_module
from harness.plugin.contracts import ProbeResult, check_probe_result
from harness.run.probing import (
    balanced_accuracy,
    check_folds,
    majority_rate,
    permutation_p_value,
    permute_across_speakers,
    speaker_grouped_folds,
)
from harness_plugins.probes.linear_svc_probe import LinearSVCProbe, balanced_weights
from harness_plugins.probes.tsne_probe import TSNEProbe, clip_perplexity, neighbour_agreement

from helpers.latents import create, make_latents

THREE = {"en": 4, "ja": 4, "fr": 4}


# ------------------------------------------------------------------ shared utilities


def test_numpy_balanced_accuracy_matches_sklearn() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        y_true = rng.integers(0, 3, 30)
        y_pred = rng.integers(0, 3, 30)
        expected = balanced_accuracy_score(y_true, y_pred)
        assert balanced_accuracy(y_true, y_pred) == pytest.approx(expected)


@pytest.mark.parametrize("n_splits", [2, 3, 4])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_folds_never_share_a_speaker_and_hold_every_class(n_splits: int, seed: int) -> None:
    # unequal clips per speaker, so stratification by clip counts is not trivial
    _, labels, groups = make_latents({"en": 4, "ja": 5, "fr": 7}, seed=seed)
    keep = np.random.default_rng(seed).random(len(labels)) > 0.3
    keep[np.unique(groups, return_index=True)[1]] = True  # every speaker keeps a clip
    labels, groups = labels[keep], groups[keep]
    folds = speaker_grouped_folds(labels, groups, n_splits, seed)
    assert len(folds) == n_splits
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(len(labels)))  # each clip tested once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert set(labels[test]) == set(labels) == set(labels[train])


def test_check_folds_rejects_a_shared_speaker() -> None:
    labels = np.array(["en", "en", "ja", "ja"])
    groups = np.array(["a", "b", "c", "c"])
    with pytest.raises(AssertionError, match="speakers in both train and test"):
        check_folds([(np.array([0, 1, 2]), np.array([3]))], labels, groups)


def test_permutation_reassigns_whole_speakers_keeping_class_sizes() -> None:
    _, labels, groups = make_latents({"en": 3, "ja": 6}, clips=2)
    rng = np.random.default_rng(0)
    changed = False
    for _ in range(10):
        permuted = permute_across_speakers(labels, groups, rng)
        for speaker in np.unique(groups):
            assert len(set(permuted[groups == speaker])) == 1
        speakers_per_label = {
            lang: len(set(groups[permuted == lang])) for lang in np.unique(labels)
        }
        assert speakers_per_label == {"en": 3, "ja": 6}
        changed |= bool((permuted != labels).any())
    assert changed


def test_sklearn_grouped_permutation_permutes_nothing_here() -> None:
    """Why the harness has its own permutation: sklearn shuffles labels within groups,
    and with one language per speaker that leaves every label where it was."""
    x, labels, groups = make_latents({"en": 3, "ja": 3}, dim=4)
    score, null, _ = permutation_test_score(
        SVC(kernel="linear"), x, labels, groups=groups, cv=GroupKFold(3), n_permutations=5
    )
    assert np.allclose(null, score)


def test_p_value_counts_ties_and_never_reaches_zero() -> None:
    assert permutation_p_value(0.9, [0.1, 0.2, 0.3]) == pytest.approx(1 / 4)
    assert permutation_p_value(0.5, [0.5, 0.6, 0.1]) == pytest.approx(3 / 4)
    assert np.isnan(permutation_p_value(0.5, []))


def test_speaker_with_two_languages_is_rejected() -> None:
    labels = np.array(["en", "ja", "ja", "ja"])
    groups = np.array(["a", "a", "b", "c"])
    with pytest.raises(ValueError, match="speaker 'a' has clips labelled"):
        permute_across_speakers(labels, groups, np.random.default_rng(0))


# ------------------------------------------------------------------ linear_svc


def test_separable_languages_score_high_and_significant() -> None:
    # Six speakers per language: with four, 3 of the C(12, 4) = 495 target relabellings
    # (all speakers of one language) are as separable as the truth, which puts the
    # attainable p-value near 0.01 however good the latents are (docs/probes.md).
    x, labels, groups = make_latents({"en": 6, "ja": 6, "fr": 6}, clips=2)
    result = LinearSVCProbe(task="target", n_splits=3, C=1.0, n_permutations=100).run(
        x, labels, groups, "ja", seed=0
    )
    m = result.metrics
    assert m["balanced_accuracy_target"] > 0.9
    assert m["p_value_target"] < 0.01
    # even with real language structure, the permutation null sits at chance
    assert np.mean(result.details["null_balanced_accuracy_target"]) == pytest.approx(0.5, abs=0.06)
    assert m["selectivity_target"] > 0.3
    assert len(result.details["balanced_accuracy_target_folds"]) == 3


def test_separable_languages_multiclass() -> None:
    x, labels, groups = make_latents(THREE)
    result = LinearSVCProbe(task="multiclass", n_splits=4, C=1.0, n_permutations=30).run(
        x, labels, groups, "ja", seed=0
    )
    m = result.metrics
    assert m["balanced_accuracy_multiclass"] > 0.9
    assert m["p_value_multiclass"] == pytest.approx(1 / 31)  # no null score reaches it
    assert np.mean(result.details["null_balanced_accuracy_multiclass"]) == pytest.approx(
        1 / 3, abs=0.08
    )


def test_no_language_information_scores_chance_even_with_strong_speakers() -> None:
    # Speakers are far apart (a clip-level split would let the probe memorise them),
    # languages carry nothing: grouped CV must put the probe at chance.
    x, labels, groups = make_latents(THREE, language_scale=0.0, speaker_scale=3.0, seed=3)
    result = LinearSVCProbe(task="target", n_splits=4, C=1.0, n_permutations=100).run(
        x, labels, groups, "ja", seed=0
    )
    m = result.metrics
    null = np.array(result.details["null_balanced_accuracy_target"])
    assert len(null) == 100
    assert m["balanced_accuracy_target"] == pytest.approx(0.5, abs=0.15)
    assert m["p_value_target"] > 0.05
    assert null.mean() == pytest.approx(0.5, abs=0.05)
    assert m["control_balanced_accuracy_target"] == pytest.approx(null.mean())
    assert m["selectivity_target"] == pytest.approx(
        m["balanced_accuracy_target"] - m["control_balanced_accuracy_target"]
    )


def test_chance_and_majority_show_the_studys_imbalance() -> None:
    """Target vs two others is 1:2: plain accuracy's floor is 2/3, balanced accuracy's 1/2."""
    x, labels, groups = make_latents(THREE)
    m = LinearSVCProbe(n_splits=4, C=1.0, n_permutations=0).run(x, labels, groups, "ja", 0).metrics
    assert m["chance_target"] == 0.5
    assert m["majority_rate_target"] == pytest.approx(2 / 3)
    assert m["chance_multiclass"] == pytest.approx(1 / 3)
    assert majority_rate(np.array(["a", "b", "b"])) == pytest.approx(2 / 3)
    # no permutations: no p-value or control, reported as NaN rather than invented
    assert np.isnan(m["p_value_target"]) and np.isnan(m["selectivity_target"])


def test_folds_used_by_the_probe_are_speaker_disjoint(monkeypatch) -> None:
    seen: list[tuple[np.ndarray, np.ndarray, list]] = []

    def recording(labels, groups, n_splits, seed, *args, **kwargs):
        folds = speaker_grouped_folds(labels, groups, n_splits, seed, *args, **kwargs)
        seen.append((labels, groups, folds))
        return folds

    monkeypatch.setattr(linear_svc_module, "speaker_grouped_folds", recording)
    x, labels, groups = make_latents({"en": 6, "ja": 6})
    LinearSVCProbe(n_splits=3, n_permutations=2).run(x, labels, groups, "ja", seed=0)
    assert len(seen) >= 1 + 2 * 3  # the check, then real labels and two permutations per task
    for y, g, folds in seen:
        for train, test in folds:
            assert not set(g[train]) & set(g[test])
            assert set(y[test]) == set(y)


def test_choice_of_c_never_sees_the_outer_test_fold() -> None:
    x, labels, groups = make_latents({"en": 5, "ja": 5}, language_scale=0.7, seed=4)
    y = (labels == "ja").astype(int)
    folds = speaker_grouped_folds(y, groups, 4, seed=0)
    probe = LinearSVCProbe(C_grid=[1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0])
    chosen = probe._choose_cs(x, y, folds)
    changed = []
    for o, (_, test) in enumerate(folds):
        # Replace fold o's test clips by noise: fold o's C must not move; a test that
        # leaked into the choice of C would move it for some fold.
        noisy = x.copy()
        noisy[test] = 50 * np.random.default_rng(o).normal(size=(len(test), x.shape[1]))
        again = probe._choose_cs(noisy, y, folds)
        assert again[o] == chosen[o]
        changed.append(again != chosen)
    assert any(changed), "the noise should change the choice for some other fold"


def test_explicit_balanced_weights_fit_the_same_svc() -> None:
    x, labels, _ = make_latents({"en": 2, "ja": 5, "fr": 3}, dim=6, language_scale=0.5)
    weights = balanced_weights(labels)
    ours = SVC(kernel="linear", C=0.1, class_weight=weights).fit(x, labels)
    reference = SVC(kernel="linear", C=0.1, class_weight="balanced").fit(x, labels)
    assert np.allclose(ours.dual_coef_, reference.dual_coef_)
    assert np.array_equal(ours.predict(x), reference.predict(x))
    assert weights["ja"] < weights["fr"] < weights["en"]


def test_too_few_speakers_fails_before_fitting(monkeypatch) -> None:
    def no_fit(c: float, class_weight: dict) -> None:
        raise AssertionError("fitted before the data were checked")

    monkeypatch.setattr(linear_svc_module, "_svc", no_fit)
    x, labels, groups = make_latents({"en": 4, "ja": 2, "fr": 4})
    probe = LinearSVCProbe(task="multiclass", n_splits=3, C=1.0)
    with pytest.raises(
        ValueError, match="language 'ja' has 2 speakers; 3-fold speaker-grouped CV needs at least 3"
    ):
        probe.run(x, labels, groups, "ja", seed=0)
    target = LinearSVCProbe(task="target", n_splits=3, C=1.0)
    with pytest.raises(ValueError, match="target language 'ja' has 2 speakers"):
        target.run(x, labels, groups, "ja", seed=0)


def test_inner_cv_impossible_says_what_to_change() -> None:
    # two speakers per language: 2 outer folds leave one speaker per language to train on
    x, labels, groups = make_latents({"en": 2, "ja": 2})
    with pytest.raises(ValueError, match=r"needs at least 3 speaker-grouped folds.*Give a fixed C"):
        LinearSVCProbe(n_permutations=0).run(x, labels, groups, "ja", seed=0)
    # a fixed C needs no inner CV, so the same data work
    LinearSVCProbe(C=1.0, n_permutations=0).run(x, labels, groups, "ja", seed=0)


def test_unknown_target_is_named() -> None:
    x, labels, groups = make_latents(THREE)
    with pytest.raises(ValueError, match="target language 'de' is not among"):
        LinearSVCProbe(task="target", C=1.0).run(x, labels, groups, "de", seed=0)


def test_registered_metrics_pass_the_contract_and_all_are_reported() -> None:
    component, probe = create("linear_svc", n_permutations=1, n_splits=3)
    x, labels, groups = make_latents(THREE)
    result = probe.run(x, labels, groups, "ja", seed=0)
    declared = [metric.name for metric in component.metrics]
    assert isinstance(check_probe_result(component.name, declared, result), ProbeResult)
    assert set(result.metrics) == set(declared)
    assert all(np.isfinite(v) for v in result.metrics.values())
    assert all(0.001 <= c <= 1.0 for c in result.details["C_target_folds"])
    for metric in component.metrics:  # every value inside the range the probe declared
        low, high = metric.bounds or (-np.inf, np.inf)
        assert low <= result.metrics[metric.name] <= high, metric.name


def test_task_selects_metric_names() -> None:
    x, labels, groups = make_latents(THREE)
    only = LinearSVCProbe(task="multiclass", n_splits=3, C=1.0, n_permutations=0)
    names = set(only.run(x, labels, groups, "ja", seed=0).metrics)
    assert names and all(name.endswith("_multiclass") for name in names)


def test_same_seed_same_result() -> None:
    x, labels, groups = make_latents(THREE)
    probe = LinearSVCProbe(n_splits=3, n_permutations=2)
    first = probe.run(x, labels, groups, "ja", seed=7)
    second = probe.run(x, labels, groups, "ja", seed=7)
    assert first.metrics == second.metrics
    assert first.details == second.details
    # 'both' reports what a single task reports with the same seed
    alone = LinearSVCProbe(task="target", n_splits=3, n_permutations=2)
    assert alone.run(x, labels, groups, "ja", seed=7).metrics.items() <= first.metrics.items()


# ------------------------------------------------------------------ tsne


def test_tsne_coordinates_and_metrics() -> None:
    x, labels, groups = make_latents(THREE, language_scale=4.0)
    component, probe = create("tsne", max_iter=250)
    result = probe.run(x, labels, groups, "ja", seed=0)
    check_probe_result(component.name, [m.name for m in component.metrics], result)
    assert set(result.metrics) == {m.name for m in component.metrics}
    assert result.artifacts["coords"].shape == (len(x), 2)
    assert np.isfinite(result.artifacts["coords"]).all()
    # 36 clips: perplexity 30 is lowered to 35 / 3
    assert result.details["perplexity_used"] == [pytest.approx(35 / 3)]
    m = result.metrics
    assert 0.5 < m["trustworthiness"] <= 1.0
    assert m["neighbour_language_agreement"] > m["neighbour_language_agreement_chance"] + 0.3
    again = probe.run(x, labels, groups, "ja", seed=0)
    assert np.array_equal(again.artifacts["coords"], result.artifacts["coords"])


def test_neighbour_agreement_ignores_same_speaker_neighbours() -> None:
    # Two speakers per language sit far apart; each speaker's clips coincide. Counting
    # same-speaker neighbours would give agreement 1; other speakers are all far.
    points = np.array([[0, 0], [0, 0], [10, 0], [10, 0], [0, 10], [0, 10], [10, 10], [10, 10]])
    labels = np.array(["en", "en", "en", "en", "ja", "ja", "ja", "ja"])
    groups = np.array(["a", "a", "b", "b", "c", "c", "d", "d"])
    observed, chance = neighbour_agreement(points.astype(float), labels, groups, k=2)
    # nearest other speakers of 'a' (at 0,0) are 'b' (en, 10 away) and 'c' (ja, 10 away)
    assert observed == pytest.approx(0.5)
    assert chance == pytest.approx(2 / 6)


def test_perplexity_clipping_and_too_few_clips() -> None:
    assert clip_perplexity(30.0, 1000) == 30.0
    assert clip_perplexity(30.0, 31) == 10.0
    x, labels, groups = make_latents({"en": 2, "ja": 2}, clips=2)
    with pytest.raises(ValueError, match="n_neighbors = 5 needs more than 10 clips, got 8"):
        TSNEProbe(max_iter=250).run(x, labels, groups, "ja", seed=0)


def test_tsne_runs_only_for_the_seeds_asked_for() -> None:
    x, labels, groups = make_latents(THREE, clips=4, dim=8, seed=3)
    _, probe = create("tsne", perplexity=5.0, max_iter=250, seeds=[0])
    skipped = probe.run(x, labels, groups, "en", seed=1)
    assert skipped.skipped == "drawn for seed(s) [0] only"
    assert not skipped.metrics and not skipped.artifacts
    drawn = probe.run(x, labels, groups, "en", seed=0)
    assert drawn.artifacts["coords"].shape == (len(x), 2)
    assert np.isfinite(drawn.metrics["trustworthiness"])


def test_liblinear_solver_fits_linear_svc_models_and_finds_the_language() -> None:
    from sklearn.svm import LinearSVC

    x, labels, groups = make_latents(THREE, clips=4)
    _, libsvm = create("linear_svc", n_permutations=9, n_splits=3)
    _, liblinear = create("linear_svc", n_permutations=9, n_splits=3, solver="liblinear")
    assert isinstance(linear_svc_module._svc(1.0, {}, "liblinear"), LinearSVC)
    assert isinstance(linear_svc_module._svc(1.0, {}, "libsvm"), SVC)
    for probe in (libsvm, liblinear):
        result = probe.run(x, labels, groups, "ja", seed=0)
        assert result.metrics["balanced_accuracy_multiclass"] > 0.7  # chance: 1/3
        assert result.metrics["p_value_multiclass"] == pytest.approx(0.1)  # 1 / (1 + 9)
    # no language in the latents: both stay near chance
    x0, labels0, groups0 = make_latents(THREE, clips=4, language_scale=0.0)
    score = liblinear.run(x0, labels0, groups0, "ja", seed=0).metrics[
        "balanced_accuracy_multiclass"
    ]
    assert score < 0.5
