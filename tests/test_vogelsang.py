"""suites/vogelsang.toml: the design validates as the README describes it, and
its stored runs (tests/fixtures/readme_runs/vogelsang) show what the design
was fixed for: no regimen reaches the threshold at step 0, every run measured
the integration window, and the report puts the regimens side by side."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from harness.plugin.registry import load_registry
from harness.report import regimen_section
from harness.stats.analysis import analyse
from harness.tables.results import load_results

ROOT = Path(__file__).parent.parent
SUITE = ROOT / "suites" / "vogelsang.toml"
STORED = ROOT / "tests" / "fixtures" / "readme_runs" / "vogelsang"
REGIMENS = ["none", "low-then-full", "full-only", "low-only", "full-then-low"]


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from readme_numbers import unpack
    finally:
        sys.path.remove(str(ROOT / "bench"))
    out = tmp_path_factory.mktemp("vogelsang")
    unpack(STORED, out)
    results = load_results(out)
    return results, analyse(results)


def test_the_suite_validates_with_the_five_regimens_and_the_measure() -> None:
    from harness.spec.suite import load_suite

    suite = load_suite(SUITE, load_registry())
    assert [c.name for c in suite.conditions] == REGIMENS
    assert suite.control == "none"
    heard = {c.name: [(s.filter.plugin, s.epochs) for s in c.curriculum] for c in suite.conditions}
    assert heard == {
        "none": [],
        "low-then-full": [("lowpass", 3), ("full", 3)],
        "full-only": [("full", 6)],
        "low-only": [("lowpass", 6)],
        "full-then-low": [("full", 3), ("lowpass", 3)],
    }
    assert [e.plugin for e in suite.extractors] == ["input_gradient"]
    assert [p.plugin for p in suite.probes] == ["temporal_integration"]
    assert suite.target.label == "emotion" and suite.target.metric == "balanced_accuracy"


def test_no_regimen_reaches_the_threshold_at_step_zero(stored) -> None:
    results, _ = stored
    start = results.curves[results.curves["step"] == 0]
    assert len(start) == len(results.runs) == 30
    threshold = float(results.runs["threshold"].iloc[0])
    assert (start["heldout_balanced_accuracy"] < threshold).all()
    # pretraining did something: the pretrained regimens start above the control
    by = start.groupby("condition")["heldout_balanced_accuracy"].mean()
    assert (by.drop("none") > by["none"]).all()


def test_every_run_measured_the_integration_window_within_the_lags(stored) -> None:
    results, _ = stored
    probes = results.probes
    window = probes[probes["metric"] == "integration_frames"]
    assert len(window) == 30
    assert window["value"].between(1, 181).all()
    capped = probes[probes["metric"] == "capped_share"]["value"]
    assert capped.max() < 0.5


def test_the_report_shows_the_regimens_side_by_side(stored) -> None:
    results, analysis = stored
    html = regimen_section.section(results, analysis)
    assert "Regimens side by side" in html
    for name in REGIMENS:
        assert results.condition_label(name) in html
    assert "integration window (frames), input_gradient/profile" in html
    # the control's row has no difference from itself; the others have their CI
    assert html.count("minus the control") == 1 and "control</td>" in html


def test_the_answer_never_calls_the_window_language_separation(stored) -> None:
    from harness.report.sentences import headline_sentences
    from harness.report.separation import floor_reason
    from harness.report.separation_answer import separability_sentences

    results, analysis = stored
    assert separability_sentences(results, analysis, "GRU") == []
    lines = headline_sentences(results, analysis)
    assert len(lines) == 4 and not any("separation" in line for line in lines)
    # a score without a chance level is never "at chance" (a floor)
    assert floor_reason(analysis.separability) == ""
