"""The HTML report: self-contained, escaped, honest about partial suites, answers in sentences."""

import base64
import html
import io
import json
import math
import re

import pandas as pd
import pytest
from PIL import Image

from harness.report import build_report
from harness.report.html import iter_images

from helpers.fake_results import (
    CONDITIONS,
    MODELS,
    FakeCondition,
    FakeModel,
    FakeSuite,
    write_fake_results,
)

EVIL_LABEL = '<script>alert("label")</script> & "quotes" $\\frac{1}{2}$'
EVIL_MODEL = "<b>lstm</b>"
EVIL_QUESTION = "Does <img src=x onerror=alert(1)> help?"


def _evil_suite() -> FakeSuite:
    none, lowpass, full = CONDITIONS
    lowpass = FakeCondition(
        lowpass.name, EVIL_LABEL, "ja", "lowpass", lowpass.speed, lowpass.separation
    )
    lstm, conv = MODELS
    lstm = FakeModel(lstm.plugin, EVIL_MODEL, lstm.median_steps, lstm.spaces, lstm.seconds_per_step)
    return FakeSuite(
        question=EVIL_QUESTION,
        conditions=(none, lowpass, full),
        models=(lstm, conv),
        diverged=("ja_full/conv_ae/seed3",),
        failed=(f"ja_full/{EVIL_MODEL}/seed5",),
        missing=("none/conv_ae/seed6", "ja_full/conv_ae/seed7"),
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = write_fake_results(tmp_path_factory.mktemp("evil"), _evil_suite())
    path = build_report(folder, n_resamples=199, km_resamples=99)
    return folder, path, path.read_text(encoding="utf-8")


def _text(page: str) -> str:
    """The visible text, tags dropped and entities decoded."""
    return html.unescape(re.sub(r"<[^>]+>", " ", page))


def test_report_and_tables_are_written(built):
    folder, path, _ = built
    assert path == folder / "report.html"
    for name in ("runs.csv", "curves.csv", "probes.csv", "stats/survival_summary.csv",
                 "stats/convergence_vs_control.csv", "stats/separability_vs_control.csv", "stats/cka.csv"):  # fmt: skip
        assert (folder / name).is_file(), name


def test_report_is_self_contained(built):
    _, _, page = built
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
    assert "@import" not in page and "url(" not in page
    assert "Content-Security-Policy" in page and "default-src 'none'" in page
    images = list(iter_images(page))
    # Kaplan-Meier, learning curves, two balanced accuracies, t-SNE per model, CKA
    assert len(images) >= 7
    for payload in images:
        image = Image.open(io.BytesIO(base64.b64decode(payload, validate=True)))
        image.load()
        assert image.format == "PNG" and image.width > 200 and image.height > 100
        # not blank: a figure has ink
        assert image.convert("L").getextrema()[0] < 128


def test_every_suite_and_record_string_is_escaped(built):
    _, _, page = built
    for evil in (EVIL_LABEL, EVIL_MODEL, EVIL_QUESTION, "<LSTM>"):
        assert evil not in page
        assert html.escape(evil, quote=True) in page
    text = _text(page)
    assert EVIL_QUESTION in text and EVIL_LABEL in text
    assert "CUDA out of memory while building <LSTM> & friends" in text  # the failed run's error
    assert "Traceback" in text


def test_partial_suite_says_what_is_missing(built):
    _, _, page = built
    text = _text(page)
    assert "Of 48 expected runs" in text
    assert "2 runs are missing" in text
    assert "partial suite" in text
    assert "none/conv_ae/seed6" in text and "ja_full/conv_ae/seed7" in text


def test_answer_sentences_follow_the_statistics(built):
    folder, _, page = built
    text = " ".join(_text(page).split())
    summary = pd.read_csv(folder / "stats" / "survival_summary.csv")
    tests = pd.read_csv(folder / "stats" / "convergence_vs_control.csv")
    row = summary[(summary["measure"] == "steps") & (summary["model"] == EVIL_MODEL)
                  & (summary["condition"] == "ja_lowpass")].iloc[0]  # fmt: skip
    median = f"median {row['median']:.0f} steps [95% CI {row['median_ci_low']:.0f}, {row['median_ci_high']:.0f}]"
    assert f"With “{EVIL_LABEL}” the {EVIL_MODEL} reached the threshold in a {median}" in text
    ctrl = summary[(summary["measure"] == "steps") & (summary["model"] == EVIL_MODEL)
                   & (summary["condition"] == "none")].iloc[0]  # fmt: skip
    assert f"({ctrl['n_censored']} of {ctrl['n_runs']} runs censored)" in text
    fast = tests[
        (tests["measure"] == "steps")
        & (tests["model"] == EVIL_MODEL)
        & (tests["condition"] == "ja_lowpass")
    ].iloc[0]
    assert fast["p_holm"] < 0.05
    assert f"evidence that the {EVIL_MODEL} reaches the threshold sooner" in text
    ratio = f"time ratio {fast['time_ratio']:.2f} [95% CI {fast['time_ratio_ci_low']:.2f}, {fast['time_ratio_ci_high']:.2f}]"
    assert f"Paired over {fast['n_pairs']} seeds, {ratio}" in text
    same = tests[(tests["measure"] == "steps") & (tests["model"] == EVIL_MODEL)
                 & (tests["condition"] == "ja_full")].iloc[0]  # fmt: skip
    if same["detectable_ratio"] > 0:
        detectable = f"{(1 - same['detectable_ratio']) * 100:.0f}% fewer steps"
        expected = f"at best this design could detect a change of {detectable}"
    else:  # a failed run left 7 pairs: 2/128 cannot reach Holm's 0.05/4
        expected = "with this many seeds no difference of any size could reach significance"
    if same["equivalent"]:
        assert "no change larger than ±10% (90% CI" in text
    else:
        assert f"no evidence of a difference, and not shown to be within ±10%; {expected}" in text
    assert "Holm-corrected" in text
    assert "above chance" in text and "raw-feature baseline" in text


def test_failed_and_diverged_runs_are_listed(built):
    _, _, page = built
    section = page[page.index('id="problems"') : page.index('id="methods"')]
    text = _text(section)
    assert "ja_full/conv_ae/seed3" in text and "diverged" in text
    assert f"ja_full/{EVIL_MODEL}/seed5" in text and "RuntimeError" in text


def test_methods_list_data_counts_and_versions(built):
    _, _, page = built
    section = _text(page[page.index('id="methods"') :])
    assert "probe" in section and "pretrain/ja" in section
    for package in ("scipy", "statsmodels", "torch", "sklearn"):
        assert package in section
    assert "suite.toml as run" in section


def test_a_folder_without_finished_runs_still_reports(tmp_path):
    fake = FakeSuite(
        missing=tuple(
            f"{c.name}/{m.label}/seed{s}" for c in CONDITIONS for m in MODELS for s in range(8)
        )
    )
    folder = write_fake_results(tmp_path / "empty", fake)
    text = _text(build_report(folder, n_resamples=99, km_resamples=99).read_text("utf-8"))
    assert "48 runs are missing" in text
    assert "No probe results" in text


def test_methods_give_each_models_own_threshold(tmp_path):
    folder = write_fake_results(tmp_path / "thresholds", FakeSuite(seeds=(0, 1, 2)))
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    for model, threshold in zip(manifest["design"]["models"], (0.06, 0.125), strict=True):
        model["threshold"], model["threshold_mode"] = threshold, "absolute"
    manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    text = _text(build_report(folder, n_resamples=99, km_resamples=49).read_text("utf-8"))
    # a model without a label of its own is shown by its plugin's declared title
    assert "LSTM: absolute threshold 0.06," in text
    assert "conv_ae: absolute threshold 0.125," in text


def test_the_answer_weighs_the_head_start_against_the_pretraining_it_cost(built):
    folder, _, page = built
    text = " ".join(_text(page).split())
    tests = pd.read_csv(folder / "stats" / "convergence_vs_control.csv")
    total = tests[(tests["measure"] == "total_steps") & (tests["model"] == EVIL_MODEL)
                  & (tests["condition"] == "ja_lowpass")].iloc[0]  # fmt: skip
    # the fake suite's 200 pretraining steps eat the speed-up of ja_lowpass
    assert total["time_ratio"] > 1 and total["p_holm"] >= 0.05
    assert (
        f"Counting the pretraining steps too, the {EVIL_MODEL}'s time ratio to the control with "
        f"“{EVIL_LABEL}” is {total['time_ratio']:.2f}; with “{EVIL_LABEL}” the saving is not "
        "evidenced once pretraining is counted."
    ) in text
    assert "pretraining not counted" in text


def test_a_time_ratio_without_a_bounded_interval_says_so():
    from harness.report import sentences

    few = pd.Series({"time_ratio_ci_low": 0.0, "time_ratio_ci_high": float("inf")})
    assert sentences._ratio_ci(few) == "[no bounded 95% CI with this many seeds]"
    enough = pd.Series({"time_ratio_ci_low": 0.708, "time_ratio_ci_high": 0.839})
    assert sentences._ratio_ci(enough) == "[95% CI 0.71, 0.84]"


def test_no_spread_and_no_bound_are_said_in_words_not_as_1_00_or_inf():
    from harness.report import claims, convergence_section, sentences

    flat = pd.Series({"detectable_ratio": 1.0})
    assert "no spread" in claims.detectable(flat)
    assert "1.00 or 1.00" not in claims.detectable(flat)
    assert "no spread" in sentences.detectable_phrase(flat, "steps")
    wide = pd.Series({"time_ratio": 1.0, "time_ratio_ci_low": 0.0, "time_ratio_ci_high": math.inf})
    assert convergence_section.ratio_cell(wide) == "1.00 [unbounded]"
    shown = pd.Series({"equivalence_ci_low": 0.97, "equivalence_ci_high": 1.04,
                       "equivalence_margin": 1.1, "equivalent": True})  # fmt: skip
    assert convergence_section.equivalence_cell(shown) == "yes, ±10% [0.97, 1.04]"
