"""A tiny ABX suite for the tests: tone "phones" with their tiers from a
test-only dataset that declares alignments, the plugins it needs, and the
suite text (read by test_abx_probe.py and test_attunement.py)."""

from __future__ import annotations

import numpy as np

from harness import Component, hookimpl
from harness.plugin.alignments import PhoneInterval
from harness.plugin.contracts import Clip
from harness.plugin.registry import Registry, build_plugin_manager, collect
from harness_plugins import extractors
from harness_plugins.models import lstm
from harness_plugins.probes import abx

from helpers.tones import Sequential

RATE = 8000
NOISE = 0.3
#: each phone is a tone of its own frequency
PHONES = {"i": 600.0, "a": 700.0, "u": 800.0}


class PhoneTones:
    """Clips of tones, one per phone of a random phone string, with their tier."""

    def load(self, request):
        clips = []
        for lang in request.languages:
            for s in range(request.speakers_needed[lang] + 1):
                rng = np.random.default_rng([ord(lang[0]), s])
                shift = rng.uniform(0.95, 1.05)
                for k in range(3):
                    audio, tier, t = [], [], 0.0
                    for _ in range(12):
                        phone = str(rng.choice(list(PHONES)))
                        n = int(rng.uniform(0.05, 0.1) * RATE)
                        time = np.arange(n) / RATE
                        audio.append(0.5 * np.sin(2 * np.pi * PHONES[phone] * shift * time))
                        tier.append(PhoneInterval(t, t + n / RATE, phone))
                        t += n / RATE
                    wave = np.concatenate(audio) + NOISE * rng.standard_normal(sum(map(len, audio)))
                    clips.append(
                        Clip(f"{lang}-{s}-{k}", lang, f"{lang}-spk{s}",
                             wave.astype(np.float32), RATE, phones=tuple(tier))
                    )  # fmt: skip
        return clips


class Plugins:
    @hookimpl
    def harness_executors(self):
        return [Component("local", Sequential, "in this process", default=True)]

    @hookimpl
    def harness_datasets(self):
        return [Component("phonetones", PhoneTones, "tones per phone", alignments=True)]

    @hookimpl
    def harness_pretrain_filters(self):
        return [Component("full", lambda: lambda a, sr, rng: a, "no filtering", default=True)]


def registry() -> Registry:
    return collect(
        build_plugin_manager([Plugins(), lstm, extractors, abx], autoload=False, builtins=False)
    )


SUITE = """
name = "abx-tiny"
seeds = [0]
[dataset]
plugin = "phonetones"
[features]
sample_rate = 8000
n_mels = 12
silence = "{silence}"
[splits]
probe_languages = ["aa", "bb"]
train_speakers = 2
heldout_speakers = 1
probe_speakers = 2
[target]
language = "aa"
threshold = 0.7
max_steps = 20
eval_every = 10
[training]
batch_size = 8
segment_frames = 20
device = "cpu"
[[conditions]]
name = "control"
[[models]]
plugin = "lstm"
hidden_size = 8
[[extractors]]
plugin = "lstm_state"
[[extractors]]
plugin = "feature_stats"
[[probes]]
plugin = "abx"
max_items = 4
"""
