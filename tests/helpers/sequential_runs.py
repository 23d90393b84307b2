"""Fake runs for the sequential seeds tests: module-level, so worker processes
import them. Model ``m4`` learns twice as fast after the ``ja`` pretraining
(a difference the looks show early); model ``m8`` learns at the same speed
within 1% (an equivalence they show). Every number follows from the spec."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

from harness.spec.suite import Suite, load_suite

from helpers import runner as h

SCHEDULE = "{ min = 6, max = 16, step = 2 }"


def make_suite(folder: Path, schedule: str = SCHEDULE) -> Suite:
    """2 conditions x models m4, m8 with sequential seeds, loaded."""
    path = folder / "suite.toml"
    path.write_text(h.suite_text(seeds=schedule, sizes=(4, 8), mode="absolute"),  # type: ignore[arg-type]
                    encoding="utf-8")  # fmt: skip
    return load_suite(path, h.registry(), output=folder / "out")


def execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """Steps: a seed effect shared by the seed's runs, times the condition's
    effect (0.5 for m4 after ``ja``; within 1% of 1 otherwise)."""
    h._log(spec)
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    # drawn from the label, not the run id, which changes with any code change
    noise = int(hashlib.sha256(spec.label.encode()).hexdigest()[:8], 16) / 2**32
    base = 200 + 37 * ((spec.seed * 7919) % 13)
    pretrained = spec.condition.name == "ja"
    factor = 0.5 if pretrained and spec.model.label == "m4" else 1.0 + 0.01 * (noise - 0.5)
    steps = round(base * factor)
    return {
        "run_id": spec.run_id,
        "label": spec.label,
        "status": "reached",
        "spec": spec.to_dict(),
        "convergence": {"reached": True, "steps": steps, "seconds": 0.01},
        "curve": {"step": [0, steps], "heldout_loss": [1.0, 0.4]},
        "probes": [],
        "artifacts": {},
        "started": time.time(),
        "wall_seconds": 0.01,
        "error": None,
    }


def drive(folder: str, workers: int = 2) -> None:
    """A `harness run`-like process for the kill -9 test."""
    import sys

    from harness.running.runner import run_suite
    from harness.spec.suite import Selection

    suite = make_suite(Path(folder))
    local = Selection("executor", "local", {"workers": workers, "threads": 1, "in_process": False},
                      "local")  # fmt: skip
    outcome = run_suite(suite, execute=execute, executor=local, registry=h.registry())
    sys.exit(outcome.exit_code)
