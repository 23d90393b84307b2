"""Run records -> tables: every run once, partial suites, chance levels, CSV files."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.stats import (
    between,
    cka,
    convergence,
    layers,
    pair_matrix,
    sensitivity,
    separability,
    survival,
)
from harness.stats.sequential_decisions import DECISION
from harness.tables import (
    CONFUSION_COLUMNS,
    CURVE_COLUMNS,
    DATA_QUALITY_COLUMNS,
    PROBE_COLUMNS,
    RUN_COLUMNS,
    STREAMING_COLUMNS,
    probes_table,
    runs_table,
)
from harness.tables.export import write_tables
from harness.tables.results import load_results

from helpers.fake_results import FakeSuite, write_fake_results


def test_one_row_per_finished_run(results):
    fake = FakeSuite()
    runs = results.runs
    assert list(runs.columns) == RUN_COLUMNS
    assert len(runs) == len(fake.conditions) * len(fake.models) * len(fake.seeds)
    assert runs["run_id"].is_unique
    assert set(runs["status"]) == {"reached", "censored", "diverged", "failed"}
    assert results.control == "none"
    assert results.conditions[0] == "none"
    assert results.models == ["lstm", "conv_ae"]
    assert runs.loc[runs["condition"] == "ja_lowpass", "condition_label"].iloc[0] == (
        "Japanese, low-pass 500 Hz"
    )
    failed = runs[runs["status"] == "failed"].iloc[0]
    assert failed["error_type"] == "RuntimeError" and "<LSTM>" in failed["error_message"]
    assert results.n_missing == 0 and not results.problems


def test_curves_keep_non_finite_losses_as_missing(results):
    curves = results.curves
    assert list(curves.columns) == CURVE_COLUMNS
    diverged = results.runs.loc[results.runs["status"] == "diverged", "run_id"].iloc[0]
    last = curves[curves["run_id"] == diverged].iloc[-1]
    assert np.isnan(last["heldout_loss"])
    reached = results.runs[results.runs["status"] == "reached"].iloc[0]
    mine = curves[curves["run_id"] == reached["run_id"]]
    assert mine["step"].iloc[-1] == reached["steps_to_threshold"]
    assert mine["heldout_loss"].iloc[-1] <= reached["threshold"]


def test_probe_rows_have_roles_chance_and_baseline(results):
    probes = results.probes
    assert list(probes.columns) == PROBE_COLUMNS
    bal = probes[probes["metric"] == "balanced_accuracy_multiclass"]
    assert np.allclose(bal["chance"], 1 / 3)
    assert np.allclose(probes.loc[probes["metric"] == "accuracy_target", "chance"], 2 / 3)
    latent = probes[probes["metric"] == "neighbour_language_agreement_latent"]
    assert np.allclose(latent["chance"], 1 / 3)
    assert probes.loc[probes["metric"] == "chance_target", "role"].eq("reference").all()
    assert probes.loc[probes["metric"] == "p_value_target", "role"].eq("p_value").all()
    assert probes.loc[probes["metric"] == "trustworthiness", "chance"].isna().all()
    baseline = probes[probes["latent_space"] == "feature_stats/mean_std"]
    assert baseline["is_baseline"].all()
    assert not probes.loc[probes["latent_space"] == "lstm_state/h", "is_baseline"].any()
    # a diverged run keeps its model-free probes; a failed run has none
    status = probes.groupby("status")["latent_space"].unique()
    assert list(status["diverged"]) == ["feature_stats/mean_std"]
    assert "failed" not in status.index


def _record_with(rows, latent_spaces=None):
    return {
        "run_id": "r1",
        "status": "reached",
        "spec": {"condition": {"name": "none"}, "model": {"label": "m"}, "seed": 0},
        "latent_spaces": latent_spaces or {},
        "probes": [{"extractor": "x", "latent_space": "x/a", "probe": "p", **r} for r in rows],
    }


def test_roles_and_chance_levels_are_read_as_declared_not_from_names():
    record = _record_with(
        [
            # names that would have been guessed otherwise
            {"metric": "chance_target", "value": 0.7, "role": "score", "chance": "level"},
            {"metric": "level", "value": 0.25, "role": "reference"},
            {"metric": "p_value_x", "value": 0.5, "role": "score"},
            {"metric": "q", "value": 0.01, "role": "p_value"},
        ],
        latent_spaces={"x/a": {"extractor": "x", "needs_model": False}},
    )
    probes = probes_table([record]).set_index("metric")
    assert probes.loc["chance_target", "role"] == "score"
    assert probes.loc["chance_target", "chance"] == 0.25
    assert probes.loc["level", "role"] == "reference"
    assert probes.loc["p_value_x", "role"] == "score" and np.isnan(
        probes.loc["p_value_x", "chance"]
    )
    assert probes.loc["q", "role"] == "p_value"
    # the space's extractor declared needs_model = False: the raw-feature baseline
    assert probes["is_baseline"].all()


def test_a_space_is_a_baseline_only_when_its_extractor_needs_no_model():
    rows = [{"metric": "s", "value": 0.5}]
    model_space = _record_with(rows, {"x/a": {"extractor": "x", "needs_model": True}})
    undeclared = _record_with(rows)
    assert not probes_table([model_space])["is_baseline"].any()
    assert not probes_table([undeclared])["is_baseline"].any()
    # rows written before roles were recorded are scores with no chance level
    assert probes_table([undeclared])["role"].eq("score").all()


def test_latents_follow_the_probe_clip_order(results):
    run_id = results.runs.loc[results.runs["status"] == "reached", "run_id"].iloc[0]
    clips = results.probe_clips(run_id)
    latents = results.latents(run_id)
    assert set(clips.columns) == {"clip_id", "language", "speaker"}
    assert all(array.shape[0] == len(clips) for array in latents.values())
    assert any(k.endswith("/tsne/coords") for k in results.probe_artifacts(run_id))
    failed = results.runs.loc[results.runs["status"] == "failed", "run_id"].iloc[0]
    assert results.latents(failed) == {}


def test_partial_suite_counts_missing_runs(tmp_path):
    fake = FakeSuite(missing=("none/lstm/seed1", "ja_full/conv_ae/seed7"))
    res = load_results(write_fake_results(tmp_path / "partial", fake))
    assert res.expected_count == 48 and len(res.runs) == 46
    assert res.n_missing == 2
    assert sorted(res.missing) == ["ja_full/conv_ae/seed7", "none/lstm/seed1"]


def test_without_manifest_the_records_give_the_design_and_expected_count(tmp_path):
    fake = FakeSuite(missing=("none/lstm/seed1",), write_manifest=False)
    res = load_results(write_fake_results(tmp_path / "nomanifest", fake))
    assert res.expected is None
    assert not res.design.from_manifest
    # without the manifest the suite order is unknown; the control still comes first
    assert res.control == "none" and res.conditions[0] == "none"
    assert sorted(res.conditions) == ["ja_full", "ja_lowpass", "none"]
    assert res.expected_count == 3 * 2 * 8
    assert res.n_missing == 1


def test_runs_of_another_suite_version_are_left_out(tmp_path, folder):
    out = tmp_path / "stale"
    shutil.copytree(folder, out)
    manifest = json.loads((out / "manifest.json").read_text())
    dropped = manifest["run_ids"].pop()
    (out / "manifest.json").write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="another version"):
        res = load_results(out)
    assert dropped not in set(res.runs["run_id"])
    assert len(res.runs) == 47


def test_write_tables_round_trips(tmp_path, folder):
    out = tmp_path / "tables"
    shutil.copytree(folder, out)
    written = write_tables(out, n_resamples=199, km_resamples=99)
    names = {p.relative_to(out).as_posix() for p in written}
    assert {"runs.csv", "curves.csv", "probes.csv", "stats/survival_summary.csv"} <= names
    assert {"stats/convergence_vs_control.csv", "stats/separability.csv", "stats/cka.csv"} <= names
    runs = pd.read_csv(out / "runs.csv")
    assert list(runs.columns) == RUN_COLUMNS
    assert len(runs) == 48
    documented = _documented_columns()
    assert set(documented) == names
    for name, columns in documented.items():
        assert list(pd.read_csv(out / name, nrows=0).columns) == columns, name
    assert not list(out.glob("*.tmp")) and not list((out / "stats").glob("*.tmp"))


def _documented_columns() -> dict[str, list[str]]:
    """``### `name.csv` `` sections of docs/report.md -> the columns of their table."""
    text = (Path(__file__).parents[1] / "docs" / "report.md").read_text(encoding="utf-8")
    out: dict[str, list[str]] = {}
    for section in re.split(r"^### ", text, flags=re.M)[1:]:
        name = re.match(r"`([^`]+\.csv)`", section)
        if name:
            out[name.group(1)] = re.findall(r"^\| `([^`]+)` \|", section, flags=re.M)
    return out


def test_every_csv_column_is_documented():
    actual = {
        "runs.csv": RUN_COLUMNS,
        "curves.csv": CURVE_COLUMNS,
        "probes.csv": PROBE_COLUMNS,
        "data_quality.csv": DATA_QUALITY_COLUMNS,
        "confusion.csv": CONFUSION_COLUMNS,
        "streaming.csv": STREAMING_COLUMNS,
        "stats/survival_summary.csv": survival.SUMMARY_COLUMNS,
        "stats/km_curves.csv": survival.KM_COLUMNS,
        "stats/convergence_vs_control.csv": [*convergence.VS_CONTROL_COLUMNS, DECISION],
        "stats/convergence_overall.csv": convergence.OVERALL_COLUMNS,
        "stats/convergence_between.csv": [*between.BETWEEN_COLUMNS, DECISION],
        "stats/learning_curves.csv": survival.CURVE_COLUMNS,
        "stats/threshold_sensitivity.csv": sensitivity.SENSITIVITY_COLUMNS,
        "stats/separability.csv": separability.SUMMARY_COLUMNS,
        "stats/separability_vs_control.csv": separability.VS_CONTROL_COLUMNS,
        "stats/cka.csv": cka.CKA_COLUMNS,
        "stats/layers.csv": layers.LAYER_COLUMNS,
        "stats/cka_layers.csv": layers.CKA_LAYER_COLUMNS,
        "stats/pair_matrix.csv": pair_matrix.PAIR_COLUMNS,
        "stats/pair_groups.csv": pair_matrix.GROUP_COLUMNS,
    }
    assert _documented_columns() == actual


def test_the_suite_file_is_never_parsed_again(tmp_path, folder):
    out = tmp_path / "broken"
    shutil.copytree(folder, out)
    (out / "suite.toml").write_text("name = [unclosed", encoding="utf-8")
    res = load_results(out)  # the design comes from manifest.json
    assert not res.problems
    assert len(res.runs) == 48 and res.expected_count == 48
    assert res.control == "none" and res.conditions == ["none", "ja_lowpass", "ja_full"]
    assert res.models == ["lstm", "conv_ae"]
    assert res.suite_text == "name = [unclosed"  # shown verbatim in the methods section


def _run_record(run_id, condition, status, steps, pretrain_steps, pretrain_examples=None):
    conv = {"steps": steps, "examples": steps * 8, "epochs": steps / 10, "seconds": steps / 100}
    conv["pretrain_steps"] = pretrain_steps
    if pretrain_examples is not None:
        conv["pretrain_examples"] = pretrain_examples
    return {
        "run_id": run_id,
        "status": status,
        "spec": {
            "condition": {"name": condition},
            "model": {"label": "m"},
            "seed": 0,
            "target": {"max_steps": 300},
        },
        "convergence": conv,
    }


def test_total_times_count_pretraining_and_censor_diverged_runs_with_it():
    runs = runs_table(
        [
            # a record written before pretrain_examples existed
            _run_record("control", "none", "reached", 250, 0),
            _run_record("early", "ja", "reached", 50, 200, 1500),
            _run_record("censored", "ja", "censored", 300, 200, 1500),
            _run_record("diverged", "ja", "diverged", 40, 200, 1500),
            _run_record("failed", "ja", "failed", 0, 0, 0),
        ]
    ).set_index("run_id")
    total = runs["total_steps_to_threshold"]
    examples = runs["total_examples_to_threshold"]
    assert total["control"] == 250 and examples["control"] == 250 * 8
    assert total["early"] == 250 and examples["early"] == 1500 + 50 * 8
    assert total["censored"] == 500 and examples["censored"] == 1500 + 300 * 8
    assert runs.loc["early", "pretrain_examples"] == 1500
    # diverged: its own pretraining plus the step budget, as the model's longest total here
    assert runs.loc["diverged", "steps_to_threshold"] == 300
    assert total["diverged"] == 200 + 300
    assert examples["diverged"] == 1500 + 300 * 8
    assert np.isnan(total["failed"]) and np.isnan(examples["failed"])
    # a model whose longest total is longer than a diverged run's own: that one
    longer = runs_table(
        [
            _run_record("slow", "ja", "censored", 300, 900, 9000),
            _run_record("diverged", "none", "diverged", 40, 0, 0),
        ]
    ).set_index("run_id")
    assert longer.loc["diverged", "total_steps_to_threshold"] == 1200
    assert longer.loc["diverged", "total_examples_to_threshold"] == 9000 + 300 * 8


def test_total_times_of_the_fake_suite(results):
    runs = results.runs
    finished = runs[runs["status"].isin(["reached", "censored"])]
    assert (
        finished["total_steps_to_threshold"]
        == finished["pretrain_steps"] + finished["steps_to_threshold"]
    ).all()
    assert (
        finished["total_examples_to_threshold"]
        == finished["pretrain_examples"] + finished["examples_to_threshold"]
    ).all()
    assert (runs["reference_heldout_loss"].dropna() == 2.0).all()
