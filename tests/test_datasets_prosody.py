"""The eSpeak corpus's emotion-like prosody label: declared profiles applied per
clip on top of the speaker's voice, balanced, measurable in the audio, in the
cache key, declared as a label a classify suite validates and runs with."""

from __future__ import annotations

import warnings
from collections import Counter
from pathlib import Path

import librosa
import numpy as np
import pytest

from harness.plugin.contracts import Clip, DataRequest, DataWarning
from harness.plugin.registry import load_registry
from harness.spec.suite import SuiteError, load_suite
from harness.testing import run_tiny_suite, tiny_registry, tiny_suite, to_toml
from harness_plugins.datasets import espeak
from harness_plugins.datasets.espeak import EspeakDataset
from harness_plugins.datasets.espeak_prosody import PROFILES, Profile

CLASSES = ["neutral", "happy", "sad", "angry"]


@pytest.fixture(scope="module")
def prosody_clips(tmp_path_factory) -> list[Clip]:
    dataset = EspeakDataset(speakers=3, clips_per_speaker=8, clip_seconds=2.0, prosody=CLASSES)
    request = DataRequest(("en",), 16000, {"en": 3}, tmp_path_factory.mktemp("p"))
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)
        return dataset.load(request)


def test_classes_are_balanced_within_every_speaker(prosody_clips) -> None:
    per_speaker = Counter((c.speaker, c.label("emotion")) for c in prosody_clips)
    assert set(per_speaker.values()) == {2} and len(per_speaker) == 3 * len(CLASSES)
    orders = {tuple(c.label("emotion") for c in prosody_clips if c.speaker == s)
              for s in {c.speaker for c in prosody_clips}}  # fmt: skip
    assert len(orders) > 1  # a seeded order per speaker, not one order for all


def _by_class(clips: list[Clip], measure) -> dict[str, float]:
    values: dict[str, list[float]] = {}
    for clip in clips:
        values.setdefault(clip.label("emotion"), []).append(measure(clip))
    return {k: float(np.mean(v)) for k, v in values.items()}


def test_profiles_are_heard_in_the_audio(prosody_clips) -> None:
    """Rate from the phone tiers, loudness as RMS, pitch as median F0 (YIN)."""
    phone_seconds = _by_class(prosody_clips, lambda c: np.mean([p.end - p.start for p in c.phones]))
    loudness = _by_class(prosody_clips, lambda c: np.sqrt(np.mean(c.audio**2)))

    def pitch(clip: Clip) -> float:
        f0 = librosa.yin(clip.audio, fmin=50, fmax=500, sr=16000, frame_length=1024)
        return float(np.median(f0))

    f0 = _by_class(prosody_clips, pitch)
    assert phone_seconds["sad"] > phone_seconds["neutral"] > phone_seconds["angry"]
    assert loudness["angry"] > loudness["neutral"] > loudness["sad"]
    assert f0["happy"] > f0["neutral"] > f0["sad"]


def test_a_profile_sits_on_top_of_the_speakers_voice() -> None:
    speaker = {"rate": 200, "pitch": 90, "spread": 60}
    assert Profile(15, 1.6, 1.1, 115).settings(speaker) == {
        "rate": 220, "pitch": 100, "spread": 96, "volume": 115}  # fmt: skip
    assert PROFILES["neutral"].settings(speaker) == {**speaker, "volume": 100}


def test_prosody_is_in_the_cache_key_and_off_by_default(tmp_path) -> None:
    plain = EspeakDataset(clips_per_speaker=4)
    acted = EspeakDataset(clips_per_speaker=4, prosody=["sad", "happy"])
    other = EspeakDataset(clips_per_speaker=4, prosody=["happy", "sad"])
    keys = {d.corpus_dir(tmp_path) for d in (plain, acted, other)}
    assert len(keys) == 3
    assert plain.audio_key() == EspeakDataset(clips_per_speaker=4, prosody=[]).audio_key()
    component = load_registry([espeak], autoload=False, builtins=False).get("dataset", "espeak")
    assert component.provided_labels(component.defaults()) == ("language", "speaker")
    assert component.provided_labels({"prosody": ["sad", "happy"]})[-1] == "emotion"


def _suite(tmp_path: Path, dataset: dict, **target) -> Path:
    suite = tiny_suite(
        dataset=dataset,
        target={"task": "classify", "label": "emotion", "threshold": 0.9, **target},
        models=[{"plugin": "rnn_classifier", "hidden_size": 8}],
        conditions=[{"name": "none"}],
        probes=[],
        splits={"probe_languages": []},
        output=str(tmp_path / "out"),
    )
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(suite), encoding="utf-8")
    return path


def test_bad_prosody_is_a_located_error(tmp_path) -> None:
    dataset = {"plugin": "espeak", "clips_per_speaker": 3, "prosody": ["happy", "bored"]}
    with pytest.raises(SuiteError) as error:
        load_suite(_suite(tmp_path, dataset), tiny_registry())
    problems = dict(error.value.problems)
    assert problems["dataset.prosody"].startswith("unknown prosody class 'bored'; declared: ")
    assert problems["dataset.clips_per_speaker"] == (
        "expected a multiple of the 2 prosody classes, so every speaker speaks each "
        "class equally often, got 3"
    )


def test_a_classify_suite_on_the_emotion_label_validates_and_runs(tmp_path) -> None:
    dataset = {"plugin": "espeak", "clips_per_speaker": 4, "clip_seconds": 1.5,
               "prosody": ["sad", "angry"]}  # fmt: skip
    suite = load_suite(_suite(tmp_path, dataset), tiny_registry())
    assert suite.target.label == "emotion"
    results = run_tiny_suite(
        tmp_path / "run",
        dataset=dataset,
        target={"task": "classify", "label": "emotion", "threshold": 0.9, "max_steps": 20},
        models=[{"plugin": "rnn_classifier", "hidden_size": 8}],
        conditions=[{"name": "none"}],
        probes=[],
        splits={"probe_languages": []},
    )
    assert set(results.runs["status"]) <= {"reached", "censored"}
