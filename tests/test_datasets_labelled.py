"""Labelled datasets: RAVDESS, Speech Commands, the eSpeak keyword mode, Common Voice
label columns and folder label subfolders, built as small fixtures in each real layout."""

from __future__ import annotations

import time
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.data.audio import recorded_skips
from harness.data.splits import assign_roles
from harness.plugin.components import ValidationContext
from harness.plugin.contracts import DataRequest, DataWarning
from harness.plugin.registry import build_plugin_manager, collect
from harness.spec.config import SplitConfig
from harness.spec.suite import SuiteError, load_suite
from harness.tables import data_quality_table
from harness_plugins.datasets import commonvoice, folder, ravdess, speech_commands
from harness_plugins.datasets.espeak import EspeakDataset

from helpers import tones


def _wav(path: Path, seed: int, rate: int = 16000, seconds: float = 0.25) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = np.random.default_rng(seed).normal(0, 0.1, round(rate * seconds))
    sf.write(path, noise.astype(np.float32), rate)


def _request(cache: Path, languages=("en",), rate: int = 16000) -> DataRequest:
    return DataRequest(tuple(languages), rate, dict.fromkeys(languages, 1), cache)


@pytest.fixture()
def ravdess_root(tmp_path) -> Path:
    root = tmp_path / "ravdess"
    n = 0
    for actor in (1, 2, 3, 4):
        for emotion in (1, 5):  # neutral, angry
            for statement in (1, 2):
                name = f"03-01-{emotion:02d}-01-{statement:02d}-01-{actor:02d}.wav"
                _wav(root / f"Actor_{actor:02d}" / name, n, rate=22050)
                n += 1
        # song, not speech: left out by the default vocal channel
        _wav(root / f"Actor_{actor:02d}" / f"03-02-03-01-01-01-{actor:02d}.wav", 99)
    _wav(root / "Actor_01" / "03-01-05-01-01-01.wav", 1)  # six fields
    _wav(root / "Actor_01" / "03-01-09-01-01-01-01.wav", 2)  # emotion 09
    _wav(root / "Actor_01" / "03-01-xx-01-01-01-01.wav", 3)  # not a number
    _wav(root / "Actor_02" / "03-01-05-01-01-01-04.wav", 4)  # actor 04 in Actor_02
    return root


def test_ravdess_labels_actors_and_skips_names_off_the_layout(ravdess_root, tmp_path) -> None:
    data = ravdess.RavdessDataset(str(ravdess_root))
    with recorded_skips() as skipped:
        clips = data.load(_request(tmp_path / "cache"))
    assert len(clips) == 16  # 4 actors x 2 emotions x 2 statements; song left out
    assert {c.speaker for c in clips} == {f"ravdess_actor_{a:02d}" for a in (1, 2, 3, 4)}
    assert all(c.language == "en" and c.sample_rate == 16000 for c in clips)
    first = next(c for c in clips if c.clip_id.endswith("03-01-05-01-02-01-01.wav"))
    assert dict(first.labels) == {"emotion": "angry", "intensity": "normal",
                                  "statement": "dogs", "gender": "male", "actor": "01"}  # fmt: skip
    assert first.audio.shape == (4000,)  # 0.25 s resampled from 22050 Hz to 16000 Hz
    assert {c.label("gender") for c in clips if c.speaker.endswith("02")} == {"female"}
    layout = {Path(r["file"]).name: r["detail"] for r in skipped if r["reason"] == "layout"}
    assert set(layout) == {"03-01-05-01-01-01.wav", "03-01-09-01-01-01-01.wav",
                           "03-01-xx-01-01-01-01.wav", "03-01-05-01-01-01-04.wav"}  # fmt: skip
    assert "got 6" in layout["03-01-05-01-01-01.wav"]
    assert "emotion is 09" in layout["03-01-09-01-01-01-01.wav"]
    assert "folder Actor_02" in layout["03-01-05-01-01-01-04.wav"]
    # the skips reach data_quality.csv in their own column
    record = {"spec": {"dataset": {"plugin": "ravdess"}}, "data": {"skipped": skipped}}
    row = data_quality_table([record]).iloc[0]
    assert row["skipped_layout"] == 4 and row["files_skipped"] == 4


def test_ravdess_keeps_chosen_emotions_and_splits_by_actor(ravdess_root, tmp_path) -> None:
    data = ravdess.RavdessDataset(str(ravdess_root), emotions=["angry"], clips_per_speaker=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        clips = data.load(_request(tmp_path / "cache"))
    assert {c.label("emotion") for c in clips} == {"angry"} and len(clips) == 8
    config = SplitConfig(probe_languages=["en"], train_speakers=2, heldout_speakers=1,
                         probe_speakers=1)  # fmt: skip
    roles = assign_roles(clips, config, "en", [])
    actors = [
        {c.label("actor") for c in roles.role_clips(r)} for r in ("train", "heldout", "probe")
    ]
    assert all(a for a in actors)
    for i, a in enumerate(actors):  # actor-disjoint: no actor in two roles
        for b in actors[i + 1 :]:
            assert not a & b


@pytest.fixture()
def commands_root(tmp_path) -> Path:
    root = tmp_path / "speech_commands"
    n = 0
    for word in ("yes", "no", "up"):
        for speaker in ("0a7c2a8d", "0b09edd3", "0c2ca723"):
            for k in (0, 1):
                _wav(root / word / f"{speaker}_nohash_{k}.wav", n, seconds=0.2)
                n += 1
    _wav(root / "_background_noise_" / "white_noise.wav", 5)
    _wav(root / "yes" / "stray.wav", 6)
    (root / "validation_list.txt").write_text(
        "yes/0b09edd3_nohash_0.wav\nno/0b09edd3_nohash_1.wav\n"
    )
    (root / "testing_list.txt").write_text("up/0c2ca723_nohash_0.wav\n")
    return root


def test_speech_commands_keywords_splits_and_speakers(commands_root, tmp_path) -> None:
    data = speech_commands.SpeechCommandsDataset(str(commands_root), words=["yes", "no"])
    with recorded_skips() as skipped:
        clips = data.load(_request(tmp_path / "cache"))
    assert len(clips) == 12
    assert {c.label("keyword") for c in clips} == {"yes", "no"}
    assert {c.speaker for c in clips} == {
        "speech_commands/0a7c2a8d", "speech_commands/0b09edd3", "speech_commands/0c2ca723"
    }  # fmt: skip
    split = {c.clip_id: c.label("split") for c in clips}
    assert split["speech_commands/yes/0b09edd3_nohash_0.wav"] == "validation"
    assert split["speech_commands/no/0b09edd3_nohash_1.wav"] == "validation"
    assert list(split.values()).count("train") == 10
    assert [(Path(r["file"]).name, r["reason"]) for r in skipped] == [("stray.wav", "layout")]
    every = speech_commands.SpeechCommandsDataset(str(commands_root))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        clips = every.load(_request(tmp_path / "cache"))
    assert {c.label("keyword") for c in clips} == {"yes", "no", "up"}  # no _background_noise_
    assert {c.label("split") for c in clips} == {"train", "validation", "testing"}


def test_speech_commands_reports_a_listed_file_that_is_not_there(commands_root, tmp_path) -> None:
    with (commands_root / "testing_list.txt").open("a") as lists:
        lists.write("up/ffffffff_nohash_0.wav\nleft/ffffffff_nohash_0.wav\n")
    data = speech_commands.SpeechCommandsDataset(str(commands_root), words=["up"])
    with recorded_skips() as skipped:
        data.load(_request(tmp_path / "cache"))
    # only the words read count: "left" is not one of them
    assert [(Path(r["file"]).name, r["reason"], r["detail"]) for r in skipped] == [
        ("ffffffff_nohash_0.wav", "missing", "on testing_list.txt but not in the folder")
    ]


def test_commonvoice_columns_become_labels(tmp_path) -> None:
    root = tmp_path / "cv"
    rows = ["client_id\tpath\tsentence\tgender\tage"]
    for s, gender in enumerate(("female", "male", "")):
        for k in range(2):
            name = f"s{s}_{k}.wav"
            _wav(root / "es" / "clips" / name, s * 2 + k)
            rows.append(f"c{s}\t{name}\thola\t{gender}\tthirties")
    (root / "es" / "validated.tsv").write_text("\n".join(rows) + "\n")
    data = commonvoice.CommonVoiceDataset(str(root), clips_per_speaker=2, labels=["gender", "age"])
    clips = data.load(_request(tmp_path / "cache", ("es",)))
    assert {c.speaker: c.label("gender") for c in clips} == {
        "es/c0": "female", "es/c1": "male", "es/c2": "unknown"
    }  # fmt: skip
    assert {c.label("age") for c in clips} == {"thirties"}


def test_folder_subfolder_label(tmp_path) -> None:
    root = tmp_path / "rec"
    for s in ("ana", "ben"):
        for value in ("happy", "sad"):
            _wav(root / "es" / s / value / "a.wav", len(s + value))
    _wav(root / "es" / "ana" / "loose.wav", 7)
    data = folder.FolderDataset(str(root), subfolder_label="mood")
    with recorded_skips() as skipped:
        clips = data.load(_request(tmp_path / "cache", ("es",)))
    assert sorted((c.speaker, c.label("mood")) for c in clips) == [
        ("es/ana", "happy"), ("es/ana", "sad"), ("es/ben", "happy"), ("es/ben", "sad")
    ]  # fmt: skip
    assert [(Path(r["file"]).name, r["reason"]) for r in skipped] == [("loose.wav", "layout")]
    plain = folder.FolderDataset(str(root)).load(_request(tmp_path / "cache", ("es",)))
    assert [c.clip_id for c in plain] == ["folder/es/ana/loose.wav"]  # the old layout is intact


def test_declared_labels_follow_the_settings() -> None:
    registry = collect(build_plugin_manager([], autoload=False, builtins=True))
    espeak = registry.get("dataset", "espeak")
    assert espeak.provided_labels({"mode": "sentences"}) == ("language", "speaker")
    assert espeak.provided_labels({"mode": "keywords"}) == ("language", "speaker", "keyword")
    assert registry.get("dataset", "ravdess").provided_labels({})[2:] == ravdess.LABELS
    assert registry.get("dataset", "commonvoice").provided_labels({"labels": ["age"]})[2:] == (
        "age",
    )
    assert registry.get("dataset", "folder").provided_labels({"subfolder_label": "mood"})[2:] == (
        "mood",
    )


LABEL_SUITE = """
name = "emotions"
seeds = [0]
probes = []
[dataset]
plugin = "tones"
clips_per_speaker = 4
[features]
sample_rate = 8000
n_mels = 12
[splits]
probe_languages = []
train_speakers = 2
heldout_speakers = 2
[target]
language = "aa"
languages = ["aa", "bb"]
task = "classify"
label = "emotion"
metric = "balanced_accuracy"
threshold = 0.9
[training]
device = "cpu"
[[conditions]]
name = "control"
[[models]]
plugin = "toy_classifier"
"""


def test_a_label_the_dataset_does_not_provide_is_a_located_error(tmp_path) -> None:
    path = tmp_path / "suite.toml"
    path.write_text(LABEL_SUITE)
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones.registry())
    problems = dict(caught.value.problems)
    assert problems == {
        "target.label": "the dataset 'tones' does not provide the label 'emotion'; "
        "it provides: language, speaker"
    }
    # a condition that changes the label is named where it does so
    text = LABEL_SUITE.replace('label = "emotion"', 'label = "language"')
    text += '[[conditions]]\nname = "moods"\nlanguage = "bb"\ntarget = { label = "mood" }\n'
    path.write_text(text)
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tones.registry())
    assert dict(caught.value.problems) == {
        "conditions[1].target.label": "the dataset 'tones' does not provide the label 'mood'; "
        "it provides: language, speaker"
    }


def test_espeak_keyword_mode_is_deterministic_labelled_and_fast(tmp_path) -> None:
    langs = ("en", "es", "de")
    params = {"mode": "keywords", "keywords": 5, "clips_per_speaker": 10, "clip_seconds": 1.0}
    request = DataRequest(langs, 16000, dict.fromkeys(langs, 20), tmp_path / "a")
    start = time.perf_counter()
    clips = EspeakDataset(**params).load(request)
    seconds = time.perf_counter() - start
    assert len(clips) == 3 * 20 * 10 and seconds < 60
    assert all(c.audio.shape == (16000,) for c in clips)
    for lang in langs:
        words = {c.label("keyword") for c in clips if c.language == lang}
        assert len(words) == 5 and all(w.startswith(f"{lang}:") for w in words)
    # every speaker says every word twice (10 clips, 5 words)
    counts = {}
    for c in clips:
        counts[(c.speaker, c.label("keyword"))] = counts.get((c.speaker, c.label("keyword")), 0) + 1
    assert set(counts.values()) == {2}
    again = EspeakDataset(**params).load(
        DataRequest(langs, 16000, dict.fromkeys(langs, 20), tmp_path / "b")
    )
    assert [c.labels for c in again] == [c.labels for c in clips]
    for a, b in zip(clips, again, strict=True):
        assert a.clip_id == b.clip_id and np.array_equal(a.audio, b.audio)
    # the sentence corpus keeps its cache key; the keyword corpus has its own
    sentences = EspeakDataset(clips_per_speaker=10, clip_seconds=1.0)
    assert sentences.corpus_dir(tmp_path) != EspeakDataset(**params).corpus_dir(tmp_path)
    assert all(
        not c.labels for c in sentences.load(DataRequest(("en",), 16000, {"en": 1}, tmp_path))
    )


def test_the_documented_label_error_is_what_validate_says(tmp_path) -> None:
    from harness.testing import tiny_registry, write_tiny_suite

    doc = (Path(__file__).parent.parent / "docs" / "data.md").read_text()
    section = doc.split("### Labels a dataset provides", 1)[1]
    documented = section.split("```text\n", 1)[1].split("\n```", 1)[0]
    target = {"task": "classify", "label": "emotion", "metric": "balanced_accuracy",
              "threshold": 0.9}  # fmt: skip
    path = write_tiny_suite(tmp_path, target=target)
    with pytest.raises(SuiteError) as caught:
        load_suite(path, tiny_registry())
    assert documented in [f"{where}: {message}" for where, message in caught.value.problems]


def _context(languages=("en",), need: int = 3) -> ValidationContext:
    roles = {lang: {"train": need - 1, "heldout": 1} for lang in languages}
    return ValidationContext(16000, languages[0], tuple(languages), (), roles=roles)


def test_ravdess_check_names_what_is_wrong(ravdess_root, tmp_path) -> None:
    params = {"root": str(ravdess_root), "modality": 3, "vocal_channel": 1, "emotions": None,
              "clips_per_speaker": None, "max_speakers": None, "seed": 0}  # fmt: skip
    assert list(ravdess.check_ravdess(params, _context(need=4))) == []
    problems = dict(ravdess.check_ravdess(params, _context(need=5)))
    assert "ravdess: language 'en' needs 5 speaker(s)" in problems[""]
    problems = dict(ravdess.check_ravdess({**params, "emotions": ["joy"]}, _context(("en", "es"))))
    assert problems["emotions"].startswith("ravdess: unknown emotion(s) ['joy']; valid: neutral")
    assert "holds English ('en') only" in problems[""]
    problems = dict(ravdess.check_ravdess({**params, "root": str(tmp_path / "no")}, _context()))
    assert "does not exist" in problems["root"]


def test_speech_commands_check_names_unknown_words_and_lists(commands_root) -> None:
    params = {"root": str(commands_root), "words": None, "clips_per_speaker": 2,
              "max_speakers": None, "seed": 0}  # fmt: skip
    assert list(speech_commands.check_speech_commands(params, _context())) == []
    problems = dict(speech_commands.check_speech_commands({**params, "words": ["go"]}, _context()))
    assert problems["words"].endswith("available: no, up, yes")
    (commands_root / "testing_list.txt").unlink()
    problems = dict(speech_commands.check_speech_commands(params, _context()))
    assert problems["root"].endswith("testing_list.txt is missing (part of the download)")


def test_label_settings_are_checked(tmp_path) -> None:
    root = tmp_path / "cv"
    (root / "es" / "clips").mkdir(parents=True)
    (root / "es" / "validated.tsv").write_text("client_id\tpath\tgender\n")
    params = {"root": str(root), "tsv": "validated.tsv", "clips_per_speaker": 1,
              "max_speakers": None, "balance": True}  # fmt: skip
    problems = dict(commonvoice.check_download({**params, "labels": ["accent"]}, _context(("es",))))
    assert problems["labels"].endswith("has no column(s) accent to read labels from; "
                                       "its columns: client_id, path, gender")  # fmt: skip
    params = {"root": str(root), "clips_per_speaker": None, "max_speakers": None, "balance": False}
    problems = dict(
        folder.check_folder({**params, "subfolder_label": "speaker"}, _context(("es",)))
    )
    assert "other than language and speaker" in problems["subfolder_label"]
