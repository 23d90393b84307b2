"""`harness export DIR --to mlflow`: every run of a results folder in a real
MLflow store (SQLite), read back with MLflow's own client."""

from __future__ import annotations

import sys

import pytest

from harness.cli import main
from harness.tables.results import load_results

from helpers.fake_results import FakeSuite, write_fake_results

mlflow_tracking = pytest.importorskip("mlflow.tracking")


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = write_fake_results(tmp_path_factory.mktemp("fake") / "out", FakeSuite())
    uri = f"sqlite:///{folder / 'store.db'}"
    assert main(["export", str(folder), "--uri", uri]) == 0
    client = mlflow_tracking.MlflowClient(tracking_uri=uri)
    results = load_results(folder)
    experiment = client.get_experiment_by_name(results.design.name)
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    return folder, uri, client, results, runs


def _harness_runs(runs):
    return [r for r in runs if r.data.tags.get("harness.kind") != "report"]


def test_one_mlflow_run_per_harness_run_tagged_for_grouping(exported):
    _, _, _, results, runs = exported
    mine = _harness_runs(runs)
    assert sorted(r.data.tags["harness.run_id"] for r in mine) == sorted(results.runs["run_id"])
    row = results.runs.iloc[0]
    (run,) = [r for r in mine if r.data.tags["harness.run_id"] == row["run_id"]]
    assert run.info.run_name == row["label"]
    assert run.data.tags["harness.condition"] == row["condition"]
    assert run.data.tags["harness.model"] == row["model"]
    assert run.data.tags["harness.seed"] == str(row["seed"])
    assert run.data.params["seed"] == str(row["seed"])
    record = results.records[row["run_id"]]
    assert run.data.params["training.lr"] == str(record.spec["training"]["lr"])


def test_curves_are_metric_histories_and_finals_are_metrics(exported):
    _, _, client, results, runs = exported
    for run in _harness_runs(runs)[:5]:
        run_id = run.data.tags["harness.run_id"]
        curve = results.curves[results.curves["run_id"] == run_id]
        history = client.get_metric_history(run.info.run_id, "curve/heldout_loss")
        assert [m.step for m in history] == [int(s) for s in curve["step"]]
        assert [m.value for m in history] == pytest.approx(list(curve["heldout_loss"]))
        final = results.runs.set_index("run_id").loc[run_id]
        if final["steps_to_threshold"] == final["steps_to_threshold"]:  # not NaN
            assert run.data.metrics["steps_to_threshold"] == final["steps_to_threshold"]
        probes = results.probes[results.probes["run_id"] == run_id]
        for row in probes.head(3).itertuples():
            key = f"probe/{row.latent_space}/{row.probe}/{row.metric}"
            assert run.data.metrics[key] == pytest.approx(row.value)


def test_the_report_and_tables_are_artifacts_of_one_report_run(exported):
    folder, _, client, _, runs = exported
    (report,) = [r for r in runs if r.data.tags.get("harness.kind") == "report"]
    paths = {a.path for a in client.list_artifacts(report.info.run_id)}
    assert {p.name for p in folder.glob("*.csv")} <= paths


def test_exporting_again_adds_nothing(exported, capsys):
    folder, uri, client, _, runs = exported
    assert main(["export", str(folder), "--uri", uri]) == 0
    assert "0 run(s) written" in capsys.readouterr().out
    experiment = client.get_experiment_by_name(runs[0].data.tags["harness.suite"])
    assert len(client.search_runs([experiment.experiment_id], max_results=1000)) == len(runs)


def test_without_mlflow_installed_the_error_says_how_to_install(tmp_path, monkeypatch, capsys):
    folder = write_fake_results(tmp_path / "out", FakeSuite())
    monkeypatch.setitem(sys.modules, "mlflow.tracking", None)
    assert main(["export", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "pip install 'speech-pretrain-harness[mlflow]'" in err and str(folder) in err


def test_a_folder_without_runs_is_a_usage_error(tmp_path, capsys):
    assert main(["export", str(tmp_path)]) == 2
    assert "holds no runs/ folder" in capsys.readouterr().err


def test_running_md_export_command_runs_as_documented(tmp_path, monkeypatch):
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "running.md").read_text()
    section = doc.split("## Runs in MLflow: `harness export`", 1)[1].split("\n## ", 1)[0]
    (command,) = [
        line.strip() for line in section.splitlines() if line.strip().startswith("harness export")
    ]
    args = command.split()[1:]
    monkeypatch.chdir(tmp_path)
    write_fake_results(tmp_path / args[1], FakeSuite())
    assert main(args) == 0
    assert (tmp_path / "reports" / "quick" / "mlflow.db").is_file()
