"""The control reaches the threshold at step 0 (say ``threshold = 1.0``): the
tables and the report are still written, and `harness report` exits 0."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness.cli import main
from harness.report import build_report
from harness.tables.results import load_results

from helpers.fake_results import FakeSuite, write_fake_results


def cross_at_step_zero(output, labels) -> None:
    """Rewrite the records of ``labels`` as runs whose untrained model is
    already below the threshold: the crossing is the first evaluation."""
    for path in (output / "runs").glob("*/record.json"):
        if ".partial-" in path.parent.name:  # the fake run in flight
            continue
        record = json.loads(path.read_text("utf-8"))
        if record.get("label") not in labels or record.get("status") == "failed":
            continue
        record["status"] = "reached"
        convergence = record["convergence"]
        convergence.update(reached=True, steps=0, examples=0, epochs=0.0, seconds=0.0)
        convergence.update(diverged_step=None, diverged_phase=None)
        curve = record["curve"]
        curve["heldout_loss"][0] = convergence["threshold"] - 1e-3
        for key in curve:
            curve[key] = curve[key][:1]
        path.write_text(json.dumps(record), "utf-8")


def test_report_when_the_control_crosses_at_step_zero(tmp_path, capsys):
    fake = FakeSuite(seeds=tuple(range(4)), tsne=False, diverged=(), failed=())
    output = write_fake_results(tmp_path / "out", fake)
    control = {f"none/{m.label}/seed{s}" for m in fake.models for s in fake.seeds}
    cross_at_step_zero(output, control)

    runs = load_results(output).runs
    at_zero = runs[runs["condition"] == "none"]
    assert (at_zero["steps_to_threshold"] == 0).all() and (at_zero["event"] == 1).all()

    path = build_report(output, n_resamples=99, km_resamples=99)
    text = path.read_text("utf-8")
    assert "Learning speed" in text and "ZeroDivisionError" not in text
    assert (output / "runs.csv").is_file() and (output / "stats").is_dir()
    versus = pd.read_csv(output / "stats" / "convergence_vs_control.csv")
    steps = versus[versus["measure"] == "steps"]
    assert len(steps) == 4 and (steps["median_control"] == 0).all()
    # 4 seeds: the exact signed-rank test cannot reach 5%, so the interval is unbounded above
    assert np.isfinite(steps["time_ratio"]).all() and (steps["time_ratio_ci_high"] == np.inf).all()
    assert "under the control “No pretraining” it reached the threshold in a median 0 steps" in text
    assert main(["report", str(output)]) == 0
    assert "Traceback" not in capsys.readouterr().err
