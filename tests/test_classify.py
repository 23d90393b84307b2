"""The classify task end to end on real audio (the tones corpus) through the
real features, splits and training loop, with the toy classifiers of
tests/helpers/classifiers.py."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import balanced_accuracy_score, confusion_matrix
from sklearn.utils.class_weight import compute_class_weight

from harness.data.batches import IGNORE, BalancedStream, Segments, generator, segment_labelled
from harness.learning.objectives import Classification
from harness.plugin.contracts import DataError
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite

from helpers import tones
from helpers.classifiers import Classifier

SUITE = """
name = "langid"
seeds = [0, 1]
[dataset]
plugin = "tones"
clips_per_speaker = 4
[features]
sample_rate = 8000
n_mels = 12
{features}
[splits]
probe_languages = ["aa", "bb"]
train_speakers = 2
heldout_speakers = 2
probe_speakers = 2
pretrain_speakers = 1
{splits}
[target]
language = "aa"
languages = ["bb", "cc"]
task = "classify"
label = "language"
metric = "balanced_accuracy"
threshold = {threshold}
max_steps = 60
eval_every = 5
{target}
[training]
lr = 0.05
batch_size = 8
segment_frames = 10
device = "cpu"
[[conditions]]
name = "control"
[[conditions]]
name = "bb-smooth"
language = "bb"
filter = {{ plugin = "smooth", width = 4 }}
[[models]]
plugin = "toy_classifier"
per_frame = {per_frame}
[[extractors]]
plugin = "feature_stats"
[[probes]]
plugin = "centroid"
"""


def write(tmp_path, **given):
    values = {"features": "", "splits": "", "target": "", "threshold": 0.99,
              "per_frame": "false"}  # fmt: skip
    path = tmp_path / "langid.toml"
    path.write_text(SUITE.format(**{**values, **given}))
    return path


def specs(tmp_path, registry, **given):
    path = write(tmp_path, **given)
    return expand(load_suite(path, registry, output=tmp_path / "out"), registry)


def problems(tmp_path, registry, **given):
    with pytest.raises(SuiteError) as caught:
        load_suite(write(tmp_path, **given), registry)
    return dict(caught.value.problems)


def test_language_id_learns_and_records_held_out_scores(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry)[0]
    record = tones.run(spec, tmp_path / "run", tones_registry)
    scores = record["classification"]
    assert scores["classes"] == ["aa", "bb", "cc"]
    matrix = np.array(scores["confusion"])
    # every held-out segment is counted once: 2 speakers x 4 clips x 6 segments (61 frames)
    assert matrix.shape == (3, 3) and matrix.sum(1).tolist() == [48, 48, 48]
    # the summary numbers are those of the confusion matrix (as scikit-learn computes them)
    truth = np.repeat(np.arange(3), matrix.sum(1))
    decided = np.concatenate([np.repeat(np.arange(3), row) for row in matrix])
    assert scores["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    assert scores["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(truth, decided))
    assert (confusion_matrix(truth, decided) == matrix).all()
    assert scores["recall"]["bb"] == pytest.approx(matrix[1, 1] / 48)
    # chords of different pitch are easy: well above chance (1/3) on held-out speakers
    assert scores["balanced_accuracy"] > 0.8
    conv = record["convergence"]
    assert conv["metric"] == "balanced_accuracy" and conv["higher_is_better"]
    assert conv["final_metric"] == record["curve"]["heldout_balanced_accuracy"][-1]
    assert len(record["curve"]["heldout_accuracy"]) == len(record["curve"]["step"])
    assert scores["streaming"] is None  # decides per segment: no streaming
    # the MFCC + SVM baseline on the same split, beside the model's scores
    baseline = record["baseline"]
    assert baseline["classes"] == ["aa", "bb", "cc"] and baseline["n_heldout"] == 2 * 3 * 4
    assert baseline["train_speakers"] == 2 * 3 and baseline["balanced_accuracy"] > 0.8
    assert np.array(baseline["confusion"]).sum() == 2 * 3 * 4


def test_threshold_on_a_metric_stops_at_the_first_evaluation_that_reaches_it(
    tmp_path, tones_registry
):
    spec = specs(tmp_path, tones_registry, threshold=0.6)[0]
    record = tones.run(spec, tmp_path / "run", tones_registry)
    curve = record["curve"]["heldout_balanced_accuracy"]
    assert record["status"] == "reached" and record["convergence"]["threshold"] == 0.6
    assert curve[-1] >= 0.6 and all(v < 0.6 for v in curve[:-1])
    assert record["convergence"]["steps"] == record["curve"]["step"][-1]


def test_the_same_seed_gives_the_same_run(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry, per_frame="true")[0]
    first = tones.run(spec, tmp_path / "a", tones_registry)
    again = tones.run(spec, tmp_path / "b", tones_registry)
    for column in ("step", "train_loss", "heldout_loss", "heldout_balanced_accuracy"):
        assert first["curve"][column] == again["curve"][column]
    assert first["classification"] == again["classification"]


def test_streaming_decisions_after_every_frame_equal_the_full_sequence(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry, per_frame="true")[0]
    record = tones.run(spec, tmp_path / "run", tones_registry)
    streaming = record["classification"]["streaming"]
    assert streaming["frames"] == [1, 2, 5, 10]
    # after all 10 frames, feeding one frame at a time decides as the whole segment does
    assert streaming["accuracy"][-1] == pytest.approx(record["classification"]["accuracy"])
    assert record["classification"]["frame_accuracy"] is not None


def test_pretraining_learns_the_same_task_on_the_conditions_filtered_clips(
    tmp_path, tones_registry
):
    control, pretrained = specs(tmp_path, tones_registry)[::2]
    assert pretrained.condition.name == "bb-smooth"
    record = tones.run(pretrained, tmp_path / "run", tones_registry)
    # one epoch over one bb speaker's 4 clips x 6 segments, batches of 8
    assert record["convergence"]["pretrain_steps"] == 3
    assert record["convergence"]["pretrain_examples"] == 24
    assert control.target == pretrained.target


def test_balanced_class_weights_are_scikit_learns(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry, target='class_weights = "balanced"',
                 splits="train_speakers_by_language = { aa = 3 }")[0]  # fmt: skip
    from harness.run.data import class_weights

    y = np.repeat([0, 1, 2], [72, 48, 48])
    expected = compute_class_weight("balanced", classes=np.arange(3), y=y)
    assert class_weights(spec, ("aa", "bb", "cc"), y) == pytest.approx(expected)
    record = tones.run(spec, tmp_path / "run", tones_registry)
    assert record["data"]["counts"]["train"]["aa"]["speakers"] == 3


def test_explicit_weights_must_name_every_class(tmp_path, tones_registry):
    spec = specs(tmp_path, tones_registry,
                 target='class_weights = "explicit"\nweights = { aa = 1.0, bb = 2.0, zz = 1.0 }')[0]  # fmt: skip
    from harness.run.data import class_weights

    with pytest.raises(DataError, match=r"missing \['cc'\].*no class named \['zz'\]"):
        class_weights(spec, ("aa", "bb", "cc"), np.zeros(3, dtype=np.int64))


def test_weighted_loss_counts_a_rare_class_more():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]])
    y = torch.tensor([0, 0, 1])
    batch = Segments(torch.zeros(3, 4, 1), y, y.view(-1, 1).expand(3, 4))
    plain = Classification(Classifier(), ("a", "b"), None, "toy")
    heavy = Classification(Classifier(), ("a", "b"), (1.0, 5.0), "toy")
    # the misclassified rare example dominates once it weighs five times as much
    assert heavy._loss(logits, batch, heavy.weights) > plain._loss(logits, batch, None)


def test_balanced_sampler_draws_every_class_equally_often():
    y = torch.tensor([0] * 90 + [1] * 10)
    stream = BalancedStream(Segments(torch.zeros(100, 2, 1), y, y.view(-1, 1)), 50, generator(0, 2))
    drawn = torch.cat([stream.next().y for _ in range(40)])
    share = float((drawn == 1).float().mean())
    assert 0.45 < share < 0.55  # 2000 draws: sd 0.011
    again = BalancedStream(Segments(torch.zeros(100, 2, 1), y, y.view(-1, 1)), 50, generator(0, 2))
    assert torch.equal(again.next().y, drawn[:50])


def test_short_clips_are_padded_and_their_padding_does_not_count():
    clips = [np.ones((3, 2), np.float32), np.ones((7, 2), np.float32)]
    x, y, frame_y = segment_labelled(clips, [0, 1], None, 5)
    assert x.shape == (2, 5, 2) and y.tolist() == [0, 1]
    assert frame_y[0].tolist() == [0, 0, 0, IGNORE, IGNORE]
    assert frame_y[1].tolist() == [1] * 5  # the two frames after the last segment are dropped


def test_a_class_without_held_out_speakers_is_a_clear_data_error(tmp_path, tones_registry):
    from harness.data.splits import assign_roles
    from harness.run.data import class_names

    spec = specs(tmp_path, tones_registry)[0]
    clips = tones.Tones(2).load(
        type(
            "R",
            (),
            {
                "languages": ("aa", "bb", "cc"),
                "sample_rate": 8000,
                "speakers_needed": {"aa": 6, "bb": 6, "cc": 6},
            },
        )()
    )
    roles = assign_roles(clips, spec.splits, ("aa", "bb", "cc"), [])
    # drop cc's held-out speakers' clips: cc is then a class with nothing held out
    roles = type(roles)(roles.pretrain, roles.train,
                        [c for c in roles.heldout if c.language != "cc"], roles.probe)  # fmt: skip
    with pytest.raises(DataError, match=r"language 'cc': 2 training and 0 held-out"):
        class_names(spec, roles)


def test_a_model_that_cannot_learn_the_task_is_refused(tmp_path, tones_registry):
    text = (
        write(tmp_path)
        .read_text()
        .replace('plugin = "toy_classifier"\nper_frame = false', 'plugin = "lstm"')
    )
    path = tmp_path / "lstm.toml"
    path.write_text(text)
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones_registry)
    found = dict(caught.value.problems)
    assert "cannot learn the task 'classify'" in found["models[0].plugin"]
    assert "'next_frame'" in found["models[0].plugin"]


def test_a_classifier_without_the_classify_task_is_refused(tmp_path, tones_registry):
    text = write(tmp_path).read_text()
    text = text.replace('task = "classify"\nlabel = "language"\nmetric = "balanced_accuracy"\n', "")
    text = text.replace('languages = ["bb", "cc"]\n', "")
    path = tmp_path / "none.toml"
    path.write_text(text.replace("threshold = 0.99", "threshold = 0.5"))
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones_registry)
    found = dict(caught.value.problems)
    assert "learns the task 'classify' only" in found["models[0].plugin"]


def test_classify_only_settings_are_refused_for_a_models_own_objective(tmp_path, tones_registry):
    text = SUITE.replace('task = "classify"\nlabel = "language"\n', "")
    path = tmp_path / "own.toml"
    path.write_text(text.format(features='silence = "mask"', splits="", target="",
                                threshold=0.5, per_frame="false"))  # fmt: skip
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones_registry)
    found = dict(caught.value.problems)
    assert "accuracies come with task = 'classify'" in found["target.metric"]
    assert "applies to task = 'classify' only" in found["target.languages"]
    assert "classify task's loss" in found["features.silence"]


def test_pretraining_on_a_language_that_is_no_class_is_refused(tmp_path, tones_registry):
    path = write(tmp_path)
    path.write_text(path.read_text().replace('language = "bb"\nfilter', 'language = "dd"\nfilter'))
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones_registry)
    assert "not one of the classes" in dict(caught.value.problems)["conditions[1].language"]


def test_per_language_speakers_must_name_a_target_language(tmp_path, tones_registry):
    found = problems(tmp_path, tones_registry, splits="train_speakers_by_language = { zz = 3 }")
    assert "['zz'] are not target languages" in found["splits.train_speakers_by_language"]


def test_report_describes_the_final_scores_and_tables_hold_them(tmp_path, tones_registry):
    from harness.report import classification
    from harness.report.html import iter_images
    from harness.tables import confusion_table, streaming_table
    from harness.tables.results import Results

    records = [
        tones.run(spec, tmp_path / f"run{i}", tones_registry)
        for i, spec in enumerate(specs(tmp_path, tones_registry, per_frame="true"))
    ]
    results = Results.from_records(records)
    confusion = confusion_table(records)
    # 4 runs x 3 true x 3 decided classes, each run counting its 144 held-out segments
    model = confusion[confusion["source"] == "model"]
    assert len(model) == 36
    assert model.groupby("run_id")["count"].sum().tolist() == [144] * 4
    # and the baseline's 24 held-out clips (one fit on the shared split, from the cache)
    baseline = confusion[confusion["source"] == "baseline"]
    assert baseline.groupby("run_id")["count"].sum().tolist() == [24] * 4
    assert len({str(r["baseline"]) for r in records}) == 1
    assert len(streaming_table(records)) == 4 * 4
    html = classification.section(results)
    assert "Held-out classification at the end of training" in html
    assert "training randomness only" in html
    assert "bb-smooth" in html and "control" in html
    assert len(list(iter_images(html))) == 1  # one model: one confusion figure
    assert "Streaming: accuracy after the first frames" in html
    assert "Classical baseline on the same split" in html
    assert html.count("MFCC statistics + SVM") == 1  # one split, one feature setting: one row
    mean = results.runs.groupby("condition")["final_balanced_accuracy"].mean()
    assert f"{mean['control']:.2f}" in html


def test_a_suite_may_probe_nothing(tmp_path, tones_registry):
    """RAVDESS has one language: a suite may ask only how fast a task is learnt."""
    from harness.report.html import render
    from harness.stats.analysis import analyse
    from harness.tables.results import Results

    text = write(tmp_path).read_text()
    text = text.replace('probe_languages = ["aa", "bb"]', "probe_languages = []")
    text = text.replace('[[extractors]]\nplugin = "feature_stats"\n[[probes]]\nplugin = "centroid"\n',
                        "probes = []\n")  # fmt: skip
    text = "probes = []\n" + text.replace("probes = []\n", "")
    path = tmp_path / "noprobe.toml"
    path.write_text(text)
    suite = load_suite(path, tones_registry, output=tmp_path / "out")
    assert suite.probes == ()
    spec = expand(suite, tones_registry)[0]
    record = tones.run(spec, tmp_path / "run", tones_registry)
    assert record["latent_spaces"] == {} and record["probes"] == []
    assert record["data"]["counts"]["probe"] == {}
    results = Results.from_records([record])
    html = render(results, analyse(results, n_resamples=99, km_resamples=19))
    assert "Held-out classification at the end of training" in html
    # no empty "Language separation" section promising results that will never come
    assert 'id="separability"' not in html and 'href="#separability"' not in html
    # and probes without languages to separate is refused, saying how to probe nothing
    path.write_text(text.replace("probes = []\n", "", 1) + '[[probes]]\nplugin = "centroid"\n')
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones_registry)
    assert "probes = []" in dict(caught.value.problems)["splits.probe_languages"]


def labelled(tmp_path, registry, mode):
    """The training data of a classify run on chords followed by 0.3 s of silence."""
    from harness.data.splits import assign_roles
    from harness.run import data as ex

    path = write(tmp_path, features=f'silence = "{mode}"', per_frame="true")
    path.write_text(
        path.read_text().replace("clips_per_speaker = 4", "clips_per_speaker = 4\npause = 0.3")
    )
    spec = expand(load_suite(path, registry, output=tmp_path / "out"), registry)[0]
    roles = assign_roles(
        ex.load_clips(spec, registry), spec.splits, spec.target.target_languages, []
    )
    classes = ex.class_names(spec, roles)
    return classes, ex.labelled_data(
        spec, roles, ex.compute_features(spec, registry, roles), classes
    )


def test_silent_frames_are_masked_out_of_the_loss(tmp_path, tones_registry):
    classes, data = labelled(tmp_path, tones_registry, "mask")
    assert classes == ("aa", "bb", "cc")
    frame_y = data.train_labels.frame_y
    # 0.6 s of chord then 0.3 s of silence: about a third of the frames
    # (the detector extends speech by 30 ms; segments drop the last partial one)
    assert 0.2 < (frame_y == IGNORE).mean() < 0.4
    # a segment's own label is still its clip's class, never ignored
    assert set(np.unique(data.train_labels.y)) == {0, 1, 2}


def test_silent_frames_labelled_as_their_own_class(tmp_path, tones_registry):
    classes, data = labelled(tmp_path, tones_registry, "label")
    assert classes == ("aa", "bb", "cc", "silence")
    frame_y = data.train_labels.frame_y
    assert 0.2 < (frame_y == 3).mean() < 0.4 and not (frame_y == IGNORE).any()
    assert 3 not in set(np.unique(data.train_labels.y))
    # held-out frames are labelled the same way
    assert 0.2 < (data.heldout_labels.frame_y == 3).mean() < 0.4


def test_a_run_with_silence_as_a_class_decides_among_the_real_classes(tmp_path, tones_registry):
    path = write(tmp_path, features='silence = "label"', per_frame="true")
    path.write_text(
        path.read_text().replace("clips_per_speaker = 4", "clips_per_speaker = 4\npause = 0.3")
    )
    spec = expand(load_suite(path, tones_registry, output=tmp_path / "out"), tones_registry)[0]
    record = tones.run(spec, tmp_path / "run", tones_registry)
    scores = record["classification"]
    assert record["status"] in ("reached", "censored")
    assert scores["balanced_accuracy"] > 0.8
    # segments that are silence throughout are not scored; none is decided as silence
    matrix = np.array(scores["confusion"])
    assert scores["classes"][-1] == "silence" and not matrix[:, -1].any() and not matrix[-1].any()
    assert 0 < matrix.sum() < 2 * 3 * 4 * 9  # 9 segments of 10 frames per 0.9 s clip
    assert record["baseline"]["classes"] == ["aa", "bb", "cc"]  # clip-level: no silence class
