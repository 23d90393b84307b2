"""The typed run record: the one reader and writer of record.json.

tests/fixtures/previous_release holds two output folders written by the
release before the record was typed (a tiny probe suite with two seeds, a
tiny classify suite; weights dropped), and under expected_csv/ the tables
`harness report` wrote for them with that release's code.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math
import shutil
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main
from harness.output.layout import RECORD, STATS
from harness.output.record import (
    RECORD_VERSION,
    Convergence,
    ProbeRow,
    RecordVersionError,
    RunRecord,
    read_record,
)
from harness.output.run_results import failure_record
from harness.output.store import Store
from harness.plugin.selection import Selection
from harness.running.runner import run_suite
from harness.spec.expand import expand
from harness.tables.results import load_results

from helpers import runner as h

FIXTURES = Path(__file__).parent / "fixtures" / "previous_release"
FOLDERS = ("probes", "classify")
RECORDS = sorted(FIXTURES.glob(f"*/runs/*/{RECORD}"))
IN_PROCESS = Selection("executor", "local", {"workers": 1, "in_process": True}, "")


def test_the_fixture_holds_runs_with_probes_curves_and_a_classify_task():
    probed = [read_record(p) for p in RECORDS if p.parts[-4] == "probes"]
    classified = [read_record(p) for p in RECORDS if p.parts[-4] == "classify"]
    assert len(probed) == 4 and len(classified) == 2
    assert all(r.probes and r.curve.step and r.latent_spaces for r in probed)
    assert all(r.classification and r.curve.column("heldout_accuracy") for r in classified)


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.parent.name)
def test_a_record_of_the_previous_release_reads_and_writes_back_unchanged(path):
    text = path.read_text(encoding="utf-8")
    record = RunRecord.from_dict(json.loads(text))
    assert RunRecord.from_dict(record.to_dict()) == record
    written = record.to_dict()
    assert written.pop("record_version") == RECORD_VERSION
    # every key, value and order as the earlier release wrote it, plus the version
    assert json.dumps(written, indent=1) == text


def test_a_failure_record_round_trips_with_only_its_keys(tmp_path):
    spec = expand(h.make_suite(tmp_path, seeds=1), h.registry())[0]
    record = failure_record(spec, {"type": "E", "message": "m", "traceback": "t"}, "now", 1.5)
    stored = record.to_dict()
    assert list(stored) == [
        "record_version",
        "run_id",
        "label",
        "status",
        "spec",
        "provenance",
        "error",
        "started",
        "wall_seconds",
        "environment",
    ]
    assert RunRecord.from_dict(stored) == record


def test_records_of_a_run_round_trip(tmp_path):
    suite = h.make_suite(tmp_path, seeds=1)
    run_suite(
        suite,
        execute=h.fake_execute,
        executor=IN_PROCESS,
        registry=h.registry(),
        stream=io.StringIO(),
    )
    records = Store(suite.output).records()
    assert records and all(isinstance(r, RunRecord) for r in records)
    for record in records:
        assert RunRecord.from_dict(record.to_dict()) == record
        assert record["spec"] == record.to_dict()["spec"]  # dict-style reading still works


def test_non_finite_numbers_are_written_as_null():
    record = RunRecord(
        run_id="ab12cd34",
        status="censored",
        convergence=Convergence(final_heldout_loss=math.nan, threshold=math.inf),
        probes=(ProbeRow(metric="accuracy", value=math.nan),),
    )
    stored = record.to_dict()
    assert stored["convergence"]["final_heldout_loss"] is None
    assert stored["convergence"]["threshold"] is None
    assert stored["probes"][0]["value"] is None
    json.dumps(stored, allow_nan=False)  # strict JSON


def test_a_record_without_the_keys_of_later_versions_gets_the_readers_defaults():
    record = RunRecord.from_dict(
        {
            "run_id": "ab12cd34",
            "status": "reached",
            "spec": {"condition": {"name": "none"}, "model": {"plugin": "lstm"}, "seed": 3},
            "convergence": {"steps": 10, "pretrain_steps": 0, "final_heldout_loss": 0.5},
            "probes": [{"probe": "p", "latent_space": "x/h", "metric": "m", "value": 0.7}],
        }
    )
    conv = record.convergence
    assert (conv.metric, conv.higher_is_better, conv.final_metric) == ("loss", False, 0.5)
    assert conv.pretrain_examples == 0  # nothing was pretrained
    assert record.probes[0].higher_is_better and record.probes[0].role is None
    assert (record.condition_name, record.model_label, record.seed) == ("none", "lstm", 3)


#: columns the tables gained since the previous release, each documented in docs/report.md
ADDED_COLUMNS = {
    "probes.csv": ["step"],
    f"{STATS}/convergence_vs_control.csv": ["sequential_decision"],
    f"{STATS}/convergence_between.csv": ["sequential_decision"],
}


def test_the_previous_release_folders_load_and_report_the_same_tables(tmp_path):
    for name in FOLDERS:
        folder = tmp_path / name
        shutil.copytree(FIXTURES / name, folder)
        results = load_results(folder)
        assert not results.problems and results.n_missing == 0
        assert all(isinstance(r, RunRecord) for r in results.records.values())
        assert main(["report", str(folder)]) == 0
        expected = FIXTURES / "expected_csv" / name
        tables = sorted(p.relative_to(expected) for p in expected.rglob("*.csv"))
        assert Path(STATS) / "km_curves.csv" in tables
        for table in tables:
            # the same rows and columns; numbers equal to the last digits that
            # differ between the newest and the oldest supported numpy/scipy
            got, want = pd.read_csv(folder / table), pd.read_csv(expected / table)
            added = [c for c in got.columns if c not in want.columns]
            assert added == ADDED_COLUMNS.get(str(table), []), f"{table}: columns added"
            pd.testing.assert_frame_equal(
                got[list(want.columns)], want, check_exact=False, rtol=1e-9, obj=str(table)
            )


def test_a_record_of_a_newer_version_is_a_clear_error_naming_its_file(tmp_path):
    folder = tmp_path / "probes"
    shutil.copytree(FIXTURES / "probes", folder)
    path = next(folder.glob(f"runs/*/{RECORD}"))
    data = json.loads(path.read_text())
    path.write_text(json.dumps({**data, "record_version": RECORD_VERSION + 1}))
    with pytest.raises(RecordVersionError, match="newer harness") as caught:
        load_results(folder)
    assert str(path) in str(caught.value)
    assert main(["report", str(folder)]) == 2  # an error message, not a traceback


def test_unknown_top_level_keys_are_kept():
    record = RunRecord.from_dict({"run_id": "ab12cd34", "status": "failed", "note": [1, 2]})
    assert record.extra == {"note": [1, 2]}
    assert record.to_dict()["note"] == [1, 2]
    assert dataclasses.replace(record, extra={}).to_dict().get("note") is None


def test_a_record_of_the_wrong_shape_is_damaged_not_a_crash(tmp_path):
    folder = tmp_path / "probes"
    shutil.copytree(FIXTURES / "probes", folder)
    path = next(folder.glob(f"runs/*/{RECORD}"))
    path.write_text(json.dumps({"run_id": path.parent.name, "status": "reached", "probes": 3}))
    assert Store(folder).statuses()[path.parent.name] == "damaged"
