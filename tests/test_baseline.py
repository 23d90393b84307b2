"""The classical baseline: MFCC statistics + SVM tuned with speaker-grouped folds."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.plugin.contracts import DataError
from harness.run.baseline import (
    BaselineResult,
    baseline_feature_config,
    clip_statistics,
    deltas,
    grouped_folds,
    svm_baseline,
)
from harness.spec.config import FeatureConfig

CLASSES = ("angry", "calm", "happy")
SMALL_GRID = [
    {"kernel": ["linear"], "C": [0.1, 1.0]},
    {"kernel": ["rbf"], "C": [1.0], "gamma": ["scale"]},
]


def _clips(
    speakers: int, per_class: int, seed: int, separation: float = 1.5, every_class: bool = True
) -> tuple[list[np.ndarray], list[str], list[str]]:
    """MFCC-like frames: each class shifts a few coefficients' means, each speaker
    adds an offset of its own and each clip varies its length and noise.
    ``every_class``: each speaker has clips of every class (actors); otherwise
    speaker ``s`` speaks class ``s % 3`` only (languages)."""
    rng = np.random.default_rng(seed)
    directions = rng.standard_normal((len(CLASSES), 13))
    frames, labels, groups = [], [], []
    for s in range(speakers):
        offset = 0.5 * rng.standard_normal(13)
        classes = range(len(CLASSES)) if every_class else [s % len(CLASSES)]
        for c in classes:
            for _ in range(per_class):
                n = int(rng.integers(20, 80))
                x = rng.standard_normal((n, 13)) + offset + separation * directions[c]
                frames.append(x.astype(np.float32))
                labels.append(CLASSES[c])
                groups.append(f"spk{seed}_{s}")
    return frames, labels, groups


def test_separable_classes_score_high_and_the_result_is_complete() -> None:
    train = _clips(6, 5, seed=0)
    # held-out speakers are new ones from the same class directions
    heldout_frames, heldout_labels, _ = _clips(9, 5, seed=0)
    heldout = (heldout_frames[-45:], heldout_labels[-45:])
    result = svm_baseline(*train, *heldout, seed=1, grid=SMALL_GRID)
    assert result.balanced_accuracy > 0.9 and result.accuracy > 0.9
    assert result.cv_balanced_accuracy > 0.9
    assert result.classes == list(CLASSES)
    assert np.asarray(result.confusion).shape == (3, 3)
    assert np.asarray(result.confusion).sum(axis=1).tolist() == [15, 15, 15]  # rows: true
    assert set(result.recall) == set(CLASSES) and min(result.recall.values()) > 0.8
    assert result.params["kernel"] in ("linear", "rbf")
    assert len(result.cv_scores) == 3 and result.cv_folds == 5
    assert result.n_statistics == 4 * 13 and result.train_speakers == 6


def test_shuffled_labels_score_near_chance() -> None:
    rng = np.random.default_rng(7)
    frames, labels, groups = _clips(8, 6, seed=2)
    held_frames, held_labels, _ = _clips(12, 6, seed=2)
    held = (held_frames[-72:], held_labels[-72:])
    shuffled = list(rng.permutation(labels))
    scores = [
        svm_baseline(frames, shuffled, groups, *held, seed=s, grid=SMALL_GRID).balanced_accuracy
        for s in range(3)
    ]
    assert abs(np.mean(scores) - 1 / 3) < 0.15, scores
    real = svm_baseline(frames, labels, groups, *held, seed=0, grid=SMALL_GRID)
    assert real.balanced_accuracy > np.mean(scores) + 0.4


def test_deterministic_for_a_seed(tmp_path) -> None:
    train = _clips(6, 3, seed=3, separation=0.4)
    held = _clips(3, 3, seed=4, separation=0.4)[:2]
    first = svm_baseline(*train, *held, seed=5).to_dict()
    assert svm_baseline(*train, *held, seed=5).to_dict() == first
    # the folds follow the seed
    other = svm_baseline(*train, *held, seed=6).to_dict()
    assert other["cv_scores"] != first["cv_scores"]
    # the cache returns the same result, and a hit is read from the file
    cached = svm_baseline(*train, *held, seed=5, cache_dir=tmp_path)
    assert cached.to_dict() == first
    (entry,) = (tmp_path / "baseline").glob("*.json")
    doctored = json.loads(entry.read_text())
    doctored["accuracy"] = 0.123
    entry.write_text(json.dumps(doctored))
    assert svm_baseline(*train, *held, seed=5, cache_dir=tmp_path).accuracy == 0.123
    assert svm_baseline(*train, *held, seed=6, cache_dir=tmp_path).to_dict() == other
    entry.write_text("{not json")  # a damaged entry is fitted again
    assert svm_baseline(*train, *held, seed=5, cache_dir=tmp_path).to_dict() == first


@pytest.mark.parametrize("every_class", [True, False], ids=["actors", "one class per speaker"])
def test_folds_keep_speakers_apart(every_class: bool) -> None:
    _, labels, groups = _clips(9, 2, seed=8, every_class=every_class)
    y, g = np.asarray(labels, dtype=object), np.asarray(groups, dtype=object)
    folds = grouped_folds(y, g, seed=3)
    assert len(folds) == (5 if every_class else 3)  # one class per speaker: 3 speakers a class
    seen: set[str] = set()
    for train, test in folds:
        assert not set(g[train]) & set(g[test])
        assert set(y[train]) == set(y[test]) == set(CLASSES)
        assert not set(g[test]) & seen  # each speaker validates in one fold only
        seen |= set(g[test])
    assert seen == set(groups)
    assert sorted(np.concatenate([t for _, t in folds]).tolist()) == list(range(len(labels)))


def test_too_few_speakers_is_a_clear_error() -> None:
    frames, labels, groups = _clips(4, 2, seed=9, every_class=False)  # class 'happy': 1 speaker
    with pytest.raises(
        DataError, match=r"class 'calm' has 1 \(spk9_1\); class 'happy' has 1 \(spk9_2\)"
    ):
        svm_baseline(frames, labels, groups, frames, labels, seed=0)
    with pytest.raises(DataError, match="at least 2 classes"):
        svm_baseline(frames[:2], ["a", "a"], ["s", "t"], frames[:2], ["a", "a"], seed=0)


def test_bad_arguments() -> None:
    frames, labels, groups = _clips(4, 1, seed=1)
    with pytest.raises(ValueError, match="unknown keys \\['degree'\\]"):
        svm_baseline(
            frames, labels, groups, frames, labels, seed=0, grid={"kernel": ["poly"], "degree": [2]}
        )
    with pytest.raises(ValueError, match="kernel: unknown \\['rfb'\\]"):
        svm_baseline(frames, labels, groups, frames, labels, seed=0, grid={"kernel": ["rfb"]})
    with pytest.raises(ValueError, match="no weight for class"):
        svm_baseline(frames, labels, groups, frames, labels, seed=0, class_weight={"angry": 1.0})
    with pytest.raises(ValueError, match="train_groups: 3 values for 12 clips"):
        svm_baseline(frames, labels, groups[:3], frames, labels, seed=0)
    with pytest.raises(ValueError, match="clip 1: 12 coefficients"):
        clip_statistics([frames[0], frames[1][:, :12]])
    with pytest.raises(ValueError, match="clip 0: expected a"):
        clip_statistics([np.zeros((0, 13))])


def test_class_weights_and_explicit_weights_run() -> None:
    frames, labels, groups = _clips(6, 2, seed=11)
    held = _clips(3, 2, seed=12)[:2]
    weighted = svm_baseline(frames, labels, groups, *held, seed=0, grid=SMALL_GRID,
                            class_weight={"angry": 1.0, "calm": 2.0, "happy": 1.0})  # fmt: skip
    assert weighted.class_weight == {"angry": 1.0, "calm": 2.0, "happy": 1.0}
    plain = svm_baseline(frames, labels, groups, *held, seed=0, grid=SMALL_GRID, class_weight=None)
    assert plain.class_weight is None


def test_statistics_are_means_and_spreads_of_frames_and_deltas() -> None:
    ramp = np.outer(np.arange(10.0), [1.0, -2.0])  # slopes 1 and -2 per frame
    stats = clip_statistics([ramp, np.ones((1, 2))])
    assert stats.shape == (2, 8)
    np.testing.assert_allclose(stats[0, :2], [4.5, -9.0])
    np.testing.assert_allclose(stats[0, 2:4], ramp.std(0))
    # the regression delta of a ramp is its slope away from the edges
    np.testing.assert_allclose(deltas(ramp)[2:-2], [[1.0, -2.0]] * 6)
    np.testing.assert_allclose(stats[1], [1, 1, 0, 0, 0, 0, 0, 0])


def test_to_dict_round_trips_through_json() -> None:
    frames, labels, groups = _clips(4, 2, seed=13)
    held_frames, held_labels, _ = _clips(2, 2, seed=14)
    # a held-out set without one class: its recall is None, not NaN
    keep = [i for i, label in enumerate(held_labels) if label != "happy"]
    result = svm_baseline(frames, labels, groups, [held_frames[i] for i in keep],
                          [held_labels[i] for i in keep], seed=0, grid=SMALL_GRID)  # fmt: skip
    value = result.to_dict()
    text = json.dumps(value, allow_nan=False)
    assert json.loads(text) == value
    assert BaselineResult.from_dict(json.loads(text)) == result
    assert value["recall"]["happy"] is None
    assert value["name"] == "MFCC statistics + SVM"
    assert set(value) >= {"accuracy", "balanced_accuracy", "recall", "classes", "confusion",
                          "params", "cv_balanced_accuracy"}  # fmt: skip


def test_feature_config_is_the_suites_front_end_as_mfcc() -> None:
    suite = FeatureConfig(
        sample_rate=8000, n_mels=24, normalize="clip_minmax", log="ln", silence="mask"
    )
    config = baseline_feature_config(suite)
    assert (config.kind, config.n_mfcc, config.log, config.normalize) == ("mfcc", 20, "db", "none")
    assert (config.sample_rate, config.n_mels, config.hop_ms) == (8000, 24, suite.hop_ms)
    assert config.silence == "remove" and config.silence_db == suite.silence_db
    assert baseline_feature_config(FeatureConfig(n_mels=13)).n_mfcc == 13
    assert baseline_feature_config(FeatureConfig()).silence == "keep"
    assert not list(config.problems())


def test_the_documented_example_prints_what_the_docs_say() -> None:
    import contextlib
    import io
    import re
    from pathlib import Path

    doc = Path(__file__).parent.parent / "docs" / "training.md"
    section = doc.read_text().split("### The classical baseline", 1)[1].split("\n### ", 1)[0]
    code, expected = re.search(
        r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", section, re.S
    ).groups()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, str(doc), "exec"), {})
    assert out.getvalue() == expected
