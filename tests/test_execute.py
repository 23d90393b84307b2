"""One run end to end on synthetic data: record, arrays, determinism, censoring, divergence.

The dataset, filter and probe here are small fakes registered next to the real
models and extractors, so these tests depend on no other plugin's parameters;
splits and features are the real core modules.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from harness import Component, Metric, Param, hookimpl
from harness.contracts import Clip, ContractError, ProbeResult
from harness.execute import execute
from harness.expand import expand
from harness.registry import Registry, build_plugin_manager, collect
from harness.runner import run_one
from harness.store import RECORD
from harness.suite import load_suite
from harness_plugins import extractors
from harness_plugins.models import conv_autoencoder, lstm

torch.set_num_threads(1)

RATE = 8000
#: each fake language is a chord of its own base frequencies
LANGUAGE_HZ = {"aa": (300.0, 900.0), "bb": (500.0, 1400.0), "cc": (700.0, 2100.0)}


class Tones:
    """Clips of 0.6 s: a language's chord, shifted per speaker, plus noise."""

    def __init__(self, clips_per_speaker: int = 3) -> None:
        self.clips_per_speaker = clips_per_speaker

    def load(self, request):
        clips = []
        t = np.arange(int(0.6 * request.sample_rate)) / request.sample_rate
        for lang in request.languages:
            for s in range(request.speakers_needed[lang] + 1):
                rng = np.random.default_rng([ord(lang[0]), s])
                shift = rng.uniform(0.9, 1.1)
                for k in range(self.clips_per_speaker):
                    audio = sum(
                        np.sin(2 * np.pi * f * shift * (1 + 0.02 * k) * t)
                        for f in LANGUAGE_HZ[lang]
                    )
                    audio = 0.3 * audio + 0.05 * rng.standard_normal(t.size)
                    clips.append(
                        Clip(
                            f"{lang}-{s}-{k}",
                            lang,
                            f"{lang}-spk{s}",
                            audio.astype(np.float32),
                            request.sample_rate,
                        )
                    )
        return clips


def moving_average(width: int):
    def apply(audio, sample_rate, rng):
        kernel = np.ones(width) / width
        return np.convolve(audio, kernel, mode="same").astype(np.float32)

    return apply


def truncating():
    return lambda audio, sample_rate, rng: audio[:-1]


class Centroid:
    """Nearest class centroid, scored on the clips it was fitted on (a contract fake)."""

    def run(self, latents, labels, groups, target, seed):
        classes = sorted(set(labels))
        centroids = np.stack([latents[labels == c].mean(0) for c in classes])
        distance = ((latents[:, None] - centroids[None]) ** 2).sum(-1)
        predicted = np.array(classes)[distance.argmin(1)]
        hits = [float((predicted[labels == c] == c).mean()) for c in classes]
        return ProbeResult(
            metrics={"accuracy": float(np.mean(hits)), "chance": 1.0 / len(classes)},
            artifacts={"centroids": centroids},
            details={"per_class": hits},
        )


class Sequential:
    """The suite schema needs an executor; these tests call execute directly."""

    def map(self, fn, items):
        for item in items:
            yield item, fn(item)

    def close(self):
        pass


class FakePlugins:
    @hookimpl
    def harness_executors(self):
        return [Component("local", Sequential, "in this process", default=True)]

    @hookimpl
    def harness_datasets(self):
        return [
            Component(
                "tones",
                Tones,
                "synthetic chords",
                [Param("clips_per_speaker", int, 3, "clips", min=1)],
            )
        ]

    @hookimpl
    def harness_pretrain_filters(self):
        return [
            Component("full", lambda: moving_average(1), "no filtering", default=True),
            Component(
                "smooth",
                moving_average,
                "moving average",
                [Param("width", int, 8, "samples", min=1)],
            ),
            Component("truncating", truncating, "breaks the filter contract"),
        ]

    @hookimpl
    def harness_probes(self):
        return [
            Component(
                "centroid",
                Centroid,
                "nearest centroid",
                metrics=[
                    Metric("accuracy", "balanced accuracy"),
                    Metric("chance", "chance level"),
                ],
            )
        ]


@pytest.fixture(scope="module")
def registry() -> Registry:
    plugins = [FakePlugins(), lstm, conv_autoencoder, extractors]
    return collect(build_plugin_manager(plugins, autoload=False, builtins=False))


SUITE = """
name = "tiny"
seeds = [0, 1]
[dataset]
plugin = "tones"
[features]
sample_rate = 8000
n_mels = 12
normalize = "{normalize}"
[splits]
probe_languages = ["aa", "bb", "cc"]
pretrain_speakers = 2
train_speakers = 2
heldout_speakers = 1
probe_speakers = 2
[target]
language = "aa"
threshold = {threshold}
threshold_mode = "{mode}"
max_steps = {max_steps}
eval_every = 10
[training]
lr = {lr}
batch_size = 8
segment_frames = 20
device = "cpu"
[[conditions]]
name = "control"
[[conditions]]
name = "bb-smooth"
language = "bb"
filter = {filter}
epochs = 2
[[models]]
plugin = "lstm"
hidden_size = 12
[[models]]
plugin = "conv_autoencoder"
channels = [4, 8]
bottleneck = 6
[[extractors]]
plugin = "lstm_state"
[[extractors]]
plugin = "bottleneck"
[[extractors]]
plugin = "feature_stats"
[[probes]]
plugin = "centroid"
"""


def specs(tmp_path: Path, registry: Registry, **given):
    values = {
        "threshold": 0.7,
        "mode": "relative",
        "max_steps": 40,
        "lr": 0.01,
        "filter": '{plugin = "smooth", width = 8}',
        "normalize": "clip_minmax",
    }
    path = tmp_path / "tiny.toml"
    path.write_text(SUITE.format(**{**values, **given}))
    return expand(load_suite(path, registry, output=tmp_path / "out"))


def run(spec, folder: Path, registry: Registry) -> dict:
    folder.mkdir(parents=True)
    return execute(spec, folder, registry)


def without_timings(record: dict) -> dict:
    record = json.loads(json.dumps(record))
    for key in ("started", "wall_seconds", "phase_seconds", "environment"):
        record.pop(key)
    for key in ("seconds", "train_seconds", "pretrain_seconds"):
        record["convergence"].pop(key)
    record["curve"].pop("seconds")
    return record


def test_tiny_suite_records_every_run(tmp_path, registry):
    runs = specs(tmp_path, registry)
    assert len(runs) == 8  # 2 conditions x 2 models x 2 seeds
    for i, spec in enumerate(runs):
        folder = tmp_path / f"run{i}"
        record = run(spec, folder, registry)
        json.dumps(record, allow_nan=False)  # JSON-ready, no NaN
        assert record["run_id"] == spec.run_id and record["status"] in {"reached", "censored"}
        assert record["error"] is None

        conv = record["convergence"]
        assert conv["reached"] == (record["status"] == "reached")
        assert conv["threshold"] == pytest.approx(0.7 * conv["initial_heldout_loss"])
        assert conv["steps"] <= 40 and conv["examples"] == conv["steps"] * 8
        pretrains = spec.condition.pretrains
        assert (conv["pretrain_steps"] > 0) == pretrains
        curve = record["curve"]
        assert len({len(v) for v in curve.values()}) == 1 and curve["step"][0] == 0
        assert curve["step"][-1] == conv["steps"]

        counts = record["data"]["counts"]
        assert counts["train"]["aa"]["speakers"] == 2 and counts["heldout"]["aa"]["speakers"] == 1
        assert set(counts["pretrain"]) == ({"bb"} if pretrains else set())
        clip_ids = record["data"]["probe_clips"]["clip_id"]
        assert set(record["data"]["probe_clips"]["language"]) == {"aa", "bb", "cc"}

        latents = np.load(folder / record["artifacts"]["latents"])
        expected = {"feature_stats/mean_std"}
        if spec.model.plugin == "lstm":
            expected |= {"lstm_state/h", "lstm_state/c"}
            assert latents["lstm_state/h"].shape == (len(clip_ids), 12)
            assert [s["extractor"] for s in record["extractors_skipped"]] == ["bottleneck"]
        else:
            expected |= {"bottleneck/code"}
            assert latents["bottleneck/code"].shape == (len(clip_ids), 6)
        assert set(latents.files) == expected
        assert latents["feature_stats/mean_std"].shape == (len(clip_ids), 24)

        rows = record["probes"]
        assert {(r["latent_space"], r["metric"]) for r in rows} == {
            (space, metric) for space in expected for metric in ("accuracy", "chance")
        }
        assert all(r["probe"] == "centroid" and r["higher_is_better"] for r in rows)
        assert all(r["extractor"] == r["latent_space"].split("/")[0] for r in rows)
        assert {d["latent_space"] for d in record["probe_details"]} == expected
        arrays = np.load(folder / record["artifacts"]["probe_artifacts"])
        assert set(arrays.files) == {f"{space}/centroid/centroids" for space in expected}

        weights = torch.load(folder / record["artifacts"]["weights"], weights_only=True)
        model = registry.get("model", spec.model.plugin).create(**spec.model.params)
        model.build(12, 20).load_state_dict(weights)
        assert record["environment"]["torch"] and record["environment"]["device"] == "cpu"
        phases = record["phase_seconds"]
        assert list(phases) == ["data", "features", "training", "latents", "probes"]
        assert sum(phases.values()) <= record["wall_seconds"]


def test_pretraining_condition_shares_probe_clips_and_threshold_with_control(tmp_path, registry):
    runs = [s for s in specs(tmp_path, registry, max_steps=10) if s.model.plugin == "lstm"]
    control, pretrained = (s for s in runs if s.seed == 0)
    a = run(control, tmp_path / "a", registry)
    b = run(pretrained, tmp_path / "b", registry)
    assert a["data"]["probe_clips"] == b["data"]["probe_clips"]
    assert a["convergence"]["threshold"] == b["convergence"]["threshold"]
    assert a["curve"]["heldout_loss"][0] != b["curve"]["heldout_loss"][0]


def test_same_seed_gives_the_same_record_and_arrays(tmp_path, registry):
    spec = next(s for s in specs(tmp_path, registry) if s.condition.pretrains and s.seed == 1)
    first = run(spec, tmp_path / "first", registry)
    second = run(spec, tmp_path / "second", registry)
    assert without_timings(first) == without_timings(second)
    for name in ("latents.npz", "probe_artifacts.npz"):
        one, two = np.load(tmp_path / "first" / name), np.load(tmp_path / "second" / name)
        assert one.files == two.files
        for key in one.files:
            np.testing.assert_array_equal(one[key], two[key])
    other = next(s for s in specs(tmp_path, registry) if s.condition.pretrains and s.seed == 0)
    assert without_timings(run(other, tmp_path / "other", registry)) != without_timings(first)


def test_unreachable_threshold_is_censored(tmp_path, registry):
    spec = specs(tmp_path, registry, threshold=0.0, mode="absolute", max_steps=15)[0]
    record = run(spec, tmp_path / "run", registry)
    assert record["status"] == "censored"
    assert record["convergence"]["steps"] == 15 and not record["convergence"]["reached"]
    assert record["curve"]["step"] == [0, 10, 15]


def test_divergence_is_recorded_with_model_free_latents_only(tmp_path, registry):
    spec = specs(tmp_path, registry, lr=1e30, threshold=0.0, mode="absolute")[0]
    record = run(spec, tmp_path / "run", registry)
    json.dumps(record, allow_nan=False)
    assert record["status"] == "diverged"
    assert record["convergence"]["diverged_step"] >= 1
    assert record["convergence"]["final_heldout_loss"] is None
    assert {r["latent_space"] for r in record["probes"]} == {"feature_stats/mean_std"}
    reasons = {s["extractor"]: s["reason"] for s in record["extractors_skipped"]}
    assert reasons["lstm_state"] == "the run diverged"


def test_a_filter_breaking_its_contract_fails_the_run(tmp_path, registry):
    spec = next(
        s for s in specs(tmp_path, registry, filter='"truncating"') if s.condition.pretrains
    )
    with pytest.raises(ContractError, match="truncating"):
        run(spec, tmp_path / "run", registry)


def test_the_runner_stores_the_record(tmp_path, registry, monkeypatch):
    spec = specs(tmp_path, registry, max_steps=10)[0]
    # the runner looks plugins up itself; give it this test's registry
    monkeypatch.setattr("harness.execute.load_registry", lambda: registry)
    summary = run_one(spec, output=str(tmp_path / "out"))
    assert summary.status in {"reached", "censored"}, summary.error
    stored = json.loads((tmp_path / "out" / "runs" / spec.run_id / RECORD).read_text())
    assert stored["convergence"]["steps"] == 10 or stored["status"] == "reached"
