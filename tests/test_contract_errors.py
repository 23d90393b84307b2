"""A plugin that breaks its family's contract fails with a message naming the
family, the component and what was expected.

Broken components are registered next to the built-ins and driven through the
functions ``harness.run.execute.execute`` runs (``load_clips``, ``filter_pretraining``,
``harness.learning.training.train``, ``extract_latents``, ``run_probes``), with a RunSpec
expanded from a real suite file; two cases go through a whole run, where the
message reaches the user in the runner's summary.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from torch import nn

from harness import Component, Metric, hookimpl
from harness.learning.training import TrainingData, train
from harness.plugin.contracts import Clip, ContractError, ProbeResult
from harness.run.inputs import filter_pretraining, load_clips
from harness.run.latents import LatentSpace, extract_latents
from harness.run.probes import run_probes
from harness.spec.expand import RunSpec, expand
from harness.spec.suite import load_suite
from harness.testing import TinySuiteFailed, run_tiny_suite, tiny_registry, write_tiny_suite

RATE = 16000
N_FEATURES = 16


def clip(k: int, language: str = "it", samples: int = RATE // 4) -> Clip:
    audio = np.sin(np.arange(samples) * (0.05 + 0.01 * k)).astype(np.float32)
    return Clip(f"{language}-{k}", language, f"{language}/spk{k % 2}", audio, RATE)


# ---------------------------------------------------------------- broken components


class NotClips:
    def load(self, request):
        return [(lang, np.zeros(RATE, np.float32)) for lang in request.languages]


class WrongRate:
    def load(self, request):
        return [Clip(f"{lang}-0", lang, f"{lang}/a", np.zeros(8000, np.float32), 8000)
                for lang in request.languages]  # fmt: skip


class BadAudio:
    """Clips at the right rate whose audio is ``bend``-ed out of the contract."""

    def __init__(self, bend) -> None:
        self.bend = bend

    def load(self, request):
        audio = np.sin(np.arange(RATE) * 0.05).astype(np.float32)
        return [Clip(f"{lang}-{s}", lang, f"{lang}/{s}", self.bend(audio), request.sample_rate)
                for lang in request.languages for s in range(4)]  # fmt: skip


def bad_audio(name: str, bend) -> Component:
    return Component(name, lambda: BadAudio(bend), "broken on purpose")


def truncating():
    return lambda audio, sample_rate, rng: audio[:-1]


def nan_filter():
    return lambda audio, sample_rate, rng: np.full_like(audio, np.nan)


class Predictor:
    """A valid next-frame model whose ``loss`` answer is bent by ``answer``."""

    def __init__(self, answer=lambda loss: loss.mean()) -> None:
        self.answer = answer

    def build(self, n_features, segment_frames):
        return nn.Linear(n_features, n_features)

    def loss(self, module, batch):
        error = nn.functional.mse_loss(module(batch[:, :-1]), batch[:, 1:], reduction="none")
        return self.answer(error)


def vector_loss():
    return Predictor(answer=lambda error: error)  # forgot the reduction


def float_loss():
    return Predictor(answer=lambda error: error.mean().item())  # detached Python float


class NotModule(Predictor):
    def build(self, n_features, segment_frames):
        return {"weights": torch.zeros(n_features)}


class Returns:
    """A model-free extractor returning ``value(n_clips)``."""

    needs_model = False

    def __init__(self, value) -> None:
        self.value = value

    def supports(self, module):
        return True

    def extract(self, module, features, device):
        return self.value(len(features))


class Answers:
    """A probe returning ``answer``."""

    def __init__(self, answer) -> None:
        self.answer = answer

    def run(self, latents, labels, groups, target, seed):
        return self.answer


BALANCED = [Metric("balanced_accuracy", "balanced accuracy")]


def probe(name: str, answer) -> Component:
    return Component(name, lambda: Answers(answer), "broken on purpose", metrics=BALANCED)


def extractor(name: str, value) -> Component:
    return Component(name, lambda: Returns(value), "broken on purpose")


class DeclaresLayers(Returns):
    """Two spaces, h and c, and the stacks ``declared``."""

    def __init__(self, declared) -> None:
        super().__init__(lambda n: {"h": np.zeros((n, 3)), "c": np.ones((n, 3))})
        self.declared = declared

    def layers(self, spaces):
        return self.declared


def layered(name: str, declared) -> Component:
    return Component(name, lambda: DeclaresLayers(declared), "broken on purpose")


class Broken:
    @hookimpl
    def harness_datasets(self):
        return [Component("not_clips", NotClips, "tuples, not Clips"),
                Component("wrong_rate", WrongRate, "8 kHz whatever is asked"),
                bad_audio("stereo", lambda a: np.stack([a, a], axis=1)),
                bad_audio("nan_audio", lambda a: np.where(a > 0.99, np.nan, a)),
                bad_audio("int_audio", lambda a: (a * 3000).astype(np.int16))]  # fmt: skip

    @hookimpl
    def harness_pretrain_filters(self):
        return [Component("truncating", truncating, "drops the last sample"),
                Component("nan_filter", nan_filter, "NaN everywhere")]  # fmt: skip

    @hookimpl
    def harness_models(self):
        return [Component("vector_loss", vector_loss, "per-element loss"),
                Component("float_loss", float_loss, "loss as a float"),
                Component("not_module", NotModule, "build returns a dict")]  # fmt: skip

    @hookimpl
    def harness_latent_extractors(self):
        return [
            extractor("flat", lambda n: {"h": np.zeros(n)}),
            extractor("short", lambda n: {"h": np.zeros((n - 1, 3))}),
            extractor("nan_latents", lambda n: {"h": np.full((n, 3), np.nan)}),
            extractor("text_latents", lambda n: {"h": np.full((n, 3), "x")}),
            extractor("not_dict", lambda n: np.zeros((n, 3))),
            extractor("empty", lambda n: {}),
            layered("same_depth", {"hidden": {"h": 1, "c": 1}}),
            layered("unknown_layer", {"hidden": {"x": 0}}),
            layered("layers_list", ["h", "c"]),
        ]

    @hookimpl
    def harness_probes(self):
        return [
            probe("plain_dict", {"balanced_accuracy": 0.5}),
            probe("undeclared", ProbeResult(metrics={"accuracy": 0.5})),
            probe("unnamed", ProbeResult(metrics={"": 0.5})),
            probe("infinite", ProbeResult(metrics={"balanced_accuracy": float("inf")})),
            probe("text_metric", ProbeResult(metrics={"balanced_accuracy": "high"})),
            probe(
                "object_artifact",
                ProbeResult({"balanced_accuracy": 0.5}, artifacts={"xy": np.array([{}, {}])}),
            ),
            probe(
                "text_detail",
                ProbeResult({"balanced_accuracy": 0.5}, details={"folds": ["a", "b"]}),
            ),
            probe("nan_metric", ProbeResult(metrics={"balanced_accuracy": float("nan")})),
        ]


@pytest.fixture(scope="module")
def registry():
    return tiny_registry([Broken()], autoload=False)


@pytest.fixture
def spec(tmp_path, registry):
    """The first run of the tiny suite with some selections replaced."""

    def make(**overrides) -> RunSpec:
        path = write_tiny_suite(tmp_path, **overrides)
        return expand(load_suite(path, registry), registry)[0]

    return make


def expect(kind: str, component: str, expected: str):
    """``pytest.raises`` for the ContractError of ``kind`` plugin ``component``."""
    return pytest.raises(
        ContractError, match=re.escape(f"{kind} plugin {component!r}: ") + ".*" + expected
    )


# ---------------------------------------------------------------- datasets


def test_dataset_returning_something_else_than_clips(spec, registry):
    with expect("dataset", "not_clips", "load\\(\\) must return Clips"):
        load_clips(spec(dataset={"plugin": "not_clips"}), registry)


def test_dataset_ignoring_the_requested_sample_rate(spec, registry):
    with expect("dataset", "wrong_rate", "has sample rate 8000, requested 16000"):
        load_clips(spec(dataset={"plugin": "wrong_rate"}), registry)


@pytest.mark.parametrize(
    ("name", "expected"),
    [("stereo", "mono"), ("nan_audio", "non-finite"), ("int_audio", "float32")],
)
def test_dataset_returning_audio_outside_the_contract(spec, registry, name, expected):
    with expect("dataset", name, expected):
        load_clips(spec(dataset={"plugin": name}), registry)


# ---------------------------------------------------------------- filters


def expand_condition(spec, flt: str) -> RunSpec:
    """The run of the condition that pretrains through filter ``flt``."""
    run = spec(conditions=[{"name": "it-x", "language": "it", "filter": flt}, {"name": "none"}])
    assert run.condition.pretrains and run.condition.filter.plugin == flt
    return run


def test_filter_changing_the_length(spec, registry):
    run = expand_condition(spec, "truncating")
    with expect("pretrain_filter", "truncating", re.escape("shape (4000,), got (3999,)")):
        filter_pretraining(run, registry, [clip(0), clip(1)])


def test_filter_returning_non_finite_samples(spec, registry):
    with expect("pretrain_filter", "nan_filter", "non-finite samples"):
        filter_pretraining(expand_condition(spec, "nan_filter"), registry, [clip(0)])


# ---------------------------------------------------------------- models


def train_with(spec, registry, name: str):
    run = spec(models=[name])
    model = registry.get("model", name).create()
    rng = np.random.default_rng(0)
    data = TrainingData(
        train=rng.random((8, 20, N_FEATURES), dtype=np.float32),
        heldout=rng.random((4, 20, N_FEATURES), dtype=np.float32),
    )
    # as execute() calls it: the component's name travels into contract errors
    return train(model, N_FEATURES, data, target=run.target, training=run.training,
                 seed=0, name=run.model.plugin)  # fmt: skip


def test_loss_that_is_not_a_scalar(spec, registry):
    with expect("model", "vector_loss", re.escape("scalar tensor, got (4, 19, 16)")):
        train_with(spec, registry, "vector_loss")


def test_loss_that_is_not_a_tensor(spec, registry):
    with expect("model", "float_loss", "scalar tensor, got float"):
        train_with(spec, registry, "float_loss")


def test_build_that_returns_no_module(spec, registry):
    with expect("model", "not_module", "build\\(\\) must return a torch.nn.Module, got dict"):
        train_with(spec, registry, "not_module")


# ---------------------------------------------------------------- extractors


FEATURES = [np.zeros((30, N_FEATURES), np.float32) for _ in range(6)]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("flat", re.escape("space 'h' must be 2-D (clips, dim), got shape (6,)")),
        ("short", re.escape("space 'h' must have one row per clip (6), got 5")),
        ("nan_latents", "space 'h' has non-finite or non-numeric values"),
        ("text_latents", "space 'h' has non-finite or non-numeric values"),
        ("not_dict", "must return a non-empty dict of latent spaces"),
        ("empty", "must return a non-empty dict of latent spaces"),
        ("same_depth", re.escape("layers(): stack 'hidden' gives two spaces the same depth")),
        (
            "unknown_layer",
            re.escape(
                "layers(): stack 'hidden' names space 'x', which extract() "
                "did not return (it returned c, h)"
            ),
        ),
        (
            "layers_list",
            re.escape("layers(): must return a dict {stack: {space: depth}}, got list"),
        ),
    ],
)
def test_extractor_breaking_its_contract(spec, registry, name, expected):
    with expect("latent_extractor", name, expected):
        extract_latents(spec(extractors=[name]), registry, None, FEATURES, "cpu")


# ---------------------------------------------------------------- probes


PROBE_CLIPS = [clip(k, lang) for lang in ("es", "it") for k in range(4)]


def probe_with(spec, registry, name: str):
    latents = {"x/h": LatentSpace("x", np.random.default_rng(0).random((8, 3), np.float32))}
    return run_probes(spec(probes=[name]), registry, latents, PROBE_CLIPS)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("plain_dict", "run\\(\\) must return harness.plugin.contracts.ProbeResult, got dict"),
        (
            "undeclared",
            re.escape(
                "metric 'accuracy' is not declared in Component.metrics "
                "(declared: ['balanced_accuracy'])"
            ),
        ),
        ("unnamed", "metric without a name: ''"),
        ("infinite", "metric 'balanced_accuracy' must be a finite number, got inf"),
        ("text_metric", "metric 'balanced_accuracy' must be a finite number, got 'high'"),
        ("object_artifact", "artifact 'xy' is an object array"),
    ],
)
def test_probe_breaking_its_contract(spec, registry, name, expected):
    """The broken pair is recorded as a probe fault; nothing of it enters the results."""
    outcome = probe_with(spec, registry, name)
    assert not outcome.rows and not outcome.arrays
    [error] = outcome.errors
    assert error["type"] == "ContractError" and error["probe"] == name
    assert (error["latent_space"], error["plugin"]) == ("x/h", name)
    assert re.search(re.escape(f"probe plugin {name!r}: ") + ".*" + expected, error["message"])


def test_probe_detail_that_is_not_a_number(spec, registry):
    [error] = probe_with(spec, registry, "text_detail").errors
    assert "probe plugin 'text_detail'" in error["message"] and "detail 'folds'" in error["message"]


def test_nan_metric_is_recorded_as_missing_and_warned_naming_its_plugin(spec, registry):
    outcome = probe_with(spec, registry, "nan_metric")
    assert [(r["metric"], r["value"]) for r in outcome.rows] == [("balanced_accuracy", None)]
    [warning] = outcome.warnings
    assert warning["message"] == "probe plugin 'nan_metric' reported balanced_accuracy as NaN"
    assert (warning["latent_space"], warning["metric"]) == ("x/h", "balanced_accuracy")
    assert not outcome.errors


# ---------------------------------------------------------------- whole runs


@pytest.mark.parametrize(
    ("selection", "message"),
    [
        (
            {"models": ["vector_loss"]},
            "ContractError: model plugin 'vector_loss': loss() must return a scalar tensor",
        ),
    ],
)
def test_a_run_reports_the_contract_error(tmp_path, selection, message):
    """The runner records the run as failed; its summary (what `harness run` prints) says why."""
    with pytest.raises(TinySuiteFailed) as info:
        run_tiny_suite(tmp_path, conditions=[{"name": "none"}], extractors=["feature_stats"],
                       extra_plugins=[Broken()], **selection)  # fmt: skip
    assert message in str(info.value)


def test_a_skipped_probe_result_carries_no_numbers_and_its_reason_is_text():
    from harness.plugin.contracts import check_probe_result

    assert check_probe_result("p", ["m"], ProbeResult(skipped="seed 0 only")).skipped
    with pytest.raises(ContractError, match="carries no metrics, artifacts or details"):
        check_probe_result("p", ["m"], ProbeResult(metrics={"m": 0.5}, skipped="seed 0 only"))
    with pytest.raises(ContractError, match="skipped must be a reason"):
        check_probe_result("p", ["m"], ProbeResult(skipped=True))  # type: ignore[arg-type]
