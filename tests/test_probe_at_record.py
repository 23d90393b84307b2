"""Probe rows along training in the record, the tables and the report: kept in
the record's ``along_training`` with their step, in probes.csv with a ``step``
column, drawn in their own report section, and never read by the statistics or
the other sections, which see the final probing's rows only."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd

from harness.cli import main
from harness.output.layout import RECORD
from harness.output.record import RunRecord
from harness.report.methods import probes_along
from harness.report.trajectory_section import trajectory_section, trajectory_summary
from harness.stats.analysis import analyse
from harness.tables.probes import along_table
from harness.tables.results import Results, load_results

FIXTURE = Path(__file__).parent / "fixtures" / "previous_release" / "probes"
STEPS = (0, 10, 20)


def _along(data: dict) -> dict:
    """``along_training`` made from a stored record's model rows: the same rows
    at each step, scores moved by the step so each step is told apart."""
    model_free = {s for s, info in data["latent_spaces"].items() if not info["needs_model"]}
    rows = [r for r in data["probes"] if r["latent_space"] not in model_free]
    scored = [{**r, "step": step, "value": _moved(r, step)} for step in STEPS for r in rows]
    return {
        "steps": [*STEPS, 30],
        "measured": list(STEPS),
        "probes": scored,
        "probe_details": [{**d, "step": 0} for d in data["probe_details"][:2]],
        "probe_errors": [],
        "probe_warnings": [],
        "probes_skipped": [],
        "seconds": 1.5,
    }


def _moved(row: dict, step: int) -> float | None:
    if row["role"] != "score" or row["value"] is None:
        return row["value"]
    return row["value"] + step / 100


def _records(along: bool) -> list[dict]:
    out = []
    for path in sorted(FIXTURE.glob(f"runs/*/{RECORD}")):
        data = json.loads(path.read_text(encoding="utf-8"))
        if along:
            data["along_training"] = _along(data)
        out.append(data)
    return out


def test_the_record_keeps_rows_along_training_with_their_step():
    data = _records(along=True)[0]
    record = RunRecord.from_dict(data)
    assert record.along_training is not None
    assert record.along_training.measured == STEPS
    assert {r.step for r in record.along_training.probes} == set(STEPS)
    assert all(r.step is None for r in record.probes)
    written = record.to_dict()
    assert RunRecord.from_dict(written) == record
    # the final rows are written as they always were: no step key
    assert all("step" not in row for row in written["probes"])
    assert all(row["step"] in STEPS for row in written["along_training"]["probes"])
    keys = list(written)
    assert keys.index("along_training") == keys.index("probe_warnings") + 1
    # a record without probes along training writes no such key
    assert "along_training" not in RunRecord.from_dict(_records(along=False)[0]).to_dict()


def test_the_statistics_read_only_the_final_rows():
    plain = Results.from_records(_records(along=False))
    along = Results.from_records(_records(along=True))
    pd.testing.assert_frame_equal(plain.probes, along.probes)
    assert along.probes["step"].isna().all()
    first = analyse(plain, n_resamples=99, km_resamples=19)
    second = analyse(along, n_resamples=99, km_resamples=19)
    for name, table in first.tables().items():
        pd.testing.assert_frame_equal(table, second.tables()[name], obj=name)


def test_the_along_table_has_each_step_and_its_own_chance():
    records = _records(along=True)
    table = along_table(records)
    assert sorted(table["step"].unique()) == list(STEPS)
    assert len(table) == len(STEPS) * sum(len(_along(r)["probes"]) // len(STEPS) for r in records)
    scores = table[table["chance_metric"].notna()]
    assert scores["chance"].notna().all()
    assert along_table(_records(along=False)).empty


def test_the_summary_is_the_median_and_iqr_over_seeds_per_step():
    results = Results.from_records(_records(along=True))
    summary = trajectory_summary(results)
    assert set(summary["step"]) == set(STEPS)
    # headline scores only: the fixture's linear_svc declares balanced_accuracy_<task>
    assert set(summary["metric"]) <= {"balanced_accuracy_target", "balanced_accuracy_multiclass"}
    table = along_table(results.records.values())
    one = summary.iloc[0]
    rows = table[
        (table["condition"] == one["condition"])
        & (table["step"] == one["step"])
        & (table["latent_space"] == one["latent_space"])
        & (table["metric"] == one["metric"])
    ]
    assert one["median"] == rows["value"].median()
    assert one["q25"] == rows["value"].quantile(0.25)
    assert one["n_seeds"] == rows["seed"].nunique() == 2
    assert trajectory_section(Results.from_records(_records(along=False))) == ""


def test_the_report_and_probes_csv_hold_the_rows_along_training(tmp_path):
    folder = tmp_path / "probes"
    shutil.copytree(FIXTURE, folder)
    for path in folder.glob(f"runs/*/{RECORD}"):
        data = json.loads(path.read_text(encoding="utf-8"))
        data["along_training"] = _along(data)
        path.write_text(json.dumps(data), encoding="utf-8")
    assert main(["report", str(folder)]) == 0
    html = (folder / "report.html").read_text(encoding="utf-8")
    assert '<section id="along-training"><h2>Probes along training</h2>' in html
    probes = pd.read_csv(folder / "probes.csv")
    final = probes[probes["step"].isna()]
    assert len(final) == len(load_results(folder).probes)
    assert sorted(probes["step"].dropna().unique()) == list(STEPS)


def test_the_methods_name_the_steps_the_probes_ran_at_and_only_when_asked():
    plain = Results.from_records(_records(along=False))
    assert probes_along(plain) == ""
    asked = _records(along=True)
    for data in asked:
        data["spec"]["probe_at"] = list(STEPS)
    sentence = probes_along(Results.from_records(asked))
    assert "at steps 0, 10, 20 (step 0: the model as it entered target training)" in sentence
    assert "points after it stopped were not measured" in sentence
