"""Native against foreign ABX (attunement): the probe's numbers and parts, the
suite checks, the report's tables and section, and the existing abx numbers
pinned for suites that name neither."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.run.execute import execute
from harness.spec.suite import SuiteError, load_suite
from harness.stats.abx_pairs import as_matrices, pair_crossed
from harness_plugins.probes.abx_probe import ABXProbe

from helpers.abx_suite import SUITE, registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_abx import synthetic_set

torch.set_num_threads(1)


def _given():
    return synthetic_set(2, 4, 4, 4.0, 8, seed=3)


#: the probe's output on _given() before native/foreign existed (commit 500bbbc)
PINNED = {
    "metrics": {"abx_chance": 50.0, "abx_within": 21.482974910394272,
                "abx_across": 32.02359682843872},
    "abx_within/speakers": [1.0976702508960572, 0.6048387096774194, 3.3378136200716844,
                            1.7921146953405018, 4.771505376344086, 3.046594982078853,
                            2.5201612903225805, 4.312275985663083],
    "abx_across/speakers": [2.0709482838929487, 0.9404818940392062, 1.9183767849775761,
                            2.543459961938224, 8.08795773469686, 5.278686189012276,
                            3.0713972018319855, 8.112288778049644],
    "abx_within/cells": [174.0], "abx_across/cells": [642.0], "abx/items": [1252.0],
}  # fmt: skip
PINNED_ONE_LANGUAGE = {"abx_chance": 50.0, "abx_within": 23.533950617283953,
                       "abx_across": 20.047174047945653}  # fmt: skip


def test_suites_without_native_and_foreign_get_the_numbers_they_got_before():
    result = ABXProbe().run_frames(_given())
    assert result.metrics == pytest.approx(PINNED["metrics"], rel=1e-9)
    for name, values in PINNED.items():
        if name != "metrics":
            assert result.details[name] == pytest.approx(values, rel=1e-9), name
    # the only new detail: the across-speaker pair shares, which sum to the score
    assert set(result.details) - set(PINNED) == {"abx_across/pairs"}
    assert sum(result.details["abx_across/pairs"]) == pytest.approx(result.metrics["abx_across"])
    narrow = ABXProbe(languages=["l0"], max_x_speakers=2, max_items=5).run_frames(_given())
    assert narrow.metrics == pytest.approx(PINNED_ONE_LANGUAGE, rel=1e-9)


def test_native_and_foreign_give_each_side_and_their_difference_with_parts():
    result = ABXProbe(native=["l0"], foreign=["l1"]).run_frames(_given())
    m, d = result.metrics, result.details
    for mode in ("within", "across"):
        assert m[f"abx_attunement_{mode}"] == pytest.approx(
            m[f"abx_foreign_{mode}"] - m[f"abx_native_{mode}"]
        )
        for side in ("native", "foreign", "attunement"):
            name = f"abx_{side}_{mode}"
            assert sum(d[f"{name}/speakers"]) == pytest.approx(m[name])
        native = np.array(d[f"abx_native_{mode}/speakers"])
        assert np.all(native[4:] == 0) and np.any(native[:4] > 0)  # l0's speakers only
    pairs = as_matrices(np.array([d["abx_native_across/pairs"]]), 8)[0]
    assert pairs.sum() == pytest.approx(m["abx_native_across"])
    assert np.all(np.diag(pairs) == 0) and np.all(pairs[4:, :] == 0) and np.all(pairs[:, 4:] == 0)
    # each side equals the probe asked for that language alone, pooled over the same cells
    alone = ABXProbe(native=["l1"], foreign=["l0"]).run_frames(_given()).metrics
    assert alone["abx_native_within"] == pytest.approx(m["abx_foreign_within"])
    assert alone["abx_attunement_across"] == pytest.approx(-m["abx_attunement_across"])


@pytest.mark.parametrize(
    ("extra", "where", "message"),
    [
        ('native = ["aa"]\n', r"probes\[0\]\.foreign", "name the foreign languages too"),
        ('native = ["aa"]\nforeign = ["zz"]\n', r"probes\[0\]\.foreign", "distinct probed"),
        ('native = ["aa"]\nforeign = ["aa"]\n', r"probes\[0\]\.foreign", "not both: aa"),
        ('languages = ["aa"]\nnative = ["aa"]\nforeign = ["bb"]\n', r"probes\[0\]\.foreign",
         r"probed languages \(aa\)"),
    ],
)  # fmt: skip
def test_native_and_foreign_mistakes_are_located_errors(tmp_path, extra, where, message):
    path = tmp_path / "abx.toml"
    path.write_text(SUITE.format(silence="keep") + extra)
    with pytest.raises(SuiteError, match=where) as caught:
        load_suite(path, registry(), output=tmp_path / "out")
    assert re.search(message, str(caught.value))


def test_the_report_shows_attunement_and_tests_it_over_speaker_pairs(tmp_path):
    from harness.report.attunement_section import attunement_section
    from harness.running.runner import run_suite
    from harness.stats.analysis import analyse
    from harness.tables.results import load_results

    text = SUITE.format(silence="keep").replace("seeds = [0]", "seeds = [0, 1]")
    text = text.replace(
        '[[conditions]]\nname = "control"\n',
        '[[conditions]]\nname = "control"\n[[conditions]]\nname = "bb-first"\n'
        'language = "bb"\nepochs = 1\n',
    )
    text = text.replace("probe_speakers = 2", "probe_speakers = 3")
    text = text.replace("[splits]\n", "[splits]\npretrain_speakers = 1\n")
    path = tmp_path / "abx.toml"
    path.write_text(text + 'native = ["aa"]\nforeign = ["bb"]\n')
    plugins = registry()
    loaded = load_suite(path, plugins, output=tmp_path / "out")
    outcome = run_suite(
        loaded, registry=plugins, progress=False,
        execute=lambda spec, folder: execute(spec, folder, plugins),
    )  # fmt: skip
    assert outcome.failed == 0
    results = load_results(tmp_path / "out")
    analysis = analyse(results)
    vs = analysis.separability_vs_control
    row = vs[(vs["metric"] == "abx_attunement_across") & (vs["latent_space"] == "lstm_state/h")]
    row = row.iloc[0]
    assert row["inference"] == "seeds x speakers" and row["n_speakers"] == 6
    # the test is the pair test on the stored pair shares, paired over seeds
    details = results.details
    name = "abx_attunement_across/pairs"

    def shares(condition: str) -> np.ndarray:
        runs = results.runs[results.runs["condition"] == condition].sort_values("seed")
        picked = details[(details["name"] == name) & (details["latent_space"] == "lstm_state/h")]
        by_run = dict(zip(picked["run_id"], picked["values"], strict=True))
        return as_matrices(np.array([by_run[r] for r in runs["run_id"]]), 6)

    strata = np.array(["aa"] * 3 + ["bb"] * 3)
    expected = pair_crossed(shares("bb-first") - shares("control"), strata)
    assert row["p_value"] == pytest.approx(expected.p_value())
    assert row["difference"] == pytest.approx(expected.estimate)
    page = attunement_section(results, analysis)
    assert "Native and foreign ABX" in page and "attunement [95% CI]" in page
    assert "against the control" in page


def test_without_native_and_foreign_there_is_no_attunement_section():
    import pandas as pd

    from harness.report.attunement_section import attunement_frame

    summary = pd.DataFrame({"metric": ["abx_within"], "model": ["m"], "condition": ["c"],
                            "latent_space": ["s"], "mean": [1.0], "ci_low": [0.0],
                            "ci_high": [2.0]})  # fmt: skip
    assert attunement_frame(summary, "within").empty
