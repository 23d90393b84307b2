"""docs/data.md's phone-tier and prosody snippets run and say what the code does."""

from __future__ import annotations

import contextlib
import io
import re
import tomllib
from pathlib import Path

import numpy as np
import soundfile as sf
from praatio import textgrid
from praatio.data_classes.interval_tier import IntervalTier

from harness.plugin.alignments import PhoneInterval
from harness.plugin.contracts import DataRequest
from harness.spec.suite import load_suite
from harness.testing import tiny_registry, tiny_suite, to_toml
from harness_plugins.datasets.alignment_files import read_item_file
from harness_plugins.datasets.espeak_prosody import PROFILES, Profile
from harness_plugins.datasets.folder import FolderDataset

DOC = (Path(__file__).parent.parent / "docs" / "data.md").read_text(encoding="utf-8")
EXPECTED = (PhoneInterval(0.05, 0.12, "HH"), PhoneInterval(0.12, 0.3, "AY1"),
            PhoneInterval(0.35, 0.42, "S"))  # fmt: skip


def _section(title: str) -> str:
    return DOC.split(title, 1)[1].split("\n### ", 1)[0].split("\n#### ", 1)[0]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", re.sub(r"(?m)^  ", "", text), re.S)


def test_the_phone_tier_snippet_prints_what_the_docs_show() -> None:
    section = _section("#### Phone tiers")
    code, printed = _blocks(section, "python")[0], _blocks(section, "text")[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/data.md", "exec"), {})
    assert out.getvalue() == printed


def _recording(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    noise = 0.1 * np.random.default_rng(0).standard_normal(8000)
    sf.write(path, noise.astype(np.float32), 16000)


def test_the_textgrid_and_item_file_snippets_load_as_documented(tmp_path, monkeypatch) -> None:
    section = DOC.split("**Phone alignments.**", 1)[1].split("\n### ", 1)[0]
    toml, item = _blocks(section, "toml")[0], _blocks(section, "text")[0]
    params = tomllib.loads(toml)["dataset"]
    monkeypatch.chdir(tmp_path)
    _recording(tmp_path / "recordings" / "en" / "ana" / "001.wav")
    grid = textgrid.Textgrid()
    phones = [(p.start, p.end, p.phone) for p in EXPECTED]
    rows = [(0.0, 0.05, "sil"), *phones[:2], (0.3, 0.35, "sp"), phones[2], (0.42, 0.5, "")]
    grid.addTier(IntervalTier(params["alignment_tier"], rows, 0, 0.5))
    (tmp_path / "aligned" / "en" / "ana").mkdir(parents=True)
    grid.save("aligned/en/ana/001.TextGrid", format="long_textgrid", includeBlankSpaces=True)
    del params["plugin"]
    request = DataRequest(("en",), 16000, {"en": 1}, tmp_path / "cache")
    assert [c.phones for c in FolderDataset(**params).load(request)] == [EXPECTED]
    (tmp_path / "phones.item").write_text(item, encoding="utf-8")
    assert read_item_file(tmp_path / "phones.item") == {"001": EXPECTED}
    with_items = FolderDataset(params["root"], alignments="phones.item")
    assert [c.phones for c in with_items.load(request)] == [EXPECTED]


def test_the_prosody_snippet_validates_and_the_profile_table_is_the_code() -> None:
    section = _section("#### Emotion-like prosody")
    given = tomllib.loads(_blocks(section, "toml")[0])
    suite = tiny_suite(
        dataset=given["dataset"],
        target={**given["target"], "threshold": 0.9},
        models=[{"plugin": "rnn_classifier", "hidden_size": 8}],
        conditions=[{"name": "none"}],
        probes=[],
        splits={"probe_languages": []},
    )
    assert load_suite_text(to_toml(suite)).target.label == "emotion"
    rows = re.findall(r"^\| (\w+) \| ([-+\d]+) \| ([\d.]+) \| ([\d.]+) \| (\d+) \|$", section, re.M)
    table = {name: Profile(int(p), float(r), float(t), int(v)) for name, p, r, t, v in rows}
    assert table == PROFILES


def load_suite_text(text: str):
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "suite.toml"
        path.write_text(text, encoding="utf-8")
        return load_suite(path, tiny_registry())
