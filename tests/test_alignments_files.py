"""Phone alignments a user brings: TextGrids (a Montreal Forced Aligner folder
mirroring the audio) and ZeroSpeech item files read into the folder dataset's
clips; bad files located at validate or on loading; a probe that needs phone
alignments refused with a dataset that has none."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from praatio import textgrid
from praatio.data_classes.interval_tier import IntervalTier

from harness import Component, Metric, hookimpl
from harness.plugin.alignments import PhoneInterval
from harness.plugin.contracts import DataError, DataRequest, DataWarning
from harness.spec.suite import SuiteError, load_suite
from harness.testing import tiny_registry, tiny_suite, to_toml
from harness_plugins.datasets.alignment_files import AlignmentError, read_item_file
from harness_plugins.datasets.folder import FolderDataset

DOC = Path(__file__).parent.parent / "docs" / "data.md"
# one clip's phones as an aligner writes them: silences and pauses among them
INTERVALS = [(0.0, 0.05, ""), (0.05, 0.12, "HH"), (0.12, 0.3, "AY1"), (0.3, 0.35, "sp"),
             (0.35, 0.42, "S"), (0.42, 0.45, "spn"), (0.45, 0.5, "sil")]  # fmt: skip
PHONES = (PhoneInterval(0.05, 0.12, "HH"), PhoneInterval(0.12, 0.3, "AY1"),
          PhoneInterval(0.35, 0.42, "S"))  # fmt: skip


def _corpus(root: Path, languages=("en",), speakers=2, files=2) -> Path:
    rng = np.random.default_rng(0)
    for lang in languages:
        for s in range(speakers):
            for f in range(files):
                path = root / lang / f"spk{s}" / f"utt{f}.wav"
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, (0.1 * rng.standard_normal(8000)).astype(np.float32), 16000)
    return root


def _textgrid(path: Path, intervals=INTERVALS, tier: str = "phones", end: float = 0.5) -> None:
    grid = textgrid.Textgrid()
    grid.addTier(IntervalTier("words", [(0.05, 0.42, "hice")], 0, end))
    grid.addTier(IntervalTier(tier, [i for i in intervals if i[1] <= end], 0, end))
    path.parent.mkdir(parents=True, exist_ok=True)
    grid.save(str(path), format="long_textgrid", includeBlankSpaces=True)


def _aligned(root: Path, aligned: Path, skip: tuple[str, ...] = ()) -> Path:
    for wav in sorted(root.rglob("*.wav")):
        relative = wav.relative_to(root)
        if relative.as_posix() not in skip:
            _textgrid((aligned / relative).with_suffix(".TextGrid"))
    return aligned


def _load(dataset: FolderDataset, cache: Path, languages=("en",)):
    return dataset.load(DataRequest(languages, 16000, dict.fromkeys(languages, 1), cache))


def test_textgrids_give_every_clip_its_phones_without_gaps(tmp_path) -> None:
    root = _corpus(tmp_path / "audio")
    aligned = _aligned(root, tmp_path / "mfa", skip=("en/spk1/utt1.wav",))
    dataset = FolderDataset(str(root), alignments=str(aligned))
    with pytest.warns(DataWarning, match=r"utt1.wav.*no alignment \(.*mfa/en/spk1/utt1.TextGrid"):
        clips = _load(dataset, tmp_path / "cache")
    assert sorted(c.clip_id for c in clips) == [
        "folder/en/spk0/utt0.wav", "folder/en/spk0/utt1.wav", "folder/en/spk1/utt0.wav"]  # fmt: skip
    assert all(c.phones == PHONES for c in clips)
    assert all(c.phones is None for c in _load(FolderDataset(str(root)), tmp_path / "cache"))


def test_an_item_file_gives_phones_by_file_name(tmp_path) -> None:
    root = _corpus(tmp_path / "audio", speakers=1, files=1)
    item = tmp_path / "phones.item"
    rows = ["#file onset offset #phone prev-phone next-phone speaker"]
    rows += [f"utt0 {a} {b} {p or 'SIL'} x y spk0" for a, b, p in INTERVALS if p != ""]
    rows += ["en/spk0/other 0.1 0.2 AA x y spk0"]  # another file's row
    item.write_text("\n".join(rows) + "\n", encoding="utf-8")
    clips = _load(FolderDataset(str(root), alignments=str(item)), tmp_path / "cache")
    assert [c.phones for c in clips] == [PHONES]
    assert read_item_file(item)["en/spk0/other"] == (PhoneInterval(0.1, 0.2, "AA"),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("file onset offset\n", r"line 1: expected the header '#file onset offset #phone"),
        ("#file onset offset #phone a b c\nu 0.1 x AA a b c\n",
         r"line 2: expected offset in seconds \(a number >= 0\), got 'x'"),
        ("#file onset offset #phone a b c\nu 0.3 0.1 AA a b c\n",
         "line 2: expected onset < offset"),
        ("#file onset offset #phone a b c\nu 0.1 0.2 AA a b\n",
         "line 2: expected 7 columns as the header has, got 6"),
        ("#file onset offset #phone a b c\nu 0.0 0.3 AA - B s\nu 0.1 0.4 B AA - s\n",
         r"lines 2 and 3: phones of file 'u' overlap .*an item file of triphones"),
    ],
)  # fmt: skip
def test_a_bad_item_file_names_its_line(tmp_path, text, message) -> None:
    path = tmp_path / "bad.item"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(AlignmentError, match=rf"{path}, {message}"):
        read_item_file(path)


def test_a_textgrid_past_the_audio_is_a_data_error_naming_it(tmp_path) -> None:
    root = _corpus(tmp_path / "audio", speakers=1, files=1)  # 0.5 s of audio
    grid = tmp_path / "mfa" / "en" / "spk0" / "utt0.TextGrid"
    _textgrid(grid, [*INTERVALS, (0.5, 0.9, "AA")], end=0.9)
    dataset = FolderDataset(str(root), alignments=str(tmp_path / "mfa"))
    with pytest.raises(DataError, match=rf"folder: {grid}: interval 3 .* ends after the clip"):
        _load(dataset, tmp_path / "cache")


def _suite(tmp_path: Path, dataset: dict, probes: list | None = None) -> Path:
    """The tiny suite on ``dataset`` with ``probes`` (None: [[probes]] left out)."""
    suite = tiny_suite(dataset=dataset, splits={"probe_languages": ["es", "it"]},
                       output=str(tmp_path / "out"))  # fmt: skip
    if probes is None:
        del suite["probes"]
    else:
        suite["probes"] = probes
    path = tmp_path / "suite.toml"
    path.write_text(to_toml(suite), encoding="utf-8")
    return path


def test_bad_textgrids_are_located_at_validate_with_exit_2(tmp_path) -> None:
    root = _corpus(tmp_path / "audio", ("es", "it"), speakers=5, files=3)
    aligned = _aligned(root, tmp_path / "mfa")
    (aligned / "es" / "spk0" / "utt0.TextGrid").write_text("not a textgrid", encoding="utf-8")
    _textgrid(aligned / "it" / "spk1" / "utt2.TextGrid", tier="phonemes")
    dataset = {"plugin": "folder", "root": str(root), "alignments": str(aligned)}
    path = _suite(tmp_path, dataset)
    with pytest.raises(SuiteError) as error:
        load_suite(path, tiny_registry())
    found = [m for k, m in error.value.problems if k == "dataset.alignments"]
    assert len(found) == 2
    assert found[0].startswith(f"folder: {aligned}/es/spk0/utt0.TextGrid: not a TextGrid praatio")
    assert found[1] == (f"folder: {aligned}/it/spk1/utt2.TextGrid: no tier 'phones'; its tiers: "
                        "words, phonemes (set alignment_tier)")  # fmt: skip
    cli = subprocess.run([sys.executable, "-m", "harness", "validate", str(path)],
                         capture_output=True, text=True)  # fmt: skip
    assert cli.returncode == 2 and "Traceback" not in cli.stderr
    assert "dataset.alignments: folder: " in cli.stderr
    bad_item = tmp_path / "bad.item"
    bad_item.write_text("#file onset offset #phone a b c\nutt0 0.3 0.1 AA a b c\n", "utf-8")
    with pytest.raises(SuiteError) as error:
        load_suite(_suite(tmp_path, {**dataset, "alignments": str(bad_item)}), tiny_registry())
    assert dict(error.value.problems)["dataset.alignments"] == (
        f"folder: {bad_item}, line 2: expected onset < offset (seconds), got 0.3 and 0.1"
    )
    missing = {**dataset, "alignments": str(tmp_path / "nowhere")}
    with pytest.raises(SuiteError) as error:
        load_suite(_suite(tmp_path, missing), tiny_registry())
    assert dict(error.value.problems)["dataset.alignments"].startswith(
        f"folder: {tmp_path / 'nowhere'} does not exist; expected a folder of TextGrids"
    )


class _NeedsPhones:
    """A probe component that needs phone tiers (the real one is the abx probe)."""

    @hookimpl
    def harness_probes(self) -> list[Component]:
        return [
            Component(
                name="phone_probe",
                factory=dict,
                doc="needs phone alignments",
                metrics=[Metric("error", "an error rate", higher_is_better=False)],
                alignments=True,
            )
        ]


def test_a_probe_needing_alignments_with_a_dataset_without_them_is_refused(tmp_path) -> None:
    registry = tiny_registry([_NeedsPhones()])
    root = _corpus(tmp_path / "audio", ("es", "it"), speakers=5, files=3)
    plain = {"plugin": "folder", "root": str(root)}
    probes = [{"plugin": "linear_svc"}, {"plugin": "phone_probe"}]
    with pytest.raises(SuiteError) as error:
        load_suite(_suite(tmp_path, plain, probes), registry)
    message = dict(error.value.problems)["probes[1].plugin"]
    assert message == (
        "probe 'phone_probe' needs phone alignments; dataset 'folder' has none; datasets "
        "with alignments: espeak, folder (with alignments = ...)"
    )
    section = DOC.read_text(encoding="utf-8").split("### Phone tiers a suite needs", 1)[1]
    assert section.split("```text\n", 1)[1].split("\n```", 1)[0] == f"probes[1].plugin: {message}"
    aligned = {**plain, "alignments": str(_aligned(root, tmp_path / "mfa"))}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert load_suite(_suite(tmp_path, aligned, probes), registry).probes[1].plugin
        assert load_suite(_suite(tmp_path, {"plugin": "espeak"}, probes), registry)
    # left out, every installed probe runs but those that need alignments
    left_out = load_suite(_suite(tmp_path, plain), registry)
    assert "phone_probe" not in [p.plugin for p in left_out.probes]


def test_a_dataset_names_the_parameter_that_brings_its_alignments() -> None:
    from harness.plugin.components import Param, check_declaration

    def factory(root: str = "", alignments: str | None = None) -> None:
        return None

    params = [
        Param("root", str, "", "a folder"),
        Param("alignments", str, None, "tiers", optional=True),
    ]
    declared = Component("d", factory, "a dataset", params=params, alignments="alignments")
    assert check_declaration("dataset", declared) == []
    assert not declared.provides_alignments({"alignments": None})
    assert declared.provides_alignments({"alignments": "aligned"})
    misnamed = Component("d", factory, "a dataset", params=params, alignments="textgrids")
    assert check_declaration("dataset", misnamed) == [
        "alignments names the parameter 'textgrids', not declared"
    ]
