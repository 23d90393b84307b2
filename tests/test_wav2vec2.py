"""Waveform models in the core and the wav2vec2 plugin: crops, determinism,
offline mode, the missing extra, self-supervised pretraining as a condition,
every layer a latent space, and non-speech audio through the folder dataset."""

import contextlib
import io
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from harness import Component
from harness.data.batches import crop_all, crop_labelled
from harness.learning.training import TrainingData, seed_everything, train
from harness.plugin.components import check_declaration
from harness.spec.config import TargetConfig, TrainingConfig
from harness.spec.suite import SuiteError, load_suite
from harness.testing import run_tiny_suite, tiny_registry, write_tiny_suite
from harness_plugins.extractor_classes import LayerStates
from harness_plugins.models import wav2vec2
from harness_plugins.models.wav2vec2.masking import mask_spans, sample_negatives
from harness_plugins.models.wav2vec2.model import Wav2Vec2Model

pytest.importorskip("transformers")

ROOT = Path(__file__).parent.parent
#: a wav2vec2 small enough for seconds-long tests
TINY = dict(conv_dim=[8, 8, 8], conv_kernel=[10, 4, 4], conv_stride=[5, 4, 4], hidden_size=16,
            num_layers=2, num_heads=2, intermediate_size=16, pos_conv_kernel=4,
            pos_conv_groups=2, codevectors_per_group=8, codevector_dim=16,
            proj_codevector_dim=16, num_negatives=4, mask_length=2)  # fmt: skip


def test_crops_are_fixed_and_labelled_crops_pad_short_clips():
    audio = [np.arange(10, dtype=np.float32), np.arange(3, dtype=np.float32)]
    crops = crop_all(audio, 4)
    assert crops.shape == (2, 4) and crops.dtype == np.float32
    assert crops.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7]]  # the short clip gives none
    x, y, frame_y = crop_labelled(audio, [1, 0], 4)
    assert x.tolist() == [[0, 1, 2, 3], [4, 5, 6, 7], [0, 1, 2, 0]]
    assert y.tolist() == [1, 1, 0] and frame_y.tolist() == [[1], [1], [0]]
    with pytest.raises(ValueError, match=r"lower training\.crop_seconds"):
        crop_all([np.zeros(3, np.float32)], 4)


def test_a_model_declares_its_input():
    def factory():
        return None

    assert check_declaration("model", Component("m", factory, "d", input="waveform")) == []
    assert (
        "input must be one of"
        in check_declaration("model", Component("m", factory, "d", input="wave"))[0]
    )
    assert check_declaration("probe", Component("p", factory, "d", input="waveform"))[:1] == [
        "only a model declares its input"
    ]


def test_masks_and_negatives_follow_the_generator():
    def draw(seed):
        rng = torch.Generator().manual_seed(seed)
        mask = mask_spans(3, 20, 0.5, 2, rng)
        return mask, sample_negatives(mask, 4, rng)

    (mask, negatives), (again, negatives_again) = draw(1), draw(1)
    assert torch.equal(mask, again) and torch.equal(negatives, negatives_again)
    assert not torch.equal(mask, draw(2)[0])
    for row in range(3):
        masked = set(mask[row].nonzero().flatten().tolist())
        for t in masked:
            picked = (negatives[row, t] - row * 20).tolist()
            assert set(picked) <= masked - {t}  # other masked frames of the same crop


def _train(seed=0, classes=()):
    rng = np.random.default_rng(0)
    crops = rng.standard_normal((12, 1600)).astype(np.float32)
    data = TrainingData(train=crops[:8], heldout=crops[8:])
    model = Wav2Vec2Model(**TINY)
    target = TargetConfig(language="xx", threshold=0.0, max_steps=4, eval_every=2)
    training = TrainingConfig(batch_size=4, lr=1e-3, device="cpu")
    _, outcome = train(
        model, 1, data, target=target, training=training, seed=seed,
        input_length=1600,
    )  # fmt: skip
    return outcome.curve.to_dict()


def test_a_run_is_deterministic_on_cpu_and_records_the_codebook_perplexity():
    first, second = _train(), _train()
    for curve in (first, second):
        del curve["seconds"]
    assert first == second
    assert first != {k: v for k, v in _train(seed=1).items() if k != "seconds"}
    perplexity = first["heldout_codebook_perplexity"]
    assert len(perplexity) == len(first["step"]) and all(1 <= p <= 16 for p in perplexity)


def test_offline_mode_is_forced_and_nothing_is_downloaded(tmp_path):
    """A hub name fails with an error instead of a download, and no connection is tried."""
    code = textwrap.dedent("""
        import os, socket
        tried = []
        def refuse(*args, **kwargs):
            tried.append(args)
            raise OSError("network used")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        from harness_plugins.models import wav2vec2
        transformers = wav2vec2.require_transformers()
        assert os.environ["HF_HUB_OFFLINE"] == os.environ["TRANSFORMERS_OFFLINE"] == "1"
        try:
            transformers.Wav2Vec2Config.from_pretrained("facebook/wav2vec2-base")
        except OSError as error:
            print("refused:", error)
        print("connections:", len(tried))
    """)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert out.returncode == 0, out.stderr
    assert "refused:" in out.stdout and "connections: 0" in out.stdout


def test_a_missing_extra_is_a_located_validation_error(tmp_path):
    path = write_tiny_suite(tmp_path, models=[{"plugin": "wav2vec2"}])
    code = textwrap.dedent(f"""
        import sys
        sys.modules["transformers"] = None  # as if not installed
        from harness.cli import main
        sys.exit(main(["validate", {str(path)!r}]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert "models[0]: needs Hugging Face transformers" in out.stderr
    assert "speech-pretrain-harness[wav2vec2]" in out.stderr


def test_an_installed_but_broken_extra_is_a_located_validation_error(tmp_path):
    path = write_tiny_suite(tmp_path, models=[{"plugin": "wav2vec2"}])
    broken = tmp_path / "site" / "transformers"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise RuntimeError('half-installed build')\n")
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(broken.parent)!r})  # found first, fails to import
        from harness.cli import main
        sys.exit(main(["validate", {str(path)!r}]))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert out.returncode == 2, out.stderr
    assert (
        "models[0]: needs Hugging Face transformers, which is installed but does not import "
        "(RuntimeError: half-installed build); reinstall the [wav2vec2] extra"
    ) in out.stderr


def test_self_supervised_pretraining_needs_a_model_with_its_own_loss(tmp_path):
    conditions = [
        {"name": "none"},
        {"name": "it", "language": "it", "pretrain_objective": "self_supervised", "epochs": 1,
         "pretrain_steps": 3},
    ]  # fmt: skip
    path = write_tiny_suite(
        tmp_path,
        models=[{"plugin": "mel_cnn"}],
        target={"task": "classify", "languages": ["it"], "metric": "accuracy", "threshold": 0.9},
        conditions=conditions,
    )
    with pytest.raises(SuiteError) as info:
        load_suite(path, tiny_registry())
    problems = dict(info.value.problems)
    assert "'mel_cnn' has none" in problems["conditions[1].pretrain_objective"]
    assert "either epochs or pretrain_steps" in problems["conditions[1].pretrain_steps"]


def test_a_waveform_model_refuses_frame_silence_handling(tmp_path):
    path = write_tiny_suite(
        tmp_path,
        models=[{"plugin": "wav2vec2"}],
        features={"silence": "remove"},
    )
    with pytest.raises(SuiteError, match=r"features\.silence: 'wav2vec2' reads the waveform"):
        load_suite(path, tiny_registry())


def test_every_layer_is_a_latent_space():
    model = Wav2Vec2Model(**TINY)
    torch.manual_seed(0)
    module = model.build(1, 1600)
    clips = [np.zeros(2000, np.float32) + 0.1, np.linspace(-1, 1, 1800).astype(np.float32)]
    extractor = LayerStates()
    assert extractor.supports(module)
    spaces = extractor.extract(module, clips, "cpu")
    assert list(spaces) == ["encoder", "layer1", "layer2"]
    assert spaces["encoder"].shape == (2, 8) and spaces["layer2"].shape == (2, 16)


def _whistles(root: Path, rate: int = 8000) -> None:
    """Frequency-modulated whistles (no speech): rising or falling calls of
    'individuals' (speakers) of two 'pods' (languages), one folder per call type."""
    t = np.arange(int(0.5 * rate)) / rate
    for pod, base in (("aa", 900.0), ("bb", 1500.0)):
        for who in range(4):
            rng = np.random.default_rng([len(pod), who])
            for call, sweep in (("up", 600.0), ("down", -600.0)):
                for k in range(2):
                    start = base * rng.uniform(0.9, 1.1)
                    phase = 2 * np.pi * (start * t + sweep * t**2 / (2 * t[-1]))
                    wobble = 0.3 * np.sin(2 * np.pi * (5 + k) * t)
                    audio = 0.4 * np.sin(phase + wobble) + 0.02 * rng.standard_normal(t.size)
                    path = root / pod / f"w{who}" / call / f"{k}.wav"
                    path.parent.mkdir(parents=True, exist_ok=True)
                    sf.write(path, audio.astype(np.float32), rate)


def test_wav2vec2_learns_from_non_speech_through_the_folder_dataset(tmp_path):
    _whistles(tmp_path / "calls")
    results = run_tiny_suite(
        tmp_path,
        models=[{"plugin": "wav2vec2", **TINY, "freeze_feature_encoder": True}],
        probes=[],
        dataset={"plugin": "folder", "root": str(tmp_path / "calls"), "subfolder_label": "call"},
        features={"sample_rate": 8000},
        splits={"probe_languages": [], "pretrain_speakers": 2, "train_speakers": 2,
                "heldout_speakers": 1},
        target={"task": "classify", "label": "call", "language": "aa", "metric": "accuracy",
                "threshold": 0.99, "max_steps": 4, "eval_every": 2},
        training={"crop_seconds": 0.2, "batch_size": 4},
        conditions=[{"name": "none"},
                    {"name": "bb", "language": "bb", "pretrain_objective": "self_supervised",
                     "pretrain_steps": 3}],
    )  # fmt: skip
    runs = results.runs.set_index("condition")
    assert set(runs["status"]) <= {"reached", "censored"}
    assert runs.loc["bb", "pretrain_steps"] == 3 and runs.loc["none", "pretrain_steps"] == 0
    records = {r["spec"]["condition"]["name"]: r for r in results.records.values()}
    assert records["bb"]["classification"]["classes"] == ["down", "up"]
    assert records["bb"]["n_features"] == 1  # a waveform model reads one channel
    assert records["bb"]["spec"]["condition"]["pretrain_objective"] == "self_supervised"
    after = records["bb"]["convergence"]["pretrain_heldout"]  # the codebook after pretraining
    assert set(after) == {"loss", "codebook_perplexity"} and 1 <= after["codebook_perplexity"] <= 16
    assert "pretrain_heldout" not in records["none"]["convergence"]
    # the frozen encoder: fine-tuning leaves the control's feature encoder as built,
    # while self-supervised pretraining changed the other condition's
    seed_everything(0)
    built = Wav2Vec2Model(**TINY, freeze_feature_encoder=True).build(1, 1600, n_classes=2)
    prefix = "net.wav2vec2.feature_extractor."
    fresh = {k: v for k, v in built.state_dict().items() if k.startswith(prefix)}
    for name, moved in (("none", False), ("bb", True)):
        path = Path(results.output_dir) / "runs" / records[name]["run_id"] / "weights.pt"
        saved = torch.load(path, weights_only=True)
        same = all(torch.equal(saved[k], v) for k, v in fresh.items())
        assert same is not moved, name


def test_freezing_the_encoder_keeps_it_fixed_while_fine_tuning_only():
    model = Wav2Vec2Model(**TINY, freeze_feature_encoder=True)
    torch.manual_seed(0)
    module = model.build(1, 1600, n_classes=2)
    x = torch.randn(4, 1600)
    torch.nn.functional.cross_entropy(
        model.logits(module, x), torch.tensor([0, 1, 0, 1])
    ).backward()
    encoder = list(module.net.wav2vec2.feature_extractor.parameters())
    assert all(p.grad is None for p in encoder)
    assert module.head.weight.grad is not None
    model.loss(module, x).backward()  # self-supervised pretraining trains it
    assert all(p.grad is not None for p in encoder)


def test_the_shipped_suite_pretrains_self_supervised_then_fine_tunes():
    suite = load_suite(ROOT / "suites" / "wav2vec2.toml")
    conditions = {c.name: c for c in suite.conditions}
    assert not conditions[suite.control].pretrains
    assert {c.filter.plugin for c in suite.conditions if c.pretrains} == {
        "lowpass",
        "full",
        "noise",
    }
    assert all(c.self_supervised and c.pretrain_steps > 0 for c in suite.conditions if c.pretrains)
    assert suite.target.classify and [m.plugin for m in suite.models] == ["wav2vec2"]
    assert wav2vec2.EXTRA == "wav2vec2"


def test_the_waveform_model_snippet_runs_as_documented():
    """docs/plugins.md, "Writing a waveform model": the HuBERT classifier runs,
    prints what the docs say, and declares a valid waveform component."""
    section = (ROOT / "docs" / "plugins.md").read_text().split("## Writing a waveform model", 1)[1]
    code, expected = re.search(
        r"```python\n(.*?)```\n\nprints\n\n```text\n(.*?)```", section.split("\n## ", 1)[0], re.S
    ).groups()
    namespace: dict = {}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/plugins.md", "exec"), namespace)
    assert out.getvalue() == expected
    (component,) = namespace["harness_models"]()
    assert component.input == "waveform" and check_declaration("model", component) == []


def test_the_report_says_how_a_condition_pretrains():
    from harness.report.methods import _pretraining_amount

    assert _pretraining_amount({"epochs": 1}) == 1  # a condition as before
    steps = {"epochs": 1, "pretrain_steps": 40, "pretrain_objective": "self_supervised"}
    assert _pretraining_amount(steps) == "40 steps (self-supervised)"


def _whistle_suite(tmp_path, **changes):
    """The whistle study of the test above, fine-tuning only (a model entry in ``changes``)."""
    suite = dict(
        probes=[],
        dataset={"plugin": "folder", "root": str(tmp_path / "calls"), "subfolder_label": "call"},
        features={"sample_rate": 8000},
        splits={"probe_languages": [], "pretrain_speakers": 2, "train_speakers": 2,
                "heldout_speakers": 1},
        target={"task": "classify", "label": "call", "language": "aa", "metric": "accuracy",
                "threshold": 0.99, "max_steps": 4, "eval_every": 2},
        training={"crop_seconds": 0.2, "batch_size": 4},
        conditions=[{"name": "none"}],
        seeds=[0],
    )  # fmt: skip
    return {**suite, **changes}


@pytest.mark.parametrize("layout", ["pretraining", "bare"])
def test_fine_tuning_starts_from_a_save_pretrained_folder(tmp_path, layout):
    from transformers import Wav2Vec2ForPreTraining
    from transformers import Wav2Vec2Model as BareModel

    _whistles(tmp_path / "calls")
    model = Wav2Vec2Model(**TINY)
    torch.manual_seed(123)
    saved = (Wav2Vec2ForPreTraining if layout == "pretraining" else BareModel)(model.config())
    saved.save_pretrained(tmp_path / "w2v-checkpoint")  # model.safetensors + config.json
    prefix = "wav2vec2." if layout == "pretraining" else ""
    conv = saved.state_dict()[f"{prefix}feature_extractor.conv_layers.0.conv.weight"]

    entry = {"plugin": "wav2vec2", **TINY, "checkpoint": str(tmp_path / "w2v-checkpoint")}
    runs = [
        run_tiny_suite(tmp_path / name, cache_dir=tmp_path / "cache",
                       **_whistle_suite(tmp_path, models=[entry]))
        for name in ("first", "again")
    ]  # fmt: skip
    (record,) = runs[0].records.values()
    loaded = record["checkpoint"]
    assert loaded["format"] == "huggingface" and len(loaded["sha256"]) == 64
    assert "net.wav2vec2.feature_extractor.conv_layers.0.conv.weight" in loaded["loaded"]
    assert {"head.weight", "head.bias"} <= set(loaded["missing"])  # the new classify head
    # deterministic on CPU: the same curves from the same checkpoint and seed
    first, again = (r.curves.drop(columns=["run_id", "seconds"]) for r in runs)
    pd_testing = pytest.importorskip("pandas.testing")
    pd_testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))
    # what it started from: a frozen-encoder fine-tune keeps the checkpoint's encoder
    frozen = {**entry, "freeze_feature_encoder": True}
    results = run_tiny_suite(tmp_path / "frozen", cache_dir=tmp_path / "cache",
                             **_whistle_suite(tmp_path, models=[frozen]))  # fmt: skip
    (record,) = results.records.values()
    weights = torch.load(
        Path(results.output_dir) / "runs" / record["run_id"] / "weights.pt", weights_only=True
    )
    assert torch.equal(weights["net.wav2vec2.feature_extractor.conv_layers.0.conv.weight"], conv)


def test_a_checkpoint_of_another_size_is_refused_naming_the_tensors():
    from transformers import Wav2Vec2ForPreTraining

    other = Wav2Vec2ForPreTraining(Wav2Vec2Model(**{**TINY, "hidden_size": 32}).config())
    model = Wav2Vec2Model(**TINY)
    module = model.build(1, 1600)
    with pytest.raises(ValueError, match=r"another shape than the model's.*net\.wav2vec2\."):
        model.load_checkpoint(module, other.state_dict())


def test_parameter_groups_split_encoder_transformer_and_head():
    from harness.plugin.contracts import check_parameter_groups

    model = Wav2Vec2Model(**TINY)
    module = model.build(1, 1600, n_classes=3)
    groups = check_parameter_groups(
        "wav2vec2", model.parameter_groups(module), module,
        ("feature_encoder", "transformer", "head"),
    )  # fmt: skip
    assert sum(p.numel() for g in groups.values() for p in g) == sum(
        p.numel() for p in module.parameters()
    )
    assert [p.shape for p in groups["head"]] == [(3, 16), (3,)]
    # an own-loss module has no head: the group is empty
    assert model.parameter_groups(model.build(1, 1600))["head"] == []


def test_the_layers_form_one_stack_from_the_input_up():
    spaces = ["encoder", "layer1", "layer2"]
    assert LayerStates().layers(spaces) == {"layers": {"encoder": 0, "layer1": 1, "layer2": 2}}
