"""The supervised suites shipped in suites/: each validates as a user would
run it (`harness validate`), RAVDESS against a fixture in the download's layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from harness.cli import main
from harness.expand import expand
from harness.suite import load_suite

SUITES = Path(__file__).parent.parent / "suites"


@pytest.mark.parametrize(
    ("name", "runs"), [("keywords", 4 * 1 * 8), ("langid", 6 * 2 * 8)]
)
def test_the_embedded_corpus_suites_validate(name, runs, capsys):
    assert main(["validate", str(SUITES / f"{name}.toml")]) == 0
    assert f"= {runs} runs" in capsys.readouterr().out
    suite = load_suite(SUITES / f"{name}.toml")
    specs = expand(suite)
    assert all(s.target.classify for s in specs)
    # conditions that change a setting run with it (and get their own run ids)
    rates = {s.condition.name: s.features.sample_rate for s in specs}
    if name == "keywords":
        assert rates == {"16k": 16000, "8k": 8000, "lp500-16k": 16000, "lp500-8k": 8000}
    else:
        silence = {s.condition.name: s.features.silence for s in specs}
        assert silence["silence-mask"] == "mask" and silence["plain"] == "keep"
    assert len({s.run_id for s in specs}) == runs


def ravdess_download(root: Path) -> Path:
    """24 actors x 8 emotions x 2 statements of 0.2 s, as the Zenodo zip unpacks."""
    rng = np.random.default_rng(0)
    for actor in range(1, 25):
        for emotion in range(1, 9):
            for statement in (1, 2):
                name = f"03-01-{emotion:02d}-01-{statement:02d}-01-{actor:02d}.wav"
                path = root / f"Actor_{actor:02d}" / name
                path.parent.mkdir(parents=True, exist_ok=True)
                sf.write(path, rng.normal(0, 0.1, 3200).astype(np.float32), 16000)
    return root


def test_the_ravdess_suite_validates_against_the_download_layout(tmp_path, capsys):
    root = ravdess_download(tmp_path / "ravdess")
    text = (SUITES / "ravdess.toml").read_text(encoding="utf-8")
    assert 'root = "data/ravdess"' in text  # the documented place
    path = tmp_path / "ravdess.toml"
    path.write_text(text.replace('root = "data/ravdess"', f'root = "{root}"'), encoding="utf-8")
    assert main(["validate", str(path)]) == 0
    out = capsys.readouterr().out
    assert "3 conditions x 2 models x 5 seeds = 30 runs" in out
    # without the download: a located error naming the key, exit 2
    missing = tmp_path / "missing.toml"
    missing.write_text(text.replace('root = "data/ravdess"', f'root = "{tmp_path / "nowhere"}"'))
    assert main(["validate", str(missing)]) == 2
    assert "dataset.root" in capsys.readouterr().err
