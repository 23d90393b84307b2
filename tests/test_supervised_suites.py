"""The supervised suites shipped in suites/: each validates as a user would
run it (`harness validate`), RAVDESS against a fixture in the download's layout."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.spec.expand import expand
from harness.spec.suite import load_suite

from helpers.layouts import ravdess_download

SUITES = Path(__file__).parent.parent / "suites"


@pytest.mark.parametrize(("name", "runs"), [("keywords", 4 * 1 * 8), ("langid", 6 * 2 * 10)])
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


@pytest.mark.slow
def test_the_ravdess_suite_runs_end_to_end_on_the_download_layout(tmp_path):
    """The suite as shipped, shrunk (one seed, short segments, small models),
    through `harness run` on a fixture in the RAVDESS layout."""
    root = ravdess_download(tmp_path / "ravdess")
    text = (SUITES / "ravdess.toml").read_text(encoding="utf-8")
    for old, new in [
        ('root = "data/ravdess"', f'root = "{root}"'),
        ("seeds = 5", "seeds = 1"),
        ("max_steps = 2000", "max_steps = 60"),
        ("eval_every = 25", "eval_every = 10"),
        ("segment_frames = 300", "segment_frames = 20"),
        ("channels = [16, 32, 64]", "channels = [8]"),
    ]:
        assert old in text
        text = text.replace(old, new)
    path = tmp_path / "ravdess.toml"
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    env = {**os.environ, "HARNESS_CACHE": str(tmp_path / "cache")}
    result = subprocess.run(
        [sys.executable, "-m", "harness", "run", str(path), "--output", str(out)],
        capture_output=True, text=True, env=env, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 3 * 2 and set(runs["metric"]) == {"balanced_accuracy"}
    assert set(runs["status"]) <= {"reached", "censored"}
    # eight emotions on 6 held-out actors; pitch tells them apart well above chance (1/8)
    assert runs["final_balanced_accuracy"].min() > 0.3
    confusion = pd.read_csv(out / "confusion.csv")
    assert set(confusion["source"]) == {"model", "baseline"}
    assert confusion["true"].nunique() == 8
    html = (out / "report.html").read_text(encoding="utf-8")
    assert "Held-out classification at the end of training" in html
    assert "Classical baseline on the same split" in html
