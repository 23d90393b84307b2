"""`harness validate` checks the data and the rules relating fields before any
run; the data a run skipped is part of its record, its tables and its report."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.data.audio import BadAudio, SkipLog, decode, recorded_skips
from harness.data.corpus import select_balanced
from harness.plugin.contracts import DataError
from harness.plugin.registry import load_registry
from harness.spec.suite import SuiteError, load_suite
from harness.tables import DATA_QUALITY_COLUMNS, data_quality_table
from harness.testing import write_tiny_suite


def problems(path: Path) -> dict[str, str]:
    with pytest.raises(SuiteError) as info:
        load_suite(path, load_registry(autoload=False))
    return dict(info.value.problems)


def tiny(tmp_path: Path, **overrides) -> Path:
    return write_tiny_suite(tmp_path, **overrides)


def folder_data(root: Path, speakers: dict[str, int], files: int = 2) -> Path:
    for lang, n in speakers.items():
        for k in range(n):
            folder = root / lang / f"s{k}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(files):
                (folder / f"{i}.wav").write_bytes(b"x")
    return root


def test_seeds_must_be_a_non_empty_list_of_non_negative_integers(tmp_path):
    assert "expected at least one seed, got []" in problems(tiny(tmp_path, seeds=[]))["seeds"]
    assert (
        problems(tiny(tmp_path, seeds=[0, -1]))["seeds"] == "expected seeds >= 0, got -1 in [0, -1]"
    )


def test_probes_need_two_languages(tmp_path):
    splits = {"probe_languages": ["es", "es"], "probe_speakers": 2}
    assert (
        "expected at least two distinct languages"
        in problems(tiny(tmp_path, splits=splits))["splits.probe_languages"]
    )


def test_binary_and_non_utf8_suite_files_are_located_problems(tmp_path):
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (message,) = problems(binary).values()
    assert "not a text file (a NUL byte at byte 8)" in message
    latin = tmp_path / "latin.toml"
    latin.write_bytes('name = "x"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    assert problems(latin) == {
        f"{latin}:2": "not UTF-8 text (byte 0xe9 at offset 29); save the suite file as UTF-8"
    }
    cli = subprocess.run([sys.executable, "-m", "harness", "validate", str(binary)],
                         capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "not a text file" in cli.stderr


def test_espeak_needs_a_voice_and_enough_speakers(tmp_path):
    splits = {"probe_languages": ["es", "xx"], "probe_speakers": 2}
    found = problems(tiny(tmp_path, splits=splits))
    assert "espeak: eSpeak NG has no voice for language 'xx'" in found["dataset"]
    dataset = {"plugin": "espeak", "speakers": 2, "clips_per_speaker": 3}
    found = problems(tiny(tmp_path, dataset=dataset))
    assert found["dataset.speakers"].startswith(
        "language 'it' needs 3 speakers (probe 2, pretrain 1"
    )


def test_folder_root_languages_and_speakers_per_role(tmp_path):
    missing = {"plugin": "folder", "root": str(tmp_path / "nowhere")}
    assert problems(tiny(tmp_path, dataset=missing)) == {
        "dataset.root": f"folder: the dataset folder {tmp_path / 'nowhere'} does not exist"
    }
    root = folder_data(tmp_path / "data", {"es": 2, "de": 1, "fr": 1})
    found = problems(tiny(tmp_path, dataset={"plugin": "folder", "root": str(root)}))
    assert found["dataset.root"] == (
        f"folder: no folder for language 'it' in {root}; available: de, es, fr"
    )
    assert found["dataset"] == (
        "folder: language 'es' needs 4 speaker(s) with 1 clip(s) each (probe 2, heldout 1, "
        "train 1; roles never share a speaker): 2 of its 2 speaker(s) have 1 or more files"
    )


def test_folder_scan_is_cached_until_the_folder_changes(tmp_path, monkeypatch):
    from harness_plugins.datasets import folder

    monkeypatch.setenv("HARNESS_CACHE", str(tmp_path / "cache"))
    root = folder_data(tmp_path / "data", {"es": 4, "it": 3})
    suite = tiny(tmp_path, dataset={"plugin": "folder", "root": str(root)})
    load_suite(suite, load_registry(autoload=False))
    cached = list(Path(load_suite(suite, load_registry(autoload=False)).cache_dir).glob(
        "validation/*.json"))  # fmt: skip
    assert len(cached) == 2
    scans = []
    real = folder._speaker_files
    monkeypatch.setattr(folder, "_speaker_files", lambda f: scans.append(f) or real(f))
    load_suite(suite, load_registry(autoload=False))
    assert scans == []  # answered from the cache
    for k in range(4):
        (root / "es" / f"s{k}" / "0.wav").unlink()
        (root / "es" / f"s{k}" / "1.wav").unlink()
    assert "language 'es' needs 4" in problems(suite)["dataset"]
    assert [f.name for f in scans] == ["es"]


def test_commonvoice_locales_are_listed_and_columns_required(tmp_path):
    root = tmp_path / "cv"
    for locale, header in (("es", "client_id\tpath\n"), ("de", "client_id\tpath\n"),
                           ("it", "path\tsentence\n")):  # fmt: skip
        (root / locale / "clips").mkdir(parents=True)
        (root / locale / "validated.tsv").write_text(header)
    splits = {"probe_languages": ["es", "it", "ja"], "probe_speakers": 2}
    found = problems(tiny(tmp_path, dataset={"plugin": "commonvoice", "root": str(root)},
                          splits=splits))  # fmt: skip
    assert found["dataset.root"] == (
        f"commonvoice: no validated.tsv for language 'ja' in {root}; available: de, es, it"
    )
    assert found["dataset.tsv"].startswith(
        f"commonvoice: {root / 'it' / 'validated.tsv'} lacks column(s) client_id (found: path, "
        "sentence)"
    )


def test_feature_consistency_and_cutoff_above_nyquist(tmp_path):
    features = {"kind": "mfcc", "n_mels": 10, "n_mfcc": 13, "n_fft": 128, "sample_rate": 8000}
    conditions = [{"name": "none"},
                  {"name": "lp", "language": "it", "filter": {"plugin": "lowpass",
                                                             "cutoff_hz": 6000.0}}]  # fmt: skip
    found = problems(tiny(tmp_path, features=features, conditions=conditions))
    assert found["features.n_mfcc"].startswith("expected at most n_mels = 10")
    assert found["features.n_fft"].startswith("expected at least the window length, 200 samples")
    assert "Nyquist frequency of 8000 Hz" in found["conditions[1].filter.cutoff_hz"]


def test_validate_command_lists_every_data_problem_with_exit_2(tmp_path):
    suite = tiny(tmp_path, seeds=[], dataset={"plugin": "folder", "root": str(tmp_path / "no")})
    cli = subprocess.run([sys.executable, "-m", "harness", "validate", str(suite)],
                         capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "2 problem(s)" in cli.stderr
    assert "dataset.root: folder: the dataset folder" in cli.stderr


def test_skipped_files_have_distinct_reasons(tmp_path):
    (tmp_path / "empty.mp3").write_bytes(b"")
    (tmp_path / "corrupt.mp3").write_bytes(b"this is not an mp3")
    sf.write(tmp_path / "quiet.wav", np.zeros(1600, np.float32), 16000)
    reasons = {}
    for name in ("gone.mp3", "empty.mp3", "corrupt.mp3"):
        with pytest.raises(BadAudio) as info:
            decode(tmp_path / name)
        reasons[name] = info.value.reason
    assert reasons == {"gone.mp3": "missing", "empty.mp3": "empty", "corrupt.mp3": "undecodable"}
    from harness.data.audio import load_clip

    with pytest.raises(BadAudio) as info:
        load_clip(tmp_path / "quiet.wav", 16000)
    assert info.value.reason == "silent"


def test_undecodable_file_keeps_library_noise_off_the_terminal(tmp_path, capfd):
    (tmp_path / "corrupt.mp3").write_bytes(b"ID3" + bytes(range(256)) * 8)
    with pytest.raises(BadAudio):
        decode(tmp_path / "corrupt.mp3")
    assert capfd.readouterr().err == ""


def test_skips_are_recorded_and_a_fatal_error_states_the_problem(tmp_path):
    skips = SkipLog("demo")
    good = tmp_path / "ok.wav"
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"nope")

    def load(path: Path) -> np.ndarray:
        return decode(path)[0] if path != good else np.ones(10, np.float32)

    from harness.data.corpus import Candidate

    candidates = {"xx/a": [Candidate("a/1", bad), Candidate("a/2", tmp_path / "gone.wav")]}
    with recorded_skips() as rows:
        clips = select_balanced("xx", candidates, clips_per_speaker=1, max_speakers=None, seed=0,
                                load=load, sample_rate=16000, skips=skips)  # fmt: skip
    assert clips == []
    assert sorted(r["reason"] for r in rows) == ["missing", "speaker", "undecodable"]
    assert {r["dataset"] for r in rows} == {"demo"} and rows[0]["file"].endswith(".wav")
    from harness.data.audio import require_languages

    with pytest.raises(DataError) as info:
        require_languages(skips, ["xx"], [])
    assert str(info.value) == (
        "demo: no usable clips for language(s) xx: xx: 1 missing, 1 speaker, 1 undecodable"
    )


def test_max_speakers_message_says_what_is_needed_and_found(tmp_path):
    from harness.data.corpus import Candidate

    candidates = {f"xx/{s}": [Candidate(f"{s}/{i}", tmp_path / f"{s}{i}") for i in range(2)]
                  for s in "abc"}  # fmt: skip
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        select_balanced("xx", candidates, clips_per_speaker=2, max_speakers=4, seed=0,
                        load=lambda p: np.ones(4, np.float32), sample_rate=16000,
                        skips=SkipLog("demo"))  # fmt: skip
    (message,) = [str(w.message) for w in caught]
    assert message == (
        "demo [xx]: max_speakers = 4 asks for 4 speakers with 2 usable clip(s) each; found 3 "
        "(3 of the 3 speakers have 2 or more files)"
    )


def test_data_quality_table_counts_skips_once_per_suite():
    skipped = [
        {"dataset": "folder", "language": "es", "file": "a.wav", "reason": "silent", "detail": ""},
        {"dataset": "folder", "language": "es", "file": "b.wav", "reason": "missing", "detail": ""},
    ]
    record = {
        "spec": {"dataset": {"plugin": "folder"}},
        "data": {
            "loaded": {"es": {"speakers": 4, "clips": 8}},
            "counts": {"train": {"es": {"speakers": 2, "clips": 4}}},
            "skipped": skipped,
        },
    }
    table = data_quality_table([record, record])
    assert list(table.columns) == list(DATA_QUALITY_COLUMNS)
    row = table.iloc[0]
    assert (row["files_read"], row["files_skipped"]) == (10, 2)
    assert (row["skipped_silent"], row["skipped_missing"], row["train_clips"]) == (1, 1, 4)


def test_harness_run_prints_the_skipped_files_once_per_suite(tmp_path):
    import json

    from harness.cli import data_note

    skipped = [
        {"dataset": "folder", "language": "es", "file": "a.wav", "reason": "silent", "detail": ""},
        {"dataset": "folder", "language": "es", "file": "b.wav", "reason": "missing", "detail": ""},
    ]
    for run_id in ("a" * 16, "b" * 16):  # two runs of one suite read the same data
        folder = tmp_path / "runs" / run_id
        folder.mkdir(parents=True)
        record = {"run_id": run_id, "status": "reached", "data": {"skipped": skipped}}
        (folder / "record.json").write_text(json.dumps(record))
    assert data_note(tmp_path) == (
        "data: 2 file(s) skipped (1 missing, 1 silent); each is listed with its reason in "
        f"{tmp_path / 'data_quality.csv'} and the report's Data section"
    )
    for run_id in ("a" * 16, "b" * 16):
        (tmp_path / "runs" / run_id / "record.json").write_text(json.dumps({"run_id": run_id}))
    assert data_note(tmp_path) is None


def test_the_report_says_a_skipped_files_reason_once():
    from harness.report.problems_section import _why

    assert _why({"reason": "undecodable", "detail": "undecodable: bad header"}) == (
        "undecodable: bad header"
    )
    assert _why({"reason": "speaker", "detail": "no speaker column"}) == (
        "speaker: no speaker column"
    )
