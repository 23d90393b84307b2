"""The ridge probe: RidgeClassifier's predictions, exact leave-one-speaker-out
error, relabellings shared across runs, an honest null and a working test."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.preprocessing import StandardScaler

from harness.hashing import stable_seed
from harness.plugin.contracts import check_probe_result
from harness.run.probing import probe_inputs, relabel_within_folds, speaker_grouped_folds
from harness_plugins.probes.ridge_operators import FoldRidge
from harness_plugins.probes.ridge_probe import RidgeProbe

from helpers.latents import create, make_latents

ROOT = Path(__file__).parent.parent
FOUR = {"en": 5, "ja": 5, "fr": 5, "de": 5}


def probe_folds(labels: np.ndarray, groups: np.ndarray, n_splits: int, fold_seed: int = 0):
    """The folds RidgeProbe uses (they depend on the speakers, not the run seed)."""
    speakers = np.unique(groups).tolist()
    seed = stable_seed("ridge folds", fold_seed, *speakers) % 2**32
    return speaker_grouped_folds(labels, groups, n_splits, seed)


@pytest.mark.parametrize("task", ["multiclass", "target"])
def test_predictions_equal_ridge_classifier_on_the_same_folds(task: str) -> None:
    x, labels, groups = make_latents(FOUR, clips=4, dim=12, language_scale=0.6, seed=1)
    probe = RidgeProbe(task=task, n_splits=5, alphas=[3.0], n_permutations=0, decision="argmax")
    ours = np.array(probe.run(x, labels, groups, "ja", seed=0).details[f"oof_prediction_{task}"])
    y = labels if task == "multiclass" else (labels == "ja").astype(int)
    expected = np.empty(len(y), dtype=y.dtype)
    for train, test in probe_folds(labels, groups, 5):
        scaler = StandardScaler().fit(x[train])
        model = RidgeClassifier(alpha=3.0).fit(scaler.transform(x[train]), y[train])
        expected[test] = model.predict(scaler.transform(x[test]))
    # classes are indexed in sorted order of the task's labels (target: 0 others, 1 target)
    assert np.array_equal(np.unique(y)[ours.astype(int)], expected)


def test_balanced_decision_equals_argmax_when_classes_are_equal() -> None:
    x, labels, groups = make_latents(FOUR, clips=4, dim=12, language_scale=0.6, seed=1)
    runs = [
        RidgeProbe(task="multiclass", n_permutations=5, decision=d).run(x, labels, groups, "ja", 0)
        for d in ("balanced", "argmax")
    ]
    assert runs[0].details == runs[1].details


def test_balanced_decision_does_not_just_answer_the_larger_class() -> None:
    # target vs three pooled languages, no language information: argmax of the scores
    # leans to the pooled class; the balanced rule predicts both classes
    x, labels, groups = make_latents(FOUR, clips=6, dim=40, language_scale=0.0, seed=2)
    for decision, minimum in (("balanced", 0.2), ("argmax", 0.0)):
        probe = RidgeProbe(task="target", n_permutations=0, decision=decision)
        predicted = np.array(probe.run(x, labels, groups, "ja", 0).details["oof_prediction_target"])
        if decision == "balanced":
            assert predicted.mean() > minimum
        else:
            assert predicted.mean() < 0.2


def test_leave_one_speaker_out_error_is_exact() -> None:
    x, labels, groups = make_latents(FOUR, clips=3, dim=8, language_scale=0.5, seed=3)
    _, _, _, table = probe_inputs(x, labels, groups)
    train, test = probe_folds(labels, groups, 5)[0]
    speakers = np.unique(table.inverse[train])
    local = np.full(len(table.speakers), -1)
    local[speakers] = np.arange(len(speakers))
    gram = FoldRidge.fit(torch.as_tensor(x), train, test, local[table.inverse]).press_gram(2.0)
    y_speaker = np.random.default_rng(0).normal(size=len(speakers))
    z = StandardScaler().fit(x[train]).transform(x[train])
    of_clip = local[table.inverse[train]]
    y = y_speaker[of_clip]
    press = 0.0
    for s in range(len(speakers)):
        out = of_clip == s
        fit = Ridge(alpha=2.0).fit(z[~out], y[~out])
        press += float(np.sum((y[out] - fit.predict(z[out])) ** 2))
    assert y_speaker @ gram.numpy() @ y_speaker == pytest.approx(press, rel=1e-9)


def test_relabellings_and_folds_do_not_depend_on_the_run_seed() -> None:
    x, labels, groups = make_latents(FOUR, clips=3, dim=8, seed=4)
    probe = RidgeProbe(n_permutations=20)
    first = probe.run(x, labels, groups, "ja", seed=1)
    second = probe.run(x, labels, groups, "ja", seed=2)
    assert first.details == second.details
    # other latents of the same speakers (another run): the same relabellings, so a
    # relabelling's truth is the same, and only the latents change the null
    other = probe.run(x + np.random.default_rng(9).normal(size=x.shape), labels, groups, "ja", 3)
    assert (
        other.details["balanced_accuracy_target/null"]
        != first.details["balanced_accuracy_target/null"]
    )
    another_seed = RidgeProbe(n_permutations=20, permutation_seed=1).run(x, labels, groups, "ja", 1)
    assert (
        another_seed.details["balanced_accuracy_multiclass/null"]
        != first.details["balanced_accuracy_multiclass/null"]
    )


def test_relabellings_keep_each_folds_labels_and_move_speakers() -> None:
    labels = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2])
    fold = np.array([0, 1, 2, 0, 1, 2, 0, 1, 2])
    rows = relabel_within_folds(labels, fold, 50, seed=5)
    assert rows.shape == (51, 9) and np.array_equal(rows[0], labels)
    for row in rows:
        for f in range(3):
            assert sorted(row[fold == f]) == sorted(labels[fold == f])
    assert (rows[1:] != labels).any(axis=1).mean() > 0.8
    assert np.array_equal(rows, relabel_within_folds(labels, fold, 50, seed=5))


def test_null_is_centred_on_chance_without_language_information() -> None:
    # strong speakers, no language: the null and the observed score sit at chance
    x, labels, groups = make_latents(FOUR, clips=4, dim=16, language_scale=0.0, speaker_scale=3.0)
    result = RidgeProbe(n_permutations=300).run(x, labels, groups, "ja", seed=0)
    for task, chance in (("target", 0.5), ("multiclass", 0.25)):
        null = np.array(result.details[f"balanced_accuracy_{task}/null"])
        assert len(null) == 300
        assert null.mean() == pytest.approx(chance, abs=0.03)
        assert result.metrics[f"p_value_{task}"] > 0.05
        assert result.metrics[f"selectivity_{task}"] == pytest.approx(
            result.metrics[f"balanced_accuracy_{task}"] - null.mean()
        )


def test_planted_signal_is_found() -> None:
    # eight speakers per language: with five, each of five folds holds one speaker per
    # language, and relabellings that give 'target' to one other language in most folds
    # are nearly as separable as the truth (docs/probes.md, "few speakers")
    languages = {"en": 8, "ja": 8, "fr": 8, "de": 8}
    x, labels, groups = make_latents(languages, clips=3, dim=16, language_scale=1.0, seed=6)
    result = RidgeProbe(n_splits=4, n_permutations=200).run(x, labels, groups, "ja", seed=0)
    m = result.metrics
    assert m["balanced_accuracy_multiclass"] > 0.7
    assert m["balanced_accuracy_target"] > 0.7
    assert m["p_value_multiclass"] == pytest.approx(1 / 201)
    assert m["p_value_target"] < 0.02
    assert m["selectivity_multiclass"] > 0.4


def test_no_speaker_on_both_sides_and_details_lengths(monkeypatch) -> None:
    import harness_plugins.probes.ridge_probe as ridge_module

    seen = []

    def recording(labels, groups, n_splits, seed, *args, **kwargs):
        folds = speaker_grouped_folds(labels, groups, n_splits, seed, *args, **kwargs)
        seen.append((groups, folds))
        return folds

    monkeypatch.setattr(ridge_module, "speaker_grouped_folds", recording)
    x, labels, groups = make_latents(FOUR, clips=3, dim=8)
    result = RidgeProbe(n_splits=4, alphas=[0.1, 10.0], n_permutations=7).run(
        x, labels, groups, "ja", 0
    )
    assert len(seen) == 1  # one set of folds serves both tasks and every relabelling
    for g, folds in seen:
        assert len(folds) == 4
        for train, test in folds:
            assert not set(g[train]) & set(g[test])
    for task, classes in (("target", 2), ("multiclass", 4)):
        assert len(result.details[f"balanced_accuracy_{task}/null"]) == 7
        predicted = result.details[f"oof_prediction_{task}"]
        assert len(predicted) == len(x) and set(predicted) <= set(map(float, range(classes)))
        assert set(result.details[f"alpha_{task}_folds"]) <= {0.1, 10.0}
        assert len(result.details[f"alpha_{task}_folds"]) == 4


def test_registered_with_consistent_declarations() -> None:
    component, probe = create("ridge", n_permutations=3)
    declared = {m.name: m for m in component.metrics}
    for task in ("target", "multiclass"):
        score = declared[f"balanced_accuracy_{task}"]
        assert score.headline and declared[score.chance].role == "reference"
        assert declared[f"p_value_{task}"].role == "p_value"
        assert declared[f"selectivity_{task}"].role == "score"
    x, labels, groups = make_latents(FOUR, clips=3, dim=8)
    result = probe.run(x, labels, groups, "ja", seed=0)
    check_probe_result(component.name, list(declared), result)
    assert set(result.metrics) == set(declared)
    none = RidgeProbe(n_permutations=0).run(x, labels, groups, "ja", 0).metrics
    assert np.isnan(none["p_value_target"]) and np.isnan(none["selectivity_multiclass"])


def test_too_few_speakers_and_unknown_target_are_named() -> None:
    x, labels, groups = make_latents({"en": 4, "ja": 2, "fr": 4}, clips=2, dim=4)
    with pytest.raises(ValueError, match="language 'ja' has 2 speakers; 3-fold"):
        RidgeProbe(n_splits=3).run(x, labels, groups, "ja", seed=0)
    with pytest.raises(ValueError, match="target language 'de' is not among"):
        RidgeProbe().run(x, labels, groups, "de", seed=0)


def test_speaker_contributions_add_up_to_the_balanced_accuracy():
    x, labels, groups = make_latents(FOUR, clips=4, dim=12, language_scale=0.6, seed=4)
    result = RidgeProbe(n_permutations=5).run(x, labels, groups, "ja", seed=0)
    for task in ("target", "multiclass"):
        parts = np.array(result.details[f"balanced_accuracy_{task}/speakers"])
        assert parts.size == np.unique(groups).size and (parts >= 0).all()
        assert parts.sum() == pytest.approx(result.metrics[f"balanced_accuracy_{task}"])


def test_validate_refuses_what_every_run_would_fail_on(tmp_path):
    from harness.spec.suite import SuiteError, load_suite

    suite = (ROOT / "suites" / "quick.toml").read_text(encoding="utf-8")
    suite = suite.replace('probe_languages = ["es", "ja"]', 'probe_languages = ["ja", "en"]')
    suite = suite.replace('plugin = "ridge"', 'plugin = "ridge"\nalphas = [0.0]\nn_splits = 5')
    (tmp_path / "s.toml").write_text(suite, encoding="utf-8")
    with pytest.raises(SuiteError) as info:
        load_suite(tmp_path / "s.toml")
    problems = dict(info.value.problems)
    assert "lacks it" in problems["probes[0].task"]  # ridge, as for linear_svc
    assert "lacks it" in problems["probes[1].task"]
    assert problems["probes[0].alphas"].startswith("alphas must be a non-empty list of values > 0")
    # quick.toml probes 3 speakers per language: 5 speaker-grouped folds cannot be made
    assert problems["probes[0].n_splits"].startswith("expected at most splits.probe_speakers = 3")


@pytest.mark.parametrize("decision", ["balanced", "argmax"])
def test_a_two_class_task_as_one_column_decides_as_its_two_one_hot_columns(decision):
    from harness_plugins.probes import ridge_operators as ridge

    rng = np.random.default_rng(5)
    n_speakers, clips = 12, 4
    speaker = np.repeat(np.arange(n_speakers), clips)
    x = torch.as_tensor(rng.normal(size=(n_speakers * clips, 6)))
    train, test = np.flatnonzero(speaker < 9), np.flatnonzero(speaker >= 9)
    fold = FoldRidge.fit(x, train, test, speaker)
    codes = rng.integers(0, 2, size=(50, 9))  # 50 relabellings of the 9 training speakers
    grams = torch.stack([fold.press_gram(a) for a in (10.0, 1.0)])
    device = torch.device("cpu")
    hot, one = (t.columns(codes, 2, device) for t in (ridge._OneHot, ridge._Binary))
    assert torch.allclose(ridge._Binary.press(grams, one, 2), ridge._OneHot.press(grams, hot, 2))
    operator = fold.test_operator(1.0, intercept=decision == "argmax")
    which = np.arange(0, 50, 3)
    np.testing.assert_array_equal(
        ridge._Binary.decide(operator, one, which, 2), ridge._OneHot.decide(operator, hot, which, 2)
    )


def test_folds_are_kept_per_process_and_each_caller_gets_its_own():
    labels = np.repeat(["a", "b"], 12)
    groups = np.repeat(np.arange(8), 3)
    first = speaker_grouped_folds(labels, groups, 3, seed=4)
    first[0][0][:] = -1  # a caller writing into its folds does not change anyone else's
    again = speaker_grouped_folds(labels, groups, 3, seed=4)
    assert (again[0][0] >= 0).all()
    other = speaker_grouped_folds(labels, groups, 3, seed=5)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(again, other, strict=True))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_device_cuda_without_cuda_is_the_core_error() -> None:
    # the same device rule as training: asking for cuda on a CPU machine fails at once
    with pytest.raises(RuntimeError, match="torch sees no CUDA device"):
        RidgeProbe(device="cuda")
