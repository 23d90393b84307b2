"""The built-in classify models (plugins/models/mel_cnn.py, rnn_classifier.py):
each learns a small separable language-ID task on real audio (the tones
corpus) through the real features, splits and training loop; same seed, same
run; streaming equals the full sequence; bad settings are located errors."""

from __future__ import annotations

import re
import types
from pathlib import Path

import pytest
import torch

from harness.plugin.components import ValidationContext
from harness.plugin.registry import Registry, build_plugin_manager, collect
from harness.spec.expand import expand
from harness.spec.suite import SuiteError, load_suite
from harness_plugins import extractors
from harness_plugins.models import mel_cnn, rnn_classifier
from harness_plugins.models.mel_cnn_model import MelCNNModel
from harness_plugins.models.rnn_classifier_model import RNNClassifierModel

from helpers import tones

PLUGINS_DOC = Path(__file__).parent.parent / "docs" / "plugins.md"

SUITE = """
name = "supervised"
seeds = [0]
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
[target]
language = "aa"
languages = ["bb", "cc"]
task = "classify"
label = "language"
metric = "balanced_accuracy"
threshold = 0.99
max_steps = 40
eval_every = 10
[training]
lr = 0.01
batch_size = 8
segment_frames = 10
device = "cpu"
[[conditions]]
name = "control"
[[models]]
{model}
[[extractors]]
plugin = "feature_stats"
[[extractors]]
plugin = "bottleneck"
[[extractors]]
plugin = "lstm_state"
[[probes]]
plugin = "centroid"
"""

MODELS = {
    "mel_cnn": 'plugin = "mel_cnn"\nchannels = [8, 16]\nhidden_size = 32\ndropout = 0.1',
    "rnn_lstm": 'plugin = "rnn_classifier"\ncell = "lstm"\nhidden_size = 24\nnum_layers = 2',
    "rnn_gru": 'plugin = "rnn_classifier"\ncell = "gru"\nhidden_size = 24',
}


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The tones corpus and its fakes with the real extractors and the two classifiers."""
    plugins = [tones.FakePlugins(), extractors, mel_cnn, rnn_classifier]
    return collect(build_plugin_manager(plugins, autoload=False, builtins=False))


def write(tmp_path: Path, model: str, features: str = "") -> Path:
    path = tmp_path / "supervised.toml"
    path.write_text(SUITE.format(model=model, features=features))
    return path


def spec_of(tmp_path: Path, registry: Registry, model: str):
    suite = load_suite(write(tmp_path, model), registry, output=tmp_path / "out")
    return expand(suite, registry)[0]


def problems(tmp_path: Path, registry: Registry, model: str, features: str = "") -> dict:
    with pytest.raises(SuiteError) as caught:
        load_suite(write(tmp_path, model, features), registry)
    return dict(caught.value.problems)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_each_model_learns_language_id_on_held_out_speakers(tmp_path, registry, name):
    record = tones.run(spec_of(tmp_path, registry, MODELS[name]), tmp_path / "run", registry)
    scores = record["classification"]
    assert scores["classes"] == ["aa", "bb", "cc"]
    # chords of different pitch: well above chance (1/3) on held-out speakers in 40 steps
    assert scores["balanced_accuracy"] > 0.8, scores
    curve = record["curve"]
    assert curve["step"][0] == 0 and curve["heldout_balanced_accuracy"][0] < 0.7, curve
    spaces = set(record["latent_spaces"])
    if name == "mel_cnn":
        # one decision per segment: no streaming; the hidden layer is probed
        assert scores["streaming"] is None and scores["frame_accuracy"] is None
        assert "bottleneck/code" in spaces and not any(s.startswith("lstm_state/") for s in spaces)
    else:
        # per frame: streaming through step() after all frames decides as the full segment
        streaming = scores["streaming"]
        assert streaming["frames"][-1] == 10
        assert streaming["accuracy"][-1] == pytest.approx(scores["accuracy"])
        assert scores["frame_accuracy"] is not None
        expected = {"lstm_state/h"} | ({"lstm_state/c", "lstm_state/layer1.h",
                                        "lstm_state/layer1.c"} if "lstm" in name else set())  # fmt: skip
        assert expected <= spaces and "bottleneck/code" not in spaces


@pytest.mark.parametrize("name", ["mel_cnn", "rnn_lstm"])
def test_the_same_seed_gives_the_same_run(tmp_path, registry, name):
    spec = spec_of(tmp_path, registry, MODELS[name])
    first = tones.run(spec, tmp_path / "a", registry)
    again = tones.run(spec, tmp_path / "b", registry)
    for column in ("step", "train_loss", "heldout_loss", "heldout_balanced_accuracy"):
        assert first["curve"][column] == again["curve"][column]
    assert first["classification"] == again["classification"]


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_streaming_one_frame_at_a_time_equals_the_full_sequence(cell):
    torch.manual_seed(0)
    model = RNNClassifierModel(cell=cell, hidden_size=16, num_layers=2, dropout=0.3)
    module = model.build(n_features=6, segment_frames=20, n_classes=4).eval()
    x = torch.randn(3, 20, 6)
    other = torch.randn(3, 20, 6)
    with torch.no_grad():
        full = model.logits(module, x)
        assert full.shape == (3, 20, 4)
        state = None
        for t in range(20):  # another sequence first: its state must not leak
            _, state = module.step(other[:, t], state)
        steps, state = [], None  # None starts a new sequence
        for t in range(20):
            out, state = module.step(x[:, t], state)
            steps.append(out)
        streamed = torch.stack(steps, 1)
        # the carried state is the final state the latent extractor reads
        last = module.final_state(x)
    torch.testing.assert_close(streamed, full, rtol=1e-5, atol=1e-6)
    h = state[0] if cell == "lstm" else state
    torch.testing.assert_close(last["h"], h[-1])
    torch.testing.assert_close(last["layer1.h"], h[0])
    assert ("c" in last) == (cell == "lstm")


def test_a_bidirectional_classifier_reads_both_ways_and_does_not_stream():
    torch.manual_seed(0)
    model = RNNClassifierModel(cell="gru", hidden_size=8, bidirectional=True)
    module = model.build(n_features=5, segment_frames=12, n_classes=3).eval()
    x = torch.randn(2, 12, 5)
    with torch.no_grad():
        full = model.logits(module, x)
        later = x.clone()
        later[:, -1] += 1.0
        # the first frame's logits depend on the last frame: no causal streaming
        assert not torch.allclose(model.logits(module, later)[:, 0], full[:, 0])
        assert module.final_state(x)["h"].shape == (2, 16)
    assert not hasattr(module, "step")


def test_mel_cnn_encodes_its_penultimate_layer():
    torch.manual_seed(0)
    model = MelCNNModel(channels=[4, 8, 8], kernel_size=5, pooling="avg", hidden_size=16)
    # 7 frames x 5 bands pools to 4 x 3, 2 x 2, 1 x 1: odd and tiny sides work
    module = model.build(n_features=5, segment_frames=7, n_classes=3).eval()
    x = torch.randn(4, 7, 5)
    with torch.no_grad():
        code = module.encode(x)
        assert code.shape == (4, 16) and module.segment_frames == 7
        assert torch.equal(module.head(code), model.logits(module, x))
        assert model.logits(module, x).shape == (4, 3)
    with pytest.raises(ValueError, match=r"expected segments of shape \(7, 5\), got \(8, 5\)"):
        module.encode(torch.randn(1, 8, 5))


def test_silence_mask_or_label_is_refused_for_clip_logits(tmp_path, registry):
    for mode in ("mask", "label"):
        found = problems(tmp_path, registry, MODELS["mel_cnn"], f'silence = "{mode}"')
        assert "decides once per segment" in found["models[0]"]
        assert f"features.silence = {mode!r}" in found["models[0]"]
        # a per-frame model has per-frame labels: the same suite is valid
        load_suite(write(tmp_path, MODELS["rnn_gru"], f'silence = "{mode}"'), registry)
    context = ValidationContext(8000, "aa", ("aa",), (), task="classify", silence="remove")
    params = {"channels": [8], "kernel_size": 3}
    assert list(mel_cnn._check(params, context)) == []


@pytest.mark.parametrize(
    ("model", "key", "message"),
    [
        ('plugin = "mel_cnn"\nchannels = []', "channels", "non-empty list of positive sizes"),
        ('plugin = "mel_cnn"\nchannels = [8, 0]', "channels", "got [8, 0]"),
        ('plugin = "mel_cnn"\nkernel_size = 4', "kernel_size", "expected an odd size"),
        ('plugin = "mel_cnn"\npooling = "min"', "pooling", "one of 'max', 'avg'"),
        ('plugin = "mel_cnn"\ndropout = 1.5', "dropout", "in [0.0, 0.9]"),
        ('plugin = "rnn_classifier"\ncell = "rnn"', "cell", "one of 'lstm', 'gru'"),
        ('plugin = "rnn_classifier"\nnum_layers = 0', "num_layers", "in [1, 8]"),
        ('plugin = "rnn_classifier"\nbidirectional = "yes"', "bidirectional", "bool"),
    ],
)
def test_bad_settings_are_located_errors(tmp_path, registry, model, key, message):
    found = problems(tmp_path, registry, model)
    assert message in found[f"models[0].{key}"]


def test_the_factories_refuse_what_validation_refuses():
    with pytest.raises(ValueError, match="channels: expected a non-empty list"):
        MelCNNModel(channels=[])
    with pytest.raises(ValueError, match="kernel_size: expected an odd size"):
        MelCNNModel(kernel_size=2)
    with pytest.raises(ValueError, match="cell: expected one of lstm, gru, got 'rnn'"):
        RNNClassifierModel(cell="rnn")


def test_the_supervised_model_snippet_runs_and_learns(tmp_path):
    """docs/plugins.md, "Writing a supervised model": the snippet's classifier
    is valid, its streaming equals its forward, and it learns the tones task."""
    section = PLUGINS_DOC.read_text().split("## Writing a supervised model", 1)[1]
    code = re.search(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S).group(1)
    plugin = types.ModuleType("mean_gru_snippet")
    exec(compile(code, str(PLUGINS_DOC), "exec"), plugin.__dict__)
    plugins = [tones.FakePlugins(), extractors, plugin]
    registry = collect(build_plugin_manager(plugins, autoload=False, builtins=False))
    spec = spec_of(tmp_path, registry, 'plugin = "small_gru"')
    record = tones.run(spec, tmp_path / "run", registry)
    scores = record["classification"]
    assert scores["balanced_accuracy"] > 0.8
    assert scores["streaming"]["accuracy"][-1] == pytest.approx(scores["accuracy"])
