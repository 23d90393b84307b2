"""Meta-tests of the plugin API, as datasette has them.

* every hook spec appears in docs/plugins.md with its exact signature;
* every hook has a test here showing that a plugin implementing it is used by
  the harness: one tiny suite runs with a *spy* plugin (not installed, passed
  as an object) that contributes one component per family and logs each call.
"""

from __future__ import annotations

import ast
import inspect
from collections import defaultdict
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch import nn

from harness import Component, Metric, hookimpl
from harness.plugin import hookspecs
from harness.plugin.contracts import Clip, DataRequest, ProbeResult
from harness.plugin.registry import HOOKS
from harness.testing import run_tiny_suite

DOCS = Path(__file__).parent.parent / "docs" / "plugins.md"
RATE = 16000


def spec_headers() -> dict[str, str]:
    """``def name(args) -> return:`` of every hook spec, as written in hookspecs.py."""
    tree = ast.parse(inspect.getsource(hookspecs))
    return {
        node.name: f"def {node.name}({ast.unparse(node.args)}) -> {ast.unparse(node.returns)}:"
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("harness_")
    }


@pytest.mark.parametrize("hook", sorted(HOOKS.values()))
def test_every_hook_is_documented_with_its_exact_signature(hook):
    headers = spec_headers()
    assert hook in headers, f"{hook} is in HOOKS but not in harness/plugin/hookspecs.py"
    assert headers[hook] in DOCS.read_text(encoding="utf-8"), (
        f"docs/plugins.md must show `{headers[hook]}`"
    )


# ---------------------------------------------------------------- the spy plugin

CALLS: dict[str, list[Any]] = defaultdict(list)


class SpyTones:
    """Per language a chord of its own; per speaker a small detuning; 1 s clips."""

    BASE: ClassVar[dict[str, tuple[float, float]]] = {"es": (300.0, 900.0), "it": (500.0, 1400.0)}

    def load(self, request: DataRequest) -> list[Clip]:
        CALLS["dataset"].append(request)
        t = np.arange(RATE) / request.sample_rate
        clips = []
        for lang in request.languages:
            for s in range(request.speakers_needed[lang]):
                rng = np.random.default_rng([len(lang), s, ord(lang[0])])
                shift = rng.uniform(0.9, 1.1)
                for k in range(3):
                    audio = sum(np.sin(2 * np.pi * f * shift * (1 + 0.03 * k) * t)
                                for f in self.BASE[lang])  # fmt: skip
                    audio = 0.3 * audio + 0.05 * rng.standard_normal(t.size)
                    speaker = f"spy-{lang}-{s}"
                    clips.append(Clip(f"{speaker}-{k}", lang, speaker,
                                      audio.astype(np.float32), request.sample_rate))  # fmt: skip
        return clips


class SpyFilter:
    def __call__(self, audio: np.ndarray, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        CALLS["filter"].append((len(audio), sample_rate))
        return (0.5 * audio).astype(np.float32)


class SpyModule(nn.Module):
    def __init__(self, n_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(n_features, n_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class SpyModel:
    def build(self, n_features: int, segment_frames: int) -> nn.Module:
        CALLS["build"].append((n_features, segment_frames))
        return SpyModule(n_features)

    def loss(self, module: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        CALLS["loss"].append(tuple(batch.shape))
        return nn.functional.mse_loss(module(batch[:, :-1]), batch[:, 1:])


class SpyExtractor:
    needs_model = True

    def supports(self, module: nn.Module | None) -> bool:
        return isinstance(module, SpyModule)

    def extract(self, module, features, device):
        CALLS["extract"].append(len(features))
        with torch.no_grad():
            rows = [module(torch.from_numpy(f)).mean(0).numpy() for f in features]
        return {"mean": np.stack(rows)}


class SpyProbe:
    def run(self, latents, labels, groups, target, seed):
        CALLS["probe"].append((latents.shape, target))
        return ProbeResult(metrics={"spy_clips": float(len(latents))})


class SpyExecutor:
    def map(self, fn, items):
        for item in items:
            CALLS["executor"].append(item.run_id)
            yield item, fn(item)

    def close(self) -> None:
        CALLS["executor_closed"].append(True)


class Spy:
    """One component per family; a plugin may be any object with hook methods."""

    @hookimpl
    def harness_datasets(self):
        return [Component("spy_tones", SpyTones, "synthetic chords")]

    @hookimpl
    def harness_pretrain_filters(self):
        return [Component("spy_filter", SpyFilter, "halves the waveform")]

    @hookimpl
    def harness_models(self):
        return [Component("spy_model", SpyModel, "linear next-frame predictor")]

    @hookimpl
    def harness_latent_extractors(self):
        return [Component("spy_extractor", SpyExtractor, "mean prediction per clip")]

    @hookimpl
    def harness_probes(self):
        return [
            Component(
                "spy_probe",
                SpyProbe,
                "counts clips",
                metrics=[Metric("spy_clips", "probe clips", higher_is_better=False)],
            )
        ]

    @hookimpl
    def harness_executors(self):
        return [Component("spy_executor", SpyExecutor, "sequential, in this process")]


@pytest.fixture(scope="module")
def spied(tmp_path_factory):
    """The tiny suite with every family replaced by the spy's component; run once."""
    CALLS.clear()
    results = run_tiny_suite(
        tmp_path_factory.mktemp("spy"),
        dataset={"plugin": "spy_tones"},
        conditions=[
            {"name": "none"},
            {"name": "it-spy", "language": "it", "filter": "spy_filter", "epochs": 1},
        ],
        models=["spy_model"],
        extractors=["spy_extractor"],
        probes=["spy_probe"],
        executor={"plugin": "spy_executor"},
        extra_plugins=[Spy()],
        cache_dir=tmp_path_factory.getbasetemp() / "harness-cache",
    )
    return results, dict(CALLS)


def test_harness_datasets(spied):
    results, calls = spied
    request = calls["dataset"][0]
    assert set(request.languages) == {"es", "it"}
    assert request.sample_rate == RATE
    for run_id in results.runs["run_id"]:
        speakers = results.probe_clips(run_id)["speaker"]
        assert speakers.str.startswith("spy-").all()


def test_harness_pretrain_filters(spied):
    results, calls = spied
    # applied to the pretraining clips of the one condition that pretrains, at the feature rate
    record = next(r for r in results.records.values() if r["spec"]["condition"]["name"] == "it-spy")
    pretrain_clips = record["data"]["counts"]["pretrain"]["it"]["clips"]
    assert calls["filter"] == [(RATE, RATE)] * pretrain_clips


def test_harness_models(spied):
    results, calls = spied
    assert set(results.runs["model_plugin"]) == {"spy_model"}
    assert set(results.runs["status"]) <= {"reached", "censored"}
    # n_mels and segment_frames of the tiny suite: built once per seed for the relative
    # threshold's reference (once per process), then once per run
    assert calls["build"] == [(16, 20)] * 3
    assert (4, 20, 16) in calls["loss"]  # training batches: batch_size x segment x features
    assert len(results.curves) > 2


def test_harness_latent_extractors(spied):
    results, calls = spied
    assert calls["extract"]
    assert set(results.probes["latent_space"]) == {"spy_extractor/mean"}
    for run_id in results.runs["run_id"]:
        latents = results.latents(run_id)["spy_extractor/mean"]
        assert latents.shape == (len(results.probe_clips(run_id)), 16)


def test_harness_probes(spied):
    results, calls = spied
    rows = results.probes[results.probes["probe"] == "spy_probe"]
    assert set(rows["metric"]) == {"spy_clips"}
    assert not rows["higher_is_better"].any()  # as declared
    assert sorted(shape[0] for shape, _ in calls["probe"]) == sorted(rows["value"].astype(int))
    assert {target for _, target in calls["probe"]} == {"es"}


def test_harness_executors(spied):
    results, calls = spied
    assert sorted(calls["executor"]) == sorted(results.runs["run_id"])
    assert calls["executor_closed"] == [True]


#: hook -> the test above showing that the harness uses a plugin implementing it
HOOK_TESTS = {
    "harness_datasets": test_harness_datasets,
    "harness_pretrain_filters": test_harness_pretrain_filters,
    "harness_models": test_harness_models,
    "harness_latent_extractors": test_harness_latent_extractors,
    "harness_probes": test_harness_probes,
    "harness_executors": test_harness_executors,
}


def test_every_hook_has_a_test():
    assert set(HOOK_TESTS) == set(spec_headers()) == set(HOOKS.values())
