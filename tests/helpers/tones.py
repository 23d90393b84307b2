"""A synthetic dataset of chords ("tones"), fake filters and a centroid probe,
registered next to the real models and extractors, for running ``execute``
end to end without depending on any other plugin's parameters.

The ``tones_registry`` fixture (tests/conftest.py) is :func:`registry`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness import Component, Metric, Param, hookimpl
from harness.plugin.contracts import Clip, ProbeResult
from harness.plugin.registry import Registry, build_plugin_manager, collect
from harness.run.execute import execute
from harness.spec.expand import RunSpec, expand
from harness.spec.suite import load_suite
from harness_plugins import extractors
from harness_plugins.models import conv_autoencoder, lstm

RATE = 8000
#: each fake language is a chord of its own base frequencies
LANGUAGE_HZ = {"aa": (300.0, 900.0), "bb": (500.0, 1400.0), "cc": (700.0, 2100.0)}


class Tones:
    """Clips of 0.6 s: a language's chord, shifted per speaker, plus noise;
    then ``pause`` seconds of digital silence (none by default)."""

    def __init__(self, clips_per_speaker: int = 3, pause: float = 0.0) -> None:
        self.clips_per_speaker = clips_per_speaker
        self.pause = pause

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
                    audio = np.concatenate([audio, np.zeros(int(self.pause * request.sample_rate))])
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
                [
                    Param("clips_per_speaker", int, 3, "clips", min=1),
                    Param("pause", float, 0.0, "seconds of silence after each chord", min=0.0),
                ],
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


def registry() -> Registry:
    """The fakes above next to the real lstm and conv_autoencoder models and
    extractors, and the toy classifier (tests/helpers/classifiers.py)."""
    from helpers import classifiers

    plugins = [FakePlugins(), lstm, conv_autoencoder, extractors, classifiers]
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


def specs(tmp_path: Path, registry: Registry, **given: object) -> list[RunSpec]:
    """The runs of the tiny tones suite, with ``given`` replacing its template values."""
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
    return expand(load_suite(path, registry, output=tmp_path / "out"), registry)


def run(spec: RunSpec, folder: Path, registry: Registry) -> dict:
    """``execute`` one run into a new ``folder``."""
    folder.mkdir(parents=True)
    return execute(spec, folder, registry)
