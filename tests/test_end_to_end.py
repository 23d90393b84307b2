"""End to end, as a user runs it: `harness run suites/quick.toml` on the embedded
corpus, then the CSV tables, a resume that retrains nothing, and the report in
headless Chromium."""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from helpers.browser import SKIP_REASON, available, inspect_page

ROOT = Path(__file__).parent.parent
SUITE = ROOT / "suites" / "quick.toml"

pytestmark = pytest.mark.slow


def harness(*args, cache):
    env = {**os.environ, "HARNESS_CACHE": str(cache), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, "-m", "harness", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=1800,
    )


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    base = tmp_path_factory.mktemp("e2e")
    out, cache = base / "quick", base / "cache"
    started = time.monotonic()
    result = harness("run", SUITE, "--output", out, cache=cache)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out, cache, result, elapsed


def test_quick_suite_writes_tidy_tables(finished):
    out, _, result, elapsed = finished
    print(f"quick suite: {elapsed:.0f} s")
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == 2 * 2 * 3
    assert set(runs["status"]) <= {"reached", "censored", "diverged"}
    assert (runs["status"] == "reached").any(), "every run censored: the suite is mistuned"
    assert set(runs["condition"]) == {"none", "ja-lp500"}
    assert set(runs["model"]) == {"lstm", "conv_autoencoder"}

    curves = pd.read_csv(out / "curves.csv")
    assert set(curves["run_id"]) == set(runs["run_id"])
    assert curves["heldout_loss"].notna().all()

    probes = pd.read_csv(out / "probes.csv")
    spaces = set(probes["latent_space"])
    assert {"feature_stats/mean_std", "lstm_state/h", "lstm_state/c", "bottleneck/code"} <= spaces
    accuracy = probes[probes["metric"] == "balanced_accuracy_target"]
    assert accuracy["value"].between(0, 1).all()
    # every run has the raw-feature baseline next to its own latents
    baseline = accuracy[accuracy["latent_space"] == "feature_stats/mean_std"]
    assert set(baseline["run_id"]) == set(runs["run_id"])

    assert list((out / "stats").glob("*.csv"))
    assert (out / "report.html").stat().st_size > 50_000
    assert "report:" in result.stdout
    # progress on stderr, one line per phase off a terminal: the corpus generated
    # before the runs, the report's steps, the totals
    err = result.stderr
    assert re.search(r"^generating the eSpeak corpus: \d+ clips in ", err, re.M), err[-2000:]
    assert re.search(r"^report: \d+ steps in ", err, re.M)
    assert re.search(r"^total: \S+ wall, \S+ CPU", err, re.M)
    assert "generating the eSpeak corpus" not in result.stdout


def test_running_again_resumes_without_retraining(finished):
    out, cache, _, _ = finished
    before = {p: p.read_bytes() for p in (out / "runs").glob("*/record.json")}
    started = time.monotonic()
    again = harness("run", SUITE, "--output", out, "--no-report", cache=cache)
    assert again.returncode == 0, again.stderr[-3000:]
    assert time.monotonic() - started < 120
    assert "12 already finished" in again.stdout
    after = {p: p.read_bytes() for p in (out / "runs").glob("*/record.json")}
    assert after == before


@pytest.mark.browser
@pytest.mark.skipif(not available(), reason=SKIP_REASON)
def test_report_of_a_real_suite_renders_in_chromium(finished, tmp_path):
    out, _, _, _ = finished
    checked = inspect_page(out / "report.html", tmp_path / "profile")
    assert checked.errors == []
    assert checked.page["answer"], "the report does not open with an answer"
    assert "quick" in checked.page["title"]
    assert len(checked.page["images"]) >= 5
    for complete, width, height, shown in checked.page["images"]:
        assert complete and width > 0 and height > 0 and shown > 0
    assert checked.page["width"] <= 1366
    (tmp_path / "report.png").write_bytes(checked.screenshot_png)
