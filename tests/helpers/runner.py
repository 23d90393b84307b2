"""Fake runs for the runner's tests: module-level, so worker processes import them.

Each fake ``execute`` writes an array into its run folder and returns a
deterministic record shaped like ``harness.run.execute.execute``'s, so resumed
and uninterrupted suites can be compared record by record. Some fail on
purpose: raise, return a bad record, or kill their own process.

Set ``FAKE_LOG`` to a file to have every execution append ``run_id pid``.
Set ``FAKE_SLEEP`` to seconds each run waits (to catch runs in flight).
"""

from __future__ import annotations

import errno
import hashlib
import os
import signal
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np

from harness import Component, Param
from harness.plugin.registry import Registry
from harness.spec.suite import Suite, load_suite

TIMING_KEYS = {"started", "wall_seconds", "seconds", "train_seconds", "pretrain_seconds"}


def _make(**params: Any) -> dict[str, Any]:
    return params


def registry() -> Registry:
    """Fake data and model components plus the real executors."""
    from harness_plugins.executors.dask import harness_executors as dask_executors
    from harness_plugins.executors.local import harness_executors as local_executors

    fams: dict[str, dict[str, Component]] = {
        "dataset": {"fake": Component("fake", _make, "fake data")},
        "pretrain_filter": {
            "full": Component("full", _make, "no filter", default=True),
            "lowpass": Component(
                "lowpass", _make, "low-pass", [Param("cutoff_hz", float, 500.0, "cutoff")]
            ),
        },
        "model": {"fake": Component("fake", _make, "fake", [Param("size", int, 4, "size")])},
        "latent_extractor": {},
        "probe": {},
        "executor": {c.name: c for c in (*local_executors(), *dask_executors())},
    }
    return Registry(fams)


def suite_text(
    name: str = "fake", seeds: int = 3, sizes: tuple[int, ...] = (4,), mode: str = "relative"
) -> str:
    models = "\n".join(f'[[models]]\nplugin = "fake"\nlabel = "m{s}"\nsize = {s}\n' for s in sizes)
    return (
        textwrap.dedent(f"""\
        name = "{name}"
        seeds = {seeds}

        [dataset]
        plugin = "fake"

        [target]
        language = "en"
        threshold = 0.5
        threshold_mode = "{mode}"

        [splits]
        probe_languages = ["en", "ja"]

        [[conditions]]
        name = "none"

        [[conditions]]
        name = "ja"
        language = "ja"
        filter = {{plugin = "lowpass", cutoff_hz = 500.0}}

        """)
        + models
    )


def make_suite(
    folder: Path,
    *,
    seeds: int = 3,
    sizes: tuple[int, ...] = (4,),
    executor: str = "",
    output: Path | None = None,
    mode: str = "relative",
) -> Suite:
    """Write a suite file into ``folder`` (2 conditions x models x seeds) and load it."""
    path = folder / "suite.toml"
    text = suite_text(seeds=seeds, sizes=sizes, mode=mode)
    path.write_text(text + executor, encoding="utf-8")
    return load_suite(path, registry(), output=output or folder / "out")


def strip_timing(value: Any) -> Any:
    """A record without wall-clock fields, for comparing two executions."""
    if hasattr(value, "to_dict"):  # a harness.output.record.RunRecord: its stored form
        value = value.to_dict()
    if isinstance(value, dict):
        return {k: strip_timing(v) for k, v in value.items() if k not in TIMING_KEYS}
    if isinstance(value, list):
        return [strip_timing(v) for v in value]
    return value


def _log(spec: Any) -> None:
    log = os.environ.get("FAKE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as fh:
            fh.write(f"{spec.run_id} {os.getpid()}\n")


def fake_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """A deterministic run: status and numbers follow from the spec alone."""
    _log(spec)
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))
    seed = int(hashlib.sha256(spec.run_id.encode()).hexdigest()[:8], 16)
    rng = np.random.default_rng(seed)
    latents = rng.normal(size=(6, 3)).astype(np.float32)
    np.savez(run_dir / "latents.npz", **{"fake/h": latents})
    status = ("reached", "censored", "diverged")[spec.seed % 3]
    steps = int(rng.integers(10, 100))
    return {
        "run_id": spec.run_id,
        "label": spec.label,
        "status": status,
        "spec": spec.to_dict(),
        "convergence": {"reached": status == "reached", "steps": steps, "seconds": 0.01},
        "curve": {"step": [0, steps], "heldout_loss": [1.0, float(latents[0, 0])]},
        "probes": [],
        "artifacts": {"latents": "latents.npz"},
        "started": time.time(),
        "wall_seconds": 0.01,
        "error": None,
    }


def raising_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """Seed 1 raises; the others succeed."""
    if spec.seed == 1:
        (run_dir / "log.txt").write_text("started, then broke\n")
        raise ValueError(f"boom in {spec.label}")
    return fake_execute(spec, run_dir)


def full_disk_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """Seeds 2 and up find the disk full when they write their arrays."""
    if spec.seed >= 2:
        raise OSError(errno.ENOSPC, "No space left on device", str(run_dir / "latents.npz"))
    return fake_execute(spec, run_dir)


def bad_record_execute(spec: Any, run_dir: Path) -> Any:
    """Seed 0 returns a record without a valid status; seed 1 a non-dict."""
    if spec.seed == 0:
        return {"status": "done"}
    if spec.seed == 1:
        return [1, 2]
    return fake_execute(spec, run_dir)


def exiting_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """Seed 1 of condition 'ja' ends its process without returning."""
    if spec.seed == 1 and spec.condition.name == "ja":
        time.sleep(0.2)  # let the other worker be mid-run when the pool breaks
        os._exit(3)
    return fake_execute(spec, run_dir)


def sigkill_execute(spec: Any, run_dir: Path) -> dict[str, Any]:
    """Seed 2 of condition 'none' is killed by SIGKILL (as the OOM killer does)."""
    if spec.seed == 2 and spec.condition.name == "none":
        os.kill(os.getpid(), signal.SIGKILL)
    return fake_execute(spec, run_dir)


# ------------------------------------------------------------ plain items for executors


def square(x: int) -> int:
    return x * x


def square_slowly(x: int) -> tuple[int, int]:
    time.sleep(0.3)
    return x * x, os.getpid()


def fail_on_three(x: int) -> int:
    if x == 3:
        raise KeyError(x)
    return x


def die_on_three(x: int) -> int:
    if x == 3:
        time.sleep(0.2)
        os._exit(5)
    time.sleep(0.3)
    return x


def thread_settings(_: Any) -> tuple[str | None, int]:
    """OMP_NUM_THREADS in the worker, and torch's threads when it is imported afterwards."""
    import torch

    return os.environ.get("OMP_NUM_THREADS"), torch.get_num_threads()


def drive(folder: str, execute: str, workers: int = 2, seeds: int = 4) -> None:
    """A `harness run`-like process for kill and Ctrl-C tests; exits with the runner's code."""
    import sys

    from harness.running.runner import run_suite
    from harness.spec.suite import Selection

    suite = make_suite(Path(folder), seeds=seeds)
    local = Selection("executor", "local", {"workers": workers, "threads": 1, "in_process": False},
                      "local")  # fmt: skip
    outcome = run_suite(suite, execute=globals()[execute], executor=local, registry=registry())
    sys.exit(outcome.exit_code)
