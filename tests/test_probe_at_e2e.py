"""Probes along training end to end: a tiny suite with ``probe_at``, the frame
probe ``abx`` and the pooled ``linear_svc``, through the runner, the store,
probes.csv and the report; and a run stopped during its probes along training
leaves nothing half-written, then runs again on resume."""

from __future__ import annotations

import pandas as pd
import pytest

from harness.cli import main
from harness.output.store import Store
from harness.run.probes import ProbesAlong
from harness.testing import TinySuiteFailed, run_tiny_suite

pytestmark = pytest.mark.slow

PROBES = [
    {"plugin": "abx", "max_items": 4},
    {"plugin": "linear_svc", "C": 1.0, "n_permutations": 0},
]
#: a threshold no run reaches: every run trains its whole budget (30 steps)
CENSORED = {"threshold": 1e-4, "threshold_mode": "absolute"}
SUITE = dict(probes=PROBES, target=CENSORED, probing={"probe_at": [0.0, 0.5, 1.0]})


def test_a_suite_with_probe_at_records_tables_and_reports_the_rows(tmp_path):
    results = run_tiny_suite(tmp_path, **SUITE)
    for record in results.records.values():
        along = record.along_training
        assert along is not None
        assert along.steps == along.measured == (0, 15, 30)
        found = {(r.step, r.latent_space, r.probe, r.metric) for r in along.probes}
        for step in (0, 15, 30):
            assert (step, "lstm_state/h", "abx", "abx_within") in found
            assert (step, "lstm_state/h", "linear_svc", "balanced_accuracy_target") in found
        # the model-free baseline does not change along training: final probing only
        assert not any(r.latent_space.startswith("feature_stats") for r in along.probes)
        assert along.probe_errors == ()
        assert all(r.step is None for r in record.probes)
    assert results.probes["step"].isna().all()
    out = results.output_dir
    assert main(["report", str(out)]) == 0
    probes = pd.read_csv(out / "probes.csv")
    assert sorted(probes["step"].dropna().unique()) == [0, 15, 30]
    assert probes["step"].isna().sum() == len(results.probes)
    html = (out / "report.html").read_text(encoding="utf-8")
    assert '<section id="along-training"><h2>Probes along training</h2>' in html


def test_a_run_stopped_while_probing_along_training_runs_again_on_resume(tmp_path, monkeypatch):
    measure = ProbesAlong.__call__

    def dies_at_15(self, step, module):
        if self.spec.condition.name == "it-lp500" and step == 15:
            raise KeyboardInterrupt  # as a worker killed mid-run: no record is written
        return measure(self, step, module)

    monkeypatch.setattr(ProbesAlong, "__call__", dies_at_15)
    with pytest.raises((TinySuiteFailed, KeyboardInterrupt)):
        run_tiny_suite(tmp_path, **SUITE)
    store = Store(tmp_path / "out")
    finished = store.finished_ids()
    assert len(finished) == 1
    (kept,) = store.records(finished)
    assert kept.along_training is not None and kept.along_training.measured == (0, 15, 30)
    monkeypatch.setattr(ProbesAlong, "__call__", measure)
    results = run_tiny_suite(tmp_path, **SUITE)
    assert len(results.records) == 2
    assert results.records[kept.run_id].started == kept.started  # not run again
    for record in results.records.values():
        assert record.along_training is not None
        assert record.along_training.measured == (0, 15, 30)
