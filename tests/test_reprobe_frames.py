"""`harness probe` and frame probes: a failed ``abx`` of the final probing is run
again on frames rebuilt from the run's stored weights, with the numbers the
run would have had; what cannot be re-run (faults along training, a run the
suite copy no longer holds, latents that no longer match) is said per run and
probe, with the command that would measure it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from harness.cli import main
from harness.output.layout import SUITE_COPY
from harness.run.from_weights import Unrebuildable, _check_same
from harness.run.latents import LatentSpace
from harness.testing import run_tiny_suite
from harness_plugins.probes.abx_probe import ABXProbe

PROBES = [{"plugin": "abx", "max_items": 4}, {"plugin": "ridge", "n_permutations": 9}]
ONE = dict(conditions=[{"name": "none"}], probes=PROBES)
#: a threshold no run reaches: the run trains its whole budget (30 steps)
CENSORED = {"threshold": 1e-4, "threshold_mode": "absolute"}


def _falls_over(self, given):
    raise RuntimeError("abx fell over")


def _abx_rows(record) -> list[tuple[str, str, float]]:
    """The abx rows of a record as read (``RunRecord``) or as stored (JSON)."""
    if isinstance(record, dict):
        rows = [(r["latent_space"], r["metric"], r["value"], r["probe"]) for r in record["probes"]]
    else:
        rows = [(r.latent_space, r.metric, r.value, r.probe) for r in record.probes]
    return sorted(row[:3] for row in rows if row[3] == "abx")


def test_a_failed_abx_is_rerun_from_the_weights_with_the_runs_numbers(
    tmp_path, monkeypatch, capsys
):
    good = run_tiny_suite(tmp_path / "good", cache_dir=tmp_path / "cache", **ONE)
    monkeypatch.setattr(ABXProbe, "run_frames", _falls_over)
    broken = run_tiny_suite(tmp_path / "broken", cache_dir=tmp_path / "cache", **ONE)
    [run_id] = list(broken.records)
    record = broken.records[run_id]
    assert {e["probe"] for e in record["probe_errors"]} == {"abx"}
    assert not _abx_rows(record)
    monkeypatch.undo()

    out = tmp_path / "broken" / "out"
    assert main(["probe", str(out), "--no-report"]) == 0
    said = capsys.readouterr().out
    assert "re-probed" in said and "cannot" not in said
    after = json.loads((out / "runs" / run_id / "record.json").read_text())
    assert after["probe_errors"] == []
    # the same numbers as the run in which abx never failed
    expected = _abx_rows(good.records[run_id])
    assert expected and [r[:2] for r in _abx_rows(after)] == [r[:2] for r in expected]
    np.testing.assert_allclose(
        [r[2] for r in _abx_rows(after)], [r[2] for r in expected], rtol=1e-6
    )


def test_faults_along_training_and_unrebuildable_frames_are_said_with_the_command(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(ABXProbe, "run_frames", _falls_over)
    results = run_tiny_suite(tmp_path, probing={"probe_at": [0, 30]}, target=CENSORED, **ONE)
    [run_id] = list(results.records)
    along = results.records[run_id].along_training
    assert along is not None and {e.probe for e in along.probe_errors} == {"abx"}
    monkeypatch.undo()
    out = tmp_path / "out"
    (out / SUITE_COPY).rename(tmp_path / "moved.toml")

    assert main(["probe", str(out), "--no-report"]) == 1
    said = capsys.readouterr().out
    assert said.startswith(f"{out}: nothing re-probed\n2 cannot be re-run here:")
    run_dir = out / "runs" / run_id
    command = f"remove {run_dir}, then `harness run {out / SUITE_COPY} -o {out}`"
    assert (
        "none/lstm/seed0 abx: its frames cannot be rebuilt from the run's weights "
        f"({out / SUITE_COPY} is missing); to measure it, train the run again: {command}"
    ) in said
    assert (
        "none/lstm/seed0 abx on lstm_state/h along training (step(s) 0, 30): the models at "
        "those steps are not stored, only the final weights; to measure it, train the run "
        f"again: {command}"
    ) in said
    after = json.loads((run_dir / "record.json").read_text())
    assert {e["probe"] for e in after["probe_errors"]} == {"abx"}  # still recorded as faults

    # with the suite copy back, the final pairs run; the faults along training stay
    (tmp_path / "moved.toml").rename(out / SUITE_COPY)
    assert main(["probe", str(out), "--no-report"]) == 1
    said = capsys.readouterr().out
    assert "re-probed" in said and "its frames cannot be rebuilt" not in said
    assert "abx on lstm_state/h along training (step(s) 0, 30)" in said
    assert json.loads((run_dir / "record.json").read_text())["probe_errors"] == []


def test_rebuilt_latents_that_differ_from_the_stored_ones_are_refused():
    stored = {"x/h": np.ones((4, 3), np.float32)}
    same = {"x/h": LatentSpace("x", np.ones((4, 3), np.float32) + 1e-7)}
    _check_same(same, stored)
    with pytest.raises(Unrebuildable, match=r"largest difference 0\.5"):
        _check_same({"x/h": LatentSpace("x", np.full((4, 3), 1.5, np.float32))}, stored)
    with pytest.raises(Unrebuildable, match="has shape"):
        _check_same({"x/h": LatentSpace("x", np.ones((5, 3), np.float32))}, stored)
    with pytest.raises(Unrebuildable, match="no longer gives the space"):
        _check_same({}, stored)
