"""The suite files shipped in suites/ stay valid and keep the study's design."""

from pathlib import Path

import pytest

from harness.spec.expand import expand
from harness.spec.suite import load_suite

from helpers.layouts import ravdess_download

SUITES = sorted((Path(__file__).parent.parent / "suites").glob("*.toml"))


@pytest.fixture(autouse=True)
def _downloads(tmp_path, monkeypatch):
    """The Common Voice and RAVDESS suites read data/..., relative to where harness
    runs: validation checks the downloads, so give it them (in their layouts)."""
    monkeypatch.chdir(tmp_path)
    for locale in ("es", "it", "ja", "en"):
        clips = tmp_path / "data" / "commonvoice" / locale / "clips"
        clips.mkdir(parents=True)
        rows = ["client_id\tpath"]
        for speaker in range(40):
            for clip in range(20):
                (clips / f"{speaker}-{clip}.mp3").touch()
                rows.append(f"c{speaker}\t{speaker}-{clip}.mp3")
        (clips.parent / "validated.tsv").write_text("\n".join(rows) + "\n")
    ravdess_download(tmp_path / "data" / "ravdess")  # and suites/ravdess.toml its download


@pytest.mark.parametrize("path", SUITES, ids=[p.stem for p in SUITES])
def test_shipped_suite_is_valid(path):
    suite = load_suite(path)
    assert expand(suite)
    assert suite.question, "a shipped suite states its question for the report"


@pytest.mark.parametrize("name", ["pretrain", "commonvoice"])
def test_flagship_design(name):
    suite = load_suite(Path(__file__).parent.parent / "suites" / f"{name}.toml")
    assert suite.target.language == "es"
    assert len(suite.seeds) >= 10
    conditions = {c.name: c for c in suite.conditions}
    assert not conditions[suite.control].pretrains
    for lang in ("es", "it", "ja"):
        lowpass = conditions[f"{lang}-lp500"]
        assert lowpass.language == lang and lowpass.epochs == 1
        assert lowpass.filter.plugin == "lowpass" and lowpass.filter.params["cutoff_hz"] == 500
    assert conditions["es-full"].filter.plugin == "full"
    assert {m.plugin for m in suite.models} == {"lstm", "conv_autoencoder"}
    assert {p.plugin for p in suite.probes} == {"ridge", "tsne"}
    assert set(suite.splits.probe_languages) == {"es", "it", "ja", "en"}
    # enough probe speakers for the raw-feature baseline to be above chance
    assert suite.splits.probe_speakers >= 20
